//! What the HTML pages and the JSON API share, below both: the application state, the session
//! cookie's contents and what a request records about its sender.

pub mod session;

use std::sync::Arc;

use crate::config::Settings;
use crate::services::auth::SessionPolicy;
use crate::services::keys::KeyRing;
use crate::services::mail::MailSignal;
use crate::services::passwords::Hasher;
use crate::services::throttle::Throttle;
use crate::services::{Db, RequestMeta};

/// Everything handlers share, built once at start.
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// The public base URL without a trailing slash, for links in emails.
    pub base_url: String,
    pub hasher: Hasher,
    pub throttle: Throttle,
    pub mail: MailSignal,
    pub session_policy: SessionPolicy,
    /// Signs and checks tokens.
    pub tokens: KeyRing,
    /// Calls other OpenID Connect providers.
    pub http: reqwest::Client,
}

/// The caller's IP and (shortened) user agent, for audit events and sessions.
pub fn request_meta(req: &actix_web::HttpRequest) -> RequestMeta {
    RequestMeta {
        ip: req.peer_addr().map(|a| a.ip().to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(400).collect()),
    }
}
