//! The Users and Patients tabs at scale: counters that equal `COUNT(*)` whatever happens,
//! search through the index with accents folded, filters, sorts, pages both ways, and a
//! constant number of SQL statements per page.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use rollcall::db::DbConn;
use rollcall::db::schema::{member_counts, memberships, profiles, projects, users};
use rollcall::domain::{EmailAddress, MembershipStatus, PersonName, ProfileType};
use rollcall::services::RequestMeta;
use rollcall::services::audit::Acting;
use rollcall::services::invite::{self, InviteRequest, Scope};
use rollcall::services::members::{self, MembershipChange};

use crate::helpers::*;

type Cell = (String, String, String, bool, bool, bool, bool);

/// The counters as stored (rows that went back to zero left out).
pub(crate) fn counters(conn: &mut DbConn) -> BTreeMap<Cell, i64> {
    member_counts::table
        .filter(member_counts::members.ne(0))
        .select((
            (
                member_counts::project_id,
                member_counts::profile_type,
                member_counts::status,
                member_counts::admin,
                member_counts::active,
                member_counts::mfa,
                member_counts::signed_in,
            ),
            member_counts::members,
        ))
        .load::<(Cell, i64)>(conn)
        .unwrap()
        .into_iter()
        .collect()
}

/// The same numbers counted from the rows themselves, the account's own two-factor state
/// included (not the copy on the membership).
pub(crate) fn counted(conn: &mut DbConn) -> BTreeMap<Cell, i64> {
    type Row = (
        String,
        Option<String>,
        String,
        bool,
        bool,
        Option<bool>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = memberships::table
        .left_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::profile_type.is_not_null())
        .select((
            memberships::project_id,
            memberships::profile_type,
            memberships::status,
            memberships::admin,
            memberships::active,
            users::mfa_enrolled.nullable(),
            memberships::last_signin_at,
        ))
        .load(conn)
        .unwrap();
    let mut cells = BTreeMap::new();
    for (project, kind, status, admin, active, mfa, signed_in) in rows {
        let cell = (
            project,
            kind.unwrap(),
            status,
            admin,
            active,
            mfa.unwrap_or(false),
            signed_in.is_some(),
        );
        *cells.entry(cell).or_insert(0) += 1;
    }
    cells
}

/// Every membership's copies of its profile's sort keys and email are current.
fn copies_are_current(conn: &mut DbConn) -> bool {
    let stale: i64 = memberships::table
        .inner_join(profiles::table)
        .filter(
            memberships::sort_first
                .ne(profiles::sort_first)
                .or(memberships::sort_last.ne(profiles::sort_last))
                .or(memberships::email.ne(profiles::email.assume_not_null())),
        )
        .count()
        .get_result(conn)
        .unwrap();
    stale == 0
}

fn seeder() -> Acting {
    Acting {
        user_id: None,
        display: "test".into(),
        super_admin: false,
        meta: RequestMeta::default(),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Invite { kind: u8, admin: bool, server: bool },
    Accept(usize),
    Remove(usize),
    Admin(usize, bool),
    Suspend(usize, bool),
    Mfa(usize, bool),
    SignIn(usize),
    Rename(usize),
    DeleteAccount(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, any::<bool>(), any::<bool>())
            .prop_map(|(kind, admin, server)| Op::Invite { kind, admin, server }),
        1 => any::<usize>().prop_map(Op::Accept),
        1 => any::<usize>().prop_map(Op::Remove),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Admin(i, b)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Suspend(i, b)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Mfa(i, b)),
        1 => any::<usize>().prop_map(Op::SignIn),
        1 => any::<usize>().prop_map(Op::Rename),
        1 => any::<usize>().prop_map(Op::DeleteAccount),
    ]
}

/// Applies one operation through the services where there is one (refusals, such as the
/// last-admin rule, are part of the game and ignored) and as a plain row change elsewhere.
fn apply(conn: &mut DbConn, project_id: &str, n: &mut usize, op: &Op) {
    let project = rollcall::services::projects::get(conn, project_id).unwrap();
    let ids: Vec<(String, Option<String>, Option<String>)> = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::user_id.is_not_null())
        .order(memberships::id)
        .select((
            memberships::id,
            memberships::user_id,
            memberships::profile_id,
        ))
        .load(conn)
        .unwrap();
    let pick = |i: usize| ids[i % ids.len()].clone();
    let by = seeder();
    let change = |admin, active| MembershipChange {
        admin,
        access_policy_id: None,
        active,
        external_id: None,
    };
    match *op {
        Op::Invite {
            kind,
            admin,
            server,
        } => {
            *n += 1;
            let request = InviteRequest {
                profile_type: ProfileType::ALL[usize::from(kind)],
                first_name: PersonName::parse(&format!("Prop{n}"), "first name").unwrap(),
                last_name: PersonName::parse("Erty", "last name").unwrap(),
                email: Some(EmailAddress::parse(&format!("prop{n}@example.com")).unwrap()),
                access_policy_id: None,
                send_email: false,
                admin,
                scope: Some(if server {
                    Scope::Server
                } else {
                    Scope::Project
                }),
                mfa_required: false,
                external_id: None,
                upsert: false,
            };
            invite::invite(
                conn,
                &project,
                &by,
                request,
                "http://x",
                &Default::default(),
            )
            .unwrap();
        }
        Op::Accept(i) => {
            diesel::update(memberships::table.find(pick(i).0))
                .set(memberships::status.eq(MembershipStatus::Active))
                .execute(conn)
                .unwrap();
        }
        Op::Remove(i) => {
            let _ = members::remove(conn, &project, &by, &pick(i).0);
        }
        Op::Admin(i, admin) => {
            let _ = members::change(conn, &project, &by, &pick(i).0, change(admin, None));
        }
        Op::Suspend(i, active) => {
            let _ = members::change(conn, &project, &by, &pick(i).0, change(false, Some(active)));
        }
        Op::Mfa(i, on) => {
            diesel::update(users::table.find(pick(i).1.unwrap()))
                .set(users::mfa_enrolled.eq(on))
                .execute(conn)
                .unwrap();
        }
        Op::SignIn(i) => {
            diesel::update(memberships::table.find(pick(i).0))
                .set(memberships::last_signin_at.eq(Some(chrono::Utc::now().naive_utc())))
                .execute(conn)
                .unwrap();
        }
        Op::Rename(i) => {
            if let Some(profile_id) = pick(i).2 {
                let mut profile = rollcall::services::profile::get(conn, &profile_id).unwrap();
                rollcall::services::users::rename_profile(conn, &mut profile, "Renée", "Ümlaut")
                    .unwrap();
            }
        }
        Op::DeleteAccount(i) => {
            let (_, user_id, _) = pick(i);
            if project.owner_id != user_id.clone().unwrap() {
                let _ = diesel::delete(users::table.find(user_id.unwrap())).execute(conn);
            }
        }
    }
}

#[tokio::test]
async fn the_counters_equal_a_count_of_the_rows_after_any_sequence_of_changes() {
    let app = admin_app().await;
    let project_id = app.project_id();
    let n = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let conn = std::cell::RefCell::new(app.conn());
    runner
        .run(&prop::collection::vec(op(), 1..30), |ops| {
            let conn = &mut *conn.borrow_mut();
            for op in &ops {
                let mut invited = n.get();
                apply(conn, &project_id, &mut invited, op);
                n.set(invited);
                prop_assert_eq!(counters(conn), counted(conn), "after {:?}", op);
            }
            prop_assert!(copies_are_current(conn));
            Ok(())
        })
        .unwrap();
    assert!(n.get() > 0, "the runner invited people");
}

#[tokio::test]
async fn the_counters_hold_under_concurrent_invites_and_removals() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let project_id = app.project_id();
    let invites = (0..24).map(|i| {
        let body = serde_json::json!({
            "resourceType": if i % 3 == 0 { "Patient" } else { "Practitioner" },
            "firstName": format!("Con{i}"),
            "lastName": "Current",
            "email": format!("con{i}@example.com"),
            "sendEmail": false,
        });
        app.api_invite(&token, body)
    });
    for answer in futures_util::future::join_all(invites).await {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
    let ids: Vec<String> = (0..24)
        .map(|i| {
            memberships::table
                .filter(memberships::email.eq(format!("con{i}@example.com")))
                .select(memberships::id)
                .first(&mut app.conn())
                .unwrap()
        })
        .collect();
    // Half go while the other half's invitations are sent again (a duplicate each).
    let (app_ref, token_ref) = (&app, &token);
    let removals = ids[..12].iter().map(|id| {
        let path = format!("/admin/projects/{project_id}/members/{id}");
        async move {
            app_ref
                .api(reqwest::Method::DELETE, &path, token_ref, None)
                .await
        }
    });
    let duplicates = (12..24).map(|i| {
        let body = serde_json::json!({
            "resourceType": if i % 3 == 0 { "Patient" } else { "Practitioner" },
            "firstName": format!("Con{i}"),
            "lastName": "Current",
            "email": format!("con{i}@example.com"),
            "sendEmail": false,
        });
        app.api_invite(&token, body)
    });
    let (removed, again) = futures_util::future::join(
        futures_util::future::join_all(removals),
        futures_util::future::join_all(duplicates),
    )
    .await;
    assert!(removed.iter().all(|a| a.status == StatusCode::OK));
    for a in &again {
        assert_eq!(a.status, StatusCode::CONFLICT, "{:?}", a.body);
    }
    let mut conn = app.conn();
    assert_eq!(counters(&mut conn), counted(&mut conn));
    let users_tab = app.get_html("/admin/users").await;
    let people = counted(&mut conn)
        .iter()
        .filter(|(cell, _)| cell.1 != "Patient")
        .map(|(_, n)| n)
        .sum::<i64>();
    assert_eq!(
        text_of(&users_tab, ".results-count").unwrap(),
        format!("{people} members")
    );
}

#[tokio::test]
async fn search_finds_names_and_addresses_with_accents_and_case_folded() {
    let app = admin_app().await;
    app.invite_person("José", "Núñez", "jose.nunez@example.com", &[])
        .await;
    app.invite_person("Élodie", "Wagner", "ew@example.com", &[])
        .await;
    app.invite_person("Пётр", "Иванов", "petr@example.com", &[])
        .await;
    for (q, expected) in [
        ("jose", vec!["José Núñez"]),
        ("JOSÉ NÚÑ", vec!["José Núñez"]),
        ("se nu", vec!["José Núñez"]),
        ("elodie", vec!["Élodie Wagner"]),
        ("gner", vec!["Élodie Wagner"]),
        ("петр", vec!["Пётр Иванов"]),
        ("ew@exam", vec!["Élodie Wagner"]),
        // Under three characters there is no trigram to look up: the start of a first name,
        // a last name or an email matches.
        ("nu", vec!["José Núñez"]),
        ("pe", vec!["Пётр Иванов"]),
        ("se", vec![]),
        ("\"quoted\" OR *", vec![]),
    ] {
        let path = format!("/admin/users?q={}", urlencoding(q));
        let r = app.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK, "{q}");
        let html = r.text().await.unwrap();
        assert_eq!(names_in(&html), expected, "searching {q:?}");
        let count = text_of(&html, ".results-count").unwrap();
        let n = expected.len();
        assert!(count.starts_with(&format!("{n} member")), "{q}: {count}");
    }
}

#[tokio::test]
async fn control_characters_in_a_search_are_dropped_on_every_path() {
    // A NUL ends an FTS5 query: it must be dropped, never reach the database.
    let app = admin_app().await;
    app.invite_person("José", "Núñez", "jose.nunez@example.com", &[])
        .await;
    let html = app.get_html("/admin/users?q=jos%00e").await;
    assert_eq!(names_in(&html), vec!["José Núñez"]);
    let html = app.get_html("/admin/users?q=%00%00%00").await;
    assert_eq!(names_in(&html).len(), 2, "no search: everyone");
    let html = app.get_html("/admin/users?q=%0D%0A").await;
    let count = text_of(&html, ".results-count").unwrap();
    assert!(!count.contains("matching"), "{count}");
    for path in [
        "/admin/patients?q=%00ab",
        "/admin/users.csv?q=jos%00e",
        "/admin/users.json?q=jos%00e",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.text().await.expect("the whole answer");
    }
    let r = app
        .client
        .get(app.url("/admin/users?q=emma%00"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

fn urlencoding(q: &str) -> String {
    serde_urlencoded::to_string([("q", q)]).unwrap()[2..].to_owned()
}

#[tokio::test]
async fn filters_and_sorts_combine_and_their_totals_match_the_rows() {
    let app = admin_app().await;
    let (_, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    app.invite_person("Alan", "Turing", "alan@example.com", &[("admin", "on")])
        .await;
    let r = app
        .invite(&[
            ("resourceType", "RelatedPerson"),
            ("firstName", "Rel"),
            ("lastName", "Ative"),
            ("email", "rel@example.com"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    enrol(&app, &grace, "/account/mfa").await;
    let app = &app;
    let names = |path: &'static str| async move {
        let html = app.get_html(path).await;
        (names_in(&html), text_of(&html, ".results-count").unwrap())
    };
    let (invited, count) = names("/admin/users?status=invited").await;
    assert_eq!(invited, ["Alan Turing", "Rel Ative"]);
    assert_eq!(count, "2 members, invited");
    let (related, _) = names("/admin/users?role=RelatedPerson").await;
    assert_eq!(related, ["Rel Ative"]);
    let (mfa, count) = names("/admin/users?mfa=1").await;
    assert_eq!(
        (mfa, count.as_str()),
        (vec!["Grace Hopper".to_owned()], "1 member, two-factor on")
    );
    let (never, _) = names("/admin/users?never=1").await;
    assert_eq!(never, ["Alan Turing", "Rel Ative"]);
    let (invited_admins, _) = names("/admin/users?status=invited&admin=1").await;
    assert_eq!(invited_admins, ["Alan Turing"]);
    let (by_email_desc, _) = names("/admin/users?sort=email&dir=desc").await;
    assert_eq!(
        by_email_desc,
        ["Rel Ative", "Grace Hopper", "Alan Turing", "Ada Tester"]
    );
    // Newest sign-in first; people who never signed in last.
    let (mut by_signin, _) = names("/admin/users?sort=signin").await;
    assert_eq!(by_signin[..2], ["Grace Hopper", "Ada Tester"]);
    by_signin[2..].sort();
    assert_eq!(by_signin[2..], ["Alan Turing", "Rel Ative"]);
    let (by_status, _) = names("/admin/users?sort=status").await;
    assert_eq!(
        by_status,
        ["Ada Tester", "Grace Hopper", "Alan Turing", "Rel Ative"]
    );
    // The sorted column says so to assistive technology, and its header link reverses it.
    let html = app.get_html("/admin/users?sort=email").await;
    assert_eq!(
        attr_of(&html, "th[aria-sort]", "aria-sort").as_deref(),
        Some("ascending")
    );
    assert!(
        attr_of(&html, "th[aria-sort] a", "href")
            .unwrap()
            .contains("sort=email&dir=desc")
    );
    // The invite link is above the list, not below fifty rows.
    let invite_at = html.find("Invite new user").unwrap();
    assert!(invite_at < html.find("<table").unwrap());
}

#[tokio::test]
async fn pages_go_forward_and_back_and_say_where_they_are() {
    let app = admin_app().await;
    let project = rollcall::services::projects::get(&mut app.conn(), &app.project_id()).unwrap();
    let mut conn = app.conn();
    for i in 0..120 {
        let request = InviteRequest {
            profile_type: ProfileType::Practitioner,
            first_name: PersonName::parse(&format!("Page{i:03}"), "first name").unwrap(),
            last_name: PersonName::parse("Turner", "last name").unwrap(),
            email: Some(EmailAddress::parse(&format!("p{i:03}@example.com")).unwrap()),
            access_policy_id: None,
            send_email: false,
            admin: false,
            scope: None,
            mfa_required: false,
            external_id: None,
            upsert: false,
        };
        invite::invite(
            &mut conn,
            &project,
            &seeder(),
            request,
            "http://x",
            &Default::default(),
        )
        .unwrap();
    }
    drop(conn);
    let first = app.get_html("/admin/users").await;
    assert_eq!(text_of(&first, ".pager-range").unwrap(), "1–50 of 121");
    let next = attr_of(&first, ".pager a[rel=next]", "href").unwrap();
    assert!(next.len() < 140, "a short cursor: {next}");
    let second = app.get_html(&next).await;
    assert_eq!(text_of(&second, ".pager-range").unwrap(), "51–100 of 121");
    let third = app
        .get_html(&attr_of(&second, ".pager a[rel=next]", "href").unwrap())
        .await;
    assert_eq!(text_of(&third, ".pager-range").unwrap(), "101–121 of 121");
    assert!(attr_of(&third, ".pager a[rel=next]", "href").is_none());
    let back = app
        .get_html(&attr_of(&third, ".pager a[rel=prev]", "href").unwrap())
        .await;
    assert_eq!(names_in(&back), names_in(&second));
    assert_eq!(text_of(&back, ".pager-range").unwrap(), "51–100 of 121");
    let previous = attr_of(&back, ".pager a[rel=prev]", "href").unwrap();
    assert_eq!(previous, "/admin/users", "back to the first page itself");
    let mut all = names_in(&first);
    all.extend(names_in(&second));
    all.extend(names_in(&third));
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!((all.len(), unique.len()), (121, 121));
    // A search's pages go both ways too, in the same order.
    let found = app.get_html("/admin/users?q=turner").await;
    assert_eq!(
        text_of(&found, ".results-count").unwrap(),
        "120 members matching “turner”"
    );
    assert_eq!(names_in(&found)[0], "Page000 Turner");
    let found2 = app
        .get_html(&attr_of(&found, ".pager a[rel=next]", "href").unwrap())
        .await;
    assert_eq!(names_in(&found2)[0], "Page050 Turner");
    let found3 = app
        .get_html(&attr_of(&found2, ".pager a[rel=next]", "href").unwrap())
        .await;
    assert_eq!(names_in(&found3).len(), 20);
    assert!(attr_of(&found3, ".pager a[rel=next]", "href").is_none());
    let found_back = app
        .get_html(&attr_of(&found3, ".pager a[rel=prev]", "href").unwrap())
        .await;
    assert_eq!(names_in(&found_back), names_in(&found2));
    let reversed = app.get_html("/admin/users?q=turner&dir=desc").await;
    assert_eq!(names_in(&reversed)[0], "Page119 Turner");
    let reversed2 = app
        .get_html(&attr_of(&reversed, ".pager a[rel=next]", "href").unwrap())
        .await;
    assert_eq!(names_in(&reversed2)[0], "Page069 Turner");
    // A cursor from somewhere else starts the list over instead of failing.
    let r = app.get("/admin/users?after=not-a-cursor").await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The statements one Users-tab request sends, at its fewest over three tries (a background
/// worker's poll can land in the middle of one).
async fn statements_per_page(app: &TestApp, path: &str) -> u64 {
    let mut fewest = u64::MAX;
    for _ in 0..3 {
        let before = app.db.statements();
        assert_eq!(app.get(path).await.status(), StatusCode::OK);
        fewest = fewest.min(app.db.statements() - before);
    }
    fewest
}

#[tokio::test]
async fn a_users_page_sends_the_same_number_of_statements_at_any_size() {
    let app = admin_app().await;
    let paths = [
        "/admin/users",
        "/admin/users?q=member",
        "/admin/users?status=invited&sort=signin",
    ];
    let mut small = Vec::new();
    for path in paths {
        small.push(statements_per_page(&app, path).await);
    }
    let project_name: String = projects::table
        .select(projects::name)
        .first(&mut app.conn())
        .unwrap();
    rollcall::services::seed::seed(&mut app.conn(), &project_name, 600, false).unwrap();
    for (path, at_small) in paths.into_iter().zip(small) {
        assert_eq!(statements_per_page(&app, path).await, at_small, "{path}");
    }
}

/// The emails in a page's table, in its order.
fn emails_in(html: &str) -> Vec<String> {
    scraper::Html::parse_document(html)
        .select(&scraper::Selector::parse("tbody td[data-label=Email]").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect()
}

#[tokio::test]
async fn a_search_with_hundreds_of_matches_pages_through_every_one_in_order_both_ways() {
    // Past a few hundred matches in a list, a search walks the sort index instead of
    // collecting its matches: every match must still come once, in order, both ways.
    let app = admin_app().await;
    let project_name: String = projects::table
        .select(projects::name)
        .first(&mut app.conn())
        .unwrap();
    rollcall::services::seed::seed(&mut app.conn(), &project_name, 1_200, false).unwrap();
    let mut expected: Vec<String> = memberships::table
        .filter(memberships::project_id.eq(app.project_id()))
        .filter(memberships::profile_type.eq_any(["Practitioner", "RelatedPerson"]))
        .filter(memberships::email.like("%seed.example"))
        .select(memberships::email)
        .load(&mut app.conn())
        .unwrap();
    expected.sort();
    assert!(
        (501..1_000).contains(&expected.len()),
        "more matches than a search collects, fewer than it counts: {}",
        expected.len()
    );
    let first = app.get_html("/admin/users?q=seed.example&sort=email").await;
    assert_eq!(
        text_of(&first, ".results-count").unwrap(),
        format!("{} members matching “seed.example”", expected.len())
    );
    let mut pages = vec![emails_in(&first)];
    let mut html = first;
    while let Some(next) = attr_of(&html, ".pager a[rel=next]", "href") {
        html = app.get_html(&next).await;
        pages.push(emails_in(&html));
    }
    assert_eq!(pages.concat(), expected, "forward, by email");
    // And back from the last page, each page as it was going forward.
    for page in pages.iter().rev().skip(1) {
        let previous = attr_of(&html, ".pager a[rel=prev]", "href").unwrap();
        html = app.get_html(&previous).await;
        assert_eq!(&emails_in(&html), page, "backward, by email");
    }
    assert!(attr_of(&html, ".pager a[rel=prev]", "href").is_none());
    // Descending by name: the same members, each once.
    let mut html = app
        .get_html("/admin/users?q=seed.example&sort=name&dir=desc")
        .await;
    let mut seen = emails_in(&html);
    while let Some(next) = attr_of(&html, ".pager a[rel=next]", "href") {
        html = app.get_html(&next).await;
        seen.extend(emails_in(&html));
    }
    seen.sort();
    assert_eq!(seen, expected, "by name, descending");
}
