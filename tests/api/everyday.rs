//! The everyday paths: links that open a project, sign-in after an invitation, error pages
//! with the person's own top bar.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn a_link_naming_a_project_opens_it_for_a_signed_in_member_or_their_invitation() {
    let app = admin_app().await;
    let mallory = other_admin(&app).await;
    let clinic = app.project_id();
    app.invite_person("Mallory", "M", "mallory@example.com", &[])
        .await;
    let mail = app
        .wait_for_mail("mallory@example.com", "Invitation to join Clinic")
        .await;
    assert_eq!(mail.path(), "/invitations");
    // Not yet accepted: the project's link leads to the invitation, not into the project.
    let r = app
        .get_with(&mallory, &format!("/signin?project={clinic}"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/invitations");
    let page = app.get_html_with(&mallory, "/invitations").await;
    let membership = membership_in(&app, "Clinic");
    crate::helpers::confirm_address(&app, &mallory, "mallory@example.com").await;
    let r = app
        .submit_with(
            &mallory,
            "/invitations",
            &format!("/invitations/{membership}/accept"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{page}");
    // Working in Elsewhere, the link offers to switch to Clinic (a POST from the page).
    app.submit_with(
        &mallory,
        "/signin/project",
        "/signin/project",
        &[("membership", &membership_in(&app, "Elsewhere"))],
    )
    .await;
    let home = app.get_html_with(&mallory, "/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Elsewhere");
    let link = format!("/signin?project={clinic}");
    let ask = app.get_html_with(&mallory, &link).await;
    assert_eq!(text_of(&ask, "main h1").unwrap(), "Open Clinic?");
    assert!(
        text_of(&ask, ".lede")
            .unwrap()
            .starts_with("You are working in Elsewhere.")
    );
    assert_eq!(
        attr_of(
            &ask,
            "form[action='/signin/project'] input[name=membership]",
            "value"
        ),
        Some(membership_in(&app, "Clinic"))
    );
    let home = app.get_html_with(&mallory, "/").await;
    assert_eq!(
        text_of(&home, "main h1").unwrap(),
        "Elsewhere",
        "a GET switches nothing"
    );
    let r = app
        .submit_with(
            &mallory,
            &link,
            "/signin/project",
            &[
                ("membership", &membership_in(&app, "Clinic")),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/");
    let home = app.get_html_with(&mallory, "/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Clinic");
    // In the project already: straight in.
    let r = app.get_with(&mallory, &link).await;
    assert_eq!(location(&r), "/");
    assert_eq!(
        text_of(&home, ".flash").as_deref(),
        Some("You are now working in Clinic")
    );
    // The chooser counts what it lists.
    let chooser = app.get_html_with(&mallory, "/signin/project").await;
    assert_eq!(
        text_of(&chooser, ".lede").unwrap(),
        "You are a member of 2 projects. Pick the one to work in; you can switch at any time from the top bar."
    );
    // A project they are not in: the sign-in page says who is signed in, and names nothing.
    let r = app
        .get_with(
            &mallory,
            "/signin?project=00000000-0000-0000-0000-000000000000",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert_eq!(
        text_of(&page, ".error-summary p").unwrap(),
        "You are signed in as mallory@example.com, who is not a member of the project this link is for. Sign out, then sign in with the account the email was sent to."
    );
    // Signed in without a project link, the sign-in page is not shown at all.
    let r = app.get_with(&mallory, "/signin").await;
    assert_eq!(location(&r), "/");
}

/// Mallory's membership of the project named `project`.
fn membership_in(app: &TestApp, project: &str) -> String {
    use diesel::prelude::*;
    use rollcall::db::schema::{memberships, users};
    memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(users::email.eq("mallory@example.com"))
        .filter(memberships::project_id.eq(app.project_id_of(project)))
        .select(memberships::id)
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn one_project_needs_no_chooser_and_is_not_called_several() {
    let app = admin_app().await;
    let chooser = app.get_html("/signin/project").await;
    assert_eq!(
        text_of(&chooser, ".lede").unwrap(),
        "Open the project to work in it."
    );
    let browser = new_client();
    let r = app.sign_in_with(&browser, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn an_invitation_link_signs_the_new_member_in_but_a_reset_link_does_not() {
    let app = admin_app().await;
    let (_, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    let home = app.get_html_with(&grace, "/").await;
    assert_eq!(text_of(&home, "main h1").unwrap(), "Clinic");
    assert_eq!(
        text_of(&home, ".flash").as_deref(),
        Some("Your password is set. Welcome!")
    );
    // The session is a real one: it is listed, and signing out ends it.
    let security = app.get_html_with(&grace, "/account/security").await;
    assert!(security.contains("This device"), "{security}");
    // A reset proves the address too, but asks for the new password once.
    let r = app
        .submit_with(
            &new_client(),
            "/resetpassword",
            "/resetpassword",
            &[("email", "grace@example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let path = app
        .wait_for_mail("grace@example.com", "Reset your")
        .await
        .path();
    let browser = new_client();
    let r = app
        .submit_with(
            &browser,
            &path,
            &path,
            &[
                ("password", "another violet lantern"),
                ("confirmPassword", "another violet lantern"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/signin"));
    let r = app.get_with(&browser, "/").await;
    assert!(location(&r).starts_with("/signin"));
    // And it ended the session the invitation started.
    let r = app.get_with(&grace, "/").await;
    assert!(location(&r).starts_with("/signin"));
}

#[tokio::test]
async fn error_pages_keep_the_signed_in_top_bar_and_a_way_back() {
    let app = admin_app().await;
    let r = app
        .client
        .get(app.url("/no/such/page"))
        .header("Referer", app.url("/admin/users?q=a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "main h1").unwrap(), "Page not found");
    assert_eq!(text_of(&html, ".account-name").unwrap(), "Ada Tester");
    assert!(!html.contains("href=\"/register\""), "no signed-out links");
    assert_eq!(
        attr_of(&html, ".error-page .actions a", "href").as_deref(),
        Some("/admin/users?q=a")
    );
    assert!(
        text_of(&html, ".error-page .actions")
            .unwrap()
            .contains("Go to Clinic")
    );
    // A page of another site is not offered as the way back.
    let r = app
        .client
        .get(app.url("/no/such/page"))
        .header("Referer", "https://evil.example/admin/users")
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(!html.contains("Back to the previous page"));
    // A member who is not an admin gets 403 with their own top bar too.
    let (_, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    let r = app.get_with(&grace, "/admin/users").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, ".account-name").unwrap(), "Grace Hopper");
    // htmx gets the message alone, for #main.
    let r = app
        .client
        .get(app.url("/no/such/page"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["hx-retarget"], "#main");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<header"));
    // Signed out, the top bar offers sign-in as before.
    let r = app.get_with(&new_client(), "/no/such/page").await;
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/signin\""));
}

#[tokio::test]
async fn a_member_page_of_another_of_your_projects_offers_to_switch_and_nobody_else_learns_it() {
    let app = admin_app().await;
    let grace = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    let policy = app
        .create_policy(&[("name", "Nurses"), ("rule[0].resourceType", "Patient")])
        .await;
    let r = app.create_project("/projects/new", "Second").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for path in [
        format!("/admin/members/{grace}"),
        format!("/admin/members/{grace}/profile"),
        format!("/admin/access-policies/{policy}"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let html = r.text().await.unwrap();
        assert_eq!(
            text_of(&html, "main h1").unwrap(),
            "This page is in another of your projects",
            "{path}"
        );
        assert_eq!(
            text_of(&html, ".error-page p:nth-of-type(2)").unwrap(),
            "It belongs to Clinic. You are working in Second; switch to open it there."
        );
        assert_eq!(
            attr_of(&html, ".error-page input[name=next]", "value").as_deref(),
            Some(path.as_str())
        );
    }
    let page = app.get_html(&format!("/admin/members/{grace}")).await;
    let membership = attr_of(&page, ".error-page input[name=membership]", "value").unwrap();
    let r = app
        .submit(
            &format!("/admin/members/{grace}"),
            "/signin/project",
            &[
                ("membership", &membership),
                ("next", &format!("/admin/members/{grace}")),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("/admin/members/{grace}"));
    let r = app.get(&format!("/admin/members/{grace}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    // An admin of another project only learns that there is no such page.
    let mallory = other_admin(&app).await;
    let r = app
        .get_with(&mallory, &format!("/admin/members/{grace}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "main h1").unwrap(), "Page not found");
    assert!(!html.contains("Clinic"));
}

/// A confirmation page: its title, the form's action, and where focus starts.
fn confirmation(html: &str) -> (String, String, String) {
    let doc = scraper::Html::parse_document(html);
    let focused: Vec<String> = doc
        .select(&scraper::Selector::parse("[autofocus]").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect();
    assert_eq!(focused.len(), 1, "one autofocus: {focused:?}");
    (
        text_of(html, "#confirm-title").expect("a confirmation"),
        attr_of(html, "main form", "action").unwrap(),
        focused[0].clone(),
    )
}

#[tokio::test]
async fn destructive_actions_ask_first_with_focus_on_cancel_as_page_and_dialog() {
    let app = admin_app().await;
    let (grace, grace_browser) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[("projectScoped", "on")],
            PASSWORD,
        )
        .await;
    let client = app.create_client("Lab feed", &[]).await;
    let policy = app
        .create_policy(&[("name", "Nurses"), ("rule[0].resourceType", "Patient")])
        .await;
    // Grace has no second factor yet: nothing to reset, and no button offering it.
    let member_page = app.get_html(&format!("/admin/members/{grace}")).await;
    assert!(!member_page.contains("Reset two-factor authentication"));
    let r = app.get(&format!("/admin/members/{grace}/reset-mfa")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    enrol(&app, &grace_browser, "/account/mfa").await;
    let member_page = app.get_html(&format!("/admin/members/{grace}")).await;
    assert_eq!(
        attr_of(&member_page, "a[hx-get$=reset-mfa]", "hx-target").as_deref(),
        Some("#dialog-slot")
    );

    for (page, title, action, says) in [
        (
            format!("/admin/members/{grace}/reset-mfa"),
            "Reset two-factor authentication for Grace Hopper?",
            format!("/admin/members/{grace}/reset-mfa"),
            "They are told by email",
        ),
        (
            format!("/admin/members/{grace}/remove"),
            "Remove Grace Hopper?",
            format!("/admin/members/{grace}/remove"),
            "will lose access to this project",
        ),
        (
            format!("/admin/clients/{}/rotate", client.id),
            "Rotate the secret of Lab feed?",
            format!("/admin/clients/{}/rotate", client.id),
            &*format!("every integration using client ID {}", client.id),
        ),
        (
            format!("/admin/clients/{}/remove", client.id),
            "Remove Lab feed?",
            format!("/admin/clients/{}/remove", client.id),
            "stops working at once",
        ),
        (
            format!("/admin/access-policies/{policy}/delete"),
            "Delete the access policy Nurses?",
            format!("/admin/access-policies/{policy}/delete"),
            "This cannot be undone",
        ),
    ] {
        let html = app.get_html(&page).await;
        let (shown_title, shown_action, focus) = confirmation(&html);
        assert_eq!(shown_title, title);
        assert_eq!(shown_action, action);
        assert_eq!(focus, "Cancel", "{page}");
        assert!(
            text_of(&html, "#confirm-text").unwrap().contains(says),
            "{page}"
        );
        // With htmx: the same, as a modal dialog.
        let r = app
            .client
            .get(app.url(&page))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        let partial = r.text().await.unwrap();
        assert!(
            partial.starts_with("\n<dialog") || partial.starts_with("<dialog"),
            "{page}"
        );
        assert!(!partial.contains("<header"));
        // Another project's admin learns nothing from the address.
    }
    // The actions still work after the confirmation, and nothing happened before it.
    assert!(exists(&app, &grace));
    let r = app
        .submit(
            &format!("/admin/access-policies/{policy}/delete"),
            &format!("/admin/access-policies/{policy}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/admin/access-policies/{policy}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn what_cannot_be_done_is_not_offered_and_its_confirmation_refuses() {
    let app = admin_app().await;
    let owner = app.membership_of(ADMIN_EMAIL);
    let page = app.get_html(&format!("/admin/members/{owner}")).await;
    assert!(!page.contains("Remove user"));
    assert!(
        text_of(&page, "#owner-note")
            .unwrap()
            .contains("hands the project over to another admin")
    );
    let r = app.get(&format!("/admin/members/{owner}/remove")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("owner"));
    // A policy in use is refused at the confirmation, naming who uses it.
    let policy = app
        .create_policy(&[("name", "Nurses"), ("rule[0].resourceType", "Patient")])
        .await;
    app.invite_person(
        "Grace",
        "Hopper",
        "grace@example.com",
        &[("accessPolicy", &policy)],
    )
    .await;
    let r = app
        .get(&format!("/admin/access-policies/{policy}/delete"))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Grace Hopper"));
    // Resetting two-factor authentication of an account shared with other projects is the
    // account holder's business: refused at the confirmation too.
    let other = other_admin(&app).await;
    app.invite_person("Mallory", "M", "mallory@example.com", &[])
        .await;
    let shared = membership_in(&app, "Clinic");
    let r = app.get(&format!("/admin/members/{shared}/reset-mfa")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // And the other project's admin reaches none of these confirmations.
    for page in [
        format!("/admin/members/{shared}/remove"),
        format!("/admin/access-policies/{policy}/delete"),
    ] {
        assert_eq!(
            app.get_with(&other, &page).await.status(),
            StatusCode::NOT_FOUND,
            "{page}"
        );
    }
}

#[tokio::test]
async fn what_people_copy_has_a_copy_button_that_waits_for_the_script_beside_a_selectable_field() {
    let app = admin_app().await;
    let hidden_button_for = |html: &str, id: &str| {
        let selector = format!("button.copy-button[data-copy={id}]");
        assert_eq!(
            attr_of(html, &selector, "hidden").as_deref(),
            Some(""),
            "{id}: hidden until the script shows it"
        );
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "{id}: the field it copies"
        );
    };
    let details = app.get_html("/admin/project").await;
    hidden_button_for(&details, "project-id");
    assert_eq!(text_of(&details, "#project-id").unwrap(), app.project_id());

    // The one-time secret: copy, and a way to put it away that works without the script.
    let r = app
        .submit(
            "/admin/clients/new",
            "/admin/clients/new",
            &[("name", "Lab feed")],
        )
        .await;
    let page = location(&r);
    let html = app.get_html(&page).await;
    hidden_button_for(&html, "client-secret");
    hidden_button_for(&html, "client-id");
    assert_eq!(
        attr_of(&html, "a[data-dismiss=secret-card]", "href").as_deref(),
        Some(page.as_str())
    );
    let again = app.get_html(&page).await;
    assert!(!again.contains("id=\"client-secret\""), "shown once");

    // An invitation link handed over by hand: a field that wraps instead of cutting it off.
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Pat"),
            ("lastName", "Ient"),
            ("email", "pat@example.com"),
        ])
        .await;
    let html = r.text().await.unwrap();
    hidden_button_for(&html, "invite-link");
    assert!(html.contains("<textarea id=\"invite-link\""));
    assert!(
        text_of(&html, "#invite-link")
            .unwrap()
            .contains("/setpassword/")
    );

    // The authenticator key, in groups of four for typing; copied whole.
    let html = app.get_html("/account/mfa").await;
    hidden_button_for(&html, "mfa-secret");
    let key = attr_of(&html, "#mfa-secret", "data-copy-value").unwrap();
    let shown = text_of(&html, "#mfa-secret").unwrap();
    let groups: Vec<&str> = shown.split(' ').collect();
    assert!(groups.len() > 4);
    assert!(
        groups[..groups.len() - 1].iter().all(|g| g.len() == 4),
        "{shown}"
    );
    assert_eq!(groups.concat(), key);
}

#[tokio::test]
async fn a_suspended_invitation_is_not_accepted_by_its_link() {
    use diesel::prelude::*;
    use rollcall::db::schema::memberships;
    let app = admin_app().await;
    let r = app
        .invite(&[
            ("resourceType", "Practitioner"),
            ("firstName", "Dan"),
            ("lastName", "D"),
            ("email", "dan@example.com"),
        ])
        .await;
    let html = r.text().await.unwrap();
    let link = text_of(&html, "#invite-link").unwrap();
    let path = &link[link.find("/setpassword/").unwrap()..];
    let dan = app.membership_of("dan@example.com");
    app.submit(
        &format!("/admin/members/{dan}"),
        &format!("/admin/members/{dan}/suspend"),
        &[],
    )
    .await;
    let browser = new_client();
    app.submit_with(
        &browser,
        path,
        path,
        &[("password", PASSWORD), ("confirmPassword", PASSWORD)],
    )
    .await;
    let (status, active): (String, bool) = memberships::table
        .find(&dan)
        .select((memberships::status, memberships::active))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!((status.as_str(), active), ("invited", false));
    assert!(location(&app.get_with(&browser, "/").await).starts_with("/signin/project"));
}

#[tokio::test]
async fn after_a_refused_action_on_another_projects_member_the_switch_leads_to_its_page() {
    let app = admin_app().await;
    let grace = app
        .invite_person("Grace", "Hopper", "grace@example.com", &[])
        .await;
    app.create_project("/projects/new", "Second").await;
    let r = app
        .submit(
            &format!("/admin/members/{grace}"),
            &format!("/admin/members/{grace}/suspend"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await.unwrap();
    assert_eq!(
        attr_of(&html, ".error-page input[name=next]", "value"),
        Some(format!("/admin/members/{grace}"))
    );
}
