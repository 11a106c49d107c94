//! Pending invitations: who was invited and has not accepted, by whom and when, whether the
//! email reached them and until when their link works; cancelling an invitation (distinct
//! from removing a member) and resending every expired one.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Acting, change, resend_invite};
use crate::config::Limits;
use crate::db::DbConn;
use crate::db::models::Project;
use crate::db::schema::{member_counts, memberships, outbox, profiles, security_requests, users};
use crate::domain::{MembershipStatus, ProfileType};
use crate::services::outbox as mail_states;
use crate::services::recovery::KIND_INVITE;
use crate::services::{ServiceError, now};

pub const PAGE_SIZE: i64 = 50;

/// What became of the invitation email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// None was sent: invited through the API without email, or by externalId alone.
    NotSent,
    Queued {
        attempts: i32,
    },
    Sent(NaiveDateTime),
    Failed(String),
    /// The invitation was cancelled before its email went out.
    Cancelled,
}

/// How the person gets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A set-password link, working until then.
    Until(NaiveDateTime),
    Expired(NaiveDateTime),
    /// An account of their own already: they accept when they sign in.
    OnSignin,
}

#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub membership_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub resource_type: ProfileType,
    pub invited_by: Option<String>,
    pub invited_at: NaiveDateTime,
    pub last_sent_at: Option<NaiveDateTime>,
    pub delivery: Delivery,
    pub link: Link,
    /// `false`: suspended while invited (cannot accept until reactivated).
    pub active: bool,
}

pub struct PendingPage {
    pub rows: Vec<PendingInvitation>,
    pub total: i64,
    /// Invitations of this project whose link has expired (all pages).
    pub expired: i64,
    /// The cursor of the next (older) page.
    pub next: Option<String>,
}

/// Records which email told the person of their invitation, for its delivery state.
pub fn note_email(
    conn: &mut DbConn,
    membership_id: &str,
    email_id: &str,
) -> Result<(), ServiceError> {
    diesel::update(memberships::table.find(membership_id))
        .set(memberships::invitation_email_id.eq(Some(email_id)))
        .execute(conn)?;
    Ok(())
}

type Row = (
    String,
    Option<String>,
    String,
    String,
    String,
    ProfileType,
    Option<String>,
    NaiveDateTime,
    Option<String>,
    bool,
);

/// A cursor is the invitation's time and id, `<unix micros>.<id>`: opaque to people.
fn parse_cursor(cursor: &str) -> Option<(NaiveDateTime, String)> {
    let (micros, id) = cursor.split_once('.')?;
    let at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    Some((at, id.to_owned()))
}

/// The project's pending invitations, newest first, a page at a time.
pub fn list(
    conn: &mut DbConn,
    project_id: &str,
    cursor: Option<&str>,
) -> Result<PendingPage, ServiceError> {
    let mut query = memberships::table
        .inner_join(profiles::table)
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::status.eq(MembershipStatus::Invited))
        .select((
            memberships::id,
            memberships::user_id,
            profiles::first_name,
            profiles::last_name,
            // The address invited: another project's account may have moved since.
            memberships::email,
            profiles::resource_type,
            memberships::invited_by,
            memberships::created_at,
            memberships::invitation_email_id,
            memberships::active,
        ))
        .into_boxed();
    if let Some((at, id)) = cursor.and_then(parse_cursor) {
        query = query.filter(
            memberships::created_at
                .lt(at)
                .or(memberships::created_at.eq(at).and(memberships::id.lt(id))),
        );
    }
    let mut rows: Vec<Row> = query
        .order((memberships::created_at.desc(), memberships::id.desc()))
        .limit(PAGE_SIZE + 1)
        .load(conn)?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|r| format!("{}.{}", r.7.and_utc().timestamp_micros(), r.0));
    let page = describe(conn, project_id, rows)?;
    let total: i64 = member_counts::table
        .filter(member_counts::project_id.eq(project_id))
        .filter(member_counts::status.eq(MembershipStatus::Invited))
        .select(member_counts::members)
        .load::<i64>(conn)?
        .into_iter()
        .sum();
    let expired: i64 = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::status.eq(MembershipStatus::Invited))
        .filter(memberships::user_id.eq_any(expired_links(project_id)))
        .count()
        .get_result(conn)?;
    Ok(PendingPage {
        rows: page,
        total,
        expired,
        next,
    })
}

/// The page's rows with who invited them, their email's state and their link: three
/// queries for the whole page, whatever its length.
fn describe(
    conn: &mut DbConn,
    project_id: &str,
    rows: Vec<Row>,
) -> Result<Vec<PendingInvitation>, ServiceError> {
    let inviters: Vec<&String> = rows.iter().filter_map(|r| r.6.as_ref()).collect();
    let inviters: HashMap<String, String> = users::table
        .filter(users::id.eq_any(inviters))
        .select((users::id, users::first_name, users::last_name))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, f, l)| (id, format!("{f} {l}").trim().to_owned()))
        .collect();
    let mail_ids: Vec<&String> = rows.iter().filter_map(|r| r.8.as_ref()).collect();
    let mails = deliveries(conn, &mail_ids)?;
    let user_ids: Vec<&String> = rows.iter().filter_map(|r| r.1.as_ref()).collect();
    // The newest open link of each account for this project.
    let mut links: HashMap<String, NaiveDateTime> = HashMap::new();
    for (user_id, expires) in security_requests::table
        .filter(security_requests::user_id.eq_any(user_ids))
        .filter(security_requests::project_id.eq(project_id))
        .filter(security_requests::kind.eq(KIND_INVITE))
        .filter(security_requests::used_at.is_null())
        .filter(security_requests::superseded_at.is_null())
        .order(security_requests::created_at.asc())
        .select((security_requests::user_id, security_requests::expires_at))
        .load::<(String, NaiveDateTime)>(conn)?
    {
        links.insert(user_id, expires);
    }
    let at = now();
    Ok(rows
        .into_iter()
        .map(|row| {
            let (
                membership_id,
                user_id,
                first_name,
                last_name,
                email,
                resource_type,
                by,
                invited_at,
                mail,
                active,
            ) = row;
            let (delivery, last_sent_at) = match mail.as_ref().and_then(|id| mails.get(id)) {
                None => (Delivery::NotSent, None),
                Some((delivery, queued_at)) => (delivery.clone(), Some(*queued_at)),
            };
            let link = match user_id.as_ref().and_then(|u| links.get(u)) {
                Some(until) if *until > at => Link::Until(*until),
                Some(until) => Link::Expired(*until),
                None => Link::OnSignin,
            };
            PendingInvitation {
                membership_id,
                first_name,
                last_name,
                email,
                resource_type,
                invited_by: by.and_then(|id| inviters.get(&id).cloned()),
                invited_at,
                last_sent_at,
                delivery,
                link,
                active,
            }
        })
        .collect())
}

/// The accounts whose invite link for this project expired and was not replaced.
#[allow(clippy::type_complexity)]
fn expired_links(
    project_id: &str,
) -> diesel::dsl::Select<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<
                diesel::dsl::Filter<
                    diesel::dsl::Filter<
                        security_requests::table,
                        diesel::dsl::Eq<security_requests::project_id, String>,
                    >,
                    diesel::dsl::Eq<security_requests::kind, &'static str>,
                >,
                diesel::dsl::IsNull<security_requests::used_at>,
            >,
            diesel::dsl::IsNull<security_requests::superseded_at>,
        >,
        diesel::dsl::LtEq<security_requests::expires_at, NaiveDateTime>,
    >,
    diesel::dsl::Nullable<security_requests::user_id>,
> {
    security_requests::table
        .filter(security_requests::project_id.eq(project_id.to_owned()))
        .filter(security_requests::kind.eq(KIND_INVITE))
        .filter(security_requests::used_at.is_null())
        .filter(security_requests::superseded_at.is_null())
        .filter(security_requests::expires_at.le(now()))
        .select(security_requests::user_id.nullable())
}

/// Invitations of the project whose set-password link has expired and was not replaced.
fn expired_ids(conn: &mut DbConn, project_id: &str) -> Result<Vec<String>, ServiceError> {
    Ok(memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::status.eq(MembershipStatus::Invited))
        .filter(memberships::user_id.eq_any(expired_links(project_id)))
        .select(memberships::id)
        .load(conn)?)
}

/// Cancels an invitation that was not accepted: the membership goes, an account created only
/// for it goes too (see `change::remove`), an email still waiting in the outbox is not sent,
/// and the audit log says "invitation cancelled". An accepted membership is refused: that is
/// removing a member.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn cancel(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
) -> Result<String, ServiceError> {
    change::remove_as(
        conn,
        project,
        by,
        membership_id,
        change::Removal::CancelInvitation,
    )
}

/// What resending every expired invitation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resent {
    pub resent: usize,
    /// Refused, for instance by the limit on emails: they stay expired.
    pub refused: usize,
}

/// Resends every invitation of the project whose link has expired, each in its own
/// transaction through the same service as one resend (links rotated, limits applied).
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-")))]
pub fn resend_expired(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    base_url: &str,
    limits: &Limits,
) -> Result<Resent, ServiceError> {
    let mut outcome = Resent::default();
    for id in expired_ids(conn, &project.id)? {
        match resend_invite(conn, project, by, &id, base_url, limits) {
            Ok(_) => outcome.resent += 1,
            Err(ServiceError::Conflict(_) | ServiceError::TooManyRequests(_)) => {
                outcome.refused += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

/// Whether the membership is still an invitation (for the cancel page).
pub fn is_pending(
    conn: &mut DbConn,
    project_id: &str,
    membership_id: &str,
) -> Result<bool, ServiceError> {
    let status = memberships::table
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::project_id.eq(project_id))
        .select(memberships::status)
        .first::<MembershipStatus>(conn)
        .optional()?;
    match status {
        Some(status) => Ok(status == MembershipStatus::Invited),
        None => Err(ServiceError::NotFound),
    }
}

/// What became of these outbox messages: each one's state, and when it was queued.
pub fn deliveries(
    conn: &mut DbConn,
    ids: &[&String],
) -> Result<HashMap<String, (Delivery, NaiveDateTime)>, ServiceError> {
    type Mail = (
        String,
        String,
        i32,
        Option<NaiveDateTime>,
        Option<String>,
        NaiveDateTime,
    );
    Ok(outbox::table
        .filter(outbox::id.eq_any(ids))
        .select((
            outbox::id,
            outbox::status,
            outbox::attempts,
            outbox::sent_at,
            outbox::last_error,
            outbox::created_at,
        ))
        .load::<Mail>(conn)?
        .into_iter()
        .map(|(id, status, attempts, sent_at, error, queued_at)| {
            let delivery = match status.as_str() {
                mail_states::SENT => Delivery::Sent(sent_at.unwrap_or(queued_at)),
                mail_states::FAILED => Delivery::Failed(error.unwrap_or_default()),
                mail_states::CANCELLED => Delivery::Cancelled,
                _ => Delivery::Queued { attempts },
            };
            (id, (delivery, queued_at))
        })
        .collect())
}
