//! Bulk actions on the Users and Patients tabs: review, confirm, per-member outcome.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::memberships;

use crate::helpers::*;

const PASSWORD_2: &str = "violet tuesday lantern orbit";

/// Posts the tab's bulk form (`fields` plus the csrf token from the tab).
async fn review(app: &TestApp, tab: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.submit(tab, &format!("{tab}/bulk"), fields).await
}

/// The hidden fields of the confirmation's form, as posted.
fn confirmation_fields(html: &str) -> Vec<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("form[action=\"/admin/members/bulk\"] input[type=hidden]")
        .unwrap();
    doc.select(&sel)
        .map(|e| {
            (
                e.value().attr("name").unwrap().to_owned(),
                e.value().attr("value").unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn confirm(app: &TestApp, html: &str) -> reqwest::Response {
    app.client
        .post(app.url("/admin/members/bulk"))
        .form(&confirmation_fields(html))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn selected_members_change_policy_after_a_confirmation_naming_a_few() {
    let app = admin_app().await;
    let policy = app
        .create_policy(&[
            ("name", "Front desk"),
            ("rule[0].resourceType", "Patient"),
            ("rule[0].readonly", "on"),
        ])
        .await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            app.invite_person(
                "Person",
                &format!("N{i}"),
                &format!("p{i}@example.com"),
                &[],
            )
            .await,
        );
    }
    // The tab offers it: a checkbox per row, the action select, "all matching".
    let html = app.get_html("/admin/users").await;
    assert!(html.contains("id=\"bulk-form\""));
    assert!(html.contains(&format!("name=\"member\" value=\"{}\"", ids[0])));
    assert!(html.contains("id=\"bulk-all\""));

    let mut fields: Vec<(&str, &str)> = vec![("action", "policy"), ("accessPolicy", &policy)];
    for id in &ids {
        fields.push(("member", id));
    }
    let r = review(&app, "/admin/users", &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "main h1")
            .unwrap()
            .contains("Change the access policy of 7 members")
    );
    let who = text_of(&html, "#bulk-who").unwrap();
    assert!(who.contains("and 2 others"), "{who}");
    assert!(text_of(&html, "#bulk-what").unwrap().contains("Front desk"));
    // Nothing is written by the review.
    let with_policy: i64 = memberships::table
        .filter(memberships::access_policy_id.eq(&policy))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(with_policy, 0);

    let r = confirm(&app, &html).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#bulk-summary")
            .unwrap()
            .contains("7 members were changed")
    );
    let with_policy: i64 = memberships::table
        .filter(memberships::access_policy_id.eq(&policy))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(with_policy, 7);
    assert_eq!(
        audited(&app, "member.policy_changed"),
        7,
        "one event per member"
    );
}

#[tokio::test]
async fn all_matching_covers_every_page_and_the_owner_and_last_admin_are_refused_by_name() {
    let app = admin_app().await;
    rollcall::services::seed::seed(&mut app.conn(), "Clinic", 160, false).unwrap();
    let (grace_id, _) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            PASSWORD_2,
        )
        .await;
    let people: i64 = memberships::table
        .filter(memberships::profile_type.ne("Patient"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!(people > 50, "more than one page");
    // "Remove admin rights" from everyone on the Users tab, all pages.
    let r = review(
        &app,
        "/admin/users",
        &[("action", "remove-admin"), ("all", "1")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(
        confirmation_fields(&html)
            .iter()
            .filter(|(k, _)| k == "member")
            .count() as i64,
        people
    );
    let r = confirm(&app, &html).await;
    let html = r.text().await.unwrap();
    // The owner stays admin and is named with the reason; every other admin loses it.
    let refused = text_of(&html, "#bulk-refused").unwrap();
    assert!(refused.contains("Ada Tester"), "{refused}");
    assert!(refused.contains("always stays an admin"), "{refused}");
    let ada_admin: bool = memberships::table
        .find(app.membership_of(ADMIN_EMAIL))
        .select(memberships::admin)
        .first(&mut app.conn())
        .unwrap();
    assert!(ada_admin);
    let grace_admin: bool = memberships::table
        .find(&grace_id)
        .select(memberships::admin)
        .first(&mut app.conn())
        .unwrap();
    assert!(!grace_admin);
    let admins: i64 = memberships::table
        .filter(memberships::admin.eq(true))
        .filter(memberships::profile_type.ne("Patient"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(admins, 1, "only the owner is left an admin");

    // With filters: suspend only the invited ones, via "all matching".
    let invited: i64 = memberships::table
        .filter(memberships::profile_type.ne("Patient"))
        .filter(memberships::status.eq("invited"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    let r = review(
        &app,
        "/admin/users",
        &[("action", "suspend"), ("all", "1"), ("status", "invited")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let r = confirm(&app, &html).await;
    assert_eq!(r.status(), StatusCode::OK);
    let suspended: i64 = memberships::table
        .filter(memberships::active.eq(false))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(suspended, invited);
}

#[tokio::test]
async fn a_bulk_action_without_members_or_action_changes_nothing_and_says_why() {
    let app = admin_app().await;
    let id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let r = review(&app, "/admin/users", &[("action", "suspend")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Select at least one member")
    );
    let r = review(&app, "/admin/users", &[("member", &id)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose what to do"));
    let r = review(
        &app,
        "/admin/users",
        &[
            ("member", &id),
            ("action", "policy"),
            ("accessPolicy", "no-such-policy"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let active: bool = memberships::table
        .find(&id)
        .select(memberships::active)
        .first(&mut app.conn())
        .unwrap();
    assert!(active);
}

#[tokio::test]
async fn another_projects_members_are_dropped_from_a_batch() {
    let app = admin_app().await;
    let grace_id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let other = other_admin(&app).await;
    // Straight to the confirm step with Grace's id: not Mallory's project, nothing happens.
    let r = app
        .submit_with(
            &other,
            "/admin/users",
            "/admin/members/bulk",
            &[
                ("tab", "users"),
                ("action", "remove"),
                ("member", &grace_id),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#bulk-summary")
            .unwrap()
            .contains("0 members were changed")
    );
    assert!(exists(&app, &grace_id));
    // A member who is not an admin cannot post a batch at all.
    let (_, linus) = app
        .member("Linus", "Member", "linus@example.com", &[], PASSWORD_2)
        .await;
    let r = app
        .submit_with(
            &linus,
            "/",
            "/admin/members/bulk",
            &[
                ("tab", "users"),
                ("action", "remove"),
                ("member", &grace_id),
            ],
        )
        .await;
    assert_ne!(r.status(), StatusCode::OK);
    assert!(exists(&app, &grace_id));
}
