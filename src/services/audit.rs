//! Audit events: who did what to whom, when and from where.

use diesel::prelude::*;

use super::{RequestMeta, ServiceError, new_id, now};
use crate::db::DbConn;
use crate::db::models::AuditEvent;
use crate::db::schema::audit_events;

/// Who is acting: a signed-in person or a client application, whether they are a super admin
/// (the only ones who may act on a shared account's credentials), and what the audit log
/// records about the request. Owned, so it can go to the blocking pool with the work.
#[derive(Debug, Clone)]
pub struct Acting {
    /// `None` when a client application acts through the API.
    pub user_id: Option<String>,
    pub display: String,
    pub super_admin: bool,
    pub meta: RequestMeta,
}

impl Acting {
    /// A person acting on their own account (or, for a new project, as its owner).
    pub fn user(user: &crate::db::models::User, meta: &RequestMeta) -> Acting {
        Acting {
            user_id: Some(user.id.clone()),
            display: user.display_name(),
            super_admin: user.super_admin,
            meta: meta.clone(),
        }
    }
}

pub struct Target<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub display: &'a str,
}

pub fn record(
    conn: &mut DbConn,
    project_id: Option<&str>,
    by: &Acting,
    action: &str,
    target: Option<Target<'_>>,
    detail: &str,
) -> Result<(), ServiceError> {
    let event = AuditEvent {
        id: new_id(),
        project_id: project_id.map(str::to_owned),
        actor_id: by.user_id.clone(),
        actor_display: by.display.clone(),
        action: action.to_owned(),
        target_type: target.as_ref().map(|t| t.kind.to_owned()),
        target_id: target.as_ref().map(|t| t.id.to_owned()),
        target_display: target.as_ref().map(|t| t.display.to_owned()),
        detail: detail.to_owned(),
        ip: by.meta.ip.clone(),
        created_at: now(),
    };
    diesel::insert_into(audit_events::table)
        .values(&event)
        .execute(conn)?;
    Ok(())
}

pub const PAGE_SIZE: i64 = 50;

/// The actions the audit log can be filtered by, with a label for each.
pub const ACTIONS: &[(&str, &str)] = &[
    ("project.created", "Project created"),
    ("project.updated", "Project settings changed"),
    ("project.ownership_transferred", "Ownership transferred"),
    ("project.deleted", "Project deleted"),
    ("member.invited", "Member invited"),
    ("member.invite_resent", "Invite resent"),
    ("member.updated", "Member updated"),
    ("member.promoted", "Promoted to admin"),
    ("member.demoted", "Admin rights removed"),
    ("member.policy_changed", "Member's access policy changed"),
    ("member.profile_updated", "Profile edited by admin"),
    ("member.suspended", "Member suspended"),
    ("member.reactivated", "Member reactivated"),
    ("member.removed", "Member removed"),
    ("member.left", "Member left the project"),
    ("member.account_deleted", "Member deleted their account"),
    ("user.deleted", "Account deleted"),
    ("members.exported", "Member list exported"),
    ("invitation.cancelled", "Invitation cancelled"),
    ("member.accepted", "Invitation accepted"),
    ("member.declined", "Invitation declined"),
    ("member.password_reset_sent", "Password reset sent by admin"),
    ("member.mfa_reset", "Two-factor reset by admin"),
    ("user.recovery_code_used", "Recovery code used"),
    ("client.created", "Client application created"),
    ("client.secret_rotated", "Client secret rotated"),
    ("client.removed", "Client application removed"),
    ("policy.created", "Access policy created"),
    ("policy.updated", "Access policy edited"),
    ("policy.deleted", "Access policy deleted"),
    ("user.invite_accepted", "Invitation accepted"),
    ("user.password_reset", "Password reset"),
    ("member.email_changed", "Email changed by admin"),
    ("user.email_change_requested", "Email change requested"),
    ("user.email_changed", "Email changed"),
];

pub fn action_label(action: &str) -> &str {
    ACTIONS
        .iter()
        .find(|(a, _)| *a == action)
        .map_or(action, |(_, label)| label)
}

pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<String>,
}

/// What the audit log is narrowed to: an action, who acted and on whom (part of the name or
/// email as recorded), and a range of days (both included, UTC).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
}

/// `%text%` in lower case, for `lower(column) LIKE`: case-insensitive on both backends
/// (PostgreSQL's LIKE is case-sensitive; SQLite's only for ASCII).
fn contains(text: &str) -> String {
    format!(
        "%{}%",
        super::auth::escape_like(&text.trim().to_lowercase())
    )
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Newest first; `before` is the cursor of the previous page, `limit` at most `PAGE_SIZE`
/// for pages (the CSV export asks for more). `project_id` `None`: the server's own events
/// (a deleted project, a server-wide account's changes), for super admins.
pub fn list(
    conn: &mut DbConn,
    project_id: Option<&str>,
    filter: &AuditFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<AuditPage, ServiceError> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .into_boxed();
    query = match project_id {
        Some(id) => query.filter(audit_events::project_id.eq(id)),
        None => query.filter(audit_events::project_id.is_null()),
    };
    if let Some(action) = filter.action.as_deref().filter(|a| !a.is_empty()) {
        query = query.filter(audit_events::action.eq(action.to_owned()));
    }
    if let Some(actor) = filter.actor.as_deref().filter(|a| !a.trim().is_empty()) {
        query = query.filter(
            lower(audit_events::actor_display)
                .like(contains(actor))
                .escape('\\'),
        );
    }
    if let Some(target) = filter.target.as_deref().filter(|t| !t.trim().is_empty()) {
        query = query.filter(
            lower(audit_events::target_display.assume_not_null())
                .like(contains(target))
                .escape('\\'),
        );
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::created_at.ge(from.and_time(chrono::NaiveTime::MIN)));
    }
    if let Some(to) = filter.to.and_then(|d| d.succ_opt()) {
        query = query.filter(audit_events::created_at.lt(to.and_time(chrono::NaiveTime::MIN)));
    }
    if let Some((at, id)) = before.and_then(|c| c.split_once('_')) {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(at, "%Y%m%dT%H%M%S%.6f") {
            query = query.filter(
                audit_events::created_at.lt(at).or(audit_events::created_at
                    .eq(at)
                    .and(audit_events::id.lt(id.to_owned()))),
            );
        }
    }
    let mut events: Vec<AuditEvent> = query
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .limit(limit + 1)
        .load(conn)?;
    let more = events.len() as i64 > limit;
    events.truncate(usize::try_from(limit).unwrap_or(0));
    let next = match (more, events.last()) {
        (true, Some(last)) => Some(format!(
            "{}_{}",
            last.created_at.format("%Y%m%dT%H%M%S%.6f"),
            last.id
        )),
        _ => None,
    };
    Ok(AuditPage { events, next })
}

/// The members of the project that the events on a page name (as actor or target), by
/// membership id: who can be linked to.
pub struct Linked {
    /// Target membership ids still in the project.
    pub targets: std::collections::HashSet<String>,
    /// Actor user id → their membership in the project.
    pub actors: std::collections::HashMap<String, String>,
}

pub fn linkable(
    conn: &mut DbConn,
    project_id: &str,
    events: &[AuditEvent],
) -> Result<Linked, ServiceError> {
    use crate::db::schema::memberships;
    let target_ids: Vec<&str> = events
        .iter()
        .filter(|e| e.target_type.as_deref() == Some("ProjectMembership"))
        .filter_map(|e| e.target_id.as_deref())
        .collect();
    let actor_ids: Vec<&str> = events
        .iter()
        .filter_map(|e| e.actor_id.as_deref())
        .collect();
    let rows: Vec<(String, Option<String>)> = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(
            memberships::id
                .eq_any(&target_ids)
                .or(memberships::user_id.eq_any(&actor_ids)),
        )
        .select((memberships::id, memberships::user_id))
        .load(conn)?;
    let mut linked = Linked {
        targets: Default::default(),
        actors: Default::default(),
    };
    for (id, user_id) in rows {
        if target_ids.contains(&id.as_str()) {
            linked.targets.insert(id.clone());
        }
        if let Some(user_id) = user_id.filter(|u| actor_ids.contains(&u.as_str())) {
            linked.actors.insert(user_id, id);
        }
    }
    Ok(linked)
}

/// "just now", "5 minutes ago", "3 hours ago", "yesterday", "4 days ago", then the date.
pub fn relative_time(at: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> String {
    let seconds = (now - at).num_seconds().max(0);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        0..60 => "just now".to_owned(),
        60..3600 => plural(seconds / 60, "minute"),
        3600..86_400 => plural(seconds / 3600, "hour"),
        86_400..172_800 => "yesterday".to_owned(),
        172_800..604_800 => plural(seconds / 86_400, "day"),
        _ => at.format("%Y-%m-%d").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::relative_time;
    use chrono::{Duration, NaiveDate};

    #[test]
    fn times_read_relative_then_as_dates() {
        let now = NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let ago = |d: Duration| relative_time(now - d, now);
        assert_eq!(ago(Duration::seconds(5)), "just now");
        assert_eq!(ago(Duration::seconds(-5)), "just now");
        assert_eq!(ago(Duration::minutes(1)), "1 minute ago");
        assert_eq!(ago(Duration::minutes(59)), "59 minutes ago");
        assert_eq!(ago(Duration::hours(2)), "2 hours ago");
        assert_eq!(ago(Duration::hours(30)), "yesterday");
        assert_eq!(ago(Duration::days(3)), "3 days ago");
        assert_eq!(ago(Duration::days(30)), "2026-11-07");
    }
}
