//! Rollcall as an OpenID Connect client of another provider: discovery, the authorization
//! request (code flow with PKCE S256), the code exchange, and the ID token checked against
//! the provider's published keys (issuer, audience, expiry, nonce, a verified email).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::external::{self, Comeback, Departure};
use super::{Db, ServiceError};
use crate::db::models::IdentityProvider;
use crate::domain::EmailAddress;

/// Why a provider's answer was not accepted (shown to the person, logged with details).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the provider's ID token is not valid: {0}")]
    Token(String),
    #[error("the provider did not vouch for a verified email address")]
    NoVerifiedEmail,
}

/// The HTTP client for providers, built once: short timeouts, no redirects followed.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Rollcall")
        .build()
}

/// What discovery says about a provider.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

fn provider_error(e: impl std::fmt::Display) -> OidcError {
    OidcError::Provider(e.to_string())
}

/// Reads `{issuer}/.well-known/openid-configuration`; its issuer must be the one configured.
pub async fn discover(
    http: &reqwest::Client,
    provider: &IdentityProvider,
) -> Result<Metadata, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        provider.issuer.trim_end_matches('/')
    );
    let metadata: Metadata = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(provider_error)?
        .json()
        .await
        .map_err(provider_error)?;
    if metadata.issuer.trim_end_matches('/') != provider.issuer.trim_end_matches('/') {
        return Err(OidcError::Provider(format!(
            "discovery names issuer {}, not {}",
            metadata.issuer, provider.issuer
        )));
    }
    Ok(metadata)
}

/// Where to send the person: the provider's authorization endpoint with this sign-in's state,
/// nonce and PKCE challenge.
pub fn authorize_url(
    metadata: &Metadata,
    provider: &IdentityProvider,
    redirect_uri: &str,
    departure: &Departure,
    login_hint: &str,
) -> Result<String, OidcError> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(departure.code_verifier.as_bytes()));
    let mut url = url::Url::parse(&metadata.authorization_endpoint).map_err(provider_error)?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", &departure.state)
        .append_pair("nonce", &departure.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", login_hint);
    Ok(url.into())
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct IdClaims {
    #[serde(default)]
    aud: serde_json::Value,
    azp: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    nonce: Option<String>,
}

/// Exchanges the code and returns the address the provider verified.
pub async fn finish(
    http: &reqwest::Client,
    metadata: &Metadata,
    provider: &IdentityProvider,
    redirect_uri: &str,
    code: &str,
    code_verifier: &str,
    nonce: &str,
) -> Result<String, OidcError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
        ("client_id", provider.client_id.as_str()),
    ];
    if !provider.client_secret.is_empty() {
        form.push(("client_secret", provider.client_secret.as_str()));
    }
    let answer: TokenAnswer = http
        .post(&metadata.token_endpoint)
        .form(&form)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(provider_error)?
        .json()
        .await
        .map_err(provider_error)?;
    let id_token = answer
        .id_token
        .ok_or_else(|| OidcError::Token("no id_token in the answer".into()))?;
    let keys: JwkSet = http
        .get(&metadata.jwks_uri)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(provider_error)?
        .json()
        .await
        .map_err(provider_error)?;
    let header =
        jsonwebtoken::decode_header(&id_token).map_err(|e| OidcError::Token(e.to_string()))?;
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(|| OidcError::Token("signed with a key the provider does not publish".into()))?;
    // Never a shared-secret algorithm, and only the one the key is published for.
    let alg_name = format!("{:?}", header.alg);
    let symmetric = alg_name.starts_with("HS");
    let other_alg = jwk
        .common
        .key_algorithm
        .is_some_and(|a| a.to_string() != alg_name);
    if symmetric || other_alg {
        return Err(OidcError::Token(format!("unexpected algorithm {alg_name}")));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| OidcError::Token(e.to_string()))?;
    // The algorithm is the header's, but only one the key itself is for.
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&metadata.issuer]);
    validation.set_audience(&[&provider.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<IdClaims>(&id_token, &key, &validation)
        .map_err(|e| OidcError::Token(e.to_string()))?
        .claims;
    // Issued to several audiences: only when it says it was for this client.
    if claims.aud.as_array().is_some_and(|a| a.len() > 1)
        && claims.azp.as_deref() != Some(provider.client_id.as_str())
    {
        return Err(OidcError::Token(
            "issued to several audiences, not for this client".into(),
        ));
    }
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(OidcError::Token("the nonce does not match".into()));
    }
    let verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
        || matches!(&claims.email_verified, Some(serde_json::Value::String(s)) if s == "true");
    match claims.email {
        Some(email) if verified => Ok(email),
        _ => Err(OidcError::NoVerifiedEmail),
    }
}

/// Where to send a person whose address has a provider (its authorization URL, for this
/// sign-in, recorded to check the answer), `None` when the domain has none in this scope, or
/// `Err(message)` when the provider cannot be reached.
pub async fn departure(
    db: &Db,
    http: &reqwest::Client,
    callback_url: &str,
    email: &EmailAddress,
    project_hint: Option<String>,
    comeback: Comeback,
) -> Result<Result<Option<(IdentityProvider, String)>, String>, ServiceError> {
    let address = email.clone();
    let Some(provider) = db
        .run(move |conn| external::for_email(conn, &address, project_hint.as_deref()))
        .await?
    else {
        return Ok(Ok(None));
    };
    let metadata = match discover(http, &provider).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, domain = %provider.domain, "identity provider discovery failed");
            return Ok(Err(format!(
                "Your organisation ({}) signs in with its own provider, which cannot be reached right now. Try again in a moment, or tell your administrator.",
                provider.domain
            )));
        }
    };
    let (p, address) = (provider.clone(), email.clone());
    let departure = db
        .run(move |conn| external::depart(conn, &p, &address, &comeback))
        .await?;
    let url = authorize_url(
        &metadata,
        &provider,
        callback_url,
        &departure,
        email.as_str(),
    )
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(Ok(Some((provider, url))))
}
