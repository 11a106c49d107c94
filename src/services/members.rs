//! Project members: the Users and Patients lists, one member's page, and the admin actions on
//! it. Every lookup is limited to the admin's project: another project's id is "not found".

use chrono::NaiveDateTime;
use diesel::prelude::*;

pub use super::audit::Acting;
use super::audit::{self, Target};
use super::emails;
use super::outbox;
use super::recovery::{self, KIND_INVITE, KIND_RESET};
use super::{ServiceError, authority, now};
use crate::config::Limits;
use crate::db::models::{Membership, Profile, Project, User};
use crate::db::schema::{
    access_policies, client_applications, logins, memberships, profiles, projects, users,
};
use crate::db::{self, DbConn};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

pub const PAGE_SIZE: i64 = 50;
pub const LAST_ADMIN: &str = "This is the project's last admin. Make someone else an admin first, so the project is never left without one";
pub const OWNER: &str = "The project owner cannot be removed";
pub const OWNER_STAYS: &str = "The project owner always stays an admin and active";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// Practitioners and related persons: the Users tab.
    People,
    Patients,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    Email,
}

pub struct ListQuery {
    pub kind: MemberKind,
    pub q: Option<String>,
    pub admin_only: bool,
    pub sort: SortKey,
    /// Opaque keyset cursor from a previous page.
    pub after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub membership_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub resource_type: String,
    pub admin: bool,
    pub policy_name: Option<String>,
    pub status: String,
    pub mfa_enrolled: bool,
    pub mfa_required: bool,
    pub last_signin_at: Option<NaiveDateTime>,
    pub photo_url: Option<String>,
}

pub struct MemberPage {
    pub rows: Vec<MemberRow>,
    pub total: i64,
    pub next: Option<String>,
}

type RowTuple = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    Option<String>,
    String,
    bool,
    bool,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

fn encode_cursor(parts: &[&str]) -> String {
    hex::encode(serde_json::to_vec(parts).unwrap_or_default())
}

fn decode_cursor(cursor: &str) -> Option<Vec<String>> {
    serde_json::from_slice(&hex::decode(cursor).ok()?).ok()
}

/// The rows of one page (one query) and the total (one count query). The rows are read in
/// the order of the profiles' (project, name) or (project, email) index and stop after a page,
/// so a page costs the same with fifty members or a hundred thousand.
pub fn list(
    conn: &mut DbConn,
    project_id: &str,
    query: &ListQuery,
) -> Result<MemberPage, ServiceError> {
    let types: &[&str] = match query.kind {
        MemberKind::People => &["Practitioner", "RelatedPerson"],
        MemberKind::Patients => &["Patient"],
    };
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| format!("%{}%", super::auth::escape_like(&q.to_lowercase())));

    // Without a search the count needs only the memberships' (project, type, admin) index.
    let total: i64 = match &pattern {
        None => {
            let mut count = memberships::table
                .filter(memberships::project_id.eq(project_id))
                .filter(memberships::profile_type.eq_any(types))
                .into_boxed();
            if query.admin_only {
                count = count.filter(memberships::admin.eq(true));
            }
            count.count().get_result(conn)?
        }
        Some(p) => {
            let mut count = memberships::table
                .inner_join(profiles::table)
                .filter(memberships::project_id.eq(project_id))
                .filter(memberships::profile_type.eq_any(types))
                .filter(
                    lower(profiles::first_name.concat(" ").concat(profiles::last_name))
                        .like(p.clone())
                        .escape('\\')
                        .or(lower(profiles::email.assume_not_null())
                            .like(p.clone())
                            .escape('\\')),
                )
                .into_boxed();
            if query.admin_only {
                count = count.filter(memberships::admin.eq(true));
            }
            count.count().get_result(conn)?
        }
    };

    let mut rows_query = memberships::table
        .inner_join(profiles::table)
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .left_join(access_policies::table)
        .filter(profiles::project_id.eq(project_id))
        .filter(memberships::project_id.eq(project_id))
        .filter(profiles::resource_type.eq_any(types))
        .select((
            memberships::id,
            profiles::id,
            profiles::first_name,
            profiles::last_name,
            profiles::email,
            profiles::resource_type,
            memberships::admin,
            access_policies::name.nullable(),
            memberships::status,
            users::mfa_enrolled,
            memberships::mfa_required,
            users::last_signin_at,
            profiles::photo_updated_at,
        ))
        .into_boxed();
    if query.admin_only {
        rows_query = rows_query.filter(memberships::admin.eq(true));
    }
    if let Some(p) = &pattern {
        rows_query = rows_query.filter(
            lower(profiles::first_name.concat(" ").concat(profiles::last_name))
                .like(p.clone())
                .escape('\\')
                .or(lower(profiles::email.assume_not_null())
                    .like(p.clone())
                    .escape('\\')),
        );
    }
    let cursor = query.after.as_deref().and_then(decode_cursor);
    match query.sort {
        SortKey::Name => {
            if let Some([last, first, id]) = cursor.as_deref() {
                // The redundant `>=` lets the planner start the index walk at the cursor
                // (an OR of three ranges alone makes SQLite sort everything).
                rows_query = rows_query.filter(profiles::last_name.ge(last.clone()));
                rows_query = rows_query.filter(
                    profiles::last_name
                        .gt(last.clone())
                        .or(profiles::last_name
                            .eq(last.clone())
                            .and(profiles::first_name.gt(first.clone())))
                        .or(profiles::last_name
                            .eq(last.clone())
                            .and(profiles::first_name.eq(first.clone()))
                            .and(profiles::id.gt(id.clone()))),
                );
            }
            rows_query = rows_query.order((
                profiles::last_name.asc(),
                profiles::first_name.asc(),
                profiles::id.asc(),
            ));
        }
        SortKey::Email => {
            if let Some([email, id]) = cursor.as_deref() {
                rows_query = rows_query.filter(profiles::email.assume_not_null().ge(email.clone()));
                rows_query = rows_query.filter(
                    profiles::email
                        .assume_not_null()
                        .gt(email.clone())
                        .or(profiles::email
                            .assume_not_null()
                            .eq(email.clone())
                            .and(profiles::id.gt(id.clone()))),
                );
            }
            rows_query = rows_query.order((profiles::email.asc(), profiles::id.asc()));
        }
    }
    let loaded: Vec<RowTuple> = rows_query.limit(PAGE_SIZE + 1).load(conn)?;
    let more = loaded.len() as i64 > PAGE_SIZE;
    let mut rows: Vec<(String, MemberRow)> = loaded
        .into_iter()
        .map(
            |(
                id,
                profile_id,
                first,
                last,
                email,
                t,
                admin,
                policy,
                status,
                mfa,
                mfa_req,
                seen,
                photo_at,
            )| {
                // Until the person accepts, the project sees nothing of their account.
                let sees = status == authority::STATUS_ACTIVE;
                let (mfa, seen) = if sees { (mfa, seen) } else { (false, None) };
                (
                    profile_id.clone(),
                    MemberRow {
                        membership_id: id,
                        first_name: first,
                        last_name: last,
                        email: email.unwrap_or_default(),
                        resource_type: t,
                        admin,
                        policy_name: policy,
                        status,
                        mfa_enrolled: mfa,
                        mfa_required: mfa_req,
                        last_signin_at: seen,
                        photo_url: photo_at.map(|at| super::auth::photo_url(&profile_id, at)),
                    },
                )
            },
        )
        .collect();
    rows.truncate(PAGE_SIZE as usize);
    let next = match (more, rows.last()) {
        (true, Some((profile_id, last))) => Some(match query.sort {
            SortKey::Name => encode_cursor(&[&last.last_name, &last.first_name, profile_id]),
            SortKey::Email => encode_cursor(&[&last.email, profile_id]),
        }),
        _ => None,
    };
    Ok(MemberPage {
        rows: rows.into_iter().map(|(_, row)| row).collect(),
        total,
        next,
    })
}

pub struct MemberDetail {
    pub membership: Membership,
    pub profile: Profile,
    /// The account. Pages show its sign-in and two-factor state only when `sees_account`.
    pub user: User,
    pub invited_by: Option<String>,
    pub is_owner: bool,
    /// The person accepted: the project may see their account's state.
    pub sees_account: bool,
}

/// One person's membership of this project.
pub fn get(
    conn: &mut DbConn,
    project: &Project,
    membership_id: &str,
) -> Result<MemberDetail, ServiceError> {
    let (membership, profile, user) = memberships::table
        .inner_join(profiles::table)
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::project_id.eq(&project.id))
        .select((
            Membership::as_select(),
            Profile::as_select(),
            User::as_select(),
        ))
        .first::<(Membership, Profile, User)>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    let invited_by = match &membership.invited_by {
        Some(id) => users::table
            .find(id)
            .select((users::first_name, users::last_name))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(f, l)| format!("{f} {l}")),
        None => None,
    };
    Ok(MemberDetail {
        is_owner: user.id == project.owner_id,
        sees_account: authority::sees_account(&membership),
        membership,
        profile,
        user,
        invited_by,
    })
}

/// Serialises admin changes within one project: on PostgreSQL by locking the project row (so
/// two admins demoting each other cannot both pass the last-admin check); SQLite's
/// `BEGIN IMMEDIATE` already lets one writer in at a time.
fn lock_project(conn: &mut DbConn, project_id: &str) -> Result<(), ServiceError> {
    if let DbConn::Postgres(pg) = conn {
        projects::table
            .find(project_id)
            .select(projects::id)
            .for_update()
            .first::<String>(pg)?;
    }
    Ok(())
}

/// Admins who can act: people (not clients) whose membership is active and accepted.
fn other_admins(
    conn: &mut DbConn,
    project_id: &str,
    membership_id: &str,
) -> Result<i64, ServiceError> {
    Ok(memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::admin.eq(true))
        .filter(memberships::active.eq(true))
        .filter(memberships::status.eq(authority::STATUS_ACTIVE))
        .filter(memberships::user_id.is_not_null())
        .filter(memberships::id.ne(membership_id))
        .count()
        .get_result(conn)?)
}

fn target<'a>(detail: &'a MemberDetail, name: &'a str) -> Target<'a> {
    Target {
        kind: "ProjectMembership",
        id: &detail.membership.id,
        display: name,
    }
}

fn display_name(p: &Profile) -> String {
    format!("{} {}", p.first_name, p.last_name)
}

/// A membership of this project, a person's or a client application's, with the name the
/// audit log shows for it.
pub struct MemberRef {
    pub membership: Membership,
    pub user: Option<User>,
    pub name: String,
}

/// Loads any membership of this project (person or client); another project's is not found.
pub fn load_member(
    conn: &mut DbConn,
    project_id: &str,
    membership_id: &str,
) -> Result<MemberRef, ServiceError> {
    let membership = memberships::table
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::project_id.eq(project_id))
        .select(Membership::as_select())
        .first::<Membership>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    let names = match &membership.profile_id {
        Some(id) => profiles::table
            .find(id)
            .select((profiles::first_name, profiles::last_name))
            .first::<(String, String)>(conn)
            .optional()?,
        None => None,
    };
    let user = match &membership.user_id {
        Some(id) => users::table
            .find(id)
            .select(User::as_select())
            .first::<User>(conn)
            .optional()?,
        None => None,
    };
    let client_name = match &membership.client_id {
        Some(id) => client_applications::table
            .find(id)
            .select(client_applications::name)
            .first::<String>(conn)
            .optional()?,
        None => None,
    };
    let name = match (names, client_name) {
        (Some((first, last)), _) => format!("{first} {last}"),
        (None, Some(client)) => client,
        (None, None) => membership.id.clone(),
    };
    Ok(MemberRef {
        membership,
        user,
        name,
    })
}

/// What an admin may change on a membership. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MembershipChange {
    pub admin: bool,
    pub access_policy_id: Option<String>,
    pub active: Option<bool>,
    pub external_id: Option<Option<String>>,
}

pub const EXTERNAL_ID_TAKEN: &str = "Another member of this project has this externalId";

/// Saves the admin flag and access policy (the member page).
pub fn update(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    admin: bool,
    access_policy_id: Option<String>,
) -> Result<Membership, ServiceError> {
    change(
        conn,
        project,
        by,
        membership_id,
        MembershipChange {
            admin,
            access_policy_id,
            ..MembershipChange::default()
        },
    )
}

fn member_target<'a>(member: &'a MemberRef) -> Target<'a> {
    Target {
        kind: "ProjectMembership",
        id: &member.membership.id,
        display: &member.name,
    }
}

/// Changes a membership, in its own transaction: see `apply_change`.
pub fn change(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    change: MembershipChange,
) -> Result<Membership, ServiceError> {
    db::transaction(conn, |conn| {
        apply_change(conn, project, by, membership_id, change)
    })
}

/// Every change of a membership's `admin` or `active`, by any path (member page, API POST
/// and PATCH, invite with upsert), goes through here, inside the caller's transaction. The
/// owner stays admin and active; the last active admin can be neither demoted nor
/// deactivated, checked under the project lock so concurrent changes cannot both pass.
/// Deactivating a client's membership ends its tokens for good.
pub fn apply_change(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    change: MembershipChange,
) -> Result<Membership, ServiceError> {
    lock_project(conn, &project.id)?;
    let member = load_member(conn, &project.id, membership_id)?;
    let old = &member.membership;
    if let Some(policy) = &change.access_policy_id {
        super::policies::ensure_in_project(conn, &project.id, policy, "accessPolicy")?;
    }
    let active = change.active.unwrap_or(old.active);
    let external_id = change
        .external_id
        .unwrap_or_else(|| old.external_id.clone());
    let is_owner = old.user_id.as_deref() == Some(project.owner_id.as_str());
    if is_owner && !(change.admin && active) {
        let field = if change.admin { "active" } else { "admin" };
        return Err(ServiceError::invalid(field, OWNER_STAYS));
    }
    let counts_as_admin =
        old.admin && old.active && old.status == authority::STATUS_ACTIVE && old.user_id.is_some();
    if counts_as_admin
        && !(change.admin && active)
        && other_admins(conn, &project.id, membership_id)? == 0
    {
        let field = if change.admin { "active" } else { "admin" };
        return Err(ServiceError::invalid(field, LAST_ADMIN));
    }
    if old.client_id.is_some() && old.active && !active {
        diesel::update(
            logins::table
                .filter(logins::membership_id.eq(membership_id))
                .filter(logins::revoked_at.is_null()),
        )
        .set(logins::revoked_at.eq(Some(now())))
        .execute(conn)?;
    }
    diesel::update(memberships::table.find(membership_id))
        .set((
            memberships::admin.eq(change.admin),
            memberships::access_policy_id.eq(&change.access_policy_id),
            memberships::active.eq(active),
            memberships::external_id.eq(&external_id),
            memberships::updated_at.eq(now()),
        ))
        .execute(conn)
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                ServiceError::Conflict(EXTERNAL_ID_TAKEN.into())
            } else {
                e.into()
            }
        })?;
    let mut events: Vec<(&str, String)> = Vec::new();
    if old.admin != change.admin {
        let action = if change.admin {
            "member.promoted"
        } else {
            "member.demoted"
        };
        events.push((action, String::new()));
    }
    if old.access_policy_id != change.access_policy_id {
        let policy_name = match &change.access_policy_id {
            Some(id) => access_policies::table
                .find(id)
                .select(access_policies::name)
                .first::<String>(conn)?,
            None => "none".into(),
        };
        events.push((
            "member.policy_changed",
            format!("access policy: {policy_name}"),
        ));
    }
    if old.active != active || old.external_id != external_id {
        events.push((
            "member.updated",
            format!(
                "active: {active}, externalId: {}",
                external_id.as_deref().unwrap_or("none")
            ),
        ));
    }
    for (action, detail) in events {
        audit::record(
            conn,
            Some(&project.id),
            by.actor(),
            action,
            Some(member_target(&member)),
            &detail,
            &by.meta,
        )?;
    }
    Ok(memberships::table
        .find(membership_id)
        .select(Membership::as_select())
        .first(conn)?)
}

/// Removes a member: the membership goes, the profile stays for the record, and a
/// project-scoped user left with no membership is deleted. The member's sessions and tokens
/// for this project lose it with the membership row.
pub fn remove(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
) -> Result<String, ServiceError> {
    db::transaction(conn, |conn| {
        lock_project(conn, &project.id)?;
        let member = load_member(conn, &project.id, membership_id)?;
        let user = member.user.as_ref();
        if user.is_some_and(|u| u.id == project.owner_id) {
            return Err(ServiceError::Conflict(OWNER.into()));
        }
        let m = &member.membership;
        if m.admin
            && m.active
            && m.status == authority::STATUS_ACTIVE
            && user.is_some()
            && other_admins(conn, &project.id, membership_id)? == 0
        {
            return Err(ServiceError::Conflict(LAST_ADMIN.into()));
        }
        diesel::delete(memberships::table.find(membership_id)).execute(conn)?;
        if let Some(user) = user.filter(|u| u.project_id.as_deref() == Some(project.id.as_str())) {
            let left: i64 = memberships::table
                .filter(memberships::user_id.eq(&user.id))
                .count()
                .get_result(conn)?;
            if left == 0 {
                diesel::delete(users::table.find(&user.id)).execute(conn)?;
            }
        }
        audit::record(
            conn,
            Some(&project.id),
            by.actor(),
            "member.removed",
            Some(member_target(&member)),
            user.map_or("", |u| u.email.as_str()),
            &by.meta,
        )?;
        Ok(member.name.clone())
    })
}

/// In one transaction: loads the member (of this project only), runs `act`, and records
/// `action` in the audit log.
fn act_on_member(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    action: &str,
    act: impl FnOnce(&mut DbConn, &MemberDetail) -> Result<(), ServiceError>,
) -> Result<(), ServiceError> {
    db::transaction(conn, |conn| {
        let detail = get(conn, project, membership_id)?;
        act(conn, &detail)?;
        let name = display_name(&detail.profile);
        audit::record(
            conn,
            Some(&project.id),
            by.actor(),
            action,
            Some(target(&detail, &name)),
            "",
            &by.meta,
        )
    })
}

/// Members invited through the API by externalId alone have no address to write to.
fn no_email_guard(user: &User) -> Result<(), ServiceError> {
    if user.email.is_empty() {
        return Err(ServiceError::Conflict(
            "This member has no email address".into(),
        ));
    }
    Ok(())
}

/// Admin-triggered emails to one person are limited per person, whoever asks.
fn limit_emails_to(
    conn: &mut DbConn,
    detail: &MemberDetail,
    limits: &Limits,
) -> Result<(), ServiceError> {
    no_email_guard(&detail.user)?;
    super::throttle::hit_and_check(
        conn,
        &format!("admin-email:{}", detail.user.id),
        limits.admin_emails_per_target,
        limits.admin_email_window,
    )
}

/// Sends the invitation again. For an account this project may give a first password (its
/// own, or one its invite created) that is a fresh set-password link, and the previous one
/// stops working; for anyone else's account, the invitation to accept, without any link that
/// touches the account.
pub fn resend_invite(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    base_url: &str,
    limits: &Limits,
) -> Result<(), ServiceError> {
    let detail = get(conn, project, membership_id)?;
    if detail.membership.status != authority::STATUS_INVITED {
        return Err(ServiceError::Conflict(
            "This person has already accepted the invitation".into(),
        ));
    }
    limit_emails_to(conn, &detail, limits)?;
    act_on_member(
        conn,
        project,
        by,
        membership_id,
        "member.invite_resent",
        |conn, detail| {
            let email = if authority::may_send_invite_link(conn, by, project, &detail.user)? {
                let path =
                    recovery::create_link(conn, KIND_INVITE, &detail.user.id, Some(&project.id))?;
                emails::invite_new(
                    &detail.user.email,
                    &detail.profile.first_name,
                    &by.display,
                    &project.name,
                    &format!("{base_url}{path}"),
                )?
            } else {
                super::invite::invitation_email(
                    &detail.user.email,
                    &detail.profile.first_name,
                    &by.display,
                    project,
                    &detail.membership.status,
                    base_url,
                )?
            };
            outbox::enqueue(conn, &email)?;
            Ok(())
        },
    )
}

/// Emails a reset link: only to the project's own accounts (or by a super admin).
pub fn send_password_reset(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    base_url: &str,
    limits: &Limits,
) -> Result<(), ServiceError> {
    let detail = get(conn, project, membership_id)?;
    authority::require_credentials(by, project, &detail.user)?;
    limit_emails_to(conn, &detail, limits)?;
    act_on_member(
        conn,
        project,
        by,
        membership_id,
        "member.password_reset_sent",
        |conn, detail| {
            let path = recovery::create_link(
                conn,
                KIND_RESET,
                &detail.user.id,
                detail.user.project_id.as_deref(),
            )?;
            let account = format!("your account in the project {}", project.name);
            let email = emails::password_reset(
                &detail.user.email,
                &detail.profile.first_name,
                &format!("{base_url}{path}"),
                &account,
            )?;
            outbox::enqueue(conn, &email)?;
            Ok(())
        },
    )
}

/// Clears the member's two-factor enrolment and tells them by email: only for the project's
/// own accounts (or by a super admin), and only when there is something to clear.
pub fn reset_mfa(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
) -> Result<(), ServiceError> {
    act_on_member(
        conn,
        project,
        by,
        membership_id,
        "member.mfa_reset",
        |conn, detail| {
            authority::require_credentials(by, project, &detail.user)?;
            if !detail.user.mfa_enrolled {
                return Err(ServiceError::Conflict(
                    "This person has not set up two-factor authentication".into(),
                ));
            }
            diesel::update(users::table.find(&detail.user.id))
                .set((
                    users::mfa_secret.eq(None::<String>),
                    users::mfa_enrolled.eq(false),
                    users::mfa_last_step.eq(None::<i64>),
                    users::updated_at.eq(now()),
                ))
                .execute(conn)?;
            if !detail.user.email.is_empty() {
                let email = emails::mfa_reset(
                    &detail.user.email,
                    &detail.profile.first_name,
                    &project.name,
                )?;
                outbox::enqueue(conn, &email)?;
            }
            Ok(())
        },
    )
}
