use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn a_form_post_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.get("/register").await;
    let fields = [
        ("firstName", "Mal"),
        ("lastName", "Lory"),
        ("email", "mal@example.com"),
        ("password", PASSWORD),
    ];
    let r = app
        .client
        .post(app.url("/register"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "main h1").unwrap(), "This form has expired");

    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "0000"));
    let r = app
        .client
        .post(app.url("/register"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nothing was created.
    assert_eq!(
        app.sign_in("mal@example.com", PASSWORD).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_token_from_another_session_is_refused() {
    let app = spawn_app().await;
    let theirs = csrf_in(
        &app.get_with(&new_client(), "/signin")
            .await
            .text()
            .await
            .unwrap(),
    );
    app.get("/signin").await;
    let r = app
        .client
        .post(app.url("/signout"))
        .form(&[("csrf_token", theirs.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn htmx_requests_get_partials_errors_in_place_and_hx_redirect_on_success() {
    let app = spawn_app().await;
    let token = csrf_in(&app.get_html("/register").await);
    let post = |fields: Vec<(&'static str, &'static str)>| {
        app.client
            .post(app.url("/register"))
            .header("HX-Request", "true")
            .header("X-CSRF-Token", token.clone())
            .form(&fields)
            .send()
    };
    let r = post(vec![
        ("firstName", ""),
        ("lastName", "X"),
        ("email", "x@example.com"),
        ("password", PASSWORD),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<html"),
        "an htmx answer is the partial alone"
    );
    assert!(html.contains("class=\"error-summary\""));

    let r = post(vec![
        ("firstName", "Hx"),
        ("lastName", "X"),
        ("email", "hx@example.com"),
        ("password", PASSWORD),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["hx-redirect"], "/register/project");
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = spawn_app().await;
    let r = app.get("/signin").await;
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
    // No inline script anywhere, so the strict policy holds.
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"));
    assert!(!html.contains(" onclick="));
    // Errors too: an unknown page, an unknown API path, a refused form.
    for path in [
        "/no/such/page",
        "/fhir/R4/Nothing/here/at/all",
        "/admin/users",
    ] {
        let r = app.get(path).await;
        assert!(r.status().is_client_error() || r.status().is_redirection());
        assert_security_headers(&r);
    }
    let r = app.client.post(app.url("/signin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_security_headers(&r);
}

#[tokio::test]
async fn an_unknown_page_answers_404_with_a_request_id() {
    let app = spawn_app().await;
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "main h1").unwrap(), "Page not found");
    let id = text_of(&html, "main code").unwrap();
    assert_eq!(id.len(), 36, "a request id: {id}");
}

#[tokio::test]
async fn static_assets_are_served_with_caching_headers() {
    let app = spawn_app().await;
    let r = app.get("/static/vendor/htmx-2.0.11.min.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = app
        .client
        .get(app.url("/static/vendor/htmx-2.0.11.min.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        app.get("/static/nope.css").await.status(),
        StatusCode::NOT_FOUND
    );
}

fn set_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("rollcall_session="))
        .expect("a session cookie")
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_secure_behind_https() {
    let app = spawn_app().await;
    let cookie = set_cookie(&app.get("/signin").await);
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http cannot carry a Secure cookie"
    );
    let behind_https = spawn_app_with(|s| {
        s.base_url = Some(reqwest::Url::parse("https://rollcall.example").unwrap());
    })
    .await;
    let cookie = set_cookie(&behind_https.get("/signin").await);
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_cookie_from_before_sign_in_is_not_signed_in_afterwards() {
    let app = spawn_app().await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    app.sign_out().await;
    // An attacker plants this cookie in the victim's browser, then waits for them to sign in.
    let browser = new_client();
    let planted = set_cookie(&app.get_with(&browser, "/signin").await);
    let planted = planted.split(';').next().unwrap().to_owned();
    let r = app.sign_in_with(&browser, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = set_cookie(&r);
    assert_ne!(
        after.split(';').next().unwrap(),
        planted,
        "a new session at sign-in"
    );
    assert_eq!(
        app.get_with(&browser, "/admin/users").await.status(),
        StatusCode::OK
    );
    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = attacker
        .get(app.url("/admin/users"))
        .header("cookie", &planted)
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/signin"), "{}", r.status());
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused_even_with_the_right_token() {
    let app = admin_app().await;
    let html = app.get_html("/admin/invite").await;
    let token = csrf_in(&html);
    let post = |header: Option<(&'static str, String)>, email: &'static str| {
        let mut request = app.client.post(app.url("/admin/invite")).form(&[
            ("csrf_token", token.as_str()),
            ("resourceType", "Practitioner"),
            ("firstName", "Cross"),
            ("lastName", "Site"),
            ("email", email),
        ]);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.send()
    };
    for (header, value) in [
        ("origin", "https://evil.example".to_owned()),
        ("origin", "null".to_owned()),
        ("origin", format!("{}.evil.example", app.address)),
        ("sec-fetch-site", "cross-site".to_owned()),
        ("sec-fetch-site", "same-site".to_owned()),
    ] {
        let r = post(Some((header, value.clone())), "cross@example.com")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{header}: {value}");
    }
    assert_eq!(accounts_with(&app, "cross@example.com"), 0);
    // The site's own pages send their own origin, or none at all.
    let r = post(Some(("origin", app.address.clone())), "own@example.com")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        Some(("sec-fetch-site", "same-origin".into())),
        "same@example.com",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_in_takes_as_long_for_an_unknown_address_as_for_a_known_one() {
    let app = spawn_app_with(lift_signin_limits).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let browser = new_client();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    // Interleaved, so that the machine's load falls on both alike.
    for i in 0..15 {
        for (email, times) in [
            (ADMIN_EMAIL.to_owned(), &mut known),
            (format!("nobody{i}@example.com"), &mut unknown),
        ] {
            let started = std::time::Instant::now();
            let r = app.sign_in_with(&browser, &email, "a wrong password").await;
            times.push(started.elapsed());
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    let ratio = u / k;
    assert!(
        (0.67..1.5).contains(&ratio),
        "unknown {u:.4} s vs known {k:.4} s (ratio {ratio:.2})"
    );
}

/// Every byte the database holds, as text: the SQLite file (its log folded in first) or a
/// dump of the PostgreSQL database.
fn database_contents(app: &TestApp) -> String {
    if app.database_url.starts_with("postgres") {
        let out = std::process::Command::new("pg_dump")
            .arg("--data-only")
            .arg(&app.database_url)
            .output()
            .expect("pg_dump runs");
        assert!(out.status.success());
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    use diesel::RunQueryDsl;
    diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut app.conn())
        .unwrap();
    let mut bytes = std::fs::read(&app.database_url).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", app.database_url)) {
        bytes.extend(wal);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn passwords_tokens_link_secrets_codes_and_recovery_codes_are_stored_only_as_hashes() {
    let app = admin_app().await;
    let mut secrets: Vec<(&str, String)> = vec![("password", PASSWORD.to_owned())];
    let client = app.admin_client().await;
    secrets.push(("client secret", client.secret.clone()));
    let access = app.token(&client).await;
    secrets.push(("client access token", access));
    let r = app.invite(&person_fields("Lena", "lena@example.com")).await;
    let link = text_of(&r.text().await.unwrap(), "#invite-link").unwrap();
    secrets.push((
        "invite link secret",
        link.rsplit('/').next().unwrap().to_owned(),
    ));
    let tokens = app
        .person_tokens(ADMIN_EMAIL, PASSWORD, "openid offline")
        .await;
    for key in ["access_token", "refresh_token", "id_token"] {
        secrets.push((key, tokens.body[key].as_str().unwrap().to_owned()));
    }
    let a = app
        .post_json(
            "/auth/login",
            serde_json::json!({"email": ADMIN_EMAIL, "password": PASSWORD,
                "codeChallenge": "a-plain-verifier-that-is-long-enough-0123456789",
                "codeChallengeMethod": "plain"}),
        )
        .await;
    secrets.push((
        "authorization code",
        a.body["code"].as_str().unwrap().to_owned(),
    ));
    let (_, codes) = enrol_with_codes(&app, &app.client, "/account/mfa").await;
    for code in codes {
        secrets.push(("recovery code", code));
    }
    let r = new_client()
        .post(app.url("/auth/resetpassword"))
        .json(&serde_json::json!({"email": "lena@example.com"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let reset = app
        .wait_for_mail("lena@example.com", "Reset your Rollcall password")
        .await
        .path();
    secrets.push((
        "reset link secret",
        reset.rsplit('/').next().unwrap().to_owned(),
    ));
    // The reset email has gone out; its message keeps no body now.
    app.wait_until_outbox_sent(std::time::Duration::from_secs(5))
        .await;
    let stored = database_contents(&app);
    assert!(stored.contains(ADMIN_EMAIL), "the dump holds the data");
    for (what, secret) in &secrets {
        remember_secret(secret);
        assert!(secret.len() >= 8, "{what}");
        let found = stored.find(secret.as_str());
        assert!(
            found.is_none(),
            "the {what} is stored as it is: …{}…",
            found.map_or(String::new(), |at| stored[at.saturating_sub(200)..at]
                .chars()
                .filter(|c| !c.is_control())
                .collect())
        );
    }
}

fn person_fields<'a>(first: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("resourceType", "Practitioner"),
        ("firstName", first),
        ("lastName", "Tester"),
        ("email", email),
    ]
}

#[tokio::test]
async fn a_removed_member_and_a_rotated_client_secret_are_refused_at_their_next_request() {
    let app = admin_app().await;
    let (id, browser) = app
        .member("Rita", "Removed", "rita@example.com", &[], PASSWORD)
        .await;
    let token = app
        .person_tokens("rita@example.com", PASSWORD, "openid")
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_with(&browser, "/account").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.api_get("/auth/me", &token).await.status, StatusCode::OK);
    let page = format!("/admin/members/{id}");
    let r = app.submit(&page, &format!("{page}/remove"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get_with(&browser, "/account").await;
    assert!(
        location(&r).starts_with("/signin"),
        "the removed member's page: {} {}",
        r.status(),
        location(&r)
    );
    assert_eq!(
        app.api_get("/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );

    let client = app.admin_client().await;
    let old_token = app.token(&client).await;
    let page = format!("/admin/clients/{}", client.id);
    let r = app.submit(&page, &format!("{page}/rotate"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let basic = reqwest::Client::new()
        .get(app.url(&format!("/admin/projects/{}", app.project_id())))
        .basic_auth(&client.id, Some(&client.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let a = app
        .token_answer(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
        ])
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.body["error"], "invalid_client");
    // Tokens issued before the rotation end with it.
    assert_eq!(
        app.api_get("/auth/me", &old_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}
