//! The audit log, newest first, with a filter by action and a CSV export.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab, query_string};
use crate::db::models::AuditEvent;
use crate::services::audit::{self, ACTIONS, AuditPage};
use crate::web::errors::AppError;
use crate::web::spreadsheet;

/// The export stops here; filter by action for older events of one kind.
const CSV_LIMIT: i64 = 100_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/audit").route(web::get().to(audit_log)))
        .service(web::resource("/admin/audit.csv").route(web::get().to(audit_csv)));
}

#[derive(Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    before: Option<String>,
    /// `server`: the server's own events (super admins only).
    scope: Option<String>,
}

impl AuditQuery {
    /// `Ok(true)` for the server's events; a 403 for anyone but a super admin asking for them.
    fn server(&self, admin: &Admin) -> Result<bool, AppError> {
        match self.scope.as_deref() {
            Some("server") if admin.current.ctx.user.super_admin => Ok(true),
            Some("server") => Err(AppError::Forbidden),
            _ => Ok(false),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/admin/audit.html")]
struct AuditView<'a> {
    tab: Tab,
    actions: &'a [(&'a str, &'a str)],
    action: String,
    page: AuditPage,
    next_href: Option<String>,
    csv_href: String,
    paged: bool,
    /// Showing the server's events; `super_admin` may switch.
    server: bool,
    super_admin: bool,
}

impl AuditView<'_> {
    fn label<'b>(&self, action: &'b str) -> &'b str {
        audit::action_label(action)
    }
}

async fn audit_log(admin: Admin, query: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let server = query.server(&admin)?;
    let scope = if server { "server" } else { "" };
    let action = query.action.clone().unwrap_or_default();
    let (filter, before) = (action.clone(), query.before.clone());
    let result = admin
        .run(move |conn, project, _| {
            audit::list(
                conn,
                (!server).then_some(project.id.as_str()),
                Some(&filter),
                before.as_deref(),
                audit::PAGE_SIZE,
            )
        })
        .await?;
    let view = AuditView {
        tab: Tab::Audit,
        actions: ACTIONS,
        next_href: result.next.as_ref().map(|n| {
            format!(
                "/admin/audit{}",
                query_string(&[("scope", scope), ("action", &action), ("before", n)])
            )
        }),
        csv_href: format!(
            "/admin/audit.csv{}",
            query_string(&[("scope", scope), ("action", &action)])
        ),
        paged: query.before.is_some(),
        server,
        super_admin: admin.current.ctx.user.super_admin,
        action: action.clone(),
        page: result,
    };
    admin.show("Audit log", &view).await
}

fn csv_body(events: &[AuditEvent]) -> Result<Vec<u8>, AppError> {
    let mut writer = spreadsheet::writer();
    let failed = |e: csv::Error| AppError::Internal(e.into());
    writer
        .write_record([
            "time",
            "action",
            "actor",
            "target_type",
            "target_id",
            "target",
            "detail",
            "ip",
        ])
        .map_err(failed)?;
    for e in events {
        let fields = [
            e.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            e.action.clone(),
            e.actor_display.clone(),
            e.target_type.clone().unwrap_or_default(),
            e.target_id.clone().unwrap_or_default(),
            e.target_display.clone().unwrap_or_default(),
            e.detail.clone(),
            e.ip.clone().unwrap_or_default(),
        ];
        writer
            .write_record(fields.iter().map(|f| spreadsheet::defuse(f)))
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))
}

async fn audit_csv(admin: Admin, query: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let server = query.server(&admin)?;
    let action = query.action.clone();
    let result = admin
        .run(move |conn, project, _| {
            let project_id = (!server).then_some(project.id.as_str());
            audit::list(conn, project_id, action.as_deref(), None, CSV_LIMIT)
        })
        .await?;
    let body = csv_body(&result.events)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"audit-log.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
