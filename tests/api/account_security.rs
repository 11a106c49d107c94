use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{projects, users};
use totp_rs::{Builder, Secret};

use crate::helpers::*;

/// The code of one 30-second step.
fn code_at_step(secret: &str, step: i64) -> String {
    let totp = Builder::new()
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .with_account_name("test")
        .build()
        .unwrap();
    totp.generate(u64::try_from(step * 30).unwrap()).to_string()
}

/// The step of the last code the admin used (a code is accepted once).
fn last_used_step(app: &TestApp) -> i64 {
    users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::mfa_last_step.assume_not_null())
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_member_enrols_an_authenticator_and_sign_in_then_asks_for_a_code() {
    let app = admin_app().await;
    let html = app.get_html("/account/security").await;
    assert!(html.contains("Set up two-factor authentication"));
    let secret = enrol(&app, &app.client, "/account/mfa").await;
    let html = app.get_html("/account/security").await;
    assert_eq!(
        text_of(&html, ".flash").unwrap(),
        "Two-factor authentication is set up"
    );

    app.sign_out().await;
    let r = app.sign_in(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Every page waits for the code.
    for path in ["/", "/admin/users", "/account/security", "/projects/new"] {
        let r = app.get(path).await;
        assert!(
            location(&r).starts_with("/signin/mfa"),
            "{path} went to {}",
            location(&r)
        );
    }
    let r = app
        .submit("/signin/mfa", "/signin/mfa", &[("token", "123456")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The code used to enrol cannot be used again; the following step's code works.
    let used_step = last_used_step(&app);
    let r = app
        .submit(
            "/signin/mfa",
            "/signin/mfa",
            &[("token", &code_at_step(&secret, used_step))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&r.text().await.unwrap(), "#token-error")
            .unwrap()
            .contains("already used")
    );
    let r = app
        .submit(
            "/signin/mfa",
            "/signin/mfa",
            &[("token", &code_at_step(&secret, used_step + 1))],
        )
        .await;
    assert_eq!(location(&r), "/");
    assert_eq!(app.get("/admin/users").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn two_factor_is_turned_off_with_a_current_code() {
    let app = admin_app().await;
    let secret = enrol(&app, &app.client, "/account/mfa").await;
    let r = app
        .submit(
            "/account/security",
            "/account/mfa/disable",
            &[("token", "999999")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let used_step = last_used_step(&app);
    let r = app
        .submit(
            "/account/security",
            "/account/mfa/disable",
            &[("token", &code_at_step(&secret, used_step + 1))],
        )
        .await;
    assert_eq!(location(&r), "/account/security");
    let enrolled: bool = users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::mfa_enrolled)
        .first(&mut app.conn())
        .unwrap();
    assert!(!enrolled);
    app.sign_out().await;
    assert_eq!(location(&app.sign_in(ADMIN_EMAIL, PASSWORD).await), "/");
}

#[tokio::test]
async fn a_member_invited_with_mfa_required_must_enrol_before_any_project_page() {
    let app = admin_app().await;
    let (_, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("mfaRequired", "on")],
            "violet tuesday lantern orbit",
        )
        .await;
    for path in ["/", "/account/security", "/admin/users"] {
        let r = app.get_with(&grace, path).await;
        assert!(location(&r).starts_with("/signin/mfa/enroll"), "{path}");
    }
    enrol(&app, &grace, "/signin/mfa/enroll").await;
    let home = app.get_with(&grace, "/").await;
    assert_eq!(home.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_project_requiring_mfa_sends_its_members_to_enrol() {
    let app = admin_app().await;
    diesel::update(projects::table)
        .set(projects::require_mfa.eq(true))
        .execute(&mut app.conn())
        .unwrap();
    let r = app.get("/").await;
    assert!(location(&r).starts_with("/signin/mfa/enroll"));
    // Pages outside the project stay reachable, so the member can still leave.
    assert_eq!(app.get("/projects/new").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn changing_the_password_checks_the_old_one_and_signs_out_other_devices() {
    let app = admin_app().await;
    let other = new_client();
    app.sign_in_with(&other, ADMIN_EMAIL, PASSWORD).await;
    let new = "violet tuesday lantern orbit";
    let change = |old: &'static str, new: &'static str, confirm: &'static str| {
        let app = &app;
        async move {
            app.submit(
                "/account/security",
                "/account/password",
                &[
                    ("oldPassword", old),
                    ("newPassword", new),
                    ("confirmPassword", confirm),
                ],
            )
            .await
        }
    };
    let r = change(
        "wrong old password",
        "violet tuesday lantern orbit",
        "violet tuesday lantern orbit",
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&r.text().await.unwrap(), "#oldPassword-error")
            .unwrap()
            .contains("not right")
    );
    let r = change(
        PASSWORD,
        "violet tuesday lantern orbit",
        "violet tuesday lantern",
    )
    .await;
    assert!(
        text_of(&r.text().await.unwrap(), "#confirmPassword-error")
            .unwrap()
            .contains("do not match")
    );
    let r = change(PASSWORD, "short", "short").await;
    assert!(
        text_of(&r.text().await.unwrap(), "#newPassword-error")
            .unwrap()
            .contains("at least 8")
    );

    let r = change(
        PASSWORD,
        "violet tuesday lantern orbit",
        "violet tuesday lantern orbit",
    )
    .await;
    assert_eq!(location(&r), "/account/security");
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::OK,
        "this device stays signed in"
    );
    assert_eq!(location(&app.get_with(&other, "/").await), "/signin");
    let mail = app.wait_for_mail(ADMIN_EMAIL, "password was changed").await;
    assert!(mail.text.contains("127.0.0.1"));
    app.sign_out().await;
    assert_eq!(location(&app.sign_in(ADMIN_EMAIL, new).await), "/");
}

#[tokio::test]
async fn sessions_are_listed_and_another_device_can_be_revoked() {
    let app = admin_app().await;
    let phone = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")
        .build()
        .unwrap();
    app.sign_in_with(&phone, ADMIN_EMAIL, PASSWORD).await;
    let html = app.get_html("/account/security").await;
    let table = text_of(&html, "#sessions-title + .table-wrap tbody").unwrap();
    assert!(table.contains("Safari on iOS"));
    assert!(table.contains("This device"));
    let revoke = attr_of(&html, "form[action$='/revoke']", "action").unwrap();
    let r = app.submit("/account/security", &revoke, &[]).await;
    assert_eq!(location(&r), "/account/security");
    assert_eq!(location(&app.get_with(&phone, "/").await), "/signin");
    // Another user's session id is not found.
    let r = app
        .submit(
            "/account/security",
            "/account/sessions/not-mine/revoke",
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn after_an_admin_resets_mfa_sign_in_no_longer_asks_for_a_code() {
    let app = admin_app().await;
    // A project-scoped account: its credentials are the project's to manage.
    let (id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("projectScoped", "on")],
            "violet tuesday lantern orbit",
        )
        .await;
    enrol(&app, &grace, "/account/mfa").await;
    app.submit(
        &format!("/admin/members/{id}"),
        &format!("/admin/members/{id}/reset-mfa"),
        &[],
    )
    .await;
    let fresh = new_client();
    let r = app
        .sign_in_with(&fresh, "grace@example.com", "violet tuesday lantern orbit")
        .await;
    assert_eq!(location(&r), "/");
    assert_eq!(app.get_with(&fresh, "/").await.status(), StatusCode::OK);
}
