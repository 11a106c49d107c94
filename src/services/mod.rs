//! Use cases over a database connection. Nothing here knows about HTTP.

pub mod account;
pub mod audit;
pub mod auth;
pub mod authority;
pub mod clients;
mod conflict;
pub mod email_change;
pub mod email_verification;
pub mod emails;
pub mod external;
pub mod grants;
pub mod invitations;
pub mod invite;
pub mod keys;
pub mod lookup;
pub mod mail;
pub mod members;
pub mod mfa;
pub mod oidc;
pub mod outbox;
pub mod passwords;
pub mod photo;
pub mod policies;
pub mod profile;
pub mod project_removal;
pub mod projects;
pub mod recovery;
pub mod registration;
pub mod seed;
pub mod signin;
pub mod throttle;
pub mod tokens;
pub mod users;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use conflict::Conflict;

use crate::db::{DbConn, DbPool};
use crate::domain::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A concurrent transaction wrote the same unique row first: running again sees it.
    #[error("a concurrent change won; try again")]
    Retry,
    #[error("rate limited")]
    TooManyRequests(throttle::RetryAfter),
    /// Out of capacity for now (password hashing): try again after this many seconds.
    #[error("busy; retry after {0} s")]
    Busy(u64),
    /// The database cannot be reached (down, restarting, the network cut): nothing was done;
    /// the same request can be sent again in a moment.
    #[error("the database cannot be reached")]
    Unavailable,
    /// The disk under the database is full: nothing was written.
    #[error("the database's disk is full")]
    StorageFull,
    /// Input the database cannot hold as text (a NUL character: PostgreSQL refuses it in
    /// any text value, whichever field or path segment carried it).
    #[error("unusable input: {0}")]
    BadInput(String),
    #[error("database error")]
    Database(#[from] diesel::result::Error),
    #[error("no database connection available")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ServiceError {
    /// No connection to the database could be had, or the one in use broke: the request was
    /// not carried out (a transaction cut off this way is rolled back by the database).
    fn is_connection_lost(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        matches!(
            self,
            ServiceError::Pool(_)
                | ServiceError::Database(Error::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _,
                ))
        )
    }

    /// SQLite could not grow its files (`SQLITE_FULL`: the disk, or a quota, is full). The
    /// statement and its transaction were rolled back.
    fn is_storage_full(&self) -> bool {
        matches!(
            self,
            ServiceError::Database(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("database or disk is full")
        )
    }

    /// The database's failures that the caller is told of in their own words (bad input, a
    /// full disk, no database) rather than as an internal error; others as they are. `Db::run`
    /// applies it, and so do the error conversions at each boundary, for errors a closure
    /// handed back as its value.
    pub fn classified(self) -> ServiceError {
        if self.is_nul_in_text() {
            ServiceError::BadInput(
                "The request contains a NUL character, which no field may hold".into(),
            )
        } else if self.is_storage_full() {
            ServiceError::StorageFull
        } else if self.is_connection_lost() {
            ServiceError::Unavailable
        } else {
            self
        }
    }

    /// PostgreSQL refused a text value holding a NUL character (`0x00`).
    fn is_nul_in_text(&self) -> bool {
        matches!(
            self,
            ServiceError::Database(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("invalid byte sequence") && info.message().contains("0x00")
        )
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid(FieldErrors::single(field, message))
    }
}

/// The pool, with a way to run blocking database work off the async workers.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    /// SQL statements sent through `run` since start (for tests and the benchmark).
    statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// On SQLite, the turn of the writers that go through `write`: one at a time, waiting
    /// here (off the blocking pool, holding no connection) instead of in SQLite's busy
    /// handler, which sleeps between retries while the thread and the connection stay taken.
    /// Only an order within this process: the database's own lock still decides.
    writers: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    reachability: std::sync::Arc<Reachability>,
}

/// Whether the database was just found unreachable: set when a trip finds it so, for
/// `UNREACHABLE_FOR`. Trips in that time (those already waiting for a blocking thread too)
/// answer at once instead of each waiting out the pool's timeout: a crowd of requests would
/// otherwise queue on the blocking pool, wait after wait, and each page's several trips
/// would add up theirs. Only a hint about this process's own connections.
struct Reachability {
    /// Milliseconds after `epoch` until which the database is taken to be unreachable.
    until: std::sync::atomic::AtomicU64,
    epoch: std::time::Instant,
}

/// How long one failed trip keeps others from trying (the next trip after it tries again).
const UNREACHABLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl Reachability {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_down(&self) -> bool {
        self.now() < self.until.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn mark_down(&self) {
        let until = self
            .now()
            .saturating_add(u64::try_from(UNREACHABLE_FOR.as_millis()).unwrap_or(0));
        self.until
            .store(until, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Db {
    pub fn new(pool: DbPool, backend: crate::db::Backend) -> Self {
        Db {
            pool,
            statements: Default::default(),
            reachability: std::sync::Arc::new(Reachability {
                until: Default::default(),
                epoch: std::time::Instant::now(),
            }),
            writers: (backend == crate::db::Backend::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))),
        }
    }

    /// Runs `f` in one write transaction (see `run`). Short, frequent writes that arrive in
    /// crowds (sign-in counters) go through here, so that on SQLite they queue in order
    /// rather than hold the blocking pool's threads and the connections pages need.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        let _turn = match &self.writers {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        self.run(move |conn| crate::db::transaction(conn, f)).await
    }

    /// SQL statements sent through `run` so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool. A failure (not a
    /// refusal) says where it happened: the function that asked, so that a 500 in the log
    /// names the operation as well as the database's message.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        if self.reachability.is_down() {
            return Err(ServiceError::Unavailable);
        }
        let (pool, reachability) = (self.pool.clone(), self.reachability.clone());
        let (outcome, statements) = actix_web::web::block(move || {
            if reachability.is_down() {
                return (Err(ServiceError::Unavailable), 0);
            }
            let before = crate::db::statements_on_this_thread();
            let outcome = pool
                .get()
                .map_err(ServiceError::from)
                .and_then(|mut c| f(&mut c));
            // Marked here, before this thread takes the next queued trip.
            if outcome
                .as_ref()
                .is_err_and(ServiceError::is_connection_lost)
            {
                reachability.mark_down();
            }
            (outcome, crate::db::statements_on_this_thread() - before)
        })
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?;
        self.statements
            .fetch_add(statements, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(statements, operation = operation::<F>(), "database work");
        outcome.map_err(|e| match e {
            e if e.is_nul_in_text() => e.classified(),
            e if e.is_storage_full() => {
                tracing::error!(error = %e, operation = operation::<F>(), "the database's disk is full: nothing can be saved until space is freed");
                ServiceError::StorageFull
            }
            e if e.is_connection_lost() => {
                tracing::warn!(error = %e, operation = operation::<F>(), "database unreachable");
                ServiceError::Unavailable
            }
            ServiceError::Database(_) | ServiceError::Pool(_) | ServiceError::Internal(_) => {
                ServiceError::Internal(
                    anyhow::Error::new(e).context(format!("in {}", operation::<F>())),
                )
            }
            refusal => refusal,
        })
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }
}

/// The function a closure was written in: `rollcall::web::admin::invite::send_invite` for
/// `...::send_invite::{{closure}}`.
fn operation<F>() -> &'static str {
    let name = std::any::type_name::<F>();
    let mut trimmed = name;
    while let Some(rest) = trimmed.strip_suffix("::{{closure}}") {
        trimmed = rest;
    }
    trimmed
}

/// The current time, at the microsecond precision both databases store.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 32 random bytes as hex: for link secrets, tokens and CSRF tokens.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Secrets with 256 bits of entropy need no slow hash: SHA-256 keeps them unreadable at rest.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What an audit event or a new session records about who asked.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_operation_is_named_by_the_function_its_closure_is_in() {
        fn named<F: FnOnce()>(_: F) -> &'static str {
            super::operation::<F>()
        }
        assert!(named(|| {}).ends_with("an_operation_is_named_by_the_function_its_closure_is_in"));
    }
}
