//! Builds the application once: pool, migrations, mailer, session key, listener, server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use rand::RngCore;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::db;
use crate::services::Db;
use crate::services::auth::SessionPolicy;
use crate::services::keys::KeyRing;
use crate::services::mail::{self, MailSignal, Mailer};
use crate::services::passwords::Hasher;
use crate::services::throttle::{self, Throttle};
use crate::telemetry::RequestSpan;
use crate::web::errors::AppError;
use crate::web::{self as site, AppState, csrf, error_page};

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'; object-src 'none'";

pub struct Application {
    port: u16,
    server: Server,
    db: Db,
}

/// Opens the pool and brings the schema up to date.
pub fn open_database(settings: &Settings) -> Result<Db, anyhow::Error> {
    let pool = db::build_pool(settings.database_url(), settings.db_pool_size)?;
    let mut conn = pool.get()?;
    let applied = db::run_migrations(&mut conn)?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    let folded = crate::services::users::fold_unfolded_profiles(&mut conn)?;
    if folded > 0 {
        tracing::info!(folded, "member names folded for sorting and search");
    }
    db::refresh_statistics(&mut conn, false)?;
    let backend = db::Backend::from_url(settings.database_url());
    Ok(Db::new(pool, backend))
}

/// The session signing key: from settings, else kept in the data folder (generated once),
/// so restarts do not sign everyone out.
fn session_key(settings: &Settings) -> Result<Key, anyhow::Error> {
    if let Some(key) = &settings.session_key {
        return Ok(Key::derive_from(key.expose_secret().as_bytes()));
    }
    let path = settings.data_dir.join("session.key");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 64 => bytes,
        _ => {
            let mut bytes = vec![0u8; 64];
            rand::rng().fill_bytes(&mut bytes);
            std::fs::create_dir_all(&settings.data_dir)?;
            std::fs::write(&path, &bytes)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            tracing::info!(path = %path.display(), "generated a new session key");
            bytes
        }
    };
    Ok(Key::derive_from(&bytes))
}

async fn refresh_statistics_hourly(db: Db) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = db
            .run(|conn| Ok(db::refresh_statistics(conn, false)?))
            .await
        {
            tracing::warn!(error = %e, "could not refresh database statistics");
        }
        if let Err(e) = db.run(throttle::sweep).await {
            tracing::warn!(error = %e, "could not forget old rate-limit windows");
        }
    }
}

/// Blocking threads for each HTTP worker (one worker per core): together, a few more than the
/// database connections.
fn blocking_threads(db_pool_size: u32) -> usize {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    (db_pool_size as usize).div_ceil(workers) + 1
}

/// The mail worker and the hourly upkeep, in the background; the signal wakes the worker
/// when a request has queued mail.
fn start_workers(settings: &Settings, db: &Db) -> Result<MailSignal, anyhow::Error> {
    let mailer = Arc::new(Mailer::from_settings(settings)?);
    let signal = MailSignal::default();
    tokio::spawn(refresh_statistics_hourly(db.clone()));
    tokio::spawn(mail::run_worker(
        db.clone(),
        mailer,
        signal.clone(),
        settings.mail_poll_interval,
    ));
    Ok(signal)
}

/// What every request handler shares.
fn app_state(
    settings: Settings,
    db: Db,
    base_url: &str,
    tokens: KeyRing,
    mail: MailSignal,
) -> Result<web::Data<AppState>, anyhow::Error> {
    Ok(web::Data::new(AppState {
        throttle: Throttle::new(db.clone()),
        db,
        base_url: base_url.to_owned(),
        hasher: Hasher::new(settings.hash_workers, settings.hash_queue)?,
        mail,
        session_policy: SessionPolicy {
            idle_timeout: chrono::Duration::from_std(settings.session_idle_timeout)?,
            lifetime: chrono::Duration::from_std(settings.session_lifetime)?,
        },
        tokens,
        http: crate::services::oidc::http_client()?,
        settings: Arc::new(settings),
    }))
}

/// The session cookie: signed and encrypted with the key, `Secure` behind https.
#[derive(Clone)]
struct Cookies {
    key: Key,
    secure: bool,
    ttl: actix_web::cookie::time::Duration,
}

impl Cookies {
    fn sessions(&self) -> SessionMiddleware<CookieSessionStore> {
        SessionMiddleware::builder(CookieSessionStore::default(), self.key.clone())
            .cookie_name("rollcall_session".into())
            .cookie_secure(self.secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(PersistentSession::default().session_ttl(self.ttl))
            .build()
    }
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("X-Frame-Options", "DENY"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
}

/// Unknown paths: an OperationOutcome under the API's prefixes, a page elsewhere.
async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    // `from_error` keeps the error on the response, which the error-page middleware needs.
    if crate::api::is_api_path(req.path()) {
        actix_web::HttpResponse::from_error(crate::api::errors::ApiError::NotFound)
    } else {
        actix_web::HttpResponse::from_error(AppError::NotFound)
    }
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, anyhow::Error> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let listener = TcpListener::bind(&settings.bind).map_err(|e| {
            anyhow::anyhow!("ROLLCALL_BIND: cannot listen on {}: {e}", settings.bind)
        })?;
        let port = listener.local_addr()?.port();
        let base_url = match &settings.base_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", listener.local_addr()?),
        };
        let db = {
            let settings = settings.clone();
            web::block(move || open_database(&settings))
                .await
                .map_err(|e| anyhow::anyhow!("start-up task failed: {e}"))??
        };
        let cookies = Cookies {
            key: session_key(&settings)?,
            secure: base_url.starts_with("https://"),
            ttl: actix_web::cookie::time::Duration::seconds(
                i64::try_from(settings.session_lifetime.as_secs()).unwrap_or(i64::MAX),
            ),
        };
        let mail = start_workers(&settings, &db)?;
        let db_pool_size = settings.db_pool_size;
        let tokens = {
            let (db, issuer) = (db.clone(), base_url.clone());
            web::block(move || -> Result<KeyRing, anyhow::Error> {
                let mut conn = db.pool().get()?;
                Ok(KeyRing::open(&mut conn, &issuer)?)
            })
            .await
            .map_err(|e| anyhow::anyhow!("start-up task failed: {e}"))??
        };
        let state = app_state(settings, db.clone(), &base_url, tokens, mail)?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .configure(crate::api::configure)
                .configure(site::configure)
                .default_service(web::to(not_found))
                .wrap(from_fn(csrf::csrf_guard))
                .wrap(from_fn(crate::api::cors::cors))
                .wrap(cookies.sessions())
                .wrap(ErrorHandlers::new().default_handler(error_page::render_error_page))
                .wrap(security_headers())
                .wrap(TracingLogger::<RequestSpan>::new())
        })
        // Blocking work is database work: more threads than connections would only wait
        // for one, and each idle thread keeps memory of its own.
        .worker_max_blocking_threads(blocking_threads(db_pool_size))
        .listen(listener)?
        .run();
        tracing::info!(%base_url, "Rollcall is listening");
        Ok(Application { port, server, db })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database handle the server uses (its statement count, for tests).
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// Stops the server (listener and workers) from anywhere: a server whose future is merely
    /// dropped keeps its worker threads.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
