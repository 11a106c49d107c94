//! `GET /openapi.json`: the OpenAPI 3.1 document of every JSON route, generated from the
//! handlers' annotations and the response types, so it cannot drift from the code.

use actix_web::{HttpResponse, web};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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
        crate::web::authorize::authorize_post,
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
    components(schemas(fhir::ReadableType, fhir::SearchableType)),
    modifiers(&Security, &CommonAnswers),
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

/// Answers that operations give for the same reasons, listed here once rather than on each
/// handler, so that none is left out of the document: a body of another media type (415) or
/// one that does not read as its schema (400), both from the body extractors; a caller
/// missing or no longer valid (401), or one the operation is not for (403), both from the
/// `Authorized` extractors, on every operation that is not public.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                common_answers(operation);
            }
        }
    }
}

fn common_answers(operation: &mut Operation) {
    let public = operation
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
    let mut answers = Vec::new();
    if operation.request_body.is_some() {
        answers.push(("400", "The body does not read as this operation's schema"));
        answers.push((
            "415",
            "The body is not of the media type this operation takes",
        ));
    }
    if !public {
        answers.push(("401", "No caller, or an expired or revoked token"));
        answers.push(("403", "The caller may not do this"));
    }
    for (status, description) in answers {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| {
                let body = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("OperationOutcome")))
                    .build();
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content("application/json", body)
                        .build(),
                )
            });
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
