use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, profiles, users};

use crate::helpers::*;

const GRACE_PASSWORD: &str = "violet tuesday lantern orbit";

fn member_path(id: &str) -> String {
    format!("/admin/members/{id}")
}

async fn save_member(
    app: &TestApp,
    client: &reqwest::Client,
    id: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let path = member_path(id);
    app.submit_with(client, &path, &path, fields).await
}

#[tokio::test]
async fn the_member_page_shows_the_person_and_saves_admin_and_policy() {
    let app = admin_app().await;
    let id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let html = app.get_html(&member_path(&id)).await;
    assert_eq!(text_of(&html, "main h1").unwrap(), "Edit membership");
    let about = text_of(&html, ".details").unwrap();
    assert!(about.contains("grace@example.com"));
    assert!(about.contains("Invited by Ada Tester"));
    assert!(about.contains("Invited, has not accepted yet"));
    // A server-wide account: the membership is the project's, the credentials are not.
    assert!(html.contains("Resend invite"));
    assert!(
        !html.contains("Send password reset email")
            && !html.contains("Reset two-factor authentication")
    );
    assert!(html.contains("shared with other projects"));

    let r = app
        .submit(
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[("name", "Staff"), ("rule[0].resourceType", "*")],
        )
        .await;
    let policy = location(&r).rsplit('/').next().unwrap().to_owned();
    let r = save_member(
        &app,
        &app.client,
        &id,
        &[("admin", "on"), ("accessPolicy", &policy)],
    )
    .await;
    assert_eq!(location(&r), member_path(&id));
    let html = app.get_html(&member_path(&id)).await;
    assert_eq!(text_of(&html, ".flash").unwrap(), "Membership saved");
    assert_eq!(attr_of(&html, "#admin", "checked").as_deref(), Some(""));
    let (admin, chosen): (bool, Option<String>) = memberships::table
        .find(&id)
        .select((memberships::admin, memberships::access_policy_id))
        .first(&mut app.conn())
        .unwrap();
    assert!(admin);
    assert_eq!(chosen.as_deref(), Some(policy.as_str()));
}

#[tokio::test]
async fn promotion_and_demotion_take_effect_at_the_members_next_request() {
    let app = admin_app().await;
    let (id, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], GRACE_PASSWORD)
        .await;
    assert_eq!(
        app.get_with(&grace, "/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let home = app.get_with(&grace, "/").await.text().await.unwrap();
    assert!(
        !home.contains("/admin/project"),
        "no admin link for members"
    );

    save_member(&app, &app.client, &id, &[("admin", "on")]).await;
    assert_eq!(
        app.get_with(&grace, "/admin/users").await.status(),
        StatusCode::OK
    );
    let home = app.get_with(&grace, "/").await.text().await.unwrap();
    assert!(
        home.contains("href=\"/admin/project\""),
        "admins see Project admin in the menu"
    );

    save_member(&app, &app.client, &id, &[]).await;
    assert_eq!(
        app.get_with(&grace, "/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_owner_stays_admin_and_the_last_admin_can_be_neither_demoted_nor_removed() {
    let app = admin_app().await;
    let ada = app.membership_of(ADMIN_EMAIL);
    let r = save_member(&app, &app.client, &ada, &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#admin-error")
            .unwrap()
            .contains("owner always stays an admin")
    );

    // Another admin cannot demote the owner either.
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            GRACE_PASSWORD,
        )
        .await;
    let r = save_member(&app, &grace, &ada, &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let admin: bool = memberships::table
        .find(&ada)
        .select(memberships::admin)
        .first(&mut app.conn())
        .unwrap();
    assert!(admin);

    // Where the owner is not an admin (a project from before the owner rule), the last
    // admin can be neither demoted nor removed.
    diesel::update(memberships::table.find(&ada))
        .set(memberships::admin.eq(false))
        .execute(&mut app.conn())
        .unwrap();
    let r = save_member(&app, &grace, &grace_id, &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#admin-error")
            .unwrap()
            .contains("last admin")
    );
    let remove = format!("{}/remove", member_path(&grace_id));
    let r = app.submit_with(&grace, &remove, &remove, &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("last admin"));
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = admin_app().await;
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            GRACE_PASSWORD,
        )
        .await;
    let ada_id = app.membership_of(ADMIN_EMAIL);
    for _ in 0..3 {
        let ada_token = csrf_in(&app.get_html(&member_path(&grace_id)).await);
        let grace_token = csrf_in(
            &app.get_with(&grace, &member_path(&ada_id))
                .await
                .text()
                .await
                .unwrap(),
        );
        let (a, b) = tokio::join!(
            app.client
                .post(app.url(&member_path(&grace_id)))
                .form(&[("csrf_token", ada_token.as_str())])
                .send(),
            grace
                .post(app.url(&member_path(&ada_id)))
                .form(&[("csrf_token", grace_token.as_str())])
                .send(),
        );
        let statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        assert!(!statuses.contains(&500), "{statuses:?}");
        let admins: i64 = memberships::table
            .filter(memberships::admin.eq(true))
            .count()
            .get_result(&mut app.conn())
            .unwrap();
        assert_eq!(admins, 1, "exactly one demotion went through: {statuses:?}");
        // Make both admins again for the next round.
        diesel::update(memberships::table)
            .set(memberships::admin.eq(true))
            .execute(&mut app.conn())
            .unwrap();
    }
}

#[tokio::test]
async fn removing_asks_for_confirmation_naming_the_person_then_ends_their_access() {
    let app = admin_app().await;
    let (id, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], GRACE_PASSWORD)
        .await;
    assert_eq!(app.get_with(&grace, "/").await.status(), StatusCode::OK);

    let confirm = app.get_html(&format!("{}/remove", member_path(&id))).await;
    assert_eq!(
        text_of(&confirm, "main h2").unwrap(),
        "Remove Grace Hopper?"
    );
    assert!(confirm.contains("Cancel"));
    // With htmx the same step is a dialog fragment.
    let dialog = app
        .client
        .get(app.url(&format!("{}/remove", member_path(&id))))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dialog.trim_start().starts_with("<dialog"));
    assert!(dialog.contains("Remove Grace Hopper"));

    let r = app
        .submit(
            &format!("{}/remove", member_path(&id)),
            &format!("{}/remove", member_path(&id)),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/admin/users");
    let users_tab = app.get_html("/admin/users").await;
    assert_eq!(
        text_of(&users_tab, ".flash").unwrap(),
        "Grace Hopper was removed from the project"
    );
    assert!(
        !text_of(&users_tab, "main")
            .unwrap()
            .contains("grace@example.com")
    );

    // Grace's session no longer reaches the project.
    let r = app.get_with(&grace, "/").await;
    assert_eq!(location(&r), "/signin/project");
    // Her only project is gone, and the page she lands on says so.
    let r = app.get_with(&grace, "/signin/project").await;
    assert_eq!(location(&r), "/register/project");
    let landing = app
        .get_with(&grace, "/register/project")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text_of(&landing, ".flash")
            .unwrap()
            .starts_with("You are not a member of any project")
    );
    // Her profile stays for the record; her server-wide account stays too.
    let profiles_left: i64 = profiles::table
        .filter(profiles::email.eq("grace@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(profiles_left, 1);
    let user_left: i64 = users::table
        .filter(users::email.eq("grace@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(user_left, 1);
    assert_eq!(
        app.get(&member_path(&id)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_removed_project_scoped_user_is_deleted() {
    let app = admin_app().await;
    let id = app
        .invite_person(
            "Sam",
            "Scoped",
            "sam@example.com",
            &[("projectScoped", "on")],
        )
        .await;
    app.submit(
        &format!("{}/remove", member_path(&id)),
        &format!("{}/remove", member_path(&id)),
        &[],
    )
    .await;
    let left: i64 = users::table
        .filter(users::email.eq("sam@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_owner_cannot_be_removed() {
    let app = admin_app().await;
    app.invite_person("Grace", "Hopper", "grace@example.com", &[("admin", "on")])
        .await;
    let ada = app.membership_of(ADMIN_EMAIL);
    let r = app
        .submit(
            &format!("{}/remove", member_path(&ada)),
            &format!("{}/remove", member_path(&ada)),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, ".error-summary")
            .unwrap()
            .contains("The project owner cannot be removed")
    );
}

#[tokio::test]
async fn resending_an_invite_replaces_the_link() {
    let app = admin_app().await;
    let id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let first = app
        .wait_for_mail("grace@example.com", "invited")
        .await
        .path();
    let r = app
        .submit(
            &member_path(&id),
            &format!("{}/resend", member_path(&id)),
            &[],
        )
        .await;
    assert_eq!(location(&r), member_path(&id));
    let second = app
        .wait_for_new_link("grace@example.com", "invited", &first)
        .await;
    assert_eq!(app.get(&first).await.status(), StatusCode::GONE);
    assert_eq!(
        new_client()
            .get(app.url(&second))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_can_send_a_password_reset_and_reset_mfa_of_a_project_scoped_account() {
    let app = admin_app().await;
    let id = app
        .invite_person(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("projectScoped", "on")],
        )
        .await;
    let r = app
        .submit(
            &member_path(&id),
            &format!("{}/reset-password", member_path(&id)),
            &[],
        )
        .await;
    assert_eq!(location(&r), member_path(&id));
    app.wait_for_mail("grace@example.com", "Reset your Rollcall password")
        .await;

    diesel::update(users::table.filter(users::email.eq("grace@example.com")))
        .set((
            users::mfa_enrolled.eq(true),
            users::mfa_secret.eq(Some("SECRET")),
        ))
        .execute(&mut app.conn())
        .unwrap();
    app.submit(
        &member_path(&id),
        &format!("{}/reset-mfa", member_path(&id)),
        &[],
    )
    .await;
    let (enrolled, secret): (bool, Option<String>) = users::table
        .filter(users::email.eq("grace@example.com"))
        .select((users::mfa_enrolled, users::mfa_secret))
        .first(&mut app.conn())
        .unwrap();
    assert!(!enrolled && secret.is_none());
    app.wait_for_mail("grace@example.com", "two-factor authentication was reset")
        .await;
}
