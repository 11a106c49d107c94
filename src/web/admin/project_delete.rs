//! The owner deletes the project: a page that says what goes and what stays, and asks for the
//! project's name typed out (see `services::project_removal`).

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::Admin;
use crate::domain::FieldErrors;
use crate::services::ServiceError;
use crate::services::project_removal::{self, Removed};
use crate::web::errors::AppError;
use crate::web::htmx::see_other;
use crate::web::session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/project/delete")
            .route(web::get().to(confirm))
            .route(web::post().to(delete)),
    );
}

#[derive(Template)]
#[template(path = "pages/admin/confirm_delete_project.html")]
struct ConfirmDelete<'a> {
    csrf: String,
    project: &'a crate::db::models::Project,
    removed: Removed,
    errors: FieldErrors,
    typed: String,
    /// The person deleting has an account of this project's own: it goes too.
    own_account_goes: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteForm {
    #[serde(default)]
    confirm_name: String,
}

fn require_owner(admin: &Admin) -> Result<(), AppError> {
    if project_removal::may_delete(&admin.acting(), &admin.project) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

async fn render(
    admin: &Admin,
    typed: String,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let removed = admin
        .run(|conn, project, _| project_removal::preview(conn, &project.id))
        .await?;
    let view = ConfirmDelete {
        csrf: admin.csrf(),
        project: &admin.project,
        removed,
        errors,
        typed,
        own_account_goes: admin.current.ctx.user.project_id.as_deref()
            == Some(admin.project.id.as_str()),
    };
    admin.form("Delete the project", &view, &view.errors).await
}

async fn confirm(admin: Admin) -> Result<HttpResponse, AppError> {
    require_owner(&admin)?;
    render(&admin, String::new(), FieldErrors::new()).await
}

async fn delete(
    admin: Admin,
    session: Session,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    require_owner(&admin)?;
    let typed = form.confirm_name.clone();
    match admin
        .run(move |conn, project, by| project_removal::delete(conn, project, by, &typed))
        .await
    {
        Ok(_) => {
            let name = &admin.project.name;
            if admin.current.ctx.user.project_id.as_deref() == Some(admin.project.id.as_str()) {
                // Their account was this project's own: it is gone, and so is the session.
                session::sign_out(&session);
                session::set_flash(
                    &session,
                    &format!("{name} was deleted, with your account, which existed only in it"),
                )?;
                return Ok(see_other(admin.req(), "/signin"));
            }
            session::set_flash(&session, &format!("{name} was deleted"))?;
            Ok(see_other(admin.req(), "/signin/project"))
        }
        Err(ServiceError::Invalid(errors)) => {
            render(&admin, form.confirm_name.clone(), errors).await
        }
        Err(e) => Err(e.into()),
    }
}
