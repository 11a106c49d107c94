//! The invite form and its result page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, TABS};
use crate::domain::{EmailAddress, FieldErrors, PersonName, ProfileType};
use crate::services::invite::{self, InviteOutcome, InviteRequest, Scope};
use crate::services::{ServiceError, policies};
use crate::web::AppState;
use crate::web::errors::AppError;
use crate::web::extractors::{Meta, ProjectAdmin};
use crate::web::render::{csrf_of, page};

pub const ALREADY_MEMBER_FORM: &str = "This person is already a member of this project";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/invite")
            .route(web::get().to(invite_form))
            .route(web::post().to(send_invite)),
    );
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct InviteForm {
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    access_policy: String,
    send_email: Option<String>,
    admin: Option<String>,
    project_scoped: Option<String>,
    mfa_required: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/invite.html")]
struct InvitePage<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    csrf: String,
    types: [ProfileType; 3],
    policies: Vec<(String, String)>,
    errors: FieldErrors,
    form: InviteForm,
    send_email: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteQuery {
    resource_type: Option<String>,
}

async fn render_form(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    form: InviteForm,
    send_email: bool,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let project_id = admin.project.id.clone();
    let policies = state
        .db
        .run(move |conn| policies::options(conn, &project_id))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = InvitePage {
        tabs: TABS,
        tab: if form.resource_type == "Patient" {
            "patients"
        } else {
            "users"
        },
        csrf: csrf_of(req),
        types: ProfileType::ALL,
        policies,
        errors,
        form,
        send_email,
    };
    page(
        req,
        state,
        Some(&admin.current.ctx),
        "Invite new member",
        &view,
        status,
    )
    .await
}

async fn invite_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    meta: Meta,
    query: web::Query<InviteQuery>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let resource_type = query
        .resource_type
        .as_deref()
        .and_then(|t| ProfileType::parse(t).ok())
        .unwrap_or_default();
    let form = InviteForm {
        resource_type: resource_type.as_str().to_owned(),
        ..Default::default()
    };
    render_form(&req, &state, &admin, form, true, FieldErrors::new()).await
}

#[derive(Template)]
#[template(path = "pages/admin/invite_result.html")]
struct ResultPage<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    outcome: InviteOutcome,
    list_href: &'a str,
    again_href: &'a str,
}

async fn send_invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    meta: Meta,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let limits = &state.settings.limits;
    let admin_key = format!("invite-admin:{}", admin.current.ctx.user.id);
    let ip_key = format!("invite-ip:{}", admin.meta.ip.as_deref().unwrap_or("-"));
    state
        .throttle
        .hit_and_check(&admin_key, limits.invites_per_admin, limits.invite_window)
        .await?;
    state
        .throttle
        .hit_and_check(&ip_key, limits.invites_per_ip, limits.invite_window)
        .await?;
    let form = form.into_inner();
    let send_email = form.send_email.is_some();
    let mut errors = FieldErrors::new();
    let profile_type = errors.take("resourceType", ProfileType::parse(&form.resource_type));
    let first = errors.take(
        "firstName",
        PersonName::parse(&form.first_name, "first name"),
    );
    let last = errors.take("lastName", PersonName::parse(&form.last_name, "last name"));
    let email = errors.take("email", EmailAddress::parse(&form.email));
    let (Some(profile_type), Some(first_name), Some(last_name), Some(email)) =
        (profile_type, first, last, email)
    else {
        return render_form(&req, &state, &admin, form, send_email, errors).await;
    };
    let request = InviteRequest {
        profile_type,
        first_name,
        last_name,
        email: Some(email),
        access_policy_id: Some(form.access_policy.trim().to_owned()).filter(|p| !p.is_empty()),
        send_email,
        admin: form.admin.is_some(),
        scope: form.project_scoped.is_some().then_some(Scope::Project),
        mfa_required: form.mfa_required.is_some(),
        external_id: None,
        upsert: false,
    };
    let (project, by, base_url) = (
        admin.project.clone(),
        admin.acting(),
        state.base_url.clone(),
    );
    let outcome = state
        .db
        .run(move |conn| invite::invite(conn, &project, &by, request, &base_url))
        .await;
    match outcome {
        Ok(outcome) => {
            state.mail.wake();
            let patient = outcome.profile.resource_type == "Patient";
            let view = ResultPage {
                tabs: TABS,
                tab: if patient { "patients" } else { "users" },
                list_href: if patient {
                    "/admin/patients"
                } else {
                    "/admin/users"
                },
                again_href: if patient {
                    "/admin/invite?resourceType=Patient"
                } else {
                    "/admin/invite"
                },
                outcome,
            };
            page(
                &req,
                &state,
                Some(&admin.current.ctx),
                "Invitation sent",
                &view,
                StatusCode::OK,
            )
            .await
        }
        Err(ServiceError::Conflict(_)) => {
            let errors = FieldErrors::single("email", ALREADY_MEMBER_FORM);
            render_form(&req, &state, &admin, form, send_email, errors).await
        }
        Err(ServiceError::Invalid(errors)) => {
            render_form(&req, &state, &admin, form, send_email, errors).await
        }
        Err(e) => Err(e.into()),
    }
}
