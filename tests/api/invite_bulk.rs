//! Inviting many people at once: a pasted list or a CSV file, checked before anything is
//! written, then each valid row invited on its own.

use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use rollcall::db::schema::{audit_events, memberships, users};

use crate::helpers::*;

async fn post(app: &TestApp, form: Form) -> reqwest::Response {
    let csrf = csrf_in(&app.get_html("/admin/invite/bulk").await);
    app.client
        .post(app.url(&format!("/admin/invite/bulk?csrf_token={csrf}")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn count_users(app: &TestApp) -> i64 {
    users::table.count().get_result(&mut app.conn()).unwrap()
}

/// The text of one column, for each body row of a table.
fn column(html: &str, table: &str, label: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel =
        scraper::Selector::parse(&format!("#{table} tbody td[data-label=\"{label}\"]")).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

#[tokio::test]
async fn a_pasted_list_is_checked_row_by_row_then_the_valid_rows_are_invited() {
    let app = admin_app().await;
    let _bob = app.registered("Bob", "bob@example.com").await;
    let _carol = app.registered("Carol", "carol@example.com").await;
    app.invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let list = "\
new1@example.com, Nina, One
new2@example.com,Noor,Two
bob@example.com, Bob, Byte
grace@example.com, Grace, Hopper
ada@example.com, Ada, Tester
priya@example, Priya, Patel
new3@example.com, Nora,
new4@example.com, Nils, Four, Doctor
new1@example.com, Nina, Again
carol@example.com, Carol, Tester, RelatedPerson
new5@gmial.com, Gina, Typo, Patient
";
    let users_before = count_users(&app);
    let form = Form::new()
        .text("step", "preview")
        .text("people", list)
        .text("role", "Practitioner")
        .text("sendEmail", "on");
    let r = post(&app, form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let lines = column(&html, "bulk-invite-preview", "Line");
    let expected: Vec<String> = (1..=11).map(|n| n.to_string()).collect();
    assert_eq!(lines, expected);
    let what = column(&html, "bulk-invite-preview", "What happens");
    assert_eq!(what.len(), 11, "{what:?}");
    assert!(what[0].starts_with("New account"));
    assert!(what[2].starts_with("Existing account"));
    assert!(what[3].starts_with("Already a member"));
    assert!(what[4].starts_with("Already a member"), "Ada herself");
    assert!(what[5].contains("needs a dot"), "{}", what[5]);
    assert!(what[6].contains("last name"), "{}", what[6]);
    assert!(what[7].contains("Doctor"), "{}", what[7]);
    assert!(
        what[8].contains("Listed twice (also on line 1)"),
        "{}",
        what[8]
    );
    assert!(what[9].starts_with("Existing account"));
    assert!(html.contains("Did you mean new5@gmail.com?"));
    let summary = text_of(&html, "#bulk-invite-summary").unwrap();
    assert!(
        summary.starts_with("5 of 11 can be invited"),
        "{summary} {what:?}"
    );
    assert_eq!(
        count_users(&app),
        users_before,
        "the preview writes nothing"
    );

    // Confirm: the preview's own form, as posted.
    let form = Form::new()
        .text("step", "invite")
        .text("people", list)
        .text("role", "Practitioner")
        .text("sendEmail", "on");
    let r = post(&app, form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "main h1")
            .unwrap()
            .starts_with("5 of 11 invited")
    );
    let result = column(&html, "bulk-invite-result", "Result");
    assert!(
        result[2].contains("to accept after signing in"),
        "{}",
        result[2]
    );
    assert!(result[5].starts_with("Not invited"));
    for email in ["new1@example.com", "new2@example.com", "new5@gmial.com"] {
        assert_eq!(
            memberships::table
                .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
                .filter(users::email.eq(email))
                .count()
                .get_result::<i64>(&mut app.conn())
                .unwrap(),
            1,
            "{email}"
        );
    }
    let invited: i64 = audit_events::table
        .filter(audit_events::action.eq("member.invited"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(invited, 1 + 5, "Grace before, five now: one event each");
    app.wait_for_mail("new2@example.com", "invited").await;
    app.wait_for_mail("carol@example.com", "Invitation").await;
}

#[tokio::test]
async fn a_csv_file_with_a_header_and_semicolons_is_read_by_its_columns() {
    let app = admin_app().await;
    let csv = "\u{feff}Last name;First name;E-mail;Role\r\nHopper;Grace;grace@example.com;\r\n\"Lovelace; Byron\";Ada;ada.l@example.com;Patient\r\n";
    let form = Form::new()
        .text("step", "invite")
        .text("people", "")
        .text("role", "Practitioner")
        .part(
            "file",
            Part::bytes(csv.as_bytes().to_vec())
                .file_name("ward.csv")
                .mime_str("text/csv")
                .unwrap(),
        );
    let r = post(&app, form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "main h1")
            .unwrap()
            .starts_with("2 of 2 invited"),
        "{html}"
    );
    let last: String = rollcall::db::schema::profiles::table
        .filter(rollcall::db::schema::profiles::email.eq("ada.l@example.com"))
        .select(rollcall::db::schema::profiles::last_name)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(last, "Lovelace; Byron");
    let patients: i64 = memberships::table
        .filter(memberships::profile_type.eq("Patient"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(patients, 1);

    // A file that is not UTF-8 is refused with a way to fix it; nothing is written.
    let before = count_users(&app);
    let form = Form::new().text("step", "invite").part(
        "file",
        Part::bytes(vec![0xff, 0xfe, b'a', 0x00, 0xe9])
            .file_name("ward.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let r = post(&app, form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("UTF-8"));
    assert_eq!(count_users(&app), before);
}

#[tokio::test]
async fn rows_past_the_hourly_invite_limit_are_reported_not_invited() {
    let app = spawn_app_with(|s| s.limits.invites_per_admin = 3).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let (_, linus) = app
        .member("Linus", "Member", "linus@example.com", &[], PASSWORD)
        .await;
    let list: String = (1..=5)
        .map(|i| format!("p{i}@example.com, Person, N{i}\n"))
        .collect();
    let form = Form::new()
        .text("step", "invite")
        .text("people", list)
        .text("role", "Practitioner");
    let r = post(&app, form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "main h1")
            .unwrap()
            .starts_with("2 of 5 invited")
    );
    let result = column(&html, "bulk-invite-result", "Result");
    assert!(
        result[4].contains("limit of invites an hour"),
        "{}",
        result[4]
    );
    // Not an admin: no bulk invite.
    assert_ne!(
        app.get_with(&linus, "/admin/invite/bulk").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_api_invites_many_and_answers_each_in_a_batch_response() {
    let app = admin_app().await;
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let project = app.project_id();
    let path = format!("/admin/projects/{project}/invite/bulk");
    let body = serde_json::json!({"invites": [
        {"resourceType": "Practitioner", "firstName": "Nina", "lastName": "One", "email": "nina@example.com"},
        {"resourceType": "Practitioner", "firstName": "No", "email": "nolast@example.com"},
        {"resourceType": "Practitioner", "firstName": "Ada", "lastName": "Tester", "email": ADMIN_EMAIL},
        {"resourceType": "Patient", "firstName": "Pat", "lastName": "Two", "email": "pat@example.com", "sendEmail": false},
        "not an invite"
    ]});
    let answer = app.api_post(&path, &token, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["resourceType"], "Bundle");
    assert_eq!(answer.body["type"], "batch-response");
    let statuses: Vec<&str> = answer.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["200", "400", "409", "200", "400"]);
    let entry = &answer.body["entry"];
    assert_eq!(entry[0]["resource"]["resourceType"], "ProjectMembership");
    assert_eq!(
        entry[1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert!(
        entry[2]["response"]["outcome"]
            .to_string()
            .contains("already a member")
    );
    assert!(
        entry[3]["resource"]["profile"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Patient/")
    );
    let invited: i64 = users::table
        .filter(users::email.eq_any(["nina@example.com", "pat@example.com", "nolast@example.com"]))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(invited, 2);

    // More than 1,000 in one request is refused whole.
    let many: Vec<serde_json::Value> = (0..1001)
        .map(|i| serde_json::json!({"resourceType": "Patient", "firstName": "P", "lastName": format!("{i}"), "email": format!("p{i}@example.com")}))
        .collect();
    let answer = app
        .api_post(&path, &token, serde_json::json!({"invites": many}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["resourceType"], "OperationOutcome");

    // In the OpenAPI document.
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/admin/projects/{projectId}/invite/bulk"]["post"].is_object());
}
