//! The Clients tab: client applications of the project, their credentials and access.
//! A new or rotated secret travels to the client's page once, in the (encrypted) session
//! cookie, so that reloading the page cannot show it again or rotate it twice.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::{Admin, Confirm, Tab};
use crate::domain::FieldErrors;
use crate::services::ServiceError;
use crate::services::clients::{self, ClientDetail, NewClient};
use crate::services::policies;
use crate::web::errors::AppError;
use crate::web::htmx::see_other;

const SECRET_KEY: &str = "client_secret";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/clients").route(web::get().to(list)))
        .service(
            web::resource("/admin/clients/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .service(
            web::resource("/admin/clients/{id}/redirect-uris")
                .route(web::post().to(save_redirect_uris)),
        )
        .service(
            web::resource("/admin/clients/{id}")
                .route(web::get().to(show))
                .route(web::post().to(save_access)),
        )
        .service(
            web::resource("/admin/clients/{id}/rotate")
                .route(web::get().to(confirm_rotate))
                .route(web::post().to(rotate)),
        )
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
struct ListPage {
    tab: Tab,
    clients: Vec<ClientDetail>,
}

async fn list(admin: Admin) -> Result<HttpResponse, AppError> {
    let clients = admin
        .run(|conn, project, _| clients::list(conn, &project.id))
        .await?;
    let view = ListPage {
        tab: Tab::Clients,
        clients,
    };
    admin.show("API clients", &view).await
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
    tab: Tab,
    csrf: String,
    form: &'a ClientForm,
    policies: Vec<(String, String)>,
    may_make_super_admin: bool,
    errors: FieldErrors,
}

async fn render_new(
    admin: &Admin,
    form: &ClientForm,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let policies = admin
        .run(|conn, project, _| policies::options(conn, &project.id))
        .await?;
    let view = NewPage {
        tab: Tab::Clients,
        csrf: admin.csrf(),
        form,
        policies,
        may_make_super_admin: admin.current.ctx.user.super_admin,
        errors,
    };
    admin
        .form("New client application", &view, &view.errors)
        .await
}

async fn new_form(admin: Admin) -> Result<HttpResponse, AppError> {
    render_new(&admin, &ClientForm::default(), FieldErrors::new()).await
}

fn chosen_policy(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|p| !p.is_empty())
}

async fn create(
    admin: Admin,
    session: Session,
    form: web::Form<ClientForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let mut new = match NewClient::parse(
        &form.name,
        Some(&form.description),
        Some(&form.redirect_uri),
    ) {
        Ok(new) => new,
        Err(errors) => return render_new(&admin, &form, errors).await,
    };
    new.access_policy_id = chosen_policy(&form.access_policy);
    new.admin = form.admin.is_some();
    if form.super_admin.is_some() {
        if !admin.current.ctx.user.super_admin {
            return Err(AppError::Forbidden);
        }
        new.super_admin = true;
    }
    match admin
        .run(move |conn, project, by| clients::create(conn, project, by, new))
        .await
    {
        Ok(created) => {
            let id = created.detail.client.id.clone();
            hand_over_secret(&session, &id, created.secret)?;
            Ok(see_other(admin.req(), &format!("/admin/clients/{id}")))
        }
        Err(ServiceError::Invalid(errors)) => render_new(&admin, &form, errors).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/admin/client.html")]
struct ClientPage<'a> {
    tab: Tab,
    csrf: String,
    detail: &'a ClientDetail,
    secret: Option<String>,
    token_url: String,
    /// A ready-made authorization request to the first redirect URI.
    authorize_url: Option<String>,
    discovery_url: String,
    /// As typed (after a refused save) or as registered, one per line.
    redirect_uris: String,
    policies: Vec<(String, String)>,
    admin_checked: bool,
    policy_selected: String,
    errors: FieldErrors,
}

#[derive(Default)]
struct Shown {
    admin_checked: bool,
    policy_selected: String,
    redirect_uris: Option<String>,
    errors: FieldErrors,
}

fn authorize_url(base_url: &str, detail: &ClientDetail) -> Option<String> {
    let first = *clients::redirect_uris(&detail.client).first()?;
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", detail.client.id.as_str()),
        ("redirect_uri", first),
        ("scope", "openid profile email offline_access"),
        ("state", "STATE"),
        ("code_challenge", "CHALLENGE"),
        ("code_challenge_method", "S256"),
    ])
    .ok()?;
    Some(format!("{base_url}/oauth2/authorize?{query}"))
}

async fn load_client(
    admin: &Admin,
    id: String,
) -> Result<(ClientDetail, Vec<(String, String)>), AppError> {
    Ok(admin
        .run(move |conn, project, _| {
            let detail = clients::get(conn, &project.id, &id)?;
            Ok((detail, policies::options(conn, &project.id)?))
        })
        .await?)
}

async fn render_client(
    admin: &Admin,
    session: &Session,
    id: String,
    shown: Option<Shown>,
) -> Result<HttpResponse, AppError> {
    let (detail, policies) = load_client(admin, id).await?;
    let shown = shown.unwrap_or_else(|| Shown {
        admin_checked: detail.membership.admin,
        policy_selected: detail
            .membership
            .access_policy_id
            .clone()
            .unwrap_or_default(),
        ..Shown::default()
    });
    let base_url = &admin.state().base_url;
    let view = ClientPage {
        tab: Tab::Clients,
        csrf: admin.csrf(),
        secret: take_secret(session, &detail.client.id),
        token_url: format!("{base_url}/oauth2/token"),
        authorize_url: authorize_url(base_url, &detail),
        discovery_url: format!("{base_url}/.well-known/openid-configuration"),
        redirect_uris: shown
            .redirect_uris
            .unwrap_or_else(|| clients::redirect_uris(&detail.client).join("\n")),
        detail: &detail,
        policies,
        admin_checked: shown.admin_checked,
        policy_selected: shown.policy_selected,
        errors: shown.errors,
    };
    admin.form("Client application", &view, &view.errors).await
}

async fn show(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    render_client(&admin, &session, path.into_inner(), None).await
}

#[derive(Deserialize)]
pub struct AccessForm {
    admin: Option<String>,
    #[serde(default, rename = "accessPolicy")]
    access_policy: String,
}

async fn save_access(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    form: web::Form<AccessForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let make_admin = form.admin.is_some();
    let policy = chosen_policy(&form.access_policy);
    let (client_id, chosen) = (id.clone(), policy.clone());
    match admin
        .run(move |conn, project, by| {
            clients::set_access(conn, project, by, &client_id, make_admin, chosen)
        })
        .await
    {
        Ok(()) => admin.done(
            &session,
            "Client access saved",
            &format!("/admin/clients/{id}"),
        ),
        Err(ServiceError::Invalid(errors)) => {
            let shown = Shown {
                admin_checked: make_admin,
                policy_selected: policy.unwrap_or_default(),
                redirect_uris: None,
                errors,
            };
            render_client(&admin, &session, id, Some(shown)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RedirectUrisForm {
    #[serde(default, rename = "redirectUri")]
    redirect_uri: String,
}

async fn save_redirect_uris(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    form: web::Form<RedirectUrisForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (client_id, typed) = (id.clone(), form.redirect_uri.clone());
    match admin
        .run(move |conn, project, by| {
            clients::set_redirect_uris(conn, project, by, &client_id, &typed)
        })
        .await
    {
        Ok(()) => admin.done(
            &session,
            "Redirect URIs saved",
            &format!("/admin/clients/{id}"),
        ),
        Err(ServiceError::Invalid(errors)) => {
            let (detail, _) = load_client(&admin, id.clone()).await?;
            let shown = Shown {
                admin_checked: detail.membership.admin,
                policy_selected: detail.membership.access_policy_id.unwrap_or_default(),
                redirect_uris: Some(form.into_inner().redirect_uri),
                errors,
            };
            render_client(&admin, &session, id, Some(shown)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn rotate(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let client_id = id.clone();
    let rotated = admin
        .run(move |conn, project, by| clients::rotate_secret(conn, project, by, &client_id))
        .await?;
    hand_over_secret(&session, &id, rotated.secret)?;
    Ok(see_other(admin.req(), &format!("/admin/clients/{id}")))
}

/// The client named in the path, for a confirmation.
async fn client_of(admin: &Admin, id: String) -> Result<ClientDetail, AppError> {
    Ok(admin
        .run(move |conn, project, _| clients::get(conn, &project.id, &id))
        .await?)
}

async fn confirm_remove(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let detail = client_of(&admin, path.into_inner()).await?;
    let (id, name) = (&detail.client.id, &detail.client.name);
    let view = Confirm::new(
        &admin,
        format!("Remove {name}?"),
        format!(
            "The client application {name} and its membership are deleted. Every integration using client ID {id} stops working at once: its tokens end and it cannot get new ones."
        ),
        format!("/admin/clients/{id}/remove"),
    )
    .cancel(format!("/admin/clients/{id}"));
    admin.show("Remove client application", &view).await
}

async fn confirm_rotate(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let detail = client_of(&admin, path.into_inner()).await?;
    let (id, name) = (&detail.client.id, &detail.client.name);
    let view = Confirm::new(
        &admin,
        format!("Rotate the secret of {name}?"),
        format!(
            "A new secret is made and shown once. The current one stops working at once: {name}, and every integration using client ID {id}, loses its tokens and cannot get new ones until it is given the new secret."
        ),
        format!("/admin/clients/{id}/rotate"),
    )
    .button("Rotate secret")
    .cancel(format!("/admin/clients/{id}"));
    admin.show("Rotate client secret", &view).await
}

async fn remove(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client_id = path.into_inner();
    let name = admin
        .run(move |conn, project, by| clients::remove(conn, project, by, &client_id))
        .await?;
    admin.done(
        &session,
        &format!("{name} was removed; its tokens no longer work"),
        "/admin/clients",
    )
}
