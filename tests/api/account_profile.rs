use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::StatusCode;

use crate::helpers::*;

fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 128])
    }));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    bytes: Vec<u8>,
    name: &str,
) -> reqwest::Response {
    let token = csrf_in(&app.get_with(client, "/account").await.text().await.unwrap());
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    client
        .post(app.url(&format!("/account/photo?csrf_token={token}")))
        .multipart(reqwest::multipart::Form::new().part("photo", part))
        .send()
        .await
        .unwrap()
}

async fn save(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    app.submit("/account", "/account", fields).await
}

#[tokio::test]
async fn the_profile_is_saved_and_new_names_reach_the_account() {
    let app = admin_app().await;
    let html = app.get_html("/").await;
    assert!(
        html.contains("href=\"/account\""),
        "Account settings is in the account menu"
    );
    let r = save(
        &app,
        &[
            ("firstName", "Augusta"),
            ("lastName", "King"),
            ("prefix", "Dr."),
            ("suffix", "PhD"),
            ("phone", "+44 20 7946 0958"),
            ("gender", "female"),
            ("birthDate", "1815-12-10"),
            ("language", "en"),
            ("qualification[0].text", "Mathematics"),
            ("qualification[0].issuer", "University of London"),
            ("qualification[0].start", "1840-01-01"),
            ("qualification[0].end", "1842-06-30"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account");
    let html = app.get_html("/account").await;
    assert_eq!(text_of(&html, ".flash").unwrap(), "Your profile was saved");
    for (id, value) in [
        ("#prefix", "Dr."),
        ("#phone", "+44 20 7946 0958"),
        ("#birthDate", "1815-12-10"),
    ] {
        assert_eq!(attr_of(&html, id, "value").as_deref(), Some(value), "{id}");
    }
    assert_eq!(
        attr_of(&html, "#gender option[selected]", "value").as_deref(),
        Some("female")
    );
    assert_eq!(
        attr_of(&html, "#language option[selected]", "value").as_deref(),
        Some("en")
    );
    assert_eq!(
        attr_of(&html, "[id='qualification[0].issuer']", "value").as_deref(),
        Some("University of London")
    );
    assert!(
        text_of(&html, "nav[aria-label=Account] summary")
            .unwrap()
            .contains("Augusta King")
    );
    let users_tab = app.get_html("/admin/users").await;
    assert!(
        text_of(&users_tab, "tbody")
            .unwrap()
            .contains("Augusta King")
    );
}

#[tokio::test]
async fn each_invalid_profile_field_is_reported_and_values_are_kept() {
    let app = admin_app().await;
    let r = save(
        &app,
        &[
            ("firstName", ""),
            ("lastName", "King"),
            ("phone", "call me maybe"),
            ("gender", "robot"),
            ("birthDate", "2999-01-01"),
            ("language", "xx"),
            ("qualification[0].issuer", "Somewhere"),
            ("qualification[1].text", "Logic"),
            ("qualification[1].start", "2020-05-01"),
            ("qualification[1].end", "2019-01-01"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let summary = text_of(&html, ".error-summary").unwrap();
    for message in [
        "Enter a first name",
        "Enter a phone number",
        "Choose a gender from the list",
        "Birth date cannot be in the future",
        "Choose a language from the list",
        "Qualification 1: enter its name",
        "Qualification 2: the end cannot be before the start",
    ] {
        assert!(summary.contains(message), "{message} missing in {summary}");
    }
    assert_eq!(
        attr_of(&html, "#phone", "value").as_deref(),
        Some("call me maybe")
    );
    assert_eq!(
        attr_of(&html, "[id='qualification[1].text']", "value").as_deref(),
        Some("Logic")
    );
    let r = save(
        &app,
        &[
            ("firstName", "A"),
            ("lastName", "B"),
            ("birthDate", "23/04/1990"),
        ],
    )
    .await;
    assert!(
        text_of(&r.text().await.unwrap(), "#birthDate-error")
            .unwrap()
            .contains("a date like")
    );
}

#[tokio::test]
async fn qualification_rows_are_added_and_removed_without_javascript() {
    let app = admin_app().await;
    let r = save(
        &app,
        &[
            ("firstName", "Ada"),
            ("lastName", "Tester"),
            ("button", "add-qualification"),
        ],
    )
    .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"qualification[0].text\""));
    let r = save(
        &app,
        &[
            ("firstName", "Ada"),
            ("lastName", "Tester"),
            ("qualification[0].text", "First"),
            ("qualification[1].text", "Second"),
            ("button", "remove-0"),
        ],
    )
    .await;
    let html = r.text().await.unwrap();
    assert_eq!(
        attr_of(&html, "[id='qualification[0].text']", "value").as_deref(),
        Some("Second")
    );
    assert!(!html.contains("qualification[1].text"));
}

#[tokio::test]
async fn png_jpeg_and_webp_photos_become_square_thumbnails_shown_to_the_project() {
    let app = admin_app().await;
    for (format, name) in [
        (ImageFormat::Png, "me.png"),
        (ImageFormat::Jpeg, "me.jpg"),
        (ImageFormat::WebP, "me.webp"),
    ] {
        let r = upload(&app, &app.client, picture(800, 500, format), name).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}");
    }
    let html = app.get_html("/account").await;
    let src = attr_of(&html, ".profile-photo", "src").unwrap();
    let r = app.get(&src).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("private")
    );
    let thumb = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 256));
    // The photo shows in the top bar and in the Users tab.
    assert!(attr_of(&html, "nav[aria-label=Account] img", "src").is_some());
    assert!(attr_of(&app.get_html("/admin/users").await, "tbody img", "src").is_some());

    // A member of the same project sees it; a member of another project does not.
    let (_, grace) = app
        .member(
            "Grace",
            "Hopper",
            "grace@example.com",
            &[],
            "violet tuesday lantern orbit",
        )
        .await;
    assert_eq!(app.get_with(&grace, &src).await.status(), StatusCode::OK);
    let outsider = new_client();
    app.submit_with(
        &outsider,
        "/register",
        "/register",
        &[
            ("firstName", "Eve"),
            ("lastName", "X"),
            ("email", "eve@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    app.submit_with(
        &outsider,
        "/register/project",
        "/register/project",
        &[("projectName", "Elsewhere")],
    )
    .await;
    assert_eq!(
        app.get_with(&outsider, &src).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_photos_get_a_clear_message() {
    let app = admin_app().await;
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            b"just some text, honest".to_vec(),
            "notes.png",
            "not a PNG, JPEG or WebP image",
        ),
        (vec![0u8; 2 * 1024 * 1024 + 10], "big.png", "at most 2 MB"),
        (png_claiming(10_000, 10_000), "huge.png", "too large"),
    ];
    for (bytes, name, expected) in cases {
        let r = upload(&app, &app.client, bytes, name).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let html = r.text().await.unwrap();
        assert!(
            text_of(&html, ".error-summary").unwrap().contains(expected),
            "{name}"
        );
    }
    let html = app.get_html("/account").await;
    assert!(html.contains("No photo yet"));
}

#[tokio::test]
async fn the_latest_photo_is_the_accounts_avatar_in_every_project_while_profiles_keep_theirs() {
    let app = admin_app().await;
    let r = upload(
        &app,
        &app.client,
        picture(300, 300, ImageFormat::Png),
        "me.png",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let clinic_photo = attr_of(&app.get_html("/account").await, ".profile-photo", "src").unwrap();
    // A second project, no photo of its own there yet: the top bar shows the account's.
    let r = app.create_project("/projects/new", "Second").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let account = app.get_html("/account").await;
    assert!(
        account.contains("No photo yet"),
        "this project's profile has none"
    );
    let avatar = attr_of(&account, "nav[aria-label=Account] img", "src").unwrap();
    assert_eq!(avatar, clinic_photo);
    assert_eq!(
        app.get(&avatar).await.status(),
        StatusCode::OK,
        "their own photo"
    );
    // A photo uploaded here becomes the avatar everywhere; Clinic's profile keeps its own.
    let r = upload(
        &app,
        &app.client,
        picture(300, 300, ImageFormat::Jpeg),
        "new.jpg",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let second_photo = attr_of(&app.get_html("/account").await, ".profile-photo", "src").unwrap();
    assert_ne!(second_photo, clinic_photo);
    let clinic = app.membership_of(ADMIN_EMAIL);
    app.submit(
        "/signin/project",
        "/signin/project",
        &[("membership", &clinic)],
    )
    .await;
    let account = app.get_html("/account").await;
    assert_eq!(
        attr_of(&account, ".profile-photo", "src").unwrap(),
        clinic_photo
    );
    assert_eq!(
        attr_of(&account, "nav[aria-label=Account] img", "src").unwrap(),
        second_photo
    );
    // Someone else in Clinic still cannot read the Second project's photo.
    let (_, grace) = app
        .member("Grace", "Hopper", "grace@example.com", &[], PASSWORD)
        .await;
    assert_eq!(
        app.get_with(&grace, &clinic_photo).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_with(&grace, &second_photo).await.status(),
        StatusCode::NOT_FOUND
    );
}
