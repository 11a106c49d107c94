//! Two-factor authentication with time-based one-time codes (RFC 6238: 30-second steps,
//! 6 digits, one step of clock drift either way). A code is accepted once: the step it
//! matched is remembered, and that step or an earlier one is refused afterwards.

use crate::services::Conflict;
use diesel::prelude::*;
use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Builder, Secret, Totp};

use super::audit::{self, Acting};
use super::{RequestMeta, ServiceError, hash_secret, new_id, now};
use crate::db::DbConn;
use crate::db::models::User;
use crate::db::schema::{logins, recovery_codes, users};

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
    /// The `otpauth://` address the QR code holds.
    pub uri: String,
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
        uri: url,
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

/// How many recovery codes an enrolment (or a regeneration) gives.
pub const RECOVERY_CODES: usize = 10;

/// Crockford's base32: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Ten fresh recovery codes, each 80 random bits written as `xxxx-xxxx-xxxx-xxxx`.
pub fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..16)
                .map(|_| char::from(RECOVERY_ALPHABET[rng.random_range(0..32)]))
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A recovery code as typed (any case, spaces or dashes, o for 0, i or l for 1) in the form
/// its hash was made from; `None` when it cannot be one.
fn normalise_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    (code.len() == 16 && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then_some(code)
}

/// Whether a typed code looks like a recovery code rather than an authenticator's digits.
pub fn is_recovery_code(typed: &str) -> bool {
    typed.chars().any(|c| c.is_ascii_alphabetic())
        || typed.chars().filter(char::is_ascii_digit).count() > 8
}

/// Replaces the user's recovery codes with `codes` (only their hashes are kept).
fn store_recovery_codes(
    conn: &mut DbConn,
    user_id: &str,
    codes: &[String],
) -> Result<(), ServiceError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    let at = now();
    for code in codes {
        let normal = normalise_recovery_code(code)
            .ok_or_else(|| anyhow::anyhow!("a generated recovery code is malformed"))?;
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::id.eq(new_id()),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash_secret(&normal)),
                recovery_codes::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The user's recovery codes not yet used.
pub fn recovery_codes_left(conn: &mut DbConn, user_id: &str) -> Result<i64, ServiceError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Confirms the pending secret with a code and keeps the recovery codes the person was
/// shown; the current session counts as verified.
#[tracing::instrument(skip_all, fields(user = %user_id, login = %login_id))]
pub fn confirm_enrolment(
    conn: &mut DbConn,
    user_id: &str,
    login_id: &str,
    code: &str,
    recovery: &[String],
) -> Result<(), ServiceError> {
    crate::db::transaction(conn, |conn| {
        use_code(conn, user_id, code)?;
        diesel::update(users::table.find(user_id))
            .set((users::mfa_enrolled.eq(true), users::updated_at.eq(now())))
            .execute(conn)?;
        store_recovery_codes(conn, user_id, recovery)?;
        mark_verified(conn, login_id)
    })
}

/// The second step of signing in with a recovery code instead of the app: the code is used
/// up (of two requests with it, one wins). How many codes are left.
#[tracing::instrument(skip_all, fields(user = %user.id, login = %login_id))]
pub fn verify_with_recovery_code(
    conn: &mut DbConn,
    user: &User,
    login_id: &str,
    typed: &str,
    project_id: Option<&str>,
    meta: &RequestMeta,
) -> Result<i64, ServiceError> {
    let user_id = user.id.as_str();
    const WRONG: &str = "That recovery code is not valid or was already used";
    let code =
        normalise_recovery_code(typed).ok_or_else(|| ServiceError::invalid("token", WRONG))?;
    crate::db::transaction(conn, |conn| {
        let used = diesel::update(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user_id))
                .filter(recovery_codes::code_hash.eq(hash_secret(&code)))
                .filter(recovery_codes::used_at.is_null()),
        )
        .set(recovery_codes::used_at.eq(Some(now())))
        .execute(conn)?;
        if used != 1 {
            return Err(ServiceError::invalid("token", WRONG));
        }
        mark_verified(conn, login_id)?;
        let left = recovery_codes_left(conn, user_id)?;
        audit::record(
            conn,
            project_id,
            &Acting::user(user, meta),
            "user.recovery_code_used",
            None,
            &format!("{left} recovery codes left"),
        )?;
        Ok(left)
    })
}

/// New recovery codes in place of the old ones (which stop working); needs a current code
/// from the authenticator app.
#[tracing::instrument(skip_all, fields(user = %user_id))]
pub fn regenerate_recovery_codes(
    conn: &mut DbConn,
    user_id: &str,
    code: &str,
) -> Result<Vec<String>, ServiceError> {
    crate::db::transaction(conn, |conn| {
        let enrolled: bool = users::table
            .find(user_id)
            .select(users::mfa_enrolled)
            .first(conn)?;
        if !enrolled {
            return Err(ServiceError::Conflict(Conflict::MfaNotOn));
        }
        use_code(conn, user_id, code)?;
        let codes = new_recovery_codes();
        store_recovery_codes(conn, user_id, &codes)?;
        Ok(codes)
    })
}

/// Forgets the user's recovery codes (two-factor authentication turned off or reset).
pub fn drop_recovery_codes(conn: &mut DbConn, user_id: &str) -> Result<(), ServiceError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(())
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
        drop_recovery_codes(conn, user_id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_80_bit_codes_read_back_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert!(is_recovery_code(code));
            let normal = normalise_recovery_code(code).unwrap();
            assert_eq!(
                normalise_recovery_code(&code.to_uppercase()).as_deref(),
                Some(normal.as_str())
            );
            assert_eq!(
                normalise_recovery_code(&code.replace('-', " ")).as_deref(),
                Some(normal.as_str())
            );
        }
        assert_eq!(
            normalise_recovery_code("ABCD-EFGH-JKMN-PQRO").as_deref(),
            Some("abcdefghjkmnpqr0")
        );
        assert_eq!(normalise_recovery_code("abcd-efgh"), None);
        assert_eq!(normalise_recovery_code("uuuu-uuuu-uuuu-uuuu"), None);
        assert!(!is_recovery_code("123 456"));
    }
}
