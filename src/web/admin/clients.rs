//! The Clients tab: client applications of the project, their credentials and access.
//! A new or rotated secret travels to the client's page once, in the (encrypted) session
//! cookie, so that reloading the page cannot show it again or rotate it twice.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::{Admin, TABS};
use crate::domain::FieldErrors;
use crate::services::ServiceError;
use crate::services::clients::{self, ClientDetail, NewClient};
use crate::services::policies;
use crate::web::AppState;
use crate::web::errors::AppError;
use crate::web::extractors::{Meta, ProjectAdmin};
use crate::web::htmx::see_other;
use crate::web::render::{csrf_of, page};
use crate::web::session;

const SECRET_KEY: &str = "client_secret";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/clients").route(web::get().to(list)))
        .service(
            web::resource("/admin/clients/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .service(
            web::resource("/admin/clients/{id}")
                .route(web::get().to(show))
                .route(web::post().to(save_access)),
        )
        .service(web::resource("/admin/clients/{id}/rotate").route(web::post().to(rotate)))
        .service(
            web::resource("/admin/clients/{id}/remove")
                .route(web::get().to(confirm_remove))
                .route(web::post().to(remove)),
        );
}

#[derive(Serialize, Deserialize)]
struct OneTimeSecret {
    client_id: String,
    secret: String,
}

fn hand_over_secret(session: &Session, client_id: &str, secret: String) -> Result<(), AppError> {
    session
        .insert(
            SECRET_KEY,
            OneTimeSecret {
                client_id: client_id.to_owned(),
                secret,
            },
        )
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))
}

fn take_secret(session: &Session, client_id: &str) -> Option<String> {
    let held = session.get::<OneTimeSecret>(SECRET_KEY).ok().flatten()?;
    if held.client_id != client_id {
        return None;
    }
    session.remove(SECRET_KEY);
    Some(held.secret)
}

#[derive(Template)]
#[template(path = "pages/admin/clients.html")]
struct ListPage<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    clients: Vec<ClientDetail>,
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    ProjectAdmin(current): ProjectAdmin,
) -> Result<HttpResponse, AppError> {
    let project_id = current.membership.project_id.clone();
    let clients = state
        .db
        .run(move |conn| clients::list(conn, &project_id))
        .await?;
    let view = ListPage {
        tabs: TABS,
        tab: "clients",
        clients,
    };
    page(
        &req,
        &state,
        Some(&current.ctx),
        "API clients",
        &view,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct ClientForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default, rename = "redirectUri")]
    redirect_uri: String,
    #[serde(default, rename = "accessPolicy")]
    access_policy: String,
    admin: Option<String>,
    #[serde(rename = "superAdmin")]
    super_admin: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/client_new.html")]
struct NewPage<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    csrf: String,
    form: &'a ClientForm,
    policies: Vec<(String, String)>,
    may_make_super_admin: bool,
    errors: FieldErrors,
}

async fn render_new(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    form: &ClientForm,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let project_id = admin.project.id.clone();
    let policies = state
        .db
        .run(move |conn| policies::options(conn, &project_id))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = NewPage {
        tabs: TABS,
        tab: "clients",
        csrf: csrf_of(req),
        form,
        policies,
        may_make_super_admin: admin.current.ctx.user.super_admin,
        errors,
    };
    page(
        req,
        state,
        Some(&admin.current.ctx),
        "New client application",
        &view,
        status,
    )
    .await
}

async fn new_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    meta: Meta,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    render_new(
        &req,
        &state,
        &admin,
        &ClientForm::default(),
        FieldErrors::new(),
    )
    .await
}

fn chosen_policy(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|p| !p.is_empty())
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    form: web::Form<ClientForm>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let form = form.into_inner();
    let mut new = match NewClient::parse(
        &form.name,
        Some(&form.description),
        Some(&form.redirect_uri),
    ) {
        Ok(new) => new,
        Err(errors) => return render_new(&req, &state, &admin, &form, errors).await,
    };
    new.access_policy_id = chosen_policy(&form.access_policy);
    new.admin = form.admin.is_some();
    if form.super_admin.is_some() {
        if !admin.current.ctx.user.super_admin {
            return Err(AppError::Forbidden);
        }
        new.super_admin = true;
    }
    let (project, by) = (admin.project.clone(), admin.acting());
    match state
        .db
        .run(move |conn| clients::create(conn, &project, &by, new))
        .await
    {
        Ok(created) => {
            let id = created.detail.client.id.clone();
            hand_over_secret(&session, &id, created.secret)?;
            Ok(see_other(&req, &format!("/admin/clients/{id}")))
        }
        Err(ServiceError::Invalid(errors)) => render_new(&req, &state, &admin, &form, errors).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/admin/client.html")]
struct ClientPage<'a> {
    tabs: &'a [(&'a str, &'a str, &'a str)],
    tab: &'a str,
    csrf: String,
    detail: &'a ClientDetail,
    secret: Option<String>,
    token_url: String,
    policies: Vec<(String, String)>,
    admin_checked: bool,
    policy_selected: String,
    errors: FieldErrors,
}

struct Shown {
    admin_checked: bool,
    policy_selected: String,
    errors: FieldErrors,
}

async fn load_client(
    state: &AppState,
    admin: &Admin,
    id: String,
) -> Result<(ClientDetail, Vec<(String, String)>), AppError> {
    let project_id = admin.project.id.clone();
    Ok(state
        .db
        .run(move |conn| {
            let detail = clients::get(conn, &project_id, &id)?;
            Ok((detail, policies::options(conn, &project_id)?))
        })
        .await?)
}

async fn render_client(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    admin: &Admin,
    id: String,
    shown: Option<Shown>,
) -> Result<HttpResponse, AppError> {
    let (detail, policies) = load_client(state, admin, id).await?;
    let status = if shown.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let shown = shown.unwrap_or_else(|| Shown {
        admin_checked: detail.membership.admin,
        policy_selected: detail
            .membership
            .access_policy_id
            .clone()
            .unwrap_or_default(),
        errors: FieldErrors::new(),
    });
    let view = ClientPage {
        tabs: TABS,
        tab: "clients",
        csrf: csrf_of(req),
        secret: take_secret(session, &detail.client.id),
        token_url: format!("{}/oauth2/token", state.base_url),
        detail: &detail,
        policies,
        admin_checked: shown.admin_checked,
        policy_selected: shown.policy_selected,
        errors: shown.errors,
    };
    page(
        req,
        state,
        Some(&admin.current.ctx),
        "Client application",
        &view,
        status,
    )
    .await
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    render_client(&req, &state, &session, &admin, path.into_inner(), None).await
}

#[derive(Deserialize)]
pub struct AccessForm {
    admin: Option<String>,
    #[serde(default, rename = "accessPolicy")]
    access_policy: String,
}

async fn save_access(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
    form: web::Form<AccessForm>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let id = path.into_inner();
    let make_admin = form.admin.is_some();
    let policy = chosen_policy(&form.access_policy);
    let (project, by, client_id, chosen) = (
        admin.project.clone(),
        admin.acting(),
        id.clone(),
        policy.clone(),
    );
    match state
        .db
        .run(move |conn| clients::set_access(conn, &project, &by, &client_id, make_admin, chosen))
        .await
    {
        Ok(()) => {
            session::set_flash(&session, "Client access saved")?;
            Ok(see_other(&req, &format!("/admin/clients/{id}")))
        }
        Err(ServiceError::Invalid(errors)) => {
            let shown = Shown {
                admin_checked: make_admin,
                policy_selected: policy.unwrap_or_default(),
                errors,
            };
            render_client(&req, &state, &session, &admin, id, Some(shown)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let id = path.into_inner();
    let (project, by, client_id) = (admin.project.clone(), admin.acting(), id.clone());
    let rotated = state
        .db
        .run(move |conn| clients::rotate_secret(conn, &project, &by, &client_id))
        .await?;
    hand_over_secret(&session, &id, rotated.secret)?;
    Ok(see_other(&req, &format!("/admin/clients/{id}")))
}

#[derive(Template)]
#[template(path = "pages/admin/client_remove.html")]
struct RemovePage<'a> {
    csrf: String,
    detail: &'a ClientDetail,
}

async fn confirm_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let (project_id, id) = (admin.project.id.clone(), path.into_inner());
    let detail = state
        .db
        .run(move |conn| clients::get(conn, &project_id, &id))
        .await?;
    let view = RemovePage {
        csrf: csrf_of(&req),
        detail: &detail,
    };
    page(
        &req,
        &state,
        Some(&admin.current.ctx),
        "Remove client application",
        &view,
        StatusCode::OK,
    )
    .await
}

async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    admin: ProjectAdmin,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = Admin::load(&state, admin, meta).await?;
    let (project, by, client_id) = (admin.project.clone(), admin.acting(), path.into_inner());
    let name = state
        .db
        .run(move |conn| clients::remove(conn, &project, &by, &client_id))
        .await?;
    session::set_flash(
        &session,
        &format!("{name} was removed; its tokens no longer work"),
    )?;
    Ok(see_other(&req, "/admin/clients"))
}
