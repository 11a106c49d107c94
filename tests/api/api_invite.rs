//! `POST /admin/projects/{projectId}/invite`: the cases Medplum's own tests check, and the
//! path and body checks Rollcall adds.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, admin_app};

fn person(first: &str, email: &str) -> serde_json::Value {
    json!({"resourceType": "Practitioner", "firstName": first, "lastName": "Tester", "email": email})
}

#[tokio::test]
async fn a_new_user_is_invited_and_emailed_a_set_password_link() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let a = app
        .api_invite(&token, person("Grace", "grace@example.com"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["resourceType"], "ProjectMembership");
    assert_eq!(
        a.body["project"]["reference"],
        format!("Project/{}", app.project_id())
    );
    assert!(
        a.body["user"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("User/")
    );
    assert_eq!(a.body["user"]["display"], "grace@example.com");
    assert!(
        a.body["profile"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Practitioner/")
    );
    assert_eq!(a.body["profile"]["display"], "Grace Tester");
    assert_eq!(a.body["admin"], false);
    let mail = app.wait_for_mail("grace@example.com", "invited").await;
    assert!(mail.link().contains("/setpassword/"));
    // Invited by a client: the audit log names it.
    assert!(
        app.get_html("/admin/audit")
            .await
            .contains("Integration (client)")
    );
}

#[tokio::test]
async fn an_existing_account_is_invited_and_its_pending_state_shows_in_the_json() {
    let app = admin_app().await;
    let bob = app.registered("Bob", "bob@example.com").await;
    let token = app.token(&app.admin_client().await).await;
    let a = app
        .api_invite(&token, person("Bob", "bob@example.com"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.body["extension"][0]["url"],
        "https://rollcall.dev/fhir/StructureDefinition/membership-status"
    );
    assert_eq!(a.body["extension"][0]["valueCode"], "invited");
    let mail = app.wait_for_mail("bob@example.com", "Invitation").await;
    assert!(mail.text.contains("Clinic"));
    assert!(!mail.text.contains("/setpassword/"));
    // Bob accepts; the membership reads as active.
    let id = a.body["id"].as_str().unwrap().to_owned();
    crate::helpers::confirm_address(&app, &bob, "bob@example.com").await;
    let r = app
        .submit_with(
            &bob,
            "/invitations",
            &format!("/invitations/{id}/accept"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let path = format!("/admin/projects/{}/members/{id}", app.project_id());
    let read = app.api_get(&path, &token).await;
    assert_eq!(read.body["extension"][0]["valueCode"], "active");
    // The status is not an admin's to change.
    let mut edited = read.body.clone();
    edited["extension"][0]["valueCode"] = serde_json::json!("invited");
    let a = app.api_post(&path, &token, edited).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.issue_field(), "extension");
}

#[tokio::test]
async fn an_existing_practitioner_profile_of_that_email_is_reused() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let first = app
        .api_invite(&token, person("Hedy", "hedy@example.com"))
        .await;
    let profile = first.body["profile"]["reference"].clone();
    let path = format!(
        "/admin/projects/{}/members/{}",
        app.project_id(),
        first.body["id"].as_str().unwrap()
    );
    let removed = app.api(reqwest::Method::DELETE, &path, &token, None).await;
    assert_eq!(removed.status, StatusCode::OK);
    let again = app
        .api_invite(&token, person("Hedy", "hedy@example.com"))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["profile"]["reference"], profile);
    assert_ne!(again.body["id"], first.body["id"]);
}

#[tokio::test]
async fn a_non_admin_cannot_invite_and_nobody_is_emailed() {
    let app = admin_app().await;
    let token = app.token(&app.create_client("Reader", &[]).await).await;
    let a = app
        .api_invite(&token, person("Mallory", "mallory@example.com"))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    assert_eq!(a.body["issue"][0]["code"], "forbidden");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(app.mails_to("mallory@example.com").is_empty());
}

#[tokio::test]
async fn invalid_input_is_a_400_naming_each_field() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let cases = [
        (
            json!({"resourceType": "Practitioner", "lastName": "X", "email": "x@example.com"}),
            "firstName",
        ),
        (
            json!({"resourceType": "Practitioner", "firstName": "X", "email": "x@example.com"}),
            "lastName",
        ),
        (
            json!({"resourceType": "Observation", "firstName": "X", "lastName": "Y", "email": "x@example.com"}),
            "resourceType",
        ),
        (
            json!({"resourceType": "Practitioner", "firstName": "X", "lastName": "Y", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"resourceType": "Practitioner", "firstName": "X", "lastName": "Y"}),
            "email",
        ),
        (
            json!({"resourceType": "Practitioner", "firstName": "X", "lastName": "Y", "email": "x@example.com", "scope": "galaxy"}),
            "scope",
        ),
        (
            json!({"resourceType": "Practitioner", "firstName": "X", "lastName": "Y", "email": "x@example.com", "accessPolicy": {"reference": "Patient/1"}}),
            "accessPolicy",
        ),
        (
            json!({"resourceType": "Practitioner", "firstName": "X", "lastName": "Y", "email": "x@example.com", "accessPolicy": {"reference": "AccessPolicy/not-ours"}}),
            "accessPolicy",
        ),
        (
            json!({"resourceType": "Practitioner", "firstName": 7, "lastName": "Y", "email": "x@example.com"}),
            "",
        ),
    ];
    for (body, field) in cases {
        let a = app.api_invite(&token, body.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {:?}", a.body);
        assert_eq!(a.body["resourceType"], "OperationOutcome");
        if !field.is_empty() {
            let fields: Vec<&str> = a.body["issue"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|i| i["expression"][0].as_str())
                .collect();
            assert!(fields.contains(&field), "{body}: {:?}", a.body);
        }
    }
    let not_json = reqwest::Client::new()
        .post(app.url(&format!("/admin/projects/{}/invite", app.project_id())))
        .bearer_auth(&token)
        .body("{broken")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    use rollcall::db::schema::users;
    let count: i64 = users::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 1, "nothing was half-written");
}

#[tokio::test]
async fn send_email_false_sends_nothing() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let mut body = person("Quiet", "quiet@example.com");
    body["sendEmail"] = json!(false);
    let a = app.api_invite(&token, body).await;
    assert_eq!(a.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(app.mails_to("quiet@example.com").is_empty());
}

#[tokio::test]
async fn medplums_documented_curl_body_with_send_email_as_a_string_is_understood() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let a = app
        .api_invite(
            &token,
            json!({"resourceType": "Patient", "firstName": "Homer", "lastName": "Simpson",
                "email": "homer@example.com", "sendEmail": "false", "membership": {"admin": "true"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["admin"], true);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(app.mails_to("homer@example.com").is_empty());

    let bad = app
        .api_invite(
            &token,
            json!({"resourceType": "Patient", "firstName": "Marge", "lastName": "Simpson",
                "email": "marge@example.com", "sendEmail": "perhaps"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let parameterised = app
        .api_invite(
            &token,
            json!({"resourceType": "Patient", "firstName": "Bart", "lastName": "Simpson",
                "email": "bart@example.com", "membership": {"access": [{"policy": {"reference": "AccessPolicy/123"}}]}}),
        )
        .await;
    assert_eq!(parameterised.status, StatusCode::BAD_REQUEST);
    assert_eq!(parameterised.issue_field(), "membership.access");
}

#[tokio::test]
async fn an_external_id_alone_invites_a_project_scoped_member_and_is_unique() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let body = json!({"resourceType": "Patient", "firstName": "Ext", "lastName": "One", "externalId": "ext-1"});
    let a = app.api_invite(&token, body.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["externalId"], "ext-1");
    assert!(
        a.body["profile"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Patient/")
    );
    let second = app
        .api_invite(
            &token,
            json!({"resourceType": "Patient", "firstName": "Ext", "lastName": "Two", "externalId": "ext-2"}),
        )
        .await;
    assert_eq!(
        second.status,
        StatusCode::OK,
        "two members without email may coexist"
    );

    let duplicate = app.api_invite(&token, body.clone()).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.body["issue"][0]["code"], "conflict");

    let with_email = app
        .api_invite(
            &token,
            json!({"resourceType": "Patient", "firstName": "Ext", "lastName": "Three", "email": "three@example.com", "externalId": "ext-1"}),
        )
        .await;
    assert_eq!(with_email.status, StatusCode::CONFLICT);

    let path = format!(
        "/admin/projects/{}/members/{}",
        app.project_id(),
        a.body["id"].as_str().unwrap()
    );
    assert_eq!(
        app.api(reqwest::Method::DELETE, &path, &token, None)
            .await
            .status,
        StatusCode::OK
    );
    let reused = app.api_invite(&token, body).await;
    assert_eq!(reused.status, StatusCode::OK, "{:?}", reused.body);

    // The Patients tab lists them without an address.
    let html = app.get_html("/admin/patients").await;
    assert!(html.contains("Ext One"));
    assert!(html.contains("Ext Two"));
}

#[tokio::test]
async fn http_basic_client_credentials_authenticate_an_invite() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let r = reqwest::Client::new()
        .post(app.url(&format!("/admin/projects/{}/invite", app.project_id())))
        .basic_auth(&client.id, Some(&client.secret))
        .json(&person("Basil", "basil@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let wrong = reqwest::Client::new()
        .post(app.url(&format!("/admin/projects/{}/invite", app.project_id())))
        .basic_auth(&client.id, Some("wrong"))
        .json(&person("Basil", "basil2@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_true_and_false_are_echoed_and_emails_lower_cased() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let mut body = person("Alan", "Alan.Turing@Example.COM");
    body["admin"] = json!(true);
    let a = app.api_invite(&token, body).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["admin"], true);
    assert_eq!(a.body["user"]["display"], "alan.turing@example.com");
    let mut body = person("Joan", "joan@example.com");
    body["admin"] = json!(false);
    assert_eq!(app.api_invite(&token, body).await.body["admin"], false);
    // `membership` settings win over the top-level ones.
    let mut body = person("Kat", "kat@example.com");
    body["admin"] = json!(false);
    body["membership"] = json!({"admin": true, "externalId": "kat-7"});
    let a = app.api_invite(&token, body).await;
    assert_eq!(a.body["admin"], true);
    assert_eq!(a.body["externalId"], "kat-7");
}

#[tokio::test]
async fn an_existing_member_is_a_409_unless_upsert_updates_the_same_membership() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let first = app
        .api_invite(&token, person("Ruth", "ruth@example.com"))
        .await;
    let again = app
        .api_invite(&token, person("Ruth", "ruth@example.com"))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.issue_text(),
        "User is already a member of this project"
    );

    let mut upsert = person("Ruth", "ruth@example.com");
    upsert["upsert"] = json!(true);
    upsert["admin"] = json!(true);
    let updated = app.api_invite(&token, upsert).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["id"], first.body["id"]);
    assert_eq!(updated.body["admin"], true);

    let other_profile = json!({"resourceType": "Patient", "firstName": "Ruth", "lastName": "Tester",
        "email": "ruth@example.com", "scope": "server", "upsert": true});
    let clash = app.api_invite(&token, other_profile).await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{:?}", clash.body);
}

#[tokio::test]
async fn scope_and_mfa_required_are_stored() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let mut body = person("Scoped", "scoped@example.com");
    body["scope"] = json!("project");
    body["mfaRequired"] = json!(true);
    let a = app.api_invite(&token, body).await;
    assert_eq!(a.status, StatusCode::OK);
    use rollcall::db::schema::{memberships, users};
    let (project_id, mfa): (Option<String>, bool) = memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::id.eq(a.body["id"].as_str().unwrap()))
        .select((users::project_id, memberships::mfa_required))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(project_id, Some(app.project_id()));
    assert!(mfa);
}

#[tokio::test]
async fn a_project_the_caller_does_not_administer_is_a_403() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let r = app.create_project("/projects/new", "Other Clinic").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    use rollcall::db::schema::projects;
    let other: String = projects::table
        .filter(projects::name.eq("Other Clinic"))
        .select(projects::id)
        .first(&mut app.conn())
        .unwrap();
    for path in [
        format!("/admin/projects/{other}"),
        "/admin/projects/nonexistent".to_owned(),
    ] {
        assert_eq!(
            app.api_get(&path, &token).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let a = app
        .api_post(
            &format!("/admin/projects/{other}/invite"),
            &token,
            person("Eve", "eve@example.com"),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let own = app
        .api_get(&format!("/admin/projects/{}", app.project_id()), &token)
        .await;
    assert_eq!(own.status, StatusCode::OK);
    // Medplum's shape: the project under `project`.
    assert_eq!(own.body["project"]["resourceType"], "Project");
    assert_eq!(own.body["project"]["name"], "Clinic");
    assert_eq!(own.body["project"]["id"], app.project_id().as_str());
}

#[tokio::test]
async fn bodies_that_are_too_large_or_not_json_are_refused() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let path = app.url(&format!("/admin/projects/{}/invite", app.project_id()));
    let big = json!({"resourceType": "Practitioner", "firstName": "x".repeat(100_000)});
    let r = reqwest::Client::new()
        .post(&path)
        .bearer_auth(&token)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let a = crate::helpers::answer(r).await;
    assert_eq!(a.body["issue"][0]["code"], "too-long");
    let r = reqwest::Client::new()
        .post(&path)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("resourceType=Practitioner")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = reqwest::Client::new()
        .put(&path)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        crate::helpers::answer(r).await.body["resourceType"],
        "OperationOutcome"
    );
}

#[tokio::test]
async fn an_invited_api_member_sets_a_password_and_signs_in() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    app.api_invite(&token, person("Lin", "lin@example.com"))
        .await;
    let browser = app.accept_invite("lin@example.com", PASSWORD).await;
    let r = app.get_with(&browser, "/").await;
    assert_eq!(r.status(), StatusCode::OK);
}
