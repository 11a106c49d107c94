//! Typed settings: defaults in code, overlaid with `ROLLCALL_*` environment variables.
//! A malformed value, or a `ROLLCALL_` variable we do not know (usually a typo), stops
//! start-up with a message naming the variable.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Open,
    Closed,
}

/// How many attempts the abuse throttles allow.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wrong passwords for one account from one address: tight, as a guesser has one address.
    pub signin_failures_per_account_and_ip: u32,
    /// Wrong passwords for one account from everywhere: loose, so that a stranger cannot lock
    /// the owner out, while a guesser with many addresses is still slowed.
    pub signin_failures_per_account: u32,
    pub signin_failures_per_ip: u32,
    pub signin_window: Duration,
    /// Reset emails to one address asked for from one client address (tight), and from
    /// anywhere (loose, so that a stranger cannot keep the owner from resetting).
    pub reset_requests_per_email_and_ip: u32,
    pub reset_requests_per_email: u32,
    pub reset_requests_per_ip: u32,
    pub reset_window: Duration,
    pub invites_per_admin: u32,
    pub invites_per_ip: u32,
    pub invite_window: Duration,
    /// Emails one project's admins make Rollcall send to one address (invitation, resend,
    /// password reset), and all projects' admins together.
    pub admin_emails_per_target: u32,
    pub admin_emails_per_address: u32,
    pub admin_email_window: Duration,
    /// Wrong two-factor codes for one account, whatever the session.
    pub mfa_failures_per_account: u32,
    pub mfa_window: Duration,
    /// New accounts from one address (the sign-up page and `/auth/newuser`).
    pub registrations_per_ip: u32,
    pub registration_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            signin_failures_per_account_and_ip: 5,
            signin_failures_per_account: 100,
            signin_failures_per_ip: 50,
            signin_window: Duration::from_secs(15 * 60),
            reset_requests_per_email_and_ip: 3,
            reset_requests_per_email: 10,
            reset_requests_per_ip: 20,
            reset_window: Duration::from_secs(60 * 60),
            invites_per_admin: 200,
            invites_per_ip: 400,
            invite_window: Duration::from_secs(60 * 60),
            admin_emails_per_target: 3,
            admin_emails_per_address: 20,
            admin_email_window: Duration::from_secs(60 * 60),
            mfa_failures_per_account: 5,
            mfa_window: Duration::from_secs(15 * 60),
            registrations_per_ip: 20,
            registration_window: Duration::from_secs(60 * 60),
        }
    }
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub bind: String,
    /// The address people reach Rollcall at; when unset, `http://` + the bound address.
    pub base_url: Option<Url>,
    pub data_dir: PathBuf,
    pub session_key: Option<SecretString>,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub registration: Registration,
    pub session_idle_timeout: Duration,
    pub session_lifetime: Duration,
    pub mail_poll_interval: Duration,
    pub db_pool_size: u32,
    /// Threads that hash passwords, and how many requests may wait for one.
    pub hash_workers: usize,
    pub hash_queue: usize,
    pub limits: Limits,
    /// Browser origins (`https://app.example.com`) allowed to call the API besides those of
    /// client applications' redirect URIs.
    pub cors_origins: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

fn bad(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: message.into(),
    }
}

impl Default for Settings {
    fn default() -> Self {
        let data_dir = PathBuf::from("data");
        Settings {
            database_url: SecretString::from(
                data_dir.join("rollcall.sqlite3").display().to_string(),
            ),
            bind: "127.0.0.1:8080".into(),
            base_url: None,
            data_dir,
            session_key: None,
            smtp_url: None,
            mail_from: "Rollcall <rollcall@localhost>".into(),
            registration: Registration::Open,
            session_idle_timeout: Duration::from_secs(12 * 60 * 60),
            session_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            mail_poll_interval: Duration::from_secs(2),
            db_pool_size: 10,
            hash_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_queue: 64,
            limits: Limits::default(),
            cors_origins: Vec::new(),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_vars(std::env::vars())
    }

    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("ROLLCALL_"))
            .collect();
        if let Some(unknown) = vars.keys().find(|k| !VARIABLES.iter().any(|(n, _)| n == k)) {
            let known: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
            return Err(bad(
                unknown,
                format!("unknown setting; known ones are {}", known.join(", ")),
            ));
        }
        let mut s = Settings::default();
        for (name, apply) in VARIABLES {
            let value = vars.get(*name).map(|v| v.trim()).filter(|v| !v.is_empty());
            if let Some(value) = value {
                apply(&mut s, value).map_err(|message| bad(name, message))?;
            }
        }
        Ok(s)
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }
}

/// Reads one variable's value into the settings, or says what was expected.
type Apply = fn(&mut Settings, &str) -> Result<(), String>;

/// Every `ROLLCALL_*` variable, applied in this order (the data folder before the database
/// URL that defaults into it); any other `ROLLCALL_*` variable is an error.
const VARIABLES: &[(&str, Apply)] = &[
    ("ROLLCALL_DATA_DIR", |s, dir| {
        s.data_dir = PathBuf::from(dir);
        s.database_url =
            SecretString::from(s.data_dir.join("rollcall.sqlite3").display().to_string());
        Ok(())
    }),
    ("ROLLCALL_DATABASE_URL", |s, url| {
        let schemes = ["postgres://", "postgresql://", "sqlite://"];
        if url.contains("://") && !schemes.iter().any(|p| url.starts_with(p)) {
            return Err("expected postgres://..., sqlite://... or a file path".into());
        }
        s.database_url = SecretString::from(url.to_owned());
        Ok(())
    }),
    ("ROLLCALL_BIND", |s, bind| {
        bind.parse::<std::net::SocketAddr>()
            .map_err(|_| "expected an address and port such as 127.0.0.1:8080")?;
        s.bind = bind.to_owned();
        Ok(())
    }),
    ("ROLLCALL_BASE_URL", |s, base| {
        let url = Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or("expected an http:// or https:// URL")?;
        s.base_url = Some(url);
        Ok(())
    }),
    ("ROLLCALL_SESSION_KEY", |s, key| {
        if key.len() < 64 {
            return Err("must be at least 64 characters".into());
        }
        s.session_key = Some(SecretString::from(key.to_owned()));
        Ok(())
    }),
    ("ROLLCALL_SMTP_URL", |s, smtp| {
        if !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://")) {
            return Err("expected smtp://host:port or smtps://user:pass@host".into());
        }
        s.smtp_url = Some(SecretString::from(smtp.to_owned()));
        Ok(())
    }),
    ("ROLLCALL_MAIL_FROM", |s, from| {
        from.parse::<lettre::message::Mailbox>()
            .map_err(|_| "expected an address such as Rollcall <rollcall@example.com>")?;
        s.mail_from = from.to_owned();
        Ok(())
    }),
    ("ROLLCALL_REGISTRATION", |s, reg| {
        s.registration = match reg {
            "open" => Registration::Open,
            "closed" => Registration::Closed,
            _ => return Err("expected open or closed".into()),
        };
        Ok(())
    }),
    ("ROLLCALL_SESSION_IDLE_MINUTES", |s, v| {
        s.session_idle_timeout = Duration::from_secs(60 * positive(v)?);
        Ok(())
    }),
    ("ROLLCALL_SESSION_LIFETIME_DAYS", |s, v| {
        s.session_lifetime = Duration::from_secs(86_400 * positive(v)?);
        Ok(())
    }),
    ("ROLLCALL_DB_POOL_SIZE", |s, v| {
        s.db_pool_size = u32::try_from(positive(v)?.min(256)).unwrap_or(256);
        Ok(())
    }),
    // One address for many people (a clinic behind one NAT, a load test) needs more room.
    ("ROLLCALL_SIGNIN_FAILURES_PER_IP", |s, v| {
        s.limits.signin_failures_per_ip = u32::try_from(positive(v)?).unwrap_or(u32::MAX);
        Ok(())
    }),
    ("ROLLCALL_INVITES_PER_HOUR", |s, v| {
        let n = u32::try_from(positive(v)?).unwrap_or(u32::MAX / 2);
        s.limits.invites_per_admin = n;
        s.limits.invites_per_ip = n.saturating_mul(2);
        Ok(())
    }),
    ("ROLLCALL_HASH_WORKERS", |s, v| {
        s.hash_workers = usize::try_from(positive(v)?.min(64)).unwrap_or(64);
        Ok(())
    }),
    ("ROLLCALL_CORS_ORIGINS", |s, v| {
        s.cors_origins = v
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                Url::parse(o)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/")
                    .map(|u| u.origin().ascii_serialization())
                    .ok_or_else(|| format!("{o} is not an origin such as https://app.example.com"))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }),
    ("ROLLCALL_HASH_QUEUE", |s, v| {
        s.hash_queue = usize::try_from(positive(v)?.min(10_000)).unwrap_or(10_000);
        Ok(())
    }),
];

fn positive(v: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "expected a whole number greater than 0".into())
}

/// Shows every setting but the secrets (database URLs may hold passwords).
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "[redacted]" } else { "[not set]" };
        f.debug_struct("Settings")
            .field("database_url", &redacted(true))
            .field("bind", &self.bind)
            .field("base_url", &self.base_url.as_ref().map(Url::as_str))
            .field("data_dir", &self.data_dir)
            .field("session_key", &redacted(self.session_key.is_some()))
            .field("smtp_url", &redacted(self.smtp_url.is_some()))
            .field("mail_from", &self.mail_from)
            .field("registration", &self.registration)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_lifetime", &self.session_lifetime)
            .field("hash_workers", &self.hash_workers)
            .field("hash_queue", &self.hash_queue)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_variables() {
        let s = Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap();
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.registration, Registration::Open);
        assert!(s.database_url().ends_with("rollcall.sqlite3"));
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        let e = Settings::from_vars(vars(&[("ROLLCALL_REGISTRATION", "maybe")])).unwrap_err();
        assert_eq!(e.variable, "ROLLCALL_REGISTRATION");
        let e = Settings::from_vars(vars(&[("ROLLCALL_BIND", "localhost")])).unwrap_err();
        assert_eq!(e.variable, "ROLLCALL_BIND");
        let e = Settings::from_vars(vars(&[("ROLLCALL_SESSION_KEY", "short")])).unwrap_err();
        assert_eq!(e.variable, "ROLLCALL_SESSION_KEY");
        let e = Settings::from_vars(vars(&[("ROLLCALL_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert_eq!(e.variable, "ROLLCALL_DATABASE_URL");
    }

    #[test]
    fn an_unknown_rollcall_variable_is_refused() {
        let e = Settings::from_vars(vars(&[("ROLLCALL_DATABSE_URL", "x")])).unwrap_err();
        assert_eq!(e.variable, "ROLLCALL_DATABSE_URL");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings::from_vars(vars(&[
            ("ROLLCALL_DATABASE_URL", "postgres://u:hunter2@db/rollcall"),
            ("ROLLCALL_SMTP_URL", "smtp://u:swordfish@mail:25"),
        ]))
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("swordfish"));
    }
}
