//! Delivery: one transport built at start (pooled SMTP, or .eml files when no SMTP server is
//! configured) and a background worker that drains the outbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use super::outbox;
use super::{Db, ServiceError};
use crate::config::Settings;
use crate::db::models::OutboxMessage;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
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
                Transport::Files {
                    transport: AsyncFileTransport::new(&dir),
                    dir,
                }
            }
        };
        Ok(Mailer { transport, from })
    }

    async fn send(&self, message: &OutboxMessage) -> Result<(), String> {
        let to: Mailbox = message
            .to_address
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.text_body.clone(),
                message.html_body.clone(),
            ))
            .map_err(|e| format!("cannot build message: {e}"))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Transport::Files { transport, dir } => {
                let id = transport.send(email).await.map_err(|e| e.to_string())?;
                let path = dir.join(format!("{id}.eml"));
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

async fn deliver_due(db: &Db, mailer: &Mailer) -> Result<usize, ServiceError> {
    let messages = db.run(outbox::claim_due).await?;
    let count = messages.len();
    for message in messages {
        match mailer.send(&message).await {
            Ok(()) => {
                let id = message.id.clone();
                db.run(move |c| outbox::mark_sent(c, &id)).await?;
            }
            Err(error) => {
                tracing::warn!(message_id = %message.id, attempt = message.attempts + 1, %error, "email delivery failed");
                db.run(move |c| outbox::mark_failed(c, &message, &error))
                    .await?;
            }
        }
    }
    Ok(count)
}
