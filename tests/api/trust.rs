//! Trust between projects: an admin governs memberships of their project, never another
//! project's account (issue "Trust between projects"). Each test repeats an attack.

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{logins, memberships, projects, security_requests, users};
use serde_json::json;

use crate::helpers::*;

/// Registers someone in a fresh browser and creates their project; returns the browser.
async fn admin_of(app: &TestApp, first: &str, email: &str, project: &str) -> reqwest::Client {
    let browser = app.registered(first, email).await;
    let r = app
        .submit_with(
            &browser,
            "/register/project",
            "/register/project",
            &[("projectName", project)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    browser
}

fn person<'a>(first: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("resourceType", "Practitioner"),
        ("firstName", first),
        ("lastName", "Example"),
        ("email", email),
    ]
}

/// The membership of `email`'s account in the project called `project`.
fn membership_in(app: &TestApp, email: &str, project: &str) -> (String, String) {
    memberships::table
        .inner_join(projects::table)
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq(email))
        .filter(projects::name.eq(project))
        .select((memberships::id, memberships::status))
        .first(&mut app.conn())
        .unwrap()
}

fn password_hash_of(app: &TestApp, email: &str) -> Option<String> {
    users::table
        .filter(users::email.eq(email))
        .filter(users::project_id.is_null())
        .select(users::password_hash)
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn an_invite_never_reveals_a_link_for_an_account_another_project_created() {
    let app = admin_app().await;
    let bea = admin_of(&app, "Bea", "bea@example.com", "Hospital").await;
    let mut fields = person("Victor", "victor@example.com");
    fields.push(("sendEmail", "on"));
    let r = app.invite_with(&bea, &fields).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Clinic's admin invites the same address without email: no link on the page.
    let r = app.invite(&person("Victor", "victor@example.com")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "#invite-link").is_none());
    assert!(!html.contains("/setpassword/"));
    assert_eq!(
        membership_in(&app, "victor@example.com", "Clinic").1,
        "invited"
    );

    // Nor in the JSON answer, for another of Hospital's new accounts.
    let r = app
        .invite_with(&bea, &person("Wanda", "wanda@example.com"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = app.token(&app.admin_client().await).await;
    let a = app
        .api_invite(
            &token,
            json!({"resourceType": "Practitioner", "firstName": "Wanda", "lastName": "W",
                   "email": "wanda@example.com", "sendEmail": false}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.to_string().contains("setpassword"));

    // "Resend invite" from Clinic sends the invitation, never a link to set the password.
    let (clinic_membership, _) = membership_in(&app, "victor@example.com", "Clinic");
    let page = format!("/admin/members/{clinic_membership}");
    let r = app.submit(&page, &format!("{page}/resend"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = app
        .wait_for_mail("victor@example.com", "Invitation to join Clinic")
        .await;
    assert!(!mail.text.contains("/setpassword/"));
    let clinic_links: i64 = security_requests::table
        .inner_join(users::table)
        .filter(users::email.eq("victor@example.com"))
        .filter(security_requests::project_id.eq(app.project_id()))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(clinic_links, 0);

    // Victor's own link, from Hospital, still works, and accepts Hospital only.
    let mail = app
        .wait_for_mail("victor@example.com", "invited to Hospital")
        .await;
    let path = mail.path();
    let r = app
        .submit_with(
            &new_client(),
            &path,
            &path,
            &[("password", PASSWORD), ("confirmPassword", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        membership_in(&app, "victor@example.com", "Hospital").1,
        "active"
    );
    assert_eq!(
        membership_in(&app, "victor@example.com", "Clinic").1,
        "invited"
    );
}

#[tokio::test]
async fn a_passwordless_super_admin_cannot_be_reached_through_an_invite() {
    let app = admin_app().await;
    // What `rollcall create-superadmin` leaves until its link is used.
    rollcall::services::users::insert(
        &mut app.conn(),
        rollcall::services::users::NewUser {
            first_name: "Root",
            last_name: "Admin",
            email: "root@example.com",
            project_id: None,
            password_hash: None,
            super_admin: true,
        },
    )
    .unwrap();
    let r = app.invite(&person("Root", "root@example.com")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "#invite-link").is_none());
    let token = app.token(&app.admin_client().await).await;
    let a = app
        .api_invite(
            &token,
            json!({"resourceType": "Practitioner", "firstName": "Root", "lastName": "Admin",
                   "email": "root@example.com", "sendEmail": false, "upsert": true}),
        )
        .await;
    assert!(!a.body.to_string().contains("setpassword"));
    let links: i64 = security_requests::table
        .inner_join(users::table)
        .filter(users::email.eq("root@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(links, 0, "no link to the super admin's account was made");
    assert!(password_hash_of(&app, "root@example.com").is_none());
}

#[tokio::test]
async fn setting_a_password_by_any_path_cancels_every_older_link() {
    let app = admin_app().await;
    let r = app.invite(&person("Olga", "olga@example.com")).await;
    let html = r.text().await.unwrap();
    let invite_link = text_of(&html, "#invite-link").expect("a new account's link");
    let invite_path = invite_link[invite_link.find("/setpassword/").unwrap()..].to_owned();

    // Olga sets her password through "Forgot password" instead.
    let olga = new_client();
    app.submit_with(
        &olga,
        "/resetpassword",
        "/resetpassword",
        &[("email", "olga@example.com")],
    )
    .await;
    let reset = app
        .wait_for_mail("olga@example.com", "Reset your Rollcall password")
        .await
        .path();
    let r = app
        .submit_with(
            &olga,
            &reset,
            &reset,
            &[("password", PASSWORD), ("confirmPassword", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let hash = password_hash_of(&app, "olga@example.com");

    // The link the admin kept is dead, and posting to it changes nothing.
    let r = app.get(&invite_path).await;
    assert_eq!(r.status(), StatusCode::GONE);
    let attacker = new_client();
    let page = app
        .get_with(&attacker, "/signin")
        .await
        .text()
        .await
        .unwrap();
    let r = attacker
        .post(app.url(&invite_path))
        .form(&[
            ("password", "a different password 42"),
            ("confirmPassword", "a different password 42"),
            ("csrf_token", &csrf_in(&page)),
        ])
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(password_hash_of(&app, "olga@example.com"), hash);

    // A reset link requested before a password change is dead after it too. (Olga did not
    // follow the invitation's link: she accepts the invitation when she signs in.)
    let r = app.sign_in_with(&olga, "olga@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (membership, _) = membership_in(&app, "olga@example.com", "Clinic");
    let r = app
        .submit_with(
            &olga,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.mail.messages.lock().unwrap().clear();
    app.submit_with(
        &new_client(),
        "/resetpassword",
        "/resetpassword",
        &[("email", "olga@example.com")],
    )
    .await;
    let pending_reset = app
        .wait_for_mail("olga@example.com", "Reset your Rollcall password")
        .await
        .path();
    let new_password = "seven lazy harbour kites";
    let r = app
        .submit_with(
            &olga,
            "/account/security",
            "/account/password",
            &[
                ("oldPassword", PASSWORD),
                ("newPassword", new_password),
                ("confirmPassword", new_password),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password changed");
    assert_eq!(app.get(&pending_reset).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn an_admin_cannot_touch_the_credentials_of_an_account_shared_with_other_projects() {
    let app = admin_app().await;
    let dora = admin_of(&app, "Dora", "dora@example.com", "Dora's practice").await;
    enrol(&app, &dora, "/account/mfa").await;
    let r = app.invite(&person("Dora", "dora@example.com")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (membership, status) = membership_in(&app, "dora@example.com", "Clinic");
    assert_eq!(status, "invited", "an existing account must accept first");

    // Until she accepts, Clinic sees nothing of her account.
    let page = format!("/admin/members/{membership}");
    let html = app.get_html(&page).await;
    let about = text_of(&html, ".details").unwrap();
    assert!(!about.contains("Set up"), "{about}");
    assert!(!about.contains("Last sign-in"), "{about}");
    let list = app.get_html("/admin/users?q=dora").await;
    assert!(!list.contains(">On<"));

    for action in ["reset-mfa", "reset-password"] {
        let r = app.submit(&page, &format!("{page}/{action}"), &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action}");
        let body = r.text().await.unwrap();
        assert!(body.contains("shared with other projects"), "{body}");
    }
    let enrolled: bool = users::table
        .filter(users::email.eq("dora@example.com"))
        .select(users::mfa_enrolled)
        .first(&mut app.conn())
        .unwrap();
    assert!(enrolled, "Dora's two-factor is untouched");
    assert!(
        app.mails_to("dora@example.com")
            .iter()
            .all(|m| !m.subject.contains("Reset your Rollcall password"))
    );

    // After she accepts, Clinic still governs only her membership.
    crate::helpers::confirm_address(&app, &dora, "dora@example.com").await;
    let r = app
        .submit_with(
            &dora,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.submit(&page, &format!("{page}/reset-mfa"), &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admin_triggered_emails_are_limited_per_person() {
    let app = admin_app().await;
    let id = app
        .invite_person(
            "Pia",
            "Scoped",
            "pia@example.com",
            &[("projectScoped", "on")],
        )
        .await;
    // The invitation was the first of three emails this project may make reach Pia an hour.
    let page = format!("/admin/members/{id}");
    for _ in 0..2 {
        let r = app
            .submit(&page, &format!("{page}/reset-password"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let r = app
        .submit(&page, &format!("{page}/reset-password"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let r = app.submit(&page, &format!("{page}/resend"), &[]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn mfa_enrolment_that_is_required_cannot_be_skipped_through_the_api() {
    let app = admin_app().await;
    let (_, mia) = app
        .member(
            "Mia",
            "Must",
            "mia@example.com",
            &[("mfaRequired", "on"), ("admin", "on")],
            PASSWORD,
        )
        .await;
    assert!(
        location(&app.get_with(&mia, "/").await).starts_with("/signin/mfa/enroll"),
        "the pages lead to enrolment"
    );
    for path in ["/auth/me", "/fhir/R4/ProjectMembership"] {
        let r = app.get_with(&mia, path).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    enrol(&app, &mia, "/signin/mfa/enroll").await;
    assert_eq!(
        app.get_with(&mia, "/auth/me").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_two_factor_codes_count_per_account_not_per_session() {
    let app = admin_app().await;
    enrol(&app, &app.client, "/account/mfa").await;
    let first = new_client();
    let r = app.sign_in_with(&first, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for _ in 0..5 {
        let r = app
            .submit_with(&first, "/signin/mfa", "/signin/mfa", &[("token", "000000")])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A fresh password sign-in brings no fresh guesses.
    let second = new_client();
    app.sign_in_with(&second, ADMIN_EMAIL, PASSWORD).await;
    let r = app
        .submit_with(
            &second,
            "/signin/mfa",
            "/signin/mfa",
            &[("token", "000000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_with_wrong_passwords() {
    let app = admin_app().await;
    let stranger = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    for _ in 0..5 {
        let r = app
            .sign_in_with(&stranger, ADMIN_EMAIL, "wrong password!")
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = app.sign_in_with(&stranger, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is stopped"
    );
    let owner = new_client();
    let r = app.sign_in_with(&owner, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the owner still gets in");
}

#[tokio::test]
async fn two_projects_inviting_one_new_address_at_once_share_one_account() {
    let app = admin_app().await;
    let bea = admin_of(&app, "Bea", "bea@example.com", "Hospital").await;
    for i in 0..crate::races::ROUNDS {
        let email = format!("nurse{i}@example.com");
        let fields = person("Nurse", &email);
        let (a, b) = tokio::join!(app.invite(&fields), app.invite_with(&bea, &fields));
        assert_eq!(a.status(), StatusCode::OK, "{}", a.text().await.unwrap());
        assert_eq!(b.status(), StatusCode::OK, "{}", b.text().await.unwrap());
        let accounts: i64 = users::table
            .filter(users::email.eq(&email))
            .count()
            .get_result(&mut app.conn())
            .unwrap();
        assert_eq!(accounts, 1);
        let their: i64 = memberships::table
            .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
            .filter(users::email.eq(&email))
            .count()
            .get_result(&mut app.conn())
            .unwrap();
        assert_eq!(their, 2);
    }
}

#[tokio::test]
async fn a_deactivated_client_loses_its_tokens_for_good() {
    let app = admin_app().await;
    let admin_token = app.token(&app.admin_client().await).await;
    let worker = app.create_client("Worker", &[]).await;
    let worker_token = app.token(&worker).await;
    let me = app.api_get("/auth/me", &worker_token).await;
    let membership = me.body["membership"]["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/projects/{}/members/{membership}", app.project_id());
    for active in [false, true] {
        let a = app
            .api_patch(
                &path,
                &admin_token,
                json!([{"op": "replace", "path": "/active", "value": active}]),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_eq!(
            app.api_get("/auth/me", &worker_token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let revoked: i64 = logins::table
        .filter(logins::membership_id.eq(&membership))
        .filter(logins::revoked_at.is_not_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(revoked, 1);
    // Active again, it can get new tokens.
    let fresh = app.token(&worker).await;
    assert_eq!(app.api_get("/auth/me", &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_policy_used_only_by_a_client_is_listed_and_not_deleted() {
    let app = admin_app().await;
    let r = app
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
    let policy_page = location(&r);
    let policy = policy_page.rsplit('/').next().unwrap().to_owned();
    app.create_client("Reporting", &[("accessPolicy", &policy)])
        .await;
    let html = app.get_html(&policy_page).await;
    assert!(html.contains("Reporting (client application)"));
    let r = app
        .submit(&policy_page, &format!("{policy_page}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Reporting"));
    assert_eq!(app.get(&policy_page).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_patient_with_a_compartment_policy_sees_only_her_own_photo() {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let policy = app.patient_self_policy("Patient self").await;
    let mut ids = Vec::new();
    for (first, email) in [("Pam", "pam@example.com"), ("Otto", "otto@example.com")] {
        let a = app
            .api_invite(
                &token,
                json!({"resourceType": "Patient", "firstName": first, "lastName": "Test", "email": email,
                    "accessPolicy": {"reference": format!("AccessPolicy/{policy}")}}),
            )
            .await;
        let profile = a.body["profile"]["reference"].as_str().unwrap();
        ids.push(profile.trim_start_matches("Patient/").to_owned());
    }
    app.give_photos(&ids);
    let pam = app.accept_invite("pam@example.com", PASSWORD).await;
    let own = app
        .get_with(&pam, &format!("/profiles/{}/photo", ids[0]))
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let other = app
        .get_with(&pam, &format!("/profiles/{}/photo", ids[1]))
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let admin = app.get(&format!("/profiles/{}/photo", ids[1])).await;
    assert_eq!(admin.status(), StatusCode::OK);
}

#[tokio::test]
async fn members_see_their_role_and_only_admins_see_counts_and_ids() {
    let app = admin_app().await;
    let (_, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    let home = app.get_with(&grace, "/").await.text().await.unwrap();
    assert!(!home.contains("Project ID"));
    assert!(!home.contains("Invited, not yet joined"));
    assert!(text_of(&home, "main").unwrap().contains("Your role Member"));
    let home = app.get_html("/").await;
    assert!(home.contains("Project ID") && home.contains("Invited, not yet joined"));
}

#[tokio::test]
async fn a_project_scoped_account_cannot_create_or_own_another_project() {
    let app = admin_app().await;
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Pat"),
            ("lastName", "Ient"),
            ("email", "pat@example.com"),
            ("sendEmail", "on"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let pat = app.accept_invite("pat@example.com", PASSWORD).await;
    let home = app.get_with(&pat, "/").await.text().await.unwrap();
    assert!(!home.contains("Create a new project"));
    assert_eq!(
        app.get_with(&pat, "/projects/new").await.status(),
        StatusCode::FORBIDDEN
    );
    let page = app.get_with(&pat, "/").await.text().await.unwrap();
    for path in ["/projects/new", "/register/project"] {
        let r = pat
            .post(app.url(path))
            .form(&[
                ("projectName", "Pat's own"),
                ("csrf_token", &csrf_in(&page)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let projects: i64 = projects::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(projects, 1);
}

#[tokio::test]
async fn without_smtp_each_email_is_one_whole_file_named_by_its_message() {
    let app = spawn_app_with(|s| s.smtp_url = None).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let dir = app.data_dir.join("mail");
    let mut names = Vec::new();
    for _ in 0..50 {
        names = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        if !names.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ids: Vec<String> = rollcall::db::schema::outbox::table
        .select(rollcall::db::schema::outbox::id)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(names, [format!("{}.eml", ids[0])]);
    let text = std::fs::read_to_string(dir.join(&names[0])).unwrap();
    assert!(text.contains("Subject:") && text.trim_end().ends_with("--"));
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let app = admin_app().await;
    let r = app.invite(&person("Lena", "lena@example.com")).await;
    let html = r.text().await.unwrap();
    let link = text_of(&html, "#invite-link").unwrap();
    let path = link[link.find("/setpassword/").unwrap()..].to_owned();
    let secret = path.rsplit('/').next().unwrap().to_owned();
    remember_secret(&secret);
    // A stale CSRF token makes this POST fail, and failures are logged.
    let stranger = new_client();
    let r = stranger
        .post(app.url(&path))
        .form(&[
            ("password", PASSWORD),
            ("confirmPassword", PASSWORD),
            ("csrf_token", "stale"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let client = app.admin_client().await;
    let token = app.token(&client).await;
    app.api_get(&format!("/admin/projects/{}", app.project_id()), &token)
        .await;
    let _ = app
        .get(&format!("/oauth2/token?client_secret={}", client.secret))
        .await;
    // Percent-encoding does not hide a secret from the redaction either.
    let (id, rest) = path
        .trim_start_matches("/setpassword/")
        .split_once('/')
        .unwrap();
    let encoded = format!(
        "/%73etpassword/{id}/{}%{:02X}",
        &rest[..rest.len() - 1],
        rest.as_bytes()[rest.len() - 1]
    );
    let r = new_client()
        .post(app.url(&encoded))
        .form(&[("password", PASSWORD), ("confirmPassword", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!captured_log().contains(&rest[..rest.len() - 1]));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = captured_log();
    assert!(
        log.contains("[redacted]"),
        "the failed request was logged, redacted"
    );
    let mut secrets = remembered_secrets();
    secrets.push(PASSWORD.to_owned());
    for (i, secret) in secrets.iter().enumerate().filter(|(_, s)| s.len() >= 8) {
        let at = log
            .find(secret.as_str())
            .map(|at| &log[at.saturating_sub(300)..at]);
        assert!(
            at.is_none(),
            "secret {i} of {} is in the log after: {at:?}",
            secrets.len()
        );
    }
}

/// Run by `.ci/run` after the suite has run on both databases with `TEST_RUN_RECORD_DIR`
/// set (and Rollcall's debug lines on): every line any test process, or server process a
/// test started, logged, searched for every secret any of them used.
#[test]
#[ignore = "needs the record of a whole run (TEST_RUN_RECORD_DIR); .ci/run runs it after the suite"]
fn the_log_of_the_whole_run_holds_no_secret() {
    let dir = run_record_dir().expect("TEST_RUN_RECORD_DIR names the run's record");
    let (mut logs, mut secrets) = (Vec::new(), vec![PASSWORD.to_owned()]);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        if name.starts_with("secrets-") {
            let text = String::from_utf8(bytes).unwrap();
            secrets.extend(text.lines().filter(|s| s.len() >= 8).map(str::to_owned));
        } else if name.starts_with("log-") {
            logs.push((name, bytes));
        }
    }
    secrets.sort();
    secrets.dedup();
    let lines: usize = logs
        .iter()
        .map(|(_, b)| b.iter().filter(|c| **c == b'\n').count())
        .sum();
    // A record this small means the run did not record: the search would prove nothing.
    assert!(
        logs.len() >= 2 && lines >= 20_000 && secrets.len() >= 500,
        "{} logs, {lines} lines, {} secrets",
        logs.len(),
        secrets.len()
    );
    let search = aho_corasick::AhoCorasick::new(&secrets).unwrap();
    for (name, log) in &logs {
        if let Some(found) = search.find(log.as_slice()) {
            let before = &log[found.start().saturating_sub(300)..found.start()];
            panic!(
                "secret {} of {} is in {name} after: {}",
                found.pattern().as_usize(),
                secrets.len(),
                String::from_utf8_lossy(before)
            );
        }
    }
    eprintln!(
        "searched {lines} log lines of {} test processes for {} secrets: none found",
        logs.len(),
        secrets.len()
    );
}

#[tokio::test]
async fn one_address_with_two_accounts_is_checked_against_one_of_them() {
    let app = admin_app().await;
    // Sam has a server-wide account (registered) and a patient account of Clinic.
    app.registered("Sam", "sam@example.com").await;
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Sam"),
            ("lastName", "Both"),
            ("email", "sam@example.com"),
            ("sendEmail", "on"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let path = app.wait_for_mail("sam@example.com", "invited").await.path();
    let patient_password = "amber window seven lakes";
    let r = app
        .submit_with(
            &new_client(),
            &path,
            &path,
            &[
                ("password", patient_password),
                ("confirmPassword", patient_password),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let project = app.project_id();
    // Without a project in the link, the address means the server-wide account.
    let r = app
        .sign_in_with(&new_client(), "sam@example.com", patient_password)
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .sign_in_with(&new_client(), "sam@example.com", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // With the project's sign-in link, it means that project's own account.
    let patient = new_client();
    let r = app
        .submit_with(
            &patient,
            &format!("/signin?project={project}"),
            "/signin",
            &[
                ("email", "sam@example.com"),
                ("password", patient_password),
                ("project", &project),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = app.get_with(&patient, "/").await.text().await.unwrap();
    assert!(home.contains("Clinic"));
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_slip_under_the_limit() {
    let app = admin_app().await;
    let answers = wrong_passwords_at_once(&app, ADMIN_EMAIL, 15).await;
    let checked = answers
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 10));
}

#[tokio::test]
async fn parallel_wrong_codes_cannot_slip_under_the_limit() {
    let app = admin_app().await;
    enrol(&app, &app.client, "/account/mfa").await;
    let browser = new_client();
    app.sign_in_with(&browser, ADMIN_EMAIL, PASSWORD).await;
    let page = app
        .get_with(&browser, "/signin/mfa")
        .await
        .text()
        .await
        .unwrap();
    let token = csrf_in(&page);
    let sent = (0..20).map(|_| {
        browser
            .post(app.url("/signin/mfa"))
            .form(&[("token", "000000"), ("csrf_token", token.as_str())])
            .send()
    });
    let answers = futures_util::future::join_all(sent).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 422).count();
    assert_eq!(checked, 5, "{statuses:?}");
}

#[tokio::test]
async fn inviting_and_removing_over_and_over_cannot_flood_an_inbox() {
    let app = admin_app().await;
    app.registered("Bob", "bob@example.com").await;
    let token = app.token(&app.admin_client().await).await;
    let body = json!({"resourceType": "Practitioner", "firstName": "Spam", "lastName": "S",
                      "email": "bob@example.com"});
    for _ in 0..3 {
        let a = app.api_invite(&token, body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        let path = format!(
            "/admin/projects/{}/members/{}",
            app.project_id(),
            a.body["id"].as_str().unwrap()
        );
        let removed = app.api(reqwest::Method::DELETE, &path, &token, None).await;
        assert_eq!(removed.status, StatusCode::OK);
    }
    let a = app.api_invite(&token, body).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let members: i64 = memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq("bob@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(members, 0, "the refused invite wrote nothing");
    // The page's invite is refused too.
    let mut fields = person("Spam", "bob@example.com");
    fields.push(("sendEmail", "on"));
    let r = app.invite(&fields).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn one_project_cannot_use_up_anothers_emails_to_a_person() {
    let app = admin_app().await;
    let bea = admin_of(&app, "Bea", "bea@example.com", "Hospital").await;
    let mut fields = person("Vic", "vic@example.com");
    fields.push(("sendEmail", "on"));
    assert_eq!(
        app.invite_with(&bea, &fields).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.invite(&fields).await.status(), StatusCode::OK);
    let (clinic, _) = membership_in(&app, "vic@example.com", "Clinic");
    let page = format!("/admin/members/{clinic}");
    for _ in 0..2 {
        let r = app.submit(&page, &format!("{page}/resend"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let r = app.submit(&page, &format!("{page}/resend"), &[]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Hospital, whose invite made the account, can still send its link.
    let (hospital, _) = membership_in(&app, "vic@example.com", "Hospital");
    let page = format!("/admin/members/{hospital}");
    let r = app
        .submit_with(&bea, &page, &format!("{page}/resend"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn declining_tells_the_project_nothing_of_the_account() {
    let app = admin_app().await;
    let bob = app.registered("Bob", "bob@example.com").await;
    let mut fields = person("Typed", "bob@example.com");
    fields[2] = ("lastName", "Name");
    app.invite(&fields).await;
    let (membership, _) = membership_in(&app, "bob@example.com", "Clinic");
    crate::helpers::confirm_address(&app, &bob, "bob@example.com").await;
    let r = app
        .submit_with(
            &bob,
            "/invitations",
            &format!("/invitations/{membership}/decline"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let csv = app
        .get("/admin/audit.csv?action=member.declined")
        .await
        .text()
        .await
        .unwrap();
    let row = csv.lines().nth(1).expect("the decline is in the log");
    assert!(row.contains("Typed Name"), "{row}");
    assert!(
        !row.contains("Bob Tester")
            && !row.contains("bob@example.com")
            && !row.contains("127.0.0.1"),
        "{row}"
    );
}

#[tokio::test]
async fn a_members_address_cannot_get_a_project_scoped_twin_that_captures_their_sign_in() {
    let app = admin_app().await;
    app.invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    app.accept_invite("grace@example.com", PASSWORD).await;
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Grace"),
            ("lastName", "Twin"),
            ("email", "grace@example.com"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let token = app.token(&app.admin_client().await).await;
    let a = app
        .api_invite(
            &token,
            json!({"resourceType": "Practitioner", "firstName": "Ada", "lastName": "Twin",
                   "email": ADMIN_EMAIL, "scope": "project"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{:?}", a.body);
    let twins: i64 = users::table
        .filter(users::email.eq_any(["grace@example.com", ADMIN_EMAIL]))
        .filter(users::project_id.is_not_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(twins, 0);
    // The project's sign-in link still means Grace's own account.
    let project = app.project_id();
    let r = app
        .submit_with(
            &new_client(),
            &format!("/signin?project={project}"),
            "/signin",
            &[
                ("email", "grace@example.com"),
                ("password", PASSWORD),
                ("project", &project),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_repeated_invite_can_require_mfa_with_an_audit_event_but_not_lift_it_or_drop_the_external_id()
 {
    let app = admin_app().await;
    let token = app.token(&app.admin_client().await).await;
    let body = |extra: serde_json::Value| {
        let mut b = json!({"resourceType": "Practitioner", "firstName": "Hal", "lastName": "E",
                           "email": "hal@example.com", "upsert": true});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let first = app
        .api_invite(&token, body(json!({"externalId": "hr-7"})))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let again = app
        .api_invite(&token, body(json!({"mfaRequired": true})))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["externalId"], "hr-7", "left out, kept");
    let lifted = app.api_invite(&token, body(json!({}))).await;
    assert_eq!(lifted.status, StatusCode::OK);
    let required: bool = memberships::table
        .filter(memberships::id.eq(first.body["id"].as_str().unwrap()))
        .select(memberships::mfa_required)
        .first(&mut app.conn())
        .unwrap();
    assert!(required, "a repeated invite does not lift the requirement");
    let audit = app.get_html("/admin/audit").await;
    assert!(audit.contains("two-factor authentication required"));
}

#[tokio::test]
async fn a_suspended_invitation_cannot_be_accepted() {
    let app = admin_app().await;
    let bob = app.registered("Bob", "bob@example.com").await;
    let id = app
        .invite_person("Bob", "Tester", "bob@example.com", &[])
        .await;
    let token = app.token(&app.admin_client().await).await;
    let path = format!("/admin/projects/{}/members/{id}", app.project_id());
    let a = app
        .api_patch(
            &path,
            &token,
            json!([{"op": "replace", "path": "/active", "value": false}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    crate::helpers::confirm_address(&app, &bob, "bob@example.com").await;
    let r = app
        .submit_with(
            &bob,
            "/invitations",
            &format!("/invitations/{id}/accept"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let status: String = memberships::table
        .find(&id)
        .select(memberships::status)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(status, "invited");
}

#[tokio::test]
async fn turning_two_factor_off_takes_no_more_guesses_than_signing_in() {
    let app = admin_app().await;
    enrol(&app, &app.client, "/account/mfa").await;
    for _ in 0..5 {
        let r = app
            .submit(
                "/account/security",
                "/account/mfa/disable",
                &[("token", "000000")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = app
        .submit(
            "/account/security",
            "/account/mfa/disable",
            &[("token", "000000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_invite_after_a_decline_shows_the_names_typed_now() {
    let app = admin_app().await;
    let bob = app.registered("Bob", "bob@example.com").await;
    let id = app
        .invite_person("Typed", "Before", "bob@example.com", &[])
        .await;
    crate::helpers::confirm_address(&app, &bob, "bob@example.com").await;
    app.submit_with(
        &bob,
        "/invitations",
        &format!("/invitations/{id}/decline"),
        &[],
    )
    .await;
    let id = app
        .invite_person("Typed", "Now", "bob@example.com", &[])
        .await;
    let html = app.get_html(&format!("/admin/members/{id}")).await;
    assert_eq!(text_of(&html, "#person-title").unwrap(), "Typed Now");
}
