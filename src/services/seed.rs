//! Synthetic members for demos and benchmarks: `rollcall seed --project NAME --members N`.
//! The people look like a clinic network's: names from many languages (accents and other
//! scripts included), practitioners, related persons and patients, some admins, some still
//! invited, some with two-factor authentication, most signed in at some point, and a few
//! access policies in use.

use std::io::Write;

use chrono::Duration;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::audit::Acting;
use super::auth::new_security_stamp;
use super::{RequestMeta, ServiceError, new_id, now, policies, users};
use crate::db::models::{Membership, Profile, User};
use crate::db::schema::{access_policies, memberships, profiles, projects, users as users_t};
use crate::db::{self, DbConn};
use crate::domain::folded::fold;
use crate::domain::{Criteria, MembershipStatus, PolicyRule, ProfileType};

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "José",
    "María",
    "Élodie",
    "Zoë",
    "Søren",
    "Łukasz",
    "Ngozi",
    "Aiko",
    "Björn",
    "François",
    "Siobhán",
    "Dmitri",
    "Priya",
    "Wei",
    "Fatima",
    "Mohammed",
    "Olga",
    "Leilani",
    "Kwame",
    "Inès",
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Lucía",
    "Mateo",
    "João",
    "Chloé",
    "Mårten",
    "Ayşe",
    "Nguyễn Thị",
    "Hana",
    "Tomás",
    "Anaïs",
    "Jürgen",
    "Ravi",
    "Sofía",
    "Yusuf",
    "Алексей",
    "Мария",
    "王芳",
    "さくら",
    "Δημήτρης",
    "אורי",
    "محمد",
    "Thabo",
    "Aroha",
    "Ingrid",
];
const LAST: &[&str] = &[
    "García",
    "Müller",
    "Nguyễn",
    "O'Brien",
    "Kowalski",
    "Øvergaard",
    "Dubois",
    "Rossi",
    "Silva",
    "Smith",
    "Johnson",
    "Kim",
    "Tanaka",
    "Okafor",
    "Andersson",
    "Novák",
    "Papadopoulos",
    "Иванов",
    "Петрова",
    "张",
    "佐藤",
    "Cohen",
    "Haddad",
    "Hopper",
    "Lovelace",
    "Fernández",
    "Łukaszewicz",
    "Núñez",
    "Şahin",
    "Mbeki",
    "Walker",
    "Patel",
    "Ó Súilleabháin",
    "Van der Berg",
    "Lefèvre",
    "Björklund",
    "Yamamoto",
    "Okonkwo",
    "Kovačević",
    "Dąbrowski",
];
/// Rows a statement inserts: well under PostgreSQL's limit of bound parameters.
const BATCH: usize = 500;
/// Statements a transaction holds: 25,000 rows.
const BATCHES_PER_TRANSACTION: usize = 50;
const SEED_CACHE_KIB: i64 = 512 * 1024;

/// Adds `count` members to the project named `project_name`. Returns the project id.
pub fn seed(
    conn: &mut DbConn,
    project_name: &str,
    count: usize,
    progress: bool,
) -> Result<String, ServiceError> {
    let project_id = find_project(conn, project_name)?;
    let policies = seed_policies(conn, &project_id)?;
    let run = new_id()[..8].to_owned();
    let mut rng = StdRng::from_os_rng();
    // New rows land all over a dozen indexes: few large transactions, with the pages they
    // touch kept in memory, write each page a few times instead of once per batch.
    page_cache(conn, SEED_CACHE_KIB)?;
    let mut done = 0;
    while done < count {
        let end = (done + BATCH * BATCHES_PER_TRANSACTION).min(count);
        db::transaction(conn, |conn| {
            while done < end {
                let n = BATCH.min(end - done);
                let people: Vec<Person> = (done..done + n)
                    .map(|i| Person::synthetic(&mut rng, &project_id, &policies, i, &run))
                    .collect();
                insert(conn, &people)?;
                done += n;
                if progress {
                    show_progress(done, count);
                }
            }
            Ok::<_, ServiceError>(())
        })?;
    }
    page_cache(conn, crate::db::SQLITE_CACHE_KIB)?;
    if progress {
        eprintln!();
    }
    db::refresh_statistics(conn, true)?;
    Ok(project_id)
}

/// SQLite's page cache for this connection, in KiB (PostgreSQL manages its own).
fn page_cache(conn: &mut DbConn, kib: i64) -> Result<(), ServiceError> {
    if let DbConn::Sqlite(c) = conn {
        diesel::connection::SimpleConnection::batch_execute(
            c,
            &format!("PRAGMA cache_size = -{kib};"),
        )?;
    }
    Ok(())
}

fn find_project(conn: &mut DbConn, project_name: &str) -> Result<String, ServiceError> {
    projects::table
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
        })
}

/// The project's policies, after adding three typical ones when it has none.
fn seed_policies(conn: &mut DbConn, project_id: &str) -> Result<Vec<String>, ServiceError> {
    let existing: Vec<String> = access_policies::table
        .filter(access_policies::project_id.eq(project_id))
        .select(access_policies::id)
        .load(conn)?;
    if !existing.is_empty() {
        return Ok(existing);
    }
    let project = super::projects::get(conn, project_id)?;
    let by = Acting {
        user_id: None,
        display: "rollcall seed".into(),
        super_admin: false,
        meta: RequestMeta::default(),
    };
    let rule = |resource_type: &str, read_only, criteria| PolicyRule {
        resource_type: resource_type.into(),
        read_only,
        criteria,
    };
    let typical = [
        ("Front desk", vec![rule("Patient", true, None)]),
        ("Clinicians", vec![rule("*", false, None)]),
        (
            "Patients (own record)",
            vec![rule("Patient", true, Some(Criteria::PatientCompartment))],
        ),
    ];
    typical
        .iter()
        .map(|(name, rules)| policies::save(conn, &project, &by, None, name, rules))
        .collect()
}

/// One synthetic member: a project account, its profile and its membership.
struct Person {
    user: User,
    profile: Profile,
    membership: Membership,
}

impl Person {
    fn synthetic(
        rng: &mut StdRng,
        project_id: &str,
        policies: &[String],
        i: usize,
        run: &str,
    ) -> Person {
        let first = FIRST[rng.random_range(0..FIRST.len())];
        let last = LAST[rng.random_range(0..LAST.len())];
        let kind = match rng.random_range(0..100) {
            0..70 => ProfileType::Practitioner,
            70..78 => ProfileType::RelatedPerson,
            _ => ProfileType::Patient,
        };
        let ascii = |s: &str| -> String {
            fold(s)
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect()
        };
        let local = match (ascii(first), ascii(last)) {
            (f, l) if !f.is_empty() && !l.is_empty() => format!("{f}.{l}"),
            _ => "member".to_owned(),
        };
        let email = format!("{local}.{i}.{run}@seed.example");
        let at = now();
        let invited = rng.random_range(0..100) < 12;
        let user = User {
            id: new_id(),
            first_name: first.into(),
            last_name: last.into(),
            email: email.clone(),
            email_verified: !invited,
            password_hash: None,
            project_id: Some(project_id.to_owned()),
            mfa_secret: None,
            mfa_enrolled: !invited && rng.random_range(0..100) < 15,
            mfa_last_step: None,
            super_admin: false,
            security_stamp: new_security_stamp(),
            created_at: at,
            updated_at: at,
            last_signin_at: None,
            theme: None,
        };
        let profile = users::new_profile(project_id, kind, first, last, Some(&email));
        let signed_in = !invited && rng.random_range(0..100) < 85;
        let membership = Membership {
            admin: kind == ProfileType::Practitioner && rng.random_range(0..100) < 3,
            status: if invited {
                MembershipStatus::Invited
            } else {
                MembershipStatus::Active
            },
            access_policy_id: match kind {
                ProfileType::Patient => policies.last().cloned(),
                _ if rng.random_range(0..100) < 30 => policies.first().cloned(),
                _ => None,
            },
            last_signin_at: signed_in
                .then(|| at - Duration::minutes(rng.random_range(1..60 * 24 * 365))),
            ..users::person_membership(project_id, &user, &profile)
        };
        Person {
            user,
            profile,
            membership,
        }
    }
}

/// One batch, inside the caller's transaction. Multi-row inserts go through the concrete
/// connections: the connection enum cannot batch a `Vec`.
fn insert(conn: &mut DbConn, people: &[Person]) -> Result<(), ServiceError> {
    let users: Vec<&User> = people.iter().map(|p| &p.user).collect();
    let profiles: Vec<&Profile> = people.iter().map(|p| &p.profile).collect();
    let memberships: Vec<&Membership> = people.iter().map(|p| &p.membership).collect();
    macro_rules! insert_all {
        ($c:expr) => {{
            diesel::insert_into(users_t::table)
                .values(users)
                .execute($c)?;
            diesel::insert_into(profiles::table)
                .values(profiles)
                .execute($c)?;
            diesel::insert_into(memberships::table)
                .values(memberships)
                .execute($c)?;
        }};
    }
    match conn {
        DbConn::Sqlite(c) => insert_all!(c),
        DbConn::Postgres(c) => insert_all!(c),
    }
    Ok(())
}

fn show_progress(done: usize, count: usize) {
    let filled = done * 30 / count;
    eprint!(
        "\r[{}{}] {done}/{count}",
        "#".repeat(filled),
        " ".repeat(30 - filled)
    );
    let _ = std::io::stderr().flush();
}
