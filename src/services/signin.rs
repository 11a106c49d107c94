//! Signing in with a password: the throttles, one hash per attempt whoever the address
//! belongs to, and the new session. The page calls it; so will any other way of signing in.

use super::auth::{self, NewSession, SessionPolicy};
use super::passwords::Hasher;
use super::throttle::SigninKeys;
use super::{Db, RequestMeta, ServiceError};
use crate::config::Limits;
use crate::domain::EmailAddress;

/// One answer for an unknown address and a wrong password.
pub const INVALID_CREDENTIALS: &str = "Email or password is invalid";

pub struct PasswordSignin {
    pub email: EmailAddress,
    pub password: String,
    /// The project a sign-in link named: its own account for this address is the one meant.
    pub project_hint: Option<String>,
    pub remember: bool,
    pub meta: RequestMeta,
}

/// A new session, and the membership it starts in when there is one obvious choice.
pub struct SignedIn {
    pub login_id: String,
    pub membership_id: Option<String>,
}

/// `Ok(None)`: the email or the password is wrong (one answer for both).
#[tracing::instrument(skip_all)]
pub async fn with_password(
    db: &Db,
    hasher: &Hasher,
    limits: &Limits,
    policy: SessionPolicy,
    attempt: PasswordSignin,
) -> Result<Option<SignedIn>, ServiceError> {
    let (candidate, keys) = {
        let (email, hint, ip, limits) = (
            attempt.email.clone(),
            attempt.project_hint.clone(),
            attempt.meta.ip.clone(),
            limits.clone(),
        );
        db.write(move |conn| {
            let candidate = auth::signin_account(conn, &email, hint.as_deref())?;
            let account = candidate
                .as_ref()
                .map_or_else(|| format!("email:{email}"), |u| u.id.clone());
            let keys = SigninKeys::new(&account, ip.as_deref());
            keys.reserve(conn, &limits)?;
            Ok((candidate, keys))
        })
        .await?
    };
    // One hash for every attempt, whoever the address belongs to: timing tells nothing.
    let verified = hasher
        .verify(
            candidate.as_ref().and_then(|u| u.password_hash.as_deref()),
            &attempt.password,
        )
        .await?;
    let Some(user) = candidate.filter(|_| verified) else {
        tracing::info!("sign-in failed");
        return Ok(None);
    };
    let signed_in = db
        .write(move |conn| {
            keys.succeeded(conn)?;
            let membership_id =
                auth::default_membership(conn, &user.id, attempt.project_hint.as_deref())?;
            let new = NewSession {
                user: &user,
                method: "password",
                remember: attempt.remember,
                membership_id: membership_id.clone(),
                mfa_verified: !user.mfa_enrolled,
                meta: &attempt.meta,
            };
            Ok(SignedIn {
                login_id: auth::create_login(conn, new, &policy)?,
                membership_id,
            })
        })
        .await?;
    Ok(Some(signed_in))
}
