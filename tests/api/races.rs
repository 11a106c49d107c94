//! Races: the same thing asked for at the same moment, over and over, on whichever database
//! the suite runs on. Each test fires the requests together (one `join`), then reads the
//! database to check that exactly what should exist does.

use diesel::prelude::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, rate_limits, users};
use serde_json::json;

use crate::helpers::*;
use crate::member_list::{counted, counters};

/// How many times each race is run.
pub const ROUNDS: usize = 20;

fn memberships_of(app: &TestApp, email: &str) -> i64 {
    memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq(email))
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn one_new_address_invited_three_times_at_once_by_one_project_is_one_account_and_one_membership()
 {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    for round in 0..ROUNDS {
        let email = format!("twice{round}@example.com");
        let fields = [
            ("resourceType", "Practitioner"),
            ("firstName", "Twice"),
            ("lastName", "Asked"),
            ("email", email.as_str()),
        ];
        let body = json!({"resourceType": "Practitioner", "firstName": "Twice",
            "lastName": "Asked", "email": email});
        let (page, again, api) = tokio::join!(
            app.invite(&fields),
            app.invite(&fields),
            app.api_invite(&token, body)
        );
        // One of them makes the member; the others are told the person is one already.
        let statuses = [page.status(), again.status(), api.status];
        let made = statuses.iter().filter(|s| s.is_success()).count();
        assert!(made >= 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| s.is_success()
                || *s == StatusCode::CONFLICT
                || *s == StatusCode::UNPROCESSABLE_ENTITY),
            "{statuses:?}"
        );
        assert_eq!(accounts_with(&app, &email), 1);
        assert_eq!(memberships_of(&app, &email), 1);
    }
    let mut conn = app.conn();
    assert_eq!(counters(&mut conn), counted(&mut conn));
}

#[tokio::test]
async fn admins_demoting_each_other_at_once_leave_an_admin_and_true_counts() {
    let app = admin_app().await;
    let (bob, bob_browser) = app
        .member(
            "Bob",
            "Admin",
            "bob@example.com",
            &[("admin", "on")],
            PASSWORD,
        )
        .await;
    let (cy, cy_browser) = app
        .member(
            "Cy",
            "Admin",
            "cy@example.com",
            &[("admin", "on")],
            PASSWORD,
        )
        .await;
    let owner = app.membership_of(ADMIN_EMAIL);
    for _ in 0..ROUNDS {
        for id in [&bob, &cy] {
            let page = format!("/admin/members/{id}");
            let r = app.submit(&page, &page, &[("admin", "on")]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "promoted again");
        }
        let demote = |browser: &reqwest::Client, id: &str| {
            let page = format!("/admin/members/{id}");
            let browser = browser.clone();
            let app = &app;
            async move { app.submit_with(&browser, &page, &page, &[]).await }
        };
        // Bob and Cy demote each other while the owner tries to demote herself.
        let (a, b, c) = tokio::join!(
            demote(&bob_browser, &cy),
            demote(&cy_browser, &bob),
            demote(&app.client, &owner)
        );
        assert_eq!(
            c.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "the owner stays an admin"
        );
        for r in [&a, &b] {
            // Done, or refused because the demoting admin was demoted a moment before.
            assert!(
                [StatusCode::SEE_OTHER, StatusCode::FORBIDDEN].contains(&r.status()),
                "{}",
                r.status()
            );
        }
        // As if one after the other: the first demotion wins, and the admin it demoted can
        // no longer demote anyone, so exactly one of the two is still an admin.
        assert_ne!(
            (a.status(), b.status()),
            (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER),
            "both demoted each other"
        );
        let still_admin = |id: &str| -> bool {
            memberships::table
                .find(id)
                .select(memberships::admin)
                .first(&mut app.conn())
                .unwrap()
        };
        assert_eq!(
            u8::from(still_admin(&bob)) + u8::from(still_admin(&cy)),
            1,
            "one of the two is still an admin"
        );
        let admins: i64 = memberships::table
            .filter(memberships::project_id.eq(app.project_id()))
            .filter(memberships::admin.eq(true))
            .filter(memberships::active.eq(true))
            .count()
            .get_result(&mut app.conn())
            .unwrap();
        assert!(admins >= 1);
        let still: bool = memberships::table
            .find(&owner)
            .select(memberships::admin)
            .first(&mut app.conn())
            .unwrap();
        assert!(still);
    }
    let mut conn = app.conn();
    assert_eq!(counters(&mut conn), counted(&mut conn));
}

#[tokio::test]
async fn a_reset_link_used_twice_at_once_sets_one_password() {
    let app = spawn_app_with(|s| {
        s.limits.reset_requests_per_email = 1_000;
        s.limits.reset_requests_per_email_and_ip = 1_000;
    })
    .await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Engines")
        .await;
    let mut last = String::new();
    for round in 0..ROUNDS {
        let r = app
            .submit(
                "/resetpassword",
                "/resetpassword",
                &[("email", ADMIN_EMAIL)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let path = app
            .wait_for_new_link(ADMIN_EMAIL, "Reset your Rollcall password", &last)
            .await;
        last = path.clone();
        let passwords = [
            format!("first choice number {round} violet"),
            format!("second choice number {round} amber"),
        ];
        let tries = passwords.iter().map(|password| {
            let browser = new_client();
            let (app, path) = (&app, path.clone());
            async move {
                app.submit_with(
                    &browser,
                    &path,
                    &path,
                    &[("password", password), ("confirmPassword", password)],
                )
                .await
            }
        });
        let answers = join_all(tries).await;
        let set: Vec<usize> = answers
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status() == StatusCode::SEE_OTHER)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(set.len(), 1, "one of the two sets the password");
        let refused = &answers[1 - set[0]];
        assert!(
            [
                StatusCode::NOT_FOUND,
                StatusCode::GONE,
                StatusCode::UNPROCESSABLE_ENTITY
            ]
            .contains(&refused.status()),
            "{}",
            refused.status()
        );
        // The password that won is the one that works.
        let browser = new_client();
        let r = app
            .sign_in_with(&browser, ADMIN_EMAIL, &passwords[set[0]])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(!location(&r).starts_with("/signin"), "{}", location(&r));
        let r = app
            .sign_in_with(&new_client(), ADMIN_EMAIL, &passwords[1 - set[0]])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn twenty_wrong_passwords_at_once_are_all_counted() {
    let app = spawn_app_with(lift_signin_limits).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Engines")
        .await;
    let ada: String = users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::id)
        .first(&mut app.conn())
        .unwrap();
    let key = format!("signin-account:{ada}");
    let mut total = 0;
    for _ in 0..ROUNDS {
        let answers = wrong_passwords_at_once(&app, ADMIN_EMAIL, 20).await;
        assert!(
            answers
                .iter()
                .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
            "{answers:?}"
        );
        total += 20;
        let hits: i32 = rate_limits::table
            .find(&key)
            .select(rate_limits::hits)
            .first(&mut app.conn())
            .unwrap();
        assert_eq!(hits, total, "every attempt counted, none lost to another");
    }
}

#[tokio::test]
async fn one_address_registered_twice_at_once_is_one_account() {
    // Every round registers from the same address; the per-address limit is not under test.
    let app = spawn_app_with(|s| s.limits.registrations_per_ip = 10_000).await;
    for round in 0..ROUNDS {
        let email = format!("eager{round}@example.com");
        let tries = (0..2).map(|_| {
            let browser = new_client();
            let (app, email) = (&app, email.clone());
            async move {
                app.submit_with(
                    &browser,
                    "/register",
                    "/register",
                    &[
                        ("firstName", "Eager"),
                        ("lastName", "Twice"),
                        ("email", &email),
                        ("password", PASSWORD),
                    ],
                )
                .await
            }
        });
        let answers = join_all(tries).await;
        let made = answers
            .iter()
            .filter(|r| r.status() == StatusCode::SEE_OTHER)
            .count();
        assert!(made >= 1);
        for r in &answers {
            assert!(
                [StatusCode::SEE_OTHER, StatusCode::UNPROCESSABLE_ENTITY].contains(&r.status()),
                "{}",
                r.status()
            );
        }
        assert_eq!(accounts_with(&app, &email), 1);
    }
}

#[tokio::test]
async fn an_authorization_code_redeemed_twice_at_once_gives_one_token_then_ends_the_sign_in() {
    let app = admin_app().await;
    const VERIFIER: &str = "a-plain-verifier-that-is-long-enough-0123456789";
    for _ in 0..ROUNDS {
        let a = app
            .post_json(
                "/auth/login",
                json!({"email": ADMIN_EMAIL, "password": PASSWORD, "scope": "openid offline",
                    "codeChallenge": VERIFIER, "codeChallengeMethod": "plain"}),
            )
            .await;
        let code = a.body["code"].as_str().unwrap().to_owned();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
        ];
        let (first, second) = tokio::join!(app.token_answer(&form), app.token_answer(&form));
        let answers = [&first, &second];
        let issued: Vec<_> = answers
            .iter()
            .filter(|a| a.status == StatusCode::OK)
            .collect();
        assert_eq!(issued.len(), 1, "one token for one code");
        let refused = answers.iter().find(|a| a.status != StatusCode::OK).unwrap();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.body["error"], "invalid_grant");
        // The replay ends what the first use issued: its access and refresh tokens.
        let access = issued[0].body["access_token"].as_str().unwrap();
        remember_secret(access);
        assert_eq!(
            app.api_get("/auth/me", access).await.status,
            StatusCode::UNAUTHORIZED
        );
        let refresh = issued[0].body["refresh_token"].as_str().unwrap();
        remember_secret(refresh);
        let r = app
            .token_answer(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
}
