//! Project admin: `/admin/...` pages for admins of the current project.
//!
//! Every handler takes an [`Admin`]: the signed-in admin, their project and the request, with
//! what a page needs to render itself (`show`, `render`), to re-render a form with errors
//! (`invalid`), to run services (`run`) and to finish a POST (`done`).

mod audit;
mod clients;
mod invitations;
mod invite;
mod invite_bulk;
mod member_bulk;
mod member_email;
mod member_export;
mod member_list;
mod member_profile;
mod members;
mod policies;
mod project;
mod project_delete;
mod sign_in;

use actix_session::Session;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::future::LocalBoxFuture;

use super::AppState;
use super::errors::AppError;
use super::extractors::{CurrentUser, ProjectAdmin, request_meta};
use super::htmx::see_other;
use super::render::{csrf_of, page};
use super::session;
use crate::db::DbConn;
use crate::db::models::Project;
use crate::domain::{FieldErrors, ProfileType};
use crate::services::audit::Acting;
use crate::services::{RequestMeta, ServiceError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(project_delete::configure)
        .configure(project::configure)
        .configure(member_bulk::configure)
        .configure(member_email::configure)
        .configure(member_export::configure)
        .configure(member_profile::configure)
        .configure(member_list::configure)
        .configure(members::configure)
        .configure(invite_bulk::configure)
        .configure(invite::configure)
        .configure(invitations::configure)
        .configure(policies::configure)
        .configure(clients::configure)
        .configure(sign_in::configure)
        .configure(audit::configure);
}

/// The tabs of the admin area; a page names the one it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Details,
    Users,
    Patients,
    Invitations,
    Clients,
    Policies,
    Audit,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Details,
        Tab::Users,
        Tab::Patients,
        Tab::Invitations,
        Tab::Clients,
        Tab::Policies,
        Tab::Audit,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tab::Details => "Details",
            Tab::Users => "Users",
            Tab::Patients => "Patients",
            Tab::Invitations => "Invitations",
            Tab::Clients => "Clients",
            Tab::Policies => "Access policies",
            Tab::Audit => "Audit log",
        }
    }

    pub fn href(self) -> &'static str {
        match self {
            Tab::Details => "/admin/project",
            Tab::Users => "/admin/users",
            Tab::Patients => "/admin/patients",
            Tab::Invitations => "/admin/invitations",
            Tab::Clients => "/admin/clients",
            Tab::Policies => "/admin/access-policies",
            Tab::Audit => "/admin/audit",
        }
    }

    /// The invite form for the people of this tab.
    pub fn invite_href(self) -> &'static str {
        if self == Tab::Patients {
            "/admin/invite?resourceType=Patient"
        } else {
            "/admin/invite"
        }
    }

    pub fn invite_label(self) -> &'static str {
        if self == Tab::Patients {
            "Invite new patient"
        } else {
            "Invite new user"
        }
    }

    /// The tab bar, with `true` beside this tab.
    pub fn bar(self) -> [(Tab, bool); 7] {
        Tab::ALL.map(|t| (t, t == self))
    }

    /// The people tab a profile type is listed on.
    pub fn of_profile(resource_type: ProfileType) -> Tab {
        if resource_type == ProfileType::Patient {
            Tab::Patients
        } else {
            Tab::Users
        }
    }
}

/// `?a=1&b=2` of the pairs whose value is not empty, or nothing: links that keep a list's
/// filters.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
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

/// A second thought before an action that cannot be undone (or breaks something): a page
/// without JavaScript, a dialog with htmx. Focus starts on Cancel.
#[derive(Template)]
#[template(path = "pages/admin/confirm.html")]
pub struct Confirm {
    pub title: String,
    pub text: String,
    /// Where the form posts: the action itself.
    pub action: String,
    pub button: String,
    pub cancel_href: String,
    pub danger: bool,
    csrf: String,
    dialog: bool,
}

impl Confirm {
    pub fn new(admin: &Admin, title: String, text: String, action: String) -> Confirm {
        Confirm {
            button: title.trim_end_matches('?').to_owned(),
            title,
            text,
            action,
            cancel_href: String::new(),
            danger: true,
            csrf: admin.csrf(),
            dialog: super::htmx::is_htmx(admin.req()),
        }
    }

    pub fn button(mut self, label: impl Into<String>) -> Confirm {
        self.button = label.into();
        self
    }

    pub fn cancel(mut self, href: impl Into<String>) -> Confirm {
        self.cancel_href = href.into();
        self
    }
}

/// An admin of the current project, their project, and the request they made.
pub struct Admin {
    pub current: CurrentUser,
    pub project: Project,
    pub meta: RequestMeta,
    pub display: String,
    req: HttpRequest,
    state: web::Data<AppState>,
}

impl FromRequest for Admin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = ProjectAdmin::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let ProjectAdmin(current) = admin.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))?;
            // Read with the session, in the same trip to the database.
            let project = current.membership.project.clone();
            Ok(Admin {
                display: current.ctx.user.display_name(),
                meta: request_meta(&req),
                current,
                project,
                req,
                state,
            })
        })
    }
}

impl Admin {
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn req(&self) -> &HttpRequest {
        &self.req
    }

    pub fn csrf(&self) -> String {
        csrf_of(&self.req)
    }

    pub fn acting(&self) -> Acting {
        Acting {
            user_id: Some(self.current.ctx.user.id.clone()),
            display: self.display.clone(),
            super_admin: self.current.ctx.user.super_admin,
            meta: self.meta.clone(),
        }
    }

    /// Runs service work on the blocking pool with this project and this admin as the actor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        F: FnOnce(&mut DbConn, &Project, &Acting) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        let (project, by) = (self.project.clone(), self.acting());
        self.state.db.run(move |conn| f(conn, &project, &by)).await
    }

    /// The page (or, to htmx, the partial alone) with this status.
    pub async fn render(
        &self,
        title: &str,
        view: &impl Template,
        status: StatusCode,
    ) -> Result<HttpResponse, AppError> {
        page(
            &self.req,
            &self.state,
            Some(&self.current.ctx),
            title,
            view,
            status,
        )
        .await
    }

    pub async fn show(&self, title: &str, view: &impl Template) -> Result<HttpResponse, AppError> {
        self.render(title, view, StatusCode::OK).await
    }

    /// A form shown again: 422 when it has errors, else 200.
    pub async fn form(
        &self,
        title: &str,
        view: &impl Template,
        errors: &FieldErrors,
    ) -> Result<HttpResponse, AppError> {
        let status = if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        self.render(title, view, status).await
    }

    /// A POST that worked: the message for the next page, then 303 (or `HX-Redirect`).
    pub fn done(
        &self,
        session: &Session,
        message: &str,
        location: &str,
    ) -> Result<HttpResponse, AppError> {
        session::set_flash(session, message)?;
        Ok(see_other(&self.req, location))
    }
}
