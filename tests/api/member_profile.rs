//! An admin edits a member's profile in their project: contact details, birth date and
//! identifiers for anyone in it; names only of accounts the project governs.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, profiles, users};
use serde_json::json;

use crate::helpers::*;

const PASSWORD: &str = "violet tuesday lantern orbit";

/// The profile's (first, last, phone, identifiers) and the account's (first, last).
type Stored = (String, String, Option<String>, String, String);

fn stored(app: &TestApp, membership_id: &str) -> Stored {
    type Row = (String, String, Option<String>, String, Option<String>);
    let (first, last, phone, ids, user_id): Row = memberships::table
        .inner_join(profiles::table)
        .filter(memberships::id.eq(membership_id))
        .select((
            profiles::first_name,
            profiles::last_name,
            profiles::phone,
            profiles::identifiers,
            memberships::user_id,
        ))
        .first(&mut app.conn())
        .unwrap();
    let (uf, ul): (String, String) = users::table
        .find(user_id.unwrap())
        .select((users::first_name, users::last_name))
        .first(&mut app.conn())
        .unwrap();
    (first, last, phone, ids, format!("{uf} {ul}"))
}

fn edit_page(id: &str) -> String {
    format!("/admin/members/{id}/profile")
}

#[tokio::test]
async fn an_admin_edits_a_project_account_profile_names_and_identifiers_included() {
    let app = admin_app().await;
    let id = app
        .invite_person(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("projectScoped", "on")],
        )
        .await;
    // The member page links to the form.
    let html = app.get_html(&format!("/admin/members/{id}")).await;
    assert!(html.contains(&format!("href=\"{}\"", edit_page(&id))));
    let form = app.get_html(&edit_page(&id)).await;
    assert!(
        form.contains("name=\"firstName\""),
        "names are editable here"
    );
    assert!(form.contains("Add an identifier"));

    // Bad input: a message next to each field, nothing written.
    let r = app
        .submit(
            &edit_page(&id),
            &edit_page(&id),
            &[
                ("firstName", "Grace"),
                ("lastName", "Hopper"),
                ("phone", "call me maybe"),
                ("identifiers", "1"),
                ("identifier[0].system", "urn:staff"),
                ("identifier[0].value", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "#phone-error").is_some());
    assert_eq!(
        text_of(&html, "#identifier\\[0\\]\\.value-error").as_deref(),
        Some("Error: Identifier 1: enter its value")
    );
    assert_eq!(stored(&app, &id).2, None);
    assert_eq!(audited(&app, "member.profile_updated"), 0);

    let r = app
        .submit(
            &edit_page(&id),
            &edit_page(&id),
            &[
                ("firstName", "Grace B."),
                ("lastName", "Hopper"),
                ("phone", "+1 555 0100"),
                ("birthDate", "1906-12-09"),
                ("identifiers", "1"),
                ("identifier[0].system", "http://hl7.org/fhir/sid/us-npi"),
                ("identifier[0].value", "1234567893"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/admin/members/{id}"));
    let (first, _, phone, ids, account) = stored(&app, &id);
    assert_eq!(first, "Grace B.");
    assert_eq!(phone.as_deref(), Some("+1 555 0100"));
    assert!(ids.contains("1234567893"), "{ids}");
    assert_eq!(
        account, "Grace B. Hopper",
        "a project account's name follows"
    );
    assert_eq!(audited(&app, "member.profile_updated"), 1);
    let audit = app.get_html("/admin/audit").await;
    assert!(audit.contains("Profile edited by admin"));
    assert!(audit.contains("Changed: name, phone, birth date, identifiers"));
    // The member page shows the identifier; the member list finds the new name.
    let html = app.get_html(&format!("/admin/members/{id}")).await;
    assert!(html.contains("1234567893"));
    let list = app.get_html("/admin/users?q=grace+b").await;
    assert!(list.contains("Grace B."));

    // Saving the same again changes nothing and logs nothing.
    let html = app.get_html(&edit_page(&id)).await;
    assert!(html.contains("value=\"1234567893\""));
    let r = app
        .submit(
            &edit_page(&id),
            &edit_page(&id),
            &[
                ("firstName", "Grace B."),
                ("lastName", "Hopper"),
                ("phone", "+1 555 0100"),
                ("birthDate", "1906-12-09"),
                ("identifiers", "1"),
                ("identifier[0].system", "http://hl7.org/fhir/sid/us-npi"),
                ("identifier[0].value", "1234567893"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(audited(&app, "member.profile_updated"), 1);

    // Removing every identifier row clears them (the form says it carries identifiers).
    let r = app
        .submit(
            &edit_page(&id),
            &edit_page(&id),
            &[
                ("firstName", "Grace B."),
                ("lastName", "Hopper"),
                ("phone", "+1 555 0100"),
                ("birthDate", "1906-12-09"),
                ("identifiers", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, &id).3, "[]");

    // The FHIR read of the profile carries the identifiers once set.
    app.submit(
        &edit_page(&id),
        &edit_page(&id),
        &[
            ("firstName", "Grace B."),
            ("lastName", "Hopper"),
            ("identifiers", "1"),
            ("identifier[0].value", "STAFF-7"),
        ],
    )
    .await;
    let profile: String = memberships::table
        .find(&id)
        .select(memberships::profile_id.assume_not_null())
        .first(&mut app.conn())
        .unwrap();
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    let answer = app
        .api_get(&format!("/fhir/R4/Practitioner/{profile}"), &token)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["identifier"], json!([{"value": "STAFF-7"}]));
}

#[tokio::test]
async fn a_shared_account_keeps_its_names_on_every_path() {
    let app = admin_app().await;
    // A server-wide account (a practitioner's default).
    let (id, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    let form = app.get_html(&edit_page(&id)).await;
    assert!(!form.contains("name=\"firstName\""));
    assert!(form.contains("only they can change its name"));

    // A crafted form with new names: refused next to the name, nothing written.
    let page = edit_page(&id);
    let csrf = csrf_in(&app.get_html(&page).await);
    for htmx in [false, true] {
        let mut request = app.client.post(app.url(&page));
        if htmx {
            request = request.header("HX-Request", "true");
        }
        let r = request
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("firstName", "Mallory"),
                ("lastName", "Hopper"),
                ("phone", "+1 555 0199"),
            ])
            .send()
            .await
            .unwrap();
        // The page keeps the saved names and saves the rest: the crafted names are ignored.
        // (htmx is told where to go in a header instead of a 303.)
        if htmx {
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                r.headers()["HX-Redirect"],
                format!("/admin/members/{id}").as_str()
            );
        } else {
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        }
    }
    let (first, _, phone, _, account) = stored(&app, &id);
    assert_eq!(first, "Grace");
    assert_eq!(account, "Grace Hopper");
    assert_eq!(
        phone.as_deref(),
        Some("+1 555 0199"),
        "the rest is the admin's"
    );

    // The member still renames herself from her own settings, which never touch identifiers.
    app.submit(
        &edit_page(&id),
        &edit_page(&id),
        &[
            ("phone", "+1 555 0199"),
            ("identifiers", "1"),
            ("identifier[0].value", "STAFF-9"),
        ],
    )
    .await;
    let r = app
        .submit_with(
            &grace,
            "/account",
            "/account",
            &[
                ("firstName", "Amazing Grace"),
                ("lastName", "Hopper"),
                ("identifiers", "1"),
                ("identifier[0].value", "FORGED"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (first, _, _, ids, _) = stored(&app, &id);
    assert_eq!(first, "Amazing Grace");
    assert!(ids.contains("STAFF-9") && !ids.contains("FORGED"), "{ids}");
    let own = app.get_html_with(&grace, "/account").await;
    assert!(!own.contains("Add an identifier"));
}

#[tokio::test]
async fn the_owner_account_names_stay_the_owners_and_other_projects_members_are_not_found() {
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
    let owner = app.membership_of(ADMIN_EMAIL);
    // Grace, an admin, edits the owner's record: not the names.
    let form = app.get_html_with(&grace, &edit_page(&owner)).await;
    assert!(form.contains("only they can change its name"), "{form}");
    let page = edit_page(&owner);
    let csrf = csrf_in(&form);
    let r = grace
        .post(app.url(&page))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("firstName", "Owned"),
            ("lastName", "ByGrace"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, &owner).0, "Ada");

    // Another project's admin: not found on both methods, nothing written.
    let other = other_admin(&app).await;
    let r = app.get_with(&other, &edit_page(&grace_id)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = app.get_html_with(&other, "/account").await;
    let r = other
        .post(app.url(&edit_page(&grace_id)))
        .form(&[
            ("csrf_token", csrf_in(&html).as_str()),
            ("firstName", "Grace"),
            ("lastName", "Hopper"),
            ("phone", "+1 555 0666"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(stored(&app, &grace_id).2, None);
    // A member who is not an admin cannot open it.
    let (_, plain) = app
        .member("Alan", "Turing", "alan@example.com", &[], PASSWORD)
        .await;
    let r = app.get_with(&plain, &edit_page(&grace_id)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
