//! Inviting many people at once: a pasted list or a CSV file (UTF-8; comma, semicolon or tab;
//! with or without a header row) read into rows, each checked before anything is written
//! (new account, existing account, already a member, or invalid and why), then each valid row
//! invited through the same `invite` as the form, one transaction per person.

use diesel::prelude::*;

use super::{InviteOutcome, InviteRequest, check_rate, invite};
use crate::config::Limits;
use crate::db::DbConn;
use crate::db::models::Project;
use crate::db::schema::{memberships, users};
use crate::domain::{EmailAddress, PersonName, ProfileType};
use crate::services::ServiceError;
use crate::services::audit::Acting;

/// Rows one list may hold.
pub const MAX_ROWS: usize = 1_000;

/// One person as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line (or CSV record) it came from, counting from 1.
    pub line: usize,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
}

/// What inviting a row would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    NewAccount,
    /// An account exists with this address: it is invited to accept (or, the project's own
    /// account, added).
    ExistingAccount,
    AlreadyMember,
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Checked {
    pub row: Row,
    pub check: Check,
    /// A likely misspelt address ("did you mean"): invited as typed all the same.
    pub warning: Option<String>,
    /// The row parsed, when it is valid.
    parsed: Option<(ProfileType, PersonName, PersonName, EmailAddress)>,
}

impl Checked {
    pub fn is_valid(&self) -> bool {
        matches!(self.check, Check::NewAccount | Check::ExistingAccount)
    }
}

/// Which column holds what.
struct Columns {
    email: usize,
    first: usize,
    last: usize,
    role: Option<usize>,
}

fn delimiter(text: &str) -> u8 {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |c: char| first.matches(c).count();
    if count('\t') > 0 && count('\t') >= count(',') {
        b'\t'
    } else if count(';') > count(',') {
        b';'
    } else {
        b','
    }
}

/// A header row names its columns (and holds no address); else the order is email, first
/// name, last name, role.
fn header(fields: &[String]) -> Option<Columns> {
    if fields.iter().any(|f| f.contains('@')) {
        return None;
    }
    let find = |words: &[&str]| {
        fields.iter().position(|f| {
            let f = f.to_lowercase().replace(['_', '-', ' '], "");
            words.iter().any(|w| f.contains(w))
        })
    };
    Some(Columns {
        email: find(&["mail"])?,
        first: find(&["first", "given"])?,
        last: find(&["last", "family", "surname"])?,
        role: find(&["role", "type"]),
    })
}

/// Reads the list. Refused as a whole only when it is not text a CSV reader can read, or
/// has more than `MAX_ROWS` people.
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter(text))
        .from_reader(text.as_bytes());
    let mut columns = None;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        // Where the next record starts (the reader skips blank lines).
        let before = reader.position().line() as usize;
        let more = reader
            .read_record(&mut record)
            .map_err(|e| format!("The list could not be read near line {before}: {e}"))?;
        if !more {
            break;
        }
        let fields: Vec<String> = record.iter().map(str::to_owned).collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        // Counted from the record's byte offset: the reader's own line count skips blank lines.
        let line = record.position().map_or(before, |p| {
            let bytes = text.as_bytes();
            let mut at = (p.byte() as usize).min(bytes.len());
            // A record read after blank lines starts at the first of them.
            while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
                at += 1;
            }
            bytes[..at].iter().filter(|b| **b == b'\n').count() + 1
        });
        if columns.is_none() && rows.is_empty() {
            if let Some(found) = header(&fields) {
                columns = Some(found);
                continue;
            }
        }
        let c = columns.get_or_insert(Columns {
            email: 0,
            first: 1,
            last: 2,
            role: Some(3),
        });
        let get = |at: Option<usize>| at.and_then(|n| fields.get(n)).cloned().unwrap_or_default();
        rows.push(Row {
            line,
            email: get(Some(c.email)),
            first_name: get(Some(c.first)),
            last_name: get(Some(c.last)),
            role: get(c.role),
        });
        if rows.len() > MAX_ROWS {
            return Err(format!(
                "At most {MAX_ROWS} people at once: split the list and invite the rest after."
            ));
        }
    }
    Ok(rows)
}

fn role(text: &str, default: ProfileType) -> Result<ProfileType, String> {
    let t = text.to_lowercase().replace([' ', '_', '-'], "");
    match t.as_str() {
        "" => Ok(default),
        "practitioner" | "user" | "staff" => Ok(ProfileType::Practitioner),
        "patient" => Ok(ProfileType::Patient),
        "relatedperson" | "related" => Ok(ProfileType::RelatedPerson),
        _ => Err(format!(
            "Role “{text}” is not Practitioner, Patient or RelatedPerson"
        )),
    }
}

/// Checks every row against the project, writing nothing.
pub fn check(
    conn: &mut DbConn,
    project: &Project,
    rows: Vec<Row>,
    default_role: ProfileType,
) -> Result<Vec<Checked>, ServiceError> {
    let mut seen = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut problems = Vec::new();
        let email = EmailAddress::parse_new(&row.email)
            .map_err(|m| problems.push(m))
            .ok();
        let first = PersonName::parse(&row.first_name, "first name")
            .map_err(|m| problems.push(m))
            .ok();
        let last = PersonName::parse(&row.last_name, "last name")
            .map_err(|m| problems.push(m))
            .ok();
        let kind = role(&row.role, default_role)
            .map_err(|m| problems.push(m))
            .ok();
        if let Some(email) = &email
            && let Some(earlier) = seen.insert(email.as_str().to_owned(), row.line)
        {
            problems.push(format!("Listed twice (also on line {earlier})"));
        }
        let warning = email
            .as_ref()
            .and_then(EmailAddress::likely_typo)
            .map(|s| format!("Did you mean {s}?"));
        let (check, parsed) = match (email, first, last, kind) {
            (Some(email), Some(first), Some(last), Some(kind)) if problems.is_empty() => (
                standing(conn, project, &email)?,
                Some((kind, first, last, email)),
            ),
            _ => (Check::Invalid(problems.join("; ")), None),
        };
        out.push(Checked {
            row,
            check,
            warning,
            parsed,
        });
    }
    Ok(out)
}

/// Whether this address is a member already, has an account, or neither.
fn standing(
    conn: &mut DbConn,
    project: &Project,
    email: &EmailAddress,
) -> Result<Check, ServiceError> {
    let accounts: Vec<String> = users::table
        .filter(users::email.eq(email.as_str()))
        .filter(
            users::project_id
                .is_null()
                .or(users::project_id.eq(&project.id)),
        )
        .select(users::id)
        .load(conn)?;
    if accounts.is_empty() {
        return Ok(Check::NewAccount);
    }
    let members: i64 = memberships::table
        .filter(memberships::project_id.eq(&project.id))
        .filter(memberships::user_id.eq_any(&accounts))
        .count()
        .get_result(conn)?;
    Ok(if members > 0 {
        Check::AlreadyMember
    } else {
        Check::ExistingAccount
    })
}

/// What became of one row.
pub struct Invited {
    pub row: Row,
    pub outcome: Result<InviteOutcome, String>,
}

/// Invites every valid row, each through `invite` in its own transaction and counted by the
/// invite limits like a form's invite; rows the checks or the limits refuse are reported.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(project = %project.id, rows = rows.len()))]
pub fn invite_all(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    rows: Vec<Checked>,
    send_email: bool,
    base_url: &str,
    limits: &Limits,
    rate_key: &str,
) -> Result<Vec<Invited>, ServiceError> {
    let mut out = Vec::with_capacity(rows.len());
    for checked in rows {
        let Some((profile_type, first_name, last_name, email)) = checked.parsed.clone() else {
            let reason = match &checked.check {
                Check::Invalid(why) => why.clone(),
                Check::AlreadyMember => "Already a member of this project".to_owned(),
                _ => "Not valid".to_owned(),
            };
            out.push(Invited {
                row: checked.row,
                outcome: Err(reason),
            });
            continue;
        };
        if checked.check == Check::AlreadyMember {
            out.push(Invited {
                row: checked.row,
                outcome: Err("Already a member of this project".into()),
            });
            continue;
        }
        if let Err(e) = check_rate(conn, limits, rate_key, by.meta.ip.as_deref()) {
            let reason = match e {
                ServiceError::TooManyRequests(_) => {
                    "Not invited: the limit of invites an hour was reached; invite this person later".to_owned()
                }
                other => return Err(other),
            };
            out.push(Invited {
                row: checked.row,
                outcome: Err(reason),
            });
            continue;
        }
        let request = InviteRequest {
            profile_type,
            first_name,
            last_name,
            email: Some(email),
            access_policy_id: None,
            send_email,
            admin: false,
            scope: None,
            mfa_required: false,
            external_id: None,
            upsert: false,
        };
        let outcome = match invite(conn, project, by, request, base_url, limits) {
            Ok(done) => Ok(done),
            Err(ServiceError::Conflict(c)) => Err(c.to_string()),
            Err(ServiceError::Invalid(errors)) => {
                Err(errors.iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))
            }
            Err(ServiceError::TooManyRequests(_)) => {
                Err("Too many emails to this address for now; invite this person later".into())
            }
            Err(other) => return Err(other),
        };
        out.push(Invited {
            row: checked.row,
            outcome,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_list_reads_by_position_and_a_csv_by_its_header() {
        let pasted = "grace@example.com, Grace, Hopper\nlin@example.com, Lin, Wu\n\nada@example.com,Ada,Lovelace,Patient\n";
        let rows = parse(pasted).unwrap();
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 2, 4], "line numbers count blank lines too");
        let rows = [rows[0].clone(), rows[2].clone()];
        assert_eq!(rows[0].email, "grace@example.com");
        assert_eq!(rows[0].first_name, "Grace");
        assert_eq!(rows[1].role, "Patient");

        let csv = "\u{feff}Last name;First name;E-mail;Role\nHopper;Grace;grace@example.com;\n\"Lovelace; Countess\";Ada;ada@example.com;RelatedPerson\n";
        let rows = parse(csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email, "grace@example.com");
        assert_eq!(rows[1].last_name, "Lovelace; Countess");
        assert_eq!(rows[1].role, "RelatedPerson");
        assert_eq!(rows[1].line, 3);
    }

    #[test]
    fn a_list_longer_than_the_limit_is_refused_whole() {
        let long: String = (0..=MAX_ROWS)
            .map(|i| format!("p{i}@example.com,P,{i}\n"))
            .collect();
        assert!(parse(&long).unwrap_err().contains("At most 1000"));
    }

    #[test]
    fn roles_are_read_loosely_and_refused_clearly() {
        assert_eq!(role("", ProfileType::Patient), Ok(ProfileType::Patient));
        assert_eq!(
            role("related person", ProfileType::Practitioner),
            Ok(ProfileType::RelatedPerson)
        );
        assert!(
            role("doctor", ProfileType::Practitioner)
                .unwrap_err()
                .contains("doctor")
        );
    }
}
