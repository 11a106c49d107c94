//! A member's own profile in the current project.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{ServiceError, now};
use crate::db::models::{Membership, Profile};
use crate::db::schema::{memberships, profiles, users};
use crate::db::{self, DbConn};
use crate::domain::ReadAccess;
use crate::domain::profile_form::{Identifier, ProfileUpdate, Qualification};

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
    db::transaction(conn, |conn| {
        let mut profile = get(conn, profile_id)?;
        write(conn, &mut profile, &update, Some(user_id))
    })
}

pub fn identifiers_of(profile: &Profile) -> Vec<Identifier> {
    serde_json::from_str(&profile.identifiers).unwrap_or_default()
}

/// Writes `update` over `profile` (inside the caller's transaction). The names go onto the
/// account `rename_account` too, when given; identifiers stay as saved when the update has
/// none.
pub(crate) fn write(
    conn: &mut DbConn,
    profile: &mut Profile,
    update: &ProfileUpdate,
    rename_account: Option<&str>,
) -> Result<(), ServiceError> {
    let json = |what: &str, r: serde_json::Result<String>| {
        r.map_err(|e| ServiceError::Internal(anyhow::anyhow!("{what}: {e}")))
    };
    let qualifications = json(
        "qualifications",
        serde_json::to_string(&update.qualifications),
    )?;
    let identifiers = match &update.identifiers {
        Some(list) => json("identifiers", serde_json::to_string(list))?,
        None => profile.identifiers.clone(),
    };
    let at = now();
    super::users::rename_profile(conn, profile, &update.first_name, &update.last_name)?;
    diesel::update(profiles::table.find(&profile.id))
        .set((
            profiles::prefix.eq(&update.prefix),
            profiles::suffix.eq(&update.suffix),
            profiles::phone.eq(&update.phone),
            profiles::gender.eq(&update.gender),
            profiles::birth_date.eq(&update.birth_date),
            profiles::language.eq(&update.language),
            profiles::qualifications.eq(&qualifications),
            profiles::identifiers.eq(&identifiers),
            profiles::updated_at.eq(at),
        ))
        .execute(conn)?;
    if let Some(user_id) = rename_account {
        diesel::update(users::table.find(user_id))
            .set((
                users::first_name.eq(&update.first_name),
                users::last_name.eq(&update.last_name),
                users::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The labels of what `update` changes in `profile`, for the audit log.
pub fn changed_fields(profile: &Profile, update: &ProfileUpdate) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut note = |label, differs: bool| {
        if differs {
            changed.push(label);
        }
    };
    note(
        "name",
        profile.first_name != update.first_name || profile.last_name != update.last_name,
    );
    note(
        "prefix or suffix",
        profile.prefix != update.prefix || profile.suffix != update.suffix,
    );
    note("phone", profile.phone != update.phone);
    note("gender", profile.gender != update.gender);
    note("birth date", profile.birth_date != update.birth_date);
    note("language", profile.language != update.language);
    note(
        "qualifications",
        qualifications_of(profile) != update.qualifications,
    );
    note(
        "identifiers",
        update
            .identifiers
            .as_ref()
            .is_some_and(|ids| *ids != identifiers_of(profile)),
    );
    changed
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
    // A person's own photo in another of their projects: their avatar, shown in every one.
    let own = match &viewer.user_id {
        Some(user_id) => diesel::select(diesel::dsl::exists(
            memberships::table
                .filter(memberships::user_id.eq(user_id))
                .filter(memberships::profile_id.eq(profile_id))
                .filter(memberships::active.eq(true)),
        ))
        .get_result::<bool>(conn)?,
        None => false,
    };
    let resource_type: String = if own {
        String::new()
    } else {
        profiles::table
            .filter(profiles::id.eq(profile_id))
            .filter(profiles::project_id.eq(&viewer.project_id))
            .select(profiles::resource_type)
            .first(conn)
            .optional()?
            .ok_or(ServiceError::NotFound)?
    };
    if !own
        && !viewer.admin
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
