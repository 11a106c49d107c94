//! `GET /fhir/R4/ProjectMembership` search, `GET /fhir/R4/{type}/{id}` reads with access
//! policies, and `GET /openapi.json`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, admin_app};

async fn invite(
    app: &crate::helpers::TestApp,
    token: &str,
    kind: &str,
    first: &str,
) -> serde_json::Value {
    let a = app
        .api_invite(
            token,
            json!({"resourceType": kind, "firstName": first, "lastName": "Test",
                "email": format!("{}@example.com", first.to_lowercase()), "sendEmail": false}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body
}

fn ids(bundle: &serde_json::Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn membership_search_filters_counts_and_pages() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let p1 = invite(&app, &token, "Patient", "Pam").await;
    invite(&app, &token, "Patient", "Pat").await;
    invite(&app, &token, "Patient", "Peg").await;
    let d1 = invite(&app, &token, "Practitioner", "Doc").await;
    invite(&app, &token, "RelatedPerson", "Rel").await;

    let search = |q: &str| format!("/fhir/R4/ProjectMembership{q}");
    let a = app.api_get(&search("?profile-type=Patient"), &token).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["resourceType"], "Bundle");
    assert_eq!(a.body["type"], "searchset");
    assert_eq!(a.body["total"], 3);
    assert_eq!(ids(&a.body).len(), 3);
    assert!(
        a.body["entry"][0]["fullUrl"]
            .as_str()
            .unwrap()
            .contains("/fhir/R4/ProjectMembership/")
    );

    // Ada, the client, Doc and Rel.
    let a = app
        .api_get(&search("?profile-type:not=Patient"), &token)
        .await;
    assert_eq!(a.body["total"], 4);
    let a = app
        .api_get(&search("?profile-type=Practitioner,RelatedPerson"), &token)
        .await;
    assert_eq!(a.body["total"], 3);
    let a = app
        .api_get(&search("?profile-type=ClientApplication"), &token)
        .await;
    assert_eq!(a.body["total"], 1);
    let a = app.api_get(&search("?admin=true"), &token).await;
    assert_eq!(a.body["total"], 2, "Ada and the admin client");
    let a = app
        .api_get(
            &search(&format!(
                "?user={}",
                p1["user"]["reference"].as_str().unwrap()
            )),
            &token,
        )
        .await;
    assert_eq!(ids(&a.body), vec![p1["id"].as_str().unwrap().to_owned()]);
    let a = app
        .api_get(
            &search(&format!(
                "?profile={}",
                d1["profile"]["reference"].as_str().unwrap()
            )),
            &token,
        )
        .await;
    assert_eq!(ids(&a.body), vec![d1["id"].as_str().unwrap().to_owned()]);

    // Pages of two, following `next` until there is none.
    let mut url = search("?_count=2");
    let mut seen = Vec::new();
    loop {
        let a = app.api_get(&url, &token).await;
        assert_eq!(a.body["total"], 7);
        seen.extend(ids(&a.body));
        let next = a.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_owned());
        match next {
            Some(next) => url = next.trim_start_matches(&app.address).to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7, "no member twice");

    let a = app.api_get(&search("?_count=5000"), &token).await;
    assert_eq!(a.status, StatusCode::OK, "counts above 1000 are capped");
    let far = app
        .api_get(&search("?_count=1&_offset=9223372036854775807"), &token)
        .await;
    assert_eq!(far.status, StatusCode::OK, "a huge offset is an empty page");
    assert_eq!(far.body["entry"].as_array().unwrap().len(), 0);
    for bad in ["?_count=-1", "?_offset=x", "?admin=maybe", "?name=Pam"] {
        let a = app.api_get(&search(bad), &token).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(a.body["resourceType"], "OperationOutcome");
    }
}

#[tokio::test]
async fn only_admins_search_memberships() {
    let app = admin_app().await;
    let token = app.token(&app.create_client("Reader", &[]).await).await;
    let a = app.api_get("/fhir/R4/ProjectMembership", &token).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn each_resource_type_is_read_by_id_within_the_project_only() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let patient = invite(&app, &token, "Patient", "Pam").await;
    let practitioner = invite(&app, &token, "Practitioner", "Doc").await;
    let policy = app.patient_self_policy("Own record").await;
    let reads = [
        format!(
            "/fhir/R4/ProjectMembership/{}",
            patient["id"].as_str().unwrap()
        ),
        format!(
            "/fhir/R4/{}",
            patient["profile"]["reference"].as_str().unwrap()
        ),
        format!(
            "/fhir/R4/{}",
            practitioner["profile"]["reference"].as_str().unwrap()
        ),
        format!("/fhir/R4/AccessPolicy/{policy}"),
        format!("/fhir/R4/ClientApplication/{}", client.id),
        format!("/fhir/R4/Project/{}", app.project_id()),
    ];
    for path in &reads {
        let a = app.api_get(path, &token).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {:?}", a.body);
        let kind = path.split('/').nth(3).unwrap();
        assert_eq!(a.body["resourceType"], kind);
    }
    let p = app
        .api_get(
            &format!(
                "/fhir/R4/{}",
                patient["profile"]["reference"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(p.body["name"][0]["given"][0], "Pam");
    assert_eq!(p.body["telecom"][0]["value"], "pam@example.com");
    let ap = app.api_get(&reads[3], &token).await;
    assert_eq!(
        ap.body["resource"][0]["criteria"],
        "Patient?_compartment=%patient"
    );

    // A second project's records are not found through this one.
    app.create_project("/projects/new", "Other Clinic").await;
    use diesel::prelude::*;
    use rollcall::db::schema::{memberships, projects};
    let (other_project, other_membership, other_profile): (String, String, Option<String>) =
        memberships::table
            .inner_join(projects::table)
            .filter(projects::name.eq("Other Clinic"))
            .select((projects::id, memberships::id, memberships::profile_id))
            .first(&mut app.conn())
            .unwrap();
    for path in [
        format!("/fhir/R4/Project/{other_project}"),
        format!("/fhir/R4/ProjectMembership/{other_membership}"),
        format!("/fhir/R4/Practitioner/{}", other_profile.unwrap()),
        "/fhir/R4/Patient/no-such-id".to_owned(),
    ] {
        assert_eq!(
            app.api_get(&path, &token).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let a = app.api_get("/fhir/R4/Observation/1", &token).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_patient_reads_their_own_patient_and_nobody_elses() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let policy = app.patient_self_policy("Patient self").await;
    let pam = app
        .api_invite(
            &token,
            json!({"resourceType": "Patient", "firstName": "Pam", "lastName": "Test", "email": "pam@example.com",
                "accessPolicy": {"reference": format!("AccessPolicy/{policy}")}}),
        )
        .await
        .body;
    let other = invite(&app, &token, "Patient", "Otto").await;
    let doc = invite(&app, &token, "Practitioner", "Doc").await;

    // Pam signs in with her browser; the session works for reads.
    let pam_browser = app.accept_invite("pam@example.com", PASSWORD).await;
    let read = |reference: &serde_json::Value| {
        let url = app.url(&format!("/fhir/R4/{}", reference.as_str().unwrap()));
        let browser = pam_browser.clone();
        async move { browser.get(url).send().await.unwrap() }
    };
    let own = read(&pam["profile"]["reference"]).await;
    assert_eq!(own.status(), StatusCode::OK);
    let body: serde_json::Value = own.json().await.unwrap();
    assert_eq!(body["name"][0]["given"][0], "Pam");
    assert_eq!(
        read(&other["profile"]["reference"]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read(&doc["profile"]["reference"]).await.status(),
        StatusCode::FORBIDDEN
    );
    let membership = pam_browser
        .get(app.url("/fhir/R4/ProjectMembership"))
        .send()
        .await
        .unwrap();
    assert_eq!(membership.status(), StatusCode::FORBIDDEN);
    // The session is good for reads only: a write needs a token.
    let write = pam_browser
        .post(app.url(&format!("/admin/projects/{}/invite", app.project_id())))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_describes_every_json_route() {
    let app = admin_app().await;
    let doc: serde_json::Value = reqwest::get(app.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/oauth2/token", "post"),
        ("/auth/me", "get"),
        ("/admin/projects", "post"),
        ("/admin/Project", "post"),
        ("/admin/projects/{projectId}", "get"),
        ("/admin/projects/{projectId}/invite", "post"),
        ("/admin/projects/{projectId}/client", "post"),
        ("/admin/projects/{projectId}/members/{membershipId}", "get"),
        ("/admin/projects/{projectId}/members/{membershipId}", "post"),
        (
            "/admin/projects/{projectId}/members/{membershipId}",
            "patch",
        ),
        (
            "/admin/projects/{projectId}/members/{membershipId}",
            "delete",
        ),
        ("/fhir/R4/Project", "post"),
        ("/fhir/R4/ProjectMembership", "get"),
        ("/fhir/R4/{resourceType}/{id}", "get"),
        ("/fhir/R4/{resourceType}", "get"),
        ("/oauth2/logout", "post"),
        ("/oauth2/userinfo", "get"),
        ("/auth/login", "post"),
        ("/auth/login/{login}", "get"),
        ("/auth/profile", "post"),
        ("/auth/mfa/verify", "post"),
        ("/auth/mfa/login-enroll", "post"),
        ("/auth/newuser", "post"),
        ("/auth/newproject", "post"),
        ("/auth/changepassword", "post"),
        ("/auth/resetpassword", "post"),
        ("/auth/setpassword", "post"),
        ("/auth/mfa/status", "get"),
        ("/auth/mfa/enroll", "post"),
        ("/auth/mfa/disable", "post"),
        ("/auth/revoke", "post"),
        (
            "/admin/projects/{projectId}/members/{membershipId}/mfa/reset",
            "post",
        ),
        (
            "/admin/projects/{projectId}/members/{membershipId}/resetpassword",
            "post",
        ),
        ("/.well-known/openid-configuration", "get"),
        ("/.well-known/jwks.json", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
        // Every documented route exists: without credentials it answers 401 (or, for the
        // token endpoint, an OAuth error), never 404.
        let url = app.url(
            &path
                .replace("{projectId}", "p")
                .replace("{membershipId}", "m")
                .replace("{resourceType}", "Patient")
                .replace("{id}", "x")
                .replace("{login}", "x"),
        );
        if path == "/auth/login/{login}" {
            // An unknown login is rightly 404: the route shows itself by refusing a POST.
            let r = reqwest::Client::new().post(&url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
            continue;
        }
        let r = reqwest::Client::new()
            .request(method.to_uppercase().parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_ne!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
    }
    // The browser's entry point is described too (a page, so not walked above).
    assert!(paths["/oauth2/authorize"]["get"].is_object());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ProjectMembership",
        "OperationOutcome",
        "Bundle",
        "TokenResponse",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
}

#[tokio::test]
async fn unknown_api_paths_answer_an_operation_outcome_and_pages_stay_pages() {
    let app = admin_app().await;
    let r = reqwest::get(app.url("/fhir/R4/Patient/1/_history/2"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let a = crate::helpers::answer(r).await;
    assert_eq!(a.body["issue"][0]["code"], "not-found");
    let page = reqwest::get(app.url("/no-such-page")).await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn medplums_search_parameters_and_pickers_are_understood() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let first = invite(&app, &token, "Practitioner", "Fay").await;
    let second = invite(&app, &token, "Practitioner", "Gus").await;
    let project = app.project_id();

    let own = app
        .api_get(
            &format!("/fhir/R4/ProjectMembership?project=Project/{project}&_fields=id,profile"),
            &token,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{:?}", own.body);
    assert_eq!(own.body["total"], 4, "Ada, the client, Fay, Gus");
    assert!(
        own.body["entry"][0]["resource"]["project"].is_object(),
        "_fields is ignored: whole resources"
    );
    let other = app
        .api_get(
            "/fhir/R4/ProjectMembership?project=Project/someone-elses",
            &token,
        )
        .await;
    assert_eq!(
        (other.status, other.body["total"].as_i64()),
        (StatusCode::OK, Some(0))
    );

    let newest = app
        .api_get("/fhir/R4/ProjectMembership?_sort=-created&_count=2", &token)
        .await;
    assert_eq!(
        ids(&newest.body),
        vec![
            second["id"].as_str().unwrap().to_owned(),
            first["id"].as_str().unwrap().to_owned()
        ]
    );
    let by_update = app
        .api_get("/fhir/R4/ProjectMembership?_sort=-_lastUpdated", &token)
        .await;
    assert_eq!(by_update.status, StatusCode::OK);
    let bad = app
        .api_get("/fhir/R4/ProjectMembership?_sort=shoeSize", &token)
        .await;
    assert_eq!(
        (bad.status, bad.issue_field().as_str()),
        (StatusCode::BAD_REQUEST, "_sort")
    );

    // The pickers of Medplum's admin app.
    app.create_policy(&[
        ("name", "Read only staff"),
        ("rule[0].resourceType", "Patient"),
        ("rule[0].readonly", "on"),
    ])
    .await;
    app.create_policy(&[("name", "Billing"), ("rule[0].resourceType", "Patient")])
        .await;
    let policies = app
        .api_get("/fhir/R4/AccessPolicy?name=staff", &token)
        .await;
    assert_eq!(policies.status, StatusCode::OK, "{:?}", policies.body);
    assert_eq!(policies.body["total"], 1);
    assert_eq!(
        policies.body["entry"][0]["resource"]["name"],
        "Read only staff"
    );
    assert_eq!(
        policies.body["entry"][0]["resource"]["resourceType"],
        "AccessPolicy"
    );
    let all = app.api_get("/fhir/R4/AccessPolicy?_count=1", &token).await;
    assert_eq!(
        (
            all.body["total"].as_i64(),
            all.body["entry"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );
    let clients = app.api_get("/fhir/R4/ClientApplication", &token).await;
    assert_eq!(clients.body["total"], 1);
    assert!(clients.body["entry"][0]["resource"].get("secret").is_none());
    let unsupported = app.api_get("/fhir/R4/Observation", &token).await;
    assert_eq!(unsupported.status, StatusCode::BAD_REQUEST);

    // Members who are not admins see no pickers.
    let (_, _) = app
        .member("Nan", "Member", "nan@example.com", &[], PASSWORD)
        .await;
    let member = app
        .person_tokens("nan@example.com", PASSWORD, "openid")
        .await;
    let member_token = member.body["access_token"].as_str().unwrap().to_owned();
    for path in [
        "/fhir/R4/AccessPolicy",
        "/fhir/R4/ClientApplication",
        "/fhir/R4/ProjectMembership",
    ] {
        assert_eq!(
            app.api_get(path, &member_token).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
}
