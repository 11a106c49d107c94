//! Access policies of a project: named rule sets that memberships point to.

use crate::services::Conflict;
use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::audit::Acting;
use super::audit::{self, Target};
use super::{ServiceError, new_id, now};
use crate::db::models::{AccessPolicy, AccessPolicyRule, Membership, Project};
use crate::db::schema::{
    access_policies, access_policy_rules, client_applications, memberships, profiles,
};
use crate::db::{self, DbConn};
use crate::domain::{Criteria, PolicyRule, ReadAccess, read_access};

/// Decides whether a member who is not an admin may read this profile, by their access policy.
pub fn read_access_of(
    conn: &mut DbConn,
    member: &Membership,
    resource_type: &str,
    id: &str,
) -> Result<ReadAccess, ServiceError> {
    let Some(policy_id) = &member.access_policy_id else {
        // As in Medplum: a member without an access policy may read the whole project.
        return Ok(ReadAccess::Allowed);
    };
    let (_, rules) = super::lookup::access_policy(conn, &member.project_id, policy_id)?;
    let rules: Vec<(String, Option<Criteria>)> = rules
        .into_iter()
        .map(|r| {
            let criteria = Criteria::parse(r.criteria.as_deref().unwrap_or(""))
                .ok()
                .flatten();
            (r.resource_type, criteria)
        })
        .collect();
    let own = member.profile_type.zip(member.profile_id.as_deref());
    Ok(read_access(&rules, own, resource_type, id))
}

pub struct PolicySummary {
    pub id: String,
    pub name: String,
    pub rules: i64,
    pub members: i64,
}

/// Refuses a policy id that is not one of this project's, as an error on `field`.
pub fn ensure_in_project(
    conn: &mut DbConn,
    project_id: &str,
    policy_id: &str,
    field: &str,
) -> Result<(), ServiceError> {
    let found: i64 = access_policies::table
        .filter(access_policies::id.eq(policy_id))
        .filter(access_policies::project_id.eq(project_id))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(ServiceError::invalid(
            field,
            "Choose an access policy of this project",
        ));
    }
    Ok(())
}

/// Id and name of each policy, for select boxes.
pub fn options(conn: &mut DbConn, project_id: &str) -> Result<Vec<(String, String)>, ServiceError> {
    Ok(access_policies::table
        .filter(access_policies::project_id.eq(project_id))
        .order((access_policies::name.asc(), access_policies::id.asc()))
        .select((access_policies::id, access_policies::name))
        .load(conn)?)
}

/// Three queries whatever the number of policies.
pub fn list(conn: &mut DbConn, project_id: &str) -> Result<Vec<PolicySummary>, ServiceError> {
    let policies = options(conn, project_id)?;
    let rules: HashMap<String, i64> = access_policy_rules::table
        .inner_join(access_policies::table)
        .filter(access_policies::project_id.eq(project_id))
        .group_by(access_policy_rules::policy_id)
        .select((access_policy_rules::policy_id, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let members: HashMap<String, i64> = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::access_policy_id.is_not_null())
        .group_by(memberships::access_policy_id)
        .select((memberships::access_policy_id, count_star()))
        .load::<(Option<String>, i64)>(conn)?
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect();
    Ok(policies
        .into_iter()
        .map(|(id, name)| PolicySummary {
            rules: rules.get(&id).copied().unwrap_or(0),
            members: members.get(&id).copied().unwrap_or(0),
            id,
            name,
        })
        .collect())
}

pub struct PolicyDetail {
    pub policy: AccessPolicy,
    pub rules: Vec<AccessPolicyRule>,
    /// Everyone using the policy: members, then client applications.
    pub used_by: Vec<PolicyUser>,
}

#[derive(Debug, Clone)]
pub struct PolicyUser {
    pub membership_id: String,
    pub name: String,
    /// Set when the user of the policy is a client application.
    pub client_id: Option<String>,
}

/// A policy of this project and its rules in order: the one read path of the policy page and
/// the API's `AccessPolicy` read. Another project's policy is not found.
pub fn with_rules(
    conn: &mut DbConn,
    project_id: &str,
    id: &str,
) -> Result<(AccessPolicy, Vec<AccessPolicyRule>), ServiceError> {
    let policy = access_policies::table
        .filter(access_policies::id.eq(id))
        .filter(access_policies::project_id.eq(project_id))
        .select(AccessPolicy::as_select())
        .first::<AccessPolicy>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    let rules = access_policy_rules::table
        .filter(access_policy_rules::policy_id.eq(id))
        .order(access_policy_rules::position.asc())
        .select(AccessPolicyRule::as_select())
        .load(conn)?;
    Ok((policy, rules))
}

/// Every policy of the project with its rules, by name: two queries.
pub fn all_with_rules(
    conn: &mut DbConn,
    project_id: &str,
) -> Result<Vec<(AccessPolicy, Vec<AccessPolicyRule>)>, ServiceError> {
    let policies: Vec<AccessPolicy> = access_policies::table
        .filter(access_policies::project_id.eq(project_id))
        .order((access_policies::name.asc(), access_policies::id.asc()))
        .select(AccessPolicy::as_select())
        .load(conn)?;
    let mut rules: HashMap<String, Vec<AccessPolicyRule>> = HashMap::new();
    for rule in access_policy_rules::table
        .inner_join(access_policies::table)
        .filter(access_policies::project_id.eq(project_id))
        .order(access_policy_rules::position.asc())
        .select(AccessPolicyRule::as_select())
        .load::<AccessPolicyRule>(conn)?
    {
        rules.entry(rule.policy_id.clone()).or_default().push(rule);
    }
    Ok(policies
        .into_iter()
        .map(|p| {
            let r = rules.remove(&p.id).unwrap_or_default();
            (p, r)
        })
        .collect())
}

pub fn get(conn: &mut DbConn, project_id: &str, id: &str) -> Result<PolicyDetail, ServiceError> {
    let (policy, rules) = with_rules(conn, project_id, id)?;
    let people: Vec<(String, String)> = memberships::table
        .inner_join(profiles::table)
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::access_policy_id.eq(id))
        .order((profiles::last_name.asc(), profiles::first_name.asc()))
        .select((
            memberships::id,
            profiles::first_name.concat(" ").concat(profiles::last_name),
        ))
        .limit(200)
        .load(conn)?;
    let clients: Vec<(String, String, String)> = memberships::table
        .inner_join(client_applications::table)
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::access_policy_id.eq(id))
        .order(client_applications::name.asc())
        .select((
            memberships::id,
            client_applications::name,
            client_applications::id,
        ))
        .limit(200)
        .load(conn)?;
    let used_by = people
        .into_iter()
        .map(|(membership_id, name)| PolicyUser {
            membership_id,
            name,
            client_id: None,
        })
        .chain(
            clients
                .into_iter()
                .map(|(membership_id, name, client_id)| PolicyUser {
                    membership_id,
                    name: format!("{name} (client application)"),
                    client_id: Some(client_id),
                }),
        )
        .collect();
    Ok(PolicyDetail {
        policy,
        rules,
        used_by,
    })
}

fn write_rules(
    conn: &mut DbConn,
    policy_id: &str,
    rules: &[PolicyRule],
) -> Result<(), ServiceError> {
    diesel::delete(access_policy_rules::table.filter(access_policy_rules::policy_id.eq(policy_id)))
        .execute(conn)?;
    for (i, rule) in rules.iter().enumerate() {
        let row = AccessPolicyRule {
            id: new_id(),
            policy_id: policy_id.to_owned(),
            position: i32::try_from(i).unwrap_or(i32::MAX),
            resource_type: rule.resource_type.clone(),
            read_only: rule.read_only,
            criteria: rule.criteria.map(|c| c.as_str().to_owned()),
        };
        diesel::insert_into(access_policy_rules::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

/// Creates (`id` `None`) or replaces a policy. Returns its id.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), id = ?id))]
pub fn save(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    id: Option<&str>,
    name: &str,
    rules: &[PolicyRule],
) -> Result<String, ServiceError> {
    db::transaction(conn, |conn| {
        let at = now();
        let (policy_id, action) = match id {
            Some(id) => {
                let existing = get(conn, &project.id, id)?;
                diesel::update(access_policies::table.find(id))
                    .set((
                        access_policies::name.eq(name),
                        access_policies::updated_at.eq(at),
                    ))
                    .execute(conn)?;
                (existing.policy.id, "policy.updated")
            }
            None => {
                let policy = AccessPolicy {
                    id: new_id(),
                    project_id: project.id.clone(),
                    name: name.to_owned(),
                    created_at: at,
                    updated_at: at,
                };
                diesel::insert_into(access_policies::table)
                    .values(&policy)
                    .execute(conn)?;
                (policy.id, "policy.created")
            }
        };
        write_rules(conn, &policy_id, rules)?;
        let summary = rules
            .iter()
            .map(|r| {
                format!(
                    "{}{}{}",
                    r.resource_type,
                    if r.read_only { " (read-only)" } else { "" },
                    r.criteria
                        .map(|c| format!(" [{}]", c.as_str()))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        audit::record(
            conn,
            Some(&project.id),
            by,
            action,
            Some(Target {
                kind: "AccessPolicy",
                id: &policy_id,
                display: name,
            }),
            &summary,
        )?;
        Ok(policy_id)
    })
}

/// Deletes a policy nobody uses; otherwise says who still does.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), id = %id))]
pub fn delete(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    id: &str,
) -> Result<String, ServiceError> {
    db::transaction(conn, |conn| {
        let detail = get(conn, &project.id, id)?;
        if !detail.used_by.is_empty() {
            let names = detail.used_by.iter().map(|u| u.name.clone()).collect();
            return Err(ServiceError::Conflict(Conflict::PolicyInUse(names)));
        }
        diesel::delete(access_policies::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            Some(&project.id),
            by,
            "policy.deleted",
            Some(Target {
                kind: "AccessPolicy",
                id,
                display: &detail.policy.name,
            }),
            "",
        )?;
        Ok(detail.policy.name)
    })
}
