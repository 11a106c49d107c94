//! `GET|POST|PATCH|DELETE /admin/projects/{projectId}/members/{membershipId}`.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::memberships;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, TestApp, admin_app};

struct Setup {
    app: TestApp,
    token: String,
    member: serde_json::Value,
    path: String,
}

async fn setup() -> Setup {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let member = app
        .api_invite(
            &token,
            json!({"resourceType": "Practitioner", "firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com"}),
        )
        .await
        .body;
    let path = format!(
        "/admin/projects/{}/members/{}",
        app.project_id(),
        member["id"].as_str().unwrap()
    );
    Setup {
        app,
        token,
        member,
        path,
    }
}

#[tokio::test]
async fn a_membership_is_read_with_references_and_no_secrets() {
    let s = setup().await;
    let a = s.app.api_get(&s.path, &s.token).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, s.member);
    assert!(a.headers["content-type"].to_str().unwrap().contains("json"));
    let text = a.body.to_string();
    for secret in ["password", "hash", "mfa_secret", "secret"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let unknown = format!("/admin/projects/{}/members/no-such-id", s.app.project_id());
    let a = s.app.api_get(&unknown, &s.token).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body["issue"][0]["code"], "not-found");
}

#[tokio::test]
async fn another_projects_membership_is_not_found_through_this_project() {
    let s = setup().await;
    // Ada's second project, and her membership in it.
    s.app.create_project("/projects/new", "Other Clinic").await;
    use diesel::prelude::*;
    use rollcall::db::schema::{memberships, projects};
    let foreign: String = memberships::table
        .inner_join(projects::table)
        .filter(projects::name.eq("Other Clinic"))
        .select(memberships::id)
        .first(&mut s.app.conn())
        .unwrap();
    let path = format!("/admin/projects/{}/members/{foreign}", s.app.project_id());
    assert_eq!(
        s.app.api_get(&path, &s.token).await.status,
        StatusCode::NOT_FOUND
    );
    let a = s
        .app
        .api(reqwest::Method::DELETE, &path, &s.token, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn post_must_name_this_membership_and_cannot_move_it() {
    let s = setup().await;
    let mut wrong_type = s.member.clone();
    wrong_type["resourceType"] = json!("Patient");
    assert_eq!(
        s.app.api_post(&s.path, &s.token, wrong_type).await.status,
        StatusCode::FORBIDDEN
    );
    let mut wrong_id = s.member.clone();
    wrong_id["id"] = json!("another-id");
    assert_eq!(
        s.app.api_post(&s.path, &s.token, wrong_id).await.status,
        StatusCode::FORBIDDEN
    );
    for (field, value) in [
        ("project", json!({"reference": "Project/elsewhere"})),
        ("user", json!({"reference": "User/someone"})),
        ("profile", json!({"reference": "Practitioner/someone"})),
    ] {
        let mut moved = s.member.clone();
        moved[field] = value;
        let a = s.app.api_post(&s.path, &s.token, moved).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(a.issue_field(), field);
    }
    let mut unknown = s.member.clone();
    unknown["superpowers"] = json!(true);
    let a = s.app.api_post(&s.path, &s.token, unknown).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.issue_field(), "superpowers");
    let mut bad_admin = s.member.clone();
    bad_admin["admin"] = json!("yes");
    assert_eq!(
        s.app.api_post(&s.path, &s.token, bad_admin).await.status,
        StatusCode::BAD_REQUEST
    );
    // Nothing changed.
    assert_eq!(s.app.api_get(&s.path, &s.token).await.body, s.member);
}

#[tokio::test]
async fn promote_with_post_and_demote_with_json_patch() {
    let s = setup().await;
    let mut promoted = s.member.clone();
    promoted["admin"] = json!(true);
    promoted["externalId"] = json!("hr-42");
    let a = s.app.api_post(&s.path, &s.token, promoted).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["admin"], true);
    assert_eq!(a.body["externalId"], "hr-42");

    let a = s
        .app
        .api_patch(
            &s.path,
            &s.token,
            json!([{"op": "replace", "path": "/admin", "value": false}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["admin"], false);
    assert_eq!(
        a.body["externalId"], "hr-42",
        "PATCH leaves other fields alone"
    );

    let a = s
        .app
        .api_patch(
            &s.path,
            &s.token,
            json!([{"op": "add", "path": "/admin", "value": true}]),
        )
        .await;
    assert_eq!(a.body["admin"], true);

    let audit = s.app.get_html("/admin/audit").await;
    assert!(audit.contains("Promoted to admin"));
    assert!(audit.contains("Admin rights removed"));
}

#[tokio::test]
async fn patches_that_fail_or_touch_fixed_fields_change_nothing() {
    let s = setup().await;
    let cases = [
        json!([{"op": "test", "path": "/admin", "value": true}, {"op": "replace", "path": "/admin", "value": true}]),
        json!([{"op": "replace", "path": "/user", "value": {"reference": "User/x"}}]),
        json!([{"op": "add", "path": "/favouriteColour", "value": "blue"}]),
        json!([{"op": "replace", "path": "/id", "value": "x"}]),
        json!({"op": "replace"}),
    ];
    for ops in cases {
        let a = s.app.api_patch(&s.path, &s.token, ops.clone()).await;
        assert!(
            a.status == StatusCode::BAD_REQUEST || a.status == StatusCode::FORBIDDEN,
            "{ops}: {} {:?}",
            a.status,
            a.body
        );
    }
    let r = reqwest::Client::new()
        .patch(s.app.url(&s.path))
        .bearer_auth(&s.token)
        .header("content-type", "text/plain")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(s.app.api_get(&s.path, &s.token).await.body, s.member);
}

#[tokio::test]
async fn access_policy_and_external_id_changes_are_checked() {
    let s = setup().await;
    let r = s
        .app
        .submit(
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[
                ("name", "Read only"),
                ("rule[0].resourceType", "*"),
                ("rule[0].readOnly", "on"),
            ],
        )
        .await;
    let policy = crate::helpers::location(&r)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let a = s
        .app
        .api_patch(
            &s.path,
            &s.token,
            json!([{"op": "add", "path": "/accessPolicy", "value": {"reference": format!("AccessPolicy/{policy}")}}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.body["accessPolicy"]["reference"],
        format!("AccessPolicy/{policy}")
    );
    let a = s
        .app
        .api_patch(
            &s.path,
            &s.token,
            json!([{"op": "replace", "path": "/accessPolicy", "value": {"reference": "AccessPolicy/not-here"}}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.issue_field(), "accessPolicy");

    let other = s
        .app
        .api_invite(
            &s.token,
            json!({"resourceType": "Practitioner", "firstName": "Kay", "lastName": "Ng", "email": "kay@example.com", "externalId": "taken"}),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    let a = s
        .app
        .api_patch(
            &s.path,
            &s.token,
            json!([{"op": "add", "path": "/externalId", "value": "taken"}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn delete_removes_a_member_but_never_the_owner_or_an_unknown_id() {
    let s = setup().await;
    let a = s
        .app
        .api(reqwest::Method::DELETE, &s.path, &s.token, None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    assert_eq!(a.body["issue"][0]["severity"], "information");
    assert_eq!(
        s.app.api_get(&s.path, &s.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.app
            .api(reqwest::Method::DELETE, &s.path, &s.token, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let owner = s.app.membership_of(ADMIN_EMAIL);
    let path = format!("/admin/projects/{}/members/{owner}", s.app.project_id());
    let a = s
        .app
        .api(reqwest::Method::DELETE, &path, &s.token, None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.issue_text(), "The project owner cannot be removed");
}

#[tokio::test]
async fn the_owner_cannot_be_demoted_or_deactivated_through_the_api() {
    let s = setup().await;
    let owner = s.app.membership_of(ADMIN_EMAIL);
    let path = format!("/admin/projects/{}/members/{owner}", s.app.project_id());
    let current = s.app.api_get(&path, &s.token).await.body;
    for ops in [
        json!([{"op": "replace", "path": "/admin", "value": false}]),
        json!([{"op": "replace", "path": "/active", "value": false}]),
    ] {
        let a = s.app.api_patch(&path, &s.token, ops).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
        assert!(a.issue_text().contains("owner always stays"));
    }
    let mut demoted = current.clone();
    demoted["admin"] = json!(false);
    let a = s.app.api_post(&path, &s.token, demoted).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // An invite with upsert goes through the same rule.
    let a = s
        .app
        .api_invite(
            &s.token,
            json!({"resourceType": "Practitioner", "firstName": "Ada", "lastName": "Tester",
                   "email": ADMIN_EMAIL, "admin": false, "upsert": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert!(a.issue_text().contains("owner always stays"));
    assert_eq!(s.app.api_get(&path, &s.token).await.body, current);
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_deactivated_through_the_api() {
    let s = setup().await;
    // A project whose owner is not an admin (from before the owner rule): Grace is its only
    // human admin.
    let owner = s.app.membership_of(ADMIN_EMAIL);
    diesel::update(memberships::table.find(&owner))
        .set(memberships::admin.eq(false))
        .execute(&mut s.app.conn())
        .unwrap();
    let mut promoted = s.member.clone();
    promoted["admin"] = json!(true);
    let a = s.app.api_post(&s.path, &s.token, promoted).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    diesel::update(memberships::table.filter(memberships::id.eq(s.member["id"].as_str().unwrap())))
        .set(memberships::status.eq("active"))
        .execute(&mut s.app.conn())
        .unwrap();
    for ops in [
        json!([{"op": "replace", "path": "/admin", "value": false}]),
        json!([{"op": "replace", "path": "/active", "value": false}]),
    ] {
        let a = s.app.api_patch(&s.path, &s.token, ops).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
        assert!(a.issue_text().contains("last admin"));
    }
    let a = s
        .app
        .api_invite(
            &s.token,
            json!({"resourceType": "Practitioner", "firstName": "Grace", "lastName": "Hopper",
                   "email": "grace@example.com", "admin": false, "upsert": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert!(a.issue_text().contains("last admin"));
}
