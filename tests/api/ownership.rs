//! Handing a project over and leaving it.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, projects, users};

use crate::helpers::*;

const GRACE_PASSWORD: &str = "violet tuesday lantern orbit";

fn owner_of(app: &TestApp) -> String {
    let owner: String = projects::table
        .filter(projects::name.eq("Clinic"))
        .select(projects::owner_id)
        .first(&mut app.conn())
        .unwrap();
    users::table
        .find(owner)
        .select(users::email)
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn the_owner_hands_the_project_to_another_admin_after_a_confirmation() {
    let app = admin_app().await;
    // Only admins can become owner: the Details tab says how to get one.
    let html = app.get_html("/admin/project").await;
    assert!(html.contains("Make another member an admin first"));
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            GRACE_PASSWORD,
        )
        .await;
    let (linus_id, _) = app
        .member("Linus", "Member", "linus@example.com", &[], GRACE_PASSWORD)
        .await;
    let html = app.get_html("/admin/project").await;
    assert!(html.contains(&format!("value=\"{grace_id}\"")));
    assert!(
        !html.contains(&format!("value=\"{linus_id}\"")),
        "only admins are offered"
    );

    // A member who is not an admin cannot be chosen, even by a forged form.
    let r = app
        .submit(
            "/admin/project",
            "/admin/project/transfer",
            &[("newOwner", &linus_id)],
        )
        .await;
    assert_eq!(owner_of(&app), ADMIN_EMAIL);
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&r.text().await.unwrap(), ".error-summary")
            .unwrap()
            .contains("Choose an admin of this project")
    );

    // The confirmation names the new owner; confirming makes Grace the owner.
    let confirm = format!("/admin/project/transfer?newOwner={grace_id}");
    let html = app.get_html(&confirm).await;
    assert!(
        text_of(&html, "main h1")
            .unwrap()
            .contains("Make Grace Hopper the owner")
    );
    let r = app
        .submit(
            &confirm,
            "/admin/project/transfer",
            &[("newOwner", &grace_id)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(owner_of(&app), "grace@example.com");
    assert_eq!(audited(&app, "project.ownership_transferred"), 1);
    app.wait_for_mail("grace@example.com", "You are now the owner of Clinic")
        .await;
    app.wait_for_mail(ADMIN_EMAIL, "Grace Hopper is now the owner of Clinic")
        .await;
    // Ada stays an admin but can no longer hand over; Grace can.
    let html = app.get_html("/admin/project").await;
    assert!(!html.contains("Hand over the project"));
    let r = app
        .submit(
            "/admin/users",
            "/admin/project/transfer",
            &[("newOwner", &app.membership_of(ADMIN_EMAIL))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(owner_of(&app), "grace@example.com");
    let html = app
        .get_with(&grace, "/admin/project")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Hand over the project"));
}

#[tokio::test]
async fn a_member_leaves_but_the_owner_hands_over_first_and_the_last_admin_stays() {
    let app = admin_app().await;
    // The owner is told up front, and refused if they post anyway.
    let html = app.get_html("/projects/leave").await;
    assert!(
        text_of(&html, ".error-summary")
            .unwrap()
            .contains("hand the project over")
    );
    let r = app.submit("/", "/projects/leave", &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        memberships::table
            .filter(memberships::id.eq(app.membership_of(ADMIN_EMAIL)))
            .count()
            .get_result::<i64>(&mut app.conn())
            .unwrap()
            == 1
    );

    // A member leaves from their home page, after a confirmation.
    let (linus_id, linus) = app
        .member("Linus", "Member", "linus@example.com", &[], GRACE_PASSWORD)
        .await;
    let home = app.get_with(&linus, "/").await.text().await.unwrap();
    assert!(home.contains("href=\"/projects/leave\""));
    let r = app
        .submit_with(&linus, "/projects/leave", "/projects/leave", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!exists(&app, &linus_id));
    assert_eq!(audited(&app, "member.left"), 1);
    assert_ne!(
        app.get_with(&linus, "/admin/users").await.status(),
        StatusCode::OK
    );

    // The last admin (where the owner is not one, as in older projects) cannot leave.
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            GRACE_PASSWORD,
        )
        .await;
    diesel::update(memberships::table.find(app.membership_of(ADMIN_EMAIL)))
        .set(memberships::admin.eq(false))
        .execute(&mut app.conn())
        .unwrap();
    let r = app
        .submit_with(&grace, "/projects/leave", "/projects/leave", &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("last admin"));
    assert!(exists(&app, &grace_id));
}

#[tokio::test]
async fn a_project_scoped_account_is_told_that_leaving_deletes_it() {
    let app = admin_app().await;
    let (_, pat) = app
        .member(
            "Pat",
            "Scoped",
            "pat@example.com",
            &[("projectScoped", "on")],
            GRACE_PASSWORD,
        )
        .await;
    let html = app
        .get_with(&pat, "/projects/leave")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("leaving deletes it"));
    let r = app
        .submit_with(&pat, "/projects/leave", "/projects/leave", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let accounts: i64 = users::table
        .filter(users::email.eq("pat@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(accounts, 0);
}
