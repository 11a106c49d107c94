//! A member's own profile in the current project.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{ServiceError, now};
use crate::db::models::{Membership, Profile};
use crate::db::schema::{memberships, profiles, users};
use crate::db::{self, DbConn};
use crate::domain::ReadAccess;
use crate::domain::profile_form::{ProfileUpdate, Qualification};

pub fn qualifications_of(profile: &Profile) -> Vec<Qualification> {
    serde_json::from_str(&profile.qualifications).unwrap_or_default()
}

pub fn get(conn: &mut DbConn, profile_id: &str) -> Result<Profile, ServiceError> {
    profiles::table
        .find(profile_id)
        .select(Profile::as_select())
        .first(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)
}

/// Saves the profile, and the names on the user's own account too.
#[tracing::instrument(skip_all, fields(user = %user_id, profile = %profile_id))]
pub fn save(
    conn: &mut DbConn,
    user_id: &str,
    profile_id: &str,
    update: ProfileUpdate,
) -> Result<(), ServiceError> {
    let qualifications = serde_json::to_string(&update.qualifications)
        .map_err(|e| anyhow::anyhow!("qualifications: {e}"))?;
    db::transaction(conn, |conn| {
        let at = now();
        let mut profile = get(conn, profile_id)?;
        super::users::rename_profile(conn, &mut profile, &update.first_name, &update.last_name)?;
        diesel::update(profiles::table.find(profile_id))
            .set((
                profiles::prefix.eq(&update.prefix),
                profiles::suffix.eq(&update.suffix),
                profiles::phone.eq(&update.phone),
                profiles::gender.eq(&update.gender),
                profiles::birth_date.eq(&update.birth_date),
                profiles::language.eq(&update.language),
                profiles::qualifications.eq(&qualifications),
                profiles::updated_at.eq(at),
            ))
            .execute(conn)?;
        diesel::update(users::table.find(user_id))
            .set((
                users::first_name.eq(&update.first_name),
                users::last_name.eq(&update.last_name),
                users::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

#[tracing::instrument(skip_all, fields(profile = %profile_id))]
pub fn set_photo(conn: &mut DbConn, profile_id: &str, png: Vec<u8>) -> Result<(), ServiceError> {
    diesel::update(profiles::table.find(profile_id))
        .set((
            profiles::photo.eq(Some(png)),
            profiles::photo_content_type.eq(Some("image/png")),
            profiles::photo_updated_at.eq(Some(now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Bytes, content type and time of a stored photo (each column is nullable).
type StoredPhoto = (Option<Vec<u8>>, Option<String>, Option<NaiveDateTime>);

/// The photo of a profile in `project_id`; another project's profile is "not found".
/// A profile's photo, for a member of the same project whom the FHIR read of that profile
/// would allow (admins, the member themself, or their access policy's rules).
pub fn photo(
    conn: &mut DbConn,
    profile_id: &str,
    viewer_membership_id: &str,
) -> Result<(Vec<u8>, String, NaiveDateTime), ServiceError> {
    let viewer = memberships::table
        .find(viewer_membership_id)
        .select(Membership::as_select())
        .first::<Membership>(conn)?;
    let resource_type: String = profiles::table
        .filter(profiles::id.eq(profile_id))
        .filter(profiles::project_id.eq(&viewer.project_id))
        .select(profiles::resource_type)
        .first(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    if !viewer.admin
        && super::policies::read_access_of(conn, &viewer, &resource_type, profile_id)?
            != ReadAccess::Allowed
    {
        return Err(ServiceError::NotFound);
    }
    let found: Option<StoredPhoto> = profiles::table
        .filter(profiles::id.eq(profile_id))
        .select((
            profiles::photo,
            profiles::photo_content_type,
            profiles::photo_updated_at,
        ))
        .first(conn)
        .optional()?;
    match found {
        Some((Some(bytes), Some(content_type), Some(at))) => Ok((bytes, content_type, at)),
        _ => Err(ServiceError::NotFound),
    }
}
