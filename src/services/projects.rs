//! What the project home page shows.

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::ServiceError;
use crate::db::DbConn;
use crate::db::models::Project;
use crate::db::schema::{memberships, profiles, projects, users};

pub struct ProjectSummary {
    pub project: Project,
    pub owner_name: String,
    pub practitioners: i64,
    pub patients: i64,
    pub invited: i64,
}

pub fn summary(conn: &mut DbConn, project_id: &str) -> Result<ProjectSummary, ServiceError> {
    let (project, owner_first, owner_last) = projects::table
        .inner_join(users::table.on(users::id.eq(projects::owner_id)))
        .filter(projects::id.eq(project_id))
        .select((Project::as_select(), users::first_name, users::last_name))
        .first::<(Project, String, String)>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    // One grouped count instead of a query per kind.
    let by_type: Vec<(String, i64)> = memberships::table
        .inner_join(profiles::table)
        .filter(memberships::project_id.eq(project_id))
        .group_by(profiles::resource_type)
        .select((profiles::resource_type, count_star()))
        .load(conn)?;
    let invited: i64 = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::status.eq("invited"))
        .count()
        .get_result(conn)?;
    let sum = |patients: bool| -> i64 {
        by_type
            .iter()
            .filter(|(t, _)| (t == "Patient") == patients)
            .map(|(_, n)| n)
            .sum()
    };
    Ok(ProjectSummary {
        owner_name: format!("{owner_first} {owner_last}"),
        practitioners: sum(false),
        patients: sum(true),
        invited,
        project,
    })
}
