//! Member lifecycle: suspend and reactivate, pending invitations (resend, cancel, resend all
//! expired), on every path that reaches them.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, security_requests, users};
use serde_json::json;

use crate::helpers::*;

const GRACE_PASSWORD: &str = "violet tuesday lantern orbit";

fn active(app: &TestApp, id: &str) -> bool {
    memberships::table
        .find(id)
        .select(memberships::active)
        .first(&mut app.conn())
        .unwrap()
}

/// Grace, invited with a new account (a link); Bob, invited with an account of his own (he
/// accepts after signing in, no link); Linus, who accepted. Their membership ids.
async fn three_people(app: &TestApp) -> (String, String, String) {
    let grace_id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let _bob = app.registered("Bob", "bob@example.com").await;
    let bob_id = app
        .invite_person("Bob", "Tester", "bob@example.com", &[])
        .await;
    let (linus_id, _) = app
        .member(
            "Linus",
            "Accepted",
            "linus@example.com",
            &[],
            GRACE_PASSWORD,
        )
        .await;
    (grace_id, bob_id, linus_id)
}

async fn post_action(
    app: &TestApp,
    client: &reqwest::Client,
    id: &str,
    action: &str,
) -> reqwest::Response {
    // The form's token comes from a page every admin can open (not the member's own page,
    // which another project's admin cannot).
    let page = format!("/admin/members/{id}");
    app.submit_with(client, "/admin/users", &format!("{page}/{action}"), &[])
        .await
}

#[tokio::test]
async fn a_suspended_member_keeps_the_membership_but_cannot_use_the_project_until_reactivated() {
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
    assert_eq!(
        app.get_with(&grace, "/admin/users").await.status(),
        StatusCode::OK
    );

    // The member page offers it, with what it means.
    let html = app.get_html(&format!("/admin/members/{grace_id}")).await;
    assert!(html.contains(&format!("/admin/members/{grace_id}/suspend")));
    assert!(
        text_of(&html, "#suspend-hint")
            .unwrap()
            .contains("cannot sign in to this project")
    );

    let r = post_action(&app, &app.client, &grace_id, "suspend").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!active(&app, &grace_id));
    assert_eq!(audited(&app, "member.suspended"), 1);
    let html = app.get_html(&format!("/admin/members/{grace_id}")).await;
    assert!(html.contains("Suspended"));
    assert!(html.contains(&format!("/admin/members/{grace_id}/reactivate")));

    // Her open session loses the project at once; signing in again does not bring it back.
    assert_ne!(
        app.get_with(&grace, "/admin/users").await.status(),
        StatusCode::OK
    );
    let fresh = new_client();
    let r = app
        .sign_in_with(&fresh, "grace@example.com", GRACE_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_ne!(
        app.get_with(&fresh, "/admin/users").await.status(),
        StatusCode::OK
    );
    // She is told why the project is missing.
    let r = app.get_with(&fresh, "/signin/project").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#suspended-notice")
            .unwrap()
            .contains("Clinic is suspended")
    );
    // Her membership and profile are still there.
    assert!(exists(&app, &grace_id));

    // The list shows her as suspended, apart from the active and invited members.
    let html = app.get_html("/admin/users?status=suspended").await;
    assert_eq!(names_in(&html), vec!["Grace Hopper"]);
    assert!(
        text_of(&html, ".results-count")
            .unwrap()
            .contains("suspended")
    );
    let html = app.get_html("/admin/users?status=active").await;
    assert_eq!(names_in(&html), vec!["Ada Tester"]);
    let html = app.get_html("/admin/users").await;
    assert!(html.contains("badge-muted\">Suspended"));

    let r = post_action(&app, &app.client, &grace_id, "reactivate").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(active(&app, &grace_id));
    assert_eq!(audited(&app, "member.reactivated"), 1);
    // No new invitation: her old session works again.
    assert_eq!(
        app.get_with(&grace, "/admin/users").await.status(),
        StatusCode::OK
    );
    let html = app.get_html("/admin/users?status=suspended").await;
    assert!(names_in(&html).is_empty());
}

#[tokio::test]
async fn the_owner_and_the_last_admin_cannot_be_suspended_on_any_path() {
    let app = admin_app().await;
    let ada = app.membership_of(ADMIN_EMAIL);
    // The page does not offer it for the owner, and the action is refused.
    let html = app.get_html(&format!("/admin/members/{ada}")).await;
    assert!(!html.contains(&format!("/admin/members/{ada}/suspend")));
    let r = post_action(&app, &app.client, &ada, "suspend").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("owner"));
    assert!(active(&app, &ada));

    // The htmx variant is refused the same way.
    let page = format!("/admin/members/{ada}");
    let csrf = csrf_in(&app.get_html(&page).await);
    let r = app
        .client
        .post(app.url(&format!("{page}/suspend")))
        .header("HX-Request", "true")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(active(&app, &ada));

    // The API refuses it too (the same rule, the same service).
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let project = app.project_id();
    let answer = app
        .api_patch(
            &format!("/admin/projects/{project}/members/{ada}"),
            &token,
            json!([{"op": "replace", "path": "/active", "value": false}]),
        )
        .await;
    assert!(answer.status.is_client_error(), "{}", answer.body);
    assert!(active(&app, &ada));

    // Where the owner is not an admin (older projects), the last admin stays active.
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("admin", "on")],
            GRACE_PASSWORD,
        )
        .await;
    diesel::update(memberships::table.find(&ada))
        .set(memberships::admin.eq(false))
        .execute(&mut app.conn())
        .unwrap();
    let r = post_action(&app, &grace, &grace_id, "suspend").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("last admin"));
    assert!(active(&app, &grace_id));
    assert_eq!(audited(&app, "member.suspended"), 0);
}

#[tokio::test]
async fn suspending_through_the_api_is_the_same_suspension() {
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
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let project = app.project_id();
    let path = format!("/admin/projects/{project}/members/{grace_id}");
    let answer = app
        .api_patch(
            &path,
            &token,
            json!([{"op": "replace", "path": "/active", "value": false}]),
        )
        .await;
    assert!(answer.status.is_success(), "{}", answer.body);
    assert_eq!(answer.body["active"], json!(false));
    assert_eq!(audited(&app, "member.suspended"), 1);
    assert_ne!(
        app.get_with(&grace, "/admin/users").await.status(),
        StatusCode::OK
    );
    let html = app.get_html("/admin/users?status=suspended").await;
    assert_eq!(names_in(&html), vec!["Grace Hopper"]);

    // Another project's admin cannot suspend her: not found, nothing changed.
    let other = other_admin(&app).await;
    let r = post_action(&app, &other, &grace_id, "reactivate").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!active(&app, &grace_id));
}

#[tokio::test]
async fn pending_invitations_show_who_invited_whom_the_link_and_the_email() {
    let app = admin_app().await;
    let (grace_id, bob_id, linus_id) = three_people(&app).await;
    app.wait_for_mail("grace@example.com", "invited").await;
    app.wait_for_mail("bob@example.com", "Invitation").await;

    // Reachable from the admin tabs.
    let html = app.get_html("/admin/users").await;
    assert!(html.contains("href=\"/admin/invitations\""));
    let mut html = app.get_html("/admin/invitations").await;
    for _ in 0..50 {
        if html.matches("Delivered").count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        html = app.get_html("/admin/invitations").await;
    }
    let people: Vec<String> = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("tbody td[data-label=Person] a").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect();
    assert!(people.contains(&"Grace Hopper".to_owned()), "{people:?}");
    assert!(people.contains(&"Bob Tester".to_owned()), "{people:?}");
    assert!(
        !people.iter().any(|n| n.contains("Linus")),
        "accepted members are not pending"
    );
    assert!(html.contains("2 invitations wait"));
    assert!(html.contains("Works until"));
    assert!(html.contains("Accepts after sign-in"));
    assert_eq!(html.matches("Delivered").count(), 2, "{html}");
    assert!(html.contains("by Ada Tester"), "who invited them");
    assert!(html.contains(&format!("/admin/invitations/{grace_id}/cancel")));
    assert!(html.contains(&format!("/admin/invitations/{bob_id}/resend")));
    assert!(!html.contains(&format!("/admin/invitations/{linus_id}/cancel")));
}

#[tokio::test]
async fn cancelling_an_invitation_withdraws_it_and_is_not_removing_a_member() {
    let app = admin_app().await;
    let (grace_id, bob_id, linus_id) = three_people(&app).await;
    let link = app
        .wait_for_mail("grace@example.com", "invited")
        .await
        .path();

    // The confirmation names the person; its first focus is on keeping the invitation.
    let confirm = format!("/admin/invitations/{grace_id}/cancel");
    let html = app.get_html(&confirm).await;
    assert!(
        text_of(&html, "#cancel-title")
            .unwrap()
            .contains("Grace Hopper")
    );
    let r = app.submit(&confirm, &confirm, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/invitations");
    assert!(!exists(&app, &grace_id));
    assert_eq!(audited(&app, "invitation.cancelled"), 1);
    assert_eq!(audited(&app, "member.removed"), 0);
    // The account the invitation made, never used, goes with it.
    let grace_accounts: i64 = users::table
        .filter(users::email.eq("grace@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(grace_accounts, 0);
    // The emailed link no longer works.
    let r = new_client().get(app.url(&link)).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK);

    // An account of their own stays when their invitation is cancelled.
    let confirm = format!("/admin/invitations/{bob_id}/cancel");
    let r = app.submit(&confirm, &confirm, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let bob_accounts: i64 = users::table
        .filter(users::email.eq("bob@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(bob_accounts, 1);

    // An accepted member is not an invitation: refused, nothing removed.
    let r = app
        .submit(
            "/admin/invitations",
            &format!("/admin/invitations/{linus_id}/cancel"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(exists(&app, &linus_id));
    // Asked through htmx (the list's Cancel button), the dialog says so instead.
    let r = app
        .client
        .get(app.url(&format!("/admin/invitations/{linus_id}/cancel")))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let partial = r.text().await.unwrap();
    assert!(partial.contains("<dialog"), "{partial}");
    assert!(partial.contains("Nothing to cancel"));
    assert!(!partial.contains("<html"));
    // Nor can the confirmation page be opened for them.
    assert_eq!(
        app.get(&format!("/admin/invitations/{linus_id}/cancel"))
            .await
            .status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn another_projects_invitation_cannot_be_seen_resent_or_cancelled() {
    let app = admin_app().await;
    let grace_id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let other = other_admin(&app).await;
    let html = app
        .get_with(&other, "/admin/invitations")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Grace"));
    for action in ["resend", "cancel"] {
        let r = app
            .submit_with(
                &other,
                "/admin/invitations",
                &format!("/admin/invitations/{grace_id}/{action}"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(
        app.get_with(&other, &format!("/admin/invitations/{grace_id}/cancel"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(exists(&app, &grace_id));
    // A member who is not an admin has no invitations page.
    let (_, linus) = app
        .member("Linus", "Member", "linus@example.com", &[], GRACE_PASSWORD)
        .await;
    assert_ne!(
        app.get_with(&linus, "/admin/invitations").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn resend_rotates_the_link_and_resend_all_expired_renews_only_the_expired() {
    let app = admin_app().await;
    let grace_id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let _hedy = app
        .invite_person("Hedy", "Lamarr", "hedy@example.com", &[])
        .await;
    let first = app
        .wait_for_mail("grace@example.com", "invited")
        .await
        .path();
    app.wait_for_mail("hedy@example.com", "invited").await;

    let r = app
        .submit(
            "/admin/invitations",
            &format!("/admin/invitations/{grace_id}/resend"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/invitations");
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
    assert_eq!(audited(&app, "member.invite_resent"), 1);

    // Grace's link expires: the page says so and offers to resend the expired ones.
    let grace_user: String = memberships::table
        .find(&grace_id)
        .select(memberships::user_id.assume_not_null())
        .first(&mut app.conn())
        .unwrap();
    diesel::update(
        security_requests::table
            .filter(security_requests::user_id.eq(&grace_user))
            .filter(security_requests::superseded_at.is_null()),
    )
    .set(
        security_requests::expires_at
            .eq(chrono::Utc::now().naive_utc() - chrono::Duration::hours(1)),
    )
    .execute(&mut app.conn())
    .unwrap();
    let html = app.get_html("/admin/invitations").await;
    assert!(html.contains("1 with an expired link"), "{html}");
    assert!(html.contains("Resend all expired (1)"));
    let r = app
        .submit(
            "/admin/invitations",
            "/admin/invitations/resend-expired",
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.get_html("/admin/invitations").await;
    assert!(html.contains("1 expired invitation sent again"), "{html}");
    assert!(!html.contains("with an expired link"));
    assert_eq!(
        audited(&app, "member.invite_resent"),
        2,
        "only Grace's was resent"
    );
}

#[tokio::test]
async fn obvious_email_typos_are_caught_and_a_likely_misspelling_can_be_kept() {
    let app = admin_app().await;
    let fields = |email: &'static str| {
        vec![
            ("resourceType", "Practitioner"),
            ("firstName", "Priya"),
            ("lastName", "Patel"),
            ("email", email),
            ("sendEmail", "on"),
        ]
    };
    let r = app.invite(&fields("priya@example")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#email-error")
            .unwrap()
            .contains("needs a dot")
    );

    let r = app.invite(&fields("priya@gmial.com")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#email-error")
            .unwrap()
            .contains("Did you mean priya@gmail.com?")
    );
    assert!(html.contains("id=\"keepEmail\""));
    let none: i64 = users::table
        .filter(users::email.like("priya@%"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(none, 0, "nothing is written before the admin decides");

    // Ticked, with another field wrong: the box stays ticked on the form shown again.
    let mut other_error = fields("priya@gmial.com");
    other_error.retain(|(k, _)| *k != "lastName");
    other_error.push(("keepEmail", "on"));
    let r = app.invite(&other_error).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert_eq!(attr_of(&html, "#keepEmail", "checked").as_deref(), Some(""));
    assert!(
        text_of(&html, "#email-error").is_none(),
        "the override holds"
    );

    let mut kept = fields("priya@gmial.com");
    kept.push(("keepEmail", "on"));
    let r = app.invite(&kept).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        users::table
            .filter(users::email.eq("priya@gmial.com"))
            .count()
            .get_result::<i64>(&mut app.conn())
            .unwrap(),
        1
    );

    // Registering with such an address is refused too; an account that already has one
    // (made before this rule, such as admin@localhost) still signs in.
    let r = app
        .submit_with(
            &new_client(),
            "/register",
            "/register",
            &[
                ("firstName", "Ravi"),
                ("lastName", "Shah"),
                ("email", "ravi@intranet"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("needs a dot"));
    diesel::update(users::table.filter(users::email.eq(ADMIN_EMAIL)))
        .set(users::email.eq("ada@localhost"))
        .execute(&mut app.conn())
        .unwrap();
    let r = app
        .sign_in_with(&new_client(), "ada@localhost", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The API refuses a domain without a dot with an OperationOutcome on the field.
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let answer = app
        .api_invite(
            &token,
            json!({"resourceType": "Practitioner", "firstName": "Ravi", "lastName": "Shah", "email": "ravi@example"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.body["resourceType"], "OperationOutcome");
    assert!(
        answer.issue_text().contains("needs a dot"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn the_list_exports_as_csv_and_fhir_json_with_its_filters_in_chunks() {
    use rollcall::db::schema::profiles;
    let app = admin_app().await;
    // More members than one chunk of the export (1,000 rows).
    rollcall::services::seed::seed(&mut app.conn(), "Clinic", 2_600, false).unwrap();
    let (grace_id, _) = app
        .member("Grace", "Hopper", "grace@example.com", &[], GRACE_PASSWORD)
        .await;
    // A name a spreadsheet would run as a formula.
    let grace_profile: String = memberships::table
        .find(&grace_id)
        .select(memberships::profile_id.assume_not_null())
        .first(&mut app.conn())
        .unwrap();
    diesel::update(profiles::table.find(&grace_profile))
        .set(profiles::first_name.eq("=HYPERLINK(\"http://evil\")"))
        .execute(&mut app.conn())
        .unwrap();
    let people: i64 = memberships::table
        .filter(memberships::profile_type.ne("Patient"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();

    // The tab links to both exports, keeping its filters.
    let html = app.get_html("/admin/users?status=active").await;
    assert!(
        html.contains("href=\"/admin/users.csv?status=active\""),
        "{html}"
    );
    assert!(html.contains("href=\"/admin/users.json?status=active\""));

    let r = app.get("/admin/users.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = r.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "membership_id");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len() as i64,
        people,
        "every person once, across chunks"
    );
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), rows.len());
    let grace = rows.iter().find(|r| &r[0] == grace_id.as_str()).unwrap();
    assert_eq!(
        &grace[1], "'=HYPERLINK(\"http://evil\")",
        "formulas are defused"
    );
    assert_eq!(&grace[3], "grace@example.com");

    // Filters hold in the export: only invited people.
    let body = app
        .get("/admin/users.csv?status=invited")
        .await
        .text()
        .await
        .unwrap();
    let invited: Vec<csv::StringRecord> = csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    let expected: i64 = memberships::table
        .filter(memberships::profile_type.ne("Patient"))
        .filter(memberships::status.eq("invited"))
        .filter(memberships::active.eq(true))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!(expected > 0);
    assert_eq!(invited.len() as i64, expected);
    assert!(invited.iter().all(|r| &r[7] == "invited"));

    // FHIR JSON: a Bundle of the same ProjectMemberships the API answers.
    let r = app.get("/admin/patients.json").await;
    assert_eq!(r.status(), StatusCode::OK);
    let bundle: serde_json::Value = r.json().await.unwrap();
    let patients: i64 = memberships::table
        .filter(memberships::profile_type.eq("Patient"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["total"], json!(patients));
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len() as i64, patients);
    assert_eq!(entries[0]["resource"]["resourceType"], "ProjectMembership");
    assert!(
        entries[0]["resource"]["profile"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Patient/")
    );
    // An empty selection is still a valid Bundle.
    let empty: serde_json::Value = app
        .get("/admin/users.json?q=nobody-matches-this")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["total"], json!(0));
    assert_eq!(empty["entry"], json!([]));

    assert_eq!(audited(&app, "members.exported"), 4);

    // A member who is not an admin cannot export.
    let (_, linus) = app
        .member("Linus", "Member", "linus@example.com", &[], GRACE_PASSWORD)
        .await;
    assert_ne!(
        app.get_with(&linus, "/admin/users.csv").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_patient_is_invited_by_external_id_alone_from_the_form() {
    let app = admin_app().await;
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Pat"),
            ("lastName", "Record"),
            ("email", ""),
            ("externalId", "MRN-0042"),
            ("sendEmail", "on"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let (external, email): (Option<String>, String) = memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::external_id.eq("MRN-0042"))
        .select((memberships::external_id, users::email))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(external.as_deref(), Some("MRN-0042"));
    assert_eq!(email, "");
    // The same external ID again is refused next to its field.
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Pat"),
            ("lastName", "Again"),
            ("externalId", "MRN-0042"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.text().await.unwrap(), "#externalId-error").is_some());
    // Anyone else needs an email address.
    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Dr"),
            ("lastName", "Nomail"),
            ("externalId", "EMP-7"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&r.text().await.unwrap(), "#email-error")
            .unwrap()
            .contains("only patients")
    );
    // Neither given: the email is asked for.
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "No"),
            ("lastName", "Thing"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_link_of_a_cancelled_invitation_says_it_was_withdrawn() {
    let app = admin_app().await;
    let grace_id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let link = app
        .wait_for_mail("grace@example.com", "invited")
        .await
        .path();
    // Another project invites the same new account, so it outlives this cancellation.
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
    let confirm = format!("/admin/invitations/{grace_id}/cancel");
    let r = app.submit(&confirm, &confirm, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = new_client().get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This invitation was withdrawn")
    );
}
