//! The Users and Patients tabs, the member page and its actions.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, TABS};
use crate::domain::FieldErrors;
use crate::services::members::{self, ListQuery, MemberDetail, MemberKind, MemberPage, SortKey};
use crate::services::{ServiceError, authority, policies};
use crate::web::AppState;
use crate::web::errors::AppError;
use crate::web::extractors::{Meta, ProjectAdmin};
use crate::web::htmx::see_other;
use crate::web::render::{csrf_of, page};
use crate::web::session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/users").route(web::get().to(users)))
        .service(web::resource("/admin/patients").route(web::get().to(patients)))
        .service(
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
            web::resource("/admin/members/{id}/{action}").route(web::post().to(member_action)),
        );
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    q: Option<String>,
    admin: Option<String>,
    sort: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/members.html")]
struct MembersPage<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    path: &'a str,
    heading: &'a str,
    invite_label: &'a str,
    invite_href: &'a str,
    page: MemberPage,
    q: String,
    admin_only: bool,
    sort_email: bool,
    paged: bool,
    next_href: Option<String>,
    first_href: String,
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
    }
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    ProjectAdmin(current): ProjectAdmin,
    params: ListParams,
    kind: MemberKind,
) -> Result<HttpResponse, AppError> {
    let admin_only = params
        .admin
        .as_deref()
        .is_some_and(|v| v == "1" || v == "on");
    let sort = if params.sort.as_deref() == Some("email") {
        SortKey::Email
    } else {
        SortKey::Name
    };
    let q = params.q.clone().unwrap_or_default();
    let query = ListQuery {
        kind,
        q: Some(q.clone()),
        admin_only,
        sort,
        after: params.after.clone(),
    };
    let project_id = current.membership.project_id.clone();
    let result = state
        .db
        .run(move |conn| members::list(conn, &project_id, &query))
        .await?;
    let (tab, path, heading, invite_label, invite_href) = match kind {
        MemberKind::People => (
            "users",
            "/admin/users",
            "Users",
            "Invite new user",
            "/admin/invite",
        ),
        MemberKind::Patients => (
            "patients",
            "/admin/patients",
            "Patients",
            "Invite new patient",
            "/admin/invite?resourceType=Patient",
        ),
    };
    let admin_flag = if admin_only { "1" } else { "" };
    let sort_flag = if sort == SortKey::Email { "email" } else { "" };
    let next_href = result.next.as_ref().map(|after| {
        format!(
            "{path}{}",
            query_string(&[
                ("q", &q),
                ("admin", admin_flag),
                ("sort", sort_flag),
                ("after", after)
            ])
        )
    });
    let view = MembersPage {
        tabs: TABS,
        tab,
        path,
        heading,
        invite_label,
        invite_href,
        page: result,
        q: q.clone(),
        admin_only,
        sort_email: sort == SortKey::Email,
        paged: params.after.is_some(),
        next_href,
        first_href: format!(
            "{path}{}",
            query_string(&[("q", &q), ("admin", admin_flag), ("sort", sort_flag)])
        ),
    };
    page(
        &req,
        &state,
        Some(&current.ctx),
        heading,
        &view,
        StatusCode::OK,
    )
    .await
}

async fn users(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, AppError> {
    list(req, state, admin, params.into_inner(), MemberKind::People).await
}

async fn patients(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, AppError> {
    list(req, state, admin, params.into_inner(), MemberKind::Patients).await
}

#[derive(Template)]
#[template(path = "pages/admin/member.html")]
struct MemberPageView<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
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
}

fn tab_of(detail: &MemberDetail) -> &'static str {
    if detail.profile.resource_type == "Patient" {
        "patients"
    } else {
        "users"
    }
}

async fn load_member(
    state: &AppState,
    admin: &Admin,
    id: String,
) -> Result<(MemberDetail, Vec<(String, String)>), AppError> {
    let project = admin.project.clone();
    Ok(state
        .db
        .run(move |conn| {
            Ok((
                members::get(conn, &project, &id)?,
                policies::options(conn, &project.id)?,
            ))
        })
        .await?)
}

struct MemberState {
    errors: FieldErrors,
    problem: Option<String>,
    admin_checked: Option<bool>,
    policy_selected: Option<String>,
    status: StatusCode,
}

impl Default for MemberState {
    fn default() -> Self {
        MemberState {
            errors: FieldErrors::new(),
            problem: None,
            admin_checked: None,
            policy_selected: None,
            status: StatusCode::OK,
        }
    }
}

async fn render_member(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    id: String,
    shown: MemberState,
) -> Result<HttpResponse, AppError> {
    let (detail, policies) = load_member(state, admin, id).await?;
    let title = format!("{} {}", detail.profile.first_name, detail.profile.last_name);
    let view = MemberPageView {
        tabs: TABS,
        tab: tab_of(&detail),
        csrf: csrf_of(req),
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
        detail,
        policies,
        errors: shown.errors,
        problem: shown.problem,
    };
    page(
        req,
        state,
        Some(&admin.current.ctx),
        &title,
        &view,
        shown.status,
    )
    .await
}

async fn member(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    render_member(
        &req,
        &state,
        &admin,
        path.into_inner(),
        MemberState::default(),
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberForm {
    admin: Option<String>,
    #[serde(default)]
    access_policy: String,
}

async fn save_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let id = path.into_inner();
    let make_admin = form.admin.is_some();
    let policy = Some(form.access_policy.trim().to_owned()).filter(|p| !p.is_empty());
    let (project, by, member_id, chosen) = (
        admin.project.clone(),
        admin.acting(),
        id.clone(),
        policy.clone(),
    );
    match state
        .db
        .run(move |conn| members::update(conn, &project, &by, &member_id, make_admin, chosen))
        .await
    {
        Ok(_) => {
            session::set_flash(&session, "Membership saved")?;
            Ok(see_other(&req, &format!("/admin/members/{id}")))
        }
        Err(ServiceError::Invalid(errors)) => {
            let shown = MemberState {
                errors,
                admin_checked: Some(make_admin),
                policy_selected: Some(policy.unwrap_or_default()),
                status: StatusCode::UNPROCESSABLE_ENTITY,
                ..Default::default()
            };
            render_member(&req, &state, &admin, id, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/admin/confirm_remove.html")]
struct ConfirmRemovePage<'a> {
    csrf: String,
    detail: &'a MemberDetail,
    dialog: bool,
}

/// The confirmation step: a page without JavaScript, a dialog with htmx.
async fn confirm_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let (detail, _) = load_member(&state, &admin, path.into_inner()).await?;
    let view = ConfirmRemovePage {
        csrf: csrf_of(&req),
        detail: &detail,
        dialog: crate::web::htmx::is_htmx(&req),
    };
    page(
        &req,
        &state,
        Some(&admin.current.ctx),
        "Remove member",
        &view,
        StatusCode::OK,
    )
    .await
}

async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let id = path.into_inner();
    let (detail, _) = load_member(&state, &admin, id.clone()).await?;
    let back = if detail.profile.resource_type == "Patient" {
        "/admin/patients"
    } else {
        "/admin/users"
    };
    let (project, by, member_id) = (admin.project.clone(), admin.acting(), id.clone());
    match state
        .db
        .run(move |conn| members::remove(conn, &project, &by, &member_id))
        .await
    {
        Ok(name) => {
            session::set_flash(&session, &format!("{name} was removed from the project"))?;
            Ok(see_other(&req, back))
        }
        Err(ServiceError::Conflict(problem)) => {
            let shown = MemberState {
                problem: Some(problem),
                status: StatusCode::CONFLICT,
                ..Default::default()
            };
            render_member(&req, &state, &admin, id, shown).await
        }
        Err(e) => Err(e.into()),
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

/// `POST /admin/members/{id}/{action}`: resend, reset-password or reset-mfa. Runs the action
/// and comes back to the member page with its outcome.
async fn member_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let (done, run): (&str, MemberActionFn) = match action.as_str() {
        "resend" => (
            "A new invitation was sent; the previous link no longer works",
            members::resend_invite,
        ),
        "reset-password" => (
            "A password reset email was sent",
            members::send_password_reset,
        ),
        "reset-mfa" => (
            "Two-factor authentication was reset and the member was told by email",
            |conn, project, by, id, _, _| members::reset_mfa(conn, project, by, id),
        ),
        _ => return Err(AppError::NotFound),
    };
    let admin = Admin::load(&state, admin, meta).await?;
    let (project, by, member_id, base_url, limits) = (
        admin.project.clone(),
        admin.acting(),
        id.clone(),
        state.base_url.clone(),
        state.settings.limits.clone(),
    );
    match state
        .db
        .run(move |conn| run(conn, &project, &by, &member_id, &base_url, &limits))
        .await
    {
        Ok(()) => {
            state.mail.wake();
            session::set_flash(&session, done)?;
            Ok(see_other(&req, &format!("/admin/members/{id}")))
        }
        Err(ServiceError::Conflict(problem)) => {
            let shown = MemberState {
                problem: Some(problem),
                status: StatusCode::CONFLICT,
                ..Default::default()
            };
            render_member(&req, &state, &admin, id, shown).await
        }
        Err(ServiceError::Forbidden(problem)) => {
            let shown = MemberState {
                problem: Some(problem),
                status: StatusCode::FORBIDDEN,
                ..Default::default()
            };
            render_member(&req, &state, &admin, id, shown).await
        }
        Err(e) => Err(e.into()),
    }
}
