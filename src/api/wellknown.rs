//! OpenID Connect discovery: `/.well-known/openid-configuration` and the public keys at
//! `/.well-known/jwks.json`, so that a standard OpenID Connect library finds everything.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::ApiError;
use super::{resource, state};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/.well-known/openid-configuration", "GET")
            .route(web::get().to(openid_configuration)),
    )
    .service(
        resource("/.well-known/oauth-authorization-server", "GET")
            .route(web::get().to(openid_configuration)),
    )
    .service(resource("/.well-known/jwks.json", "GET").route(web::get().to(jwks)));
}

/// OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub prompt_values_supported: Vec<&'static str>,
}

fn public(body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(body)
}

/// Where the endpoints are and what they support.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "auth",
    responses((status = 200, description = "OpenID Provider Metadata", body = OpenIdConfiguration)),
    security(())
)]
pub async fn openid_configuration(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let base = &state.base_url;
    Ok(public(&OpenIdConfiguration {
        issuer: base.clone(),
        authorization_endpoint: format!("{base}/oauth2/authorize"),
        token_endpoint: format!("{base}/oauth2/token"),
        userinfo_endpoint: format!("{base}/oauth2/userinfo"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["ES256"],
        scopes_supported: vec!["openid", "profile", "email", "offline_access"],
        claims_supported: vec![
            "sub",
            "name",
            "given_name",
            "family_name",
            "email",
            "email_verified",
            "profile",
            "fhirUser",
            "nonce",
            "auth_time",
        ],
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        code_challenge_methods_supported: vec!["S256"],
        prompt_values_supported: vec!["none", "login"],
    }))
}

/// The public keys tokens are signed with (JWK Set).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses((status = 200, description = "JWK Set: `keys[]` with `kty`, `crv`, `x`, `y`, `kid`, `alg`, `use`", body = Object)),
    security(())
)]
pub async fn jwks(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let keys = state.tokens.clone();
    let set = state.db.run(move |conn| keys.jwks(conn)).await?;
    Ok(public(&set))
}
