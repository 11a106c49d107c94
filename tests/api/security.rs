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
