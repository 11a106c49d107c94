//! Hostile input to every form the pages show: each form found on the pages (walked, not
//! listed by hand) is sent with every field set to values that break naive code: NUL,
//! 10,000 characters, emoji and right-to-left text, script tags, SQL, CRLF, template syntax,
//! and bytes that are not UTF-8, then random text from a seeded generator. No answer may be a
//! server error, nothing may be reflected unescaped, and the server must stay up.

use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::helpers::*;

const SCRIPT: &str = "<script>alert('x')</script>";
const ATTRIBUTE: &str = "\"><img src=x onerror=alert(1)>";

fn hostile_values() -> Vec<String> {
    vec![
        String::new(),
        "   ".into(),
        "\0".into(),
        "nul\0inside".into(),
        "x".repeat(10_000),
        "😀👩‍⚕️🏳️‍🌈 emoji".into(),
        "\u{202E}evil\u{202C} עברית العربية".into(),
        SCRIPT.into(),
        ATTRIBUTE.into(),
        "'; DROP TABLE users; --".into(),
        "' OR '1'='1".into(),
        "line\r\nInjected-Header: yes".into(),
        "{{ 7*7 }}{% raw %}".into(),
        "../../../../etc/passwd".into(),
        "\u{FEFF}Ａｄａ\u{200B}".into(),
        "-1".into(),
        "99999999999999999999999".into(),
    ]
}

/// Random text for one form: any Unicode scalar (controls, marks, right-to-left, private use),
/// runs of one character class, and lengths from none to 3,000, from a seeded generator (the
/// seed is printed, so a failure can be replayed with `HOSTILE_SEED`).
fn random_values(rng: &mut impl rand::Rng, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let len = rng.random_range(0..3_000);
            let class = rng.random_range(0..4);
            (0..len)
                .map(|_| match class {
                    0 => rng.random::<char>(),
                    1 => char::from(rng.random_range(0u8..0x80)),
                    2 => char::from_u32(rng.random_range(0x590..0x700)).unwrap_or('?'),
                    _ => ['<', '>', '"', '\'', '&', '%', '\0', '\r', '\n', '{', '}']
                        [rng.random_range(0..11)],
                })
                .collect()
        })
        .collect()
}

/// A form of a page: where it posts and the names of its fields (the CSRF token apart).
struct FormFound {
    page: String,
    action: String,
    fields: Vec<String>,
}

fn forms_of(page: &str, html: &str) -> Vec<FormFound> {
    let doc = Html::parse_document(html);
    let forms = Selector::parse("form[method=post]").unwrap();
    let inputs = Selector::parse("input[name], textarea[name], select[name]").unwrap();
    doc.select(&forms)
        .filter_map(|form| {
            let action = form.value().attr("action").unwrap_or(page).to_owned();
            let fields: Vec<String> = form
                .select(&inputs)
                .filter(|i| i.value().attr("type") != Some("file"))
                .filter_map(|i| i.value().attr("name"))
                .filter(|n| *n != "csrf_token")
                .map(str::to_owned)
                .collect();
            // Forms that only confirm an action (remove, sign out) have nothing to send.
            (!fields.is_empty()).then(|| FormFound {
                page: page.to_owned(),
                action,
                fields,
            })
        })
        .collect()
}

#[tokio::test]
async fn hostile_values_in_every_form_get_an_answer_never_a_server_error_or_an_unescaped_echo() {
    let app = spawn_app_with(|s| {
        lift_signin_limits(s);
        s.limits.reset_requests_per_ip = 10_000;
        s.limits.reset_requests_per_email = 10_000;
        s.limits.reset_requests_per_email_and_ip = 10_000;
        s.limits.registrations_per_ip = 10_000;
        s.limits.invites_per_admin = 10_000;
        s.limits.invites_per_ip = 10_000;
    })
    .await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let member = app
        .invite_person("Mia", "Member", "mia@example.com", &[])
        .await;
    // A patient's account is the project's own: the admin may change its address.
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Pat"),
            ("lastName", "Patient"),
            ("email", "pat@example.com"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let patient = app.membership_of("pat@example.com");
    let client = app.create_client("Hostile", &[]).await;
    let policy = app.patient_self_policy("Hostile").await;
    let signed_in_pages = [
        "/".to_owned(),
        "/account".into(),
        "/account/security".into(),
        "/account/mfa".into(),
        "/account/delete".into(),
        "/projects/new".into(),
        "/projects/leave".into(),
        "/invitations".into(),
        "/admin/project".into(),
        "/admin/project/transfer".into(),
        "/admin/project/delete".into(),
        "/admin/users".into(),
        "/admin/patients".into(),
        "/admin/invite".into(),
        "/admin/invite/bulk".into(),
        "/admin/invitations".into(),
        "/admin/clients/new".into(),
        "/admin/access-policies/new".into(),
        "/admin/sign-in".into(),
        "/admin/audit".into(),
        format!("/admin/members/{member}"),
        format!("/admin/members/{member}/profile"),
        format!("/admin/members/{patient}/email"),
        format!("/admin/clients/{}", client.id),
        format!("/admin/access-policies/{policy}"),
    ];
    let mut forms = Vec::new();
    for page in &signed_in_pages {
        let r = app.get(page).await;
        assert!(!r.status().is_server_error(), "{page}: {}", r.status());
        forms.extend(forms_of(page, &r.text().await.unwrap()));
    }
    // The signed-out forms, from a browser of their own.
    let visitor = new_client();
    let mut visitor_forms = Vec::new();
    for page in ["/signin", "/register", "/resetpassword"] {
        let html = app.get_html_with(&visitor, page).await;
        visitor_forms.extend(forms_of(page, &html));
    }
    // Someone just registered, without a project yet.
    let newcomer = new_client();
    let r = app
        .submit_with(
            &newcomer,
            "/register",
            "/register",
            &[
                ("firstName", "Nell"),
                ("lastName", "Newcomer"),
                ("email", "nell@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let newcomer_forms = forms_of(
        "/register/project",
        &app.get_html_with(&newcomer, "/register/project").await,
    );
    assert_eq!(newcomer_forms.len(), 1);
    assert!(forms.len() >= 20, "only {} forms found", forms.len());
    assert!(visitor_forms.len() >= 3);

    let values = hostile_values();
    let seed = std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("random values from HOSTILE_SEED={seed}");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let (mut sent, mut forms_sent) = (0, 0);
    // The newcomer's one form makes a project, which rightly changes what they may see.
    for (browser, found, same_access) in [
        (&app.client, &forms, true),
        (&visitor, &visitor_forms, true),
        (&newcomer, &newcomer_forms, false),
    ] {
        // The session's token, from the page of its first form.
        let csrf = csrf_in(&app.get_html_with(browser, &found[0].page).await);
        for form in found {
            // Sessions are ended by their own rows of the matrix; here they would sign the
            // test out midway.
            if form.action == "/signout" || form.action.ends_with("/revoke-others") {
                continue;
            }
            // Deleting asks for the project's name, which the details form may just have set
            // to one of these very values (a name of digits is a valid name).
            if form.action == "/admin/project/delete" {
                continue;
            }
            forms_sent += 1;
            let randoms = random_values(&mut rng, 4);
            for value in values.iter().chain(&randoms) {
                let before = app.get_with(browser, "/account").await.status();
                let mut body: Vec<(&str, &str)> = form
                    .fields
                    .iter()
                    .map(|f| (f.as_str(), value.as_str()))
                    .collect();
                body.push(("csrf_token", &csrf));
                let r = browser
                    .post(app.url(&form.action))
                    .form(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                sent += 1;
                let after = app.get_with(browser, "/account").await.status();
                assert!(
                    !same_access || before == after,
                    "{} with {:?}… changed what the session may see",
                    form.action,
                    value.chars().take(20).collect::<String>()
                );
                assert!(
                    !status.is_server_error(),
                    "{} (from {}) with {:?}…: {status}",
                    form.action,
                    form.page,
                    value.chars().take(20).collect::<String>()
                );
                assert!(
                    !text.contains(SCRIPT) && !text.contains(ATTRIBUTE),
                    "{} echoed markup unescaped",
                    form.action
                );
            }
            // Bytes that are not UTF-8, percent-encoded as a browser would send them.
            let mut raw = form
                .fields
                .iter()
                .map(|f| format!("{f}=%FF%FE%00abc"))
                .collect::<Vec<_>>()
                .join("&");
            raw.push_str(&format!("&csrf_token={csrf}"));
            let r = browser
                .post(app.url(&form.action))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(raw)
                .send()
                .await
                .unwrap();
            sent += 1;
            assert!(
                !r.status().is_server_error(),
                "{}: {}",
                form.action,
                r.status()
            );
        }
    }
    // A NUL, or markup, in path segments and in API bodies and queries (PostgreSQL refuses
    // a NUL in any text value: it must come back as a 400, not as a failed query).
    let token = app.token(&app.admin_client().await).await;
    let project = app.project_id();
    for segment in [
        "%00",
        "a%00b",
        "%3Cscript%3E",
        "..%2F..%2Fetc",
        &"x".repeat(5_000),
    ] {
        for path in [
            format!("/admin/members/{segment}"),
            format!("/admin/clients/{segment}"),
            format!("/admin/access-policies/{segment}"),
            format!("/profiles/{segment}/photo"),
            format!("/setpassword/{segment}/{segment}"),
            format!("/admin/users?q={segment}&sort={segment}&after={segment}"),
        ] {
            let r = app.get(&path).await;
            sent += 1;
            assert!(!r.status().is_server_error(), "{path}: {}", r.status());
        }
        for path in [
            format!("/fhir/R4/Practitioner/{segment}"),
            format!("/fhir/R4/{segment}"),
            format!("/fhir/R4/ProjectMembership?profile-type={segment}&_count={segment}"),
            format!("/admin/projects/{project}/members/{segment}"),
            format!("/admin/projects/{segment}"),
            format!("/auth/login/{segment}"),
        ] {
            let a = app.api_get(&path, &token).await;
            sent += 1;
            assert!(!a.status.is_server_error(), "{path}: {}", a.status);
        }
    }
    for value in &values {
        for (path, body) in [
            (
                format!("/admin/projects/{project}/invite"),
                serde_json::json!({"resourceType": "Practitioner", "firstName": value,
                    "lastName": value, "email": format!("{value}@example.com"), "externalId": value}),
            ),
            (
                "/auth/login".to_owned(),
                serde_json::json!({"email": value, "password": value, "projectId": value,
                    "codeChallenge": value, "codeChallengeMethod": "plain"}),
            ),
            (
                "/auth/newuser".to_owned(),
                serde_json::json!({"firstName": value, "lastName": value, "email": value,
                    "password": value}),
            ),
            (
                "/auth/revoke".to_owned(),
                serde_json::json!({"loginId": value}),
            ),
            (
                format!("/admin/projects/{project}/client"),
                serde_json::json!({"name": value, "redirectUris": [value]}),
            ),
        ] {
            let a = app.api_post(&path, &token, body).await;
            sent += 1;
            assert!(
                !a.status.is_server_error(),
                "{path} with {:?}…: {}",
                value.chars().take(20).collect::<String>(),
                a.status
            );
        }
    }

    // A huge upload where a photo goes, and a huge form: refused for their size.
    let huge = vec![b'a'; 12 * 1024 * 1024];
    let html = app.get_html("/account").await;
    let part = reqwest::multipart::Part::bytes(huge.clone()).file_name("huge.png");
    // As the page's form sends it: the token in the query, the file in the body.
    let multipart = reqwest::multipart::Form::new().part("photo", part);
    let r = app
        .client
        .post(app.url(&format!("/account/photo?csrf_token={}", csrf_in(&html))))
        .multipart(multipart)
        .send()
        .await;
    // The account page again, the size named beside the field.
    let r = r.expect("the server answers before closing");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_security_headers(&r);
    let page = r.text().await.unwrap();
    assert!(page.contains("The photo must be at most 2 MB"), "{page}");
    // A form over the 64 KiB limit: 413, a page saying so. At 12 MB the server answers before
    // the body is sent and closes the connection, so the client may see only that.
    let token = csrf_in(&app.get_html("/admin/invite").await);
    let form = |body: Vec<u8>| {
        app.client
            .post(app.url("/admin/invite"))
            .header("x-csrf-token", &token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = form(vec![b'a'; 80 * 1024]).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers(&r);
    let page = r.text().await.unwrap();
    assert!(page.contains("That upload is too large"), "{page}");
    match form(huge).await {
        Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/admin/users").await.status(), StatusCode::OK);
    eprintln!("{sent} hostile submissions, to {forms_sent} forms among other paths");
}
