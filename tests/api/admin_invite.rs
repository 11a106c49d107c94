use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, outbox, profiles, users};

use crate::helpers::*;

#[tokio::test]
async fn a_new_practitioner_is_invited_sets_a_password_and_lands_in_the_project() {
    let app = admin_app().await;
    let html = app.get_html("/admin/invite").await;
    assert_eq!(
        attr_of(&html, "#resourceType-Practitioner", "checked").as_deref(),
        Some("")
    );
    assert_eq!(
        attr_of(&html, "#sendEmail", "checked").as_deref(),
        Some(""),
        "email is on by default"
    );

    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Grace"),
            ("lastName", "Hopper"),
            ("email", "grace@example.com"),
            ("sendEmail", "on"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "main h1").unwrap(), "Invitation created");
    assert!(html.contains("An email is on its way to grace@example.com"));
    assert!(
        html.contains("Go to member")
            && html.contains("Invite another")
            && html.contains("Back to users")
    );

    let mail = app.wait_for_mail("grace@example.com", "invited").await;
    assert_eq!(mail.subject, "You are invited to Clinic on Rollcall");
    assert!(mail.text.contains("Ada Tester invited you"));
    assert!(mail.text.contains("7 days"));

    let users_tab = app.get_html("/admin/users").await;
    assert!(
        text_of(&users_tab, "tbody")
            .unwrap()
            .contains("Grace Hopper grace@example.com Practitioner No Full access Invited")
    );

    let grace = app
        .accept_invite("grace@example.com", "violet tuesday lantern orbit")
        .await;
    let home = app.get_with(&grace, "/").await.text().await.unwrap();
    assert_eq!(text_of(&home, "main h1").unwrap(), "Clinic");
    let users_tab = app.get_html("/admin/users").await;
    assert!(
        text_of(&users_tab, "tbody")
            .unwrap()
            .contains("grace@example.com Practitioner No Full access Active")
    );
    // Invited by the admin; server-scoped by default.
    let (invited_by, scope): (Option<String>, Option<String>) = memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq("grace@example.com"))
        .select((memberships::invited_by, users::project_id))
        .first(&mut app.conn())
        .unwrap();
    assert!(invited_by.is_some());
    assert!(scope.is_none());
}

#[tokio::test]
async fn an_existing_account_is_invited_and_becomes_a_member_only_when_it_accepts() {
    let app = admin_app().await;
    let bob = app.registered("Bob", "bob@example.com").await;

    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Robert"),
            ("lastName", "Byte"),
            ("email", "bob@example.com"),
            ("sendEmail", "on"),
        ])
        .await;
    let html = r.text().await.unwrap();
    assert_eq!(
        text_of(&html, "main h1").unwrap(),
        "Invitation sent to an existing account"
    );
    assert!(
        text_of(&html, "#invite-link").is_none(),
        "no set-password link for an account that existed"
    );
    let mail = app
        .wait_for_mail("bob@example.com", "Invitation to join Clinic")
        .await;
    assert!(mail.link().ends_with("/invitations"));
    assert!(!mail.text.contains("/setpassword/"));
    let membership = app.membership_of("bob@example.com");
    let status = || -> String {
        memberships::table
            .filter(memberships::id.eq(&membership))
            .select(memberships::status)
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(status(), "invited");
    // Until Bob accepts, Clinic is not among his projects and its page is not his.
    let choices = app.get_with(&bob, "/signin/project").await;
    assert_eq!(location(&choices), "/invitations");
    let page = app
        .get_with(&bob, "/invitations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Clinic"));
    crate::helpers::confirm_address(&app, &bob, "bob@example.com").await;
    let r = app
        .submit_with(
            &bob,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/");
    assert_eq!(status(), "active");
    let home = app.get_with(&bob, "/").await.text().await.unwrap();
    assert!(home.contains("Clinic"));
}

#[tokio::test]
async fn an_invitation_declined_is_gone_and_another_accounts_invitation_cannot_be_answered() {
    let app = admin_app().await;
    let bob = app.registered("Bob", "bob@example.com").await;
    let eve = app.registered("Eve", "eve@example.com").await;
    let membership = app
        .invite_person("Robert", "Byte", "bob@example.com", &[])
        .await;
    // Eve (her address confirmed) cannot accept or decline Bob's invitation.
    crate::helpers::confirm_address(&app, &eve, "eve@example.com").await;
    for action in ["accept", "decline"] {
        let r = app
            .submit_with(
                &eve,
                "/invitations",
                &format!("/invitations/{membership}/{action}"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    crate::helpers::confirm_address(&app, &bob, "bob@example.com").await;
    let r = app
        .submit_with(
            &bob,
            "/invitations",
            &format!("/invitations/{membership}/decline"),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/invitations");
    let left: i64 = memberships::table
        .filter(memberships::id.eq(&membership))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
    let audit = app.get_html("/admin/audit").await;
    assert!(audit.contains("Invitation declined"));
}

#[tokio::test]
async fn a_patient_is_project_scoped_gets_the_default_policy_and_a_copyable_link_without_email() {
    let app = admin_app().await;
    let r = app
        .submit(
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[
                ("name", "Own record"),
                ("rule[0].resourceType", "Patient"),
                ("rule[0].readOnly", "on"),
                ("rule[0].criteria", "_id=%profile.id"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let policy_id = location(&r).rsplit('/').next().unwrap().to_owned();
    let r = app
        .submit(
            "/admin/project",
            "/admin/project",
            &[
                ("name", "Clinic"),
                ("description", ""),
                ("defaultPatientAccessPolicy", &policy_id),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let html = app.get_html("/admin/invite?resourceType=Patient").await;
    assert_eq!(
        attr_of(&html, "#resourceType-Patient", "checked").as_deref(),
        Some("")
    );
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Pat"),
            ("lastName", "Ient"),
            ("email", "pat@example.com"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("No email was sent"));
    let link = text_of(&html, "#invite-link").expect("a copyable invite link");
    assert!(link.starts_with(&format!("{}/setpassword/", app.address)));

    let (scope, policy, profile_type): (Option<String>, Option<String>, String) =
        memberships::table
            .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
            .inner_join(profiles::table)
            .filter(users::email.eq("pat@example.com"))
            .select((
                users::project_id,
                memberships::access_policy_id,
                profiles::resource_type,
            ))
            .first(&mut app.conn())
            .unwrap();
    assert!(scope.is_some(), "patients are project-scoped by default");
    assert_eq!(policy.as_deref(), Some(policy_id.as_str()));
    assert_eq!(profile_type, "Patient");
    let patients = app.get_html("/admin/patients").await;
    assert!(text_of(&patients, "tbody").unwrap().contains("Pat Ient"));
    assert!(
        !text_of(&app.get_html("/admin/users").await, "main")
            .unwrap()
            .contains("Pat Ient")
    );

    // Nothing was queued for the patient; the link works.
    let queued: i64 = outbox::table
        .filter(outbox::to_address.eq("pat@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(queued, 0);
    let path = &link[app.address.len()..];
    assert_eq!(
        new_client()
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn admin_policy_project_scope_and_mfa_choices_are_stored() {
    let app = admin_app().await;
    let r = app
        .submit(
            "/admin/access-policies/new",
            "/admin/access-policies/new",
            &[("name", "Staff"), ("rule[0].resourceType", "*")],
        )
        .await;
    let policy_id = location(&r).rsplit('/').next().unwrap().to_owned();
    app.invite_person(
        "Cara",
        "Scoped",
        "cara@example.com",
        &[
            ("admin", "on"),
            ("projectScoped", "on"),
            ("mfaRequired", "on"),
            ("accessPolicy", &policy_id),
        ],
    )
    .await;
    let (admin, mfa, policy, scope): (bool, bool, Option<String>, Option<String>) =
        memberships::table
            .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
            .filter(users::email.eq("cara@example.com"))
            .select((
                memberships::admin,
                memberships::mfa_required,
                memberships::access_policy_id,
                users::project_id,
            ))
            .first(&mut app.conn())
            .unwrap();
    assert!(admin && mfa);
    assert_eq!(policy.as_deref(), Some(policy_id.as_str()));
    assert!(scope.is_some());
    let users_tab = app.get_html("/admin/users?admin=1").await;
    let table = text_of(&users_tab, "tbody").unwrap();
    assert!(
        table.contains("Cara Scoped cara@example.com Practitioner Admin Staff Invited Required")
    );
}

#[tokio::test]
async fn inviting_a_member_twice_says_they_are_already_a_member() {
    let app = admin_app().await;
    app.invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Grace"),
            ("lastName", "Hopper"),
            ("email", "GRACE@example.com"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "#email-error")
            .unwrap()
            .contains("This person is already a member of this project")
    );
    // The admin is a member too.
    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Ada"),
            ("lastName", "T"),
            ("email", ADMIN_EMAIL),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn invalid_invite_fields_are_reported_and_nothing_is_created() {
    let app = admin_app().await;
    let r = app
        .invite(&[
            ("resourceType", "Robot"),
            ("firstName", ""),
            ("lastName", &"x".repeat(129)),
            ("email", "nope"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let summary = text_of(&html, ".error-summary").unwrap();
    for message in [
        "Choose Practitioner, Patient or RelatedPerson",
        "Enter a first name",
        "A last name can be at most 128 characters",
        "Enter an email address like name@example.com",
    ] {
        assert!(
            summary.contains(message),
            "{message} missing from {summary}"
        );
    }
    let count: i64 = users::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 1, "only the admin exists");
}

#[tokio::test]
async fn a_capitalised_email_is_stored_lower_cased() {
    let app = admin_app().await;
    app.invite_person("Lin", "Case", "  Lin.Case@Example.ORG ", &[])
        .await;
    let emails: Vec<String> = users::table
        .select(users::email)
        .order(users::email)
        .load(&mut app.conn())
        .unwrap();
    assert!(emails.contains(&"lin.case@example.org".to_owned()));
    app.wait_for_mail("lin.case@example.org", "invited").await;
}

#[tokio::test]
async fn names_that_look_like_html_are_escaped_in_pages_and_emails() {
    let app = admin_app().await;
    let evil = "<img src=x onerror=alert(1)>";
    app.invite_person(evil, "Smith", "evil@example.com", &[])
        .await;
    let users_tab = app.get_html("/admin/users").await;
    assert!(!users_tab.contains(evil));
    assert!(
        text_of(&users_tab, "tbody").unwrap().contains(evil),
        "shown as text"
    );
    let member = app
        .get_html(&format!(
            "/admin/members/{}",
            app.membership_of("evil@example.com")
        ))
        .await;
    assert!(!member.contains(evil));
    let mail = app.wait_for_mail("evil@example.com", "invited").await;
    assert!(!mail.html.contains(evil));
}

#[tokio::test]
async fn two_identical_invites_at_once_create_one_user_and_one_membership() {
    let app = admin_app().await;
    let token = csrf_in(&app.get_html("/admin/invite").await);
    let send = || {
        app.client
            .post(app.url("/admin/invite"))
            .form(&[
                ("resourceType", "Practitioner"),
                ("firstName", "Dup"),
                ("lastName", "Licate"),
                ("email", "dup@example.com"),
                ("sendEmail", "on"),
                ("csrf_token", token.as_str()),
            ])
            .send()
    };
    let (a, b, c) = tokio::join!(send(), send(), send());
    let mut statuses: Vec<u16> = [a, b, c]
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 422, 422],
        "one wins, the others hear 'already a member'"
    );
    let users_count: i64 = users::table
        .filter(users::email.eq("dup@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    let memberships_count: i64 = memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq("dup@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!((users_count, memberships_count), (1, 1));
}

#[tokio::test]
async fn invites_are_rate_limited_per_admin() {
    let app = spawn_app_with(|s| s.limits.invites_per_admin = 2).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    app.invite_person("One", "A", "one@example.com", &[]).await;
    app.invite_person("Two", "B", "two@example.com", &[]).await;
    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Three"),
            ("lastName", "C"),
            ("email", "three@example.com"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let count: i64 = users::table
        .filter(users::email.eq("three@example.com"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn an_account_whose_address_is_not_confirmed_cannot_take_an_invitation_sent_to_it() {
    let app = admin_app().await;
    // Anyone can sign up with an address they do not own...
    let squatter = app.registered("Bob", "bob@example.com").await;
    let membership = app
        .invite_person("Robert", "Byte", "bob@example.com", &[("admin", "on")])
        .await;
    let page = app.get_html_with(&squatter, "/invitations").await;
    assert!(
        crate::helpers::text_of(&page, "#verify-notice").is_some(),
        "{page}"
    );
    // ...but accepting needs the address proven, by a link only its owner receives.
    let r = app
        .submit_with(
            &squatter,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/invitations");
    let status: String = memberships::table
        .find(&membership)
        .select(memberships::status)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(status, "invited");
    // Nor can it make the invitation go away by declining.
    let r = app
        .submit_with(
            &squatter,
            "/invitations",
            &format!("/invitations/{membership}/decline"),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/invitations");
    assert!(crate::helpers::exists(&app, &membership));
    // A used or forged link changes nothing.
    let forged = app.get_with(&squatter, "/verify-email/nope/0000").await;
    assert_eq!(forged.status(), StatusCode::GONE);
    // The owner of the mailbox confirms; then the invitation is theirs to accept.
    crate::helpers::confirm_address(&app, &squatter, "bob@example.com").await;
    let link = app
        .mails_to("bob@example.com")
        .iter()
        .rev()
        .find(|m| m.subject.contains("Confirm"))
        .unwrap()
        .path();
    let again = app.submit_with(&squatter, &link, &link, &[]).await;
    assert_eq!(again.status(), StatusCode::GONE, "a link works once");
    let r = app
        .submit_with(
            &squatter,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/");
}
