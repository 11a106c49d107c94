//! An admin changes the email address of an account that belongs to their project alone
//! (an account shared with other projects is its owner's to change, from their Security page).

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab};
use crate::domain::{EmailAddress, FieldErrors};
use crate::services::members::{self, MemberDetail};
use crate::services::{ServiceError, authority, email_change};
use crate::web::errors::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/members/{id}/email")
            .route(web::get().to(form))
            .route(web::post().to(save)),
    );
}

#[derive(Template)]
#[template(path = "pages/admin/member_email.html")]
struct EmailPage {
    tab: Tab,
    csrf: String,
    detail: MemberDetail,
    errors: FieldErrors,
    email: String,
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

/// The member, if this project may change their account's address (else 403).
async fn member(admin: &Admin, id: String) -> Result<MemberDetail, AppError> {
    let detail = admin
        .run(move |conn, project, by| {
            let detail = members::get(conn, project, &id)?;
            authority::require_credentials(by, project, &detail.user)?;
            Ok(detail)
        })
        .await?;
    Ok(detail)
}

async fn render(
    admin: &Admin,
    detail: MemberDetail,
    email: String,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let view = EmailPage {
        tab: Tab::of_profile(detail.profile.resource_type),
        csrf: admin.csrf(),
        detail,
        errors,
        email,
    };
    admin.form("Change email", &view, &view.errors).await
}

async fn form(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let detail = member(&admin, path.into_inner()).await?;
    render(&admin, detail, String::new(), FieldErrors::new()).await
}

async fn save(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let detail = member(&admin, id.clone()).await?;
    let email = match EmailAddress::parse_new(&form.email) {
        Ok(email) => email,
        Err(message) => {
            return render(
                &admin,
                detail,
                form.email.clone(),
                FieldErrors::single("email", message),
            )
            .await;
        }
    };
    let (member_id, chosen) = (id.clone(), email.clone());
    match admin
        .run(move |conn, project, by| {
            email_change::by_admin(conn, project, by, &member_id, &chosen)
        })
        .await
    {
        Ok(()) => {
            admin.state().mail.wake();
            admin.done(
                &session,
                &format!("The email address is now {email}; both addresses were told"),
                &format!("/admin/members/{id}"),
            )
        }
        Err(ServiceError::Invalid(found)) => {
            let mut errors = FieldErrors::new();
            for (_, message) in found.iter() {
                errors.add("email", message);
            }
            render(&admin, detail, form.email.clone(), errors).await
        }
        Err(e) => Err(e.into()),
    }
}
