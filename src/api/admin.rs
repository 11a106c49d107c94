//! `/admin/projects/...`: the project admin endpoints of Medplum's API. Every route that
//! names a project checks that the caller administers it (403 otherwise); ids of other
//! projects' records are not found (404).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::errors::{ApiError, OperationOutcome};
use super::resources::{ClientApplicationResource, ProjectMembership, ProjectResource, Reference};
use super::{Caller, Json, PatchBody, fhir_json, meta, ok, resource, state};
use crate::db::models::Project;
use crate::domain::{EmailAddress, FieldErrors, PersonName, ProfileType, ProjectName};
use crate::http::AppState;
use crate::services::audit::Acting;
use crate::services::clients::{self, NewClient};
use crate::services::invite::{self, InviteRequest, Scope};
use crate::services::members::{self, MembershipChange};
use crate::services::tokens::Principal;
use crate::services::{ServiceError, lookup, projects, registration};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin/projects", "POST").route(web::post().to(create_project)))
        // Medplum's documentation shows `POST /admin/Project/` for creating a project.
        .service(resource("/admin/Project", "POST").route(web::post().to(create_project_alias)))
        .service(resource("/admin/Project/", "POST").route(web::post().to(create_project_alias)))
        .service(resource("/admin/projects/{projectId}", "GET").route(web::get().to(get_project)))
        .service(
            resource("/admin/projects/{projectId}/invite", "POST").route(web::post().to(invite)),
        )
        .service(
            resource("/admin/projects/{projectId}/client", "POST")
                .route(web::post().to(create_client)),
        )
        .service(
            resource(
                "/admin/projects/{projectId}/members/{membershipId}",
                "GET, POST, PATCH, DELETE",
            )
            .route(web::get().to(get_member))
            .route(web::post().to(update_member))
            .route(web::patch().to(patch_member))
            .route(web::delete().to(delete_member)),
        );
}

/// `{projectId}` of the admin routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("projectId"))]
#[allow(dead_code)]
pub struct ProjectPath(String);

/// `{projectId}` and `{membershipId}` of the member routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("projectId", "membershipId"))]
#[allow(dead_code)]
pub struct MemberPath(String, String);

/// What every admin route may answer before looking at the request: no or a bad token, or a
/// project the caller does not administer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AdminRefusals {
    #[response(status = 401, description = "No or bad token")]
    Unauthorized(OperationOutcome),
    #[response(status = 403, description = "Not an admin of this project")]
    Forbidden(OperationOutcome),
}

/// The project named in the path, when the caller may administer it: an admin of that very
/// project, or a super admin.
pub(crate) async fn administered(
    state: &AppState,
    caller: &Principal,
    project_id: &str,
) -> Result<Project, ApiError> {
    if caller.project.id == project_id && caller.admin() {
        return Ok(caller.project.clone());
    }
    if caller.super_admin() {
        let id = project_id.to_owned();
        return Ok(state.db.run(move |conn| projects::get(conn, &id)).await?);
    }
    Err(ApiError::Forbidden(
        "Only admins of this project may do this".into(),
    ))
}

/// The caller as the audit log records them.
fn acting(caller: &Principal, req: &HttpRequest) -> Acting {
    Acting {
        user_id: caller.user_id().map(str::to_owned),
        display: caller.display(),
        super_admin: caller.super_admin(),
        meta: meta(req),
    }
}

fn policy_id(reference: Option<&Reference>, field: &str) -> Result<Option<String>, ApiError> {
    match reference {
        None => Ok(None),
        Some(r) => r
            .id_of("AccessPolicy")
            .map(|id| Some(id.to_owned()))
            .ok_or_else(|| {
                ApiError::invalid(field, "accessPolicy must reference an AccessPolicy/{id}")
            }),
    }
}

/// The project in the path.
#[utoipa::path(
    get,
    path = "/admin/projects/{projectId}",
    tag = "admin",
    params(ProjectPath),
    responses(
        (status = 200, description = "The project", body = ProjectResource),
        AdminRefusals,
        (status = 404, description = "No such project (super admins)", body = OperationOutcome),
    )
)]
pub async fn get_project(
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let project = administered(&state, &caller, &path).await?;
    Ok(ok(&ProjectResource::from(&project)))
}

/// `true`/`false`, also as the strings `"true"`/`"false"`: Medplum's documented curl examples
/// send `"sendEmail": "false"`, and that must mean false.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Option::<Flag>::deserialize(d)? {
        None => Ok(None),
        Some(Flag::Bool(b)) => Ok(Some(b)),
        Some(Flag::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!(
                "expected true or false, got \"{t}\""
            ))),
        },
    }
}

/// The body of an invite, as Medplum's SDK sends it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteBody {
    #[schema(required = true, nullable = false, value_type = ProfileKind)]
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
    #[schema(nullable = false, format = "email", max_length = 254)]
    pub email: Option<String>,
    /// An id from another system; unique within the project.
    #[schema(nullable = false, min_length = 1, max_length = 256, pattern = r"\S")]
    pub external_id: Option<String>,
    /// Default `true`.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub send_email: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub admin: Option<bool>,
    /// Patients default to `project`, others to `server`.
    #[schema(required = false, nullable = false, value_type = ScopeKind)]
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

/// The profile types a member can have.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum ProfileKind {
    Practitioner,
    Patient,
    RelatedPerson,
}

/// Where an invited user's account lives.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ScopeKind {
    Project,
    Server,
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
    let email = match body
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(email) => errors.take("email", EmailAddress::parse(email)),
        None => {
            if external_id.is_none() {
                errors.add("email", "Either email or externalId is required");
            }
            None
        }
    };
    let scope = match body.scope.as_deref() {
        None => None,
        Some("project") => Some(Scope::Project),
        Some("server") => Some(Scope::Server),
        Some(_) => {
            errors.add("scope", "scope must be \"project\" or \"server\"");
            None
        }
    };
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
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<String>,
    Json(body): Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let project = administered(&state, &caller, &path).await?;
    let by = acting(&caller, &req);
    let (limits, key, ip) = (
        state.settings.limits.clone(),
        format!("invite-admin:{}", caller.membership.id),
        by.meta.ip.clone(),
    );
    state
        .db
        .run(move |conn| invite::check_rate(conn, &limits, &key, ip.as_deref()))
        .await?;
    let request = parse_invite(body)?;
    let (base_url, limits) = (state.base_url.clone(), state.settings.limits.clone());
    let view = state
        .db
        .run(move |conn| {
            let outcome = invite::invite(conn, &project, &by, request, &base_url, &limits)?;
            lookup::membership(conn, &project.id, &outcome.membership.id)
        })
        .await?;
    state.mail.wake();
    Ok(ok(&ProjectMembership::from(&view)))
}

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
    pub redirect_uri: Option<String>,
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
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<String>,
    Json(body): Json<ClientBody>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let project = administered(&state, &caller, &path).await?;
    let mut new = NewClient::parse(
        body.name.as_deref().unwrap_or(""),
        body.description.as_deref(),
        body.redirect_uri.as_deref(),
    )
    .map_err(ApiError::Invalid)?;
    new.access_policy_id = policy_id(body.access_policy.as_ref(), "accessPolicy")?;
    new.admin = body.admin.unwrap_or(false);
    let by = acting(&caller, &req);
    let created = state
        .db
        .run(move |conn| clients::create(conn, &project, &by, new))
        .await?;
    Ok(fhir_json(
        StatusCode::CREATED,
        &ClientApplicationResource::of(&created.detail.client, Some(created.secret)),
    ))
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
    Caller(caller): Caller,
    Json(body): Json<ProjectBody>,
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
    Caller(caller): Caller,
    Json(body): Json<ProjectBody>,
) -> Result<HttpResponse, ApiError> {
    new_project(&req, caller, body).await
}

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
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (project_id, membership_id) = path.into_inner();
    let project = administered(&state, &caller, &project_id).await?;
    let view = state
        .db
        .run(move |conn| lookup::membership(conn, &project.id, &membership_id))
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
    let admin = match object.get("admin") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("admin", "admin must be true or false")),
    };
    let active = match object.get("active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("active", "active must be true or false")),
    };
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
    req: &HttpRequest,
    caller: &Principal,
    project_id: &str,
    membership_id: String,
    edit: impl FnOnce(&ProjectMembership) -> Result<Value, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let state = state(req)?;
    let project = administered(&state, caller, project_id).await?;
    let (pid, mid) = (project.id.clone(), membership_id.clone());
    let current = ProjectMembership::from(
        &state
            .db
            .run(move |conn| lookup::membership(conn, &pid, &mid))
            .await?,
    );
    let change = membership_change(&current, &membership_id, &edit(&current)?)?;
    let by = acting(caller, req);
    let view = state
        .db
        .run(move |conn| {
            members::change(conn, &project, &by, &membership_id, change)?;
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
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, membership_id) = path.into_inner();
    apply_update(&req, &caller, &project_id, membership_id, move |_| Ok(body)).await
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
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<(String, String)>,
    PatchBody(patch): PatchBody,
) -> Result<HttpResponse, ApiError> {
    let (project_id, membership_id) = path.into_inner();
    apply_update(&req, &caller, &project_id, membership_id, move |current| {
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
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (project_id, membership_id) = path.into_inner();
    let project = administered(&state, &caller, &project_id).await?;
    let by = acting(&caller, &req);
    state
        .db
        .run(move |conn| members::remove(conn, &project, &by, &membership_id))
        .await
        .map_err(|e| match e {
            // Medplum answers 400 for the owner; the last-admin rule is the same kind of no.
            ServiceError::Conflict(m) => ApiError::BadRequest(m),
            other => other.into(),
        })?;
    Ok(ok(&OperationOutcome::new(
        "information",
        "informational",
        vec![("All OK".into(), None)],
    )))
}
