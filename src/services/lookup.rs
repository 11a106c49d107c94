//! Reads for the JSON API: memberships with the names their references show, member search,
//! and single records by id. Every read is limited to one project.

use std::collections::HashMap;

use diesel::prelude::*;

use super::ServiceError;
use crate::db::models::{
    AccessPolicy, AccessPolicyRule, ClientApplication, Membership, Profile, User,
};
use crate::db::schema::{client_applications, memberships, profiles, users};
use crate::db::{DbConn, MultiBackend};

pub const DEFAULT_COUNT: i64 = 20;
pub const MAX_COUNT: i64 = 1000;
/// What a membership held by a client application reports as its profile type.
pub const CLIENT_TYPE: &str = "ClientApplication";

/// A membership with what its references display.
#[derive(Debug, Clone)]
pub struct MembershipView {
    pub membership: Membership,
    /// The user's email (empty for members invited by externalId only).
    pub user_email: Option<String>,
    pub profile: Option<ProfileName>,
    pub client_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ProfileName {
    pub id: String,
    pub resource_type: String,
    pub first_name: String,
    pub last_name: String,
}

/// Search parameters of `ProjectMembership`, already parsed.
#[derive(Debug, Clone, Default)]
pub struct MembershipSearch {
    pub profile_types: Option<Vec<String>>,
    pub not_profile_types: Option<Vec<String>>,
    pub user: Option<String>,
    pub profile: Option<String>,
    pub admin: Option<bool>,
    pub count: i64,
    pub offset: i64,
    /// `project=` named another project: nothing matches.
    pub nothing: bool,
    /// `_sort`: the field and whether descending; by creation otherwise.
    pub sort: Option<(MembershipSort, bool)>,
}

/// What membership search sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipSort {
    LastUpdated,
    Created,
    Id,
}

type Query<'a> = memberships::BoxedQuery<'a, MultiBackend>;

fn type_filter(types: &[String]) -> (Vec<String>, bool) {
    let client = types.iter().any(|t| t == CLIENT_TYPE);
    let people = types
        .iter()
        .filter(|t| *t != CLIENT_TYPE)
        .cloned()
        .collect();
    (people, client)
}

fn filtered<'a>(project_id: &'a str, search: &'a MembershipSearch) -> Query<'a> {
    let mut query = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .into_boxed();
    if let Some(types) = &search.profile_types {
        let (people, client) = type_filter(types);
        query = if client {
            query.filter(
                memberships::profile_type
                    .eq_any(people)
                    .or(memberships::client_id.is_not_null()),
            )
        } else {
            query.filter(memberships::profile_type.eq_any(people))
        };
    }
    if let Some(types) = &search.not_profile_types {
        let (people, client) = type_filter(types);
        query = query.filter(
            memberships::profile_type
                .ne_all(people)
                .or(memberships::profile_type.is_null()),
        );
        if client {
            query = query.filter(memberships::client_id.is_null());
        }
    }
    if let Some(user) = &search.user {
        query = query.filter(
            memberships::user_id
                .eq(user)
                .or(memberships::client_id.eq(user)),
        );
    }
    if let Some(profile) = &search.profile {
        query = query.filter(
            memberships::profile_id
                .eq(profile)
                .or(memberships::client_id.eq(profile)),
        );
    }
    if let Some(admin) = search.admin {
        query = query.filter(memberships::admin.eq(admin));
    }
    query
}

/// One page of matches and the total: a count, a page of rows, and one query each for the
/// page's profiles, users and clients, whatever the page size.
pub fn search_memberships(
    conn: &mut DbConn,
    project_id: &str,
    search: &MembershipSearch,
) -> Result<(i64, Vec<MembershipView>), ServiceError> {
    if search.nothing {
        return Ok((0, Vec::new()));
    }
    let total: i64 = filtered(project_id, search).count().get_result(conn)?;
    let query = filtered(project_id, search);
    let query = match search.sort {
        None | Some((MembershipSort::Created, false)) => {
            query.order((memberships::created_at.asc(), memberships::id.asc()))
        }
        Some((MembershipSort::Created, true)) => {
            query.order((memberships::created_at.desc(), memberships::id.desc()))
        }
        Some((MembershipSort::LastUpdated, false)) => {
            query.order((memberships::updated_at.asc(), memberships::id.asc()))
        }
        Some((MembershipSort::LastUpdated, true)) => {
            query.order((memberships::updated_at.desc(), memberships::id.desc()))
        }
        Some((MembershipSort::Id, false)) => query.order(memberships::id.asc()),
        Some((MembershipSort::Id, true)) => query.order(memberships::id.desc()),
    };
    let rows: Vec<Membership> = query
        .limit(search.count)
        .offset(search.offset)
        .select(Membership::as_select())
        .load(conn)?;
    Ok((total, views(conn, rows)?))
}

/// One membership of this project.
/// The project a membership belongs to.
pub fn project_of_membership(conn: &mut DbConn, id: &str) -> Result<String, ServiceError> {
    Ok(memberships::table
        .find(id)
        .select(memberships::project_id)
        .first(conn)?)
}

pub fn membership(
    conn: &mut DbConn,
    project_id: &str,
    id: &str,
) -> Result<MembershipView, ServiceError> {
    let row = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::id.eq(id))
        .select(Membership::as_select())
        .first::<Membership>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    views(conn, vec![row])?.pop().ok_or(ServiceError::NotFound)
}

/// These memberships of this project, in the order of `ids` (others' ids are skipped).
pub fn memberships_by_ids(
    conn: &mut DbConn,
    project_id: &str,
    ids: &[String],
) -> Result<Vec<MembershipView>, ServiceError> {
    let mut rows: Vec<Membership> = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::id.eq_any(ids))
        .select(Membership::as_select())
        .load(conn)?;
    let place: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    rows.sort_by_key(|m| place.get(m.id.as_str()).copied().unwrap_or(usize::MAX));
    views(conn, rows)
}

fn views(conn: &mut DbConn, rows: Vec<Membership>) -> Result<Vec<MembershipView>, ServiceError> {
    let profile_ids: Vec<&String> = rows.iter().filter_map(|m| m.profile_id.as_ref()).collect();
    let client_ids: Vec<&String> = rows.iter().filter_map(|m| m.client_id.as_ref()).collect();
    let names: Vec<(String, String, String, String)> = if profile_ids.is_empty() {
        Vec::new()
    } else {
        profiles::table
            .filter(profiles::id.eq_any(&profile_ids))
            .select((
                profiles::id,
                profiles::resource_type,
                profiles::first_name,
                profiles::last_name,
            ))
            .load(conn)?
    };
    let clients: Vec<(String, String)> = if client_ids.is_empty() {
        Vec::new()
    } else {
        client_applications::table
            .filter(client_applications::id.eq_any(&client_ids))
            .select((client_applications::id, client_applications::name))
            .load(conn)?
    };
    let clients: HashMap<String, String> = clients.into_iter().collect();
    let names: HashMap<String, ProfileName> = names
        .into_iter()
        .map(|(id, resource_type, first_name, last_name)| {
            let name = ProfileName {
                id: id.clone(),
                resource_type,
                first_name,
                last_name,
            };
            (id, name)
        })
        .collect();
    let find = |map: &HashMap<String, String>, id: &Option<String>| {
        id.as_ref().and_then(|id| map.get(id)).cloned()
    };
    Ok(rows
        .into_iter()
        .map(|m| MembershipView {
            // The address the project knows: the invited one until the person accepts (the
            // account's own may have changed since), the account's after.
            user_email: m
                .user_id
                .as_ref()
                .map(|_| m.email.clone())
                .filter(|e| !e.is_empty()),
            client_name: find(&clients, &m.client_id),
            profile: m.profile_id.as_ref().and_then(|id| names.get(id)).cloned(),
            membership: m,
        })
        .collect())
}

/// A profile of this project of the given resource type.
pub fn profile(
    conn: &mut DbConn,
    project_id: &str,
    resource_type: &str,
    id: &str,
) -> Result<Profile, ServiceError> {
    profiles::table
        .filter(profiles::project_id.eq(project_id))
        .filter(profiles::resource_type.eq(resource_type))
        .filter(profiles::id.eq(id))
        .select(Profile::as_select())
        .first(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)
}

pub fn access_policy(
    conn: &mut DbConn,
    project_id: &str,
    id: &str,
) -> Result<(AccessPolicy, Vec<AccessPolicyRule>), ServiceError> {
    super::policies::with_rules(conn, project_id, id)
}

pub fn client(
    conn: &mut DbConn,
    project_id: &str,
    id: &str,
) -> Result<ClientApplication, ServiceError> {
    client_applications::table
        .filter(client_applications::project_id.eq(project_id))
        .filter(client_applications::id.eq(id))
        .select(ClientApplication::as_select())
        .first(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)
}

/// A server-wide user (one that can own projects).
pub fn server_user(conn: &mut DbConn, id: &str) -> Result<User, ServiceError> {
    users::table
        .filter(users::id.eq(id))
        .filter(users::project_id.is_null())
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)
}
