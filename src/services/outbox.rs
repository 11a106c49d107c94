//! The outbox: emails are written here in the same transaction as the action that causes
//! them, and a worker delivers them later with retries.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::emails::Email;
use super::{ServiceError, new_id, now};
use crate::db::models::OutboxMessage;
use crate::db::schema::outbox;
use crate::db::{self, DbConn};

pub const QUEUED: &str = "queued";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";
/// Withdrawn before it was sent (a cancelled invitation).
pub const CANCELLED: &str = "cancelled";

/// Delivery gives up after this many attempts.
pub const MAX_ATTEMPTS: i32 = 8;
/// A claimed message belongs to its worker for this long; after that another may retry it
/// (a worker that died, say). Longer than one delivery can take: the SMTP timeout is 20 s.
pub const LEASE_SECONDS: i64 = 45;
const BATCH: i64 = 20;

pub fn enqueue(conn: &mut DbConn, email: &Email) -> Result<String, ServiceError> {
    let at = now();
    let message = OutboxMessage {
        id: new_id(),
        to_address: email.to.clone(),
        subject: email.subject.clone(),
        text_body: email.text.clone(),
        html_body: email.html.clone(),
        status: QUEUED.into(),
        attempts: 0,
        next_attempt_at: at,
        locked_until: None,
        last_error: None,
        created_at: at,
        sent_at: None,
    };
    diesel::insert_into(outbox::table)
        .values(&message)
        .execute(conn)?;
    Ok(message.id)
}

/// What a message's body becomes once it is no longer going to be sent: bodies carry links
/// with their secrets (a password reset, an invitation), which the database keeps only as
/// long as the message waits to be sent. The recipient, subject and outcome stay.
const BODY_REMOVED: &str = "";

/// Withdraws a message that is still waiting: it will not be sent.
pub fn cancel_unsent(conn: &mut DbConn, id: &str) -> Result<(), ServiceError> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::status.eq(QUEUED)),
    )
    .set((
        outbox::status.eq(CANCELLED),
        outbox::text_body.eq(BODY_REMOVED),
        outbox::html_body.eq(BODY_REMOVED),
    ))
    .execute(conn)?;
    Ok(())
}

/// Claims due messages for this worker. On PostgreSQL, rows another instance is claiming
/// are skipped (`FOR UPDATE SKIP LOCKED`); SQLite's write lock already serialises claims.
pub fn claim_due(conn: &mut DbConn) -> Result<Vec<OutboxMessage>, ServiceError> {
    db::transaction(conn, |conn| {
        let at = now();
        let due = outbox::table
            .filter(outbox::status.eq(QUEUED))
            .filter(outbox::next_attempt_at.le(at))
            .filter(
                outbox::locked_until
                    .is_null()
                    .or(outbox::locked_until.lt(at)),
            )
            .order(outbox::next_attempt_at.asc())
            .select(outbox::id)
            .limit(BATCH);
        let ids: Vec<String> = match conn {
            DbConn::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
            DbConn::Sqlite(_) => due.load(conn)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set(outbox::locked_until.eq(at + Duration::seconds(LEASE_SECONDS)))
            .execute(conn)?;
        Ok(outbox::table
            .filter(outbox::id.eq_any(&ids))
            .select(OutboxMessage::as_select())
            .load(conn)?)
    })
}

pub fn mark_sent(conn: &mut DbConn, id: &str) -> Result<(), ServiceError> {
    let at = now();
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(SENT),
            outbox::text_body.eq(BODY_REMOVED),
            outbox::html_body.eq(BODY_REMOVED),
            outbox::sent_at.eq(Some(at)),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::attempts.eq(outbox::attempts + 1),
        ))
        .execute(conn)?;
    Ok(())
}

/// Exponential backoff: 30 s, 1 min, 2 min, ... at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 10) - 1).unwrap_or(0);
    Duration::seconds((30_i64 * 2_i64.pow(exp)).min(3600))
}

/// Records a failed attempt: tried again later with backoff, or given up (`failed`) when the
/// failure is `permanent` (the server refused the message) or after `MAX_ATTEMPTS`.
pub fn mark_failed(
    conn: &mut DbConn,
    message: &OutboxMessage,
    error: &str,
    permanent: bool,
) -> Result<(), ServiceError> {
    let attempts = message.attempts + 1;
    let status = if permanent || attempts >= MAX_ATTEMPTS {
        FAILED
    } else {
        QUEUED
    };
    let error: String = error.chars().take(500).collect();
    // Given up: its body goes (a resend writes a new message with a new link).
    let body = |kept: &str| {
        if status == FAILED {
            BODY_REMOVED.to_owned()
        } else {
            kept.to_owned()
        }
    };
    diesel::update(outbox::table.find(&message.id))
        .set((
            outbox::status.eq(status),
            outbox::attempts.eq(attempts),
            outbox::next_attempt_at.eq(now() + backoff(attempts)),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(error)),
            outbox::text_body.eq(body(&message.text_body)),
            outbox::html_body.eq(body(&message.html_body)),
        ))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(3), Duration::seconds(120));
        assert_eq!(backoff(9), Duration::seconds(3600));
    }
}
