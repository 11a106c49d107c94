//! An admin edits a member's profile in this project (their Practitioner, Patient or
//! RelatedPerson): contact details, birth date, qualifications and identifiers. The names of
//! an account the project does not govern (a server-wide account, or the owner's) stay the
//! account holder's to change.

use super::{Acting, display_name, get, target};
use crate::db::models::{Project, User};
use crate::db::{self, DbConn};
use crate::domain::FieldErrors;
use crate::domain::profile_form::ProfileUpdate;
use crate::services::{ServiceError, audit, profile};

/// Why the names of this member's account are not the admin's to change, if they are not:
/// only an account of this project's own is (the owner's only to the owner). A super admin is
/// no exception: a server-wide account's names are its holder's.
pub fn names_locked(by: &Acting, project: &Project, user: &User) -> Option<String> {
    let own_account = user.project_id.as_deref() == Some(project.id.as_str());
    let is_self = by.user_id.as_deref() == Some(user.id.as_str());
    if own_account && (user.id != project.owner_id || is_self) {
        return None;
    }
    Some(if is_self {
        "Your name belongs to your account: change it in Account settings.".into()
    } else if user.id == project.owner_id {
        "This is the project owner's account: only they can change its name.".into()
    } else {
        "This person's account is shared with other projects: only they can change its name.".into()
    })
}

/// Saves `update` over the member's profile in one transaction, with one audit event naming
/// what changed. Nothing changed: nothing written, nothing logged (`Ok(false)`).
#[tracing::instrument(skip_all, fields(project = %project.id, membership = %membership_id))]
pub fn edit_profile(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    update: ProfileUpdate,
) -> Result<bool, ServiceError> {
    db::transaction(conn, |conn| {
        let detail = get(conn, project, membership_id)?;
        let mut current = detail.profile.clone();
        let renamed =
            current.first_name != update.first_name || current.last_name != update.last_name;
        let governed = names_locked(by, project, &detail.user).is_none();
        if renamed && !governed {
            let mut errors = FieldErrors::new();
            let why = names_locked(by, project, &detail.user).unwrap_or_default();
            errors.add("firstName", why.clone());
            errors.add("lastName", why);
            return Err(ServiceError::Invalid(errors));
        }
        let changed = profile::changed_fields(&current, &update);
        if changed.is_empty() {
            return Ok(false);
        }
        let account = (renamed && governed).then_some(detail.user.id.as_str());
        profile::write(conn, &mut current, &update, account)?;
        let name = display_name(&current);
        audit::record(
            conn,
            Some(&project.id),
            by,
            "member.profile_updated",
            Some(target(&detail, &name)),
            &format!("Changed: {}", changed.join(", ")),
        )?;
        Ok(true)
    })
}
