//! The server process killed (`kill -9`) in the middle of a burst of invites, then started
//! again on the same database: every invite is whole or absent, the database is intact, and
//! the mail that was queued goes out once.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use rollcall::db::schema::{audit_events, memberships, outbox, profiles, security_requests, users};
use serde_json::json;

use crate::helpers::*;

/// How much of the invite of `email` exists: account, profile, membership, set-password link,
/// queued email, audit event (each 0 or 1).
fn parts_of(app: &TestApp, email: &str) -> [i64; 6] {
    let conn = &mut app.conn();
    let user: Option<String> = users::table
        .filter(users::email.eq(email))
        .select(users::id)
        .first(conn)
        .optional()
        .unwrap();
    let membership: Option<String> = memberships::table
        .inner_join(profiles::table)
        .filter(profiles::email.eq(email))
        .select(memberships::id)
        .first(conn)
        .optional()
        .unwrap();
    let count = |n: i64| n.min(1);
    [
        i64::from(user.is_some()),
        count(
            profiles::table
                .filter(profiles::email.eq(email))
                .count()
                .get_result(conn)
                .unwrap(),
        ),
        i64::from(membership.is_some()),
        match &user {
            Some(id) => count(
                security_requests::table
                    .filter(security_requests::user_id.eq(id))
                    .count()
                    .get_result(conn)
                    .unwrap(),
            ),
            None => 0,
        },
        count(
            outbox::table
                .filter(outbox::to_address.eq(email))
                .count()
                .get_result(conn)
                .unwrap(),
        ),
        match &membership {
            Some(id) => count(
                audit_events::table
                    .filter(audit_events::action.eq("member.invited"))
                    .filter(audit_events::target_id.eq(id))
                    .count()
                    .get_result(conn)
                    .unwrap(),
            ),
            None => 0,
        },
    ]
}

#[tokio::test]
async fn a_server_killed_during_a_burst_of_invites_restarts_with_each_whole_or_absent_and_mails_once()
 {
    // The test's own instance sets up the project and reads the database; it sends no mail
    // of its own meanwhile (its worker polls once an hour).
    let app = spawn_app_with(|s| s.mail_poll_interval = Duration::from_secs(3600)).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let client = app.admin_client().await;
    let project = app.project_id();
    let data = tempfile::tempdir().unwrap();
    // Mail is down while the burst runs, so no delivery can be cut off half-way by the kill.
    let down = "smtp://127.0.0.1:9";
    let mut server = ServerProcess::start(
        &app.database_url,
        data.path(),
        &[("ROLLCALL_SMTP_URL", down)],
    )
    .await;

    let token = {
        let r = reqwest::Client::new()
            .post(format!("{}/oauth2/token", server.address))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client.id.as_str()),
                ("client_secret", client.secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    remember_secret(&token);
    let addresses: Vec<String> = (0..120).map(|i| format!("crash{i}@example.com")).collect();
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let sends = addresses.iter().enumerate().map(|(i, email)| {
        let (address, token, project) = (server.address.clone(), token.clone(), project.clone());
        let (email, answered) = (email.clone(), &answered);
        async move {
            // Spread over 1.2 s, so that the kill lands in the middle.
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            let r = reqwest::Client::new()
                .post(format!("{address}/admin/projects/{project}/invite"))
                .bearer_auth(token)
                .json(
                    &json!({"resourceType": "Practitioner", "firstName": "Crash",
                    "lastName": format!("Test{i}"), "email": email, "sendEmail": true}),
                )
                .send()
                .await
                .map(|r| r.status());
            if r.as_ref().is_ok_and(|s| s.is_success()) {
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            r
        }
    });
    let burst = futures_util::future::join_all(sends);
    // Once a few invites are answered (however slow the machine), and not before 0.3 s.
    let kill = async {
        let started = Instant::now();
        while answered.load(std::sync::atomic::Ordering::SeqCst) < 5
            || started.elapsed() < Duration::from_millis(300)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
    };
    let (answers, ()) = tokio::join!(burst, kill);
    let confirmed: Vec<&String> = addresses
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.as_ref().is_ok_and(|s| s.is_success()))
        .map(|(e, _)| e)
        .collect();
    let cut_off = answers.iter().filter(|a| a.is_err()).count();
    assert!(
        !confirmed.is_empty() && cut_off > 0,
        "the kill landed mid-burst: {} confirmed, {cut_off} cut off",
        confirmed.len()
    );

    // Started again, on the same database, with mail working.
    let (sink, smtp_port) = SmtpSink::start();
    let smtp = format!("smtp://127.0.0.1:{smtp_port}");
    let _again = ServerProcess::start(
        &app.database_url,
        data.path(),
        &[("ROLLCALL_SMTP_URL", &smtp)],
    )
    .await;
    if !app.database_url.starts_with("postgres") {
        assert_eq!(integrity_of(&mut app.conn()), ["ok"]);
    }
    let mut whole = Vec::new();
    for email in &addresses {
        let parts = parts_of(&app, email);
        assert!(
            parts == [1; 6] || parts == [0; 6],
            "{email} is half there: {parts:?}"
        );
        if parts == [1; 6] {
            whole.push(email);
        }
    }
    for email in &confirmed {
        assert!(
            whole.contains(email),
            "{email} was confirmed but is missing"
        );
    }
    // What the killed server had claimed stays leased to it for a while, and the failed
    // attempts wait out their backoff: both skipped here rather than waited for.
    diesel::update(outbox::table)
        .set((
            outbox::next_attempt_at.eq(chrono::Utc::now().naive_utc()),
            outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_until_outbox_sent(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = sink.messages.lock().unwrap().clone();
    for email in &whole {
        assert_eq!(
            messages.iter().filter(|m| &&m.to == email).count(),
            1,
            "{email}"
        );
    }
    eprintln!(
        "{} of {} invites answered before the kill, {} whole after the restart",
        confirmed.len(),
        addresses.len(),
        whole.len()
    );
}
