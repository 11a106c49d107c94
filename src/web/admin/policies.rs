//! Access policies: list, create, edit, delete.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Admin, Confirm, Tab};
use crate::domain::resource_types::RESOURCE_TYPES;
use crate::domain::{Criteria, FieldErrors, RuleInput, parse_policy};
use crate::services::policies::{self, PolicySummary, PolicyUser};
use crate::services::{Conflict, ServiceError};
use crate::web::errors::AppError;
use crate::web::forms::indexed_field;

const RULES_MAX: usize = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/access-policies").route(web::get().to(list)))
        .service(
            web::resource("/admin/access-policies/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .service(
            web::resource("/admin/access-policies/{id}")
                .route(web::get().to(edit_form))
                .route(web::post().to(update)),
        )
        .service(
            web::resource("/admin/access-policies/{id}/delete")
                .route(web::get().to(confirm_delete))
                .route(web::post().to(delete)),
        );
}

#[derive(Template)]
#[template(path = "pages/admin/policies.html")]
struct ListPage {
    tab: Tab,
    policies: Vec<PolicySummary>,
}

async fn list(admin: Admin) -> Result<HttpResponse, AppError> {
    let policies = admin
        .run(|conn, project, _| policies::list(conn, &project.id))
        .await?;
    let view = ListPage {
        tab: Tab::Policies,
        policies,
    };
    admin.show("Access policies", &view).await
}

#[derive(Template)]
#[template(path = "pages/admin/policy.html")]
struct PolicyPage {
    tab: Tab,
    csrf: String,
    action: String,
    id: Option<String>,
    name: String,
    rules: Vec<RuleInput>,
    criteria: [Criteria; 2],
    used_by: Vec<PolicyUser>,
    errors: FieldErrors,
    problem: Option<String>,
    resource_types: &'static [&'static str],
}

struct Shown {
    id: Option<String>,
    name: String,
    rules: Vec<RuleInput>,
    used_by: Vec<PolicyUser>,
    errors: FieldErrors,
    problem: Option<String>,
    status: StatusCode,
}

async fn render(admin: &Admin, shown: Shown) -> Result<HttpResponse, AppError> {
    let title = if shown.id.is_some() {
        "Edit access policy"
    } else {
        "New access policy"
    };
    let view = PolicyPage {
        tab: Tab::Policies,
        csrf: admin.csrf(),
        action: match &shown.id {
            Some(id) => format!("/admin/access-policies/{id}"),
            None => "/admin/access-policies/new".into(),
        },
        id: shown.id,
        name: shown.name,
        rules: shown.rules,
        criteria: Criteria::ALL,
        used_by: shown.used_by,
        errors: shown.errors,
        problem: shown.problem,
        resource_types: RESOURCE_TYPES,
    };
    admin.render(title, &view, shown.status).await
}

async fn new_form(admin: Admin) -> Result<HttpResponse, AppError> {
    let shown = Shown {
        id: None,
        name: String::new(),
        rules: vec![RuleInput::default()],
        used_by: Vec::new(),
        errors: FieldErrors::new(),
        problem: None,
        status: StatusCode::OK,
    };
    render(&admin, shown).await
}

async fn load_shown(admin: &Admin, id: String) -> Result<Shown, AppError> {
    let detail = admin
        .run(move |conn, project, _| policies::get(conn, &project.id, &id))
        .await?;
    Ok(Shown {
        id: Some(detail.policy.id),
        name: detail.policy.name,
        rules: detail
            .rules
            .into_iter()
            .map(|r| RuleInput {
                resource_type: r.resource_type,
                read_only: r.read_only,
                criteria: r.criteria.unwrap_or_default(),
            })
            .collect(),
        used_by: detail.used_by,
        errors: FieldErrors::new(),
        problem: None,
        status: StatusCode::OK,
    })
}

async fn edit_form(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let shown = load_shown(&admin, path.into_inner()).await?;
    render(&admin, shown).await
}

/// What the policy form sent: `name`, rows `rule[N].resourceType|readOnly|criteria`, and
/// which button: `save`, `add` (another row) or `remove-N`.
struct Submitted {
    name: String,
    rules: Vec<RuleInput>,
    button: String,
}

fn parse_submission(body: &[u8]) -> Result<Submitted, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read".into()))?;
    let mut name = String::new();
    let mut button = "save".to_owned();
    let mut rows: std::collections::BTreeMap<usize, RuleInput> = std::collections::BTreeMap::new();
    for (key, value) in pairs {
        if key == "name" {
            name = value;
        } else if key == "button" {
            button = value;
        } else if let Some((index, field)) = indexed_field("rule", &key, RULES_MAX) {
            let row = rows.entry(index).or_default();
            match field {
                "resourceType" => row.resource_type = value,
                "readOnly" => row.read_only = !value.is_empty(),
                "criteria" => row.criteria = value,
                _ => {}
            }
        }
    }
    Ok(Submitted {
        name,
        rules: rows.into_values().collect(),
        button,
    })
}

async fn submit(
    admin: Admin,
    session: Session,
    id: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let Submitted {
        name,
        mut rules,
        button,
    } = parse_submission(&body)?;
    let used_by = match &id {
        Some(id) => load_shown(&admin, id.clone()).await?.used_by,
        None => Vec::new(),
    };
    let again = |rules: Vec<RuleInput>, errors: FieldErrors, status: StatusCode| Shown {
        id: id.clone(),
        name: name.clone(),
        rules,
        used_by: used_by.clone(),
        errors,
        problem: None,
        status,
    };
    if button == "add" && rules.len() < RULES_MAX {
        rules.push(RuleInput::default());
        return render(&admin, again(rules, FieldErrors::new(), StatusCode::OK)).await;
    }
    if let Some(index) = button
        .strip_prefix("remove-")
        .and_then(|i| i.parse::<usize>().ok())
    {
        if index < rules.len() {
            rules.remove(index);
        }
        return render(&admin, again(rules, FieldErrors::new(), StatusCode::OK)).await;
    }

    let (name, rules) = match parse_policy(&name, &rules) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return render(
                &admin,
                again(rules, errors, StatusCode::UNPROCESSABLE_ENTITY),
            )
            .await;
        }
    };
    let policy_id = id.clone();
    let saved_id = admin
        .run(move |conn, project, by| {
            policies::save(conn, project, by, policy_id.as_deref(), &name, &rules)
        })
        .await?;
    admin.done(
        &session,
        "Access policy saved",
        &format!("/admin/access-policies/{saved_id}"),
    )
}

async fn create(
    admin: Admin,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    submit(admin, session, None, body).await
}

async fn update(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    // Unknown or foreign ids are "not found" before anything else.
    load_shown(&admin, id.clone()).await?;
    submit(admin, session, Some(id), body).await
}

/// The confirmation before deleting; a policy still in use is refused at once (its page
/// lists who uses it).
async fn confirm_delete(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let mut shown = load_shown(&admin, id.clone()).await?;
    if !shown.used_by.is_empty() {
        let names = shown.used_by.iter().map(|u| u.name.clone()).collect();
        shown.problem = Some(Conflict::PolicyInUse(names).to_string());
        shown.status = StatusCode::CONFLICT;
        return render(&admin, shown).await;
    }
    let name = shown.name.clone();
    let view = Confirm::new(
        &admin,
        format!("Delete the access policy {name}?"),
        format!("{name} and its rules are deleted. Nobody uses it now. This cannot be undone."),
        format!("/admin/access-policies/{id}/delete"),
    )
    .button("Delete policy")
    .cancel(format!("/admin/access-policies/{id}"));
    admin.show("Delete access policy", &view).await
}

async fn delete(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let policy_id = id.clone();
    match admin
        .run(move |conn, project, by| policies::delete(conn, project, by, &policy_id))
        .await
    {
        Ok(name) => admin.done(
            &session,
            &format!("Access policy {name} deleted"),
            "/admin/access-policies",
        ),
        Err(ServiceError::Conflict(conflict)) => {
            let mut shown = load_shown(&admin, id).await?;
            shown.problem = Some(conflict.to_string());
            shown.status = StatusCode::CONFLICT;
            render(&admin, shown).await
        }
        Err(e) => Err(e.into()),
    }
}
