//! Delivery: one transport built at start (pooled SMTP, or .eml files when no SMTP server is
//! configured) and a background worker that drains the outbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use super::outbox;
use super::{Db, ServiceError};
use crate::config::Settings;
use crate::db::models::OutboxMessage;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in this folder, one per outbox message, named by its id.
    Files(PathBuf),
}

/// Writes `bytes` to `dir/{name}` so that the file is either absent or whole, even when the
/// process is killed mid-write: a temporary file beside the folder (so that nothing reading
/// the folder sees it), flushed to disk, then renamed.
fn write_atomically(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let scratch = dir.with_extension("partial");
    std::fs::create_dir_all(&scratch)?;
    let temporary = scratch.join(name);
    let path = dir.join(name);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}

/// Why a delivery failed, and whether trying again could help.
struct Failure {
    error: String,
    permanent: bool,
}

impl Failure {
    fn permanent(error: String) -> Failure {
        Failure {
            error,
            permanent: true,
        }
    }

    fn transient(error: String) -> Failure {
        Failure {
            error,
            permanent: false,
        }
    }
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> Result<Mailer, anyhow::Error> {
        let from: Mailbox = settings
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("ROLLCALL_MAIL_FROM: {e}"))?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("ROLLCALL_SMTP_URL: {e}"))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => {
                let dir = settings.data_dir.join("mail");
                std::fs::create_dir_all(&dir)?;
                Transport::Files(dir)
            }
        };
        Ok(Mailer { transport, from })
    }

    async fn send(&self, message: &OutboxMessage) -> Result<(), Failure> {
        let to: Mailbox = message
            .to_address
            .parse()
            .map_err(|e| Failure::permanent(format!("bad recipient: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.text_body.clone(),
                message.html_body.clone(),
            ))
            .map_err(|e| Failure::permanent(format!("cannot build message: {e}")))?;
        match &self.transport {
            // A 5xx answer (no such mailbox, refused) will not change by trying again; a
            // server that is down, slow or answers 4xx might.
            Transport::Smtp(smtp) => smtp.send(email).await.map(|_| ()).map_err(|e| Failure {
                permanent: e.is_permanent(),
                error: e.to_string(),
            }),
            Transport::Files(dir) => {
                // Named by the outbox id: delivering the same message again rewrites one file.
                let (dir, name, bytes) = (
                    dir.clone(),
                    format!("{}.eml", message.id),
                    email.formatted(),
                );
                let path =
                    tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
                        .await
                        .map_err(|e| Failure::transient(format!("file task: {e}")))?
                        .map_err(|e| {
                            Failure::transient(format!("cannot write the email file: {e}"))
                        })?;
                tracing::info!(path = %path.display(), subject = %message.subject, "email written to file");
                Ok(())
            }
        }
    }
}

/// Wakes the worker when a request has queued mail, so it need not wait for its next poll.
#[derive(Clone, Default)]
pub struct MailSignal(Arc<Notify>);

impl MailSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Delivers due messages until the process stops.
pub async fn run_worker(db: Db, mailer: Arc<Mailer>, signal: MailSignal, poll: Duration) {
    loop {
        let batch_full = match deliver_due(&db, &mailer).await {
            Ok(n) => n >= 20,
            Err(e) => {
                tracing::error!(error = %e, "mail worker could not read the outbox");
                false
            }
        };
        if !batch_full {
            tokio::select! {
                _ = signal.0.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// Records a delivery. The message has left: a failure to record it (a database too busy for
/// a moment) is retried rather than given up, or the message's lease would run out and it
/// would be sent again.
async fn mark_sent(db: &Db, id: &str) {
    let mut wait = Duration::from_millis(100);
    loop {
        let id = id.to_owned();
        match db.run(move |c| outbox::mark_sent(c, &id)).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not record a delivered email; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn deliver_due(db: &Db, mailer: &Mailer) -> Result<usize, ServiceError> {
    let messages = db.run(outbox::claim_due).await?;
    let count = messages.len();
    for message in messages {
        match mailer.send(&message).await {
            Ok(()) => mark_sent(db, &message.id).await,
            Err(Failure { error, permanent }) => {
                tracing::warn!(message_id = %message.id, attempt = message.attempts + 1, permanent, %error, "email delivery failed");
                db.run(move |c| outbox::mark_failed(c, &message, &error, permanent))
                    .await?;
            }
        }
    }
    Ok(count)
}
