//! People signing in through the API: Medplum's `/auth/login` flow, `/oauth2/authorize` for
//! browser apps, codes, refresh tokens, sign-out, UserInfo, discovery and the signing keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    ADMIN_EMAIL, ApiAnswer, PASSWORD, TestApp, admin_app, answer, code, kids_in, location,
    new_client, other_admin, remember_secret,
};

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

impl TestApp {
    /// `POST /auth/login` as Medplum's SDK sends it (empty client id), with an S256 challenge
    /// and `extra` fields; the verifier and the answer.
    async fn api_login(&self, email: &str, password: &str, extra: Value) -> (String, ApiAnswer) {
        let (verifier, challenge) = pkce();
        let mut body = json!({
            "email": email,
            "password": password,
            "clientId": "",
            "codeChallenge": challenge,
            "codeChallengeMethod": "S256",
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        (verifier, self.post_json("/auth/login", body).await)
    }

    /// Redeems a code as Medplum's SDK does in Node (empty `client_id` and `redirect_uri`).
    async fn redeem(&self, code: &str, verifier: &str) -> ApiAnswer {
        self.token_answer(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("client_id", ""),
            ("redirect_uri", ""),
        ])
        .await
    }

    /// Signs in through the API with this scope; the token answer.
    async fn api_tokens(&self, email: &str, scope: &str) -> ApiAnswer {
        self.person_tokens(email, PASSWORD, scope).await
    }

    async fn refresh(&self, token: &str) -> ApiAnswer {
        self.token_answer(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", ""),
        ])
        .await
    }
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

#[tokio::test]
async fn a_person_signs_in_through_the_api_and_the_code_works_once_with_its_verifier() {
    let app = admin_app().await;
    let (verifier, a) = app.api_login(ADMIN_EMAIL, PASSWORD, json!({})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let login = s(&a.body, "login");
    let code = s(&a.body, "code");
    remember_secret(&code);

    // A wrong verifier is refused (and uses the code up: codes are single use).
    let (other_verifier, b) = app.api_login(ADMIN_EMAIL, PASSWORD, json!({})).await;
    let wrong = app.redeem(&s(&b.body, "code"), &verifier).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.body["error"], "invalid_grant");
    assert_eq!(wrong.body["error_description"], "Invalid code_verifier");
    let late = app.redeem(&s(&b.body, "code"), &other_verifier).await;
    assert_eq!(late.body["error"], "invalid_grant", "a code is used once");

    let tokens = app.redeem(&code, &verifier).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    assert_eq!(tokens.headers["cache-control"], "no-store");
    let access = s(&tokens.body, "access_token");
    remember_secret(&access);
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 3600);
    assert_eq!(tokens.body["scope"], "openid");
    assert!(
        tokens.body["id_token"].is_string(),
        "openid is in the scope"
    );
    assert!(
        tokens.body["refresh_token"].is_null(),
        "no offline scope, no refresh token"
    );
    assert_eq!(
        tokens.body["project"]["reference"],
        format!("Project/{}", app.project_id())
    );
    assert!(s(&tokens.body["profile"], "reference").starts_with("Practitioner/"));

    let header = header_of(&access);
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    let claims = claims_of(&access);
    assert_eq!(
        claims["login_id"],
        login.as_str(),
        "the SDK loads the profile"
    );
    assert!(
        claims.get("cid").is_none() && claims.get("client_id").is_none(),
        "no client: the SDK (client id '') would refuse a token naming one"
    );
    assert_eq!(claims["profile"], tokens.body["profile"]["reference"]);

    let me = app.api_get("/auth/me", &access).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.body["profile"]["resourceType"], "Practitioner");
    assert_eq!(me.body["membership"]["admin"], true);
    assert_eq!(me.body["security"]["mfaEnrolled"], false);
    assert!(me.body["security"]["sessions"].as_array().unwrap().len() >= 2);
    assert_eq!(me.body["config"]["resourceType"], "UserConfiguration");
    assert!(
        me.body["project"].get("superAdmin").is_none(),
        "not a super admin"
    );

    // The code again: refused, and what it issued stops working.
    let again = app.redeem(&code, &verifier).await;
    assert_eq!(again.body["error"], "invalid_grant");
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&format!("/auth/login/{login}")).await.status(),
        StatusCode::BAD_REQUEST,
        "a finished login cannot go on"
    );
}

#[tokio::test]
async fn wrong_credentials_and_bad_requests_get_operation_outcomes() {
    let app = admin_app().await;
    for (email, password) in [
        (ADMIN_EMAIL, "wrong password here"),
        ("nobody@example.com", PASSWORD),
    ] {
        let (_, a) = app.api_login(email, password, json!({})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.body["resourceType"], "OperationOutcome");
        assert_eq!(
            a.issue_text(),
            "Email or password is invalid",
            "one answer for both"
        );
    }
    let (_, a) = app.api_login("not an email", PASSWORD, json!({})).await;
    assert_eq!(a.issue_field(), "email");
    let (_, a) = app
        .api_login(ADMIN_EMAIL, PASSWORD, json!({ "codeChallenge": "" }))
        .await;
    assert_eq!(
        (a.status, a.issue_field().as_str()),
        (StatusCode::BAD_REQUEST, "codeChallenge")
    );
    for short in [
        "abc",
        "has spaces in it and is long enough to pass the length rule",
    ] {
        let (_, a) = app
            .api_login(ADMIN_EMAIL, PASSWORD, json!({ "codeChallenge": short }))
            .await;
        assert_eq!(a.issue_field(), "codeChallenge", "{short}");
    }
    let (_, a) = app
        .api_login(
            ADMIN_EMAIL,
            PASSWORD,
            json!({ "codeChallengeMethod": "md5" }),
        )
        .await;
    assert_eq!(a.issue_field(), "codeChallengeMethod");
    let (_, a) = app
        .api_login(
            ADMIN_EMAIL,
            PASSWORD,
            json!({ "clientId": "no-such-client" }),
        )
        .await;
    assert_eq!(a.issue_field(), "clientId");

    // Medplum's SDK in Node sends `plain`: the verifier is the challenge.
    let a = app
        .post_json(
            "/auth/login",
            json!({"email": ADMIN_EMAIL, "password": PASSWORD, "clientId": "",
                   "codeChallenge": "plain-verifier-0123456789-0123456789-0123456789",
                   "codeChallengeMethod": "plain"}),
        )
        .await;
    let tokens = app
        .redeem(
            &s(&a.body, "code"),
            "plain-verifier-0123456789-0123456789-0123456789",
        )
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);

    // The sign-in throttle is the page's: the same counters.
    let limited = rollcall::config::Settings::default()
        .limits
        .signin_failures_per_account;
    let mut last = StatusCode::OK;
    for _ in 0..=limited {
        last = app
            .api_login(ADMIN_EMAIL, "still the wrong one", json!({}))
            .await
            .1
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let r = app.sign_in_with(&new_client(), ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the page counts them too"
    );
}

#[tokio::test]
async fn a_person_in_two_projects_chooses_one_and_a_login_is_finished_once() {
    let app = admin_app().await;
    let r = app.create_project("/projects/new", "Second Clinic").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mallory = other_admin(&app).await;
    drop(mallory);

    let (verifier, a) = app.api_login(ADMIN_EMAIL, PASSWORD, json!({})).await;
    let login = s(&a.body, "login");
    let memberships = a.body["memberships"].as_array().expect("a choice").clone();
    assert_eq!(memberships.len(), 2);
    assert!(a.body.get("code").is_none());
    let status = answer(app.get(&format!("/auth/login/{login}")).await).await;
    assert_eq!(
        status.body["memberships"].as_array().unwrap().len(),
        2,
        "state, unchanged"
    );

    let second = memberships
        .iter()
        .find(|m| m["project"]["display"] == "Second Clinic")
        .unwrap();
    // Someone else's membership is not a choice.
    let mallorys = app.membership_of("mallory@example.com");
    let refused = app
        .post_json(
            "/auth/profile",
            json!({"login": login, "profile": mallorys}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.issue_text().as_str()),
        (StatusCode::BAD_REQUEST, "Profile not found")
    );

    let chosen = app
        .post_json(
            "/auth/profile",
            json!({"login": login, "profile": second["id"]}),
        )
        .await;
    assert_eq!(chosen.status, StatusCode::OK, "{:?}", chosen.body);
    let tokens = app.redeem(&s(&chosen.body, "code"), &verifier).await;
    assert_eq!(
        tokens.body["project"]["reference"],
        format!("Project/{}", app.project_id_of("Second Clinic"))
    );
    let again = app
        .post_json(
            "/auth/profile",
            json!({"login": login, "profile": second["id"]}),
        )
        .await;
    assert_eq!(again.issue_text(), "Login already completed");

    // Naming the project skips the choice.
    let (_, direct) = app
        .api_login(
            ADMIN_EMAIL,
            PASSWORD,
            json!({"projectId": app.project_id()}),
        )
        .await;
    assert!(direct.body["code"].is_string(), "{:?}", direct.body);

    // A pending login expires.
    let (_, pending) = app.api_login(ADMIN_EMAIL, PASSWORD, json!({})).await;
    let login = s(&pending.body, "login");
    {
        use rollcall::db::schema::login_grants;
        diesel::update(login_grants::table.find(&login))
            .set(login_grants::pending_until.eq(chrono::Utc::now().naive_utc()))
            .execute(&mut app.conn())
            .unwrap();
    }
    let late = app
        .post_json(
            "/auth/profile",
            json!({"login": login, "profile": second["id"]}),
        )
        .await;
    assert_eq!(late.issue_text(), "Login expired; sign in again");
    let unknown = app
        .post_json(
            "/auth/profile",
            json!({"login": "no-such-login", "profile": second["id"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_second_factor_comes_before_the_code_and_a_project_requiring_it_enrols_first() {
    let app = admin_app().await;
    let secret = crate::helpers::enrol(&app, &app.client, "/account/mfa").await;
    let (verifier, a) = app.api_login(ADMIN_EMAIL, PASSWORD, json!({})).await;
    assert_eq!(a.body["mfaRequired"], true, "{:?}", a.body);
    assert!(a.body.get("code").is_none());
    let login = s(&a.body, "login");
    let early = app
        .post_json(
            "/auth/profile",
            json!({"login": login, "profile": app.membership_of(ADMIN_EMAIL)}),
        )
        .await;
    assert_eq!(
        early.status,
        StatusCode::BAD_REQUEST,
        "not before the second factor"
    );
    let wrong = app
        .post_json(
            "/auth/mfa/verify",
            json!({"login": login, "token": "000000"}),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.issue_field().as_str()),
        (StatusCode::BAD_REQUEST, "token")
    );
    let right = app
        .post_json(
            "/auth/mfa/verify",
            json!({"login": login, "token": code(&secret, 1)}),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{:?}", right.body);
    let tokens = app.redeem(&s(&right.body, "code"), &verifier).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let me = app
        .api_get("/auth/me", &s(&tokens.body, "access_token"))
        .await;
    assert_eq!(me.body["security"]["mfaEnrolled"], true);

    // A member of a project that requires it sets it up during the API sign-in.
    let (_, _) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    {
        use rollcall::db::schema::projects;
        diesel::update(projects::table.find(app.project_id()))
            .set(projects::require_mfa.eq(true))
            .execute(&mut app.conn())
            .unwrap();
    }
    let (verifier, a) = app
        .api_login("grace@example.com", PASSWORD, json!({}))
        .await;
    assert_eq!(a.body["mfaEnrollRequired"], true, "{:?}", a.body);
    let uri = url::Url::parse(&s(&a.body, "enrollUri")).unwrap();
    let grace_secret = uri
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    remember_secret(&grace_secret);
    let login = s(&a.body, "login");
    let wrong = app
        .post_json(
            "/auth/mfa/login-enroll",
            json!({"login": login, "token": "123456"}),
        )
        .await;
    assert_eq!(wrong.issue_field(), "token");
    let enrolled = app
        .post_json(
            "/auth/mfa/login-enroll",
            json!({"login": login, "token": code(&grace_secret, 0)}),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{:?}", enrolled.body);
    assert_eq!(enrolled.body["recoveryCodes"].as_array().unwrap().len(), 10);
    let tokens = app.redeem(&s(&enrolled.body, "code"), &verifier).await;
    assert_eq!(tokens.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_whole_sign_in() {
    let app = admin_app().await;
    let first = app.api_tokens(ADMIN_EMAIL, "openid offline_access").await;
    let refresh1 = s(&first.body, "refresh_token");
    let second = app.refresh(&refresh1).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    let (access2, refresh2) = (
        s(&second.body, "access_token"),
        s(&second.body, "refresh_token"),
    );
    remember_secret(&access2);
    remember_secret(&refresh2);
    assert_ne!(refresh1, refresh2, "rotated");
    assert_eq!(
        app.api_get("/auth/me", &access2).await.status,
        StatusCode::OK
    );

    // The spent one again: refused, and the newer tokens of the same sign-in end too.
    let reused = app.refresh(&refresh1).await;
    assert_eq!(reused.body["error"], "invalid_grant");
    assert_eq!(
        app.api_get("/auth/me", &access2).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh(&refresh2).await.body["error"], "invalid_grant");

    // "Keep me signed in" asks for one too (Medplum's `remember`); without it, none.
    let (verifier, a) = app
        .api_login(ADMIN_EMAIL, PASSWORD, json!({ "remember": true }))
        .await;
    let remembered = app.redeem(&s(&a.body, "code"), &verifier).await;
    assert!(
        remembered.body["refresh_token"].is_string(),
        "{:?}",
        remembered.body
    );
    remember_secret(&s(&remembered.body, "access_token"));
    remember_secret(&s(&remembered.body, "refresh_token"));

    // `offline` works as well; a client id the token was not issued to does not.
    let other = app.api_tokens(ADMIN_EMAIL, "openid offline").await;
    let refresh = s(&other.body, "refresh_token");
    let wrong_client = app
        .token_answer(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "someone-else"),
        ])
        .await;
    assert_eq!(wrong_client.body["error"], "invalid_grant");
    let owner = app.refresh(&refresh).await;
    assert_eq!(
        owner.status,
        StatusCode::OK,
        "a stranger's attempt did not spend it: {:?}",
        owner.body
    );
}

#[tokio::test]
async fn signing_out_ends_the_login_and_every_token_of_it() {
    let app = admin_app().await;
    let tokens = app.api_tokens(ADMIN_EMAIL, "openid offline_access").await;
    let access = s(&tokens.body, "access_token");
    // As Medplum's `signOut()` sends it: a JSON `{}` body with the bearer token.
    let out = app.api_post("/oauth2/logout", &access, json!({})).await;
    assert_eq!(out.status, StatusCode::OK, "{:?}", out.body);
    assert_eq!(out.body["resourceType"], "OperationOutcome");
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&s(&tokens.body, "refresh_token")).await.body["error"],
        "invalid_grant"
    );
    assert_eq!(
        app.api_post("/oauth2/logout", &access, json!({}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The browser session is another login: still signed in.
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_suspended_or_removed_member_or_a_changed_password_ends_api_access() {
    let app = admin_app().await;
    let (grace_id, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    let tokens = app
        .api_tokens("grace@example.com", "openid offline_access")
        .await;
    let (access, refresh) = (
        s(&tokens.body, "access_token"),
        s(&tokens.body, "refresh_token"),
    );
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::OK
    );

    let r = app
        .submit(
            "/admin/users",
            &format!("/admin/members/{grace_id}/suspend"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh(&refresh).await.body["error"], "invalid_grant");
    let (_, a) = app
        .api_login("grace@example.com", PASSWORD, json!({}))
        .await;
    assert_eq!(
        a.body["memberships"],
        json!([]),
        "no project to enter: {:?}",
        a.body
    );

    let r = app
        .submit(
            "/admin/users",
            &format!("/admin/members/{grace_id}/reactivate"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let tokens = app
        .api_tokens("grace@example.com", "openid offline_access")
        .await;
    let access = s(&tokens.body, "access_token");
    // Changing the password ends API sign-ins as it ends other sessions.
    let r = app
        .submit_with(
            &grace,
            "/account/security",
            "/account/password",
            &[
                ("oldPassword", PASSWORD),
                ("newPassword", "an entirely new passphrase"),
                ("confirmPassword", "an entirely new passphrase"),
            ],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&s(&tokens.body, "refresh_token")).await.body["error"],
        "invalid_grant"
    );
}

/// A browser app registered with two redirect URIs.
async fn browser_app(app: &TestApp) -> String {
    app.create_client(
        "Scheduler",
        &[(
            "redirectUri",
            "https://app.example/callback\nhttps://app.example/other",
        )],
    )
    .await
    .id
}

fn authorize_url(client_id: &str, redirect_uri: &str, challenge: &str, extra: &str) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile email offline_access"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    format!("/oauth2/authorize?{query}{extra}")
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn a_browser_app_gets_a_code_through_the_sign_in_pages_and_redeems_it_bound_to_itself() {
    let app = admin_app().await;
    let client_id = browser_app(&app).await;
    let (verifier, challenge) = pkce();
    let browser = new_client();
    let start = authorize_url(&client_id, "https://app.example/other", &challenge, "");

    // Not signed in: the sign-in page, which comes back here.
    let r = app.get_with(&browser, &start).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let signin = location(&r);
    assert!(
        signin.starts_with("/signin?next=%2Foauth2%2Fauthorize"),
        "{signin}"
    );
    let next: String = url::Url::parse(&app.url(&signin))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "next")
        .unwrap()
        .1
        .into_owned();
    let r = app
        .submit_with(
            &browser,
            &signin,
            "/signin",
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(location(&r), next);
    let r = app.get_with(&browser, &next).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = location(&r);
    assert!(back.starts_with("https://app.example/other?"), "{back}");
    let params = query_of(&back);
    assert_eq!(params["state"], "st-123");
    let code = params["code"].clone();
    remember_secret(&code);

    let redeem = |redirect: &'static str, client: String, code: String, verifier: String| {
        let app = &app;
        async move {
            app.token_answer(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("client_id", &client),
                ("redirect_uri", redirect),
            ])
            .await
        }
    };
    // Bound to the redirect URI it was sent to: another one (even registered) burns it.
    let wrong = redeem(
        "https://app.example/callback",
        client_id.clone(),
        code.clone(),
        verifier.clone(),
    )
    .await;
    assert_eq!(
        wrong.body["error_description"],
        "redirect_uri does not match"
    );

    let r = app.get_with(&browser, &next).await;
    let code = query_of(&location(&r))["code"].clone();
    let other_client = app
        .create_client("Other", &[("redirectUri", "https://other.example/cb")])
        .await;
    let wrong = redeem(
        "https://app.example/other",
        other_client.id.clone(),
        code.clone(),
        verifier.clone(),
    )
    .await;
    assert_eq!(
        wrong.body["error_description"],
        "The code was issued to another client"
    );

    let r = app.get_with(&browser, &next).await;
    let code = query_of(&location(&r))["code"].clone();
    let tokens = redeem(
        "https://app.example/other",
        client_id.clone(),
        code,
        verifier,
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let access = s(&tokens.body, "access_token");
    remember_secret(&access);
    let claims = claims_of(&access);
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["cid"], client_id.as_str());
    assert!(tokens.body["refresh_token"].is_string());

    // The ID token verifies against the published keys.
    let id_token = s(&tokens.body, "id_token");
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(&id_token).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[&client_id]);
    validation.set_issuer(&[&app.address]);
    let id = jsonwebtoken::decode::<Value>(&id_token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["email"], ADMIN_EMAIL);
    assert_eq!(id["given_name"], "Ada");
    assert!(s(&id, "fhirUser").starts_with("Practitioner/"));

    let info = app.api_get("/oauth2/userinfo", &access).await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(
        info.body["sub"], id["sub"],
        "the same subject as the ID token"
    );
    assert_eq!(info.body["email"], ADMIN_EMAIL);
    assert_eq!(
        info.body["email_verified"], false,
        "registered; the address not confirmed yet"
    );
    assert_eq!(info.body["family_name"], "Tester");

    // The app's sign-out leaves the browser signed in, and the other way round.
    assert_eq!(
        app.api_post("/oauth2/logout", &access, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get_with(&browser, "/account").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn authorize_refuses_unknown_clients_unregistered_redirects_and_weak_pkce() {
    let app = admin_app().await;
    let client_id = browser_app(&app).await;
    let (_, challenge) = pkce();

    // Nothing is sent to an address the app did not register: a page says why.
    for url in [
        authorize_url(
            "no-such-client",
            "https://app.example/callback",
            &challenge,
            "",
        ),
        authorize_url(&client_id, "https://evil.example/callback", &challenge, ""),
        authorize_url(&client_id, "https://app.example/callback/", &challenge, ""),
        authorize_url(
            &client_id,
            "https://app.example/callback?x=1",
            &challenge,
            "",
        ),
    ] {
        let r = app.get(&url).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(r.headers().get("location").is_none());
        let html = r.text().await.unwrap();
        assert!(
            html.contains("redirect_uri") || html.contains("client_id"),
            "{html}"
        );
    }

    // Everything else goes back to the app as an OAuth error, with its state.
    let plain = authorize_url(&client_id, "https://app.example/callback", &challenge, "")
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let missing = authorize_url(&client_id, "https://app.example/callback", "", "");
    let token = authorize_url(&client_id, "https://app.example/callback", &challenge, "")
        .replace("response_type=code", "response_type=token");
    for (url, error) in [
        (plain, "invalid_request"),
        (missing, "invalid_request"),
        (token, "unsupported_response_type"),
    ] {
        let r = app.get(&url).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{url}");
        let params = query_of(&location(&r));
        assert_eq!(params["error"], error, "{url}");
        assert_eq!(params["state"], "st-123");
        assert!(!params.contains_key("code"));
    }

    // prompt=none without a session; a person of another project; prompt=login.
    let url = authorize_url(
        &client_id,
        "https://app.example/callback",
        &challenge,
        "&prompt=none",
    );
    let r = app.get_with(&new_client(), &url).await;
    assert_eq!(query_of(&location(&r))["error"], "login_required");
    let mallory = other_admin(&app).await;
    let url = authorize_url(&client_id, "https://app.example/callback", &challenge, "");
    let r = app.get_with(&mallory, &url).await;
    assert_eq!(query_of(&location(&r))["error"], "access_denied");
    let url = authorize_url(
        &client_id,
        "https://app.example/callback",
        &challenge,
        "&prompt=login",
    );
    // A sign-in just made is fresh enough; an older one is confirmed again by the person (a
    // link from elsewhere cannot sign them out).
    let r = app.get(&url).await;
    assert!(
        query_of(&location(&r)).contains_key("code"),
        "a fresh sign-in"
    );
    {
        use rollcall::db::schema::logins;
        let hour_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(1);
        diesel::update(logins::table)
            .set(logins::created_at.eq(hour_ago))
            .execute(&mut app.conn())
            .unwrap();
    }
    let r = app.get(&url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Sign in again") && html.contains("Scheduler"),
        "{html}"
    );
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    let next = crate::helpers::attr_of(&html, "input[name=next]", "value").unwrap();
    assert!(!next.contains("prompt"), "{next}");
    let r = app
        .client
        .post(app.url("/signout"))
        .form(&[
            ("csrf_token", crate::helpers::csrf_in(&html).as_str()),
            ("next", next.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with("/signin?next=%2Foauth2%2Fauthorize"),
        "{}",
        location(&r)
    );
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::SEE_OTHER,
        "signed out on request"
    );

    // POST works as GET does.
    app.sign_in(ADMIN_EMAIL, PASSWORD).await;
    let form = url::Url::parse(&app.url(&authorize_url(
        &client_id,
        "https://app.example/callback",
        &challenge,
        "",
    )))
    .unwrap()
    .query()
    .unwrap()
    .to_owned();
    let r = app
        .client
        .post(app.url("/oauth2/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(query_of(&location(&r)).contains_key("code"));
}

#[tokio::test]
async fn discovery_keys_and_rotation_serve_a_standard_openid_connect_client() {
    let app = admin_app().await;
    let config: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config["issuer"], app.address.as_str());
    for (key, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(config[key], format!("{}{path}", app.address));
    }
    assert_eq!(config["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );

    let tokens = app.api_tokens(ADMIN_EMAIL, "openid").await;
    let access = s(&tokens.body, "access_token");
    let old_kid = s(&header_of(&access), "kid");
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert!(keys[0].get("d").is_none(), "never the private part");

    // As `rollcall rotate-keys` does, from another process.
    let new_kid = rollcall::services::keys::rotate(&mut app.conn()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kids = kids_in(&jwks);
    assert!(
        kids.contains(&new_kid) && kids.contains(&old_kid),
        "{kids:?}"
    );
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::OK,
        "old tokens still verify"
    );

    // A token another instance signs with the new key verifies here at once (this instance
    // has not signed with it yet); the database row still decides which token is current.
    let other = rollcall::services::keys::KeyRing::open(&mut app.conn(), &app.address).unwrap();
    let mut claims = claims_of(&access);
    claims["jti"] = json!("another");
    let elsewhere = other.sign(&mut app.conn(), &claims).unwrap();
    remember_secret(&elsewhere);
    assert_eq!(header_of(&elsewhere)["kid"], new_kid.as_str());
    assert_eq!(
        app.api_get("/auth/me", &elsewhere).await.status,
        StatusCode::UNAUTHORIZED,
        "not the current token"
    );
    {
        use rollcall::db::schema::logins;
        diesel::update(logins::table.find(s(&claims, "login_id")))
            .set(logins::token_hash.eq(Some(rollcall::services::hash_secret(&elsewhere))))
            .execute(&mut app.conn())
            .unwrap();
    }
    assert_eq!(
        app.api_get("/auth/me", &elsewhere).await.status,
        StatusCode::OK
    );

    // Client tokens are not people: no UserInfo.
    let client = app.admin_client().await;
    let client_token = app.token(&client).await;
    assert_eq!(
        app.api_get("/oauth2/userinfo", &client_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_clients_tab_shows_and_edits_redirect_uris_with_a_ready_made_authorize_url() {
    let app = admin_app().await;
    let client = app.create_client("Plain", &[]).await;
    let page = format!("/admin/clients/{}", client.id);
    let html = app.get_html(&page).await;
    assert!(crate::helpers::text_of(&html, "#no-redirect-uris").is_some());

    let r = app
        .submit(
            &page,
            &format!("{page}/redirect-uris"),
            &[(
                "redirectUri",
                "https://ok.example/cb\nhttps://bad.example/cb#frag",
            )],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        crate::helpers::text_of(&html, "#redirectUri-error")
            .unwrap()
            .contains("https://bad.example/cb#frag")
    );
    assert!(
        html.contains("https://ok.example/cb\nhttps://bad.example/cb#frag</textarea>"),
        "what was typed is kept"
    );

    let r = app
        .submit(
            &page,
            &format!("{page}/redirect-uris"),
            &[(
                "redirectUri",
                " https://ok.example/cb \r\n\r\nhttps://two.example/cb",
            )],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::helpers::audited(&app, "client.redirect_uris_changed"),
        1
    );
    let html = app.get_html(&page).await;
    let url = crate::helpers::attr_of(&html, "#authorize-url", "value").unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/oauth2/authorize?response_type=code&client_id={}",
            app.address, client.id
        )),
        "{url}"
    );
    assert!(
        url.contains("redirect_uri=https%3A%2F%2Fok.example%2Fcb")
            && url.contains("code_challenge_method=S256")
    );

    // The API shows them, and the new address works for authorization.
    let token = app.token(&client).await;
    let read = app
        .api_get(&format!("/fhir/R4/ClientApplication/{}", client.id), &token)
        .await;
    assert_eq!(read.body["redirectUri"], "https://ok.example/cb");
    assert_eq!(
        read.body["redirectUris"],
        json!(["https://ok.example/cb", "https://two.example/cb"])
    );
    let (_, challenge) = pkce();
    let r = app
        .get(&authorize_url(
            &client.id,
            "https://two.example/cb",
            &challenge,
            "",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(location(&r).starts_with("https://two.example/cb?code="));
}

#[tokio::test]
async fn browser_apps_at_registered_origins_may_call_the_api_and_no_one_else() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.cors_origins = vec!["https://listed.example".into()];
    })
    .await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    browser_app(&app).await;
    let preflight = |origin: &'static str, path: &'static str| {
        let app = &app;
        async move {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, app.url(path))
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                )
                .send()
                .await
                .unwrap()
        }
    };
    for origin in ["https://app.example", "https://listed.example"] {
        let r = preflight(origin, "/oauth2/token").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
        assert_eq!(r.headers()["access-control-allow-credentials"], "true");
        assert!(
            r.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("Authorization")
        );
    }
    for (origin, path) in [
        ("https://evil.example", "/oauth2/token"),
        ("https://app.example.evil", "/auth/me"),
        ("http://app.example", "/fhir/R4/ProjectMembership"),
        // Pages are never shared.
        ("https://app.example", "/admin/users"),
    ] {
        let r = preflight(origin, path).await;
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{origin} {path}"
        );
    }
    let tokens = app.api_tokens(ADMIN_EMAIL, "openid").await;
    let r = reqwest::Client::new()
        .get(app.url("/auth/me"))
        .bearer_auth(s(&tokens.body, "access_token"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let r = reqwest::Client::new()
        .get(app.url("/auth/me"))
        .bearer_auth(s(&tokens.body, "access_token"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // The browser session answers reads from this site's pages only: a page of an allowed
    // origin must use a token, whatever cookies ride along.
    let own = app.get("/auth/me").await;
    assert_eq!(
        own.status(),
        StatusCode::OK,
        "the signed-in browser reads its own"
    );
    for (header, value) in [
        ("Origin", "https://app.example"),
        ("Sec-Fetch-Site", "same-site"),
    ] {
        let r = app
            .client
            .get(app.url("/auth/me"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header}: {value}");
    }
}

#[tokio::test]
async fn a_project_that_starts_requiring_two_factor_stops_the_tokens_of_members_without_it() {
    let app = admin_app().await;
    app.member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    let tokens = app
        .api_tokens("grace@example.com", "openid offline_access")
        .await;
    let access = s(&tokens.body, "access_token");
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::OK
    );
    {
        use rollcall::db::schema::projects;
        diesel::update(projects::table.find(app.project_id()))
            .set(projects::require_mfa.eq(true))
            .execute(&mut app.conn())
            .unwrap();
    }
    assert_eq!(
        app.api_get("/auth/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app.refresh(&s(&tokens.body, "refresh_token")).await;
    assert_eq!(refreshed.body["error"], "invalid_grant");
    assert!(s(&refreshed.body, "error_description").contains("two-factor"));
}
