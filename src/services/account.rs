//! A member's own account: password, sessions.

use crate::services::Conflict;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audit::{self, Acting};
use super::auth::new_security_stamp;
use super::emails;
use super::outbox;
use super::{RequestMeta, ServiceError, now};
use crate::db::models::{Login, User};
use crate::db::schema::{logins, users};
use crate::db::{self, DbConn};

/// Sets a new password, keeps this session and ends every other one, and tells the user.
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub fn change_password(
    conn: &mut DbConn,
    user: &User,
    current_login: &str,
    password_hash: &str,
    meta: &RequestMeta,
) -> Result<(), ServiceError> {
    db::transaction(conn, |conn| {
        let at = now();
        let stamp = new_security_stamp();
        diesel::update(users::table.find(&user.id))
            .set((
                users::password_hash.eq(Some(password_hash)),
                users::security_stamp.eq(&stamp),
                users::updated_at.eq(at),
            ))
            .execute(conn)?;
        diesel::update(logins::table.find(current_login))
            .set(logins::security_stamp.eq(&stamp))
            .execute(conn)?;
        super::recovery::cancel_links(conn, &user.id)?;
        diesel::update(
            logins::table
                .filter(logins::user_id.eq(&user.id))
                .filter(logins::id.ne(current_login))
                .filter(logins::revoked_at.is_null()),
        )
        .set(logins::revoked_at.eq(Some(at)))
        .execute(conn)?;
        audit::record(
            conn,
            None,
            &Acting::user(user, meta),
            "user.password_changed",
            None,
            "",
        )?;
        outbox::enqueue(
            conn,
            &emails::password_changed(&user.email, &user.first_name, meta.ip.as_deref())?,
        )?;
        Ok(())
    })
}

/// One of the user's live sessions, for the Security page.
pub struct SessionRow {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub method: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub current: bool,
}

pub fn sessions_of(
    conn: &mut DbConn,
    user_id: &str,
    current: &str,
) -> Result<Vec<SessionRow>, ServiceError> {
    let at = now();
    let rows: Vec<Login> = logins::table
        .filter(logins::user_id.eq(user_id))
        .filter(logins::revoked_at.is_null())
        .filter(logins::expires_at.gt(at))
        .order(logins::last_seen_at.desc())
        .limit(100)
        .select(Login::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|l| SessionRow {
            device: describe_device(l.user_agent.as_deref().unwrap_or("")),
            ip: l.ip.unwrap_or_else(|| "unknown".into()),
            method: if l.method == "password" {
                "Password".into()
            } else {
                l.method
            },
            created_at: l.created_at,
            last_seen_at: l.last_seen_at,
            current: l.id == current,
            id: l.id,
        })
        .collect())
}

/// Signs one of the user's other devices out (at that device's next request).
#[tracing::instrument(skip_all, fields(user = %user_id, login = %login_id))]
pub fn revoke_session(
    conn: &mut DbConn,
    user_id: &str,
    current: &str,
    login_id: &str,
) -> Result<(), ServiceError> {
    if login_id == current {
        return Err(ServiceError::Conflict(Conflict::CurrentSession));
    }
    let revoked = diesel::update(
        logins::table
            .find(login_id)
            .filter(logins::user_id.eq(user_id))
            .filter(logins::revoked_at.is_null()),
    )
    .set(logins::revoked_at.eq(Some(now())))
    .execute(conn)?;
    if revoked == 0 {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

/// "Firefox on Windows" from a User-Agent header: enough for a person to recognise a device.
pub fn describe_device(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.contains("curl/") {
        "curl"
    } else {
        "Unknown browser"
    };
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("Linux") || ua.contains("X11") {
        "Linux"
    } else {
        ""
    };
    if os.is_empty() {
        browser.to_owned()
    } else {
        format!("{browser} on {os}")
    }
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn devices_are_described_in_words() {
        assert_eq!(
            describe_device(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox on Windows"
        );
        assert_eq!(
            describe_device(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
            ),
            "Chrome on Linux"
        );
        assert_eq!(
            describe_device(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1"
            ),
            "Safari on iOS"
        );
        assert_eq!(describe_device(""), "Unknown browser");
    }
}
