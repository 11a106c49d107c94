use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::security_requests;

use crate::helpers::*;

const NEW_PASSWORD: &str = "violet tuesday lantern orbit";

async fn request_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.submit("/resetpassword", "/resetpassword", &[("email", email)])
        .await
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_and_ends_other_sessions() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    // A second device stays signed in until the password changes.
    let other_device = new_client();
    app.sign_in_with(&other_device, "ada@example.com", PASSWORD)
        .await;
    assert_eq!(
        app.get_with(&other_device, "/").await.status(),
        StatusCode::OK
    );
    app.sign_out().await;

    let r = request_reset(&app, "ada@example.com").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("If an account exists for that address, we sent a link"));

    let mail = app
        .wait_for_mail("ada@example.com", "Reset your Rollcall password")
        .await;
    assert!(mail.text.contains("your Rollcall account"));
    let path = mail.path();
    assert!(path.starts_with("/setpassword/"));
    let html = app.get_html(&path).await;
    assert_eq!(text_of(&html, "h1").unwrap(), "Choose a new password");
    assert!(html.contains("ada@example.com"));

    let r = app
        .submit(
            &path,
            &path,
            &[
                ("password", NEW_PASSWORD),
                ("confirmPassword", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin");

    assert_eq!(location(&app.get_with(&other_device, "/").await), "/signin");
    assert_eq!(
        app.sign_in("ada@example.com", PASSWORD).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = app.sign_in("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_email() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.sign_out().await;

    let unknown = request_reset(&app, "nobody@example.com").await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let unknown = text_of(&unknown.text().await.unwrap(), "main").unwrap();
    let known = request_reset(&app, "ada@example.com").await;
    let known = text_of(&known.text().await.unwrap(), "main").unwrap();
    assert_eq!(unknown, known);

    // The known address's email arrives; by then the unknown one would have too.
    app.wait_for_mail("ada@example.com", "Reset").await;
    assert!(app.mails_to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn a_malformed_address_is_reported_beside_the_field() {
    let app = spawn_app().await;
    let r = request_reset(&app, "nope").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#email-error")
            .unwrap()
            .contains("Enter an email address like")
    );
}

async fn reset_link(app: &TestApp) -> String {
    request_reset(app, "ada@example.com").await;
    app.wait_for_mail("ada@example.com", "Reset").await.path()
}

#[tokio::test]
async fn an_expired_link_says_so_and_offers_a_new_one() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    let path = reset_link(&app).await;
    let past = Utc::now().naive_utc() - Duration::minutes(1);
    diesel::update(security_requests::table)
        .set(security_requests::expires_at.eq(past))
        .execute(&mut app.conn())
        .unwrap();

    let r = app.get(&path).await;
    assert_eq!(r.status(), StatusCode::GONE);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "main h1").unwrap(), "This link has expired");
    assert!(html.contains("href=\"/resetpassword\""));
    // Posting to it does not change the password either.
    let token = csrf_in(&app.get_html("/resetpassword").await);
    let r = app
        .client
        .post(app.url(&path))
        .form(&[
            ("password", NEW_PASSWORD),
            ("confirmPassword", NEW_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    app.sign_out().await;
    assert_eq!(
        app.sign_in("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_link_works_only_once() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    let path = reset_link(&app).await;
    let r = app
        .submit(
            &path,
            &path,
            &[
                ("password", NEW_PASSWORD),
                ("confirmPassword", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get(&path).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(
        text_of(&r.text().await.unwrap(), "main h1").unwrap(),
        "This link was already used"
    );
}

#[tokio::test]
async fn a_newer_link_supersedes_the_older_one() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.sign_out().await;
    request_reset(&app, "ada@example.com").await;
    let first = app.wait_for_mail("ada@example.com", "Reset").await.path();
    request_reset(&app, "ada@example.com").await;
    let mut second = first.clone();
    for _ in 0..100 {
        second = app.wait_for_mail("ada@example.com", "Reset").await.path();
        if second != first {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(first, second);

    let r = app.get(&first).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(
        text_of(&r.text().await.unwrap(), "main h1").unwrap(),
        "A newer link was sent"
    );
    assert_eq!(app.get(&second).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_tampered_link_is_not_valid() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    let path = reset_link(&app).await;
    let tampered = format!("{}0", &path[..path.len() - 1]);
    let tampered = if tampered == path {
        format!("{}1", &path[..path.len() - 1])
    } else {
        tampered
    };
    let r = app.get(&tampered).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        text_of(&r.text().await.unwrap(), "main h1").unwrap(),
        "This link is not valid"
    );
    assert_eq!(
        app.get("/setpassword/unknown/secret").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_new_password_must_be_confirmed_and_strong() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    let path = reset_link(&app).await;
    let r = app
        .submit(
            &path,
            &path,
            &[
                ("password", NEW_PASSWORD),
                ("confirmPassword", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#confirmPassword-error")
            .unwrap()
            .contains("The passwords do not match")
    );

    let r = app
        .submit(
            &path,
            &path,
            &[("password", "12345678"), ("confirmPassword", "12345678")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#password-error")
            .unwrap()
            .contains("too common")
    );
    // The link still works after a failed attempt.
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn reset_requests_are_throttled_per_address() {
    let app = spawn_app().await;
    for _ in 0..3 {
        assert_eq!(
            request_reset(&app, "ada@example.com").await.status(),
            StatusCode::OK
        );
    }
    let r = request_reset(&app, "ada@example.com").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}
