//! Projects: read one, and create one (super admins).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoResponses, ToSchema};

use super::{AdminRefusals, ApiAdmin, ProjectPath};
use crate::api::errors::{ApiError, OperationOutcome};
use crate::api::resources::{ProjectResource, Reference};
use crate::api::{Authorized, Caller, Json, fhir_json, meta, ok, state};
use crate::domain::{FieldErrors, ProjectName};
use crate::services::tokens::Principal;
use crate::services::{ServiceError, lookup, registration};

/// The project in the path.
#[utoipa::path(
    get,
    path = "/admin/projects/{projectId}",
    tag = "admin",
    params(ProjectPath),
    responses(
        (status = 200, description = "The project, in Medplum's `{project: {...}}`", body = AdminProject),
        AdminRefusals,
        (status = 404, description = "No such project (super admins)", body = OperationOutcome),
    )
)]
pub async fn get_project(admin: ApiAdmin) -> Result<HttpResponse, ApiError> {
    Ok(ok(&AdminProject {
        project: ProjectResource::from(&admin.project),
    }))
}

/// What Medplum's admin app reads: the project under `project`.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AdminProject {
    pub project: ProjectResource,
}

/// A project to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBody {
    /// Only with `POST /fhir/R4/Project`.
    #[schema(required = false, nullable = false, value_type = ProjectKind)]
    pub resource_type: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        min_length = 4,
        max_length = 72,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: Option<String>,
    #[schema(nullable = false, max_length = 1000)]
    pub description: Option<String>,
    /// A server-wide `User/{id}`; by default the caller, or for a client the owner of the
    /// client's project.
    pub owner: Option<Reference>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub enum ProjectKind {
    Project,
}

/// What the three project-creation routes answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ProjectCreation {
    #[response(status = 201, description = "The new project")]
    Created(ProjectResource),
    #[response(status = 400, description = "Invalid input")]
    Invalid(OperationOutcome),
    #[response(status = 401, description = "No or bad token")]
    Unauthorized(OperationOutcome),
    #[response(status = 403, description = "Not a super admin")]
    Forbidden(OperationOutcome),
    #[response(status = 413, description = "Body too large")]
    TooLarge(OperationOutcome),
    #[response(status = 415, description = "Not JSON")]
    NotJson(OperationOutcome),
}

/// Creates a project with its owner as admin. Shared by `POST /admin/projects` and
/// `POST /fhir/R4/Project`.
pub(crate) async fn new_project(
    req: &HttpRequest,
    caller: Principal,
    body: ProjectBody,
) -> Result<HttpResponse, ApiError> {
    let state = state(req)?;
    if !caller.super_admin() {
        return Err(ApiError::Forbidden(
            "Only super admins may create projects through the API".into(),
        ));
    }
    let mut errors = FieldErrors::new();
    let name = errors.take(
        "name",
        ProjectName::parse(body.name.as_deref().unwrap_or("")),
    );
    let description = body.description.unwrap_or_default().trim().to_owned();
    if description.chars().count() > 1000 {
        errors.add("description", "Use at most 1000 characters");
    }
    let owner_id = match &body.owner {
        Some(r) => match r.id_of("User") {
            Some(id) => Some(id.to_owned()),
            None => {
                errors.add("owner", "owner must reference a User/{id}");
                None
            }
        },
        None => None,
    };
    let Some(name) = name else {
        return Err(ApiError::Invalid(errors));
    };
    errors.into_result().map_err(ApiError::Invalid)?;
    let owner_id = owner_id
        .or_else(|| caller.user_id().map(str::to_owned))
        .unwrap_or_else(|| caller.project.owner_id.clone());
    let (base_url, request_meta) = (state.base_url.clone(), meta(req));
    let project = state
        .db
        .run(move |conn| {
            let owner = lookup::server_user(conn, &owner_id).map_err(|e| match e {
                ServiceError::NotFound => {
                    ServiceError::invalid("owner", "owner must be a server-wide user")
                }
                other => other,
            })?;
            let created = registration::create_project(
                conn,
                &owner,
                name,
                &description,
                &base_url,
                &request_meta,
            )?;
            Ok(created.project)
        })
        .await?;
    state.mail.wake();
    Ok(fhir_json(
        StatusCode::CREATED,
        &ProjectResource::from(&project),
    ))
}

/// Creates a project (super admins only).
#[utoipa::path(
    post,
    path = "/admin/projects",
    tag = "admin",
    request_body(content = ProjectBody, content_type = "application/json"),
    responses(ProjectCreation)
)]
pub async fn create_project(
    req: HttpRequest,
    Authorized(Caller(caller), Json(body)): Authorized<Caller, Json<ProjectBody>>,
) -> Result<HttpResponse, ApiError> {
    new_project(&req, caller, body).await
}

/// The same as `POST /admin/projects`, at the path Medplum's documentation shows (a trailing
/// slash is accepted too).
#[utoipa::path(
    post,
    path = "/admin/Project",
    tag = "admin",
    request_body(content = ProjectBody, content_type = "application/json"),
    responses(ProjectCreation)
)]
pub async fn create_project_alias(
    req: HttpRequest,
    Authorized(Caller(caller), Json(body)): Authorized<Caller, Json<ProjectBody>>,
) -> Result<HttpResponse, ApiError> {
    new_project(&req, caller, body).await
}
