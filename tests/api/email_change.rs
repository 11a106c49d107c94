//! Changing an account's email address: by its owner (a link to the new address), and by an
//! admin for their project's own accounts.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, users};

use crate::helpers::*;

const GRACE_PASSWORD: &str = "violet tuesday lantern orbit";

fn email_of(app: &TestApp, id: &str) -> String {
    users::table
        .inner_join(memberships::table.on(memberships::user_id.eq(users::id.nullable())))
        .filter(memberships::id.eq(id))
        .select(users::email)
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_person_changes_their_email_through_a_link_sent_to_the_new_address() {
    let app = admin_app().await;
    let (grace_id, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], GRACE_PASSWORD)
        .await;
    let change = |password: &'static str, email: &'static str| {
        let (app, grace) = (&app, &grace);
        async move {
            app.submit_with(
                grace,
                "/account/security",
                "/account/email",
                &[("newEmail", email), ("emailPassword", password)],
            )
            .await
        }
    };
    let r = change("wrong password here", "grace.h@example.org").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.text().await.unwrap(), "#emailPassword-error").is_some());
    // An address another account has is refused.
    let r = change(GRACE_PASSWORD, ADMIN_EMAIL).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&r.text().await.unwrap(), "#newEmail-error")
            .unwrap()
            .contains("Another account already uses this address")
    );

    // A reset link sent to the old address before the change...
    let r = app
        .submit_with(
            &new_client(),
            "/resetpassword",
            "/resetpassword",
            &[("email", "grace@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let reset = app
        .wait_for_mail("grace@example.com", "Reset your Rollcall password")
        .await
        .path();

    let r = change(GRACE_PASSWORD, "grace.h@example.org").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.wait_for_mail(
        "grace@example.com",
        "A change of your email address was requested",
    )
    .await;
    let mail = app
        .wait_for_mail("grace.h@example.org", "Confirm your new email address")
        .await;
    let link = mail.path();
    assert!(link.starts_with("/account/email/"), "{link}");
    assert_eq!(
        email_of(&app, &grace_id),
        "grace@example.com",
        "not before the link"
    );

    // Opening the link changes nothing (mail scanners open links); the button does.
    let html = new_client()
        .get(app.url(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Use grace.h@example.org for your account?"));
    assert_eq!(email_of(&app, &grace_id), "grace@example.com");
    // The link is no password link.
    let as_password = link.replace("/account/email/", "/setpassword/");
    assert_eq!(app.get(&as_password).await.status(), StatusCode::NOT_FOUND);

    let r = app.submit_with(&new_client(), &link, &link, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Your email address is now grace.h@example.org")
    );
    assert_eq!(email_of(&app, &grace_id), "grace.h@example.org");
    assert_eq!(audited(&app, "user.email_changed"), 1);
    // ...stops working with the old address.
    assert_eq!(app.get(&reset).await.status(), StatusCode::GONE);
    // Sessions stay; the lists show and find the new address; sign-in uses it.
    assert_eq!(app.get_with(&grace, "/").await.status(), StatusCode::OK);
    let html = app.get_html("/admin/users?q=grace.h%40example.org").await;
    assert_eq!(names_in(&html), vec!["Grace Hopper"]);
    let r = app
        .sign_in_with(&new_client(), "grace.h@example.org", GRACE_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .sign_in_with(&new_client(), "grace@example.com", GRACE_PASSWORD)
        .await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
    // The link works once.
    let r = app.submit_with(&new_client(), &link, &link, &[]).await;
    assert_eq!(r.status(), StatusCode::GONE);
}

#[tokio::test]
async fn an_admin_changes_the_email_of_their_projects_own_account_only() {
    let app = admin_app().await;
    let (pat_id, _) = app
        .member(
            "Pat",
            "Scoped",
            "pat@example.com",
            &[("projectScoped", "on")],
            GRACE_PASSWORD,
        )
        .await;
    let (grace_id, _) = app
        .member("Grace", "Hopper", "grace@example.com", &[], GRACE_PASSWORD)
        .await;
    let page = format!("/admin/members/{pat_id}");
    assert!(app.get_html(&page).await.contains(&format!("{page}/email")));
    let r = app
        .submit(
            &format!("{page}/email"),
            &format!("{page}/email"),
            &[("email", "pat.new@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(email_of(&app, &pat_id), "pat.new@example.com");
    app.wait_for_mail(
        "pat@example.com",
        "Your email address in Clinic was changed",
    )
    .await;
    app.wait_for_mail(
        "pat.new@example.com",
        "Your email address in Clinic was changed",
    )
    .await;
    assert_eq!(audited(&app, "member.email_changed"), 1);

    // A server-wide account is its owner's to change: not offered, and refused.
    let page = format!("/admin/members/{grace_id}");
    assert!(
        !app.get_html(&page)
            .await
            .contains(&format!("{page}/email\""))
    );
    assert_eq!(
        app.get(&format!("{page}/email")).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = app
        .submit(
            "/admin/users",
            &format!("{page}/email"),
            &[("email", "grace.other@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(email_of(&app, &grace_id), "grace@example.com");

    // Another project's admin: not found.
    let other = other_admin(&app).await;
    let r = app
        .submit_with(
            &other,
            "/admin/users",
            &format!("/admin/members/{pat_id}/email"),
            &[("email", "stolen@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(email_of(&app, &pat_id), "pat.new@example.com");
}

#[tokio::test]
async fn no_admin_can_change_the_credentials_of_the_owners_own_account() {
    use rollcall::db::schema::projects;
    let app = admin_app().await;
    // The project is handed to a project-scoped admin (as can happen after a hand-over).
    let (pat_id, pat) = app
        .member(
            "Pat",
            "Owner",
            "pat@example.com",
            &[("projectScoped", "on"), ("admin", "on")],
            GRACE_PASSWORD,
        )
        .await;
    let pat_user: String = memberships::table
        .find(&pat_id)
        .select(memberships::user_id.assume_not_null())
        .first(&mut app.conn())
        .unwrap();
    diesel::update(projects::table)
        .set(projects::owner_id.eq(&pat_user))
        .execute(&mut app.conn())
        .unwrap();
    // Ada, an admin but no longer the owner: no email change, no password reset.
    let page = format!("/admin/members/{pat_id}");
    let html = app.get_html(&page).await;
    assert!(!html.contains(&format!("{page}/email\"")));
    assert!(html.contains("project owner's account"));
    assert_eq!(
        app.get(&format!("{page}/email")).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = app
        .submit(
            "/admin/users",
            &format!("{page}/email"),
            &[("email", "taken.over@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .submit("/admin/users", &format!("{page}/reset-password"), &[])
        .await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(email_of(&app, &pat_id), "pat@example.com");
    assert!(app.mails_to("taken.over@example.com").is_empty());
    // The owner changes their own address from their Security page as anyone does.
    let r = app
        .submit_with(
            &pat,
            "/account/security",
            "/account/email",
            &[
                ("newEmail", "pat.owner@example.com"),
                ("emailPassword", GRACE_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_project_learns_an_invited_accounts_new_address_only_when_it_is_accepted() {
    let app = admin_app().await;
    let bob = app.registered("Bob", "bob@example.com").await;
    let r = app
        .submit_with(
            &bob,
            "/register/project",
            "/register/project",
            &[("projectName", "Bob's practice")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Bob"),
            ("lastName", "Tester"),
            ("email", "bob@example.com"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let membership: String = memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq("bob@example.com"))
        .filter(memberships::project_id.eq(app.project_id()))
        .select(memberships::id)
        .first(&mut app.conn())
        .unwrap();

    // Bob moves his account to a private address, from his own project.
    let r = app
        .submit_with(
            &bob,
            "/account/security",
            "/account/email",
            &[
                ("newEmail", "bob.private@secret.example"),
                ("emailPassword", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let link = app
        .wait_for_mail(
            "bob.private@secret.example",
            "Confirm your new email address",
        )
        .await
        .path();
    let r = app.submit_with(&new_client(), &link, &link, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Clinic, whose invitation he has not answered, still knows only the address it used: in
    // the list, its search, the member page and the API.
    assert!(
        names_in(&app.get_html("/admin/users?q=secret.example").await).is_empty(),
        "not found by the new address"
    );
    assert_eq!(
        names_in(&app.get_html("/admin/users?q=bob%40example.com").await),
        vec!["Bob Tester"]
    );
    for page in [
        format!("/admin/members/{membership}"),
        "/admin/invitations".into(),
    ] {
        let html = app.get_html(&page).await;
        assert!(html.contains("bob@example.com"), "{page}");
        assert!(!html.contains("secret.example"), "{page}");
    }
    let token = app.token(&app.admin_client().await).await;
    let member_path = format!("/admin/projects/{}/members/{membership}", app.project_id());
    let api = app.api_get(&member_path, &token).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    assert_eq!(api.body["user"]["display"], "bob@example.com");

    // He accepts: from now on Clinic sees the address his account has.
    let r = app
        .submit_with(
            &bob,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        names_in(&app.get_html("/admin/users?q=secret.example").await),
        vec!["Bob Tester"]
    );
    let api = app.api_get(&member_path, &token).await;
    assert_eq!(api.body["user"]["display"], "bob.private@secret.example");
}
