//! Two-factor authentication with time-based one-time codes (RFC 6238: 30-second steps,
//! 6 digits, one step of clock drift either way). A code is accepted once: the step it
//! matched is remembered, and that step or an earlier one is refused afterwards.

use crate::services::Conflict;
use diesel::prelude::*;
use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Builder, Secret, Totp};

use super::{ServiceError, now};
use crate::db::DbConn;
use crate::db::models::User;
use crate::db::schema::{logins, users};

const ISSUER: &str = "Rollcall";
pub const WRONG_CODE: &str =
    "That code is not valid. Enter the 6 digits your authenticator app shows now";
pub const USED_CODE: &str = "That code was already used. Wait for the next one";

fn totp(secret_base32: &str, account: &str) -> Result<Totp, ServiceError> {
    let secret = Secret::try_from_base32(secret_base32)
        .map_err(|e| anyhow::anyhow!("stored MFA secret unreadable: {e}"))?;
    Ok(Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', ""))
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| anyhow::anyhow!("TOTP setup: {e}"))?)
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// What an enrolment page shows: the secret as text and as a QR code.
pub struct Enrolment {
    pub secret: String,
    pub qr_svg: String,
}

/// The QR code as inline SVG, without the XML prologue (it is embedded in HTML).
fn qr_svg(url: &str) -> Result<String, ServiceError> {
    let code = QrCode::new(url.as_bytes()).map_err(|e| anyhow::anyhow!("QR code: {e}"))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = image.find("<svg").unwrap_or(0);
    Ok(image[start..].replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\"",
        1,
    ))
}

/// Starts (or shows again) an enrolment: a pending secret is kept until a code confirms it.
pub fn start_enrolment(conn: &mut DbConn, user: &User) -> Result<Enrolment, ServiceError> {
    let secret = match (&user.mfa_secret, user.mfa_enrolled) {
        (_, true) => {
            return Err(ServiceError::Conflict(Conflict::MfaAlreadyOn));
        }
        (Some(pending), false) => pending.clone(),
        (None, false) => {
            let fresh = Secret::generate().to_base32();
            diesel::update(users::table.find(&user.id))
                .set((
                    users::mfa_secret.eq(Some(&fresh)),
                    users::mfa_last_step.eq(None::<i64>),
                ))
                .execute(conn)?;
            fresh
        }
    };
    let url = totp(&secret, &user.email)?
        .to_url()
        .map_err(|e| anyhow::anyhow!("otpauth URL: {e}"))?;
    Ok(Enrolment {
        qr_svg: qr_svg(&url)?,
        secret,
    })
}

/// Checks `code` against the user's secret and uses it up.
fn use_code(conn: &mut DbConn, user_id: &str, code: &str) -> Result<(), ServiceError> {
    let (email, secret, last_step): (String, Option<String>, Option<i64>) = users::table
        .find(user_id)
        .select((users::email, users::mfa_secret, users::mfa_last_step))
        .first(conn)?;
    let secret = secret
        .ok_or_else(|| ServiceError::invalid("token", "Two-factor authentication is not set up"))?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let step = totp(&secret, &email)?
        .check(&code, unix_now())
        .and_then(|s| i64::try_from(s).ok())
        .ok_or_else(|| ServiceError::invalid("token", WRONG_CODE))?;
    if last_step.is_some_and(|last| step <= last) {
        return Err(ServiceError::invalid("token", USED_CODE));
    }
    // Conditional update: of two requests with the same code, one wins.
    let claimed = diesel::update(
        users::table.find(user_id).filter(
            users::mfa_last_step
                .is_null()
                .or(users::mfa_last_step.lt(step)),
        ),
    )
    .set(users::mfa_last_step.eq(Some(step)))
    .execute(conn)?;
    if claimed != 1 {
        return Err(ServiceError::invalid("token", USED_CODE));
    }
    Ok(())
}

fn mark_verified(conn: &mut DbConn, login_id: &str) -> Result<(), ServiceError> {
    diesel::update(logins::table.find(login_id))
        .set(logins::mfa_verified.eq(true))
        .execute(conn)?;
    Ok(())
}

/// Confirms the pending secret with a code; the current session counts as verified.
#[tracing::instrument(skip_all, fields(user = %user_id, login = %login_id))]
pub fn confirm_enrolment(
    conn: &mut DbConn,
    user_id: &str,
    login_id: &str,
    code: &str,
) -> Result<(), ServiceError> {
    crate::db::transaction(conn, |conn| {
        use_code(conn, user_id, code)?;
        diesel::update(users::table.find(user_id))
            .set((users::mfa_enrolled.eq(true), users::updated_at.eq(now())))
            .execute(conn)?;
        mark_verified(conn, login_id)
    })
}

/// The second step of signing in.
pub fn verify_signin(
    conn: &mut DbConn,
    user_id: &str,
    login_id: &str,
    code: &str,
) -> Result<(), ServiceError> {
    crate::db::transaction(conn, |conn| {
        use_code(conn, user_id, code)?;
        mark_verified(conn, login_id)
    })
}

/// Turns two-factor authentication off; needs a current code.
#[tracing::instrument(skip_all, fields(user = %user_id))]
pub fn disable(conn: &mut DbConn, user_id: &str, code: &str) -> Result<(), ServiceError> {
    crate::db::transaction(conn, |conn| {
        use_code(conn, user_id, code)?;
        diesel::update(users::table.find(user_id))
            .set((
                users::mfa_enrolled.eq(false),
                users::mfa_secret.eq(None::<String>),
                users::mfa_last_step.eq(None::<i64>),
                users::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    })
}
