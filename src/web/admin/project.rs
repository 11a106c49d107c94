//! The Details tab.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, TABS};
use crate::domain::{FieldErrors, ProjectName};
use crate::services::ServiceError;
use crate::services::policies;
use crate::services::projects::{self, ProjectSettings};
use crate::web::AppState;
use crate::web::errors::AppError;
use crate::web::extractors::{Meta, ProjectAdmin};
use crate::web::htmx::see_other;
use crate::web::render::{csrf_of, page};
use crate::web::session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/project")
            .route(web::get().to(details))
            .route(web::post().to(save_details)),
    )
    .service(web::resource("/admin").route(web::get().to(admin_home)));
}

async fn admin_home(req: HttpRequest, _admin: ProjectAdmin) -> HttpResponse {
    see_other(&req, "/admin/project")
}

#[derive(Template)]
#[template(path = "pages/admin/details.html")]
struct DetailsPage<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    csrf: String,
    project: &'a crate::db::models::Project,
    owner_name: String,
    policies: Vec<(String, String)>,
    errors: FieldErrors,
    name: String,
    description: String,
    default_policy: String,
    require_mfa: bool,
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

async fn render_details(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    form: Option<(&DetailsForm, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let project_id = admin.project.id.clone();
    let (summary, policy_options) = state
        .db
        .run(move |conn| {
            Ok((
                projects::summary(conn, &project_id, true)?,
                policies::options(conn, &project_id)?,
            ))
        })
        .await?;
    let p = &admin.project;
    let (status, errors, name, description, default_policy, require_mfa) = match form {
        Some((f, errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
            f.name.clone(),
            f.description.clone(),
            f.default_patient_access_policy.clone(),
            f.require_mfa.is_some(),
        ),
        None => (
            StatusCode::OK,
            FieldErrors::new(),
            p.name.clone(),
            p.description.clone(),
            p.default_patient_policy_id.clone().unwrap_or_default(),
            p.require_mfa,
        ),
    };
    let view = DetailsPage {
        tabs: TABS,
        tab: "details",
        csrf: csrf_of(req),
        project: p,
        owner_name: summary.owner_name,
        policies: policy_options,
        errors,
        name,
        description,
        default_policy,
        require_mfa,
    };
    page(
        req,
        state,
        Some(&admin.current.ctx),
        "Project details",
        &view,
        status,
    )
    .await
}

async fn details(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    meta: Meta,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    render_details(&req, &state, &admin, None).await
}

const DESCRIPTION_MAX: usize = 2000;

async fn save_details(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    form: web::Form<DetailsForm>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
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
        return render_details(&req, &state, &admin, Some((&form, errors))).await;
    };
    let settings = ProjectSettings {
        name,
        description,
        default_patient_policy_id: Some(form.default_patient_access_policy.trim().to_owned())
            .filter(|s| !s.is_empty()),
        require_mfa: form.require_mfa.is_some(),
    };
    let project = admin.project.clone();
    let by = admin.acting();
    match state
        .db
        .run(move |conn| projects::update_settings(conn, &project, &by, settings))
        .await
    {
        Ok(()) => {
            session::set_flash(&session, "Project details saved")?;
            Ok(see_other(&req, "/admin/project"))
        }
        Err(ServiceError::Invalid(errors)) => {
            render_details(&req, &state, &admin, Some((&form, errors))).await
        }
        Err(e) => Err(e.into()),
    }
}
