//! A person deletes their own account, with their password, when they own no project.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{audit_events, memberships, profiles, users};

use crate::helpers::*;

const GRACE_PASSWORD: &str = "violet tuesday lantern orbit";
const PAGE: &str = "/account/delete";

fn account_exists(app: &TestApp, email: &str) -> bool {
    users::table
        .filter(users::email.eq(email))
        .count()
        .get_result::<i64>(&mut app.conn())
        .unwrap()
        == 1
}

#[tokio::test]
async fn a_member_deletes_their_account_with_their_password() {
    let app = admin_app().await;
    let (grace_id, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], GRACE_PASSWORD)
        .await;
    // Also invited to another project, not yet accepted.
    let other = other_admin(&app).await;
    let r = app
        .invite_with(
            &other,
            &[
                ("resourceType", "Practitioner"),
                ("firstName", "Grace"),
                ("lastName", "Hopper"),
                ("email", "grace@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let profile: String = memberships::table
        .find(&grace_id)
        .select(memberships::profile_id.assume_not_null())
        .first(&mut app.conn())
        .unwrap();

    // Reached from the Security page.
    let security = app.get_html_with(&grace, "/account/security").await;
    assert!(security.contains(&format!("href=\"{PAGE}\"")));
    let page = app.get_html_with(&grace, PAGE).await;
    let text = text_of(&page, "#delete-text").unwrap();
    assert!(text.contains("You leave Clinic;"), "{text}");
    assert!(
        text.contains("Your pending invitations to Elsewhere are declined"),
        "{text}"
    );

    for (typed, message) in [
        ("", "Enter your current password"),
        (
            "not my password at all",
            "Your current password is not right",
        ),
    ] {
        let r = app
            .submit_with(&grace, PAGE, PAGE, &[("password", typed)])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            text_of(&r.text().await.unwrap(), "#password-error").as_deref(),
            Some(format!("Error: {message}").as_str())
        );
    }
    assert!(account_exists(&app, "grace@example.com"));

    let r = app
        .submit_with(&grace, PAGE, PAGE, &[("password", GRACE_PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin");
    assert!(!account_exists(&app, "grace@example.com"));
    let left: i64 = memberships::table
        .filter(memberships::id.eq(&grace_id))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
    // Her record in the project stays with it.
    let kept: i64 = profiles::table
        .find(&profile)
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(kept, 1);
    // Both projects' logs and the server's say so; she is told.
    assert_eq!(audited(&app, "member.account_deleted"), 2);
    let server: i64 = audit_events::table
        .filter(audit_events::project_id.is_null())
        .filter(audit_events::action.eq("user.deleted"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(server, 1);
    let html = app.get_html("/admin/audit").await;
    assert!(html.contains("Member deleted their account"));
    app.wait_for_mail("grace@example.com", "Your Rollcall account was deleted")
        .await;
    // Her session is over, and she cannot sign in again.
    let r = app.get_with(&grace, "/account").await;
    assert!(location(&r).starts_with("/signin"));
    let r = app
        .sign_in_with(&new_client(), "grace@example.com", GRACE_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_owner_or_last_admin_cannot_delete_their_account_yet() {
    let app = admin_app().await;
    let html = app.get_html(PAGE).await;
    let refusal = text_of(&html, ".error-summary").unwrap();
    assert!(refusal.contains("You own Clinic"), "{refusal}");
    assert!(!html.contains("name=\"password\""));
    // A crafted POST with the right password is refused the same way.
    let r = app
        .submit("/account/security", PAGE, &[("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(account_exists(&app, ADMIN_EMAIL));

    // Grace, an admin whose project has no other admin left (the owner's membership lost
    // its admin flag in data from before the owner rule), is refused too.
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            GRACE_PASSWORD,
        )
        .await;
    diesel::update(memberships::table.filter(memberships::id.ne(&grace_id)))
        .set(memberships::admin.eq(false))
        .execute(&mut app.conn())
        .unwrap();
    let r = app
        .submit_with(&grace, PAGE, PAGE, &[("password", GRACE_PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        text_of(&r.text().await.unwrap(), ".error-summary")
            .unwrap()
            .contains("You are the last admin of Clinic")
    );
    assert!(account_exists(&app, "grace@example.com"));
}

#[tokio::test]
async fn someone_without_a_project_finds_it_in_the_menu() {
    let app = spawn_app().await;
    let browser = app.registered("Lone", "lone@example.com").await;
    let html = app.get_html_with(&browser, "/register/project").await;
    assert!(html.contains(&format!("href=\"{PAGE}\"")), "{html}");
    let r = app
        .submit_with(&browser, PAGE, PAGE, &[("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!account_exists(&app, "lone@example.com"));
    // Signed out: the page now asks to sign in.
    let r = app.get_with(&browser, PAGE).await;
    assert!(location(&r).starts_with("/signin"));
}
