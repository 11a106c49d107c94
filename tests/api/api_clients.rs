//! Client applications: the Clients tab, `POST /oauth2/token`, `GET /auth/me`, and the life
//! of a token.

use base64::Engine;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, admin_app, attr_of, location};

fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_new_client_shows_its_secret_once_and_stores_only_a_hash() {
    let app = admin_app().await;
    let html = app.get_html("/admin/clients").await;
    assert!(html.contains("No client applications yet"));
    assert!(html.contains("href=\"/admin/clients/new\""));
    assert!(html.contains("href=\"/openapi.json\""));

    let client = app
        .create_client(
            "Lab importer",
            &[
                ("description", "Nightly results"),
                ("redirectUri", "https://lab.example.com/cb"),
            ],
        )
        .await;
    assert_eq!(client.secret.len(), 64);

    let again = app.get_html(&format!("/admin/clients/{}", client.id)).await;
    assert!(attr_of(&again, "#client-secret", "value").is_none());
    assert!(!again.contains(&client.secret));
    assert!(again.contains("Nightly results"));
    assert!(again.contains("https://lab.example.com/cb"));

    let list = app.get_html("/admin/clients").await;
    assert!(list.contains("Lab importer"));
    assert!(list.contains(&client.id));

    use rollcall::db::schema::client_applications;
    let stored: String = client_applications::table
        .find(&client.id)
        .select(client_applications::secret_hash)
        .first(&mut app.conn())
        .unwrap();
    assert_ne!(stored, client.secret);
    assert!(!stored.contains(&client.secret));

    let audit = app.get_html("/admin/audit").await;
    assert!(audit.contains("Client application created"));
}

#[tokio::test]
async fn the_client_form_explains_bad_input_next_to_the_field() {
    let app = admin_app().await;
    let r = app
        .submit(
            "/admin/clients/new",
            "/admin/clients/new",
            &[("name", "  "), ("redirectUri", "not a url")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Enter a name for the client"));
    assert!(html.contains("Enter a full http or https address"));
    assert!(html.contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn client_credentials_in_the_body_or_as_basic_get_a_token_the_sdk_can_read() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let a = app
        .token_answer(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
        ])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 3600);
    assert_eq!(
        a.body["project"]["reference"],
        format!("Project/{}", app.project_id())
    );
    assert_eq!(
        a.body["profile"]["reference"],
        format!("ClientApplication/{}", client.id)
    );
    let token = a.body["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["cid"], client.id.as_str());
    assert!(claims["login_id"].is_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    let basic = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);

    // The token is stored only as a hash.
    use rollcall::db::schema::logins;
    let hashes: Vec<Option<String>> = logins::table
        .filter(logins::client_id.eq(&client.id))
        .select(logins::token_hash)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.iter().all(|h| h.as_deref() != Some(token)));
}

#[tokio::test]
async fn bad_token_requests_get_oauth_errors() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", "wrong"),
            ],
            "invalid_client",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "no-such-client"),
                ("client_secret", &client.secret),
            ],
            "invalid_client",
        ),
        (
            &[("client_id", &client.id), ("client_secret", &client.secret)],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "password"),
                ("client_id", &client.id),
                ("client_secret", &client.secret),
            ],
            "unsupported_grant_type",
        ),
        (&[("grant_type", "client_credentials")], "invalid_request"),
    ];
    for (form, error) in cases {
        let a = app.token_answer(form).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(a.body["error"], error, "{form:?}");
    }
    let json_body = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let a = crate::helpers::answer(json_body).await;
    assert_eq!(a.body["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn repeated_wrong_secrets_from_one_address_are_throttled() {
    let app = crate::helpers::spawn_app_with(|s| s.limits.signin_failures_per_ip = 3).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let client = app.admin_client().await;
    let wrong = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", "nope"),
    ];
    for _ in 0..3 {
        assert_eq!(
            app.token_answer(&wrong).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    let a = app.token_answer(&wrong).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(a.body["issue"][0]["code"], "throttled");
}

#[tokio::test]
async fn auth_me_describes_the_tokens_project_membership_and_profile() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let a = app.api_get("/auth/me", &token).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["project"]["resourceType"], "Project");
    assert_eq!(a.body["project"]["name"], "Clinic");
    assert_eq!(a.body["membership"]["resourceType"], "ProjectMembership");
    assert_eq!(a.body["membership"]["admin"], true);
    assert_eq!(a.body["profile"]["resourceType"], "ClientApplication");
    assert_eq!(a.body["profile"]["id"], client.id.as_str());
    assert!(a.body["profile"].get("secret").is_none());
    assert!(!a.body.to_string().contains("hash"));
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_get_401() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let token = app.token(&client).await;

    let none = crate::helpers::answer(
        reqwest::Client::new()
            .get(app.url("/auth/me"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.body["issue"][0]["code"], "login");

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&token);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = parts.join(".");
    assert_eq!(
        app.api_get("/auth/me", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.api_get("/auth/me", "not-a-token").await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(app.api_get("/auth/me", &token).await.status, StatusCode::OK);
    use rollcall::db::schema::logins;
    diesel::update(logins::table.filter(logins::client_id.eq(&client.id)))
        .set(logins::expires_at.eq(chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1)))
        .execute(&mut app.conn())
        .unwrap();
    assert_eq!(
        app.api_get("/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rotating_the_secret_ends_old_tokens_and_the_old_secret_at_once() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let page = format!("/admin/clients/{}", client.id);
    let r = app.submit(&page, &format!("{page}/rotate"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.get_html(&location(&r)).await;
    let new_secret = attr_of(&html, "#client-secret", "value").unwrap();
    assert_ne!(new_secret, client.secret);

    assert_eq!(
        app.api_get("/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let old = app
        .token_answer(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
        ])
        .await;
    assert_eq!(old.body["error"], "invalid_client");
    let rotated = crate::helpers::ClientCredentials {
        id: client.id.clone(),
        secret: new_secret,
    };
    let fresh = app.token(&rotated).await;
    assert_eq!(app.api_get("/auth/me", &fresh).await.status, StatusCode::OK);
    assert!(
        app.get_html("/admin/audit")
            .await
            .contains("Client secret rotated")
    );
}

#[tokio::test]
async fn removing_the_client_ends_its_tokens_and_credentials() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let page = format!("/admin/clients/{}/remove", client.id);
    let confirm = app.get_html(&page).await;
    assert!(confirm.contains("Remove Integration?"));
    let r = app.submit(&page, &page, &[]).await;
    assert_eq!(location(&r), "/admin/clients");
    assert!(
        app.get_html("/admin/clients")
            .await
            .contains("Integration was removed")
    );
    assert_eq!(
        app.api_get("/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .token_answer(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
        ])
        .await;
    assert_eq!(again.body["error"], "invalid_client");
    assert_eq!(
        app.get(&format!("/admin/clients/{}", client.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn removing_a_clients_membership_ends_its_tokens() {
    let app = admin_app().await;
    let admin = app.admin_client().await;
    let admin_token = app.token(&admin).await;
    let worker = app.create_client("Worker", &[]).await;
    let worker_token = app.token(&worker).await;
    let me = app.api_get("/auth/me", &worker_token).await;
    let membership = me.body["membership"]["id"].as_str().unwrap().to_owned();

    let path = format!("/admin/projects/{}/members/{membership}", app.project_id());
    let a = app
        .api(reqwest::Method::DELETE, &path, &admin_token, None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        app.api_get("/auth/me", &worker_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .token_answer(&[
            ("grant_type", "client_credentials"),
            ("client_id", &worker.id),
            ("client_secret", &worker.secret),
        ])
        .await;
    assert_eq!(again.body["error"], "invalid_client");
}

#[tokio::test]
async fn a_clients_membership_can_be_made_admin_from_its_page() {
    let app = admin_app().await;
    let client = app.create_client("Reporter", &[]).await;
    let token = app.token(&client).await;
    let body = json!({"resourceType": "Practitioner", "firstName": "Al", "lastName": "Kindi", "email": "al@example.com"});
    let refused = app.api_invite(&token, body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(app.mails_to("al@example.com").is_empty());

    let page = format!("/admin/clients/{}", client.id);
    let r = app.submit(&page, &page, &[("admin", "on")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.get_html(&page).await;
    assert!(html.contains("Client access saved"));
    assert!(html.contains("id=\"admin\" name=\"admin\" type=\"checkbox\" value=\"on\" checked"));

    let allowed = app.api_invite(&token, body).await;
    assert_eq!(allowed.status, StatusCode::OK, "{:?}", allowed.body);
}

#[tokio::test]
async fn an_admin_client_creates_another_client_through_the_api() {
    let app = admin_app().await;
    let admin = app.admin_client().await;
    let token = app.token(&admin).await;
    let path = format!("/admin/projects/{}/client", app.project_id());
    let a = app
        .api_post(
            &path,
            &token,
            json!({"name": "Made by API", "description": "x"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(a.body["resourceType"], "ClientApplication");
    let made = crate::helpers::ClientCredentials {
        id: a.body["id"].as_str().unwrap().to_owned(),
        secret: a.body["secret"].as_str().unwrap().to_owned(),
    };
    app.token(&made).await;
    let read = app
        .api_get(&format!("/fhir/R4/ClientApplication/{}", made.id), &token)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.body.get("secret").is_none());

    let bad = app.api_post(&path, &token, json!({"name": ""})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.issue_field(), "name");
}

#[tokio::test]
async fn only_super_admins_make_super_admin_clients_which_create_projects() {
    let app = admin_app().await;
    let r = app
        .submit(
            "/admin/clients/new",
            "/admin/clients/new",
            &[("name", "Sneaky"), ("superAdmin", "on")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let plain = app.admin_client().await;
    let plain_token = app.token(&plain).await;
    let refused = app
        .api_post(
            "/admin/projects",
            &plain_token,
            json!({"name": "Not allowed"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    use rollcall::db::schema::users;
    diesel::update(users::table.filter(users::email.eq(ADMIN_EMAIL)))
        .set(users::super_admin.eq(true))
        .execute(&mut app.conn())
        .unwrap();
    assert!(
        app.get_html("/admin/clients/new")
            .await
            .contains("name=\"superAdmin\"")
    );
    let root = app
        .create_client("Provisioner", &[("superAdmin", "on")])
        .await;
    let token = app.token(&root).await;

    let a = app
        .api_post(
            "/admin/projects",
            &token,
            json!({"name": "Second Clinic", "description": "Made by API"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(a.body["resourceType"], "Project");
    assert_eq!(a.body["name"], "Second Clinic");
    let second = a.body["id"].as_str().unwrap().to_owned();

    let fhir = reqwest::Client::new()
        .post(app.url("/fhir/R4/Project"))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Project", "name": "Third Clinic"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(fhir.status(), StatusCode::CREATED);

    // A super admin client may administer a project it is not a member of.
    let invite = app
        .api_post(
            &format!("/admin/projects/{second}/invite"),
            &token,
            json!({"resourceType": "Practitioner", "firstName": "Ida", "lastName": "Noddack", "email": "ida@example.com"}),
        )
        .await;
    assert_eq!(invite.status, StatusCode::OK, "{:?}", invite.body);
    assert_eq!(
        invite.body["project"]["reference"],
        format!("Project/{second}")
    );

    // The path Medplum's documentation shows, with its extra field.
    for path in ["/admin/Project/", "/admin/Project"] {
        let a = app
            .api_post(
                path,
                &token,
                json!({"resourceType": "Project", "name": format!("Doc {path}"), "strictMode": true}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{path}: {:?}", a.body);
    }

    let invalid = app
        .api_post("/admin/projects", &token, json!({"name": "abc"}))
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.issue_field(), "name");
}
