//! Invite many at once (`/admin/invite/bulk`): paste a list or upload a CSV, see what each
//! row would do before anything is written, then invite the valid rows and see each result.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;
use serde::Deserialize;

use super::{Admin, Tab};
use crate::domain::ProfileType;
use crate::services::invite::bulk::{self, Check, Checked, Invited, MAX_ROWS};
use crate::web::errors::AppError;

const PATH: &str = "/admin/invite/bulk";
/// The largest list or file read.
const MAX_BYTES: usize = 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH)
            .route(web::get().to(form))
            .route(web::post().to(submit)),
    );
}

#[derive(Template)]
#[template(path = "pages/admin/invite_bulk.html")]
struct FormPage {
    tab: Tab,
    csrf: String,
    people: String,
    role: String,
    send_email: bool,
    problem: Option<String>,
    max_rows: usize,
    invites_per_hour: u32,
}

#[derive(Template)]
#[template(path = "pages/admin/invite_bulk_preview.html")]
struct PreviewPage {
    tab: Tab,
    csrf: String,
    people: String,
    role: String,
    send_email: bool,
    rows: Vec<Checked>,
}

impl PreviewPage {
    fn valid(&self) -> usize {
        self.rows.iter().filter(|r| r.is_valid()).count()
    }
}

#[derive(Template)]
#[template(path = "pages/admin/invite_bulk_result.html")]
struct ResultPage {
    tab: Tab,
    rows: Vec<Invited>,
}

impl ResultPage {
    fn invited(&self) -> usize {
        self.rows.iter().filter(|r| r.outcome.is_ok()).count()
    }
}

#[derive(Deserialize)]
pub struct FormQuery {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

async fn show_form(
    admin: &Admin,
    people: String,
    role: String,
    send_email: bool,
    problem: Option<String>,
) -> Result<HttpResponse, AppError> {
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = FormPage {
        tab: tab_of(&role),
        csrf: admin.csrf(),
        people,
        role,
        send_email,
        problem,
        max_rows: MAX_ROWS,
        invites_per_hour: admin.state().settings.limits.invites_per_admin,
    };
    admin.render("Invite many people", &view, status).await
}

fn tab_of(role: &str) -> Tab {
    Tab::of_profile(ProfileType::parse(role).unwrap_or_default())
}

async fn form(admin: Admin, query: web::Query<FormQuery>) -> Result<HttpResponse, AppError> {
    let role = query
        .resource_type
        .as_deref()
        .and_then(|t| ProfileType::parse(t).ok())
        .unwrap_or_default();
    show_form(&admin, String::new(), role.as_str().to_owned(), true, None).await
}

/// The form's fields, the uploaded file read as UTF-8 text.
async fn read_fields(mut multipart: Multipart) -> Result<HashMap<String, String>, String> {
    let unreadable = || "The form could not be read".to_string();
    let mut fields = HashMap::new();
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|_| unreadable())?;
        let name = field.name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            if bytes.len() + chunk.len() > MAX_BYTES {
                return Err("The list or file is larger than 1 MB: split it".into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            "The file is not UTF-8 text: save it as “CSV UTF-8” and try again".to_string()
        })?;
        fields.insert(name, text);
    }
    Ok(fields)
}

async fn submit(admin: Admin, multipart: Multipart) -> Result<HttpResponse, AppError> {
    let fields = match read_fields(multipart).await {
        Ok(fields) => fields,
        Err(problem) => {
            return show_form(&admin, String::new(), String::new(), true, Some(problem)).await;
        }
    };
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let file = get("file");
    let people = if file.trim().is_empty() {
        get("people")
    } else {
        file
    };
    let role = get("role");
    let default_role = ProfileType::parse(&role).unwrap_or_default();
    let send_email = fields.contains_key("sendEmail");
    let rows = match bulk::parse(&people) {
        Ok(rows) if rows.is_empty() => {
            let problem = "Paste at least one person, or choose a CSV file".to_owned();
            return show_form(&admin, people, role, send_email, Some(problem)).await;
        }
        Ok(rows) => rows,
        Err(problem) => return show_form(&admin, people, role, send_email, Some(problem)).await,
    };
    let checked = admin
        .run(move |conn, project, _| bulk::check(conn, project, rows, default_role))
        .await?;
    if get("step") != "invite" {
        let view = PreviewPage {
            tab: tab_of(&role),
            csrf: admin.csrf(),
            people,
            role,
            send_email,
            rows: checked,
        };
        return admin.show("Check the list", &view).await;
    }
    let (base_url, limits, key) = (
        admin.state().base_url.clone(),
        admin.state().settings.limits.clone(),
        format!("invite-admin:{}", admin.current.ctx.user.id),
    );
    let rows = admin
        .run(move |conn, project, by| {
            bulk::invite_all(
                conn, project, by, checked, send_email, &base_url, &limits, &key,
            )
        })
        .await?;
    admin.state().mail.wake();
    admin
        .show(
            "Invitations sent",
            &ResultPage {
                tab: tab_of(&role),
                rows,
            },
        )
        .await
}
