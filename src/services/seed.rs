//! Synthetic members for demos and benchmarks: `rollcall seed --project NAME --members N`.

use std::io::Write;

use diesel::prelude::*;

use super::auth::new_security_stamp;
use super::{ServiceError, new_id, now};
use crate::db::models::{Membership, User};
use crate::db::schema::{memberships, profiles, projects, users};
use crate::db::{self, DbConn};
use crate::domain::ProfileType;

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Katherine",
    "Linus",
    "Margaret",
    "Niklaus",
    "Radia",
    "Ken",
    "Sophie",
    "Tim",
    "Hedy",
    "Dennis",
    "Karen",
    "Guido",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Thompson",
    "Wilson",
    "Berners-Lee",
    "Lamarr",
    "Ritchie",
    "Sparck",
    "Rossum",
];
const BATCH: usize = 500;

/// Adds `count` members to the project named `project_name`: four in five practitioners, one
/// in five patients, none with a password. Returns the project id.
pub fn seed(
    conn: &mut DbConn,
    project_name: &str,
    count: usize,
    progress: bool,
) -> Result<String, ServiceError> {
    let project_id: String = projects::table
        .filter(projects::name.eq(project_name))
        .select(projects::id)
        .order(projects::created_at.asc())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            ServiceError::invalid(
                "project",
                format!("No project is named {project_name:?}; create it first"),
            )
        })?;
    let run = &new_id()[..8];
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let at = now();
        let mut new_users = Vec::with_capacity(n);
        let mut new_profiles = Vec::with_capacity(n);
        let mut new_memberships = Vec::with_capacity(n);
        for i in done..done + n {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len()) % LAST.len()];
            let email = format!(
                "{}.{}.{i}.{run}@seed.example",
                first.to_lowercase(),
                last.to_lowercase()
            );
            let user = User {
                id: new_id(),
                first_name: first.into(),
                last_name: last.into(),
                email: email.clone(),
                email_verified: false,
                password_hash: None,
                project_id: Some(project_id.clone()),
                mfa_secret: None,
                mfa_enrolled: false,
                mfa_last_step: None,
                super_admin: false,
                security_stamp: new_security_stamp(),
                created_at: at,
                updated_at: at,
                last_signin_at: None,
            };
            let kind = if i % 5 == 4 {
                ProfileType::Patient
            } else {
                ProfileType::Practitioner
            };
            let profile = super::users::new_profile(
                &project_id,
                kind,
                first,
                &format!("{last} {i}"),
                Some(&email),
            );
            new_memberships.push(Membership {
                id: new_id(),
                project_id: project_id.clone(),
                user_id: Some(user.id.clone()),
                client_id: None,
                profile_id: Some(profile.id.clone()),
                access_policy_id: None,
                admin: false,
                active: true,
                status: crate::domain::MembershipStatus::Invited,
                mfa_required: false,
                invited_by: None,
                external_id: None,
                created_at: at,
                updated_at: at,
                profile_type: Some(kind),
            });
            new_users.push(user);
            new_profiles.push(profile);
        }
        // Multi-row inserts go through the concrete connections: the connection enum cannot
        // batch a Vec.
        db::transaction(conn, |conn| {
            match conn {
                DbConn::Sqlite(c) => {
                    diesel::insert_into(users::table)
                        .values(&new_users)
                        .execute(c)?;
                    diesel::insert_into(profiles::table)
                        .values(&new_profiles)
                        .execute(c)?;
                    diesel::insert_into(memberships::table)
                        .values(&new_memberships)
                        .execute(c)?;
                }
                DbConn::Postgres(c) => {
                    diesel::insert_into(users::table)
                        .values(&new_users)
                        .execute(c)?;
                    diesel::insert_into(profiles::table)
                        .values(&new_profiles)
                        .execute(c)?;
                    diesel::insert_into(memberships::table)
                        .values(&new_memberships)
                        .execute(c)?;
                }
            }
            Ok::<_, ServiceError>(())
        })?;
        done += n;
        if progress {
            let filled = done * 30 / count;
            eprint!(
                "\r[{}{}] {done}/{count}",
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!();
    }
    db::refresh_statistics(conn, true)?;
    Ok(project_id)
}
