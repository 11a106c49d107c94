//! `GET /auth/me` in Medplum's shape: what its SDK keeps as the session (`getProfile()`,
//! `getProject()`, `isSuperAdmin()`, `getAccessPolicy()`, `getUserConfiguration()`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::ApiError;
use super::resources::{
    AccessPolicyResource, AnyResource, ClientApplicationResource, ProfileResource,
    ProjectMembership, ProjectResource,
};
use super::{Caller, ok, resource, state};
use crate::services::tokens::Principal;
use crate::services::{ServiceError, account, lookup};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/me", "GET").route(web::get().to(me)));
}

/// Who the token (or session) acts as.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The project; `superAdmin: true` when the caller is a super admin.
    pub project: ProjectResource,
    pub membership: ProjectMembership,
    /// The member's Practitioner, Patient or RelatedPerson, or the ClientApplication.
    pub profile: AnyResource,
    pub config: UserConfiguration,
    /// The membership's access policy, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_policy: Option<AccessPolicyResource>,
    /// For people (not clients): two-factor authentication and live sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
}

/// The menu an app can show this member: Medplum's `UserConfiguration`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserConfiguration {
    /// Always `UserConfiguration`.
    pub resource_type: String,
    pub name: String,
    pub menu: Vec<MenuSection>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MenuSection {
    pub title: String,
    pub link: Vec<MenuLink>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MenuLink {
    pub name: String,
    /// A path of this server.
    pub target: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    pub mfa_enrolled: bool,
    pub sessions: Vec<SessionInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    #[schema(format = DateTime)]
    pub last_updated: String,
    pub auth_method: String,
    pub remote_address: String,
    /// The browser and system, as the user agent says.
    pub browser: String,
}

fn section(title: &str, links: &[(&str, &str)]) -> MenuSection {
    MenuSection {
        title: title.into(),
        link: links
            .iter()
            .map(|(name, target)| MenuLink {
                name: (*name).into(),
                target: (*target).into(),
            })
            .collect(),
    }
}

fn config_for(caller: &Principal) -> UserConfiguration {
    let mut menu = Vec::new();
    if caller.user.is_some() {
        menu.push(section(
            "Account",
            &[
                ("Account settings", "/account"),
                ("Security", "/account/security"),
            ],
        ));
    }
    if caller.admin() {
        menu.push(section(
            "Admin",
            &[
                ("Project", "/admin/project"),
                ("Users", "/admin/users"),
                ("Patients", "/admin/patients"),
                ("Clients", "/admin/clients"),
                ("Access policies", "/admin/access-policies"),
                ("Audit log", "/admin/audit"),
            ],
        ));
    }
    if caller.super_admin() {
        menu.push(section(
            "Super Admin",
            &[("Server audit log", "/admin/audit?scope=server")],
        ));
    }
    UserConfiguration {
        resource_type: "UserConfiguration".into(),
        name: "Default".into(),
        menu,
    }
}

/// The project, membership, profile, menu, access policy and security of the caller.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No or bad token", body = super::errors::OperationOutcome),
    )
)]
pub async fn me(req: HttpRequest, Caller(caller): Caller) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let base_url = state.base_url.clone();
    let me = state
        .db
        .run(move |conn| {
            let project_id = caller.project.id.clone();
            let view = lookup::membership(conn, &project_id, &caller.membership.id)?;
            let profile = match (&caller.client, &view.profile) {
                (Some(client), _) => {
                    AnyResource::ClientApplication(ClientApplicationResource::of(client, None))
                }
                (None, Some(p)) => {
                    let profile = lookup::profile(conn, &project_id, &p.resource_type, &p.id)?;
                    AnyResource::Profile(ProfileResource::of(&profile, &base_url))
                }
                (None, None) => return Err(ServiceError::NotFound),
            };
            let access_policy = match &caller.membership.access_policy_id {
                Some(id) => {
                    let (policy, rules) = lookup::access_policy(conn, &project_id, id)?;
                    Some(AccessPolicyResource::of(&policy, &rules))
                }
                None => None,
            };
            let security = match &caller.user {
                Some(user) => {
                    let current = caller.login_id.clone().unwrap_or_default();
                    let sessions = account::sessions_of(conn, &user.id, &current)?
                        .into_iter()
                        .map(|s| SessionInfo {
                            id: s.id,
                            last_updated: super::resources::instant(s.last_seen_at),
                            auth_method: s.method,
                            remote_address: s.ip,
                            browser: s.device,
                        })
                        .collect();
                    Some(Security {
                        mfa_enrolled: user.mfa_enrolled,
                        sessions,
                    })
                }
                None => None,
            };
            let mut project = ProjectResource::from(&caller.project);
            project.super_admin = caller.super_admin().then_some(true);
            Ok(Me {
                project,
                membership: ProjectMembership::from(&view),
                profile,
                config: config_for(&caller),
                access_policy,
                security,
            })
        })
        .await?;
    Ok(ok(&me))
}
