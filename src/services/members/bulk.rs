//! One action on many members: each member in a transaction of their own, through the same
//! service as the member page, so the owner and last-admin rules and the audit log (one event
//! per member) hold for the whole batch; a member the rules refuse is reported, not changed.

use diesel::prelude::*;

use super::{Acting, adjust, remove, resend_invite, set_active};
use crate::config::Limits;
use crate::db::DbConn;
use crate::db::models::Project;
use crate::db::schema::{memberships, profiles};
use crate::domain::ProfileType;
use crate::services::ServiceError;

/// Members one batch may hold: larger selections are narrowed with filters first.
pub const MAX: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Suspend,
    Reactivate,
    MakeAdmin,
    RemoveAdmin,
    /// `None`: no access policy.
    Policy(Option<String>),
    ResendInvitation,
    Remove,
}

impl Action {
    /// The action a form names (`policy` with the chosen policy, or empty for none).
    pub fn parse(name: &str, policy: &str) -> Option<Action> {
        Some(match name {
            "suspend" => Action::Suspend,
            "reactivate" => Action::Reactivate,
            "make-admin" => Action::MakeAdmin,
            "remove-admin" => Action::RemoveAdmin,
            "policy" => Action::Policy(Some(policy.trim().to_owned()).filter(|p| !p.is_empty())),
            "resend" => Action::ResendInvitation,
            "remove" => Action::Remove,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Action::Suspend => "suspend",
            Action::Reactivate => "reactivate",
            Action::MakeAdmin => "make-admin",
            Action::RemoveAdmin => "remove-admin",
            Action::Policy(_) => "policy",
            Action::ResendInvitation => "resend",
            Action::Remove => "remove",
        }
    }

    /// Destroys something that cannot simply be set back.
    pub fn is_destructive(&self) -> bool {
        matches!(self, Action::Remove)
    }
}

/// A member of the batch, as the confirmation and the result name them.
#[derive(Debug, Clone)]
pub struct Named {
    pub membership_id: String,
    pub name: String,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<Named>,
    /// With the reason, in the words of the member page.
    pub refused: Vec<(Named, String)>,
}

/// The members of this project (of these profile types) among `ids`, named, in the order
/// given; ids of other projects or tabs are dropped.
pub fn named(
    conn: &mut DbConn,
    project_id: &str,
    types: &[ProfileType],
    ids: &[String],
) -> Result<Vec<Named>, ServiceError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String)> = memberships::table
            .inner_join(profiles::table)
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::profile_type.eq_any(types))
            .filter(memberships::id.eq_any(chunk))
            .select((memberships::id, profiles::first_name, profiles::last_name))
            .load(conn)?;
        found.extend(rows);
    }
    let place: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    found.sort_by_key(|(id, _, _)| place.get(id.as_str()).copied());
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found
        .into_iter()
        .map(|(membership_id, first, last)| Named {
            membership_id,
            name: format!("{first} {last}").trim().to_owned(),
        })
        .collect())
}

/// Applies `action` to each member, one transaction each.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), members = members.len()))]
pub fn apply(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    action: &Action,
    members: Vec<Named>,
    base_url: &str,
    limits: &Limits,
) -> Result<Outcome, ServiceError> {
    if let Action::Policy(Some(policy)) = action {
        crate::services::policies::ensure_in_project(conn, &project.id, policy, "accessPolicy")?;
    }
    let mut outcome = Outcome::default();
    for member in members {
        let id = member.membership_id.as_str();
        let result = match action {
            Action::Suspend => set_active(conn, project, by, id, false).map(drop),
            Action::Reactivate => set_active(conn, project, by, id, true).map(drop),
            Action::MakeAdmin => adjust(conn, project, by, id, |c| c.admin = true).map(drop),
            Action::RemoveAdmin => adjust(conn, project, by, id, |c| c.admin = false).map(drop),
            Action::Policy(policy) => adjust(conn, project, by, id, |c| {
                c.access_policy_id = policy.clone()
            })
            .map(drop),
            Action::ResendInvitation => {
                resend_invite(conn, project, by, id, base_url, limits).map(drop)
            }
            Action::Remove => remove(conn, project, by, id).map(drop),
        };
        match result {
            Ok(()) => outcome.done.push(member),
            Err(e) => match refusal(&e) {
                Some(reason) => outcome.refused.push((member, reason)),
                None => return Err(e),
            },
        }
    }
    Ok(outcome)
}

/// Why one member was refused, or `None` for a failure that should stop the batch.
fn refusal(e: &ServiceError) -> Option<String> {
    match e {
        ServiceError::Conflict(c) => Some(c.to_string()),
        ServiceError::Forbidden(why) => Some(why.clone()),
        ServiceError::NotFound => Some("No longer a member of this project".into()),
        ServiceError::TooManyRequests(_) => {
            Some("Too many emails to this person for now: try again later".into())
        }
        ServiceError::Invalid(errors) => {
            Some(errors.iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))
        }
        _ => None,
    }
}
