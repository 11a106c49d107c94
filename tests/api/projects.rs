use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{audit_events, memberships, profiles, projects};

use crate::helpers::*;

#[tokio::test]
async fn a_second_project_from_the_menu_becomes_current_and_joins_the_switcher() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "First Project")
        .await;
    let home = app.get_html("/").await;
    assert!(
        home.contains("href=\"/projects/new\""),
        "the project menu offers a new project"
    );

    let html = app.get_html("/projects/new").await;
    assert_eq!(text_of(&html, "main h1").unwrap(), "Create a new project");
    let r = app.create_project("/projects/new", "Second Project").await;
    assert_eq!(location(&r), "/");
    let html = app.get_html("/").await;
    assert_eq!(text_of(&html, "main h1").unwrap(), "Second Project");
    let switcher = text_of(&html, "nav[aria-label=Project] .dropdown-list").unwrap();
    assert!(switcher.contains("First Project") && switcher.contains("Second Project"));
    app.wait_for_mail("ada@example.com", "Second Project").await;
}

#[tokio::test]
async fn creating_a_project_stores_owner_profile_admin_membership_and_audit_event() {
    let app = spawn_app().await;
    app.register_with_project("Ada", "ada@example.com", "Engines")
        .await;
    let mut conn = app.conn();
    let (project_id, owner_id): (String, String) = projects::table
        .select((projects::id, projects::owner_id))
        .first(&mut conn)
        .unwrap();
    let (user_id, admin, status, profile_type, profile_email): (
        Option<String>,
        bool,
        String,
        String,
        Option<String>,
    ) = memberships::table
        .inner_join(profiles::table)
        .filter(memberships::project_id.eq(&project_id))
        .select((
            memberships::user_id,
            memberships::admin,
            memberships::status,
            profiles::resource_type,
            profiles::email,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(user_id.as_deref(), Some(owner_id.as_str()));
    assert!(admin);
    assert_eq!(status, "active");
    assert_eq!(profile_type, "Practitioner");
    assert_eq!(profile_email.as_deref(), Some("ada@example.com"));
    let actions: Vec<String> = audit_events::table
        .filter(audit_events::project_id.eq(&project_id))
        .select(audit_events::action)
        .load(&mut conn)
        .unwrap();
    assert_eq!(actions, ["project.created"]);
}

#[tokio::test]
async fn project_names_are_escaped_in_pages_and_emails() {
    let app = spawn_app().await;
    let name = "<script>alert(1)</script>";
    app.register_with_project("Ada", "ada@example.com", name)
        .await;
    let html = app.get_html("/").await;
    assert!(!html.contains(name));
    assert_eq!(text_of(&html, "main h1").unwrap(), name, "shown as text");
    let mail = app.wait_for_mail("ada@example.com", "is ready").await;
    assert!(!mail.html.contains(name));
    assert!(text_of(&mail.html, "strong").unwrap() == name);
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let app = spawn_app().await;
    for path in ["/", "/projects/new", "/register/project", "/signin/project"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/signin"), "{path}");
    }
}

#[tokio::test]
async fn a_user_without_projects_is_asked_to_create_one() {
    let app = spawn_app().await;
    app.register("Ada", "Lovelace", "ada@example.com", PASSWORD)
        .await;
    let r = app.get("/signin/project").await;
    assert_eq!(location(&r), "/register/project");
}
