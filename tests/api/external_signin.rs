//! Single sign-on through an organisation's OpenID Connect provider, with a second Rollcall
//! instance as that provider: the sign-in form and `POST /auth/method` send the domain's
//! people there, and they come back signed in to the account the provider vouched for.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    ClientCredentials, PASSWORD, TestApp, admin_app, csrf_in, location, new_client, spawn_app,
};

/// The organisation's provider: another Rollcall where Ida has a verified account, with a
/// client registered for `consumer`'s callback.
async fn provider_for(consumer: &TestApp) -> (TestApp, ClientCredentials) {
    let idp = spawn_app().await;
    idp.register_with_project("Ida", "ida@corp.example", "Corp directory")
        .await;
    {
        use rollcall::db::schema::users;
        diesel::update(users::table.filter(users::email.eq("ida@corp.example")))
            .set(users::email_verified.eq(true))
            .execute(&mut idp.conn())
            .unwrap();
    }
    let callback = format!("{}/signin/external/callback", consumer.address);
    let client = idp
        .create_client("Rollcall at the clinic", &[("redirectUri", &callback)])
        .await;
    (idp, client)
}

async fn configure(app: &TestApp, idp: &TestApp, client: &ClientCredentials) -> reqwest::Response {
    app.submit(
        "/admin/sign-in",
        "/admin/sign-in",
        &[
            ("domain", "corp.example"),
            ("issuer", &idp.address),
            ("clientId", &client.id),
            ("clientSecret", &client.secret),
        ],
    )
    .await
}

/// Signs in at the provider in its own browser (cookies are per host, not per port, so each
/// instance gets a browser of its own) and follows it back; the callback address.
async fn through_provider(idp: &TestApp, authorize: &str, password: &str) -> String {
    let at_idp = new_client();
    let r = at_idp.get(authorize).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let signin = location(&r);
    let next: String = url::Url::parse(&idp.url(&signin))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "next")
        .unwrap()
        .1
        .into_owned();
    let r = idp
        .submit_with(
            &at_idp,
            &signin,
            "/signin",
            &[
                ("email", "ida@corp.example"),
                ("password", password),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(location(&r), next);
    let r = idp.get_with(&at_idp, &next).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    location(&r)
}

#[tokio::test]
async fn a_projects_own_accounts_of_a_domain_sign_in_through_the_organisations_provider() {
    let app = admin_app().await;
    let (idp, client) = provider_for(&app).await;
    let ida = app
        .invite_person(
            "Ida",
            "Corp",
            "ida@corp.example",
            &[("projectScoped", "on")],
        )
        .await;

    let bad = app
        .submit(
            "/admin/sign-in",
            "/admin/sign-in",
            &[
                ("domain", "not a domain"),
                ("issuer", "ftp://x"),
                ("clientId", ""),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    for field in ["domain", "issuer", "clientId"] {
        assert!(
            crate::helpers::text_of(&html, &format!("#{field}-error")).is_some(),
            "{field}"
        );
    }
    let r = configure(&app, &idp, &client).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The saved secret goes only to the issuer it came with.
    let moved = app
        .submit(
            "/admin/sign-in",
            "/admin/sign-in",
            &[
                ("domain", "corp.example"),
                ("issuer", "https://attacker.example"),
                ("clientId", &client.id),
                ("clientSecret", ""),
            ],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(crate::helpers::text_of(&moved.text().await.unwrap(), "#clientSecret-error").is_some());
    let page = app.get_html("/admin/sign-in").await;
    assert!(page.contains("corp.example") && page.contains(&idp.address));
    assert!(
        !page.contains(&client.secret),
        "the secret is never shown again"
    );
    assert!(
        app.get_html("/admin/project")
            .await
            .contains("href=\"/admin/sign-in\"")
    );

    // Someone signs up with Ida's address as a server-wide account: her project's sign-in
    // still goes to her organisation's provider.
    app.registered("Squatter", "ida@corp.example").await;

    // Ida follows her project's link: no password is asked; the provider signs her in.
    let browser = new_client();
    let project = app.project_id();
    let signin_page = format!("/signin?project={project}");
    let html = app.get_html_with(&browser, &signin_page).await;
    let r = browser
        .post(app.url("/signin"))
        .form(&[
            ("email", "ida@corp.example"),
            ("password", ""),
            ("project", project.as_str()),
            ("csrf_token", &csrf_in(&html)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let authorize = location(&r);
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", idp.address)),
        "{authorize}"
    );
    assert!(
        authorize.contains("code_challenge_method=S256")
            && authorize.contains("login_hint=ida%40corp.example")
    );
    let callback = through_provider(&idp, &authorize, PASSWORD).await;
    assert!(
        callback.starts_with(&format!("{}/signin/external/callback?", app.address)),
        "{callback}"
    );
    // The answer is accepted only in the browser that asked (no login CSRF): another browser
    // that is handed it gets a refusal, and the owner's sign-in still works.
    let elsewhere = new_client().get(&callback).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    let r = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(location(&r), "/");
    let home = app.get_html_with(&browser, "/").await;
    assert!(home.contains("Clinic"), "signed in, in the project");
    {
        use rollcall::db::schema::{memberships, users};
        let (status, verified): (String, bool) = memberships::table
            .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
            .filter(memberships::id.eq(&ida))
            .select((memberships::status, users::email_verified))
            .first(&mut app.conn())
            .unwrap();
        assert_eq!(
            (status.as_str(), verified),
            ("active", true),
            "the invitation is accepted"
        );
    }
    // The same answer again is refused.
    let again = new_client().get(&callback).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
}

#[tokio::test]
async fn a_projects_provider_never_signs_in_a_server_wide_account_and_apps_get_their_code() {
    let app = admin_app().await;
    let (idp, client) = provider_for(&app).await;
    assert_eq!(
        configure(&app, &idp, &client).await.status(),
        StatusCode::SEE_OTHER
    );
    let project = app.project_id();

    // A server-wide account with an address of the domain keeps its password, even from the
    // project's link: the project's provider may not sign it in.
    let sam = app.registered("Sam", "sam@corp.example").await;
    drop(sam);
    let method = app
        .post_json(
            "/auth/method",
            json!({"email": "sam@corp.example", "projectId": project}),
        )
        .await;
    assert_eq!(method.status, StatusCode::OK);
    assert_eq!(method.body, json!({}), "a password sign-in");
    let browser = new_client();
    let r = app
        .sign_in_with(&browser, "sam@corp.example", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!location(&r).contains("oauth2"));
    // Without the project, nobody's domain is taken over by a project.
    let method = app
        .post_json("/auth/method", json!({"email": "ida@corp.example"}))
        .await;
    assert_eq!(method.body, json!({}));

    // An app (Medplum's domain stage): /auth/method, the provider, then its code.
    app.invite_person(
        "Ida",
        "Corp",
        "ida@corp.example",
        &[("projectScoped", "on")],
    )
    .await;
    let app_client = app
        .create_client(
            "Scheduler",
            &[("redirectUri", "https://scheduler.example/cb")],
        )
        .await;
    let refused = app
        .post_json(
            "/auth/method",
            json!({"email": "ida@corp.example", "clientId": app_client.id, "redirectUri": "https://evil.example/cb", "codeChallenge": "c".repeat(43)}),
        )
        .await;
    assert_eq!(refused.issue_field(), "redirectUri");
    // Medplum's password sign-in is pointed to the domain stage.
    let password = app
        .post_json(
            "/auth/login",
            json!({"email": "ida@corp.example", "password": PASSWORD, "clientId": app_client.id,
                   "codeChallenge": "c".repeat(43), "codeChallengeMethod": "plain"}),
        )
        .await;
    assert_eq!(password.status, StatusCode::BAD_REQUEST);
    assert!(
        password.issue_text().contains("/auth/method"),
        "{:?}",
        password.body
    );
    let verifier = "v".repeat(50);
    let method = app
        .post_json(
            "/auth/method",
            json!({"email": "ida@corp.example", "clientId": app_client.id, "redirectUri": "https://scheduler.example/cb",
                   "codeChallenge": verifier, "codeChallengeMethod": "plain", "state": "app-state"}),
        )
        .await;
    assert_eq!(method.body["domain"], "corp.example", "{:?}", method.body);
    let authorize = method.body["authorizeUrl"].as_str().unwrap().to_owned();
    let callback = through_provider(&idp, &authorize, PASSWORD).await;
    let r = new_client().get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = location(&r);
    assert!(
        back.starts_with("https://scheduler.example/cb?code="),
        "{back}"
    );
    let params: std::collections::HashMap<String, String> = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(params["state"], "app-state");
    let tokens = app
        .token_answer(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("code_verifier", &verifier),
            ("client_id", &app_client.id),
            ("redirect_uri", "https://scheduler.example/cb"),
        ])
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    crate::helpers::remember_secret(tokens.body["access_token"].as_str().unwrap());
    let me = app
        .api_get("/auth/me", tokens.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.body["profile"]["name"][0]["given"][0], "Ida");

    // A provider that cannot be reached: a clear answer, not a hang or a 500.
    {
        use rollcall::db::schema::identity_providers;
        diesel::update(identity_providers::table)
            .set(identity_providers::issuer.eq("http://127.0.0.1:9"))
            .execute(&mut app.conn())
            .unwrap();
    }
    let down = app
        .post_json(
            "/auth/method",
            json!({"email": "ida@corp.example", "projectId": project}),
        )
        .await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.issue_text().contains("cannot be reached"));
}

#[tokio::test]
async fn a_projects_provider_opens_no_way_around_the_servers_provider() {
    let app = admin_app().await;
    let (idp, client) = provider_for(&app).await;
    // The server's own provider for the domain (a super admin's).
    {
        use rollcall::db::schema::users;
        diesel::update(users::table.filter(users::email.eq(crate::helpers::ADMIN_EMAIL)))
            .set(users::super_admin.eq(true))
            .execute(&mut app.conn())
            .unwrap();
    }
    let r = app
        .submit(
            "/admin/sign-in?scope=server",
            "/admin/sign-in",
            &[
                ("scope", "server"),
                ("domain", "corp.example"),
                ("issuer", &idp.address),
                ("clientId", &client.id),
                ("clientSecret", &client.secret),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/sign-in?scope=server");
    // Anyone's project adds its own provider for the domain...
    assert_eq!(
        configure(&app, &idp, &client).await.status(),
        StatusCode::SEE_OTHER
    );
    let boss = app.registered("Boss", "boss@corp.example").await;
    drop(boss);
    // ...yet a server-wide account of the domain, even on that project's link, goes to the
    // server's provider: no password sign-in around it.
    let method = app
        .post_json(
            "/auth/method",
            json!({"email": "boss@corp.example", "projectId": app.project_id()}),
        )
        .await;
    assert_eq!(method.body["domain"], "corp.example", "{:?}", method.body);
    let password = app
        .post_json(
            "/auth/login",
            json!({"email": "boss@corp.example", "password": PASSWORD, "projectId": app.project_id(),
                   "codeChallenge": "c".repeat(43), "codeChallengeMethod": "plain"}),
        )
        .await;
    assert_eq!(password.status, StatusCode::BAD_REQUEST);
    assert!(password.issue_text().contains("/auth/method"));
}
