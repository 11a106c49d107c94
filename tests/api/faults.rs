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
        let count: i64 = {
            use diesel::prelude::*;
            use rollcall::db::schema::users;
            users::table
                .filter(users::email.eq(&email))
                .count()
                .get_result(&mut app.conn())
                .unwrap()
        };
        assert_eq!(count, 0, "{email}");
    }
    let (r, _) = invite(0).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}
