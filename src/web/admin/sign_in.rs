//! Single sign-on: the OpenID Connect providers that sign in the people of an email domain.
//! `/admin/sign-in` configures the project's own (for its project-scoped accounts); a super
//! admin also configures server-wide ones at `/admin/sign-in?scope=server`.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab};
use crate::db::models::IdentityProvider;
use crate::domain::FieldErrors;
use crate::services::ServiceError;
use crate::services::external::{self, ProviderForm};
use crate::web::errors::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/sign-in")
            .route(web::get().to(show))
            .route(web::post().to(save)),
    )
    .service(web::resource("/admin/sign-in/{id}/remove").route(web::post().to(remove)));
}

#[derive(Deserialize, Default)]
pub struct ScopeQuery {
    #[serde(default)]
    scope: String,
}

#[derive(Template)]
#[template(path = "pages/admin/sign_in.html")]
struct SignInPage {
    tab: Tab,
    csrf: String,
    server: bool,
    may_configure_server: bool,
    project_name: String,
    providers: Vec<IdentityProvider>,
    callback_url: String,
    form: ProviderFields,
    errors: FieldErrors,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ProviderFields {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    scope: String,
}

/// The scope a request is about: the server (super admins only) or the admin's project.
fn scope_of(admin: &Admin, scope: &str) -> Result<Option<String>, AppError> {
    if scope == "server" {
        if !admin.current.ctx.user.super_admin {
            return Err(AppError::Forbidden);
        }
        return Ok(None);
    }
    Ok(Some(admin.project.id.clone()))
}

async fn render(
    admin: &Admin,
    project: Option<String>,
    form: ProviderFields,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let scope = project.clone();
    let providers = admin
        .run(move |conn, _, _| external::list(conn, scope.as_deref()))
        .await?;
    let view = SignInPage {
        tab: Tab::Details,
        csrf: admin.csrf(),
        server: project.is_none(),
        may_configure_server: admin.current.ctx.user.super_admin,
        project_name: admin.project.name.clone(),
        providers,
        callback_url: crate::web::external::callback_url(admin.state()),
        form: ProviderFields {
            client_secret: String::new(),
            ..form
        },
        errors,
    };
    admin.form("Single sign-on", &view, &view.errors).await
}

async fn show(admin: Admin, query: web::Query<ScopeQuery>) -> Result<HttpResponse, AppError> {
    let project = scope_of(&admin, &query.scope)?;
    render(
        &admin,
        project,
        ProviderFields::default(),
        FieldErrors::new(),
    )
    .await
}

fn page_of(project: &Option<String>) -> &'static str {
    if project.is_none() {
        "/admin/sign-in?scope=server"
    } else {
        "/admin/sign-in"
    }
}

async fn save(
    admin: Admin,
    session: Session,
    form: web::Form<ProviderFields>,
) -> Result<HttpResponse, AppError> {
    let fields = form.into_inner();
    let project = scope_of(&admin, &fields.scope)?;
    let typed = ProviderForm {
        domain: fields.domain.clone(),
        issuer: fields.issuer.clone(),
        client_id: fields.client_id.clone(),
        client_secret: fields.client_secret.clone(),
    };
    let scope = project.clone();
    match admin
        .run(move |conn, _, by| external::save(conn, by, scope.as_deref(), &typed))
        .await
    {
        Ok(provider) => admin.done(
            &session,
            &format!(
                "People with @{} addresses now sign in through {}",
                provider.domain, provider.issuer
            ),
            page_of(&project),
        ),
        Err(ServiceError::Invalid(errors)) => render(&admin, project, fields, errors).await,
        Err(e) => Err(e.into()),
    }
}

async fn remove(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ScopeQuery>,
) -> Result<HttpResponse, AppError> {
    let project = scope_of(&admin, &form.scope)?;
    let (id, scope) = (path.into_inner(), project.clone());
    admin
        .run(move |conn, _, by| external::remove(conn, by, scope.as_deref(), &id))
        .await?;
    admin.done(
        &session,
        "The provider was removed: those people sign in with a password again",
        page_of(&project),
    )
}
