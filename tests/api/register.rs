use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn registering_signs_in_and_continues_to_create_a_first_project() {
    let app = spawn_app().await;

    let r = app
        .register("Ada", "Lovelace", "ada@example.com", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/register/project");

    let html = app.get_html("/register/project").await;
    assert_eq!(text_of(&html, "h1").unwrap(), "Create your first project");

    let r = app
        .create_project("/register/project", "Analytical Engines")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");

    let html = app.get_html("/").await;
    assert_eq!(text_of(&html, "main h1").unwrap(), "Analytical Engines");
    assert_eq!(
        text_of(&html, ".flash").unwrap(),
        "Project Analytical Engines created"
    );
    assert!(
        text_of(&html, ".details")
            .unwrap()
            .contains("Owner Ada Lovelace")
    );
    assert_eq!(
        text_of(&html, ".stat dd").unwrap(),
        "1",
        "the owner is the first user"
    );
    // The top bar names the current project and the account.
    assert!(
        text_of(&html, "nav[aria-label=Project] summary")
            .unwrap()
            .contains("Analytical Engines")
    );
    assert!(
        text_of(&html, "nav[aria-label=Account] summary")
            .unwrap()
            .contains("Ada Lovelace")
    );
}

#[tokio::test]
async fn the_welcome_email_names_the_project_and_links_to_it() {
    let app = spawn_app().await;
    app.register_with_project("Grace", "grace@example.com", "Compiler Lab")
        .await;

    let mail = app.wait_for_mail("grace@example.com", "Compiler Lab").await;
    assert_eq!(mail.subject, "Your project Compiler Lab is ready");
    assert!(mail.text.contains("Hello Grace"));
    let project = app.project_id_of("Compiler Lab");
    let link = format!("{}/signin?project={project}", app.address);
    assert_eq!(mail.link(), link);
    assert!(mail.html.contains(&format!("href=\"{link}\"")));
    // Working in another project by the time it is read, the link still opens this one.
    let r = app.create_project("/projects/new", "Second Lab").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = app.get_html("/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Second Lab");
    // It asks first (a link from anywhere must not switch by itself), then opens it.
    let r = app.get(&mail.path()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ask = r.text().await.unwrap();
    assert_eq!(text_of(&ask, "main h1").unwrap(), "Open Compiler Lab?");
    let home = app.get_html("/").await;
    assert_eq!(
        text_of(&home, "main h1").unwrap(),
        "Second Lab",
        "nothing switched yet"
    );
    let membership = attr_of(&ask, "input[name=membership]", "value").unwrap();
    let r = app
        .submit(
            &mail.path(),
            "/signin/project",
            &[("membership", &membership), ("next", "/")],
        )
        .await;
    assert_eq!(location(&r), "/");
    let home = app.get_html("/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Compiler Lab");
    assert_eq!(
        text_of(&home, ".flash").as_deref(),
        Some("You are now working in Compiler Lab")
    );
    // Signed out, it asks for a sign-in and then opens the project, without a chooser.
    let browser = new_client();
    let page = app.get_html_with(&browser, &mail.path()).await;
    assert_eq!(
        attr_of(&page, "input[name=project]", "value").as_deref(),
        Some(project.as_str())
    );
    let r = app
        .submit_with(
            &browser,
            &mail.path(),
            "/signin",
            &[
                ("email", "grace@example.com"),
                ("password", PASSWORD),
                ("project", &project),
            ],
        )
        .await;
    assert_eq!(location(&r), "/");
    let home = app.get_html_with(&browser, "/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Compiler Lab");
}

async fn register_errors(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let r = app.submit("/register", "/register", fields).await;
    (r.status(), r.text().await.unwrap())
}

fn field_error(html: &str, field: &str) -> Option<String> {
    text_of(html, &format!("#{field}-error"))
        .map(|t| t.trim_start_matches("Error:").trim().to_owned())
}

#[tokio::test]
async fn every_invalid_field_is_reported_beside_it_and_in_a_summary() {
    let app = spawn_app().await;
    let (status, html) = register_errors(
        &app,
        &[
            ("firstName", "  "),
            ("lastName", ""),
            ("email", "not-an-email"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_error(&html, "firstName").unwrap(),
        "Enter a first name"
    );
    assert_eq!(field_error(&html, "lastName").unwrap(), "Enter a last name");
    assert_eq!(
        field_error(&html, "email").unwrap(),
        "Enter an email address like name@example.com"
    );
    assert_eq!(
        field_error(&html, "password").unwrap(),
        "A password must be at least 8 characters"
    );
    let summary = text_of(&html, ".error-summary").unwrap();
    assert!(summary.starts_with("There is a problem"));
    assert!(summary.contains("Enter a first name") && summary.contains("at least 8 characters"));
    assert_eq!(
        attr_of(&html, "#email", "aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(
        attr_of(&html, "#email", "aria-describedby").as_deref(),
        Some("email-error")
    );
    // Values are kept, except the password.
    assert_eq!(
        attr_of(&html, "#email", "value").as_deref(),
        Some("not-an-email")
    );
    assert_eq!(attr_of(&html, "#password", "value").as_deref(), Some(""));
}

#[tokio::test]
async fn names_longer_than_128_characters_are_refused() {
    let app = spawn_app().await;
    let long = "n".repeat(129);
    let (status, html) = register_errors(
        &app,
        &[
            ("firstName", &long),
            ("lastName", &long),
            ("email", "a@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_error(&html, "firstName").unwrap(),
        "A first name can be at most 128 characters"
    );
    assert_eq!(
        field_error(&html, "lastName").unwrap(),
        "A last name can be at most 128 characters"
    );
}

#[tokio::test]
async fn weak_overlong_and_email_based_passwords_are_refused() {
    let app = spawn_app().await;
    let long = "Zq7!kd9#".repeat(33);
    for (password, expected) in [
        (
            "password123",
            "This password is too common or easy to guess. Try a few unrelated words together",
        ),
        (long.as_str(), "A password can be at most 256 characters"),
        (
            "my-alice.w-password-2024",
            "A password cannot contain the first part of your email address (“alice.w”)",
        ),
        (
            "Alice1234",
            "This password is easy to guess because it contains your name (“Alice”). Try a few unrelated words together",
        ),
        ("", "Enter a password"),
    ] {
        let (status, html) = register_errors(
            &app,
            &[
                ("firstName", "Alice"),
                ("lastName", "W"),
                ("email", "alice.w@example.com"),
                ("password", password),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{password}");
        assert_eq!(field_error(&html, "password").unwrap(), expected);
    }
}

#[tokio::test]
async fn an_address_already_registered_is_refused_whatever_its_case() {
    let app = spawn_app().await;
    let r = app
        .register("Ada", "One", "ada@example.com", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let other = new_client();
    let r = app
        .submit_with(
            &other,
            "/register",
            "/register",
            &[
                ("firstName", "Ada"),
                ("lastName", "Two"),
                ("email", " ADA@Example.com "),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        field_error(&html, "email")
            .unwrap()
            .starts_with("An account with this email already exists")
    );
}

#[tokio::test]
async fn emails_are_stored_lower_cased_and_sign_in_ignores_case() {
    let app = spawn_app().await;
    let r = app
        .register("Bo", "Case", "  Bo.Case@Example.COM", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.create_project("/register/project", "Case Study").await;
    app.sign_out().await;

    let r = app.sign_in("BO.CASE@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.get_html("/").await;
    assert!(
        text_of(&html, "nav[aria-label=Account]")
            .unwrap()
            .contains("bo.case@example.com")
    );
}

#[tokio::test]
async fn a_project_name_needs_four_to_seventy_two_characters() {
    let app = spawn_app().await;
    app.register("Ada", "Lovelace", "ada@example.com", PASSWORD)
        .await;
    for (name, expected) in [
        ("abc", "A project name must be at least 4 characters"),
        ("", "Enter a project name"),
    ] {
        let r = app.create_project("/register/project", name).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert_eq!(field_error(&html, "projectName").unwrap(), expected);
    }
    let long = "p".repeat(73);
    let r = app.create_project("/register/project", &long).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert_eq!(attr_of(&html, "#projectName", "value").unwrap(), long);
}

#[tokio::test]
async fn closed_registration_says_so_and_creates_nothing() {
    let app = spawn_app_with(|s| s.registration = rollcall::config::Registration::Closed).await;
    let html = app.get_html("/register").await;
    assert!(html.contains("Registration is closed on this server"));
    assert!(!html.contains("name=\"password\""));

    let token = csrf_in(&html);
    let r = app
        .client
        .post(app.url("/register"))
        .form(&[
            ("firstName", "Eve"),
            ("lastName", "X"),
            ("email", "eve@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.sign_in("eve@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_signed_in_user_opening_register_goes_home() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    let r = app.get("/register").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
}
