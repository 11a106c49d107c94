//! Fixed-window counters for abuse limits (sign-in failures, reset requests, invites, emails
//! an admin triggers), one row per key in the database: every instance on one database counts
//! together, and increments are single `UPDATE ... SET hits = hits + 1` statements, so
//! concurrent attempts are all counted.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Db, ServiceError, now};
use crate::db::schema::rate_limits;
use crate::db::{DbConn, is_unique_violation};

/// Refused: try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn window_of(window: Duration) -> chrono::Duration {
    chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX)
}

/// Counts one hit against `key`; returns the hits of the current window. A concurrent first
/// hit is resolved by retrying the update; inside a transaction the hit is undone with it.
pub fn hit(conn: &mut DbConn, key: &str, window: Duration) -> Result<i32, ServiceError> {
    let at = now();
    let cutoff = at - window_of(window);
    // A window that has ended starts again at this hit.
    diesel::delete(
        rate_limits::table
            .filter(rate_limits::key.eq(key))
            .filter(rate_limits::window_start.le(cutoff)),
    )
    .execute(conn)?;
    // Each hit reads back the count its own increment made (`RETURNING`), so concurrent
    // hits see 1, 2, 3, ... and never the same number.
    let bump = |conn: &mut DbConn| {
        diesel::update(rate_limits::table.find(key))
            .set(rate_limits::hits.eq(rate_limits::hits + 1))
            .returning(rate_limits::hits)
            .get_result::<i32>(conn)
            .optional()
    };
    if let Some(hits) = bump(conn)? {
        return Ok(hits);
    }
    // In a savepoint: inside a PostgreSQL transaction a failed insert would otherwise end the
    // whole transaction.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(rate_limits::table)
            .values((
                rate_limits::key.eq(key),
                rate_limits::window_start.eq(at),
                rate_limits::hits.eq(1),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(1),
        // Another request inserted the first hit meanwhile: count on its row.
        Err(e) if is_unique_violation(&e) => Ok(bump(conn)?.unwrap_or(1)),
        Err(e) => Err(e.into()),
    }
}

/// Counts a hit and fails if it goes over `limit`. The hit is counted first, in one
/// statement, so of any number of concurrent requests exactly `limit` pass.
pub fn hit_and_check(
    conn: &mut DbConn,
    key: &str,
    limit: u32,
    window: Duration,
) -> Result<(), ServiceError> {
    let hits = hit(conn, key, window)?;
    if hits <= i32::try_from(limit).unwrap_or(i32::MAX) {
        return Ok(());
    }
    let at = now();
    let start = rate_limits::table
        .find(key)
        .select(rate_limits::window_start)
        .first::<NaiveDateTime>(conn)
        .optional()?
        .unwrap_or(at);
    let left = (start + window_of(window) - at).num_seconds();
    Err(ServiceError::TooManyRequests(RetryAfter(
        u64::try_from(left).unwrap_or(1).max(1),
    )))
}

/// Takes back one hit (a reserved attempt that turned out to be the owner's).
pub fn unhit(conn: &mut DbConn, key: &str) -> Result<(), ServiceError> {
    diesel::update(rate_limits::table.find(key).filter(rate_limits::hits.gt(0)))
        .set(rate_limits::hits.eq(rate_limits::hits - 1))
        .execute(conn)?;
    Ok(())
}

pub fn reset(conn: &mut DbConn, key: &str) -> Result<(), ServiceError> {
    diesel::delete(rate_limits::table.find(key)).execute(conn)?;
    Ok(())
}

/// Forgets windows that ended long ago (the longest window in use is a day).
pub fn sweep(conn: &mut DbConn) -> Result<usize, ServiceError> {
    let cutoff = now() - chrono::Duration::days(2);
    Ok(
        diesel::delete(rate_limits::table.filter(rate_limits::window_start.lt(cutoff)))
            .execute(conn)?,
    )
}

/// Emails an admin makes Rollcall send to one address (invitations, resends, resets): per
/// project, so that one project cannot use up another's, and per address over all
/// projects, so that many projects together cannot flood one inbox. Not inside a
/// transaction.
pub fn admin_email(
    conn: &mut DbConn,
    limits: &crate::config::Limits,
    project_id: &str,
    address: &str,
) -> Result<(), ServiceError> {
    let window = limits.admin_email_window;
    hit_and_check(
        conn,
        &format!("admin-email:{project_id}:{address}"),
        limits.admin_emails_per_target,
        window,
    )?;
    hit_and_check(
        conn,
        &format!("admin-email:{address}"),
        limits.admin_emails_per_address,
        window,
    )
}

/// The counters a password sign-in goes through: per address, per (account, address) and per
/// account (see `Limits` for why each has its size).
#[derive(Debug, Clone)]
pub struct SigninKeys {
    ip: String,
    account_and_ip: String,
    account: String,
}

impl SigninKeys {
    /// `account`: the id of the account the attempt is checked against (the typed address
    /// when there is none), so that attempts at one account never lock out another that
    /// shares its address.
    pub fn new(account: &str, ip: Option<&str>) -> SigninKeys {
        let ip = ip.unwrap_or("-");
        SigninKeys {
            ip: format!("signin-ip:{ip}"),
            account_and_ip: format!("signin-account-ip:{account}|{ip}"),
            account: format!("signin-account:{account}"),
        }
    }

    /// Counts this attempt against every key before the password is checked, so that
    /// concurrent attempts cannot all slip under the limits; refuses past any of them.
    pub fn reserve(
        &self,
        conn: &mut DbConn,
        limits: &crate::config::Limits,
    ) -> Result<(), ServiceError> {
        let window = limits.signin_window;
        hit_and_check(conn, &self.ip, limits.signin_failures_per_ip, window)?;
        hit_and_check(
            conn,
            &self.account_and_ip,
            limits.signin_failures_per_account_and_ip,
            window,
        )?;
        hit_and_check(
            conn,
            &self.account,
            limits.signin_failures_per_account,
            window,
        )
    }

    /// The owner got in: the attempt does not count against the account or the address,
    /// and their own earlier typos from this address are forgotten.
    pub fn succeeded(&self, conn: &mut DbConn) -> Result<(), ServiceError> {
        unhit(conn, &self.ip)?;
        unhit(conn, &self.account)?;
        reset(conn, &self.account_and_ip)
    }
}

/// The same operations from async handlers, each on the blocking pool.
#[derive(Clone)]
pub struct Throttle {
    db: Db,
}

impl Throttle {
    pub fn new(db: Db) -> Throttle {
        Throttle { db }
    }

    pub async fn hit_and_check(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<(), ServiceError> {
        let key = key.to_owned();
        self.db
            .run(move |conn| hit_and_check(conn, &key, limit, window))
            .await
    }

    pub async fn unhit(&self, key: &str) -> Result<(), ServiceError> {
        let key = key.to_owned();
        self.db.run(move |conn| unhit(conn, &key)).await
    }

    pub async fn reset(&self, key: &str) -> Result<(), ServiceError> {
        let key = key.to_owned();
        self.db.run(move |conn| reset(conn, &key)).await
    }

    /// Counts one attempt at a two-factor code (from the app or a recovery code) for the
    /// account, refusing past the limit: a fresh password sign-in must not bring fresh
    /// guesses. The key, to reset after a right code.
    pub async fn count_code_attempt(
        &self,
        limits: &crate::config::Limits,
        user_id: &str,
    ) -> Result<String, ServiceError> {
        let key = format!("mfa-code:{user_id}");
        self.hit_and_check(&key, limits.mfa_failures_per_account, limits.mfa_window)
            .await?;
        Ok(key)
    }
}
