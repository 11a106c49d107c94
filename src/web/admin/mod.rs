//! Project admin: `/admin/...` pages for admins of the current project.

mod audit;
mod clients;
mod invite;
mod members;
mod policies;
mod project;

use actix_web::web;

use super::AppState;
use super::errors::AppError;
use super::extractors::{Meta, ProjectAdmin};
use crate::db::models::Project;
use crate::services::RequestMeta;
use crate::services::audit::Acting;
use crate::services::members as member_service;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(project::configure)
        .configure(members::configure)
        .configure(invite::configure)
        .configure(policies::configure)
        .configure(clients::configure)
        .configure(audit::configure);
}

/// The admin, their project, and what audit events record about the request.
pub struct Admin {
    pub current: super::extractors::CurrentUser,
    pub project: Project,
    pub meta: RequestMeta,
    pub display: String,
}

impl Admin {
    pub async fn load(
        state: &AppState,
        ProjectAdmin(current): ProjectAdmin,
        Meta(meta): Meta,
    ) -> Result<Admin, AppError> {
        let project_id = current.membership.project_id.clone();
        let project = state
            .db
            .run(move |conn| member_service::project(conn, &project_id))
            .await?;
        Ok(Admin {
            display: current.ctx.user.display_name(),
            current,
            project,
            meta,
        })
    }

    pub fn acting(&self) -> Acting {
        Acting {
            user_id: Some(self.current.ctx.user.id.clone()),
            display: self.display.clone(),
            super_admin: self.current.ctx.user.super_admin,
            meta: self.meta.clone(),
        }
    }
}

/// Tabs of the admin area, for the tab bar.
pub const TABS: &[(&str, &str, &str)] = &[
    ("details", "Details", "/admin/project"),
    ("users", "Users", "/admin/users"),
    ("patients", "Patients", "/admin/patients"),
    ("clients", "Clients", "/admin/clients"),
    ("policies", "Access policies", "/admin/access-policies"),
    ("audit", "Audit log", "/admin/audit"),
];
