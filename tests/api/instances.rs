//! Several instances on one database, sharing nothing in memory (as behind a load balancer):
//! sessions, mail, rate limits and signing keys live in the database, so what one instance
//! did, the other sees. On PostgreSQL when the suite runs there; on one SQLite file otherwise.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::*;

/// The session key every instance is given (as `ROLLCALL_SESSION_KEY` would be).
const SESSION_KEY: &str = "one session key shared by every instance of this test, 64 bytes or more";

/// An instance on the database of `first`, sending mail to `first`'s mail sink, known to
/// the world by `first`'s address (as all instances behind one proxy share one
/// `ROLLCALL_BASE_URL`: it is the issuer of their tokens).
async fn beside(first: &TestApp) -> TestApp {
    let (database_url, smtp_port) = (first.database_url.clone(), first.smtp_port);
    let base_url = reqwest::Url::parse(&first.address).unwrap();
    spawn_app_with(move |s| {
        s.base_url = Some(base_url);
        s.session_key = Some(SecretString::from(SESSION_KEY));
        s.database_url = SecretString::from(database_url);
        s.smtp_url = Some(SecretString::from(format!("smtp://127.0.0.1:{smtp_port}")));
    })
    .await
}

async fn two_instances() -> (TestApp, TestApp) {
    let a = spawn_app_with(|s| s.session_key = Some(SecretString::from(SESSION_KEY))).await;
    let b = beside(&a).await;
    (a, b)
}

#[tokio::test]
async fn a_session_made_on_one_instance_works_on_the_other_and_ends_on_both() {
    let (a, b) = two_instances().await;
    a.register_with_project("Ada", ADMIN_EMAIL, "Clinic").await;
    // The browser's cookie (one host, two ports: cookies ignore ports) reaches both.
    let page = b.get_with(&a.client, "/admin/users").await;
    assert_eq!(page.status(), StatusCode::OK);
    // A form from one instance is accepted by the other (the CSRF token is the session's).
    let html = a.get_html("/admin/invite").await;
    let r = a
        .client
        .post(b.url("/admin/invite"))
        .form(&[
            ("csrf_token", csrf_in(&html).as_str()),
            ("resourceType", "Practitioner"),
            ("firstName", "Bea"),
            ("lastName", "Both"),
            ("email", "bea@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // Signing out on B ends the session on A too.
    let r = b.submit_with(&a.client, "/", "/signout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = a.get("/admin/users").await;
    assert!(location(&r).starts_with("/signin"), "{}", location(&r));
}

#[tokio::test]
async fn mail_queued_on_two_instances_is_sent_once_in_all() {
    let (a, b) = two_instances().await;
    a.register_with_project("Ada", ADMIN_EMAIL, "Clinic").await;
    let addresses: Vec<String> = (0..20).map(|i| format!("both{i}@example.com")).collect();
    for (i, email) in addresses.iter().enumerate() {
        let via = if i % 2 == 0 { &a } else { &b };
        let r = via
            .invite_with(
                &a.client,
                &[
                    ("resourceType", "Practitioner"),
                    ("firstName", "Both"),
                    ("lastName", &format!("Number{i}")),
                    ("email", email),
                    ("sendEmail", "on"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Both instances poll the one outbox; wait until it is empty, then a few polls more.
    a.wait_until_outbox_sent(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for email in &addresses {
        assert_eq!(a.mails_to(email).len(), 1, "{email}");
    }
    assert!(b.mail.messages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sign_in_limits_count_attempts_on_every_instance() {
    let (a, b) = two_instances().await;
    a.register_with_project("Ada", ADMIN_EMAIL, "Clinic").await;
    let mut answers = Vec::new();
    for i in 0..8 {
        let via = if i % 2 == 0 { &a } else { &b };
        let r = via
            .sign_in_with(&new_client(), ADMIN_EMAIL, "wrong password!")
            .await;
        answers.push(r.status().as_u16());
    }
    // Five wrong passwords from one address, wherever they were typed; then refused.
    assert_eq!(answers, [422, 422, 422, 422, 422, 429, 429, 429]);
}

/// The `kid` in a JWT's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_key_rotated_while_instances_run_is_used_and_checked_by_all() {
    let (a, b) = two_instances().await;
    a.register_with_project("Ada", ADMIN_EMAIL, "Clinic").await;
    let client = a.admin_client().await;
    let before = a.token(&client).await;
    let old_kid = kid_of(&before);
    // What `rollcall rotate-keys` does, on the shared database while A and B run.
    let new_kid = rollcall::services::keys::rotate(&mut a.conn()).unwrap();
    assert_ne!(new_kid, old_kid);
    // An instance started now signs with the new key; B, which loaded the keys before the
    // rotation, accepts its token (an unknown kid makes it read the keys again) and lists
    // the new key; the old key still checks the token it signed before.
    let c = beside(&a).await;
    let after = c.token(&client).await;
    assert_eq!(kid_of(&after), new_kid);
    assert_eq!(b.api_get("/auth/me", &after).await.status, StatusCode::OK);
    let jwks = b.api_get("/.well-known/jwks.json", "").await.body;
    let kids = kids_in(&jwks);
    assert!(
        kids.contains(&new_kid) && kids.contains(&old_kid),
        "{kids:?}"
    );
    for instance in [&a, &b, &c] {
        assert_eq!(
            instance.api_get("/auth/me", &before).await.status,
            StatusCode::OK
        );
    }
}

/// Gets `page` on `base` for its CSRF token, then posts `fields` to `action` there.
async fn submit_at(
    browser: &reqwest::Client,
    base: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = browser.get(format!("{base}{page}")).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let mut form = fields.to_vec();
    form.push(("csrf_token", &token));
    browser
        .post(format!("{base}{action}"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A person's access token from the instance at `base`: `/auth/login`, then the code.
async fn person_token_at(base: &str) -> String {
    const VERIFIER: &str = "a-plain-verifier-that-is-long-enough-0123456789";
    let http = new_client();
    let json = |request: reqwest::RequestBuilder| async move {
        let answer = request.send().await.unwrap();
        answer.json::<serde_json::Value>().await.unwrap()
    };
    let login = json(
        http.post(format!("{base}/auth/login"))
            .json(&serde_json::json!({
                "email": ADMIN_EMAIL, "password": PASSWORD,
                "codeChallenge": VERIFIER, "codeChallengeMethod": "plain"
            })),
    )
    .await;
    let code = login["code"].as_str().unwrap_or_else(|| panic!("{login}"));
    let tokens = json(http.post(format!("{base}/oauth2/token")).form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
    ]))
    .await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    remember_secret(&token);
    token
}

async fn me_at(base: &str, token: &str) -> StatusCode {
    new_client()
        .get(format!("{base}/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// The same four things as the tests above, with two (then three) `rollcall` processes, as
/// an operator runs them behind one proxy: one database, one session key, one public address
/// (A's), one mail server, configured by environment variables alone. They share nothing
/// else; the test's own instance only provides the database and the mail sink (its mail
/// worker waits an hour, so all mail goes out through the processes).
#[tokio::test]
async fn two_rollcall_processes_on_one_database_share_sessions_mail_limits_and_keys() {
    let app = spawn_app_with(|s| s.mail_poll_interval = Duration::from_secs(3600)).await;
    let smtp = format!("smtp://127.0.0.1:{}", app.smtp_port);
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let shared = [
        ("ROLLCALL_SMTP_URL", smtp.as_str()),
        ("ROLLCALL_SESSION_KEY", SESSION_KEY),
    ];
    let a = ServerProcess::start(&app.database_url, dir_a.path(), &shared).await;
    let behind_the_proxy = [shared[0], shared[1], ("ROLLCALL_BASE_URL", &a.address)];
    let b = ServerProcess::start(&app.database_url, dir_b.path(), &behind_the_proxy).await;
    let (a_url, b_url) = (a.address.as_str(), b.address.as_str());

    // A session made on A works on B (cookies ignore ports: one host).
    let browser = new_client();
    let person = [
        ("firstName", "Ada"),
        ("lastName", "Admin"),
        ("email", ADMIN_EMAIL),
        ("password", PASSWORD),
    ];
    let r = submit_at(&browser, a_url, "/register", "/register", &person).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let project = [("projectName", "Clinic")];
    let r = submit_at(
        &browser,
        b_url,
        "/register/project",
        "/register/project",
        &project,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = browser
        .get(format!("{a_url}/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Invitations through both: each email sent once in all.
    let addresses: Vec<String> = (0..10).map(|i| format!("proc{i}@example.com")).collect();
    for (i, email) in addresses.iter().enumerate() {
        let via = [a_url, b_url][i % 2];
        let last = format!("Number{i}");
        let fields = [
            ("resourceType", "Practitioner"),
            ("firstName", "Two"),
            ("lastName", last.as_str()),
            ("email", email.as_str()),
            ("sendEmail", "on"),
        ];
        let r = submit_at(&browser, via, "/admin/invite", "/admin/invite", &fields).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    app.wait_until_outbox_sent(Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for email in &addresses {
        assert_eq!(app.mails_to(email).len(), 1, "{email}");
    }

    // `rollcall rotate-keys` while both run: a process started afterwards signs with the new
    // key, and A and B accept its tokens at once; the old key still checks older tokens.
    let before = person_token_at(a_url).await;
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ROLLCALL_DATABASE_URL", &app.database_url)
        .env("ROLLCALL_DATA_DIR", dir_c.path())
        .arg("rotate-keys")
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    let c = ServerProcess::start(&app.database_url, dir_c.path(), &behind_the_proxy).await;
    let after = person_token_at(&c.address).await;
    assert_ne!(kid_of(&after), kid_of(&before));
    for base in [a_url, b_url] {
        assert_eq!(me_at(base, &after).await, StatusCode::OK);
    }
    assert_eq!(me_at(&c.address, &before).await, StatusCode::OK);

    // Last, as it locks the account out: wrong passwords typed on either count against one
    // limit.
    let mut answers = Vec::new();
    for i in 0..8 {
        let wrong = [("email", ADMIN_EMAIL), ("password", "wrong password!")];
        let via = [a_url, b_url][i % 2];
        let r = submit_at(&new_client(), via, "/signin", "/signin", &wrong).await;
        answers.push(r.status().as_u16());
    }
    assert_eq!(answers, [422, 422, 422, 422, 422, 429, 429, 429]);
}
