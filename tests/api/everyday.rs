//! The everyday paths: links that open a project, sign-in after an invitation, error pages
//! with the person's own top bar.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn a_link_naming_a_project_opens_it_for_a_signed_in_member_or_their_invitation() {
    let app = admin_app().await;
    let mallory = other_admin(&app).await;
    let clinic = app.project_id();
    app.invite_person("Mallory", "M", "mallory@example.com", &[])
        .await;
    let mail = app
        .wait_for_mail("mallory@example.com", "Invitation to join Clinic")
        .await;
    assert_eq!(mail.path(), "/invitations");
    // Not yet accepted: the project's link leads to the invitation, not into the project.
    let r = app
        .get_with(&mallory, &format!("/signin?project={clinic}"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/invitations");
    let page = app.get_html_with(&mallory, "/invitations").await;
    let membership = membership_in(&app, "Clinic");
    let r = app
        .submit_with(
            &mallory,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{page}");
    // Working in Elsewhere, the link switches to Clinic.
    app.submit_with(
        &mallory,
        "/signin/project",
        "/signin/project",
        &[("membership", &membership_in(&app, "Elsewhere"))],
    )
    .await;
    let home = app.get_html_with(&mallory, "/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Elsewhere");
    let r = app
        .get_with(&mallory, &format!("/signin?project={clinic}"))
        .await;
    assert_eq!(location(&r), "/");
    let home = app.get_html_with(&mallory, "/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Clinic");
    assert_eq!(
        text_of(&home, ".flash").as_deref(),
        Some("You are now working in Clinic")
    );
    // The chooser counts what it lists.
    let chooser = app.get_html_with(&mallory, "/signin/project").await;
    assert_eq!(
        text_of(&chooser, ".lede").unwrap(),
        "You are a member of 2 projects. Pick the one to work in; you can switch at any time from the top bar."
    );
    // A project they are not in: the sign-in page says who is signed in, and names nothing.
    let r = app
        .get_with(
            &mallory,
            "/signin?project=00000000-0000-0000-0000-000000000000",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert_eq!(
        text_of(&page, ".error-summary p").unwrap(),
        "You are signed in as mallory@example.com, who is not a member of the project this link is for. Sign out, then sign in with the account the email was sent to."
    );
    // Signed in without a project link, the sign-in page is not shown at all.
    let r = app.get_with(&mallory, "/signin").await;
    assert_eq!(location(&r), "/");
}

/// Mallory's membership of the project named `project`.
fn membership_in(app: &TestApp, project: &str) -> String {
    use diesel::prelude::*;
    use rollcall::db::schema::{memberships, users};
    memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq("mallory@example.com"))
        .filter(memberships::project_id.eq(app.project_id_of(project)))
        .select(memberships::id)
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn one_project_needs_no_chooser_and_is_not_called_several() {
    let app = admin_app().await;
    let chooser = app.get_html("/signin/project").await;
    assert_eq!(
        text_of(&chooser, ".lede").unwrap(),
        "Open the project to work in it."
    );
    let browser = new_client();
    let r = app.sign_in_with(&browser, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn an_invitation_link_signs_the_new_member_in_but_a_reset_link_does_not() {
    let app = admin_app().await;
    let (_, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    let home = app.get_html_with(&grace, "/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Clinic");
    assert_eq!(
        text_of(&home, ".flash").as_deref(),
        Some("Your password is set. Welcome!")
    );
    // The session is a real one: it is listed, and signing out ends it.
    let security = app.get_html_with(&grace, "/account/security").await;
    assert!(security.contains("This device"), "{security}");
    // A reset proves the address too, but asks for the new password once.
    let r = app
        .submit_with(
            &new_client(),
            "/resetpassword",
            "/resetpassword",
            &[("email", "grace@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let path = app
        .wait_for_mail("grace@example.com", "Reset your")
        .await
        .path();
    let browser = new_client();
    let r = app
        .submit_with(
            &browser,
            &path,
            &path,
            &[
                ("password", "another violet lantern"),
                ("confirmPassword", "another violet lantern"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/signin"));
    let r = app.get_with(&browser, "/").await;
    assert!(location(&r).starts_with("/signin"));
    // And it ended the session the invitation started.
    let r = app.get_with(&grace, "/").await;
    assert!(location(&r).starts_with("/signin"));
}
