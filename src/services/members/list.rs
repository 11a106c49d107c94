//! The Users and Patients lists: one page in index order, and its total.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::PAGE_SIZE;
use crate::db::DbConn;
use crate::db::schema::{access_policies, memberships, profiles, users};
use crate::domain::{MembershipStatus, ProfileType};
use crate::services::ServiceError;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// Practitioners and related persons: the Users tab.
    People,
    Patients,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    Email,
}

pub struct ListQuery {
    pub kind: MemberKind,
    pub q: Option<String>,
    pub admin_only: bool,
    pub sort: SortKey,
    /// Opaque keyset cursor from a previous page.
    pub after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub membership_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub resource_type: String,
    pub admin: bool,
    pub policy_name: Option<String>,
    pub status: MembershipStatus,
    pub mfa_enrolled: bool,
    pub mfa_required: bool,
    pub last_signin_at: Option<NaiveDateTime>,
    pub photo_url: Option<String>,
}

pub struct MemberPage {
    pub rows: Vec<MemberRow>,
    pub total: i64,
    pub next: Option<String>,
}

/// One row as read: the membership, its profile, the account's state and the policy's name.
#[derive(Queryable)]
struct Listed {
    membership_id: String,
    profile_id: String,
    first_name: String,
    last_name: String,
    email: Option<String>,
    resource_type: String,
    admin: bool,
    policy_name: Option<String>,
    status: MembershipStatus,
    mfa_enrolled: bool,
    mfa_required: bool,
    last_signin_at: Option<NaiveDateTime>,
    photo_updated_at: Option<NaiveDateTime>,
}

impl Listed {
    fn into_row(self) -> MemberRow {
        // Until the person accepts, the project sees nothing of their account.
        let sees = self.status == MembershipStatus::Active;
        MemberRow {
            photo_url: self
                .photo_updated_at
                .map(|at| super::super::auth::photo_url(&self.profile_id, at)),
            membership_id: self.membership_id,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email.unwrap_or_default(),
            resource_type: self.resource_type,
            admin: self.admin,
            policy_name: self.policy_name,
            mfa_enrolled: sees && self.mfa_enrolled,
            mfa_required: self.mfa_required,
            last_signin_at: self.last_signin_at.filter(|_| sees),
            status: self.status,
        }
    }

    fn cursor(&self, sort: SortKey) -> String {
        let parts: Vec<&str> = match sort {
            SortKey::Name => vec![&self.last_name, &self.first_name, &self.profile_id],
            SortKey::Email => vec![self.email.as_deref().unwrap_or(""), &self.profile_id],
        };
        hex::encode(serde_json::to_vec(&parts).unwrap_or_default())
    }
}

fn decode_cursor(cursor: &str) -> Option<Vec<String>> {
    serde_json::from_slice(&hex::decode(cursor).ok()?).ok()
}

type Backend = <DbConn as Connection>::Backend;
type Condition<QS> = Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>>;

/// The search: name or email contains `pattern` (lower-cased, `LIKE`-escaped), on any query
/// that has the profiles in it. The count and the page use this one condition.
fn name_or_email_like<QS>(pattern: &str) -> Condition<QS>
where
    profiles::first_name: SelectableExpression<QS>,
    profiles::last_name: SelectableExpression<QS>,
    diesel::helper_types::AssumeNotNull<profiles::email>: SelectableExpression<QS>,
{
    Box::new(
        lower(profiles::first_name.concat(" ").concat(profiles::last_name))
            .like(pattern.to_owned())
            .escape('\\')
            .or(lower(profiles::email.assume_not_null())
                .like(pattern.to_owned())
                .escape('\\')),
    )
}

/// The rows of one page (one query) and the total (one count query). The rows are read in
/// the order of the profiles' (project, name) or (project, email) index and stop after a page,
/// so a page costs the same with fifty members or a hundred thousand.
#[tracing::instrument(skip_all, fields(project = %project_id))]
pub fn list(
    conn: &mut DbConn,
    project_id: &str,
    query: &ListQuery,
) -> Result<MemberPage, ServiceError> {
    let types: &[ProfileType] = match query.kind {
        MemberKind::People => &[ProfileType::Practitioner, ProfileType::RelatedPerson],
        MemberKind::Patients => &[ProfileType::Patient],
    };
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| format!("%{}%", super::super::auth::escape_like(&q.to_lowercase())));
    let total = count(
        conn,
        project_id,
        types,
        query.admin_only,
        pattern.as_deref(),
    )?;

    let mut rows_query = memberships::table
        .inner_join(profiles::table)
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .left_join(access_policies::table)
        .filter(profiles::project_id.eq(project_id))
        .filter(memberships::project_id.eq(project_id))
        .filter(profiles::resource_type.eq_any(types))
        .select((
            memberships::id,
            profiles::id,
            profiles::first_name,
            profiles::last_name,
            profiles::email,
            profiles::resource_type,
            memberships::admin,
            access_policies::name.nullable(),
            memberships::status,
            users::mfa_enrolled,
            memberships::mfa_required,
            users::last_signin_at,
            profiles::photo_updated_at,
        ))
        .into_boxed();
    if query.admin_only {
        rows_query = rows_query.filter(memberships::admin.eq(true));
    }
    if let Some(p) = &pattern {
        rows_query = rows_query.filter(name_or_email_like(p));
    }
    let cursor = query.after.as_deref().and_then(decode_cursor);
    match query.sort {
        SortKey::Name => {
            if let Some([last, first, id]) = cursor.as_deref() {
                // The redundant `>=` lets the planner start the index walk at the cursor
                // (an OR of three ranges alone makes SQLite sort everything).
                rows_query = rows_query.filter(profiles::last_name.ge(last.clone()));
                rows_query = rows_query.filter(
                    profiles::last_name
                        .gt(last.clone())
                        .or(profiles::last_name
                            .eq(last.clone())
                            .and(profiles::first_name.gt(first.clone())))
                        .or(profiles::last_name
                            .eq(last.clone())
                            .and(profiles::first_name.eq(first.clone()))
                            .and(profiles::id.gt(id.clone()))),
                );
            }
            rows_query = rows_query.order((
                profiles::last_name.asc(),
                profiles::first_name.asc(),
                profiles::id.asc(),
            ));
        }
        SortKey::Email => {
            if let Some([email, id]) = cursor.as_deref() {
                rows_query = rows_query.filter(profiles::email.assume_not_null().ge(email.clone()));
                rows_query = rows_query.filter(
                    profiles::email
                        .assume_not_null()
                        .gt(email.clone())
                        .or(profiles::email
                            .assume_not_null()
                            .eq(email.clone())
                            .and(profiles::id.gt(id.clone()))),
                );
            }
            rows_query = rows_query.order((profiles::email.asc(), profiles::id.asc()));
        }
    }
    let mut loaded: Vec<Listed> = rows_query.limit(PAGE_SIZE + 1).load(conn)?;
    let more = loaded.len() as i64 > PAGE_SIZE;
    loaded.truncate(PAGE_SIZE as usize);
    let next = match (more, loaded.last()) {
        (true, Some(last)) => Some(last.cursor(query.sort)),
        _ => None,
    };
    Ok(MemberPage {
        rows: loaded.into_iter().map(Listed::into_row).collect(),
        total,
        next,
    })
}

/// How many members the list has in all. Without a search the count needs only the
/// memberships' (project, type, admin) index.
fn count(
    conn: &mut DbConn,
    project_id: &str,
    types: &[ProfileType],
    admin_only: bool,
    pattern: Option<&str>,
) -> Result<i64, ServiceError> {
    Ok(match pattern {
        None => {
            let mut count = memberships::table
                .filter(memberships::project_id.eq(project_id))
                .filter(memberships::profile_type.eq_any(types))
                .into_boxed();
            if admin_only {
                count = count.filter(memberships::admin.eq(true));
            }
            count.count().get_result(conn)?
        }
        Some(p) => {
            let mut count = memberships::table
                .inner_join(profiles::table)
                .filter(memberships::project_id.eq(project_id))
                .filter(memberships::profile_type.eq_any(types))
                .filter(name_or_email_like(p))
                .into_boxed();
            if admin_only {
                count = count.filter(memberships::admin.eq(true));
            }
            count.count().get_result(conn)?
        }
    })
}
