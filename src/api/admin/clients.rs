//! `POST /admin/projects/{projectId}/client`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{AdminRefusals, ApiAdmin, ProjectPath, lenient_bool, policy_id};
use crate::api::errors::{ApiError, OperationOutcome};
use crate::api::resources::{ClientApplicationResource, Reference};
use crate::api::{Authorized, Json, fhir_json};
use crate::services::clients::{self, NewClient};

/// A client to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientBody {
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: Option<String>,
    pub description: Option<String>,
    /// One redirect URI (Medplum's field).
    pub redirect_uri: Option<String>,
    /// Several redirect URIs; joined with `redirectUri` when both are given.
    pub redirect_uris: Option<Vec<String>>,
    pub access_policy: Option<Reference>,
    /// Make the client's membership an admin of the project.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub admin: Option<bool>,
}

/// Creates a ClientApplication with its own membership. The secret is in this answer only.
#[utoipa::path(
    post,
    path = "/admin/projects/{projectId}/client",
    tag = "admin",
    params(ProjectPath),
    request_body(content = ClientBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The client, with its secret", body = ClientApplicationResource),
        (status = 400, description = "Invalid input", body = OperationOutcome),
        AdminRefusals,
        (status = 404, description = "No such project (super admins)", body = OperationOutcome),
        (status = 413, description = "Body too large", body = OperationOutcome),
        (status = 415, description = "Not JSON", body = OperationOutcome),
    )
)]
pub async fn create_client(
    Authorized(admin, Json(body)): Authorized<ApiAdmin, Json<ClientBody>>,
) -> Result<HttpResponse, ApiError> {
    let uris: Vec<String> = body
        .redirect_uri
        .iter()
        .chain(body.redirect_uris.iter().flatten())
        .cloned()
        .collect();
    let mut new = NewClient::parse(
        body.name.as_deref().unwrap_or(""),
        body.description.as_deref(),
        Some(&uris.join("\n")),
    )
    .map_err(ApiError::Invalid)?;
    new.access_policy_id = policy_id(body.access_policy.as_ref(), "accessPolicy")?;
    new.admin = body.admin.unwrap_or(false);
    let created = admin
        .run(move |conn, project, by| clients::create(conn, project, by, new))
        .await?;
    Ok(fhir_json(
        StatusCode::CREATED,
        &ClientApplicationResource::of(&created.detail.client, Some(created.secret)),
    ))
}
