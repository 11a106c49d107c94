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
