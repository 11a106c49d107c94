//! Exporting the Users or Patients tab, with its search, filters and order, as CSV or as a
//! FHIR Bundle of ProjectMemberships. The file is streamed a thousand rows at a time, each
//! read by the list's own keyset query: a hundred thousand members are never in memory at
//! once. Every export is in the audit log.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream::{self, Stream};

use super::member_list::ListParams;
use super::{Admin, Tab};
use crate::api::resources::ProjectMembership;
use crate::db::models::Project;
use crate::services::members::{self, Cursor, ListQuery, MemberRow, Total};
use crate::services::{Db, ServiceError, audit, lookup};
use crate::web::errors::AppError;
use crate::web::spreadsheet;

/// Rows read per trip to the database.
const CHUNK: i64 = 1_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for tab in [Tab::Users, Tab::Patients] {
        for format in [Format::Csv, Format::Json] {
            let path = format!("{}.{}", tab.href(), format.extension());
            cfg.service(web::resource(path).route(web::get().to(
                move |admin: Admin, params: web::Query<ListParams>| {
                    export(admin, params.into_inner(), tab, format)
                },
            )));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/fhir+json",
        }
    }
}

const CSV_HEADER: [&str; 11] = [
    "membership_id",
    "first_name",
    "last_name",
    "email",
    "role",
    "admin",
    "access_policy",
    "status",
    "two_factor",
    "last_signin",
    "profile",
];

fn status_word(row: &MemberRow) -> &'static str {
    if !row.active {
        "suspended"
    } else {
        row.status.as_str()
    }
}

fn csv_rows(rows: &[MemberRow], header: bool) -> Result<Bytes, ServiceError> {
    let mut writer = spreadsheet::writer();
    let failed = |e: csv::Error| ServiceError::Internal(e.into());
    if header {
        writer.write_record(CSV_HEADER).map_err(failed)?;
    }
    for row in rows {
        let fields = [
            row.membership_id.clone(),
            row.first_name.clone(),
            row.last_name.clone(),
            row.email.clone(),
            row.resource_type.as_str().to_owned(),
            row.admin.to_string(),
            row.policy_name.clone().unwrap_or_default(),
            status_word(row).to_owned(),
            if row.mfa_enrolled { "on" } else { "off" }.to_owned(),
            row.last_signin_at
                .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            format!("{}/{}", row.resource_type.as_str(), row.profile_id),
        ];
        writer
            .write_record(fields.iter().map(|f| spreadsheet::defuse(f)))
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("csv: {e}")))
}

/// One chunk of Bundle entries (each the same ProjectMembership the API answers), after the
/// Bundle's opening for the first chunk.
fn json_rows(
    conn: &mut crate::db::DbConn,
    project_id: &str,
    rows: &[MemberRow],
    first: bool,
    total: Option<i64>,
    written: &mut bool,
) -> Result<Bytes, ServiceError> {
    let ids: Vec<String> = rows.iter().map(|r| r.membership_id.clone()).collect();
    let views = lookup::memberships_by_ids(conn, project_id, &ids)?;
    let mut out = Vec::new();
    if first {
        let opening = match total {
            Some(total) => format!(
                r#"{{"resourceType":"Bundle","type":"collection","total":{total},"entry":["#
            ),
            None => r#"{"resourceType":"Bundle","type":"collection","entry":["#.to_owned(),
        };
        out.extend_from_slice(opening.as_bytes());
    }
    // A comma before every entry but the file's first (a member gone between the two reads
    // of a chunk is simply not there).
    for view in &views {
        if *written {
            out.push(b',');
        }
        *written = true;
        let entry = serde_json::json!({
            "fullUrl": format!("ProjectMembership/{}", view.membership.id),
            "resource": ProjectMembership::from(view),
        });
        serde_json::to_writer(&mut out, &entry).map_err(|e| ServiceError::Internal(e.into()))?;
    }
    Ok(Bytes::from(out))
}

struct Progress {
    db: Db,
    project: Project,
    query: ListQuery,
    format: Format,
    first: bool,
    /// A Bundle entry has been written (the next one needs a comma).
    written: bool,
    done: bool,
}

/// The next chunk of the file, or `None` after its last.
async fn next_chunk(mut at: Progress) -> Result<Option<(Bytes, Progress)>, ServiceError> {
    if at.done {
        return Ok(None);
    }
    let (query, project_id, format, first, mut written) = (
        at.query.clone(),
        at.project.id.clone(),
        at.format,
        at.first,
        at.written,
    );
    let (bytes, next, written): (Bytes, Option<Cursor>, bool) = at
        .db
        .run(move |conn| {
            let page = members::list(conn, &project_id, &query)?;
            let total = match page.total {
                Total::Exact(n) => Some(n),
                Total::AtLeast(_) => None,
            };
            let bytes = match format {
                Format::Csv => csv_rows(&page.rows, first)?,
                Format::Json => {
                    json_rows(conn, &project_id, &page.rows, first, total, &mut written)?
                }
            };
            Ok((bytes, page.next, written))
        })
        .await?;
    at.first = false;
    at.written = written;
    at.done = next.is_none();
    let bytes = if at.done && format == Format::Json {
        let mut closed = bytes.to_vec();
        if first && closed.is_empty() {
            closed.extend_from_slice(
                br#"{"resourceType":"Bundle","type":"collection","total":0,"entry":["#,
            );
        }
        closed.extend_from_slice(b"]}");
        Bytes::from(closed)
    } else {
        bytes
    };
    at.query.cursor = next;
    Ok(Some((bytes, at)))
}

fn chunks(at: Progress) -> impl Stream<Item = Result<Bytes, ServiceError>> {
    stream::try_unfold(at, next_chunk)
}

async fn export(
    admin: Admin,
    params: ListParams,
    tab: Tab,
    format: Format,
) -> Result<HttpResponse, AppError> {
    let query = params.query(tab, CHUNK);
    let detail = format!(
        "{} of the {} tab{}",
        format.extension().to_uppercase(),
        tab.label(),
        match params.query_string().as_str() {
            "" => String::new(),
            shape => format!(", {}", shape.trim_start_matches('?')),
        }
    );
    admin
        .run(move |conn, project, by| {
            audit::record(
                conn,
                Some(&project.id),
                by,
                "members.exported",
                None,
                &detail,
            )
        })
        .await?;
    let progress = Progress {
        db: admin.state().db.clone(),
        project: admin.project.clone(),
        query,
        format,
        first: true,
        written: false,
        done: false,
    };
    let filename = format!(
        "{}-{}.{}",
        tab.label().to_lowercase(),
        crate::services::now().format("%Y-%m-%d"),
        format.extension()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(chunks(progress)))
}
