//! `/fhir/R4/...`: member search, reads by id, and project creation, always within the
//! caller's project.

use actix_web::{HttpRequest, HttpResponse, web};

use super::admin::{ProjectBody, ProjectCreation, new_project};
use super::errors::{ApiError, OperationOutcome};
use super::resources::{
    AccessPolicyResource, AnyResource, Bundle, BundleEntry, BundleLink, ClientApplicationResource,
    ProfileResource, ProjectMembership, ProjectResource,
};
use super::{Authorized, Caller, Json, ok, resource, state};
use crate::domain::{ProfileType, ReadAccess};
use crate::services::lookup::{self, DEFAULT_COUNT, MAX_COUNT, MembershipSearch, MembershipSort};
use crate::services::tokens::Principal;
use crate::services::{ServiceError, clients, policies};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/fhir/R4/Project", "POST").route(web::post().to(create_project)))
        .service(
            resource("/fhir/R4/ProjectMembership", "GET").route(web::get().to(search_memberships)),
        )
        .service(resource("/fhir/R4/{resourceType}", "GET").route(web::get().to(search_other)))
        .service(resource("/fhir/R4/{resourceType}/{id}", "GET").route(web::get().to(read)));
}

/// Creates a project (super admins only), as `POST /admin/projects`.
#[utoipa::path(
    post,
    path = "/fhir/R4/Project",
    tag = "fhir",
    request_body(content = ProjectBody, content_type = "application/fhir+json"),
    responses(ProjectCreation)
)]
pub async fn create_project(
    req: HttpRequest,
    Authorized(Caller(caller), Json(body)): Authorized<Caller, Json<ProjectBody>>,
) -> Result<HttpResponse, ApiError> {
    if body
        .resource_type
        .as_deref()
        .is_some_and(|t| t != "Project")
    {
        return Err(ApiError::invalid(
            "resourceType",
            "resourceType must be Project",
        ));
    }
    new_project(&req, caller, body).await
}

const SEARCH_PARAMS: &[&str] = &[
    "profile-type",
    "profile-type:not",
    "user",
    "profile",
    "admin",
    "project",
    "_sort",
    "_count",
    "_offset",
    "_total",
    "_fields",
    "_elements",
];

/// What `_sort` accepts (a leading `-` for descending).
const SORTS: &[(&str, MembershipSort)] = &[
    ("_lastUpdated", MembershipSort::LastUpdated),
    ("created", MembershipSort::Created),
    ("_id", MembershipSort::Id),
];

fn parse_number(name: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::invalid(name, format!("{name} must be a whole number, 0 or more")))
}

/// The id of `Type/id` (for any of `types`) or of a bare id.
fn reference_id(value: &str, types: &[&str]) -> String {
    match value.split_once('/') {
        Some((t, id)) if types.contains(&t) => id.to_owned(),
        _ => value.to_owned(),
    }
}

fn parse_search(
    pairs: &[(String, String)],
    own_project: &str,
) -> Result<MembershipSearch, ApiError> {
    let mut search = MembershipSearch {
        count: DEFAULT_COUNT,
        ..MembershipSearch::default()
    };
    for (name, value) in pairs {
        if !SEARCH_PARAMS.contains(&name.as_str()) {
            return Err(ApiError::invalid(
                name,
                format!(
                    "Unknown search parameter {name}; supported: {}",
                    SEARCH_PARAMS.join(", ")
                ),
            ));
        }
        let list = || value.split(',').map(|t| t.trim().to_owned()).collect();
        match name.as_str() {
            "profile-type" => search.profile_types = Some(list()),
            "profile-type:not" => search.not_profile_types = Some(list()),
            "user" => search.user = Some(reference_id(value, &["User", "ClientApplication"])),
            "profile" => {
                search.profile = Some(reference_id(
                    value,
                    &[
                        "Practitioner",
                        "Patient",
                        "RelatedPerson",
                        "ClientApplication",
                    ],
                ));
            }
            "admin" => {
                search.admin = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::invalid("admin", "admin must be true or false")),
                });
            }
            "project" => {
                search.nothing |= reference_id(value, &["Project"]) != own_project;
            }
            "_sort" => {
                let (field, descending) = match value.strip_prefix('-') {
                    Some(field) => (field, true),
                    None => (value.as_str(), false),
                };
                let sort = SORTS
                    .iter()
                    .find(|(name, _)| *name == field)
                    .ok_or_else(|| {
                        let names: Vec<&str> = SORTS.iter().map(|(n, _)| *n).collect();
                        ApiError::invalid(
                            "_sort",
                            format!(
                                "Sorting by {field} is not supported; supported: {}",
                                names.join(", ")
                            ),
                        )
                    })?;
                search.sort = Some((sort.1, descending));
            }
            "_count" => search.count = parse_number("_count", value)?.min(MAX_COUNT),
            "_offset" => search.offset = parse_number("_offset", value)?,
            _ => {}
        }
    }
    Ok(search)
}

fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|_| ApiError::BadRequest("The query string is not valid".into()))
}

fn require_admin(caller: &Principal) -> Result<(), ApiError> {
    if caller.admin() || caller.super_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only admins of this project may search its memberships".into(),
        ))
    }
}

/// Searches the caller's project's memberships (admins).
#[utoipa::path(
    get,
    path = "/fhir/R4/ProjectMembership",
    tag = "fhir",
    params(
        ("profile-type" = Option<String>, Query, description = "Profile types, comma-separated (or)"),
        ("profile-type:not" = Option<String>, Query, description = "Profile types to leave out"),
        ("user" = Option<String>, Query, description = "User/{id}, ClientApplication/{id} or an id"),
        ("profile" = Option<String>, Query, description = "Practitioner/{id}, Patient/{id}, ... or an id"),
        ("admin" = Option<bool>, Query, description = "Admins only (true) or non-admins (false)"),
        ("project" = Option<String>, Query, description = "Project/{id}: the caller's own project (another project matches nothing)"),
        ("_sort" = Option<String>, Query, pattern = "^-?(_lastUpdated|created|_id)$", description = "_lastUpdated, created or _id; a leading - for descending"),
        ("_fields" = Option<String>, Query, description = "Accepted and ignored: whole resources are returned"),
        ("_count" = Option<i64>, Query, minimum = 0, description = "Page size, default 20; larger values are capped at 1000"),
        ("_offset" = Option<i64>, Query, minimum = 0, description = "Matches to skip"),
        ("_total" = Option<String>, Query, description = "Accepted and ignored: the total is always given"),
    ),
    responses(
        (status = 200, description = "A searchset Bundle", body = Bundle),
        (status = 400, description = "Bad parameter", body = OperationOutcome),
        (status = 401, description = "No or bad token", body = OperationOutcome),
        (status = 403, description = "Not an admin", body = OperationOutcome),
    )
)]
pub async fn search_memberships(
    req: HttpRequest,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    require_admin(&caller)?;
    let pairs = query_pairs(&req)?;
    let search = parse_search(&pairs, &caller.project.id)?;
    let project_id = caller.project.id.clone();
    let query = search.clone();
    let (total, rows) = state
        .db
        .run(move |conn| lookup::search_memberships(conn, &project_id, &query))
        .await?;
    let base = format!("{}/fhir/R4/ProjectMembership", state.base_url);
    let url_with = |offset: i64| {
        let mut params: Vec<(String, String)> = pairs
            .iter()
            .filter(|(n, _)| n != "_offset" && n != "_count")
            .cloned()
            .collect();
        params.push(("_count".into(), search.count.to_string()));
        params.push(("_offset".into(), offset.to_string()));
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    };
    let mut link = vec![BundleLink {
        relation: "self".into(),
        url: url_with(search.offset),
    }];
    // Offsets come from the query string: add without overflowing.
    let next_offset = search.offset.saturating_add(search.count);
    if search.count > 0 && next_offset < total {
        link.push(BundleLink {
            relation: "next".into(),
            url: url_with(next_offset),
        });
    }
    let bundle = Bundle {
        resource_type: "Bundle".into(),
        kind: "searchset".into(),
        total,
        entry: rows
            .iter()
            .map(|view| BundleEntry {
                full_url: format!("{base}/{}", view.membership.id),
                resource: ProjectMembership::from(view),
            })
            .collect(),
        link,
    };
    Ok(ok(&bundle))
}

/// Searches the caller's project's access policies or client applications (admins): what
/// Medplum's pickers ask for. `name` matches part of the name, any case.
#[utoipa::path(
    get,
    path = "/fhir/R4/{resourceType}",
    tag = "fhir",
    params(
        ("resourceType" = SearchableType, Path, description = "AccessPolicy or ClientApplication (ProjectMembership has its own route)"),
        ("name" = Option<String>, Query, description = "Part of the name, any case"),
        ("_count" = Option<i64>, Query, minimum = 0, description = "Page size, default 20; larger values are capped at 1000"),
        ("_offset" = Option<i64>, Query, minimum = 0, description = "Matches to skip"),
    ),
    responses(
        (status = 200, description = "A searchset Bundle", body = Object),
        (status = 400, description = "Unsupported type or parameter", body = OperationOutcome),
        (status = 401, description = "No or bad token", body = OperationOutcome),
        (status = 403, description = "Not an admin", body = OperationOutcome),
    )
)]
pub async fn search_other(
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let resource_type = path.into_inner();
    if resource_type != "AccessPolicy" && resource_type != "ClientApplication" {
        return Err(ApiError::BadRequest(format!(
            "Search is supported for ProjectMembership, AccessPolicy and ClientApplication, not {resource_type}"
        )));
    }
    if !(caller.admin() || caller.super_admin()) {
        return Err(ApiError::Forbidden(format!(
            "Only admins of this project may search its {resource_type} resources"
        )));
    }
    let state = state(&req)?;
    let (mut name, mut count, mut offset) = (None::<String>, DEFAULT_COUNT, 0);
    for (key, value) in query_pairs(&req)? {
        match key.as_str() {
            "name" | "name:contains" => name = Some(value.to_lowercase()),
            "_count" => count = parse_number("_count", &value)?.min(MAX_COUNT),
            "_offset" => offset = parse_number("_offset", &value)?,
            "_total" | "_fields" | "_elements" | "_sort" => {}
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!("Unknown search parameter {other}; supported: name, _count, _offset"),
                ));
            }
        }
    }
    let project_id = caller.project.id.clone();
    let kind = resource_type.clone();
    let found: Vec<(String, AnyResource)> = state
        .db
        .run(move |conn| {
            Ok(if kind == "AccessPolicy" {
                policies::all_with_rules(conn, &project_id)?
                    .iter()
                    .map(|(p, r)| {
                        (
                            p.name.clone(),
                            AnyResource::AccessPolicy(AccessPolicyResource::of(p, r)),
                        )
                    })
                    .collect()
            } else {
                clients::list(conn, &project_id)?
                    .iter()
                    .map(|d| {
                        (
                            d.client.name.clone(),
                            AnyResource::ClientApplication(ClientApplicationResource::of(
                                &d.client, None,
                            )),
                        )
                    })
                    .collect()
            })
        })
        .await?;
    let matching: Vec<AnyResource> = found
        .into_iter()
        .filter(|(n, _)| name.as_ref().is_none_or(|q| n.to_lowercase().contains(q)))
        .map(|(_, r)| r)
        .collect();
    let total = i64::try_from(matching.len()).unwrap_or(i64::MAX);
    let base = format!("{}/fhir/R4/{resource_type}", state.base_url);
    let page: Vec<AnyResource> = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(0))
        .collect();
    Ok(ok(&serde_json::json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "entry": page.iter().map(|r| serde_json::json!({
            "fullUrl": format!("{base}/{}", resource_id(r)),
            "resource": r,
        })).collect::<Vec<_>>(),
        "link": [{"relation": "self", "url": format!("{base}?{}", req.query_string())}],
    })))
}

fn resource_id(resource: &AnyResource) -> &str {
    match resource {
        AnyResource::AccessPolicy(p) => &p.id,
        AnyResource::ClientApplication(c) => &c.id,
        AnyResource::ProjectMembership(m) => &m.id,
        AnyResource::Project(p) => &p.id,
        AnyResource::Profile(p) => &p.id,
    }
}

/// The resource types `GET /fhir/R4/{resourceType}` searches.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum SearchableType {
    AccessPolicy,
    ClientApplication,
}

/// The resource types `GET /fhir/R4/{resourceType}/{id}` serves.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum ReadableType {
    ProjectMembership,
    Practitioner,
    Patient,
    RelatedPerson,
    AccessPolicy,
    ClientApplication,
    Project,
}

const READABLE: &[&str] = &[
    "ProjectMembership",
    "Practitioner",
    "Patient",
    "RelatedPerson",
    "AccessPolicy",
    "ClientApplication",
    "Project",
];

/// What a non-admin may read besides profiles: their own records.
fn own_record(caller: &Principal, resource_type: &str, id: &str) -> bool {
    match resource_type {
        "Project" => caller.project.id == id,
        "ProjectMembership" => caller.membership.id == id,
        "AccessPolicy" => caller.membership.access_policy_id.as_deref() == Some(id),
        "ClientApplication" => caller.membership.client_id.as_deref() == Some(id),
        _ => false,
    }
}

/// Reads one record of the caller's project.
#[utoipa::path(
    get,
    path = "/fhir/R4/{resourceType}/{id}",
    tag = "fhir",
    params(
        ("resourceType" = ReadableType, Path, description = "The resource type"),
        ("id" = String, Path, description = "Resource id"),
    ),
    responses(
        (status = 200, description = "The resource", body = AnyResource),
        (status = 400, description = "Unsupported resource type", body = OperationOutcome),
        (status = 401, description = "No or bad token", body = OperationOutcome),
        (status = 403, description = "The access policy does not allow this type", body = OperationOutcome),
        (status = 404, description = "Not found in the caller's project", body = OperationOutcome),
    )
)]
pub async fn read(
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (resource_type, id) = path.into_inner();
    if !READABLE.contains(&resource_type.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "Reading {resource_type} is not supported; supported: {}",
            READABLE.join(", ")
        )));
    }
    let is_profile = ProfileType::parse(&resource_type).is_ok();
    let privileged = caller.admin() || caller.super_admin();
    if !privileged && !is_profile && !own_record(&caller, &resource_type, &id) {
        return Err(ApiError::Forbidden(format!(
            "Only admins may read this {resource_type}"
        )));
    }
    let base_url = state.base_url.clone();
    let found = state
        .db
        .run(move |conn| {
            let project_id = caller.project.id.clone();
            if is_profile && !privileged {
                match policies::read_access_of(conn, &caller.membership, &resource_type, &id)? {
                    ReadAccess::Allowed => {}
                    ReadAccess::TypeDenied => {
                        return Err(ServiceError::Forbidden(format!(
                            "Your access policy does not allow reading {resource_type}"
                        )));
                    }
                    ReadAccess::Hidden => return Err(ServiceError::NotFound),
                }
            }
            Ok(match resource_type.as_str() {
                "ProjectMembership" => AnyResource::ProjectMembership(ProjectMembership::from(
                    &lookup::membership(conn, &project_id, &id)?,
                )),
                "AccessPolicy" => {
                    let (policy, rules) = lookup::access_policy(conn, &project_id, &id)?;
                    AnyResource::AccessPolicy(AccessPolicyResource::of(&policy, &rules))
                }
                "ClientApplication" => AnyResource::ClientApplication(
                    ClientApplicationResource::of(&lookup::client(conn, &project_id, &id)?, None),
                ),
                "Project" if id == project_id => {
                    AnyResource::Project(ProjectResource::from(&caller.project))
                }
                "Project" => return Err(ServiceError::NotFound),
                _ => AnyResource::Profile(ProfileResource::of(
                    &lookup::profile(conn, &project_id, &resource_type, &id)?,
                    &base_url,
                )),
            })
        })
        .await?;
    Ok(ok(&found))
}
