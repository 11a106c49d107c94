//! Running Rollcall: liveness and readiness for a proxy or an orchestrator, and backups that
//! a new instance starts on (SQLite: `rollcall backup` while the server works; PostgreSQL:
//! pg_dump and pg_restore, as docs/deploy.md says).

use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall::db::schema::{memberships, profiles};
use rollcall::db::{self, DbConn};
use secrecy::SecretString;

use crate::helpers::*;

#[tokio::test]
async fn readiness_needs_the_database_with_every_migration_and_liveness_does_not() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
    // The newest migration unrecorded, as when a new release starts before its migrations ran.
    diesel::sql_query(
        "DELETE FROM __diesel_schema_migrations \
         WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)",
    )
    .execute(&mut app.conn())
    .unwrap();
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(
        r.text().await.unwrap(),
        "not ready: 1 database migration of this version not applied yet"
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

/// Memberships, and whether every one has its profile (a torn copy would not).
fn members_and_orphans(conn: &mut DbConn) -> (i64, i64) {
    let members = memberships::table.count().get_result(conn).unwrap();
    let with_profile: i64 = memberships::table
        .inner_join(profiles::table)
        .count()
        .get_result(conn)
        .unwrap();
    (members, members - with_profile)
}

#[tokio::test]
async fn a_backup_taken_while_members_are_invited_is_whole_and_a_new_instance_starts_on_it() {
    let app = admin_app().await;
    app.invite_person("Before", "Backup", "before@example.com", &[])
        .await;
    let (before, _) = members_and_orphans(&mut app.conn());
    let copy = app.data_dir.join("copy.sqlite3");
    let is_sqlite = matches!(*app.conn(), DbConn::Sqlite(_));
    // Invitations keep coming while the copy is written; the copy starts once they are under
    // way.
    let invitations = async {
        for i in 0..20 {
            app.invite_person("During", "Backup", &format!("during{i}@example.com"), &[])
                .await;
        }
    };
    // `rollcall backup PATH`, the command an operator runs, beside the running server.
    let backup_command = |target: std::path::PathBuf| {
        let (url, data_dir) = (app.database_url.clone(), app.data_dir.join("cli"));
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("ROLLCALL_DATABASE_URL", url)
                .env("ROLLCALL_DATA_DIR", data_dir)
                .arg("backup")
                .arg(target)
                .output()
                .unwrap()
        })
    };
    let backup = async {
        while members_and_orphans(&mut app.conn()).0 < before + 3 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        backup_command(copy.clone()).await.unwrap()
    };
    let ((), backed_up) = tokio::join!(invitations, backup);
    let (after, _) = members_and_orphans(&mut app.conn());
    assert_eq!(after, before + 20);
    let said = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    if !is_sqlite {
        assert!(!backed_up.status.success());
        assert!(said(&backed_up).contains("pg_dump"), "{}", said(&backed_up));
        return;
    }
    assert!(backed_up.status.success(), "{}", said(&backed_up));
    assert!(
        said(&backed_up).contains("Wrote a copy"),
        "{}",
        said(&backed_up)
    );
    // A second backup never overwrites the first.
    let again = backup_command(copy.clone()).await.unwrap();
    assert!(!again.status.success());
    assert!(said(&again).contains("already exists"), "{}", said(&again));

    let mut conn = db::establish(copy.to_str().unwrap()).unwrap();
    assert_eq!(integrity_of(&mut conn), ["ok"]);
    let (copied, orphans) = members_and_orphans(&mut conn);
    assert!(
        (before + 3..=after).contains(&copied),
        "{before} + 3 <= {copied} <= {after}"
    );
    assert_eq!(orphans, 0);
    drop(conn);

    // Restoring is starting on the copy: the admin signs in and finds the members there.
    let restored = spawn_app_with(|s| {
        s.database_url = SecretString::from(copy.display().to_string());
    })
    .await;
    let r = restored.sign_in(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let users = restored.get_html("/admin/users?q=backup").await;
    assert!(names_in(&users).contains(&"Before Backup".to_owned()));
    assert_eq!(
        text_of(&users, ".results-count").unwrap(),
        format!("{} members matching “backup”", copied - 1),
        "everyone but the admin"
    );
}

#[tokio::test]
async fn a_postgresql_dump_restored_into_a_new_database_serves_every_member() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    if admin_url.is_empty() {
        return;
    }
    let app = admin_app().await;
    for i in 0..5 {
        app.invite_person(
            "Dumped",
            &format!("Member{i}"),
            &format!("d{i}@example.com"),
            &[],
        )
        .await;
    }
    let dump = app.data_dir.join("rollcall.dump");
    let status = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(&app.database_url)
        .status()
        .expect("pg_dump runs");
    assert!(status.success());
    let (_restore_db, restore_url) = PgTestDatabase::empty(&admin_url);
    let status = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&restore_url)
        .arg(&dump)
        .status()
        .expect("pg_restore runs");
    assert!(status.success());
    let restored =
        spawn_app_with(|s| s.database_url = SecretString::from(restore_url.clone())).await;
    assert_eq!(
        restored.sign_in(ADMIN_EMAIL, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let users = restored.get_html("/admin/users?q=dumped").await;
    assert_eq!(names_in(&users).len(), 5);
    assert_eq!(restored.get("/readyz").await.status(), StatusCode::OK);
}
