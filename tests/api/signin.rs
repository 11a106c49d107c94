use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn signing_in_with_one_project_lands_in_it() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    let r = app.sign_out().await;
    assert_eq!(location(&r), "/signin");
    assert_eq!(
        text_of(&app.get_html("/signin").await, ".flash").unwrap(),
        "You have signed out"
    );

    let r = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert_eq!(
        text_of(&app.get_html("/").await, "main h1").unwrap(),
        "Engines"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.sign_out().await;

    let wrong = app
        .sign_in("ada@example.com", "not the right password")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong = wrong.text().await.unwrap();
    let unknown = app.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = unknown.text().await.unwrap();

    // At the top of the form, against neither field (it could be either).
    let message = |html: &str| text_of(html, ".error-summary p").unwrap();
    assert_eq!(message(&wrong), "Email or password is invalid");
    assert_eq!(message(&unknown), message(&wrong));
    assert!(text_of(&wrong, "#email-error").is_none());
    assert!(text_of(&wrong, "#password-error").is_none());
    // The summary takes the focus; the email field does not claim it too.
    assert_eq!(wrong.matches("autofocus").count(), 1);
    assert_eq!(
        attr_of(&unknown, "#email", "value").as_deref(),
        Some("nobody@example.com")
    );
}

#[tokio::test]
async fn the_first_field_of_sign_in_is_focused_and_only_there() {
    let app = spawn_app().await;
    let html = app.get_html("/signin").await;
    assert!(attr_of(&html, "#email", "autofocus").is_some());
    assert_eq!(html.matches("autofocus").count(), 1);
    let html = app.get_html("/register").await;
    assert!(!html.contains("autofocus"), "not on other forms");
    // With errors, the summary has the focus instead.
    let html = app.sign_in("", "").await.text().await.unwrap();
    assert!(attr_of(&html, "#email", "autofocus").is_none());
    assert!(attr_of(&html, ".error-summary", "autofocus").is_some());
}

#[tokio::test]
async fn empty_sign_in_fields_are_reported() {
    let app = spawn_app().await;
    let r = app.sign_in("", "").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#email-error")
            .unwrap()
            .contains("Enter an email address")
    );
    assert!(
        text_of(&html, "#password-error")
            .unwrap()
            .contains("Enter your password")
    );
}

#[tokio::test]
async fn a_user_with_two_projects_chooses_one_and_can_switch() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "First Project")
        .await;
    let r = app.create_project("/projects/new", "Second Project").await;
    assert_eq!(location(&r), "/");
    app.sign_out().await;

    let r = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(location(&r), "/signin/project");
    // No current project yet: project pages send the user to choose.
    let r = app.get("/").await;
    assert_eq!(location(&r), "/signin/project");

    let html = app.get_html("/signin/project").await;
    assert_eq!(text_of(&html, "h1").unwrap(), "Choose a project");
    let names: Vec<String> = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse(".choice-title").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(names, ["First Project", "Second Project"]);
    assert!(html.contains("href=\"/projects/new\""));

    let doc = scraper::Html::parse_document(&html);
    let second = doc
        .select(&scraper::Selector::parse(".choice-list li form").unwrap())
        .nth(1)
        .unwrap();
    let membership = second
        .select(&scraper::Selector::parse("input[name=membership]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    let r = app
        .submit(
            "/signin/project",
            "/signin/project",
            &[("membership", &membership)],
        )
        .await;
    assert_eq!(location(&r), "/");
    let html = app.get_html("/").await;
    assert_eq!(text_of(&html, "main h1").unwrap(), "Second Project");
    assert_eq!(
        text_of(&html, ".flash").unwrap(),
        "You are now working in Second Project"
    );

    // The switcher in the top bar lists both projects and marks the current one.
    let current = text_of(&html, "nav[aria-label=Project] [aria-current=true]").unwrap();
    assert!(current.starts_with("Second Project"));
}

#[tokio::test]
async fn someone_elses_membership_cannot_be_chosen() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Ada Project")
        .await;
    let ada_home = app.get_html("/signin/project").await;
    let ada_membership = attr_of(&ada_home, "input[name=membership]", "value").unwrap();

    let eve = new_client();
    let r = app
        .submit_with(
            &eve,
            "/register",
            "/register",
            &[
                ("firstName", "Eve"),
                ("lastName", "X"),
                ("email", "eve@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .submit_with(
            &eve,
            "/register/project",
            "/signin/project",
            &[("membership", &ada_membership)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn after_sign_in_the_user_returns_to_the_page_they_asked_for() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.create_project("/projects/new", "Second Engines").await;
    app.sign_out().await;

    let r = app.get("/projects/new").await;
    assert_eq!(location(&r), "/signin?next=%2Fprojects%2Fnew");
    let html = app.get_html("/signin?next=%2Fprojects%2Fnew").await;
    assert_eq!(
        attr_of(&html, "input[name=next]", "value").as_deref(),
        Some("/projects/new")
    );
    let token = csrf_in(&html);
    let r = app
        .client
        .post(app.url("/signin"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", PASSWORD),
            ("next", "/projects/new"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    // Two projects: choose one first, then on to the page.
    assert_eq!(location(&r), "/signin/project?next=%2Fprojects%2Fnew");
}

#[tokio::test]
async fn a_next_address_off_the_site_is_ignored() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.sign_out().await;
    let html = app.get_html("/signin?next=https://evil.example/").await;
    assert!(attr_of(&html, "input[name=next]", "value").is_none());
    let token = csrf_in(&html);
    let r = app
        .client
        .post(app.url("/signin"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server_too() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.sign_out().await;
    // Keep a copy of the signed-in cookie, as a thief would.
    let r = app.sign_in("ada@example.com", PASSWORD).await;
    let stolen = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let replay = || async {
        new_client()
            .get(app.url("/"))
            .header("cookie", stolen.clone())
            .send()
            .await
            .unwrap()
    };
    assert_eq!(replay().await.status(), StatusCode::OK);

    app.sign_out().await;
    let r = replay().await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site() {
    let app = spawn_app().await;
    let r = app.get("/signin").await;
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("rollcall_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
}

#[tokio::test]
async fn repeated_failures_for_one_account_are_throttled_even_with_the_right_password() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.sign_out().await;
    for _ in 0..5 {
        let r = app.sign_in("ada@example.com", "wrong password here").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "main h1").unwrap(), "Too many attempts");

    // Another account from the same address is not locked by it.
    let r = app
        .sign_in("someone.else@example.com", "wrong password here")
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn many_failures_from_one_address_are_throttled() {
    let app = spawn_app_with(|s| s.limits.signin_failures_per_ip = 3).await;
    for i in 0..3 {
        let r = app
            .sign_in(&format!("user{i}@example.com"), "wrong password here")
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = app
        .sign_in("user9@example.com", "wrong password here")
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_crowd_of_sign_ins_past_the_hashing_queue_is_told_to_retry_not_queued() {
    let app = spawn_app_with(|s| {
        s.hash_workers = 1;
        s.hash_queue = 1;
        s.limits.signin_failures_per_ip = 1_000;
        s.limits.signin_failures_per_account_and_ip = 1_000;
    })
    .await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    app.sign_out().await;
    let mut browsers = Vec::new();
    for _ in 0..16 {
        let browser = new_client();
        let page = app
            .get_with(&browser, "/signin")
            .await
            .text()
            .await
            .unwrap();
        let token = csrf_in(&page);
        browsers.push((browser, token));
    }
    let sent = browsers.iter().map(|(browser, token)| {
        browser
            .post(app.url("/signin"))
            .form(&[
                ("email", "ada@example.com"),
                ("password", "wrong password here"),
                ("csrf_token", token.as_str()),
            ])
            .send()
    });
    let mut busy = 0;
    for answer in futures_util::future::join_all(sent).await {
        let r = answer.unwrap();
        match r.status() {
            StatusCode::UNPROCESSABLE_ENTITY => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(r.headers()["retry-after"].to_str().unwrap(), "1");
                let html = r.text().await.unwrap();
                assert_eq!(text_of(&html, "main h1").unwrap(), "Busy right now");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "one hashing thread and a queue of one cannot take 16 at once"
    );
    // The crowd gone, the owner gets in.
    let r = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
