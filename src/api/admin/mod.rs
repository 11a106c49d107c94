//! `/admin/projects/...`: the project admin endpoints of Medplum's API. Every route that
//! names a project checks that the caller administers it (403 otherwise); ids of other
//! projects' records are not found (404).

pub mod clients;
pub mod invite;
pub mod members;
pub mod projects;

use crate::api::errors::{ApiError, OperationOutcome};
use crate::api::resources::Reference;
use crate::api::{Caller, meta, resource, state};
use crate::db::DbConn;
use crate::db::models::Project;
use crate::http::AppState;
use crate::services::ServiceError;
use crate::services::audit::Acting;
use crate::services::tokens::Principal;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
pub(crate) use projects::{ProjectBody, ProjectCreation, new_project};
use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/admin/projects", "POST").route(web::post().to(projects::create_project)),
    )
    // Medplum's documentation shows `POST /admin/Project/` for creating a project.
    .service(
        resource("/admin/Project", "POST").route(web::post().to(projects::create_project_alias)),
    )
    .service(
        resource("/admin/Project/", "POST").route(web::post().to(projects::create_project_alias)),
    )
    .service(
        resource("/admin/projects/{projectId}", "GET").route(web::get().to(projects::get_project)),
    )
    .service(
        resource("/admin/projects/{projectId}/invite", "POST")
            .route(web::post().to(invite::invite)),
    )
    .service(
        resource("/admin/projects/{projectId}/invite/bulk", "POST")
            .route(web::post().to(invite::invite_bulk)),
    )
    .service(
        resource("/admin/projects/{projectId}/client", "POST")
            .route(web::post().to(clients::create_client)),
    )
    .service(
        resource(
            "/admin/projects/{projectId}/members/{membershipId}",
            "GET, POST, PATCH, DELETE",
        )
        .route(web::get().to(members::get_member))
        .route(web::post().to(members::update_member))
        .route(web::patch().to(members::patch_member))
        .route(web::delete().to(members::delete_member)),
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

/// The caller, when they administer the project named by the path's `{projectId}` (401 with
/// no or a bad token, 403 otherwise), with that project and the caller as the audit log
/// records them. Every `/admin/projects/{projectId}/...` handler takes one.
pub struct ApiAdmin {
    pub state: web::Data<AppState>,
    pub caller: Principal,
    pub project: Project,
    pub by: Acting,
}

impl FromRequest for ApiAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Caller(caller) = Caller::from_request(&req, &mut Payload::None).await?;
            let state = state(&req)?;
            let project_id = req.match_info().get("projectId").unwrap_or_default();
            let project = administered(&state, &caller, project_id).await?;
            let by = acting(&caller, &req);
            Ok(ApiAdmin {
                state,
                caller,
                project,
                by,
            })
        })
    }
}

impl ApiAdmin {
    /// Runs a service as this admin, in this project, off the async workers.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        F: FnOnce(&mut DbConn, &Project, &Acting) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        let (project, by) = (self.project.clone(), self.by.clone());
        self.state.db.run(move |conn| f(conn, &project, &by)).await
    }
}

/// The project named in the path, when the caller may administer it: an admin of that very
/// project, or a super admin.
async fn administered(
    state: &AppState,
    caller: &Principal,
    project_id: &str,
) -> Result<Project, ApiError> {
    if caller.project.id == project_id && caller.admin() {
        return Ok(caller.project.clone());
    }
    if caller.super_admin() {
        let id = project_id.to_owned();
        return Ok(state
            .db
            .run(move |conn| crate::services::projects::get(conn, &id))
            .await?);
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

pub(crate) fn policy_id(
    reference: Option<&Reference>,
    field: &str,
) -> Result<Option<String>, ApiError> {
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

/// `true`/`false`, also as the strings `"true"`/`"false"`: Medplum's documented curl examples
/// send `"sendEmail": "false"`, and that must mean false.
pub(crate) fn lenient_bool<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<bool>, D::Error> {
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
