//! What the session cookie holds: the Login id, the CSRF token and a one-time status message.

use actix_session::Session;

use crate::services::random_secret;

const LOGIN_KEY: &str = "lid";
pub const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

/// The session cookie could not be written (its contents did not serialise).
#[derive(Debug, thiserror::Error)]
#[error("session: {0}")]
pub struct SessionError(String);

fn internal(e: impl std::fmt::Display) -> SessionError {
    SessionError(e.to_string())
}

pub fn login_id(session: &Session) -> Option<String> {
    session.get::<String>(LOGIN_KEY).ok().flatten()
}

/// Starts a signed-in session: a new session id and a new CSRF token.
pub fn sign_in(session: &Session, login_id: &str) -> Result<(), SessionError> {
    session.renew();
    session.insert(LOGIN_KEY, login_id).map_err(internal)?;
    session
        .insert(CSRF_KEY, random_secret())
        .map_err(internal)?;
    Ok(())
}

pub fn sign_out(session: &Session) {
    session.clear();
    session.renew();
}

pub fn set_flash(session: &Session, message: &str) -> Result<(), SessionError> {
    session.insert(FLASH_KEY, message).map_err(internal)
}

pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH_KEY).and_then(Result::ok)
}
