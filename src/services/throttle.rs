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

fn current(
    conn: &mut DbConn,
    key: &str,
    window: Duration,
    at: NaiveDateTime,
) -> Result<Option<(NaiveDateTime, i32)>, ServiceError> {
    let row = rate_limits::table
        .find(key)
        .select((rate_limits::window_start, rate_limits::hits))
        .first::<(NaiveDateTime, i32)>(conn)
        .optional()?;
    Ok(row.filter(|(start, _)| at - *start < window_of(window)))
}

/// Fails when `key` already has `limit` hits in its current window.
pub fn check(
    conn: &mut DbConn,
    key: &str,
    limit: u32,
    window: Duration,
) -> Result<(), ServiceError> {
    let at = now();
    match current(conn, key, window, at)? {
        Some((start, hits)) if hits >= i32::try_from(limit).unwrap_or(i32::MAX) => {
            let left = (start + window_of(window) - at).num_seconds();
            Err(ServiceError::TooManyRequests(RetryAfter(
                u64::try_from(left).unwrap_or(1).max(1),
            )))
        }
        _ => Ok(()),
    }
}

/// Counts one hit against `key`; returns the hits of the current window. Not for use inside
/// a transaction (a concurrent first hit is resolved by retrying the update).
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
    let bump = |conn: &mut DbConn| {
        diesel::update(rate_limits::table.find(key))
            .set(rate_limits::hits.eq(rate_limits::hits + 1))
            .execute(conn)
    };
    if bump(conn)? == 0 {
        let inserted = diesel::insert_into(rate_limits::table)
            .values((
                rate_limits::key.eq(key),
                rate_limits::window_start.eq(at),
                rate_limits::hits.eq(1),
            ))
            .execute(conn);
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                bump(conn)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rate_limits::table
        .find(key)
        .select(rate_limits::hits)
        .first::<i32>(conn)
        .optional()?
        .unwrap_or(1))
}

/// Counts a hit and fails if it goes over `limit`: for requests that are limited whether or
/// not they succeed.
pub fn hit_and_check(
    conn: &mut DbConn,
    key: &str,
    limit: u32,
    window: Duration,
) -> Result<(), ServiceError> {
    check(conn, key, limit, window)?;
    hit(conn, key, window)?;
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

/// The counters a password sign-in goes through: per address, per (account, address) and per
/// account (see `Limits` for why each has its size).
#[derive(Debug, Clone)]
pub struct SigninKeys {
    ip: String,
    account_and_ip: String,
    account: String,
}

impl SigninKeys {
    pub fn new(email: &crate::domain::EmailAddress, ip: Option<&str>) -> SigninKeys {
        let ip = ip.unwrap_or("-");
        SigninKeys {
            ip: format!("signin-ip:{ip}"),
            account_and_ip: format!("signin-account-ip:{email}|{ip}"),
            account: format!("signin-account:{email}"),
        }
    }

    pub fn check(
        &self,
        conn: &mut DbConn,
        limits: &crate::config::Limits,
    ) -> Result<(), ServiceError> {
        let window = limits.signin_window;
        check(conn, &self.ip, limits.signin_failures_per_ip, window)?;
        check(
            conn,
            &self.account_and_ip,
            limits.signin_failures_per_account_and_ip,
            window,
        )?;
        check(
            conn,
            &self.account,
            limits.signin_failures_per_account,
            window,
        )
    }

    pub fn failed(&self, conn: &mut DbConn, window: Duration) -> Result<(), ServiceError> {
        for key in [&self.ip, &self.account_and_ip, &self.account] {
            hit(conn, key, window)?;
        }
        Ok(())
    }

    /// The owner got in from this address: their own earlier typos no longer count here.
    pub fn succeeded(&self, conn: &mut DbConn) -> Result<(), ServiceError> {
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

    pub async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<(), ServiceError> {
        let key = key.to_owned();
        self.db
            .run(move |conn| check(conn, &key, limit, window))
            .await
    }

    pub async fn hit(&self, key: &str, window: Duration) -> Result<(), ServiceError> {
        let key = key.to_owned();
        self.db
            .run(move |conn| hit(conn, &key, window).map(|_| ()))
            .await
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

    pub async fn reset(&self, key: &str) -> Result<(), ServiceError> {
        let key = key.to_owned();
        self.db.run(move |conn| reset(conn, &key)).await
    }
}
