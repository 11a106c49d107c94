//! Account settings: the member's profile in the current project, and its photo.

use std::collections::BTreeMap;

use actix_multipart::Multipart;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use futures_util::StreamExt;

use super::AppState;
use super::errors::AppError;
use super::extractors::CurrentUser;
use super::forms::indexed_field;
use super::htmx::see_other;
use super::render::{csrf_of, page};
use super::session;
use crate::db::models::Profile;
use crate::domain::FieldErrors;
use crate::domain::profile_form::{
    GENDERS, IDENTIFIERS_MAX, IdentifierRow, LANGUAGES, ProfileFields, QUALIFICATIONS_MAX,
    QualificationRow,
};
use crate::services::photo::{self, MAX_BYTES};
use crate::services::profile;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account")
            .route(web::get().to(account))
            .route(web::post().to(save)),
    )
    .service(web::resource("/account/photo").route(web::post().to(upload_photo)))
    .service(web::resource("/profiles/{id}/photo").route(web::get().to(serve_photo)));
}

/// The form filled with the saved profile; with its identifiers when the form shows them
/// (admins' edit form).
pub(crate) fn fields_of(p: &Profile, with_identifiers: bool) -> ProfileFields {
    let date = |d: Option<NaiveDate>| {
        d.map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    ProfileFields {
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        prefix: p.prefix.clone().unwrap_or_default(),
        suffix: p.suffix.clone().unwrap_or_default(),
        phone: p.phone.clone().unwrap_or_default(),
        gender: p.gender.clone().unwrap_or_default(),
        birth_date: date(p.birth_date),
        language: p.language.clone().unwrap_or_default(),
        qualifications: profile::qualifications_of(p)
            .into_iter()
            .map(|q| QualificationRow {
                text: q.text,
                issuer: q.issuer,
                start: date(q.start),
                end: date(q.end),
            })
            .collect(),
        identifiers: with_identifiers.then(|| {
            profile::identifiers_of(p)
                .into_iter()
                .map(|i| IdentifierRow {
                    system: i.system,
                    value: i.value,
                })
                .collect()
        }),
    }
}

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage<'a> {
    csrf: String,
    email: String,
    profile_id: String,
    resource_type: String,
    photo_version: Option<i64>,
    fields: ProfileFields,
    errors: FieldErrors,
    /// Always `None` here: a member's own names are theirs (the admin form shares the partial).
    names_locked: Option<String>,
    photo_error: Option<String>,
    languages: &'a [(&'a str, &'a str)],
    genders: &'a [(&'a str, &'a str)],
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    fields: Option<ProfileFields>,
    errors: FieldErrors,
    photo_error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let profile_id = user
        .membership
        .profile_id
        .clone()
        .ok_or(AppError::NotFound)?;
    let id = profile_id.clone();
    let current = state.db.run(move |conn| profile::get(conn, &id)).await?;
    let status = if errors.is_empty() && photo_error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = AccountPage {
        csrf: csrf_of(req),
        email: user.ctx.user.email.clone(),
        profile_id,
        resource_type: current.resource_type.to_string(),
        photo_version: current.photo_updated_at.map(|t| t.and_utc().timestamp()),
        fields: fields.unwrap_or_else(|| fields_of(&current, false)),
        names_locked: None,
        errors,
        photo_error,
        languages: LANGUAGES,
        genders: GENDERS,
    };
    page(
        req,
        state,
        Some(&user.ctx),
        "Account settings",
        &view,
        status,
    )
    .await
}

async fn account(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    render(&req, &state, &user, None, FieldErrors::new(), None).await
}

/// Reads the profile form: its fields, and which button was pressed (`save` unless one of
/// the row buttons was).
pub(crate) fn parse_fields(body: &[u8]) -> Result<(ProfileFields, String), AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read".into()))?;
    let mut f = ProfileFields::default();
    let mut button = "save".to_owned();
    let mut rows: BTreeMap<usize, QualificationRow> = BTreeMap::new();
    let mut ids: Option<BTreeMap<usize, IdentifierRow>> = None;
    for (key, value) in pairs {
        match key.as_str() {
            "firstName" => f.first_name = value,
            "lastName" => f.last_name = value,
            "prefix" => f.prefix = value,
            "suffix" => f.suffix = value,
            "phone" => f.phone = value,
            "gender" => f.gender = value,
            "birthDate" => f.birth_date = value,
            "language" => f.language = value,
            "button" => button = value,
            // The admin form says it carries identifiers, so that none left means none.
            "identifiers" => {
                ids.get_or_insert_default();
            }
            _ => {
                if let Some((index, field)) =
                    indexed_field("qualification", &key, QUALIFICATIONS_MAX)
                {
                    let row = rows.entry(index).or_default();
                    match field {
                        "text" => row.text = value,
                        "issuer" => row.issuer = value,
                        "start" => row.start = value,
                        "end" => row.end = value,
                        _ => {}
                    }
                } else if let Some((index, field)) =
                    indexed_field("identifier", &key, IDENTIFIERS_MAX)
                {
                    let row = ids.get_or_insert_default().entry(index).or_default();
                    match field {
                        "system" => row.system = value,
                        "value" => row.value = value,
                        _ => {}
                    }
                }
            }
        }
    }
    f.qualifications = rows.into_values().collect();
    f.identifiers = ids.map(|rows| rows.into_values().collect());
    Ok((f, button))
}

/// Applies a row button (add or remove a qualification or an identifier) to the form; `false`
/// for `save`. Any other button (a malformed one included) shows the form again unsaved.
pub(crate) fn apply_row_button(fields: &mut ProfileFields, button: &str) -> bool {
    if button == "save" {
        return false;
    }
    let index = |prefix: &str| {
        button
            .strip_prefix(prefix)
            .and_then(|i| i.parse::<usize>().ok())
    };
    if button == "add-qualification" {
        if fields.qualifications.len() < QUALIFICATIONS_MAX {
            fields.qualifications.push(QualificationRow::default());
        }
    } else if button == "add-identifier" {
        let rows = fields.identifiers.get_or_insert_default();
        if rows.len() < IDENTIFIERS_MAX {
            rows.push(IdentifierRow::default());
        }
    } else if let Some(i) = index("remove-identifier-") {
        if let Some(rows) = fields.identifiers.as_mut().filter(|r| i < r.len()) {
            rows.remove(i);
        }
    } else if let Some(i) = index("remove-") {
        if i < fields.qualifications.len() {
            fields.qualifications.remove(i);
        }
    }
    true
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (mut fields, button) = parse_fields(&body)?;
    let row_button = apply_row_button(&mut fields, &button);
    // A member's own form never carries identifiers: those are their admins' to keep.
    fields.identifiers = None;
    if row_button {
        return render(&req, &state, &user, Some(fields), FieldErrors::new(), None).await;
    }
    let update = match fields.parse() {
        Ok(update) => update,
        Err(errors) => return render(&req, &state, &user, Some(fields), errors, None).await,
    };
    let profile_id = user
        .membership
        .profile_id
        .clone()
        .ok_or(AppError::NotFound)?;
    let user_id = user.ctx.user.id.clone();
    state
        .db
        .run(move |conn| profile::save(conn, &user_id, &profile_id, update))
        .await?;
    session::set_flash(&session, "Your profile was saved")?;
    Ok(see_other(&req, "/account"))
}

/// Past this much, an upload is not even read to its end (the connection is closed).
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Reads the `photo` part of the upload. Keeps at most 2 MB; the rest of an oversized file is
/// read and dropped (up to a limit) so the browser gets the answer on a healthy connection.
async fn read_photo(mut multipart: Multipart) -> Result<Vec<u8>, String> {
    let unreadable = || "The upload could not be read".to_string();
    let mut photo: Option<Vec<u8>> = None;
    let mut oversized = false;
    let mut seen = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|_| unreadable())?;
        let wanted = field.name() == Some("photo") && photo.is_none();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            seen += chunk.len();
            if seen > DRAIN_LIMIT {
                return Err("The photo must be at most 2 MB".into());
            }
            if wanted && !oversized {
                if bytes.len() + chunk.len() > MAX_BYTES {
                    oversized = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(&chunk);
                }
            }
        }
        if wanted {
            photo = Some(bytes);
        }
    }
    match (photo, oversized) {
        (_, true) => Err("The photo must be at most 2 MB".into()),
        (Some(bytes), false) if !bytes.is_empty() => Ok(bytes),
        _ => Err("Choose a photo to upload".into()),
    }
}

async fn upload_photo(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    multipart: Multipart,
) -> Result<HttpResponse, AppError> {
    let profile_id = user
        .membership
        .profile_id
        .clone()
        .ok_or(AppError::NotFound)?;
    let thumbnail = match read_photo(multipart).await {
        Ok(bytes) => web::block(move || photo::make_thumbnail(&bytes))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("photo task: {e}")))?,
        Err(message) => Err(message),
    };
    match thumbnail {
        Ok(png) => {
            state
                .db
                .run(move |conn| profile::set_photo(conn, &profile_id, png))
                .await?;
            session::set_flash(&session, "Your photo was updated")?;
            Ok(see_other(&req, "/account"))
        }
        Err(message) => render(&req, &state, &user, None, FieldErrors::new(), Some(message)).await,
    }
}

async fn serve_photo(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (profile_id, viewer) = (path.into_inner(), user.membership.id.clone());
    let (bytes, content_type, updated) = state
        .db
        .run(move |conn| profile::photo(conn, &profile_id, &viewer))
        .await?;
    let etag = format!("\"{}\"", updated.and_utc().timestamp_micros());
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::ETAG, etag))
        // Only members may see it: private, and revalidated after an hour.
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(bytes))
}
