//! The one error type of the JSON API: every failure answers a FHIR `OperationOutcome` with
//! the right status. Internal details are logged, never sent.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldErrors;
use crate::services::ServiceError;

/// What every API answer is sent as. Medplum's admin routes answer plain JSON too, and its
/// SDK reads any JSON type.
pub const API_JSON: &str = "application/json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthenticated")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("body too large")]
    TooLarge,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("busy")]
    Busy { retry_after: u64 },
    /// Something this request needs elsewhere (another provider) cannot be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The database cannot be reached.
    #[error("database unreachable")]
    DatabaseUnavailable,
    /// The database's disk is full.
    #[error("storage full")]
    StorageFull,
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e.classified() {
            ServiceError::Invalid(errors) => ApiError::Invalid(errors),
            ServiceError::NotFound => ApiError::NotFound,
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m.to_string()),
            ServiceError::TooManyRequests(r) => ApiError::TooManyRequests { retry_after: r.0 },
            ServiceError::Busy(retry_after) => ApiError::Busy { retry_after },
            ServiceError::Unavailable => ApiError::DatabaseUnavailable,
            ServiceError::StorageFull => ApiError::StorageFull,
            ServiceError::BadInput(m) => ApiError::BadRequest(m),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// FHIR `OperationOutcome`: what went wrong, for people and programs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    pub resource_type: String,
    /// `ok` for Medplum's all-OK answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub issue: Vec<OutcomeIssue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeIssue {
    /// `error` for failures, `information` for success messages.
    pub severity: String,
    /// A FHIR issue type: `invalid`, `login`, `forbidden`, `not-found`, `conflict`,
    /// `too-long`, `not-supported`, `throttled`, `exception`.
    pub code: String,
    pub details: OutcomeDetails,
    /// The request field the issue is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeDetails {
    pub text: String,
}

impl OperationOutcome {
    pub fn new(severity: &str, code: &str, issues: Vec<(String, Option<String>)>) -> Self {
        OperationOutcome {
            resource_type: "OperationOutcome".into(),
            id: None,
            issue: issues
                .into_iter()
                .map(|(text, field)| OutcomeIssue {
                    severity: severity.into(),
                    code: code.into(),
                    details: OutcomeDetails { text },
                    expression: field.map(|f| vec![f]),
                })
                .collect(),
        }
    }

    /// Medplum's `allOk`: a success with nothing else to say.
    pub fn all_ok() -> Self {
        let mut outcome = Self::new(
            "information",
            "informational",
            vec![("All OK".into(), None)],
        );
        outcome.id = Some("ok".into());
        outcome
    }

    pub fn one(code: &str, text: impl Into<String>) -> Self {
        Self::new("error", code, vec![(text.into(), None)])
    }
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(FieldErrors::single(field, message))
    }

    pub fn outcome(&self) -> OperationOutcome {
        match self {
            ApiError::Invalid(errors) => OperationOutcome::new(
                "error",
                "invalid",
                errors
                    .iter()
                    .map(|(field, message)| (message.to_owned(), Some(field.to_owned())))
                    .collect(),
            ),
            ApiError::BadRequest(m) => OperationOutcome::one("invalid", m.clone()),
            ApiError::Unauthorized => OperationOutcome::one("login", "Unauthorized"),
            ApiError::Forbidden(m) => OperationOutcome::one("forbidden", m.clone()),
            ApiError::NotFound => OperationOutcome::one("not-found", "Not found"),
            ApiError::Conflict(m) => OperationOutcome::one("conflict", m.clone()),
            ApiError::MethodNotAllowed { .. } => {
                OperationOutcome::one("not-supported", "Method not allowed")
            }
            ApiError::TooLarge => OperationOutcome::one("too-long", "Request body is too large"),
            ApiError::UnsupportedMediaType(m) => OperationOutcome::one("not-supported", m.clone()),
            ApiError::TooManyRequests { .. } => {
                OperationOutcome::one("throttled", "Too many requests; try again later")
            }
            ApiError::Busy { .. } => OperationOutcome::one(
                "transient",
                "The server is busy signing other people in; try again in a moment",
            ),
            ApiError::Unavailable(m) => OperationOutcome::one("transient", m.clone()),
            ApiError::StorageFull => OperationOutcome::one(
                "exception",
                "The server's disk is full, so nothing was saved; try again once space is freed",
            ),
            ApiError::DatabaseUnavailable => OperationOutcome::one(
                "transient",
                "The database cannot be reached just now; nothing was changed. Try again in a few seconds",
            ),
            ApiError::Internal(_) => OperationOutcome::one("exception", "Internal server error"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. }
            | ApiError::Unavailable(_)
            | ApiError::DatabaseUnavailable
            | ApiError::StorageFull => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            // Logged once, inside the request's span, so the line carries the request id.
            tracing::error!(error = %format!("{e:#}"), "API request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, API_JSON));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ApiError::TooManyRequests { retry_after } | ApiError::Busy { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "30"));
            }
            ApiError::DatabaseUnavailable => {
                let seconds = crate::web::errors::UNAVAILABLE_RETRY_AFTER;
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            ApiError::StorageFull => {
                let seconds = crate::web::errors::STORAGE_FULL_RETRY_AFTER;
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            _ => {}
        }
        response.json(self.outcome())
    }
}
