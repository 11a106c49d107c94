//! One binary, two databases: the connection enum, the pool, migrations and transactions.

pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A fingerprint of the migration files, set by build.rs. Test harnesses key their
/// migrated template databases on it.
pub const MIGRATIONS_FINGERPRINT: &str = env!("ROLLCALL_MIGRATIONS_FINGERPRINT");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    // Last: SqliteConnection::establish accepts any string (we never rely on that order,
    // see `Backend::from_url`, but keep it safe anyway).
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Turns `sqlite://path` into the plain path diesel's SQLite connection expects.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

pub struct ConnectionManager {
    url: String,
    backend: Backend,
}

impl ConnectionManager {
    pub fn new(url: &str) -> Self {
        ConnectionManager {
            url: url.to_owned(),
            backend: Backend::from_url(url),
        }
    }
}

pub fn establish(url: &str) -> Result<DbConn, diesel::ConnectionError> {
    let mut conn = match Backend::from_url(url) {
        Backend::Postgres => DbConn::Postgres(PgConnection::establish(url)?),
        Backend::Sqlite => DbConn::Sqlite(SqliteConnection::establish(sqlite_path(url))?),
    };
    conn.set_instrumentation(|event: diesel::connection::InstrumentationEvent<'_>| {
        if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
            STATEMENTS.with(|n| n.set(n.get() + 1));
            // `RUST_LOG=rollcall::sql=trace` shows every statement (with `?` for values).
            tracing::trace!(target: "rollcall::sql", "{query}");
        }
    });
    Ok(conn)
}

thread_local! {
    /// SQL statements this thread has sent, counted by every connection `establish` makes.
    static STATEMENTS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many SQL statements this thread has sent so far (see `services::Db::run`).
pub fn statements_on_this_thread() -> u64 {
    STATEMENTS.with(std::cell::Cell::get)
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        establish(&self.url).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// Each SQLite connection's page cache, in KiB (SQLite's default is 2,000).
pub const SQLITE_CACHE_KIB: i64 = 1024;

/// Per-connection settings SQLite does not remember in the file.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            // A page cache of 1 MiB per connection holds a Users page's working set, and the
            // pool's caches together stay small; the operating system caches the file for all.
            // `secure_delete` zeroes what is deleted or overwritten, so that a link's secret in
            // a sent email's body, or a revoked token's hash, does not linger in the file's
            // free space (and in copies of the file) after its row no longer holds it.
            c.batch_execute(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
                 PRAGMA cache_size = -{SQLITE_CACHE_KIB}; PRAGMA secure_delete = ON;",
            ))
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledConn = PooledConnection<ConnectionManager>;

pub fn build_pool(url: &str, max_size: u32) -> Result<DbPool, anyhow::Error> {
    let manager = ConnectionManager::new(url);
    if manager.backend == Backend::Sqlite {
        let path = std::path::Path::new(sqlite_path(url));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // WAL is a property of the file: set once, before the pool opens it concurrently.
        let mut c = SqliteConnection::establish(sqlite_path(url))?;
        c.batch_execute("PRAGMA journal_mode = WAL;")?;
    }
    // A PostgreSQL connection can go stale (a restart, a network cut), so each is checked as
    // it leaves the pool; a SQLite connection is a file handle that cannot, and the check
    // would be one statement more per trip.
    let check_out_test = manager.backend == Backend::Postgres;
    let pool = Pool::builder()
        .max_size(max_size)
        .test_on_check_out(check_out_test)
        .min_idle(Some(1))
        .idle_timeout(Some(Duration::from_secs(120)))
        // How long a request waits for a connection before answering 503: bounded, so that
        // a database that is down is told to the user within seconds, not after a hang.
        .connection_timeout(Duration::from_secs(5))
        .connection_customizer(Box::new(SqlitePragmas))
        .build(manager)?;
    Ok(pool)
}

pub fn run_migrations(conn: &mut DbConn) -> Result<usize, anyhow::Error> {
    let applied = match conn {
        DbConn::Postgres(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
            .len(),
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
            .len(),
    };
    Ok(applied)
}

/// How many of this build's migrations the database has not applied yet (0 when it is
/// current, or newer: an instance of the previous release keeps serving while the next one's
/// migrations run, as long as they only add).
pub fn pending_migrations(conn: &mut DbConn) -> Result<usize, anyhow::Error> {
    let pending = match conn {
        DbConn::Postgres(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|m| m.len()),
        DbConn::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|m| m.len()),
    };
    pending.map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))
}

/// What `rollcall backup` says on PostgreSQL.
pub const BACKUP_POSTGRES: &str = "`rollcall backup` copies SQLite databases; back PostgreSQL up with pg_dump (see docs/deploy.md)";

/// Writes a consistent copy of a live SQLite database to `target` (which must not exist yet),
/// while other connections go on reading and writing: `VACUUM INTO` reads one snapshot. On
/// PostgreSQL, `pg_dump` is the tool (docs/deploy.md).
pub fn backup_into(conn: &mut DbConn, target: &std::path::Path) -> Result<(), anyhow::Error> {
    use diesel::RunQueryDsl;
    let DbConn::Sqlite(_) = conn else {
        anyhow::bail!(BACKUP_POSTGRES);
    };
    if target.exists() {
        anyhow::bail!(
            "{} already exists; give a new file's path",
            target.display()
        );
    }
    let path = target
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup's path must be valid UTF-8"))?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(path)
        .execute(conn)?;
    Ok(())
}

/// Runs `f` in one transaction. On SQLite the transaction starts with `BEGIN IMMEDIATE`:
/// a deferred transaction that reads and then writes fails at once with SQLITE_BUSY (the
/// busy timeout does not apply) when another writer committed in between, which concurrent
/// requests would see as server errors.
pub fn transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // Inside a transaction already (PostgreSQL, or a service called from another's
    // transaction): diesel nests it as a savepoint.
    let nested = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()
            .is_ok_and(|depth| depth.is_some()),
        _ => true,
    };
    if nested {
        return conn.transaction(f);
    }
    if let DbConn::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    }
    let result = f(conn);
    let DbConn::Sqlite(c) = conn else {
        return result;
    };
    match result {
        Ok(value) => match AnsiTransactionManager::commit_transaction(c) {
            Ok(()) => Ok(value),
            Err(commit_error) => {
                let _ = AnsiTransactionManager::rollback_transaction(c);
                Err(commit_error.into())
            }
        },
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(c)?;
            Err(e)
        }
    }
}

/// True when the error is a unique-index violation: how concurrent duplicate inserts show up.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Keeps the query planner's statistics current. SQLite has none until asked, and without
/// them it plans the member lists as a sort of every member instead of an index walk.
/// `full` re-analyses everything (after a bulk load; on PostgreSQL it also vacuums, so the
/// counters' old row versions do not wait for autovacuum, which may be off); otherwise
/// SQLite's `optimize` decides which tables changed enough to need it. PostgreSQL's
/// autovacuum does this on its own, so only `full` runs there.
pub fn refresh_statistics(conn: &mut DbConn, full: bool) -> Result<(), diesel::result::Error> {
    match (conn, full) {
        (DbConn::Sqlite(c), true) => c.batch_execute("ANALYZE;"),
        (DbConn::Sqlite(c), false) => {
            c.batch_execute("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")
        }
        (DbConn::Postgres(c), true) => c.batch_execute("VACUUM ANALYZE;"),
        (DbConn::Postgres(_), false) => Ok(()),
    }
}
