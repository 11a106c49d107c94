//! The audit log, newest first, filtered by action, actor, target and days, with a CSV
//! export of the same.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

use super::{Admin, Tab, query_string};
use crate::db::models::AuditEvent;
use crate::domain::FieldErrors;
use crate::services::audit::{self, ACTIONS, AuditFilter, AuditPage, Linked};
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
    actor: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    /// `server`: the server's own events (super admins only).
    scope: Option<String>,
}

fn day(errors: &mut FieldErrors, field: &str, value: Option<&str>) -> Option<NaiveDate> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    let parsed = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok();
    if parsed.is_none() {
        errors.add(field, "Enter a date as YYYY-MM-DD, for example 2026-12-01");
    }
    parsed
}

impl AuditQuery {
    /// The filter, and what was wrong with the dates (a wrong date is left out).
    fn filter(&self) -> (AuditFilter, FieldErrors) {
        let mut errors = FieldErrors::new();
        let from = day(&mut errors, "from", self.from.as_deref());
        let mut to = day(&mut errors, "to", self.to.as_deref());
        if let (Some(from), Some(until)) = (from, to)
            && until < from
        {
            errors.add("to", "The last day comes after the first");
            to = None;
        }
        let text = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        (
            AuditFilter {
                action: text(&self.action),
                actor: text(&self.actor),
                target: text(&self.target),
                from,
                to,
            },
            errors,
        )
    }

    /// The filters as typed, for links that keep them.
    fn pairs<'a>(&'a self, scope: &'a str) -> Vec<(&'a str, &'a str)> {
        let v = |o: &'a Option<String>| o.as_deref().unwrap_or("");
        vec![
            ("scope", scope),
            ("action", v(&self.action)),
            ("actor", v(&self.actor)),
            ("target", v(&self.target)),
            ("from", v(&self.from)),
            ("to", v(&self.to)),
        ]
    }

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
    actor: String,
    target: String,
    from: String,
    to: String,
    errors: FieldErrors,
    linked: Option<Linked>,
    now: chrono::NaiveDateTime,
    newest_href: String,
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

    fn when(&self, at: &chrono::NaiveDateTime) -> String {
        audit::relative_time(*at, self.now)
    }

    /// The member page of the event's target, while they are in the project.
    fn target_href(&self, e: &AuditEvent) -> Option<String> {
        let id = e.target_id.as_ref()?;
        self.linked
            .as_ref()?
            .targets
            .contains(id)
            .then(|| format!("/admin/members/{id}"))
    }

    /// The member page of whoever acted, while they are in the project.
    fn actor_href(&self, e: &AuditEvent) -> Option<String> {
        let id = self.linked.as_ref()?.actors.get(e.actor_id.as_ref()?)?;
        Some(format!("/admin/members/{id}"))
    }

    /// The two date fields: name, label, value as typed.
    fn dates(&self) -> [(&'static str, &'static str, &str); 2] {
        [("from", "From", &self.from), ("to", "To", &self.to)]
    }

    fn filtered(&self) -> bool {
        [
            &self.action,
            &self.actor,
            &self.target,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|v| !v.is_empty())
    }
}

async fn audit_log(admin: Admin, query: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let server = query.server(&admin)?;
    let scope = if server { "server" } else { "" };
    let (filter, errors) = query.filter();
    let before = query.before.clone();
    let (result, linked) = admin
        .run(move |conn, project, _| {
            let page = audit::list(
                conn,
                (!server).then_some(project.id.as_str()),
                &filter,
                before.as_deref(),
                audit::PAGE_SIZE,
            )?;
            let linked = if server {
                None
            } else {
                Some(audit::linkable(conn, &project.id, &page.events)?)
            };
            Ok((page, linked))
        })
        .await?;
    let pairs = query.pairs(scope);
    let with_cursor = |cursor: &str| {
        let mut all = pairs.clone();
        all.push(("before", cursor));
        format!("/admin/audit{}", query_string(&all))
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let view = AuditView {
        tab: Tab::Audit,
        actions: ACTIONS,
        next_href: result.next.as_deref().map(with_cursor),
        csv_href: format!("/admin/audit.csv{}", query_string(&pairs)),
        newest_href: format!("/admin/audit{}", query_string(&pairs)),
        paged: query.before.is_some(),
        server,
        super_admin: admin.current.ctx.user.super_admin,
        action: text(&query.action),
        actor: text(&query.actor),
        target: text(&query.target),
        from: text(&query.from),
        to: text(&query.to),
        errors,
        linked,
        now: chrono::Utc::now().naive_utc(),
        page: result,
    };
    admin.form("Audit log", &view, &view.errors).await
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
    let (filter, errors) = query.filter();
    if let Some((_, message)) = errors.iter().next() {
        return Err(AppError::BadRequest(message.to_owned()));
    }
    let result = admin
        .run(move |conn, project, _| {
            let project_id = (!server).then_some(project.id.as_str());
            audit::list(conn, project_id, &filter, None, CSV_LIMIT)
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
