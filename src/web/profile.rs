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
use crate::domain::{FieldErrors, PersonName};
use crate::services::photo::{self, MAX_BYTES};
use crate::services::profile::{self, ProfileUpdate, Qualification};

pub const LANGUAGES: &[(&str, &str)] = &[
    ("ar", "Arabic"),
    ("zh", "Chinese"),
    ("nl", "Dutch"),
    ("en", "English"),
    ("fr", "French"),
    ("de", "German"),
    ("hi", "Hindi"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ru", "Russian"),
    ("es", "Spanish"),
    ("sv", "Swedish"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("vi", "Vietnamese"),
];
pub const GENDERS: &[(&str, &str)] = &[
    ("female", "Female"),
    ("male", "Male"),
    ("other", "Other"),
    ("unknown", "Prefer not to say"),
];
const QUALIFICATIONS_MAX: usize = 20;
const SHORT_MAX: usize = 32;
const TEXT_MAX: usize = 128;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account")
            .route(web::get().to(account))
            .route(web::post().to(save)),
    )
    .service(web::resource("/account/photo").route(web::post().to(upload_photo)))
    .service(web::resource("/profiles/{id}/photo").route(web::get().to(serve_photo)));
}

/// The form as typed, to show again with its errors.
#[derive(Default, Clone)]
pub struct ProfileFields {
    first_name: String,
    last_name: String,
    prefix: String,
    suffix: String,
    phone: String,
    gender: String,
    birth_date: String,
    language: String,
    qualifications: Vec<QualificationRow>,
}

#[derive(Default, Clone)]
pub struct QualificationRow {
    text: String,
    issuer: String,
    start: String,
    end: String,
}

impl ProfileFields {
    fn of(p: &Profile) -> ProfileFields {
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
        }
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
        resource_type: current.resource_type.clone(),
        photo_version: current.photo_updated_at.map(|t| t.and_utc().timestamp()),
        fields: fields.unwrap_or_else(|| ProfileFields::of(&current)),
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

fn parse_fields(body: &[u8]) -> Result<(ProfileFields, String), AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read".into()))?;
    let mut f = ProfileFields::default();
    let mut button = "save".to_owned();
    let mut rows: BTreeMap<usize, QualificationRow> = BTreeMap::new();
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
                }
            }
        }
    }
    f.qualifications = rows.into_values().collect();
    Ok((f, button))
}

fn optional_text(
    errors: &mut FieldErrors,
    field: &str,
    label: &str,
    value: &str,
    max: usize,
) -> Option<String> {
    let v = value.trim();
    if v.chars().count() > max {
        errors.add(field, format!("{label} can be at most {max} characters"));
    } else if v.chars().any(char::is_control) {
        errors.add(field, format!("{label} cannot contain line breaks"));
    }
    (!v.is_empty()).then(|| v.to_owned())
}

fn optional_date(
    errors: &mut FieldErrors,
    field: &str,
    label: &str,
    value: &str,
) -> Option<NaiveDate> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if (1800..=9999).contains(&chrono::Datelike::year(&d)) => Some(d),
        _ => {
            errors.add(field, format!("{label} must be a date like 1990-04-23"));
            None
        }
    }
}

fn validate(f: &ProfileFields) -> Result<ProfileUpdate, FieldErrors> {
    let mut errors = FieldErrors::new();
    let first = errors.take("firstName", PersonName::parse(&f.first_name, "first name"));
    let last = errors.take("lastName", PersonName::parse(&f.last_name, "last name"));
    let prefix = optional_text(&mut errors, "prefix", "A prefix", &f.prefix, SHORT_MAX);
    let suffix = optional_text(&mut errors, "suffix", "A suffix", &f.suffix, SHORT_MAX);
    let phone = optional_text(&mut errors, "phone", "A phone number", &f.phone, SHORT_MAX);
    if let Some(p) = &phone
        && !(p
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            && p.chars().filter(char::is_ascii_digit).count() >= 3)
    {
        errors.add(
            "phone",
            "Enter a phone number using digits, spaces and + - ( )",
        );
    }
    let gender = Some(f.gender.trim().to_owned()).filter(|g| !g.is_empty());
    if gender
        .as_deref()
        .is_some_and(|g| !GENDERS.iter().any(|(k, _)| *k == g))
    {
        errors.add("gender", "Choose a gender from the list");
    }
    let birth_date = optional_date(&mut errors, "birthDate", "Birth date", &f.birth_date);
    if birth_date.is_some_and(|d| d > chrono::Utc::now().date_naive()) {
        errors.add("birthDate", "Birth date cannot be in the future");
    }
    let language = Some(f.language.trim().to_owned()).filter(|l| !l.is_empty());
    if language
        .as_deref()
        .is_some_and(|l| !LANGUAGES.iter().any(|(k, _)| *k == l))
    {
        errors.add("language", "Choose a language from the list");
    }
    let mut qualifications = Vec::new();
    for (i, row) in f.qualifications.iter().enumerate() {
        let blank = [&row.text, &row.issuer, &row.start, &row.end]
            .iter()
            .all(|v| v.trim().is_empty());
        if blank {
            continue;
        }
        let n = i + 1;
        let text_field = format!("qualification[{i}].text");
        if row.text.trim().is_empty() {
            errors.add(&text_field, format!("Qualification {n}: enter its name"));
        }
        let text = optional_text(
            &mut errors,
            &text_field,
            &format!("Qualification {n}"),
            &row.text,
            TEXT_MAX,
        )
        .unwrap_or_default();
        let issuer = optional_text(
            &mut errors,
            &format!("qualification[{i}].issuer"),
            &format!("Qualification {n} issuer"),
            &row.issuer,
            TEXT_MAX,
        )
        .unwrap_or_default();
        let start = optional_date(
            &mut errors,
            &format!("qualification[{i}].start"),
            &format!("Qualification {n} start"),
            &row.start,
        );
        let end = optional_date(
            &mut errors,
            &format!("qualification[{i}].end"),
            &format!("Qualification {n} end"),
            &row.end,
        );
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            errors.add(
                &format!("qualification[{i}].end"),
                format!("Qualification {n}: the end cannot be before the start"),
            );
        }
        qualifications.push(Qualification {
            text,
            issuer,
            start,
            end,
        });
    }
    match (first, last) {
        (Some(first), Some(last)) if errors.is_empty() => Ok(ProfileUpdate {
            first_name: first.into_inner(),
            last_name: last.into_inner(),
            prefix,
            suffix,
            phone,
            gender,
            birth_date,
            language,
            qualifications,
        }),
        _ => Err(errors),
    }
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (mut fields, button) = parse_fields(&body)?;
    if button == "add-qualification" && fields.qualifications.len() < QUALIFICATIONS_MAX {
        fields.qualifications.push(QualificationRow::default());
        return render(&req, &state, &user, Some(fields), FieldErrors::new(), None).await;
    }
    if let Some(index) = button
        .strip_prefix("remove-")
        .and_then(|i| i.parse::<usize>().ok())
    {
        if index < fields.qualifications.len() {
            fields.qualifications.remove(index);
        }
        return render(&req, &state, &user, Some(fields), FieldErrors::new(), None).await;
    }
    let update = match validate(&fields) {
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
