//! The audit log, newest first, with a filter by action and a CSV export.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::TABS;
use crate::db::models::AuditEvent;
use crate::services::audit::{self, ACTIONS, AuditPage};
use crate::web::AppState;
use crate::web::errors::AppError;
use crate::web::extractors::ProjectAdmin;
use crate::web::render::page;

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
}

#[derive(Template)]
#[template(path = "pages/admin/audit.html")]
struct AuditView<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    actions: &'a [(&'a str, &'a str)],
    action: String,
    page: AuditPage,
    next_href: Option<String>,
    csv_href: String,
    paged: bool,
}

impl AuditView<'_> {
    fn label<'b>(&self, action: &'b str) -> &'b str {
        audit::action_label(action)
    }
}

async fn audit_log(
    req: HttpRequest,
    state: web::Data<AppState>,
    ProjectAdmin(current): ProjectAdmin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let action = query.action.clone().unwrap_or_default();
    let (project_id, filter, before) = (
        current.membership.project_id.clone(),
        action.clone(),
        query.before.clone(),
    );
    let result = state
        .db
        .run(move |conn| {
            audit::list(
                conn,
                &project_id,
                Some(&filter),
                before.as_deref(),
                audit::PAGE_SIZE,
            )
        })
        .await?;
    let with_action = |extra: &[(&str, &str)]| {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !action.is_empty() {
            pairs.push(("action", &action));
        }
        pairs.extend_from_slice(extra);
        if pairs.is_empty() {
            String::new()
        } else {
            format!(
                "?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
    };
    let view = AuditView {
        tabs: TABS,
        tab: "audit",
        actions: ACTIONS,
        next_href: result
            .next
            .as_ref()
            .map(|n| format!("/admin/audit{}", with_action(&[("before", n)]))),
        csv_href: format!("/admin/audit.csv{}", with_action(&[])),
        paged: query.before.is_some(),
        action: action.clone(),
        page: result,
    };
    page(
        &req,
        &state,
        Some(&current.ctx),
        "Audit log",
        &view,
        StatusCode::OK,
    )
    .await
}

/// One CSV field: quoted when needed, and defused when a spreadsheet would run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn csv_row(e: &AuditEvent) -> String {
    [
        e.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        e.action.clone(),
        e.actor_display.clone(),
        e.target_type.clone().unwrap_or_default(),
        e.target_id.clone().unwrap_or_default(),
        e.target_display.clone().unwrap_or_default(),
        e.detail.clone(),
        e.ip.clone().unwrap_or_default(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

async fn audit_csv(
    state: web::Data<AppState>,
    ProjectAdmin(current): ProjectAdmin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let (project_id, action) = (current.membership.project_id.clone(), query.action.clone());
    let result = state
        .db
        .run(move |conn| audit::list(conn, &project_id, action.as_deref(), None, CSV_LIMIT))
        .await?;
    let mut body = String::from("time,action,actor,target_type,target_id,target,detail,ip\r\n");
    for event in &result.events {
        body.push_str(&csv_row(event));
        body.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"audit-log.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
