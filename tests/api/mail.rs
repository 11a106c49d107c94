use std::collections::HashSet;

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::outbox as outbox_table;
use rollcall::services::emails::Email;
use rollcall::services::outbox;

use crate::helpers::*;

#[tokio::test]
async fn a_failing_mail_server_loses_nothing_and_the_message_is_retried_later() {
    // Port 9 on loopback: nothing listens there, so every delivery attempt fails.
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(secrecy::SecretString::from("smtp://127.0.0.1:9".to_owned()));
    })
    .await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::OK,
        "the project was created"
    );

    let mut row = None;
    for _ in 0..100 {
        let found: (String, i32, Option<String>) = outbox_table::table
            .select((
                outbox_table::status,
                outbox_table::attempts,
                outbox_table::last_error,
            ))
            .first(&mut app.conn())
            .unwrap();
        if found.1 > 0 {
            row = Some(found);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, attempts, last_error) = row.expect("a delivery was attempted");
    assert_eq!(status, "queued", "still waiting for a retry");
    assert_eq!(attempts, 1);
    assert!(last_error.is_some());
}

#[tokio::test]
async fn without_smtp_messages_are_written_as_eml_files() {
    let app = spawn_app_with(|s| s.smtp_url = None).await;
    app.register_with_project("Ada", "ada@example.com", "File Project")
        .await;
    let dir = app.data_dir.join("mail");
    for _ in 0..100 {
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        if let Some(file) = files.first() {
            assert!(file.path().extension().is_some_and(|e| e == "eml"));
            let content = std::fs::read_to_string(file.path()).unwrap();
            assert!(content.contains("File Project"));
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no .eml file was written");
}

#[tokio::test]
async fn two_workers_claiming_at_once_never_take_the_same_message() {
    // The app's own worker polls once at start and then sleeps: only the two below claim.
    let app = spawn_app_with(|s| {
        s.smtp_url = None;
        s.mail_poll_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut conn = app.conn();
    for i in 0..40 {
        let email = Email {
            to: format!("user{i}@example.com"),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        };
        outbox::enqueue(&mut conn, &email).unwrap();
    }
    drop(conn);
    let claim = |pool: rollcall::db::DbPool| {
        std::thread::spawn(move || {
            let mut conn = pool.get().unwrap();
            let mut ids = Vec::new();
            loop {
                let batch = outbox::claim_due(&mut conn).unwrap();
                if batch.is_empty() {
                    return ids;
                }
                ids.extend(batch.into_iter().map(|m| m.id));
            }
        })
    };
    let a = claim(app.pool.clone());
    let b = claim(app.pool.clone());
    let a = a.join().unwrap();
    let b = b.join().unwrap();
    let a: HashSet<_> = a.into_iter().collect();
    let b: HashSet<_> = b.into_iter().collect();
    assert!(a.is_disjoint(&b), "a message was claimed twice");
    assert_eq!(a.len() + b.len(), 40, "every message was claimed once");
}

/// Waits up to 20 s until `done` holds of the outbox's rows (status, attempts).
async fn wait_for_outbox(
    app: &TestApp,
    done: impl Fn(&[(String, i32)]) -> bool,
) -> Vec<(String, i32)> {
    let mut rows = Vec::new();
    for _ in 0..200 {
        rows = outbox_table::table
            .select((outbox_table::status, outbox_table::attempts))
            .load::<(String, i32)>(&mut app.conn())
            .unwrap();
        if done(&rows) {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the outbox did not settle: {rows:?}");
}

#[tokio::test]
async fn two_hundred_invites_during_a_mail_outage_all_succeed_and_each_is_sent_once_when_it_ends() {
    // A port with nothing listening: the mail server is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(move |s| {
        s.smtp_url = Some(secrecy::SecretString::from(format!(
            "smtp://127.0.0.1:{port}"
        )));
        s.limits.invites_per_admin = 1_000;
        s.limits.invites_per_ip = 1_000;
    })
    .await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let token = app.token(&app.admin_client().await).await;
    let addresses: Vec<String> = (0..200).map(|i| format!("outage{i}@example.com")).collect();
    for email in &addresses {
        let a = app
            .api_invite(
                &token,
                serde_json::json!({"resourceType": "Practitioner", "firstName": "Out",
                    "lastName": "Age", "email": email, "sendEmail": true}),
            )
            .await;
        assert!(a.status.is_success(), "{:?}", a.body);
    }
    // Every message was tried, failed, and waits for a retry (none given up, none lost).
    let rows = wait_for_outbox(&app, |rows| rows.iter().all(|(_, attempts)| *attempts >= 1)).await;
    assert!(rows.len() >= 200);
    assert!(
        rows.iter().all(|(status, _)| status == outbox::QUEUED),
        "{rows:?}"
    );
    let later: i64 = outbox_table::table
        .filter(outbox_table::next_attempt_at.gt(chrono::Utc::now().naive_utc()))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(later, rows.len() as i64, "each retry waits (backoff)");

    // The mail server comes back; the backoff's wait is skipped rather than slept through.
    let (sink, _) = SmtpSink::start_on(port);
    diesel::update(outbox_table::table)
        .set(outbox_table::next_attempt_at.eq(chrono::Utc::now().naive_utc()))
        .execute(&mut app.conn())
        .unwrap();
    wait_for_outbox(&app, |rows| {
        rows.iter().all(|(status, _)| status == outbox::SENT)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let messages = sink.messages.lock().unwrap().clone();
    for email in &addresses {
        assert_eq!(
            messages.iter().filter(|m| &m.to == email).count(),
            1,
            "{email}"
        );
    }
}

#[tokio::test]
async fn a_refused_address_fails_at_once_is_shown_to_the_admin_and_sent_again_when_they_resend() {
    let app = admin_app().await;
    app.mail
        .refused
        .lock()
        .unwrap()
        .push("nobody@example.com".into());
    let id = app
        .invite_person("No", "Body", "nobody@example.com", &[])
        .await;
    // A permanent refusal (550) is not tried again.
    let rows = wait_for_outbox(&app, |rows| {
        rows.iter().any(|(status, _)| status == outbox::FAILED)
    })
    .await;
    assert!(rows.contains(&(outbox::FAILED.to_owned(), 1)), "{rows:?}");
    let list = app.get_html("/admin/invitations").await;
    assert!(
        list.contains("Failed") && list.contains("no such mailbox here"),
        "{list}"
    );
    let page = app.get_html(&format!("/admin/members/{id}")).await;
    let shown = text_of(&page, "#invitation-delivery").unwrap();
    assert!(
        shown.contains("Failed") && shown.contains("no such mailbox"),
        "{shown}"
    );

    // The mailbox exists now; the admin resends from the member page.
    app.mail.refused.lock().unwrap().clear();
    let page_path = format!("/admin/members/{id}");
    let r = app
        .submit(&page_path, &format!("/admin/members/{id}/resend"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.wait_for_mail("nobody@example.com", "invited").await;
    for _ in 0..50 {
        let page = app.get_html(&page_path).await;
        if text_of(&page, "#invitation-delivery").is_some_and(|t| t.starts_with("Delivered")) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the member page never showed the resent invitation as delivered");
}
