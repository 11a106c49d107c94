//! The test harness: the real application on port 0 with its own database and a real SMTP
//! listener, and a client that keeps cookies and reads CSRF tokens from forms like a browser.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use reqwest::StatusCode;
use rollcall::config::Settings;
use rollcall::db::{self, DbPool};
use rollcall::startup::Application;
use secrecy::SecretString;

pub const PASSWORD: &str = "correct horse battery staple";

/// Everything the application logs during the test run (all tests of this process).
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut log = self.0.lock().unwrap();
        log.extend_from_slice(buf);
        record_of_the_run("log", buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static LOG: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// What the application has logged so far in this test process.
pub fn captured_log() -> String {
    LOG.get()
        .map(|l| String::from_utf8_lossy(&l.0.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

/// Notes a secret the run used (a link's secret, a token, a client secret), for the test
/// that searches the whole log for them.
pub fn remember_secret(secret: &str) {
    SECRETS.lock().unwrap().push(secret.to_owned());
    record_of_the_run("secrets", format!("{secret}\n").as_bytes());
}

/// The folder where every test process of a run adds what it logged and the secrets it
/// used, when `TEST_RUN_RECORD_DIR` names one (`.ci/run` does): after the whole suite, on
/// both databases, `the_log_of_the_whole_run_holds_no_secret` searches all of it at once.
pub fn run_record_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("TEST_RUN_RECORD_DIR")
        .filter(|d| !d.is_empty())
        .map(Into::into)
}

fn record_of_the_run(kind: &str, bytes: &[u8]) {
    static FILES: Mutex<Vec<(String, std::fs::File)>> = Mutex::new(Vec::new());
    let Some(dir) = run_record_dir() else {
        return;
    };
    let mut files = FILES.lock().unwrap();
    if !files.iter().any(|(k, _)| k == kind) {
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("{kind}-{}", std::process::id());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .unwrap();
        files.push((kind.to_owned(), file));
    }
    let (_, file) = files.iter_mut().find(|(k, _)| k == kind).unwrap();
    file.write_all(bytes).unwrap();
}

pub fn remembered_secrets() -> Vec<String> {
    SECRETS.lock().unwrap().clone()
}

/// The security headers every answer carries (pages, errors, API), and for HTML the strict
/// content security policy and no caching; the names of those missing or wrong.
pub fn missing_security_headers(r: &reqwest::Response) -> Vec<&'static str> {
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok());
    let mut missing = Vec::new();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ] {
        if header(name) != Some(value) {
            missing.push(name);
        }
    }
    if header("content-type").is_some_and(|t| t.starts_with("text/html")) {
        let csp = header("content-security-policy").unwrap_or_default();
        if !csp.contains("frame-ancestors 'none'") || csp.contains("unsafe-inline") {
            missing.push("content-security-policy");
        }
        if header("cache-control") != Some("no-store") {
            missing.push("cache-control");
        }
    }
    missing
}

pub fn assert_security_headers(r: &reqwest::Response) {
    let missing = missing_security_headers(r);
    assert!(missing.is_empty(), "{} lacks {missing:?}", r.url());
}

/// The code an authenticator app shows, `steps` periods of 30 s from now.
pub fn code(secret: &str, steps: i64) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .with_account_name("test")
        .build()
        .unwrap();
    let t = chrono::Utc::now().timestamp() + steps * 30;
    totp.generate(u64::try_from(t).unwrap()).to_string()
}

/// Sets up an authenticator on `page` for the signed-in `client`; returns its secret.
pub async fn enrol(app: &TestApp, client: &reqwest::Client, page: &str) -> String {
    enrol_with_codes(app, client, page).await.0
}

/// As `enrol`; also returns the recovery codes the page showed.
pub async fn enrol_with_codes(
    app: &TestApp,
    client: &reqwest::Client,
    page: &str,
) -> (String, Vec<String>) {
    let html = app.get_with(client, page).await.text().await.unwrap();
    let codes: Vec<String> = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("#recovery-codes code").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes are shown");
    codes.iter().for_each(|c| remember_secret(c));
    assert!(html.contains("<svg"), "a QR code is shown inline");
    let secret = attr_of(&html, "#mfa-secret", "data-copy-value").unwrap();
    assert_eq!(
        text_of(&html, "#mfa-secret").unwrap().replace(' ', ""),
        secret,
        "shown in groups of four"
    );
    remember_secret(&secret);
    let r = app
        .submit_with(client, page, page, &[("token", "000000"), ("stored", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Not before the codes are said to be stored (and the code is not used up by that).
    let r = app
        .submit_with(client, page, page, &[("token", &code(&secret, 0))])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "#stored-error").is_some(), "{html}");
    let shown_again: Vec<String> = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("#recovery-codes code").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(shown_again, codes, "the same codes, shown again");
    let r = app
        .submit_with(
            client,
            page,
            page,
            &[("token", &code(&secret, 0)), ("stored", "on")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "enrolment confirmed");
    (secret, codes)
}

/// One message the SMTP sink received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The first http(s) link in the plain-text part.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("no link in the email");
        let link = self.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        // Every link in an email ends in its secret (set-password, verify-email and
        // email-change links alike); ids are not secrets, and appear in the log.
        let path = link.split(['?', '#']).next().unwrap_or_default();
        if let Some(last) = path.rsplit('/').next()
            && last.len() >= 16
            && uuid::Uuid::parse_str(last).is_err()
        {
            remember_secret(last);
        }
        link
    }

    /// The link without scheme and host.
    pub fn path(&self) -> String {
        let link = self.link();
        let after_scheme = &link[link.find("://").unwrap() + 3..];
        after_scheme[after_scheme.find('/').unwrap()..].to_owned()
    }
}

/// A minimal SMTP server: enough of RFC 5321 for lettre's client to deliver to it.
#[derive(Clone, Default)]
pub struct SmtpSink {
    pub messages: Arc<Mutex<Vec<Mail>>>,
    /// Recipients refused with a permanent error (550), as a mail server with no such mailbox.
    pub refused: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub fn start() -> (SmtpSink, u16) {
        SmtpSink::start_on(0)
    }

    /// Listens on `port` (0: any free port); the port it listens on.
    pub fn start_on(port: u16) -> (SmtpSink, u16) {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = SmtpSink::default();
        let served = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let served = served.clone();
                std::thread::spawn(move || {
                    let _ = serve_smtp(stream, &served);
                });
            }
        });
        (sink, port)
    }
}

fn serve_smtp(stream: TcpStream, sink: &SmtpSink) -> std::io::Result<()> {
    let messages = &sink.messages;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink ESMTP ready\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") {
            writer.write_all(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?;
        } else if command.starts_with("DATA") {
            writer.write_all(b"354 go ahead\r\n")?;
            let mut raw = Vec::new();
            loop {
                let mut data_line = String::new();
                if reader.read_line(&mut data_line)? == 0 {
                    return Ok(());
                }
                if data_line == ".\r\n" || data_line == ".\n" {
                    break;
                }
                let unstuffed = data_line.strip_prefix('.').unwrap_or(&data_line);
                raw.extend_from_slice(unstuffed.as_bytes());
            }
            let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let to = parsed
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned();
            messages.lock().unwrap().push(Mail {
                to,
                subject: parsed.subject().unwrap_or_default().to_owned(),
                text: parsed
                    .body_text(0)
                    .map(|t| t.into_owned())
                    .unwrap_or_default(),
                html: parsed
                    .body_html(0)
                    .map(|t| t.into_owned())
                    .unwrap_or_default(),
            });
            writer.write_all(b"250 queued\r\n")?;
        } else if command.starts_with("QUIT") {
            writer.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else if command.starts_with("RCPT")
            && sink
                .refused
                .lock()
                .unwrap()
                .iter()
                .any(|r| command.contains(&r.to_ascii_uppercase()))
        {
            writer.write_all(b"550 5.1.1 no such mailbox here\r\n")?;
        } else if command.starts_with("HELO")
            || command.starts_with("MAIL")
            || command.starts_with("RCPT")
            || command.starts_with("RSET")
            || command.starts_with("NOOP")
        {
            writer.write_all(b"250 ok\r\n")?;
        } else {
            writer.write_all(b"502 not implemented\r\n")?;
        }
    }
}

/// A PostgreSQL database for one test, cloned from a migrated template and dropped after.
pub struct PgTestDatabase {
    admin_url: String,
    name: String,
}

fn with_path(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

impl PgTestDatabase {
    /// A new empty database (dropped with the value), and its URL.
    pub fn empty(admin_url: &str) -> (PgTestDatabase, String) {
        let mut admin = PgConnection::establish(admin_url).unwrap();
        let name = format!("rollcall_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .unwrap();
        PgTestDatabase::handed_out(admin_url, name)
    }

    /// The database `name`, dropped with the value, and its URL.
    fn handed_out(admin_url: &str, name: String) -> (PgTestDatabase, String) {
        let url = with_path(admin_url, &name);
        (
            PgTestDatabase {
                admin_url: admin_url.to_owned(),
                name,
            },
            url,
        )
    }

    fn create(admin_url: &str) -> (PgTestDatabase, String) {
        let mut admin =
            PgConnection::establish(admin_url).expect("TEST_DATABASE_URL must reach PostgreSQL");
        let template = format!("rollcall_tpl_{}", db::MIGRATIONS_FINGERPRINT);
        let name = format!("rollcall_test_{}", uuid::Uuid::new_v4().simple());
        // One creator at a time, across test threads and test processes.
        diesel::sql_query("SELECT pg_advisory_lock(727274)")
            .execute(&mut admin)
            .unwrap();
        let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{template}')"
        )))
        .get_result(&mut admin)
        .unwrap();
        if !exists {
            diesel::sql_query(format!("CREATE DATABASE \"{template}\""))
                .execute(&mut admin)
                .unwrap();
            let mut conn = db::establish(&with_path(admin_url, &template)).unwrap();
            db::run_migrations(&mut conn).unwrap();
        }
        diesel::sql_query(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        ))
        .execute(&mut admin)
        .unwrap();
        diesel::sql_query("SELECT pg_advisory_unlock(727274)")
            .execute(&mut admin)
            .unwrap();
        PgTestDatabase::handed_out(admin_url, name)
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub mail: SmtpSink,
    /// The port of `mail`'s listener (another instance can be pointed at it).
    pub smtp_port: u16,
    pub pool: DbPool,
    /// The server's own database handle: its statement count.
    pub db: rollcall::services::Db,
    pub data_dir: std::path::PathBuf,
    /// The database the server uses (a file path on SQLite).
    pub database_url: String,
    server: actix_web::dev::ServerHandle,
    _pg: Option<PgTestDatabase>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop is sent at once; the server's thread carries it out.
        drop(self.server.stop(false));
    }
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    rollcall::telemetry::init_with_writer(LOG.get_or_init(LogCapture::default).clone());
    let dir = tempfile::tempdir().unwrap();
    let (pg, database_url) = match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let (pg, url) = tokio::task::spawn_blocking(move || PgTestDatabase::create(&admin_url))
                .await
                .unwrap();
            (Some(pg), url)
        }
        _ => (None, dir.path().join("test.sqlite3").display().to_string()),
    };
    let (mail, smtp_port) = SmtpSink::start();
    let mut settings = Settings {
        database_url: SecretString::from(database_url.clone()),
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        smtp_url: Some(SecretString::from(format!("smtp://127.0.0.1:{smtp_port}"))),
        mail_poll_interval: Duration::from_millis(200),
        db_pool_size: 4,
        ..Settings::default()
    };
    customise(&mut settings);
    // The test's own pool opens the database the server was given, customised or not.
    let database_url = settings.database_url().to_owned();
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings)
        .await
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db();
    let server = app.handle();
    // The server runs on a thread of its own, so that it outlives the test's runtime long
    // enough to act on the stop sent when the test's `TestApp` is dropped: otherwise every
    // test would leave its worker threads, pools and hashing threads behind until the
    // process ends.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(app.run_until_stopped())
    });
    let pool = db::build_pool(&database_url, 2).unwrap();
    TestApp {
        address,
        client: new_client(),
        mail,
        smtp_port,
        pool,
        db,
        data_dir,
        server,
        database_url,
        _pg: pg,
        _dir: dir,
    }
}

/// The names in a member list's rows (the Users and Patients tabs).
pub fn names_in(html: &str) -> Vec<String> {
    scraper::Html::parse_document(html)
        .select(&scraper::Selector::parse("tbody td[data-label=Name]").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// The value of `input[name=csrf_token]` (or the csrf meta tag) in a page.
pub fn csrf_in(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let input = scraper::Selector::parse("input[name=csrf_token]").unwrap();
    let meta = scraper::Selector::parse("meta[name=csrf-token]").unwrap();
    doc.select(&input)
        .next()
        .and_then(|e| e.value().attr("value"))
        .or_else(|| {
            doc.select(&meta)
                .next()
                .and_then(|e| e.value().attr("content"))
        })
        .expect("page has a CSRF token")
        .to_owned()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Text of the first element matching `selector`, whitespace-collapsed.
pub fn text_of(html: &str, selector: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel).next().map(|e| {
        e.text()
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
}

pub fn attr_of(html: &str, selector: &str, attr: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(attr))
        .map(str::to_owned)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_with(&self.client, path).await
    }

    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn get_html_with(&self, client: &reqwest::Client, path: &str) -> String {
        self.get_with(client, path).await.text().await.unwrap()
    }

    /// Opens `page` like a browser, then submits its form to `action` with `fields` and the
    /// page's CSRF token.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.submit_with(&self.client, page, action, fields).await
    }

    pub async fn submit_with(
        &self,
        client: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get_with(client, page).await.text().await.unwrap();
        let token = csrf_in(&html);
        for (_, password) in fields
            .iter()
            .filter(|(name, value)| name.to_lowercase().contains("password") && value.len() >= 8)
        {
            remember_secret(password);
        }
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(
        &self,
        first: &str,
        last: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.submit(
            "/register",
            "/register",
            &[
                ("firstName", first),
                ("lastName", last),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Registers `first` (last name "Tester") with `PASSWORD` in a fresh browser, signed in
    /// without a project yet; returns that browser.
    pub async fn registered(&self, first: &str, email: &str) -> reqwest::Client {
        let browser = new_client();
        let r = self
            .submit_with(
                &browser,
                "/register",
                "/register",
                &[
                    ("firstName", first),
                    ("lastName", "Tester"),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "registration failed");
        browser
    }

    /// Registers and creates a first project; the client is then signed in to it.
    pub async fn register_with_project(&self, first: &str, email: &str, project: &str) {
        let r = self.register(first, "Tester", email, PASSWORD).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "registration failed: {}",
            r.text().await.unwrap()
        );
        let r = self.create_project("/register/project", project).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "project creation failed");
    }

    pub async fn create_project(&self, page: &str, name: &str) -> reqwest::Response {
        self.submit(page, page, &[("projectName", name)]).await
    }

    pub async fn sign_in_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.submit_with(
            client,
            "/signin",
            "/signin",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.sign_in_with(&self.client, email, password).await
    }

    pub async fn sign_out(&self) -> reqwest::Response {
        self.submit("/", "/signout", &[]).await
    }

    /// Waits up to 10 s for a message to `to` whose subject contains `subject`.
    pub async fn wait_for_mail(&self, to: &str, subject: &str) -> Mail {
        for _ in 0..100 {
            let found = self
                .mail
                .messages
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m.to == to && m.subject.contains(subject))
                .cloned();
            if let Some(m) = found {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no email to {to} with subject containing {subject:?} arrived");
    }

    /// Waits up to 10 s for a message to `to` whose link differs from `old`'s; its path.
    pub async fn wait_for_new_link(&self, to: &str, subject: &str, old: &str) -> String {
        for _ in 0..100 {
            let latest = self.wait_for_mail(to, subject).await.path();
            if latest != old {
                return latest;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no new link was emailed to {to}");
    }

    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mail
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    pub fn conn(&self) -> db::PooledConn {
        self.pool.get().unwrap()
    }
}

pub const ADMIN_EMAIL: &str = "ada@example.com";

/// An app with Ada signed in as owner and admin of "Clinic".
pub async fn admin_app() -> TestApp {
    let app = spawn_app().await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    app
}

impl TestApp {
    pub async fn invite(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        self.invite_with(&self.client, fields).await
    }

    pub async fn invite_with(
        &self,
        client: &reqwest::Client,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.submit_with(client, "/admin/invite", "/admin/invite", fields)
            .await
    }

    /// Invites a practitioner with email on; returns the membership id.
    pub async fn invite_person(
        &self,
        first: &str,
        last: &str,
        email: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut fields = vec![
            ("resourceType", "Practitioner"),
            ("firstName", first),
            ("lastName", last),
            ("email", email),
            ("sendEmail", "on"),
        ];
        fields.extend_from_slice(extra);
        let r = self.invite(&fields).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "invite failed: {}",
            r.text().await.unwrap()
        );
        self.membership_of(&email.trim().to_lowercase())
    }

    /// The membership id of the user with this email in the admin's project (the only
    /// project here, or the first).
    pub fn membership_of(&self, email: &str) -> String {
        use rollcall::db::schema::{memberships, users};
        memberships::table
            .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
            .filter(users::email.eq(email))
            .select(memberships::id)
            .order(memberships::created_at.asc())
            .first(&mut self.conn())
            .unwrap()
    }

    /// A member of the admin's project: invited (with email), the invitation accepted with
    /// `password` in a fresh browser. Returns the membership id and that browser, signed in.
    pub async fn member(
        &self,
        first: &str,
        last: &str,
        email: &str,
        extra: &[(&str, &str)],
        password: &str,
    ) -> (String, reqwest::Client) {
        let id = self.invite_person(first, last, email, extra).await;
        let browser = self.accept_invite(email, password).await;
        (id, browser)
    }

    /// An access policy made on its page, with `fields` (`name`, `rule[N]....`); its id.
    pub async fn create_policy(&self, fields: &[(&str, &str)]) -> String {
        let r = self
            .submit(
                "/admin/access-policies/new",
                "/admin/access-policies/new",
                fields,
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "policy not saved");
        location(&r).rsplit('/').next().unwrap().to_owned()
    }

    /// An access policy named `name` that lets a patient see only their own compartment; its id.
    pub async fn patient_self_policy(&self, name: &str) -> String {
        self.create_policy(&[
            ("name", name),
            ("rule[0].resourceType", "Patient"),
            ("rule[0].criteria", "_compartment=%patient"),
        ])
        .await
    }

    /// Gives these profiles a (1×1 PNG) photo, straight in the database.
    pub fn give_photos(&self, profile_ids: &[String]) {
        use rollcall::db::schema::profiles;
        diesel::update(profiles::table.filter(profiles::id.eq_any(profile_ids)))
            .set((
                profiles::photo.eq(Some(png_claiming(1, 1))),
                profiles::photo_content_type.eq(Some("image/png")),
                profiles::photo_updated_at.eq(Some(chrono::Utc::now().naive_utc())),
            ))
            .execute(&mut self.conn())
            .unwrap();
    }

    /// Accepts an invite from its email in a fresh browser; returns that browser, signed in.
    pub async fn accept_invite(&self, email: &str, password: &str) -> reqwest::Client {
        let mail = self.wait_for_mail(email, "invited").await;
        let browser = new_client();
        let path = mail.path();
        let r = self
            .submit_with(
                &browser,
                &path,
                &path,
                &[("password", password), ("confirmPassword", password)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // Setting the password from an invitation signs the person in.
        assert_eq!(location(&r), "/");
        browser
    }
}

/// A small PNG whose header claims `width`×`height` pixels (CRC fixed up): what a decoder
/// sees first, without the cost of building a real huge image.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::new(16, 16));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    // Signature (8) + IHDR length (4) + "IHDR" (4): width and height follow.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A client application's credentials, as the Clients tab showed them.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: String,
}

/// What an API call answered.
#[derive(Debug)]
pub struct ApiAnswer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl ApiAnswer {
    /// The first issue's text of an OperationOutcome.
    pub fn issue_text(&self) -> String {
        self.body["issue"][0]["details"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn issue_field(&self) -> String {
        self.body["issue"][0]["expression"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl TestApp {
    /// The id of the signed-in admin's current project.
    pub fn project_id(&self) -> String {
        self.project_id_of("Clinic")
    }

    pub fn project_id_of(&self, name: &str) -> String {
        use rollcall::db::schema::projects;
        projects::table
            .filter(projects::name.eq(name))
            .select(projects::id)
            .first(&mut self.conn())
            .unwrap()
    }

    /// Creates a client on the Clients tab as the signed-in admin; the secret is read from
    /// the page it lands on.
    pub async fn create_client(&self, name: &str, extra: &[(&str, &str)]) -> ClientCredentials {
        let mut fields = vec![("name", name)];
        fields.extend_from_slice(extra);
        let r = self
            .submit("/admin/clients/new", "/admin/clients/new", &fields)
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "client creation failed: {}",
            r.text().await.unwrap()
        );
        let page = location(&r);
        let html = self.get_html(&page).await;
        let secret = attr_of(&html, "#client-secret", "value").expect("secret shown once");
        remember_secret(&secret);
        ClientCredentials {
            id: page.rsplit('/').next().unwrap().to_owned(),
            secret,
        }
    }

    /// An admin client of the admin's project.
    pub async fn admin_client(&self) -> ClientCredentials {
        self.create_client("Integration", &[("admin", "on")]).await
    }

    pub async fn token_answer(&self, form: &[(&str, &str)]) -> ApiAnswer {
        let r = reqwest::Client::new()
            .post(self.url("/oauth2/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    /// A bearer token for the client (client_credentials in the form body).
    pub async fn token(&self, client: &ClientCredentials) -> String {
        let a = self
            .token_answer(&[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", &client.secret),
            ])
            .await;
        assert_eq!(a.status, StatusCode::OK, "token refused: {:?}", a.body);
        let token = a.body["access_token"].as_str().unwrap().to_owned();
        remember_secret(&token);
        token
    }

    /// Sends `method path` with a bearer token and an optional JSON body.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> ApiAnswer {
        let mut request = reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn api_get(&self, path: &str, token: &str) -> ApiAnswer {
        self.api(reqwest::Method::GET, path, token, None).await
    }

    pub async fn api_post(&self, path: &str, token: &str, body: serde_json::Value) -> ApiAnswer {
        self.api(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// `POST /admin/projects/{project}/invite` with a bearer token.
    pub async fn api_invite(&self, token: &str, body: serde_json::Value) -> ApiAnswer {
        let path = format!("/admin/projects/{}/invite", self.project_id());
        self.api_post(&path, token, body).await
    }

    /// Sends a JSON Patch to a path.
    pub async fn api_patch(&self, path: &str, token: &str, ops: serde_json::Value) -> ApiAnswer {
        let r = reqwest::Client::new()
            .patch(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json-patch+json")
            .body(ops.to_string())
            .send()
            .await
            .unwrap();
        answer(r).await
    }
}

pub async fn answer(r: reqwest::Response) -> ApiAnswer {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    ApiAnswer {
        status,
        headers,
        body,
    }
}

/// How many audit events of this action were recorded.
pub fn audited(app: &TestApp, action: &str) -> i64 {
    use rollcall::db::schema::audit_events;
    audit_events::table
        .filter(audit_events::action.eq(action))
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

/// The membership still exists.
pub fn exists(app: &TestApp, membership_id: &str) -> bool {
    rollcall::db::schema::memberships::table
        .filter(rollcall::db::schema::memberships::id.eq(membership_id))
        .count()
        .get_result::<i64>(&mut app.conn())
        .unwrap()
        == 1
}

/// `n` sign-ins to `email` with a wrong password, each from its own browser, sent at once;
/// their answers' statuses.
pub async fn wrong_passwords_at_once(app: &TestApp, email: &str, n: usize) -> Vec<StatusCode> {
    let mut attempts = Vec::new();
    for _ in 0..n {
        let browser = new_client();
        let page = app.get_html_with(&browser, "/signin").await;
        attempts.push((browser, csrf_in(&page)));
    }
    let sent = attempts.iter().map(|(browser, token)| {
        browser
            .post(app.url("/signin"))
            .form(&[
                ("email", email),
                ("password", "wrong password!"),
                ("csrf_token", token.as_str()),
            ])
            .send()
    });
    futures_util::future::join_all(sent)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect()
}

/// Another person with a project of their own ("Elsewhere"): signed in, its admin.
pub async fn other_admin(app: &TestApp) -> reqwest::Client {
    let other = app.registered("Mallory", "mallory@example.com").await;
    let r = app
        .submit_with(
            &other,
            "/register/project",
            "/register/project",
            &[("projectName", "Elsewhere")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    other
}

/// Confirms the signed-in `browser`'s address the way its owner does: the link from the
/// Invitations page, emailed, opened and confirmed. Accepting an invitation needs it.
pub async fn confirm_address(app: &TestApp, browser: &reqwest::Client, email: &str) {
    let r = app
        .submit_with(browser, "/invitations", "/invitations/verify-email", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let link = app.wait_for_mail(email, "Confirm your email").await.path();
    let page = app.get_with(browser, &link).await;
    assert_eq!(page.status(), StatusCode::OK);
    let r = app.submit_with(browser, &link, &link, &[]).await;
    assert_eq!(location(&r), "/invitations");
}

impl TestApp {
    /// `POST` of a JSON body without credentials (the sign-in stages, sign-up, a reset).
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> ApiAnswer {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    /// A person's tokens through `/auth/login` and the code (one project, no second factor:
    /// the code comes at once), with this scope.
    pub async fn person_tokens(&self, email: &str, password: &str, scope: &str) -> ApiAnswer {
        const VERIFIER: &str = "a-plain-verifier-that-is-long-enough-0123456789";
        let a = self
            .post_json(
                "/auth/login",
                serde_json::json!({"email": email, "password": password, "scope": scope,
                    "codeChallenge": VERIFIER, "codeChallengeMethod": "plain"}),
            )
            .await;
        let code = a.body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{:?}", a.body))
            .to_owned();
        let tokens = self
            .token_answer(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ])
            .await;
        assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = tokens.body[key].as_str() {
                remember_secret(t);
            }
        }
        tokens
    }
}

/// The real binary, `rollcall`, serving `database_url` on a port of its own as an operator
/// starts it: configured by environment variables alone (`env` adds to the database, data
/// folder and address). It logs into the run's record, when there is one.
pub struct ServerProcess {
    child: std::process::Child,
    pub address: String,
}

impl ServerProcess {
    pub async fn start(
        database_url: &str,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = match run_record_dir() {
            Some(dir) => {
                std::fs::create_dir_all(&dir).unwrap();
                let name = format!("log-server-{}-{}", std::process::id(), uuid::Uuid::new_v4());
                std::process::Stdio::from(std::fs::File::create(dir.join(name)).unwrap())
            }
            None => std::process::Stdio::null(),
        };
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ROLLCALL_DATABASE_URL", database_url)
            .env("ROLLCALL_DATA_DIR", data_dir)
            .env("ROLLCALL_BIND", format!("127.0.0.1:{port}"))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let address = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{address}/readyz")).await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ServerProcess { child, address }
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key ids a JWKS document lists.
pub fn kids_in(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// What `PRAGMA integrity_check` says of this SQLite connection's database (`["ok"]` when whole).
pub fn integrity_of(conn: &mut db::DbConn) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    diesel::sql_query("PRAGMA integrity_check")
        .load::<Check>(conn)
        .unwrap()
        .into_iter()
        .map(|c| c.integrity_check)
        .collect()
}

/// Sign-in limits lifted far out of reach, for tests that sign in (or fail to) many times.
pub fn lift_signin_limits(settings: &mut Settings) {
    let l = &mut settings.limits;
    l.signin_failures_per_ip = 10_000;
    l.signin_failures_per_account_and_ip = 10_000;
    l.signin_failures_per_account = 10_000;
}

/// How many accounts have this address.
pub fn accounts_with(app: &TestApp, email: &str) -> i64 {
    use rollcall::db::schema::users;
    users::table
        .filter(users::email.eq(email))
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

impl TestApp {
    /// Waits up to `limit` until no message in the outbox waits to be sent; fails otherwise.
    pub async fn wait_until_outbox_sent(&self, limit: Duration) {
        use rollcall::db::schema::outbox;
        let started = std::time::Instant::now();
        loop {
            let waiting: i64 = outbox::table
                .filter(outbox::sent_at.is_null())
                .count()
                .get_result(&mut self.conn())
                .unwrap();
            if waiting == 0 {
                return;
            }
            assert!(started.elapsed() < limit, "{waiting} emails never sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
