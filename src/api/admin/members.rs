//! `GET|POST|PATCH|DELETE /admin/projects/{projectId}/members/{membershipId}`.

use actix_web::{HttpResponse, web};
use serde_json::Value;
use utoipa::ToSchema;

use super::{AdminRefusals, ApiAdmin, MemberPath, policy_id};
use crate::api::errors::{ApiError, OperationOutcome};
use crate::api::resources::{ProjectMembership, Reference};
use crate::api::{Authorized, Json, PatchBody, ok};
use crate::services::members::{self, MembershipChange};
use crate::services::{ServiceError, lookup};

/// One membership of the project.
#[utoipa::path(
    get,
    path = "/admin/projects/{projectId}/members/{membershipId}",
    tag = "admin",
    params(MemberPath),
    responses(
        (status = 200, description = "The membership", body = ProjectMembership),
        AdminRefusals,
        (status = 404, description = "Not a membership of this project", body = OperationOutcome),
    )
)]
pub async fn get_member(
    admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, membership_id) = path.into_inner();
    let view = admin
        .run(move |conn, project, _| lookup::membership(conn, &project.id, &membership_id))
        .await?;
    Ok(ok(&ProjectMembership::from(&view)))
}

/// Fields of a membership that may appear in an update. Only `admin`, `accessPolicy`,
/// `active` and `externalId` may change; the rest must match what is stored.
const MEMBERSHIP_FIELDS: &[&str] = &[
    "extension",
    "resourceType",
    "id",
    "meta",
    "project",
    "user",
    "profile",
    "accessPolicy",
    "admin",
    "active",
    "externalId",
    "invitedBy",
];

fn reference_of(value: Option<&Value>, field: &str) -> Result<Option<Reference>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| ApiError::invalid(field, format!("{field} must be a Reference"))),
    }
}

/// A boolean field of the document; absent or null means `default`.
fn flag(value: Option<&Value>, field: &str, default: bool) -> Result<bool, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field} must be true or false"),
        )),
    }
}

/// Checks an updated membership document against the stored one and says what changes.
fn membership_change(
    current: &ProjectMembership,
    membership_id: &str,
    doc: &Value,
) -> Result<MembershipChange, ApiError> {
    let Some(object) = doc.as_object() else {
        return Err(ApiError::BadRequest(
            "The body must be a ProjectMembership".into(),
        ));
    };
    if object.get("resourceType").and_then(Value::as_str) != Some("ProjectMembership")
        || object.get("id").and_then(Value::as_str) != Some(membership_id)
    {
        return Err(ApiError::Forbidden(
            "The body must be this ProjectMembership: resourceType and id must match".into(),
        ));
    }
    if let Some(unknown) = object
        .keys()
        .find(|k| !MEMBERSHIP_FIELDS.contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            unknown,
            format!("ProjectMembership.{unknown} is not supported"),
        ));
    }
    for (field, stored) in [
        ("project", Some(&current.project)),
        ("user", Some(&current.user)),
        ("profile", Some(&current.profile)),
        ("invitedBy", current.invited_by.as_ref()),
    ] {
        if let Some(given) = reference_of(object.get(field), field)?
            && Some(given.reference.as_str()) != stored.map(|r| r.reference.as_str())
        {
            return Err(ApiError::invalid(
                field,
                format!("{field} cannot be changed"),
            ));
        }
    }
    // The status is the invited person's to change (they accept or decline), not an admin's.
    if let Some(given) = object.get("extension")
        && serde_json::to_value(&current.extension).ok().as_ref() != Some(given)
    {
        return Err(ApiError::invalid(
            "extension",
            "The membership status cannot be changed here: the invited person accepts or declines",
        ));
    }
    let admin = flag(object.get("admin"), "admin", false)?;
    let active = flag(object.get("active"), "active", true)?;
    let external_id = match object.get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 256 => {
            Some(s.trim().to_owned())
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "externalId",
                "externalId must be a string of 1 to 256 characters",
            ));
        }
    };
    let policy = reference_of(object.get("accessPolicy"), "accessPolicy")?;
    Ok(MembershipChange {
        admin,
        access_policy_id: policy_id(policy.as_ref(), "accessPolicy")?,
        active: Some(active),
        external_id: Some(external_id),
    })
}

async fn apply_update(
    admin: &ApiAdmin,
    membership_id: String,
    edit: impl FnOnce(&ProjectMembership) -> Result<Value, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let mid = membership_id.clone();
    let current = ProjectMembership::from(
        &admin
            .run(move |conn, project, _| lookup::membership(conn, &project.id, &mid))
            .await?,
    );
    let change = membership_change(&current, &membership_id, &edit(&current)?)?;
    let view = admin
        .run(move |conn, project, by| {
            members::change(conn, project, by, &membership_id, change)?;
            lookup::membership(conn, &project.id, &membership_id)
        })
        .await?;
    Ok(ok(&ProjectMembership::from(&view)))
}

/// Replaces the membership. `resourceType` and `id` must match (403); `project`, `user`
/// and `profile` cannot change (400); unknown fields are refused (400).
#[utoipa::path(
    post,
    path = "/admin/projects/{projectId}/members/{membershipId}",
    tag = "admin",
    params(MemberPath),
    request_body(content = ProjectMembership, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated membership", body = ProjectMembership),
        (status = 400, description = "Invalid change, or the last admin", body = OperationOutcome),
        (status = 401, description = "No or bad token", body = OperationOutcome),
        (status = 403, description = "Not an admin, or resourceType/id do not match", body = OperationOutcome),
        (status = 404, description = "Not a membership of this project", body = OperationOutcome),
        (status = 409, description = "externalId taken", body = OperationOutcome),
        (status = 413, description = "Body too large", body = OperationOutcome),
        (status = 415, description = "Not JSON", body = OperationOutcome),
    )
)]
pub async fn update_member(
    path: web::Path<(String, String)>,
    Authorized(admin, Json(body)): Authorized<ApiAdmin, Json<Value>>,
) -> Result<HttpResponse, ApiError> {
    let (_, membership_id) = path.into_inner();
    apply_update(&admin, membership_id, move |_| Ok(body)).await
}

/// One JSON Patch operation (RFC 6902).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct PatchOperation {
    #[schema(value_type = PatchOp)]
    op: String,
    /// For example `/admin`.
    path: String,
    value: Option<serde_json::Value>,
    from: Option<String>,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum PatchOp {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

/// JSON Patch on the same fields as the update.
#[utoipa::path(
    patch,
    path = "/admin/projects/{projectId}/members/{membershipId}",
    tag = "admin",
    params(MemberPath),
    request_body(content = Vec<PatchOperation>, content_type = "application/json-patch+json"),
    responses(
        (status = 200, description = "The updated membership", body = ProjectMembership),
        (status = 400, description = "Invalid patch or change", body = OperationOutcome),
        AdminRefusals,
        (status = 404, description = "Not a membership of this project", body = OperationOutcome),
        (status = 409, description = "externalId taken", body = OperationOutcome),
        (status = 413, description = "Body too large", body = OperationOutcome),
        (status = 415, description = "Not a JSON Patch", body = OperationOutcome),
    )
)]
pub async fn patch_member(
    path: web::Path<(String, String)>,
    Authorized(admin, PatchBody(patch)): Authorized<ApiAdmin, PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let (_, membership_id) = path.into_inner();
    apply_update(&admin, membership_id, move |current| {
        let mut doc =
            serde_json::to_value(current).map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
        json_patch::patch(&mut doc, &patch)
            .map_err(|e| ApiError::BadRequest(format!("The patch does not apply: {e}")))?;
        Ok(doc)
    })
    .await
}

/// Removes the member (not the owner, not the last admin).
#[utoipa::path(
    delete,
    path = "/admin/projects/{projectId}/members/{membershipId}",
    tag = "admin",
    params(MemberPath),
    responses(
        (status = 200, description = "Removed", body = OperationOutcome),
        (status = 400, description = "The owner or the last admin", body = OperationOutcome),
        AdminRefusals,
        (status = 404, description = "Not a membership of this project", body = OperationOutcome),
    )
)]
pub async fn delete_member(
    admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, membership_id) = path.into_inner();
    admin
        .run(move |conn, project, by| members::remove(conn, project, by, &membership_id))
        .await
        .map_err(|e| match e {
            // Medplum answers 400 for the owner; the last-admin rule is the same kind of no.
            ServiceError::Conflict(m) => ApiError::BadRequest(m.to_string()),
            other => other.into(),
        })?;
    Ok(ok(&OperationOutcome::all_ok()))
}
