//! What the project home page shows.

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::ServiceError;
use crate::db::DbConn;
use crate::db::models::Project;
use crate::db::schema::{memberships, profiles, projects, users};
use crate::domain::ProfileType;

pub struct ProjectSummary {
    pub project: Project,
    pub owner_name: String,
    pub practitioners: i64,
    pub patients: i64,
    pub invited: i64,
}

/// One project by id.
pub fn get(conn: &mut DbConn, project_id: &str) -> Result<Project, ServiceError> {
    projects::table
        .find(project_id)
        .select(Project::as_select())
        .first(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)
}

/// The project's home card. The member counts are for admins (`counts`); others get zeros.
pub fn summary(
    conn: &mut DbConn,
    project_id: &str,
    counts: bool,
) -> Result<ProjectSummary, ServiceError> {
    let (project, owner_first, owner_last) = projects::table
        .inner_join(users::table.on(users::id.eq(projects::owner_id)))
        .filter(projects::id.eq(project_id))
        .select((Project::as_select(), users::first_name, users::last_name))
        .first::<(Project, String, String)>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    if !counts {
        return Ok(ProjectSummary {
            owner_name: format!("{owner_first} {owner_last}"),
            practitioners: 0,
            patients: 0,
            invited: 0,
            project,
        });
    }
    // One grouped count instead of a query per kind.
    let by_type: Vec<(ProfileType, i64)> = memberships::table
        .inner_join(profiles::table)
        .filter(memberships::project_id.eq(project_id))
        .group_by(profiles::resource_type)
        .select((profiles::resource_type, count_star()))
        .load(conn)?;
    let invited: i64 = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::status.eq(crate::domain::MembershipStatus::Invited))
        .count()
        .get_result(conn)?;
    let sum = |patients: bool| -> i64 {
        by_type
            .iter()
            .filter(|(t, _)| (*t == ProfileType::Patient) == patients)
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

pub struct ProjectSettings {
    pub name: crate::domain::ProjectName,
    pub description: String,
    pub default_patient_policy_id: Option<String>,
    pub require_mfa: bool,
}

/// Saves the Details tab.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-")))]
pub fn update_settings(
    conn: &mut DbConn,
    project: &Project,
    by: &super::audit::Acting,
    settings: ProjectSettings,
) -> Result<(), ServiceError> {
    crate::db::transaction(conn, |conn| {
        if let Some(policy) = &settings.default_patient_policy_id {
            super::policies::ensure_in_project(
                conn,
                &project.id,
                policy,
                "defaultPatientAccessPolicy",
            )?;
        }
        let mut changes = Vec::new();
        if settings.name.as_str() != project.name {
            changes.push(format!(
                "name: {} → {}",
                project.name,
                settings.name.as_str()
            ));
        }
        if settings.description != project.description {
            changes.push("description".to_owned());
        }
        if settings.default_patient_policy_id != project.default_patient_policy_id {
            changes.push("default patient access policy".to_owned());
        }
        if settings.require_mfa != project.require_mfa {
            changes.push(format!(
                "require MFA: {}",
                if settings.require_mfa { "on" } else { "off" }
            ));
        }
        diesel::update(projects::table.find(&project.id))
            .set((
                projects::name.eq(settings.name.as_str()),
                projects::description.eq(&settings.description),
                projects::default_patient_policy_id.eq(&settings.default_patient_policy_id),
                projects::require_mfa.eq(settings.require_mfa),
                projects::updated_at.eq(super::now()),
            ))
            .execute(conn)?;
        if !changes.is_empty() {
            super::audit::record(
                conn,
                Some(&project.id),
                by,
                "project.updated",
                Some(super::audit::Target {
                    kind: "Project",
                    id: &project.id,
                    display: settings.name.as_str(),
                }),
                &changes.join("; "),
            )?;
        }
        Ok(())
    })
}
