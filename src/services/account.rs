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

/// Signs every other device of the user out; how many there were.
#[tracing::instrument(skip_all, fields(user = %user_id))]
pub fn revoke_other_sessions(
    conn: &mut DbConn,
    user_id: &str,
    current: &str,
) -> Result<usize, ServiceError> {
    Ok(diesel::update(
        logins::table
            .filter(logins::user_id.eq(user_id))
            .filter(logins::id.ne(current))
            .filter(logins::revoked_at.is_null()),
    )
    .set(logins::revoked_at.eq(Some(now())))
    .execute(conn)?)
}

/// The appearances a person may choose; `system` follows the device.
pub const THEMES: [&str; 3] = ["system", "light", "dark"];

/// Remembers the account's appearance (`system` forgets the choice).
pub fn set_theme(conn: &mut DbConn, user_id: &str, theme: &str) -> Result<(), ServiceError> {
    if !THEMES.contains(&theme) {
        return Err(ServiceError::invalid(
            "theme",
            "Choose system, light or dark",
        ));
    }
    let stored = (theme != "system").then_some(theme);
    diesel::update(users::table.find(user_id))
        .set(users::theme.eq(stored))
        .execute(conn)?;
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

/// The names of the projects the account is in (invitations included), and of those it
/// owns: what deleting it would leave, and what stops it.
pub struct ProjectsOf {
    /// Accepted memberships (suspended ones included).
    pub member_of: Vec<String>,
    /// Invitations not answered yet.
    pub invited_to: Vec<String>,
    pub owned: Vec<String>,
}

pub fn projects_of(conn: &mut DbConn, user_id: &str) -> Result<ProjectsOf, ServiceError> {
    use crate::db::schema::{memberships, projects};
    use crate::domain::MembershipStatus;
    let all: Vec<(String, MembershipStatus)> = memberships::table
        .inner_join(projects::table)
        .filter(memberships::user_id.eq(user_id))
        .select((projects::name, memberships::status))
        .order(projects::name.asc())
        .load(conn)?;
    let (invited, accepted): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(_, status)| *status == MembershipStatus::Invited);
    let owned: Vec<String> = projects::table
        .filter(projects::owner_id.eq(user_id))
        .select(projects::name)
        .order(projects::name.asc())
        .load(conn)?;
    Ok(ProjectsOf {
        member_of: accepted.into_iter().map(|(name, _)| name).collect(),
        invited_to: invited.into_iter().map(|(name, _)| name).collect(),
        owned,
    })
}

/// Deletes the person's own account: every membership (invitations included) goes with it,
/// their profiles stay in each project for the record. Refused while they own a project or
/// are the last admin of one. Each project's audit log records it, and so does the server's;
/// the address is told, and invitation emails not sent yet are withdrawn. Returns the names
/// of the projects they were a member of.
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub fn delete_own(
    conn: &mut DbConn,
    user: &User,
    by: &Acting,
) -> Result<Vec<String>, ServiceError> {
    use crate::db::models::Membership;
    use crate::db::schema::{memberships, profiles, projects};
    use crate::domain::MembershipStatus;
    db::transaction(conn, |conn| {
        let projects_of = projects_of(conn, &user.id)?;
        if !projects_of.owned.is_empty() {
            return Err(ServiceError::Conflict(Conflict::OwnsProjects(
                projects_of.owned,
            )));
        }
        /// A membership, its project's name, and the names on its profile.
        type Theirs = (Membership, String, Option<(String, String)>);
        let theirs: Vec<Theirs> = memberships::table
            .inner_join(projects::table)
            .left_join(profiles::table)
            .filter(memberships::user_id.eq(&user.id))
            .select((
                Membership::as_select(),
                projects::name,
                (profiles::first_name, profiles::last_name).nullable(),
            ))
            .load(conn)?;
        let mut last_admin_of = Vec::new();
        for (m, project_name, _) in &theirs {
            if m.admin && m.active && m.status == MembershipStatus::Active {
                super::members::lock_project(conn, &m.project_id)?;
                if super::members::other_admins(conn, &m.project_id, &m.id)? == 0 {
                    last_admin_of.push(project_name.clone());
                }
            }
        }
        if !last_admin_of.is_empty() {
            last_admin_of.sort();
            return Err(ServiceError::Conflict(Conflict::LastAdminOf(last_admin_of)));
        }
        let name = user.display_name();
        for (m, _, profile_name) in &theirs {
            let email_id: Option<String> = memberships::table
                .find(&m.id)
                .select(memberships::invitation_email_id)
                .first(conn)?;
            if let Some(email_id) = email_id {
                outbox::cancel_unsent(conn, &email_id)?;
            }
            let display = profile_name
                .as_ref()
                .map_or(name.clone(), |(f, l)| format!("{f} {l}"));
            audit::record(
                conn,
                Some(&m.project_id),
                by,
                "member.account_deleted",
                Some(audit::Target {
                    kind: "ProjectMembership",
                    id: &m.id,
                    display: &display,
                }),
                &user.email,
            )?;
        }
        diesel::delete(memberships::table.filter(memberships::user_id.eq(&user.id)))
            .execute(conn)?;
        diesel::delete(users::table.find(&user.id)).execute(conn)?;
        audit::record(
            conn,
            None,
            by,
            "user.deleted",
            Some(audit::Target {
                kind: "User",
                id: &user.id,
                display: &name,
            }),
            &user.email,
        )?;
        let left = projects_of.member_of;
        if !user.email.is_empty() {
            outbox::enqueue(
                conn,
                &emails::account_deleted(
                    &user.email,
                    &user.first_name,
                    by.meta.ip.as_deref(),
                    &left,
                )?,
            )?;
        }
        Ok(left)
    })
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
