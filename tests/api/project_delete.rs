//! The owner deletes a project after typing its name: its memberships, profiles, policies,
//! clients and project-scoped accounts go; accounts shared with other projects stay; the
//! deletion is in the server's audit log.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{audit_events, memberships, profiles, projects, users};

use crate::helpers::*;

const PASSWORD: &str = "violet tuesday lantern orbit";
const PAGE: &str = "/admin/project/delete";

fn count_users(app: &TestApp, email: &str) -> i64 {
    users::table
        .filter(users::email.eq(email))
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

fn project_rows(app: &TestApp, project_id: &str) -> (i64, i64, i64) {
    let mut conn = app.conn();
    let p = projects::table
        .find(project_id)
        .count()
        .get_result(&mut conn)
        .unwrap();
    let m = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let pr = profiles::table
        .filter(profiles::project_id.eq(project_id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    (p, m, pr)
}

#[tokio::test]
async fn the_owner_deletes_a_project_and_shared_accounts_stay() {
    let app = admin_app().await;
    let project = app.project_id();
    let (_, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            PASSWORD,
        )
        .await;
    let (_, pat) = app
        .member(
            "Pat",
            "Ient",
            "pat@example.com",
            &[("projectScoped", "on")],
            PASSWORD,
        )
        .await;
    app.invite_person("Ivy", "Later", "ivy@example.com", &[])
        .await;
    let invite_link = app.wait_for_mail("ivy@example.com", "invited").await.path();
    let client = app.admin_client().await;
    let token = app.token(&client).await;

    // Grace, an admin but not the owner: no button, and both methods refused.
    let details = app.get_html_with(&grace, "/admin/project").await;
    assert!(!details.contains(PAGE));
    assert_eq!(
        app.get_with(&grace, PAGE).await.status(),
        StatusCode::FORBIDDEN
    );
    let html = app.get_html_with(&grace, "/admin/project").await;
    let r = grace
        .post(app.url(PAGE))
        .form(&[
            ("csrf_token", csrf_in(&html).as_str()),
            ("confirmName", "Clinic"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(project_rows(&app, &project).0, 1);

    // The owner reaches it from the Details tab; the page says what goes.
    let details = app.get_html("/admin/project").await;
    assert!(details.contains(&format!("href=\"{PAGE}\"")));
    let page = app.get_html(PAGE).await;
    assert!(
        text_of(&page, "main ul")
            .unwrap()
            .contains("its 4 memberships")
    );
    // A wrong name (or a different case) deletes nothing.
    for typed in ["", "clinic", "Clinic2"] {
        let r = app.submit(PAGE, PAGE, &[("confirmName", typed)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{typed:?}");
        assert!(
            text_of(&r.text().await.unwrap(), "#confirmName-error")
                .unwrap()
                .contains("Type the project's name, Clinic, exactly")
        );
    }
    assert_eq!(
        project_rows(&app, &project),
        (1, 5, 4),
        "4 people and a client"
    );

    let r = app.submit(PAGE, PAGE, &[("confirmName", " Clinic ")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin/project");
    assert_eq!(project_rows(&app, &project), (0, 0, 0));
    // Server-wide accounts stay (Ada, Grace, and Ivy's unused one); Pat's was the project's.
    assert_eq!(count_users(&app, ADMIN_EMAIL), 1);
    assert_eq!(count_users(&app, "grace@example.com"), 1);
    assert_eq!(count_users(&app, "pat@example.com"), 0);
    // Ivy's account, made by the project's invitation and never used, goes with it.
    assert_eq!(count_users(&app, "ivy@example.com"), 0);
    // Recorded at server level; the project's own log went with it.
    let (action, detail): (String, String) = audit_events::table
        .filter(audit_events::project_id.is_null())
        .filter(audit_events::action.eq("project.deleted"))
        .select((audit_events::action, audit_events::detail))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(action, "project.deleted");
    assert!(
        detail.starts_with(
            "4 memberships, 1 client applications, 1 project-scoped accounts and 1 unused invited"
        ),
        "{detail}"
    );
    let left: i64 = audit_events::table
        .filter(audit_events::project_id.eq(&project))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);

    // Nobody keeps a way in: the client's token, Grace's and Pat's sessions, Ivy's link.
    let answer = app.api_get("/fhir/R4/ProjectMembership", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    let r = app.get_with(&grace, "/admin/users").await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let r = app.get_with(&pat, "/account").await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(location(&r).starts_with("/signin"), "{}", location(&r));
    let r = app.get_with(&new_client(), &invite_link).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    // Ada, still signed in, lands where she chooses or makes a project, with a message.
    let r = app.get("/signin/project").await;
    assert_eq!(location(&r), "/register/project");
    let html = app.get_html("/register/project").await;
    assert!(
        html.contains("Clinic was deleted. You are not a member of any project."),
        "{html}"
    );

    // The deleted people are gone from search too: a new project's members, given the
    // freed index keys, are found by their own names only.
    let r = app
        .submit(
            "/register/project",
            "/register/project",
            &[("projectName", "Second")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for (first, email) in [("Zed", "zed@example.com"), ("Yan", "yan@example.com")] {
        app.invite_person(first, "Zulu", email, &[("projectScoped", "on")])
            .await;
    }
    for gone in ["ient", "hopper", "ivy"] {
        let html = app.get_html(&format!("/admin/users?q={gone}")).await;
        assert!(!html.contains("Zulu"), "{gone} found a Zulu");
    }
    let html = app.get_html("/admin/users?q=zulu").await;
    assert!(html.contains("Zed") && html.contains("Yan"));
}

#[tokio::test]
async fn a_project_scoped_owner_deletes_the_project_and_their_account() {
    let app = admin_app().await;
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on"), ("projectScoped", "on")],
            PASSWORD,
        )
        .await;
    let confirm = format!("/admin/project/transfer?newOwner={grace_id}");
    let r = app
        .submit(
            &confirm,
            "/admin/project/transfer",
            &[("newOwner", &grace_id)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Ada, no longer the owner, cannot delete it.
    assert_eq!(app.get(PAGE).await.status(), StatusCode::FORBIDDEN);

    let page = app.get_html_with(&grace, PAGE).await;
    assert!(page.contains("yours included"));
    let r = app
        .submit_with(&grace, PAGE, PAGE, &[("confirmName", "Clinic")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin");
    assert_eq!(count_users(&app, "grace@example.com"), 0);
    assert_eq!(count_users(&app, ADMIN_EMAIL), 1);
    let r = app.get_with(&grace, "/account").await;
    assert!(location(&r).starts_with("/signin"));
}

#[tokio::test]
async fn only_super_admins_read_the_servers_audit_log() {
    let app = admin_app().await;
    let other = other_admin(&app).await;
    let r = app
        .submit_with(&other, PAGE, PAGE, &[("confirmName", "Elsewhere")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Ada, a project admin, cannot see server events.
    let html = app.get_html("/admin/audit").await;
    assert!(!html.contains("scope=server"));
    for path in ["/admin/audit?scope=server", "/admin/audit.csv?scope=server"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // Made a super admin, she finds the deletion there, and in its CSV.
    diesel::update(users::table.filter(users::email.eq(ADMIN_EMAIL)))
        .set(users::super_admin.eq(true))
        .execute(&mut app.conn())
        .unwrap();
    let html = app.get_html("/admin/audit").await;
    assert!(html.contains("href=\"/admin/audit?scope=server\""));
    let html = app.get_html("/admin/audit?scope=server").await;
    assert!(
        html.contains("Project deleted") && html.contains("Elsewhere"),
        "{html}"
    );
    let csv = app.get_html("/admin/audit.csv?scope=server").await;
    assert!(csv.contains("project.deleted"));
    // The project's own log does not show it.
    let html = app.get_html("/admin/audit").await;
    assert!(!html.contains("Elsewhere"));
}
