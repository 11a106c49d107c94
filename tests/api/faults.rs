//! Faults of what Rollcall depends on: the database going away under load and coming back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::*;

/// A TCP relay in front of PostgreSQL that can be cut: `down` closes every relayed
/// connection and refuses new ones (as a stopped server or a cut network would), `up` lets
/// connections through again. It runs on a thread of its own, so that the test's blocking
/// database calls cannot stall it.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0_u64);
        let relaying = Arc::clone(&up);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !relaying.load(Ordering::SeqCst) {
                        continue;
                    }
                    let (target, mut cuts) = (target.clone(), cuts.clone());
                    // Only a cut after this connection was made ends it.
                    cuts.borrow_and_update();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cuts.changed() => {}
                        }
                    });
                }
            });
        });
        Relay { port, up, cut }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn with_postgresql_gone_pages_and_the_api_answer_503_within_seconds_and_recover_by_themselves()
 {
    // PostgreSQL's own fault: runs in the suite's PostgreSQL pass.
    if std::env::var("TEST_DATABASE_URL").map_or(true, |u| u.is_empty()) {
        eprintln!("runs on PostgreSQL only (TEST_DATABASE_URL)");
        return;
    }
    let mut relay_at = None;
    let app = spawn_app_with(|s| {
        let mut url = reqwest::Url::parse(s.database_url()).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let relay = Relay::start(target);
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(relay.port)).unwrap();
        s.database_url = SecretString::from(url.to_string());
        relay_at = Some(relay);
    })
    .await;
    let relay = relay_at.unwrap();
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let token = app.token(&app.admin_client().await).await;
    let invite_page = app.get_html("/admin/invite").await;
    let csrf = csrf_in(&invite_page);

    relay.down();
    let started = Instant::now();
    let page = |path: &'static str| {
        let app = &app;
        async move {
            let at = Instant::now();
            (app.get(path).await, at.elapsed())
        }
    };
    let api = |path: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let at = Instant::now();
            let r = reqwest::Client::new()
                .get(app.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r, at.elapsed())
        }
    };
    let invite = |n: usize| {
        let (app, csrf) = (&app, csrf.clone());
        async move {
            let at = Instant::now();
            let r = app
                .client
                .post(app.url("/admin/invite"))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("resourceType", "Practitioner"),
                    ("firstName", "During"),
                    ("lastName", "Outage"),
                    ("email", &format!("during{n}@example.com")),
                ])
                .send()
                .await
                .unwrap();
            (r, at.elapsed())
        }
    };
    let (pages, apis, invites) = tokio::join!(
        futures_util::future::join_all((0..6).map(|_| page("/admin/users"))),
        futures_util::future::join_all((0..6).map(|_| api("/fhir/R4/Practitioner"))),
        futures_util::future::join_all((0..3).map(invite)),
    );
    for (r, took) in pages.into_iter().chain(invites) {
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_security_headers(&r);
        assert!(took < Duration::from_secs(8), "answered after {took:?}");
        assert_eq!(r.headers()["retry-after"], "5");
        let html = r.text().await.unwrap();
        assert_eq!(
            text_of(&html, "h1").as_deref(),
            Some("Rollcall cannot reach its database"),
            "{html}"
        );
    }
    for (r, took) in apis {
        assert!(took < Duration::from_secs(8), "answered after {took:?}");
        let a = answer(r).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.headers["retry-after"], "5");
        assert_eq!(a.body["resourceType"], "OperationOutcome");
        assert_eq!(a.body["issue"][0]["code"], "transient");
    }
    // The process lives; it is not ready for traffic.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    eprintln!("outage answered in {:?}", started.elapsed());

    relay.up();
    let back = Instant::now();
    loop {
        let r = app.get("/admin/users").await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "not recovered after 20 s: {} {}",
            r.status(),
            location(&r)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "recovered {:?} after the database came back",
        back.elapsed()
    );
    // Nothing the refused requests asked for was half done; the same request works now.
    for n in 0..3 {
        let email = format!("during{n}@example.com");
        assert!(app.mails_to(&email).is_empty());
        assert_eq!(accounts_with(&app, &email), 0, "{email}");
    }
    let (r, _) = invite(0).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

/// A tmpfs of `megabytes` mounted on a new folder, unmounted when dropped; `None` where this
/// process may not mount (not root).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    /// Fills what is left with a file; returns its path (remove it to free the space).
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_under_sqlite_refuses_writes_clearly_keeps_what_was_saved_and_recovers() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("runs on SQLite only");
        return;
    }
    let Some(disk) = SmallDisk::mount(8) else {
        // `.ci/run` runs as root: there, not running would hide the test.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs (run as root)"
        );
        eprintln!("needs to mount a tmpfs (root); not run");
        return;
    };
    let database = disk
        .dir
        .path()
        .join("rollcall.sqlite3")
        .display()
        .to_string();
    let app = spawn_app_with(move |s| s.database_url = SecretString::from(database)).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let token = app.token(&app.admin_client().await).await;
    let invite = |i: usize| {
        let (app, token) = (&app, token.clone());
        async move {
            let email = format!("full{i}@example.com");
            let a = app
                .api_invite(
                    &token,
                    serde_json::json!({"resourceType": "Practitioner", "firstName": "Full",
                        "lastName": format!("Disk{i}"), "email": email}),
                )
                .await;
            (email, a)
        }
    };
    let mut saved = Vec::new();
    for i in 0..20 {
        let (email, a) = invite(i).await;
        assert!(a.status.is_success(), "{:?}", a.body);
        saved.push(email);
    }
    let filler = disk.fill();

    let mut refused = None;
    for i in 20..400 {
        let (email, a) = invite(i).await;
        if a.status.is_success() {
            saved.push(email);
            continue;
        }
        refused = Some((email, a));
        break;
    }
    let (lost, a) = refused.expect("a write was refused once the disk was full");
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", a.body);
    assert_eq!(a.headers["retry-after"], "60");
    assert!(a.issue_text().contains("disk is full"), "{:?}", a.body);
    // The page says so too (a write may still fit now and then, in what a failed one gave
    // back: the first refusal is the one judged).
    let mut page = None;
    for i in 0..50 {
        let email = format!("page-full{i}@example.com");
        let r = app
            .submit(
                "/admin/invite",
                "/admin/invite",
                &[
                    ("resourceType", "Practitioner"),
                    ("firstName", "Page"),
                    ("lastName", "Full"),
                    ("email", &email),
                ],
            )
            .await;
        if r.status() != StatusCode::OK {
            page = Some(r);
            break;
        }
        saved.push(email);
    }
    let r = page.expect("a page's write was refused too");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_security_headers(&r);
    let html = r.text().await.unwrap();
    assert_eq!(
        text_of(&html, "h1").as_deref(),
        Some("Rollcall cannot save anything just now")
    );

    std::fs::remove_file(filler).unwrap();
    let a = app
        .api_invite(
            &token,
            serde_json::json!({"resourceType": "Practitioner", "firstName": "After",
                "lastName": "Space", "email": "after@example.com"}),
        )
        .await;
    assert!(a.status.is_success(), "{:?}", a.body);
    assert_eq!(integrity_of(&mut app.conn()), ["ok"]);
    // Every invite answered as saved is there (`membership_of` fails otherwise).
    for email in &saved {
        let _ = app.membership_of(email);
    }
    assert_eq!(
        accounts_with(&app, &lost),
        0,
        "the refused invite left nothing behind"
    );
    eprintln!(
        "{} invites saved, then the disk was full; the next was refused with 503",
        saved.len()
    );
}
