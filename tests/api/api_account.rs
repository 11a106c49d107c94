//! The JSON twins of the account pages: sign-up and a first project, passwords, two-factor
//! authentication, sessions, and an admin's resets, through HTTP as Medplum's apps call them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ApiAnswer, PASSWORD, TestApp, admin_app, code, other_admin, remember_secret,
    spawn_app, spawn_app_with,
};

const CHALLENGE_VERIFIER: &str = "a-plain-verifier-that-is-long-enough-0123456789";

impl TestApp {
    /// A person's access token through `/auth/login` (one project: the code at once).
    async fn person_token(&self, email: &str, password: &str) -> String {
        let tokens = self.person_tokens(email, password, "openid").await;
        tokens.body["access_token"].as_str().unwrap().to_owned()
    }
}

fn all_ok(a: &ApiAnswer) {
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["id"], "ok", "{:?}", a.body);
}

#[tokio::test]
async fn a_new_account_and_its_first_project_through_the_api_end_in_a_code() {
    let app = spawn_app().await;
    let body = json!({"firstName": "Nia", "lastName": "Api", "email": "nia@example.com",
        "password": PASSWORD, "codeChallenge": CHALLENGE_VERIFIER, "codeChallengeMethod": "plain"});
    let created = app.post_json("/auth/newuser", body.clone()).await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    let login = created.body["login"].as_str().unwrap().to_owned();
    assert!(created.body.get("code").is_none());

    let twice = app.post_json("/auth/newuser", body.clone()).await;
    assert_eq!(
        (twice.status, twice.issue_field().as_str()),
        (StatusCode::BAD_REQUEST, "email")
    );
    let weak = app
        .post_json("/auth/newuser", json!({"firstName": "W", "lastName": "Eak", "email": "weak@example.com", "password": "password", "codeChallenge": CHALLENGE_VERIFIER}))
        .await;
    assert_eq!(weak.issue_field(), "password");

    let short = app
        .post_json(
            "/auth/newproject",
            json!({"login": login, "projectName": "abc"}),
        )
        .await;
    assert_eq!(short.issue_field(), "projectName");
    let made = app
        .post_json(
            "/auth/newproject",
            json!({"login": login, "projectName": "Api Clinic"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{:?}", made.body);
    let code = made.body["code"].as_str().unwrap().to_owned();
    let again = app
        .post_json(
            "/auth/newproject",
            json!({"login": login, "projectName": "Another"}),
        )
        .await;
    assert_eq!(again.issue_text(), "Login already completed");

    let token = redeemed(&app, &code).await;
    let me = app.api_get("/auth/me", &token).await;
    assert_eq!(me.body["project"]["name"], "Api Clinic");
    assert_eq!(me.body["membership"]["admin"], true);
    assert_eq!(
        me.body["project"]["owner"]["reference"],
        me.body["membership"]["user"]["reference"]
    );
    // The welcome email went out as from the page.
    app.wait_for_mail("nia@example.com", "Api Clinic").await;

    let closed = spawn_app_with(|s| s.registration = rollcall::config::Registration::Closed).await;
    let refused = closed.post_json("/auth/newuser", body).await;
    assert_eq!(
        (refused.status, refused.issue_text().as_str()),
        (StatusCode::FORBIDDEN, "Registration is disabled")
    );
}

#[tokio::test]
async fn passwords_change_reset_and_set_through_the_api_with_the_pages_rules() {
    let app = admin_app().await;
    let token = app.person_token(ADMIN_EMAIL, PASSWORD).await;
    let wrong = app
        .api_post(
            "/auth/changepassword",
            &token,
            json!({"oldPassword": "not it at all", "newPassword": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.issue_field().as_str()),
        (StatusCode::BAD_REQUEST, "oldPassword")
    );
    let weak = app
        .api_post(
            "/auth/changepassword",
            &token,
            json!({"oldPassword": PASSWORD, "newPassword": "ada@example"}),
        )
        .await;
    assert_eq!(weak.issue_field(), "newPassword");
    let changed = app
        .api_post(
            "/auth/changepassword",
            &token,
            json!({"oldPassword": PASSWORD, "newPassword": "a brand new passphrase"}),
        )
        .await;
    all_ok(&changed);
    assert_eq!(
        app.api_get("/auth/me", &token).await.status,
        StatusCode::OK,
        "this sign-in stays"
    );
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::SEE_OTHER,
        "the browser was signed out"
    );

    // A reset: the same answer for any address; a link only to a real one.
    for email in ["nobody@example.com", ADMIN_EMAIL] {
        all_ok(
            &app.post_json("/auth/resetpassword", json!({"email": email}))
                .await,
        );
    }
    let mail = app.wait_for_mail(ADMIN_EMAIL, "Reset").await;
    assert!(app.mails_to("nobody@example.com").is_empty());
    let link = mail.path();
    let parts: Vec<&str> = link.trim_start_matches('/').split('/').collect();
    let (id, secret) = (parts[1], parts[2]);
    let weak = app
        .post_json(
            "/auth/setpassword",
            json!({"id": id, "secret": secret, "password": "short"}),
        )
        .await;
    assert_eq!(weak.issue_field(), "password");
    let wrong = app
        .post_json(
            "/auth/setpassword",
            json!({"id": id, "secret": "0".repeat(64), "password": "another good passphrase"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    all_ok(
        &app.post_json(
            "/auth/setpassword",
            json!({"id": id, "secret": secret, "password": "another good passphrase"}),
        )
        .await,
    );
    let used = app
        .post_json(
            "/auth/setpassword",
            json!({"id": id, "secret": secret, "password": "yet another passphrase"}),
        )
        .await;
    assert_eq!(used.issue_text(), "Already used");
    assert_eq!(
        app.api_get("/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED,
        "a new password ends every sign-in"
    );
    app.person_token(ADMIN_EMAIL, "another good passphrase")
        .await;
}

#[tokio::test]
async fn two_factor_authentication_is_set_up_and_turned_off_through_the_api() {
    let app = admin_app().await;
    let token = app.person_token(ADMIN_EMAIL, PASSWORD).await;
    let status = app.api_get("/auth/mfa/status", &token).await;
    assert_eq!(status.body["enrolled"], false);
    assert!(
        status.body["enrollQrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let uri = url::Url::parse(status.body["enrollUri"].as_str().unwrap()).unwrap();
    let secret = uri
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .into_owned();
    remember_secret(&secret);
    let wrong = app
        .api_post("/auth/mfa/enroll", &token, json!({"token": "000000"}))
        .await;
    assert_eq!(
        (wrong.status, wrong.issue_field().as_str()),
        (StatusCode::BAD_REQUEST, "token")
    );
    let enrolled = app
        .api_post(
            "/auth/mfa/enroll",
            &token,
            json!({"token": code(&secret, 0)}),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{:?}", enrolled.body);
    assert_eq!(enrolled.body["recoveryCodes"].as_array().unwrap().len(), 10);
    assert_eq!(
        app.api_get("/auth/mfa/status", &token).await.body["enrolled"],
        true
    );
    let again = app
        .api_post(
            "/auth/mfa/enroll",
            &token,
            json!({"token": code(&secret, 1)}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // The next sign-in asks for it.
    let a = app
        .post_json("/auth/login", json!({"email": ADMIN_EMAIL, "password": PASSWORD, "codeChallenge": CHALLENGE_VERIFIER, "codeChallengeMethod": "plain"}))
        .await;
    assert_eq!(a.body["mfaRequired"], true);

    let wrong = app
        .api_post("/auth/mfa/disable", &token, json!({"token": "123456"}))
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    all_ok(
        &app.api_post(
            "/auth/mfa/disable",
            &token,
            json!({"token": code(&secret, 1)}),
        )
        .await,
    );
    assert_eq!(
        app.api_get("/auth/mfa/status", &token).await.body["enrolled"],
        false
    );

    // A client application has no second factor to manage.
    let client = app.admin_client().await;
    let client_token = app.token(&client).await;
    assert_eq!(
        app.api_get("/auth/mfa/status", &client_token).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_person_signs_out_their_other_sessions_but_nobody_elses() {
    let app = admin_app().await;
    let token = app.person_token(ADMIN_EMAIL, PASSWORD).await;
    let own = {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        claims["login_id"].as_str().unwrap().to_owned()
    };
    let me = app.api_get("/auth/me", &token).await;
    let others: Vec<Value> = me.body["security"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"] != own.as_str())
        .cloned()
        .collect();
    assert!(!others.is_empty(), "the browser's session is listed");

    let _mallory = other_admin(&app).await;
    let mallory_token = app.person_token("mallory@example.com", PASSWORD).await;
    let theirs = app
        .api_post(
            "/auth/revoke",
            &mallory_token,
            json!({"loginId": others[0]["id"]}),
        )
        .await;
    assert_eq!(
        theirs.status,
        StatusCode::NOT_FOUND,
        "not Mallory's session"
    );

    let here = app
        .api_post("/auth/revoke", &token, json!({"loginId": own}))
        .await;
    assert_eq!(
        here.status,
        StatusCode::CONFLICT,
        "the current one ends with /oauth2/logout"
    );
    for s in &others {
        all_ok(
            &app.api_post("/auth/revoke", &token, json!({"loginId": s["id"]}))
                .await,
        );
    }
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::SEE_OTHER,
        "the browser is signed out"
    );
    assert_eq!(app.api_get("/auth/me", &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn admins_reset_passwords_and_second_factors_of_their_own_accounts_only() {
    let app = admin_app().await;
    // A project-scoped member (the project's own account) and a server-wide one.
    let own = app
        .invite_person("Pat", "Own", "pat@example.com", &[("projectScoped", "on")])
        .await;
    app.accept_invite("pat@example.com", PASSWORD).await;
    let (shared, _) = app
        .member("Sam", "Shared", "sam@example.com", &[], PASSWORD)
        .await;
    let project = app.project_id();
    let token = app.person_token(ADMIN_EMAIL, PASSWORD).await;

    let path = |m: &str, action: &str| format!("/admin/projects/{project}/members/{m}/{action}");
    all_ok(
        &app.api_post(&path(&own, "resetpassword"), &token, json!({}))
            .await,
    );
    app.wait_for_mail("pat@example.com", "Reset").await;
    let refused = app
        .api_post(&path(&shared, "resetpassword"), &token, json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    let refused = app
        .api_post(&path(&shared, "mfa/reset"), &token, json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Another project's admin cannot reach either.
    let _mallory = other_admin(&app).await;
    let mallory_token = app.person_token("mallory@example.com", PASSWORD).await;
    for action in ["resetpassword", "mfa/reset"] {
        let a = app
            .api_post(&path(&own, action), &mallory_token, json!({}))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{action}");
    }
    // A member who is not an admin cannot either.
    let pat_token = app.person_token("pat@example.com", PASSWORD).await;
    let a = app
        .api_post(&path(&own, "mfa/reset"), &pat_token, json!({}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited_on_the_page_and_the_api_alike() {
    let app = spawn_app_with(|s| s.limits.registrations_per_ip = 2).await;
    let body = |email: &str| {
        json!({"firstName": "Sam", "lastName": "Signup", "email": email, "password": PASSWORD,
               "codeChallenge": CHALLENGE_VERIFIER, "codeChallengeMethod": "plain"})
    };
    assert_eq!(
        app.post_json("/auth/newuser", body("one@example.com"))
            .await
            .status,
        StatusCode::OK
    );
    let r = app
        .submit_with(
            &crate::helpers::new_client(),
            "/register",
            "/register",
            &[
                ("firstName", "Two"),
                ("lastName", "Signup"),
                ("email", "two@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let third = app
        .post_json("/auth/newuser", body("three@example.com"))
        .await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers.contains_key("retry-after"));
    let r = app
        .submit_with(
            &crate::helpers::new_client(),
            "/register",
            "/register",
            &[
                ("firstName", "Four"),
                ("lastName", "Signup"),
                ("email", "four@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_member_signs_in_for_a_new_project_as_medplums_app_does() {
    let app = admin_app().await;
    // `projectId: "new"`: no project is chosen, even with only one.
    let a = app
        .post_json(
            "/auth/login",
            json!({"email": ADMIN_EMAIL, "password": PASSWORD, "projectId": "new",
                   "codeChallenge": CHALLENGE_VERIFIER, "codeChallengeMethod": "plain"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(
        a.body.get("code").is_none() && a.body.get("memberships").is_none(),
        "{:?}",
        a.body
    );
    let login = a.body["login"].as_str().unwrap().to_owned();
    let made = app
        .post_json(
            "/auth/newproject",
            json!({"login": login, "projectName": "Second Clinic"}),
        )
        .await;
    let code = made.body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{:?}", made.body))
        .to_owned();
    let token = redeemed(&app, &code).await;
    assert_eq!(
        app.api_get("/auth/me", &token).await.body["project"]["name"],
        "Second Clinic"
    );

    // Not for an app of an existing project.
    let client = app.create_client("App", &[]).await;
    let refused = app
        .post_json(
            "/auth/login",
            json!({"email": ADMIN_EMAIL, "password": PASSWORD, "projectId": "new", "clientId": client.id,
                   "codeChallenge": CHALLENGE_VERIFIER, "codeChallengeMethod": "plain"}),
        )
        .await;
    assert_eq!(refused.issue_field(), "projectId");
}

/// The access token a login's code gives with the verifier of `CHALLENGE`.
async fn redeemed(app: &TestApp, code: &str) -> String {
    let tokens = app
        .token_answer(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", CHALLENGE_VERIFIER),
        ])
        .await;
    let token = tokens.body["access_token"].as_str().unwrap().to_owned();
    remember_secret(&token);
    token
}
