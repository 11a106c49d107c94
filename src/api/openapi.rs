//! `GET /openapi.json`: the OpenAPI 3.1 document of every JSON route, generated from the
//! handlers' annotations and the response types, so it cannot drift from the code.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{account, admin, fhir, login, me, oauth, resource, wellknown};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rollcall API",
        description = "Project and member administration, wire-compatible with Medplum's client SDK.",
    ),
    paths(
        oauth::token,
        crate::web::authorize::authorize_get,
        oauth::logout,
        oauth::userinfo,
        login::login,
        login::status,
        login::profile,
        login::mfa_verify,
        login::mfa_enroll,
        login::method,
        me::me,
        account::new_user,
        account::new_project,
        account::change_password,
        account::reset_password,
        account::set_password,
        account::mfa_status,
        account::mfa_enroll,
        account::mfa_disable,
        account::revoke,
        account::admin_reset_mfa,
        account::admin_reset_password,
        wellknown::openid_configuration,
        wellknown::jwks,
        admin::projects::create_project,
        admin::projects::create_project_alias,
        admin::projects::get_project,
        admin::invite::invite,
        admin::invite::invite_bulk,
        admin::clients::create_client,
        admin::members::get_member,
        admin::members::update_member,
        admin::members::patch_member,
        admin::members::delete_member,
        fhir::create_project,
        fhir::search_memberships,
        fhir::search_other,
        fhir::read,
    ),
    components(schemas(fhir::ReadableType)),
    modifiers(&Security),
    security(("bearer" = []), ("basic" = [])),
    tags(
        (name = "auth", description = "Signing in, tokens, OpenID Connect and the caller"),
        (name = "admin", description = "Project administration"),
        (name = "fhir", description = "FHIR reads and member search"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/openapi.json", "GET").route(web::get().to(document)));
}

async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .json(ApiDoc::openapi())
}
