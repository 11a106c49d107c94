//! Rows as they are stored. Services turn them into what pages and the API show.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub project_id: Option<String>,
    pub mfa_secret: Option<String>,
    pub mfa_enrolled: bool,
    pub mfa_last_step: Option<i64>,
    pub super_admin: bool,
    pub security_stamp: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_signin_at: Option<NaiveDateTime>,
    /// `light`, `dark`, or `None` to follow the device.
    pub theme: Option<String>,
}

impl User {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_id: String,
    pub default_patient_policy_id: Option<String>,
    pub require_mfa: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A profile without its photo bytes (those are read only when the photo is served).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = profiles)]
pub struct Profile {
    pub id: String,
    pub project_id: String,
    pub resource_type: crate::domain::ProfileType,
    pub first_name: String,
    pub last_name: String,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub language: Option<String>,
    pub qualifications: String,
    pub photo_content_type: Option<String>,
    pub photo_updated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Folded (lower case, no accents) for sorting and searching; see `domain::folded`.
    pub sort_first: String,
    pub sort_last: String,
    pub search_text: String,
    /// JSON list of `{system, value}` (see `domain::profile_form::Identifier`).
    pub identifiers: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub id: String,
    pub project_id: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub profile_id: Option<String>,
    pub access_policy_id: Option<String>,
    pub admin: bool,
    pub active: bool,
    pub status: crate::domain::MembershipStatus,
    pub mfa_required: bool,
    pub invited_by: Option<String>,
    pub external_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The profile's resource type (copied: it never changes), or `None` for a client.
    pub profile_type: Option<crate::domain::ProfileType>,
    /// Copied from the profile (and kept in step by a trigger), for the lists' indexes.
    pub sort_first: String,
    pub sort_last: String,
    pub email: String,
    /// The account's two-factor state (kept in step by a trigger).
    pub mfa: bool,
    /// The last sign-in into this project.
    pub last_signin_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = logins)]
pub struct Login {
    pub id: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub membership_id: Option<String>,
    pub method: String,
    pub remember: bool,
    pub token_hash: Option<String>,
    pub security_stamp: String,
    pub mfa_verified: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = security_requests)]
pub struct SecurityRequest {
    pub id: String,
    pub kind: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub secret_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub superseded_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxMessage {
    pub id: String,
    pub to_address: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_policies)]
pub struct AccessPolicy {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_policy_rules)]
pub struct AccessPolicyRule {
    pub id: String,
    pub policy_id: String,
    pub position: i32,
    pub resource_type: String,
    pub read_only: bool,
    pub criteria: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub project_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_display: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub target_display: Option<String>,
    pub detail: String,
    pub ip: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_applications)]
pub struct ClientApplication {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub redirect_uri: Option<String>,
    pub secret_hash: String,
    pub super_admin: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What an API sign-in or an app's authorization request asked for, and its code.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_grants)]
pub struct LoginGrant {
    pub login_id: String,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<NaiveDateTime>,
    pub code_used_at: Option<NaiveDateTime>,
    pub pending_until: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub auth_time: Option<NaiveDateTime>,
    pub new_project: bool,
}

/// An OpenID Connect provider for an email domain.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_providers)]
pub struct IdentityProvider {
    pub id: String,
    pub domain: String,
    pub project_id: Option<String>,
    pub scope_key: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A sign-in sent to a provider and not yet back.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = external_sign_ins)]
pub struct ExternalSignIn {
    pub id: String,
    pub state_hash: String,
    pub provider_id: String,
    pub code_verifier: String,
    pub nonce: String,
    pub email: String,
    pub next: Option<String>,
    pub app_request: Option<String>,
    pub binding_hash: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}
