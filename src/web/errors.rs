//! The one error type of the HTML pages (see `error_page` for how failed requests are shown).
//! Internal details are logged, never shown.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use super::htmx;
use crate::services::ServiceError;

/// Seconds to wait before asking again while the database cannot be reached.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;
/// Seconds to wait before asking again while the database's disk is full (someone must act).
pub const STORAGE_FULL_RETRY_AFTER: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("busy")]
    Busy { retry_after: u64 },
    /// The database cannot be reached: try again in a few seconds.
    #[error("database unreachable")]
    Unavailable,
    /// The database's disk is full.
    #[error("storage full")]
    StorageFull,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Not an error for the user: sign in first, choose a project first, and so on.
    #[error("redirect to {location}")]
    Redirect { location: String, htmx: bool },
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e.classified() {
            ServiceError::NotFound => AppError::NotFound,
            ServiceError::Forbidden(_) => AppError::Forbidden,
            ServiceError::Conflict(m) => AppError::BadRequest(m.to_string()),
            ServiceError::TooManyRequests(r) => AppError::TooManyRequests { retry_after: r.0 },
            ServiceError::Busy(retry_after) => AppError::Busy { retry_after },
            ServiceError::Unavailable => AppError::Unavailable,
            ServiceError::StorageFull => AppError::StorageFull,
            ServiceError::BadInput(m) => AppError::BadRequest(m),
            ServiceError::Invalid(errors) => {
                AppError::BadRequest(errors.iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))
            }
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<crate::http::session::SessionError> for AppError {
    fn from(e: crate::http::session::SessionError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("template: {e}"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy { .. } | AppError::Unavailable | AppError::StorageFull => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Redirect { htmx: true, .. } => StatusCode::OK,
            AppError::Redirect { .. } => StatusCode::SEE_OTHER,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Redirect { location, htmx } => htmx::redirect_response(location, *htmx),
            AppError::TooManyRequests { retry_after } | AppError::Busy { retry_after } => {
                HttpResponse::build(self.status_code())
                    .insert_header((header::RETRY_AFTER, retry_after.to_string()))
                    .finish()
            }
            AppError::Unavailable => HttpResponse::build(self.status_code())
                .insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER.to_string()))
                .finish(),
            AppError::StorageFull => HttpResponse::build(self.status_code())
                .insert_header((header::RETRY_AFTER, STORAGE_FULL_RETRY_AFTER.to_string()))
                .finish(),
            AppError::Internal(e) => {
                // Logged once, inside the request's span, so the line carries the request id.
                tracing::error!(error = %format!("{e:#}"), "request failed");
                HttpResponse::InternalServerError().finish()
            }
            other => HttpResponse::build(other.status_code()).finish(),
        }
    }
}
