//! FHIR-shaped JSON of Rollcall's records, as Medplum's SDK reads them. Never carries
//! password hashes, MFA secrets, token hashes or client secret hashes.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::models::{AccessPolicy, AccessPolicyRule, ClientApplication, Profile, Project};
use crate::services::lookup::MembershipView;
use crate::services::profile::{identifiers_of, qualifications_of};

/// The extension that carries a membership's status: `invited` (the person has not accepted
/// yet: an existing account's invitation, or a new account without a password) or `active`.
pub const MEMBERSHIP_STATUS_URL: &str =
    "https://rollcall.dev/fhir/StructureDefinition/membership-status";

/// A FHIR `Extension` with a code value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub url: String,
    pub value_code: String,
}

/// A FHIR `Reference`: `Type/id`, with a display name where one is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    #[schema(example = "Practitioner/6c2a8f1e-0b1d-4c52-9a47-5b0f3f0ad9d1")]
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    pub fn to(kind: &str, id: &str) -> Reference {
        Reference {
            reference: format!("{kind}/{id}"),
            display: None,
        }
    }

    fn shown(kind: &str, id: &str, display: impl Into<String>) -> Reference {
        Reference {
            reference: format!("{kind}/{id}"),
            display: Some(display.into()),
        }
    }

    /// The id when this reference points at a resource of `kind`.
    pub fn id_of(&self, kind: &str) -> Option<&str> {
        self.reference
            .strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|id| !id.is_empty() && !id.contains('/'))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// When the record last changed (UTC).
    pub last_updated: String,
}

fn meta(at: NaiveDateTime) -> Meta {
    Meta {
        last_updated: instant(at),
    }
}

/// A stored time (UTC) as FHIR's `instant`: RFC 3339 with milliseconds and `Z`.
pub fn instant(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `ProjectMembership`: a user's or client's access to one project.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectMembership {
    #[schema(example = "ProjectMembership")]
    pub resource_type: String,
    pub id: String,
    pub meta: Meta,
    pub project: Reference,
    /// `User/...`, or `ClientApplication/...` for a client's membership.
    pub user: Reference,
    /// `Practitioner/...`, `Patient/...`, `RelatedPerson/...` or `ClientApplication/...`.
    pub profile: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_policy: Option<Reference>,
    pub admin: bool,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<Reference>,
    /// Rollcall's membership status (see `MEMBERSHIP_STATUS_URL`).
    pub extension: Vec<Extension>,
}

impl From<&MembershipView> for ProjectMembership {
    fn from(view: &MembershipView) -> Self {
        let m = &view.membership;
        let (user, profile) = match (&m.client_id, &m.user_id, &view.profile) {
            (Some(client), _, _) => {
                let name = view.client_name.clone().unwrap_or_default();
                (
                    Reference::shown("ClientApplication", client, name.clone()),
                    Reference::shown("ClientApplication", client, name),
                )
            }
            (None, Some(user), Some(p)) => (
                Reference::shown("User", user, view.user_email.clone().unwrap_or_default()),
                Reference::shown(
                    p.resource_type.as_str(),
                    &p.id,
                    format!("{} {}", p.first_name, p.last_name),
                ),
            ),
            (None, Some(user), None) => (
                Reference::shown("User", user, view.user_email.clone().unwrap_or_default()),
                Reference::to("Practitioner", ""),
            ),
            (None, None, _) => (Reference::to("User", ""), Reference::to("Practitioner", "")),
        };
        ProjectMembership {
            resource_type: "ProjectMembership".into(),
            id: m.id.clone(),
            meta: meta(m.updated_at),
            project: Reference::to("Project", &m.project_id),
            user,
            profile,
            access_policy: m
                .access_policy_id
                .as_ref()
                .map(|id| Reference::to("AccessPolicy", id)),
            admin: m.admin,
            active: m.active,
            external_id: m.external_id.clone(),
            invited_by: m.invited_by.as_ref().map(|id| Reference::to("User", id)),
            extension: vec![Extension {
                url: MEMBERSHIP_STATUS_URL.into(),
                value_code: m.status.as_str().to_owned(),
            }],
        }
    }
}

/// `Project`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectResource {
    #[schema(example = "Project")]
    pub resource_type: String,
    pub id: String,
    pub meta: Meta,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub owner: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_patient_access_policy: Option<Reference>,
    /// `true` in `/auth/me` for a super admin (Medplum's SDK reads `isSuperAdmin()` here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub super_admin: Option<bool>,
}

impl From<&Project> for ProjectResource {
    fn from(p: &Project) -> Self {
        ProjectResource {
            resource_type: "Project".into(),
            id: p.id.clone(),
            meta: meta(p.updated_at),
            name: p.name.clone(),
            description: Some(p.description.clone()).filter(|d| !d.is_empty()),
            owner: Reference::to("User", &p.owner_id),
            default_patient_access_policy: p
                .default_patient_policy_id
                .as_ref()
                .map(|id| Reference::to("AccessPolicy", id)),
            super_admin: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HumanName {
    pub given: Vec<String>,
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactPoint {
    /// `email` or `phone`.
    pub system: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CodeableText {
    pub text: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DisplayOnly {
    pub display: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Qualification {
    pub code: CodeableText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<DisplayOnly>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Communication {
    pub language: CodeableText,
}

/// FHIR `Identifier`: a number the project knows the person by.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentifierValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "http://hl7.org/fhir/sid/us-npi")]
    pub system: Option<String>,
    pub value: String,
}

/// `Practitioner`, `Patient` or `RelatedPerson`: a member's profile.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileResource {
    #[schema(example = "Practitioner")]
    pub resource_type: String,
    pub id: String,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<IdentifierValue>,
    pub name: Vec<HumanName>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub communication: Vec<Communication>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub qualification: Vec<Qualification>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub photo: Vec<Attachment>,
}

impl ProfileResource {
    pub fn of(p: &Profile, base_url: &str) -> Self {
        let telecom = [("email", &p.email), ("phone", &p.phone)]
            .into_iter()
            .filter_map(|(system, value)| {
                value
                    .as_ref()
                    .filter(|v| !v.is_empty())
                    .map(|v| ContactPoint {
                        system: system.into(),
                        value: v.clone(),
                    })
            })
            .collect();
        let qualification = qualifications_of(p)
            .into_iter()
            .map(|q| Qualification {
                code: CodeableText { text: q.text },
                issuer: Some(q.issuer)
                    .filter(|i| !i.is_empty())
                    .map(|display| DisplayOnly { display }),
                period: (q.start.is_some() || q.end.is_some()).then(|| Period {
                    start: q.start.map(|d| d.to_string()),
                    end: q.end.map(|d| d.to_string()),
                }),
            })
            .collect();
        ProfileResource {
            resource_type: p.resource_type.to_string(),
            id: p.id.clone(),
            meta: meta(p.updated_at),
            identifier: identifiers_of(p)
                .into_iter()
                .map(|i| IdentifierValue {
                    system: Some(i.system).filter(|s| !s.is_empty()),
                    value: i.value,
                })
                .collect(),
            name: vec![HumanName {
                given: vec![p.first_name.clone()],
                family: p.last_name.clone(),
                prefix: p.prefix.clone().map(|x| vec![x]),
                suffix: p.suffix.clone().map(|x| vec![x]),
            }],
            telecom,
            gender: p.gender.clone(),
            birth_date: p.birth_date.map(|d| d.to_string()),
            communication: p
                .language
                .iter()
                .map(|l| Communication {
                    language: CodeableText { text: l.clone() },
                })
                .collect(),
            qualification,
            photo: p
                .photo_updated_at
                .map(|at| Attachment {
                    content_type: "image/png".into(),
                    url: format!("{base_url}{}", crate::services::auth::photo_url(&p.id, at)),
                })
                .into_iter()
                .collect(),
        }
    }
}

/// One rule of an access policy.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResourceRule {
    /// A resource type, or `*` for every type.
    pub resource_type: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    /// `Type?_id=%profile.id` or `Type?_compartment=%patient`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criteria: Option<String>,
}

/// `AccessPolicy`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyResource {
    #[schema(example = "AccessPolicy")]
    pub resource_type: String,
    pub id: String,
    pub meta: Meta,
    pub name: String,
    pub resource: Vec<PolicyResourceRule>,
}

impl AccessPolicyResource {
    pub fn of(policy: &AccessPolicy, rules: &[AccessPolicyRule]) -> Self {
        AccessPolicyResource {
            resource_type: "AccessPolicy".into(),
            id: policy.id.clone(),
            meta: meta(policy.updated_at),
            name: policy.name.clone(),
            resource: rules
                .iter()
                .map(|r| PolicyResourceRule {
                    resource_type: r.resource_type.clone(),
                    readonly: r.read_only,
                    criteria: r
                        .criteria
                        .as_ref()
                        .map(|c| format!("{}?{c}", r.resource_type)),
                })
                .collect(),
        }
    }
}

/// `ClientApplication`. `secret` appears only in the answer that created it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientApplicationResource {
    #[schema(example = "ClientApplication")]
    pub resource_type: String,
    pub id: String,
    pub meta: Meta,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The first registered redirect URI (Medplum's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Every registered redirect URI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl ClientApplicationResource {
    pub fn of(c: &ClientApplication, secret: Option<String>) -> Self {
        let redirect_uris: Vec<String> = crate::services::clients::redirect_uris(c)
            .into_iter()
            .map(str::to_owned)
            .collect();
        ClientApplicationResource {
            resource_type: "ClientApplication".into(),
            id: c.id.clone(),
            meta: meta(c.updated_at),
            name: c.name.clone(),
            description: Some(c.description.clone()).filter(|d| !d.is_empty()),
            redirect_uri: redirect_uris.first().cloned(),
            redirect_uris,
            secret,
        }
    }
}

/// Any resource `GET /fhir/R4/{type}/{id}` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AnyResource {
    ProjectMembership(ProjectMembership),
    Profile(ProfileResource),
    AccessPolicy(AccessPolicyResource),
    ClientApplication(ClientApplicationResource),
    Project(ProjectResource),
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    pub full_url: String,
    pub resource: ProjectMembership,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BundleLink {
    /// `self` or `next`.
    pub relation: String,
    pub url: String,
}

/// A FHIR searchset `Bundle` of memberships.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    #[schema(example = "Bundle")]
    pub resource_type: String,
    /// Always `searchset`.
    #[serde(rename = "type")]
    pub kind: String,
    pub total: i64,
    pub entry: Vec<BundleEntry>,
    pub link: Vec<BundleLink>,
}
