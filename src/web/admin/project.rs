//! The Details tab.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab};
use crate::domain::{FieldErrors, ProjectName};
use crate::services::ServiceError;
use crate::services::members::ownership::{self, Successor};
use crate::services::policies;
use crate::services::projects::{self, ProjectSettings};
use crate::web::errors::AppError;
use crate::web::extractors::ProjectAdmin;
use crate::web::htmx::see_other;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/project")
            .route(web::get().to(details))
            .route(web::post().to(save_details)),
    )
    .service(
        web::resource("/admin/project/transfer")
            .route(web::get().to(confirm_transfer))
            .route(web::post().to(transfer)),
    )
    .service(web::resource("/admin").route(web::get().to(admin_home)));
}

async fn admin_home(req: HttpRequest, _admin: ProjectAdmin) -> HttpResponse {
    see_other(&req, "/admin/project")
}

#[derive(Template)]
#[template(path = "pages/admin/details.html")]
struct DetailsPage<'a> {
    tab: Tab,
    csrf: String,
    project: &'a crate::db::models::Project,
    owner_name: String,
    policies: Vec<(String, String)>,
    errors: FieldErrors,
    name: String,
    description: String,
    default_policy: String,
    require_mfa: bool,
    /// The person looking is the owner (or a super admin): they may hand the project over.
    may_transfer: bool,
    successors: Vec<Successor>,
    /// Why a hand-over was refused.
    transfer_error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    default_patient_access_policy: String,
    require_mfa: Option<String>,
}

/// The form, with the project's values, or with what was typed and its errors.
async fn render_details(
    admin: &Admin,
    form: Option<(&DetailsForm, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    render_page(admin, form, None).await
}

async fn render_page(
    admin: &Admin,
    form: Option<(&DetailsForm, FieldErrors)>,
    transfer_error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (summary, policy_options, successors) = admin
        .run(|conn, project, _| {
            Ok((
                projects::summary(conn, &project.id, true)?,
                policies::options(conn, &project.id)?,
                ownership::successors(conn, project)?,
            ))
        })
        .await?;
    let may_transfer = may_transfer(admin);
    let p = &admin.project;
    let view = match form {
        Some((f, errors)) => DetailsPage {
            errors,
            name: f.name.clone(),
            description: f.description.clone(),
            default_policy: f.default_patient_access_policy.clone(),
            require_mfa: f.require_mfa.is_some(),
            tab: Tab::Details,
            csrf: admin.csrf(),
            project: p,
            owner_name: summary.owner_name,
            policies: policy_options,
            may_transfer,
            successors,
            transfer_error: transfer_error.clone(),
        },
        None => DetailsPage {
            errors: FieldErrors::new(),
            name: p.name.clone(),
            description: p.description.clone(),
            default_policy: p.default_patient_policy_id.clone().unwrap_or_default(),
            require_mfa: p.require_mfa,
            tab: Tab::Details,
            csrf: admin.csrf(),
            project: p,
            owner_name: summary.owner_name,
            policies: policy_options,
            may_transfer,
            successors,
            transfer_error: transfer_error.clone(),
        },
    };
    if view.transfer_error.is_some() {
        return admin
            .render("Project details", &view, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    }
    admin.form("Project details", &view, &view.errors).await
}

async fn details(admin: Admin) -> Result<HttpResponse, AppError> {
    render_details(&admin, None).await
}

const DESCRIPTION_MAX: usize = 2000;

async fn save_details(
    admin: Admin,
    session: Session,
    form: web::Form<DetailsForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::new();
    let name = errors.take("name", ProjectName::parse(&form.name));
    let description = form.description.trim().to_owned();
    if description.chars().count() > DESCRIPTION_MAX {
        errors.add(
            "description",
            format!("A description can be at most {DESCRIPTION_MAX} characters"),
        );
    }
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return render_details(&admin, Some((&form, errors))).await;
    };
    let settings = ProjectSettings {
        name,
        description,
        default_patient_policy_id: Some(form.default_patient_access_policy.trim().to_owned())
            .filter(|s| !s.is_empty()),
        require_mfa: form.require_mfa.is_some(),
    };
    match admin
        .run(move |conn, project, by| projects::update_settings(conn, project, by, settings))
        .await
    {
        Ok(()) => admin.done(&session, "Project details saved", "/admin/project"),
        Err(ServiceError::Invalid(errors)) => render_details(&admin, Some((&form, errors))).await,
        Err(e) => Err(e.into()),
    }
}

fn may_transfer(admin: &Admin) -> bool {
    admin.current.ctx.user.id == admin.project.owner_id || admin.current.ctx.user.super_admin
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferForm {
    #[serde(default)]
    new_owner: String,
}

#[derive(Template)]
#[template(path = "pages/admin/confirm_transfer.html")]
struct ConfirmTransfer<'a> {
    csrf: String,
    project: &'a crate::db::models::Project,
    next: Successor,
}

/// The confirmation step (the Details tab's "Hand over" form is a GET to here).
async fn confirm_transfer(
    admin: Admin,
    query: web::Query<TransferForm>,
) -> Result<HttpResponse, AppError> {
    if !may_transfer(&admin) {
        return Err(AppError::Forbidden);
    }
    let chosen = query.new_owner.clone();
    let next = admin
        .run(move |conn, project, _| ownership::successor(conn, project, &chosen))
        .await;
    match next {
        Ok(next) => {
            let view = ConfirmTransfer {
                csrf: admin.csrf(),
                project: &admin.project,
                next,
            };
            admin.show("Hand over the project", &view).await
        }
        Err(ServiceError::Invalid(errors)) => {
            let message = errors
                .get("newOwner")
                .unwrap_or("Choose another admin")
                .to_owned();
            render_page(&admin, None, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn transfer(
    admin: Admin,
    session: Session,
    form: web::Form<TransferForm>,
) -> Result<HttpResponse, AppError> {
    if !may_transfer(&admin) {
        return Err(AppError::Forbidden);
    }
    let (chosen, base_url) = (form.new_owner.clone(), admin.state().base_url.clone());
    match admin
        .run(move |conn, project, by| ownership::transfer(conn, project, by, &chosen, &base_url))
        .await
    {
        Ok(next) => {
            admin.state().mail.wake();
            admin.done(
                &session,
                &format!("{} is now the owner of {}", next.name, admin.project.name),
                "/admin/project",
            )
        }
        Err(ServiceError::Invalid(errors)) => {
            let message = errors
                .get("newOwner")
                .unwrap_or("Choose another admin")
                .to_owned();
            render_page(&admin, None, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}
