//! The Users and Patients lists. A page is one query that walks an index of the membership
//! rows in the order asked for, from a cursor, and stops after a page; the total comes from
//! the counters (`counts`), or for a search, from the search index. So a page costs the same
//! with fifty members or a hundred thousand.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use super::cursor::{Condition, Cursor, Key, Placed, SortKey};
use super::search::Search;
use crate::db::DbConn;
use crate::db::schema::{access_policies, memberships, profiles};
use crate::domain::{MembershipStatus, ProfileType};
use crate::services::ServiceError;

/// Past this many matches, a search says "1,000+" instead of counting on.
pub const SEARCH_COUNT_CAP: i64 = 1_000;

/// More rows than any list has: where a cursor's offset stops.
const MAX_OFFSET: i64 = 1 << 40;

/// Matches in a list up to which a search reads, counts and orders them all; past it, walking
/// the sort index finds a page sooner (1,500 matches: 14 ms collected, 5 ms walked, at
/// 100,000 members).
const COLLECT: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// Practitioners and related persons: the Users tab.
    People,
    Patients,
}

impl MemberKind {
    pub fn types(self) -> &'static [ProfileType] {
        match self {
            MemberKind::People => &[ProfileType::Practitioner, ProfileType::RelatedPerson],
            MemberKind::Patients => &[ProfileType::Patient],
        }
    }
}

/// What the list is narrowed to. `None` (or `false`) lets everyone through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub status: Option<MembershipStatus>,
    /// Suspended (`false`) or not (`true`): Medplum's `active`.
    pub active: Option<bool>,
    /// One profile type of the tab's (the Users tab has two).
    pub role: Option<ProfileType>,
    pub admin: Option<bool>,
    /// Two-factor authentication on or off, among members who accepted.
    pub mfa: Option<bool>,
    pub never_signed_in: bool,
}

#[derive(Clone)]
pub struct ListQuery {
    pub kind: MemberKind,
    pub q: Option<String>,
    pub filters: Filters,
    pub sort: SortKey,
    pub descending: bool,
    pub cursor: Option<Cursor>,
    /// Rows per page (`PAGE_SIZE` on the tabs; more for an export).
    pub limit: i64,
}

impl ListQuery {
    /// The profile types listed: the tab's, or the one role asked for.
    fn types(&self) -> Vec<ProfileType> {
        match self.filters.role {
            Some(role) if self.kind.types().contains(&role) => vec![role],
            _ => self.kind.types().to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub membership_id: String,
    pub profile_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub resource_type: ProfileType,
    pub admin: bool,
    pub policy_name: Option<String>,
    pub status: MembershipStatus,
    /// `false`: suspended.
    pub active: bool,
    pub mfa_enrolled: bool,
    pub mfa_required: bool,
    pub last_signin_at: Option<NaiveDateTime>,
    pub photo_url: Option<String>,
}

/// How many members match: exactly, or more than the search count's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    Exact(i64),
    AtLeast(i64),
}

pub struct MemberPage {
    pub rows: Vec<MemberRow>,
    pub total: Total,
    /// How many rows come before this page (0 on the first).
    pub offset: i64,
    pub next: Option<Cursor>,
    pub previous: Option<Cursor>,
}

/// One row as read: the membership, its profile's names and photo, and the policy's name.
#[derive(Queryable)]
struct Listed {
    membership_id: String,
    profile_id: String,
    first_name: String,
    last_name: String,
    email: String,
    resource_type: ProfileType,
    admin: bool,
    policy_name: Option<String>,
    status: MembershipStatus,
    active: bool,
    mfa: bool,
    mfa_required: bool,
    last_signin_at: Option<NaiveDateTime>,
    photo_updated_at: Option<NaiveDateTime>,
    sort_first: String,
    sort_last: String,
}

impl Listed {
    fn into_row(self) -> MemberRow {
        // Until the person accepts, the project sees nothing of their account.
        let sees = self.status == MembershipStatus::Active;
        MemberRow {
            photo_url: self
                .photo_updated_at
                .map(|at| crate::services::auth::photo_url(&self.profile_id, at)),
            profile_id: self.profile_id,
            membership_id: self.membership_id,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            resource_type: self.resource_type,
            admin: self.admin,
            policy_name: self.policy_name,
            mfa_enrolled: sees && self.mfa,
            mfa_required: self.mfa_required,
            last_signin_at: self.last_signin_at.filter(|_| sees),
            status: self.status,
            active: self.active,
        }
    }

    fn key(&self, sort: SortKey) -> Key {
        Key::of(
            sort,
            Placed {
                sort_first: &self.sort_first,
                sort_last: &self.sort_last,
                email: &self.email,
                status: self.status,
                last_signin_at: self.last_signin_at,
                id: &self.membership_id,
            },
        )
    }
}

type Backend = <DbConn as Connection>::Backend;
type Joined = diesel::dsl::LeftJoin<
    diesel::dsl::InnerJoin<memberships::table, profiles::table>,
    access_policies::table,
>;
type QS = diesel::dsl::LeftJoinQuerySource<
    diesel::dsl::InnerJoinQuerySource<memberships::table, profiles::table>,
    access_policies::table,
>;
type Matching<'a> = diesel::dsl::IntoBoxed<'a, Joined, Backend>;

/// The project's members of the list's kind that pass the filters, on any query that reads
/// memberships.
fn filtered<QS: 'static>(project_id: &str, query: &ListQuery) -> Vec<Condition<QS>>
where
    memberships::project_id: SelectableExpression<QS>,
    diesel::dsl::AssumeNotNull<memberships::profile_type>: SelectableExpression<QS>,
    memberships::status: SelectableExpression<QS>,
    memberships::active: SelectableExpression<QS>,
    memberships::admin: SelectableExpression<QS>,
    memberships::mfa: SelectableExpression<QS>,
    memberships::last_signin_at: SelectableExpression<QS>,
{
    let f = &query.filters;
    let mut conditions: Vec<Condition<QS>> = vec![
        Box::new(memberships::project_id.eq(project_id.to_owned())),
        // Only client memberships have no profile type, and they are never listed.
        Box::new(
            memberships::profile_type
                .assume_not_null()
                .eq_any(query.types()),
        ),
    ];
    if let Some(status) = f.status {
        conditions.push(Box::new(memberships::status.eq(status)));
    }
    if let Some(active) = f.active {
        conditions.push(Box::new(memberships::active.eq(active)));
    }
    if let Some(admin) = f.admin {
        conditions.push(Box::new(memberships::admin.eq(admin)));
    }
    if let Some(mfa) = f.mfa {
        conditions.push(Box::new(memberships::mfa.eq(mfa)));
        conditions.push(Box::new(memberships::status.eq(MembershipStatus::Active)));
    }
    if f.never_signed_in {
        conditions.push(Box::new(memberships::last_signin_at.is_null()));
    }
    conditions
}

/// The project's members of the list's kind that pass the filters and the search.
fn matching<'a>(project_id: &str, query: &ListQuery, search: &Search) -> Matching<'a> {
    let mut found = memberships::table
        .inner_join(profiles::table)
        .left_join(access_policies::table)
        .into_boxed();
    for condition in filtered::<QS>(project_id, query)
        .into_iter()
        .chain(search.condition::<QS>())
    {
        found = found.filter(condition);
    }
    found
}

/// The list in `sort`'s order. Typed, so that the statement is prepared once per connection
/// and kept (an SQL fragment would make it be parsed and planned on every request); the last
/// sign-in's `NULLS FIRST`, which not every backend's query builder spells, stays SQL.
fn ordered(rows: Matching<'_>, sort: SortKey, ascending: bool) -> Matching<'_> {
    use memberships::{email, id, sort_first, sort_last, status};
    macro_rules! by {
        ($($column:expr),+) => {
            if ascending {
                rows$(.then_order_by($column.asc()))+.then_order_by(id.asc())
            } else {
                rows$(.then_order_by($column.desc()))+.then_order_by(id.desc())
            }
        };
    }
    match sort {
        SortKey::Name => by!(sort_first),
        SortKey::LastName => by!(sort_last),
        SortKey::Email => by!(email),
        SortKey::Status => by!(status, sort_first),
        SortKey::LastSignin => rows.order(sql::<Text>(&sort.order_by(ascending))),
    }
}

/// One page of the list, and where the pages around it start.
pub fn list(
    conn: &mut DbConn,
    project_id: &str,
    query: &ListQuery,
) -> Result<MemberPage, ServiceError> {
    let search = Search::plan(conn, query.q.as_deref())?;
    let (search, total) = if search.counts_first() {
        // The trigram index's own count spans every project and list: this list's share,
        // capped, decides whether its matches are few enough to collect.
        let total = total(conn, project_id, query, &search)?;
        if matches!(total, Total::Exact(n) if n <= COLLECT) {
            return collected(conn, project_id, query, &search);
        }
        (search.walked(), total)
    } else if search.collects() {
        return collected(conn, project_id, query, &search);
    } else {
        let total = total(conn, project_id, query, &search)?;
        (search, total)
    };
    let backward = query.cursor.as_ref().is_some_and(|c| c.backward);
    // A backward page is read in reverse order, then turned around.
    let ascending = query.descending == backward;
    let mut rows = matching(project_id, query, &search);
    if let Some(past) = query
        .cursor
        .as_ref()
        .and_then(|c| c.past(query.sort, ascending))
    {
        rows = rows.filter(past);
    }
    let mut loaded: Vec<Listed> = ordered(rows, query.sort, ascending)
        .select(listed())
        .limit(query.limit + 1)
        .load(conn)?;
    let more = loaded.len() as i64 > query.limit;
    loaded.truncate(query.limit as usize);
    if backward {
        loaded.reverse();
    }
    Ok(page(query, loaded, more, total))
}

/// What a page reads of each row (see `Listed`).
#[allow(clippy::type_complexity)]
fn listed() -> (
    memberships::id,
    profiles::id,
    profiles::first_name,
    profiles::last_name,
    memberships::email,
    profiles::resource_type,
    memberships::admin,
    diesel::dsl::Nullable<access_policies::name>,
    memberships::status,
    memberships::active,
    memberships::mfa,
    memberships::mfa_required,
    memberships::last_signin_at,
    profiles::photo_updated_at,
    memberships::sort_first,
    memberships::sort_last,
) {
    (
        memberships::id,
        profiles::id,
        profiles::first_name,
        profiles::last_name,
        memberships::email,
        profiles::resource_type,
        memberships::admin,
        access_policies::name.nullable(),
        memberships::status,
        memberships::active,
        memberships::mfa,
        memberships::mfa_required,
        memberships::last_signin_at,
        profiles::photo_updated_at,
        memberships::sort_first,
        memberships::sort_last,
    )
}

/// A narrow search: every match's place is read (a few thousand at most), counted exactly and
/// ordered here; then only the page's rows are read whole.
fn collected(
    conn: &mut DbConn,
    project_id: &str,
    query: &ListQuery,
    search: &Search,
) -> Result<MemberPage, ServiceError> {
    type Place = (
        String,
        String,
        String,
        String,
        MembershipStatus,
        Option<NaiveDateTime>,
    );
    let places: Vec<Place> = matching(project_id, query, search)
        .select((
            memberships::id,
            memberships::sort_first,
            memberships::sort_last,
            memberships::email,
            memberships::status,
            memberships::last_signin_at,
        ))
        .load(conn)?;
    let total = Total::Exact(places.len() as i64);
    let mut keys: Vec<Key> = places
        .iter()
        .map(|(id, first, last, email, status, signed_in)| {
            let placed = Placed {
                sort_first: first,
                sort_last: last,
                email,
                status: *status,
                last_signin_at: *signed_in,
                id,
            };
            Key::of(query.sort, placed)
        })
        .collect();
    keys.sort_by(|a, b| a.order(b));
    if query.descending {
        keys.reverse();
    }
    let shown = |a: &Key, b: &Key| {
        let o = a.order(b);
        if query.descending { o.reverse() } else { o }
    };
    let size = query.limit as usize;
    let (range, more) = match &query.cursor {
        None => (0..keys.len().min(size), keys.len() > size),
        Some(c) if !c.backward => {
            let start = keys.partition_point(|k| shown(k, &c.key).is_le());
            let end = keys.len().min(start + size);
            (start..end, keys.len() > end)
        }
        Some(c) => {
            let end = keys.partition_point(|k| shown(k, &c.key).is_lt());
            let start = end.saturating_sub(size);
            (start..end, start > 0)
        }
    };
    let ids: Vec<&str> = keys[range].iter().map(|k| k.id.as_str()).collect();
    let mut rows: Vec<Listed> = matching(project_id, query, &Search::Everyone)
        .filter(memberships::id.eq_any(&ids))
        .select(listed())
        .load(conn)?;
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.membership_id));
    Ok(page(query, rows, more, total))
}

/// The ids of every member the query matches, in its order, reading a thousand at a time; at
/// most `max` + 1 (so a caller can tell "more than `max`").
pub fn ids_matching(
    conn: &mut DbConn,
    project_id: &str,
    query: &ListQuery,
    max: usize,
) -> Result<Vec<String>, ServiceError> {
    let mut query = query.clone();
    query.limit = 1_000;
    query.cursor = None;
    let mut ids = Vec::new();
    loop {
        let page = list(conn, project_id, &query)?;
        ids.extend(page.rows.into_iter().map(|r| r.membership_id));
        match page.next {
            Some(next) if ids.len() <= max => query.cursor = Some(next),
            _ => break,
        }
    }
    ids.truncate(max + 1);
    Ok(ids)
}

fn total(
    conn: &mut DbConn,
    project_id: &str,
    query: &ListQuery,
    search: &Search,
) -> Result<Total, ServiceError> {
    if !search.is_search() {
        let n = super::counts::total(conn, project_id, &query.types(), &query.filters)?;
        return Ok(Total::Exact(n));
    }
    let n = match search.keyed() {
        // Counted from the key index alone, without reading a row or joining a profile.
        Some(condition) => {
            let mut found = memberships::table.into_boxed();
            for condition in filtered(project_id, query).into_iter().chain([condition]) {
                found = found.filter(condition);
            }
            found
                .select(sql::<Integer>("1"))
                .limit(SEARCH_COUNT_CAP + 1)
                .load::<i32>(conn)?
                .len()
        }
        None => matching(project_id, query, search)
            .select(memberships::id)
            .limit(SEARCH_COUNT_CAP + 1)
            .load::<String>(conn)?
            .len(),
    } as i64;
    Ok(if n > SEARCH_COUNT_CAP {
        Total::AtLeast(SEARCH_COUNT_CAP)
    } else {
        Total::Exact(n)
    })
}

/// The page's rows in display order, and cursors to the pages after and before it.
fn page(query: &ListQuery, rows: Vec<Listed>, more: bool, total: Total) -> MemberPage {
    let (backward, offset) = match &query.cursor {
        // A cursor's offset only labels the page ("51–100"); a forged one must not overflow.
        Some(c) => (c.backward, c.offset.clamp(0, MAX_OFFSET)),
        None => (false, 0),
    };
    let count = rows.len() as i64;
    // Going back, `more` means more pages before; going forward, more after.
    let has_next = if backward { true } else { more };
    let has_previous = if backward { more } else { offset > 0 };
    let next = match (has_next, rows.last()) {
        (true, Some(last)) => Some(Cursor {
            backward: false,
            offset: offset + count,
            key: last.key(query.sort),
        }),
        _ => None,
    };
    let previous = match (has_previous, rows.first()) {
        (true, Some(first)) => Some(Cursor {
            backward: true,
            offset: (offset - query.limit).max(0),
            key: first.key(query.sort),
        }),
        _ => None,
    };
    MemberPage {
        rows: rows.into_iter().map(Listed::into_row).collect(),
        total,
        offset,
        next,
        previous,
    }
}
