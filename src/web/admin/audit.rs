//! The audit log, newest first, with a filter by action and a CSV export.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab, query_string};
use crate::db::models::AuditEvent;
use crate::services::audit::{self, ACTIONS, AuditPage};
use crate::web::errors::AppError;

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
    tab: Tab,
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

async fn audit_log(admin: Admin, query: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let action = query.action.clone().unwrap_or_default();
    let (filter, before) = (action.clone(), query.before.clone());
    let result = admin
        .run(move |conn, project, _| {
            audit::list(
                conn,
                &project.id,
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
                query_string(&[("action", &action), ("before", n)])
            )
        }),
        csv_href: format!("/admin/audit.csv{}", query_string(&[("action", &action)])),
        paged: query.before.is_some(),
        action: action.clone(),
        page: result,
    };
    admin.show("Audit log", &view).await
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
/// Separators some spreadsheet or locale splits on: a cell may begin after any of them.
const SEPARATORS: [char; 4] = [',', ';', '\t', '|'];

/// Defuses a field a spreadsheet could run as a formula in any common dialect: a `'` goes
/// before a formula character at the start of the field, and at the start of any piece a
/// program splitting on `,` `;` `|` or tab would make of it (one that ignores the quotes).
fn defuse(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    let mut cell_start = true;
    for c in value.chars() {
        if cell_start && FORMULA_START.contains(&c) {
            out.push('\'');
        }
        out.push(c);
        cell_start = SEPARATORS.contains(&c) || (cell_start && c == ' ');
    }
    out
}

fn csv_body(events: &[AuditEvent]) -> Result<Vec<u8>, AppError> {
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
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
            .write_record(fields.iter().map(|f| defuse(f)))
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))
}

async fn audit_csv(admin: Admin, query: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let action = query.action.clone();
    let result = admin
        .run(move |conn, project, _| {
            audit::list(conn, &project.id, action.as_deref(), None, CSV_LIMIT)
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

#[cfg(test)]
mod tests {
    use super::defuse;

    #[test]
    fn fields_that_could_start_a_formula_in_any_dialect_are_defused() {
        assert_eq!(defuse("plain"), "plain");
        assert_eq!(defuse("a,b"), "a,b");
        assert_eq!(defuse("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(defuse("@cmd"), "'@cmd");
        assert_eq!(defuse("x;=cmd|' /C calc'!A0"), "x;'=cmd|' /C calc'!A0");
        assert_eq!(defuse("a| +1"), "a| '+1");
        assert_eq!(defuse("a,-2"), "a,'-2");
        assert_eq!(defuse("Smith-Jones"), "Smith-Jones");
    }
}
