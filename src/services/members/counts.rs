//! How many members a list has, without counting them: `member_counts` holds one row per
//! project and combination of the values the lists filter on, kept by database triggers in
//! the same transaction as every insert, update and delete of a membership. Any combination
//! of filters is a sum over at most a few dozen of those rows.

use diesel::prelude::*;

use super::list::Filters;
use crate::db::DbConn;
use crate::db::schema::member_counts;
use crate::domain::{MembershipStatus, ProfileType};
use crate::services::ServiceError;

/// Members of these types in the project that pass the filters.
pub fn total(
    conn: &mut DbConn,
    project_id: &str,
    types: &[ProfileType],
    filters: &Filters,
) -> Result<i64, ServiceError> {
    let mut cells = member_counts::table
        .filter(member_counts::project_id.eq(project_id))
        .filter(member_counts::profile_type.eq_any(types))
        .select(member_counts::members)
        .into_boxed();
    if let Some(status) = filters.status {
        cells = cells.filter(member_counts::status.eq(status));
    }
    if let Some(active) = filters.active {
        cells = cells.filter(member_counts::active.eq(active));
    }
    if let Some(admin) = filters.admin {
        cells = cells.filter(member_counts::admin.eq(admin));
    }
    if let Some(mfa) = filters.mfa {
        // A project sees the two-factor state only of members who accepted.
        cells = cells
            .filter(member_counts::mfa.eq(mfa))
            .filter(member_counts::status.eq(MembershipStatus::Active));
    }
    if filters.never_signed_in {
        cells = cells.filter(member_counts::signed_in.eq(false));
    }
    Ok(cells.load::<i64>(conn)?.into_iter().sum())
}
