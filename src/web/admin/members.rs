//! The member page and its actions.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::invitations::DeliveryText;
use super::{Admin, Confirm, Tab};
use crate::domain::FieldErrors;
use crate::domain::profile_form::Identifier;
use crate::services::members::pending::Delivery;
use crate::services::members::{self, MemberDetail};
use crate::services::{Conflict, ServiceError, authority, policies, profile};
use crate::web::errors::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/members/{id}")
            .route(web::get().to(member))
            .route(web::post().to(save_member)),
    )
    .service(
        web::resource("/admin/members/{id}/remove")
            .route(web::get().to(confirm_remove))
            .route(web::post().to(remove)),
    )
    .service(
        web::resource("/admin/members/{id}/{action}")
            .route(web::get().to(confirm_action))
            .route(web::post().to(member_action)),
    );
}

#[derive(Template)]
#[template(path = "pages/admin/member.html")]
struct MemberPageView {
    tab: Tab,
    csrf: String,
    detail: MemberDetail,
    policies: Vec<(String, String)>,
    errors: FieldErrors,
    problem: Option<String>,
    admin_checked: bool,
    policy_selected: String,
    is_self: bool,
    /// This project may act on the account's password and two-factor settings.
    credentials: bool,
    identifiers: Vec<Identifier>,
}

async fn load_member(
    admin: &Admin,
    id: String,
) -> Result<(MemberDetail, Vec<(String, String)>), AppError> {
    Ok(admin
        .run(move |conn, project, _| {
            Ok((
                members::get(conn, project, &id)?,
                policies::options(conn, &project.id)?,
            ))
        })
        .await?)
}

/// What the member page shows besides the stored membership: the form as submitted, or
/// why an action was refused.
#[derive(Default)]
struct Shown {
    errors: FieldErrors,
    problem: Option<(StatusCode, String)>,
    admin_checked: Option<bool>,
    policy_selected: Option<String>,
}

async fn render_member(admin: &Admin, id: String, shown: Shown) -> Result<HttpResponse, AppError> {
    let (detail, policies) = load_member(admin, id).await?;
    let title = format!("{} {}", detail.profile.first_name, detail.profile.last_name);
    let status = match &shown.problem {
        Some((status, _)) => *status,
        None if !shown.errors.is_empty() => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let view = MemberPageView {
        tab: Tab::of_profile(detail.profile.resource_type),
        csrf: admin.csrf(),
        admin_checked: shown.admin_checked.unwrap_or(detail.membership.admin),
        policy_selected: shown.policy_selected.unwrap_or_else(|| {
            detail
                .membership
                .access_policy_id
                .clone()
                .unwrap_or_default()
        }),
        is_self: detail.user.id == admin.current.ctx.user.id,
        credentials: authority::governs_credentials(&admin.acting(), &admin.project, &detail.user),
        identifiers: profile::identifiers_of(&detail.profile),
        detail,
        policies,
        errors: shown.errors,
        problem: shown.problem.map(|(_, message)| message),
    };
    admin.render(&title, &view, status).await
}

/// A refusal from a service, shown on the member page; anything else is an error page.
async fn refused(admin: &Admin, id: String, e: ServiceError) -> Result<HttpResponse, AppError> {
    let problem = match e {
        ServiceError::Conflict(problem) => (StatusCode::CONFLICT, problem.to_string()),
        ServiceError::Forbidden(problem) => (StatusCode::FORBIDDEN, problem),
        other => return Err(other.into()),
    };
    let shown = Shown {
        problem: Some(problem),
        ..Shown::default()
    };
    render_member(admin, id, shown).await
}

async fn member(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    render_member(&admin, path.into_inner(), Shown::default()).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberForm {
    admin: Option<String>,
    #[serde(default)]
    access_policy: String,
}

async fn save_member(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let make_admin = form.admin.is_some();
    let policy = Some(form.access_policy.trim().to_owned()).filter(|p| !p.is_empty());
    let (member_id, chosen) = (id.clone(), policy.clone());
    match admin
        .run(move |conn, project, by| {
            members::update(conn, project, by, &member_id, make_admin, chosen)
        })
        .await
    {
        Ok(_) => admin.done(
            &session,
            "Membership saved",
            &format!("/admin/members/{id}"),
        ),
        Err(ServiceError::Invalid(errors)) => {
            let shown = Shown {
                errors,
                admin_checked: Some(make_admin),
                policy_selected: Some(policy.unwrap_or_default()),
                ..Shown::default()
            };
            render_member(&admin, id, shown).await
        }
        Err(e) => refused(&admin, id, e).await,
    }
}

/// The confirmation step of Remove: a page without JavaScript, a dialog with htmx. The
/// owner is never offered it (the member page says why); asked for anyway, the answer is
/// that refusal.
async fn confirm_remove(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (detail, _) = load_member(&admin, id.clone()).await?;
    if detail.is_owner {
        return refused(&admin, id, ServiceError::Conflict(Conflict::OwnerRemoval)).await;
    }
    let name = format!("{} {}", detail.profile.first_name, detail.profile.last_name);
    let email = match detail.user.email.as_str() {
        "" => String::new(),
        email => format!(" ({email})"),
    };
    let view = Confirm::new(
        &admin,
        format!("Remove {name}?"),
        format!(
            "{name}{email} will lose access to this project at their next request. Their {} record is kept.",
            detail.profile.resource_type
        ),
        format!("/admin/members/{id}/remove"),
    )
    .cancel(format!("/admin/members/{id}"));
    admin.show("Remove member", &view).await
}

/// `GET /admin/members/{id}/reset-mfa`: the confirmation before resetting two-factor
/// authentication, offered only when the member has it on and this project governs the
/// account.
async fn confirm_action(
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    if action != "reset-mfa" {
        return Err(AppError::NotFound);
    }
    let (detail, _) = load_member(&admin, id.clone()).await?;
    if let Err(e) = authority::require_credentials(&admin.acting(), &admin.project, &detail.user) {
        return refused(&admin, id, e).await;
    }
    if !detail.user.mfa_enrolled {
        return refused(&admin, id, ServiceError::Conflict(Conflict::MfaNotOn)).await;
    }
    let name = format!("{} {}", detail.profile.first_name, detail.profile.last_name);
    let required = if admin.project.require_mfa || detail.membership.mfa_required {
        " This project requires it, so they are asked to set it up again at their next sign-in."
    } else {
        ""
    };
    let view = Confirm::new(
        &admin,
        format!("Reset two-factor authentication for {name}?"),
        format!(
            "Their authenticator app stops working for Rollcall and they sign in with their password alone until they set up two-factor authentication again.{required} They are told by email. Do this only when you are sure it is them asking (a lost phone, a new device)."
        ),
        format!("/admin/members/{id}/reset-mfa"),
    )
    .button("Reset two-factor authentication")
    .cancel(format!("/admin/members/{id}"));
    admin.show("Reset two-factor authentication", &view).await
}

async fn remove(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (detail, _) = load_member(&admin, id.clone()).await?;
    let member_id = id.clone();
    match admin
        .run(move |conn, project, by| members::remove(conn, project, by, &member_id))
        .await
    {
        Ok(name) => {
            let back = Tab::of_profile(detail.profile.resource_type).href();
            admin.done(
                &session,
                &format!("{name} was removed from the project"),
                back,
            )
        }
        Err(e) => refused(&admin, id, e).await,
    }
}

/// An admin action on one member: the service to run and what to tell the admin after.
type MemberActionFn = fn(
    &mut crate::db::DbConn,
    &crate::db::models::Project,
    &members::Acting,
    &str,
    &str,
    &crate::config::Limits,
) -> Result<(), ServiceError>;

/// `POST /admin/members/{id}/{action}`: resend, reset-password, reset-mfa, suspend or
/// reactivate. Runs the action
/// and comes back to the member page with its outcome.
async fn member_action(
    admin: Admin,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let (done, run): (&str, MemberActionFn) = match action.as_str() {
        "resend" => (
            "The invitation was sent again",
            |conn, project, by, id, base_url, limits| {
                members::resend_invite(conn, project, by, id, base_url, limits).map(drop)
            },
        ),
        "reset-password" => (
            "A password reset email was sent",
            members::send_password_reset,
        ),
        "suspend" => (
            "The member was suspended: they cannot use this project until reactivated",
            |conn, project, by, id, _, _| {
                members::set_active(conn, project, by, id, false).map(drop)
            },
        ),
        "reactivate" => (
            "The member was reactivated and can use the project again",
            |conn, project, by, id, _, _| {
                members::set_active(conn, project, by, id, true).map(drop)
            },
        ),
        "reset-mfa" => (
            "Two-factor authentication was reset and the member was told by email",
            |conn, project, by, id, _, _| members::reset_mfa(conn, project, by, id),
        ),
        _ => return Err(AppError::NotFound),
    };
    let (member_id, base_url, limits) = (
        id.clone(),
        admin.state().base_url.clone(),
        admin.state().settings.limits.clone(),
    );
    match admin
        .run(move |conn, project, by| run(conn, project, by, &member_id, &base_url, &limits))
        .await
    {
        Ok(()) => {
            admin.state().mail.wake();
            admin.done(&session, done, &format!("/admin/members/{id}"))
        }
        Err(e) => refused(&admin, id, e).await,
    }
}
