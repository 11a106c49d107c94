use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{audit_events, memberships, profiles, projects};
use rollcall::domain::{EmailAddress, PersonName, ProfileType};
use rollcall::services::RequestMeta;
use rollcall::services::audit::Acting;
use rollcall::services::invite::{self, InviteRequest};

use crate::helpers::*;

const ADMIN_PAGES: &[&str] = &[
    "/admin",
    "/admin/project",
    "/admin/users",
    "/admin/patients",
    "/admin/clients",
    "/admin/invite",
    "/admin/access-policies",
    "/admin/access-policies/new",
    "/admin/audit",
    "/admin/audit.csv",
];

#[tokio::test]
async fn members_who_are_not_admins_get_403_on_every_admin_page_and_action() {
    let app = admin_app().await;
    let (grace_id, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[],
            "violet tuesday lantern orbit",
        )
        .await;
    for path in ADMIN_PAGES {
        assert_eq!(
            app.get_with(&grace, path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let member = format!("/admin/members/{grace_id}");
    assert_eq!(
        app.get_with(&grace, &member).await.status(),
        StatusCode::FORBIDDEN
    );
    let token = csrf_in(&app.get_with(&grace, "/").await.text().await.unwrap());
    for action in ["", "/remove", "/resend", "/reset-password", "/reset-mfa"] {
        let r = grace
            .post(app.url(&format!("{member}{action}")))
            .form(&[("csrf_token", token.as_str()), ("admin", "on")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let r = grace
        .post(app.url("/admin/invite"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("resourceType", "Practitioner"),
            ("firstName", "X"),
            ("lastName", "Y"),
            ("email", "x@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert_eq!(
        text_of(&html, "main h1").unwrap(),
        "You do not have access to this page"
    );
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_and_back() {
    let app = admin_app().await;
    app.sign_out().await;
    let r = app.get("/admin/users?q=ada").await;
    assert_eq!(location(&r), "/signin?next=%2Fadmin%2Fusers%3Fq%3Dada");
    let html = app.get_html(&location(&r)).await;
    let token = csrf_in(&html);
    let r = app
        .client
        .post(app.url("/signin"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", PASSWORD),
            ("next", "/admin/users?q=ada"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/users?q=ada");
}

#[tokio::test]
async fn an_admin_of_one_project_cannot_reach_another_projects_records() {
    let app = admin_app().await;
    // Project B with its own member and policy, administered by Bob.
    let bob = new_client();
    app.submit_with(
        &bob,
        "/register",
        "/register",
        &[
            ("firstName", "Bob"),
            ("lastName", "B"),
            ("email", "bob@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    app.submit_with(
        &bob,
        "/register/project",
        "/register/project",
        &[("projectName", "Other Clinic")],
    )
    .await;
    app.submit_with(
        &bob,
        "/admin/invite",
        "/admin/invite",
        &[
            ("resourceType", "Practitioner"),
            ("firstName", "Bea"),
            ("lastName", "B"),
            ("email", "bea@example.com"),
        ],
    )
    .await;
    let r = app
        .submit_with(
            &bob,
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[("name", "B policy"), ("rule[0].resourceType", "*")],
        )
        .await;
    let b_policy = location(&r).rsplit('/').next().unwrap().to_owned();
    let b_member = app.membership_of("bea@example.com");

    let member = format!("/admin/members/{b_member}");
    for path in [
        member.clone(),
        format!("{member}/remove"),
        format!("/admin/access-policies/{b_policy}"),
    ] {
        assert_eq!(
            app.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let token = csrf_in(&app.get_html("/admin/users").await);
    for path in [
        member.clone(),
        format!("{member}/remove"),
        format!("{member}/resend"),
        format!("{member}/reset-password"),
        format!("{member}/reset-mfa"),
        format!("/admin/access-policies/{b_policy}"),
        format!("/admin/access-policies/{b_policy}/delete"),
    ] {
        let r = app
            .client
            .post(app.url(&path))
            .form(&[
                ("csrf_token", token.as_str()),
                ("admin", "on"),
                ("name", "x"),
                ("rule[0].resourceType", "*"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Another project's policy in a form field is refused, not attached.
    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Cy"),
            ("lastName", "C"),
            ("email", "cy@example.com"),
            ("accessPolicy", &b_policy),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ada_self = app.membership_of(ADMIN_EMAIL);
    let r = app
        .submit(
            &format!("/admin/members/{ada_self}"),
            &format!("/admin/members/{ada_self}"),
            &[("admin", "on"), ("accessPolicy", &b_policy)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .submit(
            "/admin/project",
            "/admin/project",
            &[
                ("name", "Clinic"),
                ("defaultPatientAccessPolicy", &b_policy),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Bea is untouched.
    let bea = app.get_with(&bob, &member).await;
    assert_eq!(bea.status(), StatusCode::OK);
}

/// Invites `n` practitioners straight through the service (faster than the form).
fn seed_members(app: &TestApp, n: usize) {
    let project = rollcall::services::projects::get(
        &mut app.conn(),
        &projects::table
            .select(projects::id)
            .first::<String>(&mut app.conn())
            .unwrap(),
    )
    .unwrap();
    let mut conn = app.conn();
    for i in 0..n {
        let request = InviteRequest {
            profile_type: ProfileType::Practitioner,
            first_name: PersonName::parse(&format!("Member{i:03}"), "first name").unwrap(),
            last_name: PersonName::parse(&format!("Zed{:03}", n - i), "last name").unwrap(),
            email: Some(EmailAddress::parse(&format!("m{i:03}@example.com")).unwrap()),
            access_policy_id: None,
            send_email: false,
            admin: i % 10 == 0,
            scope: None,
            mfa_required: false,
            external_id: None,
            upsert: false,
        };
        let inviter = Acting {
            user_id: None,
            display: "seed".into(),
            super_admin: false,
            meta: RequestMeta::default(),
        };
        invite::invite(
            &mut conn,
            &project,
            &inviter,
            request,
            &app.address,
            &Default::default(),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn the_users_tab_searches_filters_sorts_and_pages_with_a_cursor() {
    let app = admin_app().await;
    seed_members(&app, 60);

    let page1 = app.get_html("/admin/users").await;
    assert!(
        text_of(&page1, ".results-count")
            .unwrap()
            .starts_with("61 members")
    );
    let names = names_in(&page1);
    assert_eq!(names.len(), 50);
    assert_eq!(
        names[0], "Ada Tester",
        "sorted as names are shown, first name first"
    );
    assert_eq!(names[1], "Member000 Zed060");
    let next = attr_of(&page1, ".pager a", "href").unwrap();
    assert!(next.starts_with("/admin/users?after="));
    let page2 = app.get_html(&next).await;
    let names2 = names_in(&page2);
    assert_eq!(names2.len(), 11);
    assert_eq!(names2.last().unwrap(), "Member059 Zed001");
    assert!(
        names2.iter().all(|n| !names.contains(n)),
        "no row repeats across pages"
    );
    assert!(page2.contains("First page"));

    let found = app.get_html("/admin/users?q=member01").await;
    assert_eq!(names_in(&found).len(), 10);
    let by_email = app.get_html("/admin/users?q=m042%40example").await;
    assert_eq!(names_in(&by_email), ["Member042 Zed018"]);
    let admins = app.get_html("/admin/users?admin=1").await;
    assert_eq!(names_in(&admins).len(), 7, "Ada and every tenth member");
    // Sorted by last name, the list shows "Last, First".
    let by_last = names_in(&app.get_html("/admin/users?sort=last").await);
    assert_eq!(by_last[..2], ["Tester, Ada", "Zed001, Member059"]);
    let sorted = app.get_html("/admin/users?sort=email").await;
    assert_eq!(names_in(&sorted)[0], "Ada Tester");
    assert_eq!(names_in(&sorted)[1], "Member000 Zed060");

    let none = app.get_html("/admin/users?q=nobody-like-this").await;
    assert_eq!(text_of(&none, ".empty-state h2").unwrap(), "No matches");
    // Live search: htmx gets the page's partial, with the results region in it.
    let partial = app
        .client
        .get(app.url("/admin/users?q=member00"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!partial.contains("<html"));
    assert_eq!(names_in(&partial).len(), 10);
}

#[tokio::test]
async fn an_empty_patients_tab_invites_the_first_patient() {
    let app = admin_app().await;
    let html = app.get_html("/admin/patients").await;
    assert_eq!(
        text_of(&html, ".empty-state h2").unwrap(),
        "No one here yet"
    );
    // One call to action: the page's own button, which the empty state points to.
    assert_eq!(
        html.matches("href=\"/admin/invite?resourceType=Patient\"")
            .count(),
        1
    );
    assert_eq!(
        text_of(&html, ".page-header .button-primary").unwrap(),
        "Invite new patient"
    );
    assert!(
        text_of(&html, ".empty-state p")
            .unwrap()
            .contains("with Invite new patient above")
    );
    // The invite form opened for a patient highlights the Patients tab.
    let form = app.get_html("/admin/invite?resourceType=Patient").await;
    assert_eq!(
        text_of(&form, "nav.tabs a[aria-current=page]").unwrap(),
        "Patients"
    );
}

#[tokio::test]
async fn access_policies_are_validated_listed_edited_and_deleted_only_when_unused() {
    let app = admin_app().await;
    let r = app
        .submit(
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[
                ("name", ""),
                ("rule[0].resourceType", "patient"),
                ("rule[1].resourceType", "Observation"),
                ("rule[1].criteria", "name=Smith"),
                ("rule[2].resourceType", "Spaceship"),
                ("rule[3].resourceType", "Pat ient"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let summary = text_of(&html, ".error-summary").unwrap();
    assert!(summary.contains("Enter a name for the policy"));
    assert!(summary.contains("Rule 1: patient is not a FHIR resource type. Did you mean Patient?"));
    assert!(
        summary
            .contains("Rule 2: Criteria must be empty, _id=%profile.id or _compartment=%patient")
    );
    assert!(summary.contains(
        "Rule 3: Spaceship is not a FHIR resource type. Pick one from the list, or * for all types"
    ));
    assert!(summary.contains("Rule 4: A resource type is a FHIR type name"));
    // The form offers the known types as a list.
    assert!(html.contains("<option value=\"MedicationRequest\">"));
    assert_eq!(
        attr_of(&html, "input[name='rule[0].resourceType']", "list").as_deref(),
        Some("resource-types")
    );

    // "Add rule" without JavaScript re-renders the form with one more row.
    let r = app
        .submit(
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[
                ("name", "P"),
                ("rule[0].resourceType", "Patient"),
                ("button", "add"),
            ],
        )
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"rule[1].resourceType\""));

    let r = app
        .submit(
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[
                ("name", "Patients read own"),
                ("rule[0].resourceType", "Patient"),
                ("rule[0].readOnly", "on"),
                ("rule[0].criteria", "_compartment=%patient"),
            ],
        )
        .await;
    let path = location(&r);
    let policy_id = path.rsplit('/').next().unwrap().to_owned();
    let list = app.get_html("/admin/access-policies").await;
    assert!(
        text_of(&list, "tbody")
            .unwrap()
            .contains("Patients read own 1 0")
    );

    let r = app
        .submit(
            &path,
            &path,
            &[
                ("name", "Patients (own)"),
                ("rule[0].resourceType", "Patient"),
                ("rule[1].resourceType", "Observation"),
                ("rule[1].readOnly", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = app.get_html("/admin/access-policies").await;
    assert!(
        text_of(&list, "tbody")
            .unwrap()
            .contains("Patients (own) 2 0")
    );

    app.invite_person(
        "Grace",
        "Hopper",
        "grace@example.com",
        &[("accessPolicy", &policy_id)],
    )
    .await;
    let r = app.submit(&path, &format!("{path}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, ".error-summary")
            .unwrap()
            .contains("still used by Grace Hopper")
    );

    let grace = app.membership_of("grace@example.com");
    app.submit(
        &format!("/admin/members/{grace}"),
        &format!("/admin/members/{grace}"),
        &[("accessPolicy", "")],
    )
    .await;
    let r = app.submit(&path, &format!("{path}/delete"), &[]).await;
    assert_eq!(location(&r), "/admin/access-policies");
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_audit_log_tells_the_story_and_exports_csv() {
    let app = admin_app().await;
    let id = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let member = format!("/admin/members/{id}");
    app.submit(&member, &member, &[("admin", "on")]).await;
    app.submit(&member, &member, &[]).await;
    app.submit(
        &format!("{member}/remove"),
        &format!("{member}/remove"),
        &[],
    )
    .await;
    app.submit(
        "/admin/project",
        "/admin/project",
        &[("name", "Clinic North"), ("description", "Second site")],
    )
    .await;

    let actions: Vec<String> = audit_events::table
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .select(audit_events::action)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        actions,
        [
            "project.updated",
            "member.removed",
            "member.demoted",
            "member.promoted",
            "member.invited",
            "project.created"
        ]
    );
    let html = app.get_html("/admin/audit").await;
    let rows: Vec<String> = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("tbody tr").unwrap())
        .map(|r| {
            r.text()
                .collect::<Vec<_>>()
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(rows.len(), 6);
    assert!(rows[1].contains("Member removed Ada Tester Grace Hopper grace@example.com 127.0.0.1"));
    assert!(
        rows[0].contains("Project settings changed")
            && rows[0].contains("name: Clinic → Clinic North")
    );

    let filtered = app.get_html("/admin/audit?action=member.promoted").await;
    assert_eq!(
        scraper::Html::parse_document(&filtered)
            .select(&scraper::Selector::parse("tbody tr").unwrap())
            .count(),
        1
    );

    let csv = app.get("/admin/audit.csv?action=member.invited").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit-log.csv")
    );
    let body = csv.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        r#""time","action","actor","target_type","target_id","target","detail","ip""#
    );
    let records: Vec<csv::StringRecord> = csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len(), 1);
    let row: Vec<&str> = records[0].iter().collect();
    assert_eq!(
        row[1..4],
        ["member.invited", "Ada Tester", "ProjectMembership"]
    );
    assert_eq!(
        row[5..],
        [
            "Grace Hopper",
            "grace@example.com as Practitioner",
            "127.0.0.1"
        ]
    );
}

#[tokio::test]
async fn the_audit_csv_defuses_formulas_for_spreadsheets_that_split_on_any_separator() {
    let app = admin_app().await;
    app.invite_person("x;=cmd|' /C calc'!A0", "Smith", "mallory@example.com", &[])
        .await;
    let body = app
        .get("/admin/audit.csv?action=member.invited")
        .await
        .text()
        .await
        .unwrap();
    // Every field is quoted, and the name cannot become a formula after a `;` split.
    assert!(body.contains(r#""x;'=cmd|' /C calc'!A0 Smith""#), "{body}");
    for line in body.lines().skip(1) {
        for cell in line
            .split(';')
            .chain(line.split(','))
            .chain(line.split('|'))
        {
            let cell = cell.trim_start_matches([' ', '"']);
            assert!(
                !cell.starts_with(['=', '+', '@']),
                "a cell could run as a formula: {cell}"
            );
        }
    }
}

#[tokio::test]
async fn project_details_are_shown_and_edited() {
    let app = admin_app().await;
    let html = app.get_html("/admin/project").await;
    let about = text_of(&html, ".details").unwrap();
    assert!(about.contains("Owner Ada Tester"));
    let r = app
        .submit(
            "/admin/project",
            "/admin/project",
            &[("name", "ab"), ("description", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#name-error")
            .unwrap()
            .contains("at least 4 characters")
    );
    assert_eq!(attr_of(&html, "#name", "value").as_deref(), Some("ab"));

    let r = app
        .submit(
            "/admin/project",
            "/admin/project",
            &[
                ("name", "Clinic North"),
                ("description", "Our second site"),
                ("requireMfa", "on"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/project");
    let (name, description, require_mfa): (String, String, bool) = projects::table
        .select((projects::name, projects::description, projects::require_mfa))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        (name.as_str(), description.as_str(), require_mfa),
        ("Clinic North", "Our second site", true)
    );
    // The setting applies to the admin too: their next project page is enrolment.
    let r = app.get("/admin/project").await;
    assert!(location(&r).starts_with("/signin/mfa/enroll?next=%2Fadmin%2Fproject"));
}

#[tokio::test]
async fn seeding_adds_varied_people_that_the_tabs_count() {
    let app = admin_app().await;
    rollcall::services::seed::seed(&mut app.conn(), "Clinic", 1200, false).unwrap();
    let by_type: Vec<(Option<String>, i64)> = memberships::table
        .filter(memberships::client_id.is_null())
        .group_by(memberships::profile_type)
        .select((memberships::profile_type, diesel::dsl::count_star()))
        .load(&mut app.conn())
        .unwrap();
    let of = |t: &str| {
        by_type
            .iter()
            .find(|(k, _)| k.as_deref() == Some(t))
            .map_or(0, |(_, n)| *n)
    };
    let (people, patients) = (of("Practitioner") + of("RelatedPerson"), of("Patient"));
    assert_eq!(people + patients, 1201, "1,200 seeded + Ada");
    assert!(of("RelatedPerson") > 0 && patients > 0, "{by_type:?}");
    let users_tab = app.get_html("/admin/users").await;
    assert_eq!(
        text_of(&users_tab, ".results-count").unwrap(),
        match people {
            1000.. => format!("{},{:03} members", people / 1000, people % 1000),
            _ => format!("{people} members"),
        }
    );
    assert_eq!(names_in(&users_tab).len(), 50);
    let patients_tab = app.get_html("/admin/patients").await;
    assert_eq!(
        text_of(&patients_tab, ".results-count").unwrap(),
        format!("{patients} members")
    );
    // Some are still invited, some are admins, and names come from many languages.
    let invited = app.get_html("/admin/users?status=invited").await;
    assert!(!names_in(&invited).is_empty());
    let admins = app.get_html("/admin/users?admin=1").await;
    assert!(names_in(&admins).len() > 1);
    let accented: i64 = profiles::table
        .filter(profiles::search_text.ne(profiles::first_name))
        .filter(
            profiles::first_name
                .like("%é%")
                .or(profiles::last_name.like("%á%")),
        )
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!(accented > 0);
    let err =
        rollcall::services::seed::seed(&mut app.conn(), "No Such Project", 1, false).unwrap_err();
    assert!(matches!(err, rollcall::services::ServiceError::Invalid(_)));
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_target_and_days_links_members_and_reads_relative() {
    let app = admin_app().await;
    let grace = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    app.invite_person("Alan", "Turing", "alan@example.com", &[])
        .await;
    let rows = |html: &str| -> Vec<String> {
        scraper::Html::parse_document(html)
            .select(&scraper::Selector::parse("tbody tr").unwrap())
            .map(|r| {
                r.text()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    // By target: part of the name or the email.
    let html = app.get_html("/admin/audit?target=hopper").await;
    let found = rows(&html);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("Grace Hopper"));
    // The target links to the member; whoever acted too.
    assert_eq!(
        attr_of(&html, "tbody td[data-label=Target] a", "href"),
        Some(format!("/admin/members/{grace}"))
    );
    assert_eq!(
        attr_of(&html, "tbody td[data-label=By] a", "href"),
        Some(format!("/admin/members/{}", app.membership_of(ADMIN_EMAIL)))
    );
    // Times read relative, exact on hover and in the CSV.
    assert_eq!(text_of(&html, "tbody time").unwrap(), "just now");
    let exact = attr_of(&html, "tbody time", "title").unwrap();
    assert!(exact.ends_with(" UTC") && exact.len() == 23, "{exact}");
    // By actor: nobody called Mallory acted here.
    let html = app.get_html("/admin/audit?actor=mallory").await;
    assert!(rows(&html).is_empty());
    assert!(
        text_of(&html, ".empty-state h2")
            .unwrap()
            .contains("matches these filters")
    );
    let html = app
        .get_html("/admin/audit?actor=ada&action=member.invited")
        .await;
    assert_eq!(rows(&html).len(), 2);
    // LIKE's wildcards are matched as themselves.
    assert!(rows(&app.get_html("/admin/audit?target=%25").await).is_empty());
    // Days, both included; the future is empty; nonsense gets a message by the field.
    let today = chrono::Utc::now().date_naive();
    let html = app
        .get_html(&format!(
            "/admin/audit?from={today}&to={today}&target=turing"
        ))
        .await;
    assert_eq!(rows(&html).len(), 1);
    let tomorrow = today.succ_opt().unwrap();
    assert!(rows(&app.get_html(&format!("/admin/audit?from={tomorrow}")).await).is_empty());
    let r = app.get("/admin/audit?from=yesterday&to=2026-01-01").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert_eq!(
        text_of(&html, "#from-error").unwrap(),
        "Error: Enter a date as YYYY-MM-DD, for example 2026-12-01"
    );
    let r = app
        .get(&format!("/admin/audit?from={today}&to=2020-01-01"))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The export keeps the filters.
    let html = app.get_html("/admin/audit?target=hopper").await;
    let csv_href = attr_of(&html, "a[download]", "href").unwrap();
    assert_eq!(csv_href, "/admin/audit.csv?target=hopper");
    let body = app.get(&csv_href).await.text().await.unwrap();
    assert_eq!(body.lines().count(), 2, "{body}");
    assert!(body.contains("grace@example.com"));
    // A removed member is no longer linked.
    app.submit(
        &format!("/admin/members/{grace}/remove"),
        &format!("/admin/members/{grace}/remove"),
        &[],
    )
    .await;
    let html = app.get_html("/admin/audit?target=hopper").await;
    assert_eq!(rows(&html).len(), 2);
    assert!(attr_of(&html, "tbody td[data-label=Target] a", "href").is_none());
}
