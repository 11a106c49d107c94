//! The command line: `serve` (default), `migrate`, `create-superadmin`, `rotate-keys`, `seed`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use diesel::prelude::*;

use crate::config::Settings;
use crate::db::schema;
use crate::domain::EmailAddress;
use crate::services::users::{self, NewUser};
use crate::services::{ServiceError, recovery};
use crate::startup::{Application, open_database};
use crate::{db, telemetry};

#[derive(Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Sign-up, projects and member administration"
)]
#[command(
    after_help = "Configuration comes from ROLLCALL_* environment variables; see the README."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Make a server-wide account a super admin, creating it if needed; prints a link to set
    /// its password when it has none.
    CreateSuperadmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Super")]
        first_name: String,
        #[arg(long, default_value = "Admin")]
        last_name: String,
    },
    /// Make a new key for signing tokens; the old one keeps verifying the tokens it signed
    /// until they expire. Running instances pick the new key up within a minute.
    RotateKeys,
    /// Write a consistent copy of the SQLite database to a new file while the server runs
    /// (PostgreSQL: use pg_dump). Restore by starting Rollcall on the copy.
    Backup {
        /// Where to write the copy; the file must not exist yet.
        path: std::path::PathBuf,
    },
    /// Add synthetic members to an existing project, for demos and benchmarks.
    Seed {
        /// The project's name, as shown in the app.
        #[arg(long)]
        project: String,
        #[arg(long, default_value_t = 1000)]
        members: usize,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rollcall: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => open_database(&settings).map(|_| println!("Database is up to date.")),
        Command::CreateSuperadmin {
            email,
            first_name,
            last_name,
        } => create_superadmin(&settings, &email, &first_name, &last_name),
        Command::Seed { project, members } => seed(&settings, &project, members),
        Command::RotateKeys => rotate_keys(&settings),
        Command::Backup { path } => backup(&settings, &path),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollcall: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> Result<(), anyhow::Error> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn rotate_keys(settings: &Settings) -> Result<(), anyhow::Error> {
    let db = open_database(settings)?;
    let mut conn = db.pool().get()?;
    let kid = crate::services::keys::rotate(&mut conn)?;
    println!(
        "New signing key {kid}. Tokens signed with the previous key stay valid until they expire."
    );
    Ok(())
}

fn backup(settings: &Settings, path: &std::path::Path) -> Result<(), anyhow::Error> {
    // Refused before the database is opened (opening runs migrations).
    if db::Backend::from_url(settings.database_url()) == db::Backend::Postgres {
        anyhow::bail!(db::BACKUP_POSTGRES);
    }
    let db = open_database(settings)?;
    let mut conn = db.pool().get()?;
    let started = std::time::Instant::now();
    db::backup_into(&mut conn, path)?;
    println!(
        "Wrote a copy of the database to {} in {:.1?}. To restore it, stop Rollcall, put the \
         copy in place of the database file (or point ROLLCALL_DATABASE_URL at it) and start \
         Rollcall again.",
        path.display(),
        started.elapsed()
    );
    Ok(())
}

fn seed(settings: &Settings, project: &str, members: usize) -> Result<(), anyhow::Error> {
    let db = open_database(settings)?;
    let mut conn = db.pool().get()?;
    let started = std::time::Instant::now();
    match crate::services::seed::seed(&mut conn, project, members, true) {
        Ok(id) => {
            println!(
                "Added {members} members to project {id} in {:.1?}.",
                started.elapsed()
            );
            Ok(())
        }
        Err(ServiceError::Invalid(errors)) => {
            anyhow::bail!(
                "{}",
                errors.iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ")
            )
        }
        Err(e) => Err(e.into()),
    }
}

fn create_superadmin(
    settings: &Settings,
    email: &str,
    first: &str,
    last: &str,
) -> Result<(), anyhow::Error> {
    let email = EmailAddress::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let db = open_database(settings)?;
    let mut conn = db.pool().get()?;
    let link = db::transaction(&mut conn, |conn| {
        let user = match users::find_by_email(conn, email.as_str(), None)? {
            Some(user) => {
                diesel::update(schema::users::table.find(&user.id))
                    .set(schema::users::super_admin.eq(true))
                    .execute(conn)?;
                user
            }
            None => users::insert(
                conn,
                NewUser {
                    first_name: first,
                    last_name: last,
                    email: email.as_str(),
                    project_id: None,
                    password_hash: None,
                    super_admin: true,
                },
            )?,
        };
        if user.password_hash.is_some() {
            return Ok::<_, ServiceError>(None);
        }
        Ok(Some(recovery::create_link(
            conn,
            recovery::KIND_INVITE,
            &user.id,
            None,
        )?))
    })?;
    println!("{email} is a super admin.");
    if let Some(path) = link {
        let base = settings
            .base_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}", settings.bind));
        println!("Set the password within 7 days at: {base}{path}");
    }
    Ok(())
}
