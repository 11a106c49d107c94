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

#[tokio::test]
async fn recovery_codes_sign_in_once_each_are_audited_counted_and_regenerated() {
    let app = admin_app().await;
    let (secret, codes) = enrol_with_codes(&app, &app.client, "/account/mfa").await;
    // The codes shown at enrolment can be downloaded as a text file.
    let security = app.get_html("/account/security").await;
    assert_eq!(
        text_of(&security, "#recovery-left").unwrap(),
        "10 of 10 left. Each signs you in once when the app is not at hand."
    );
    let browser = new_client();
    app.sign_in_with(&browser, ADMIN_EMAIL, PASSWORD).await;
    assert!(location(&app.get_with(&browser, "/").await).starts_with("/signin/mfa"));
    let page = app.get_html_with(&browser, "/signin/mfa").await;
    assert_eq!(
        attr_of(&page, ".form-footer a", "href").as_deref(),
        Some("/signin/mfa?recovery=1")
    );
    let page = app.get_html_with(&browser, "/signin/mfa?recovery=1").await;
    assert_eq!(text_of(&page, "label[for=token]").unwrap(), "Recovery code");
    // Typed in capitals with spaces: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = app
        .submit_with(
            &browser,
            "/signin/mfa?recovery=1",
            "/signin/mfa",
            &[("token", &typed), ("recovery", "1")],
        )
        .await;
    assert_eq!(location(&r), "/");
    let home = app.get_html_with(&browser, "/").await;
    assert_eq!(
        text_of(&home, ".flash").unwrap(),
        "You used a recovery code; 9 are left."
    );
    assert_eq!(audited(&app, "user.recovery_code_used"), 1);
    // Used once: a second sign-in cannot use it again.
    let again = new_client();
    app.sign_in_with(&again, ADMIN_EMAIL, PASSWORD).await;
    let r = app
        .submit_with(
            &again,
            "/signin/mfa",
            "/signin/mfa",
            &[("token", &codes[3])],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_of(&r.text().await.unwrap(), "#token-error").unwrap(),
        "Error: That recovery code is not valid or was already used"
    );
    let security = app.get_html("/account/security").await;
    assert!(
        text_of(&security, "#recovery-left")
            .unwrap()
            .starts_with("9 of 10 left")
    );

    // New codes need a current code from the app; then the old ones die.
    let r = app
        .submit(
            "/account/security",
            "/account/mfa/recovery-codes",
            &[("token", "000000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.text().await.unwrap(), "#recoveryToken-error").is_some());
    let fresh = code_at_step(&secret, last_used_step(&app) + 1);
    let r = app
        .submit(
            "/account/security",
            "/account/mfa/recovery-codes",
            &[("token", &fresh)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let new_codes: Vec<String> = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("#recovery-codes code").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !codes.contains(c)));
    let download = attr_of(&html, "a[download]", "href").unwrap();
    assert!(download.starts_with("data:text/plain;charset=utf-8,"));
    let text = percent_encoding::percent_decode_str(&download)
        .decode_utf8()
        .unwrap()
        .into_owned();
    assert!(
        new_codes.iter().all(|c| text.contains(c.as_str())),
        "{text}"
    );
    let r = app
        .submit_with(
            &again,
            "/signin/mfa",
            "/signin/mfa",
            &[("token", &codes[5])],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "an old code");
    let r = app
        .submit_with(
            &again,
            "/signin/mfa",
            "/signin/mfa",
            &[("token", &new_codes[5])],
        )
        .await;
    assert_eq!(location(&r), "/");
    // Only hashes are stored.
    use rollcall::db::schema::recovery_codes;
    let stored: Vec<String> = recovery_codes::table
        .select(recovery_codes::code_hash)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|h| {
        h.len() == 64
            && !new_codes
                .iter()
                .any(|c| h.contains(&c[..4]) && h.contains(&c[5..9]))
    }));
}

#[tokio::test]
async fn without_two_factor_there_are_no_recovery_codes_to_make_or_use() {
    let app = admin_app().await;
    let r = app
        .submit(
            "/account/security",
            "/account/mfa/recovery-codes",
            &[("token", "123456")],
        )
        .await;
    assert!(r.status().is_client_error());
    // Turning two-factor authentication off forgets the codes.
    let (secret, _) = enrol_with_codes(&app, &app.client, "/account/mfa").await;
    let fresh = code_at_step(&secret, last_used_step(&app) + 1);
    let r = app
        .submit(
            "/account/security",
            "/account/mfa/disable",
            &[("token", &fresh)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    use rollcall::db::schema::recovery_codes;
    let left: i64 = recovery_codes::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn sign_out_all_other_devices_keeps_this_one() {
    let app = admin_app().await;
    let phone = new_client();
    app.sign_in_with(&phone, ADMIN_EMAIL, PASSWORD).await;
    let laptop = new_client();
    app.sign_in_with(&laptop, ADMIN_EMAIL, PASSWORD).await;
    let html = app.get_html("/account/security").await;
    assert!(html.contains("Sign out all other devices"));
    let r = app
        .submit("/account/security", "/account/sessions/revoke-others", &[])
        .await;
    assert_eq!(location(&r), "/account/security");
    let html = app.get_html("/account/security").await;
    assert_eq!(
        text_of(&html, ".flash").unwrap(),
        "2 other devices were signed out"
    );
    assert!(!html.contains("Sign out all other devices"), "none left");
    for other in [&phone, &laptop] {
        assert!(location(&app.get_with(other, "/").await).starts_with("/signin"));
    }
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_chosen_appearance_is_remembered_per_account() {
    let app = admin_app().await;
    let home = app.get_html("/").await;
    assert_eq!(
        attr_of(&home, "html", "data-theme"),
        None,
        "follows the device"
    );
    assert_eq!(
        attr_of(&home, ".theme-choice button[value=system]", "aria-pressed").as_deref(),
        Some("true")
    );
    let r = app
        .client
        .post(app.url("/account/theme"))
        .header("Referer", app.url("/admin/users"))
        .form(&[("theme", "dark"), ("csrf_token", &csrf_in(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/users", "back where it was chosen");
    let home = app.get_html("/").await;
    assert_eq!(
        attr_of(&home, "html", "data-theme").as_deref(),
        Some("dark")
    );
    assert_eq!(
        attr_of(&home, ".theme-choice button[value=dark]", "aria-pressed").as_deref(),
        Some("true")
    );
    // Another browser of the same account gets it too.
    let other = new_client();
    app.sign_in_with(&other, ADMIN_EMAIL, PASSWORD).await;
    let page = app.get_html_with(&other, "/account").await;
    assert_eq!(
        attr_of(&page, "html", "data-theme").as_deref(),
        Some("dark")
    );
    // Nonsense is refused; signed out, nothing is stored.
    let r = app
        .submit("/", "/account/theme", &[("theme", "neon")])
        .await;
    assert!(r.status().is_client_error());
    let r = app
        .submit_with(
            &new_client(),
            "/signin",
            "/account/theme",
            &[("theme", "light")],
        )
        .await;
    assert!(location(&r).starts_with("/signin"));
    let r = app
        .submit("/", "/account/theme", &[("theme", "system")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = app.get_html("/").await;
    assert_eq!(attr_of(&home, "html", "data-theme"), None);
}
