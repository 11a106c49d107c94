//! `POST /admin/projects/{projectId}/invite`.

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{AdminRefusals, ApiAdmin, ProjectPath, lenient_bool, policy_id};
use crate::api::errors::{ApiError, OperationOutcome};
use crate::api::resources::{ProjectMembership, Reference};
use crate::api::{Authorized, BulkJson, Json, ok};
use crate::domain::{EmailAddress, FieldErrors, PersonName, ProfileType};
use crate::services::invite::{self, InviteRequest, Scope};
use crate::services::lookup;

/// The body of an invite, as Medplum's SDK sends it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteBody {
    #[schema(required = true, nullable = false, value_type = ProfileType)]
    pub resource_type: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub first_name: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub last_name: Option<String>,
    /// Required unless `externalId` is given.
    #[schema(nullable = true, format = "email", max_length = 254)]
    pub email: Option<String>,
    /// An id from another system; unique within the project.
    #[schema(nullable = true, min_length = 1, max_length = 256, pattern = r"\S")]
    pub external_id: Option<String>,
    /// Default `true`.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub send_email: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub admin: Option<bool>,
    /// Patients default to `project`, others to `server` (also when `null`).
    #[schema(required = false, nullable = true, value_type = Scope)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub mfa_required: Option<bool>,
    pub access_policy: Option<Reference>,
    /// Settings of the new membership; they win over the top-level ones.
    pub membership: Option<InviteMembership>,
    /// Update the membership instead of answering 409 when the person is already a member.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub upsert: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteMembership {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub admin: Option<bool>,
    pub access_policy: Option<Reference>,
    pub external_id: Option<String>,
    /// Medplum's parameterised policies; refused rather than ignored (use `accessPolicy`).
    #[schema(value_type = Option<Vec<Object>>)]
    pub access: Option<Vec<Value>>,
}

fn parse_invite(body: InviteBody) -> Result<InviteRequest, ApiError> {
    let mut errors = FieldErrors::new();
    let profile_type = errors.take(
        "resourceType",
        ProfileType::parse(body.resource_type.as_deref().unwrap_or("")),
    );
    let first_name = errors.take(
        "firstName",
        PersonName::parse(body.first_name.as_deref().unwrap_or(""), "first name"),
    );
    let last_name = errors.take(
        "lastName",
        PersonName::parse(body.last_name.as_deref().unwrap_or(""), "last name"),
    );
    let membership = body.membership.unwrap_or_default();
    if membership.access.as_ref().is_some_and(|a| !a.is_empty()) {
        errors.add(
            "membership.access",
            "Parameterised access policies are not supported; give one accessPolicy instead",
        );
    }
    let external_id = membership
        .external_id
        .or(body.external_id)
        .map(|e| e.trim().to_owned());
    if let Some(e) = &external_id
        && (e.is_empty() || e.chars().count() > 256)
    {
        errors.add("externalId", "externalId must be 1 to 256 characters");
    }
    // A blank address is refused like any other invalid one, not read as "no address": the
    // document says `email` is an address, and only its absence means none.
    let email = match body.email.as_deref() {
        Some(email) => errors.take("email", EmailAddress::parse_new(email)),
        None => {
            if external_id.is_none() {
                errors.add("email", "Either email or externalId is required");
            }
            None
        }
    };
    let scope = body
        .scope
        .as_deref()
        .and_then(|s| errors.take("scope", Scope::parse(s)));
    let access_policy = membership.access_policy.or(body.access_policy);
    let access_policy_id = match policy_id(access_policy.as_ref(), "accessPolicy") {
        Ok(id) => id,
        Err(_) => {
            errors.add(
                "accessPolicy",
                "accessPolicy must reference an AccessPolicy/{id}",
            );
            None
        }
    };
    let (Some(profile_type), Some(first_name), Some(last_name)) =
        (profile_type, first_name, last_name)
    else {
        return Err(ApiError::Invalid(errors));
    };
    errors.into_result().map_err(ApiError::Invalid)?;
    Ok(InviteRequest {
        profile_type,
        first_name,
        last_name,
        email,
        access_policy_id,
        send_email: body.send_email.unwrap_or(true),
        admin: membership.admin.or(body.admin).unwrap_or(false),
        scope,
        mfa_required: body.mfa_required.unwrap_or(false),
        external_id,
        upsert: body.upsert.unwrap_or(false),
    })
}

/// Invites a person into the project: the same service as the invite form.
#[utoipa::path(
    post,
    path = "/admin/projects/{projectId}/invite",
    tag = "admin",
    params(ProjectPath),
    request_body(content = InviteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The new (or, with upsert, updated) membership", body = ProjectMembership),
        (status = 400, description = "Invalid input", body = OperationOutcome),
        AdminRefusals,
        (status = 404, description = "No such project (super admins)", body = OperationOutcome),
        (status = 409, description = "Already a member, or externalId taken", body = OperationOutcome),
        (status = 413, description = "Body too large", body = OperationOutcome),
        (status = 415, description = "Not JSON", body = OperationOutcome),
        (status = 429, description = "Too many invites", body = OperationOutcome),
    )
)]
pub async fn invite(
    Authorized(admin, Json(body)): Authorized<ApiAdmin, Json<InviteBody>>,
) -> Result<HttpResponse, ApiError> {
    let (limits, key) = (
        admin.state.settings.limits.clone(),
        format!("invite-admin:{}", admin.caller.membership.id),
    );
    admin
        .run(move |conn, _, by| invite::check_rate(conn, &limits, &key, by.meta.ip.as_deref()))
        .await?;
    let request = parse_invite(body)?;
    let (base_url, limits) = (
        admin.state.base_url.clone(),
        admin.state.settings.limits.clone(),
    );
    let view = admin
        .run(move |conn, project, by| {
            let outcome = invite::invite(conn, project, by, request, &base_url, &limits)?;
            lookup::membership(conn, &project.id, &outcome.membership.id)
        })
        .await?;
    admin.state.mail.wake();
    Ok(ok(&ProjectMembership::from(&view)))
}

/// Invites at most this many people in one request.
pub const BULK_MAX: usize = 1_000;

/// Many invites in one request: each the body of `POST .../invite`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkInviteBody {
    #[schema(max_items = 1000)]
    pub invites: Vec<Value>,
}

/// One invite's answer in a bulk invite, as in a FHIR `batch-response` Bundle.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct BulkEntry {
    pub response: BulkResponse,
    /// The membership, when the invite succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ProjectMembership>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct BulkResponse {
    /// HTTP status of this invite alone: `200`, `400`, `409` or `429`.
    pub status: String,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OperationOutcome>,
}

/// A FHIR `Bundle` of type `batch-response`: one entry per invite, in order.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkAnswer {
    #[schema(example = "Bundle")]
    pub resource_type: String,
    #[serde(rename = "type")]
    #[schema(example = "batch-response")]
    pub kind: String,
    pub entry: Vec<BulkEntry>,
}

fn refused(e: ApiError) -> BulkEntry {
    use actix_web::ResponseError;
    BulkEntry {
        response: BulkResponse {
            status: e.status_code().as_u16().to_string(),
            outcome: Some(e.outcome()),
        },
        resource: None,
    }
}

/// Invites many people: each invite is checked, counted by the invite limits and written in
/// its own transaction exactly as `POST .../invite`, and answered in its own entry, so one
/// refused invite does not stop the others.
#[utoipa::path(
    post,
    path = "/admin/projects/{projectId}/invite/bulk",
    tag = "admin",
    params(ProjectPath),
    request_body(content = BulkInviteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One entry per invite, in order: its status, and the membership or an OperationOutcome", body = BulkAnswer),
        (status = 400, description = "Not a list of invites, or more than 1,000", body = OperationOutcome),
        AdminRefusals,
        (status = 404, description = "No such project (super admins)", body = OperationOutcome),
        (status = 413, description = "Body too large", body = OperationOutcome),
        (status = 415, description = "Not JSON", body = OperationOutcome),
    )
)]
pub async fn invite_bulk(
    Authorized(admin, BulkJson(body)): Authorized<ApiAdmin, BulkJson<BulkInviteBody>>,
) -> Result<HttpResponse, ApiError> {
    if body.invites.len() > BULK_MAX {
        return Err(ApiError::invalid(
            "invites",
            format!("At most {BULK_MAX} invites in one request"),
        ));
    }
    let (base_url, limits, key) = (
        admin.state.base_url.clone(),
        admin.state.settings.limits.clone(),
        format!("invite-admin:{}", admin.caller.membership.id),
    );
    let entries = admin
        .run(move |conn, project, by| {
            let mut entries = Vec::with_capacity(body.invites.len());
            for raw in body.invites {
                let request = match serde_json::from_value::<InviteBody>(raw)
                    .map_err(|e| ApiError::BadRequest(format!("Not an invite: {e}")))
                    .and_then(parse_invite)
                {
                    Ok(request) => request,
                    Err(e) => {
                        entries.push(refused(e));
                        continue;
                    }
                };
                if let Err(e) = invite::check_rate(conn, &limits, &key, by.meta.ip.as_deref()) {
                    match e {
                        crate::services::ServiceError::TooManyRequests(_) => {
                            entries.push(refused(e.into()));
                            continue;
                        }
                        other => return Err(other),
                    }
                }
                match invite::invite(conn, project, by, request, &base_url, &limits) {
                    Ok(done) => {
                        let view = lookup::membership(conn, &project.id, &done.membership.id)?;
                        entries.push(BulkEntry {
                            response: BulkResponse {
                                status: "200".into(),
                                outcome: None,
                            },
                            resource: Some(ProjectMembership::from(&view)),
                        });
                    }
                    Err(
                        e @ (crate::services::ServiceError::Invalid(_)
                        | crate::services::ServiceError::Conflict(_)
                        | crate::services::ServiceError::TooManyRequests(_)),
                    ) => entries.push(refused(e.into())),
                    Err(other) => return Err(other),
                }
            }
            Ok(entries)
        })
        .await?;
    admin.state.mail.wake();
    Ok(ok(&BulkAnswer {
        resource_type: "Bundle".into(),
        kind: "batch-response".into(),
        entry: entries,
    }))
}
