//! The invite form and its result page.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab};
use crate::domain::{EmailAddress, FieldErrors, PersonName, ProfileType};
use crate::services::invite::{self, InviteOutcome, InviteRequest, Scope};
use crate::services::{Conflict, ServiceError, policies};
use crate::web::errors::AppError;

pub const ALREADY_MEMBER_FORM: &str = "This person is already a member of this project";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/invite")
            .route(web::get().to(invite_form))
            .route(web::post().to(send_invite)),
    );
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct InviteForm {
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    access_policy: String,
    send_email: Option<String>,
    admin: Option<String>,
    project_scoped: Option<String>,
    mfa_required: Option<String>,
    /// Invite the address as typed although it looks like a misspelt provider.
    keep_email: Option<String>,
    /// An id from another system: with it, a patient may be invited without an email.
    #[serde(default)]
    external_id: String,
}

#[derive(Template)]
#[template(path = "pages/admin/invite.html")]
struct InvitePage {
    tab: Tab,
    csrf: String,
    types: [ProfileType; 3],
    policies: Vec<(String, String)>,
    errors: FieldErrors,
    form: InviteForm,
    send_email: bool,
    /// The email field holds a likely misspelling: offer to keep it as typed.
    typo: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteQuery {
    resource_type: Option<String>,
}

async fn render_form(
    admin: &Admin,
    form: InviteForm,
    send_email: bool,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let policies = admin
        .run(|conn, project, _| policies::options(conn, &project.id))
        .await?;
    // Shown (and kept ticked) while the address looks misspelt, whatever else is wrong.
    let typo = EmailAddress::parse_new(&form.email).is_ok_and(|e| e.likely_typo().is_some());
    let view = InvitePage {
        typo,
        tab: Tab::of_profile(ProfileType::parse(&form.resource_type).unwrap_or_default()),
        csrf: admin.csrf(),
        types: ProfileType::ALL,
        policies,
        errors,
        form,
        send_email,
    };
    admin.form("Invite new member", &view, &view.errors).await
}

async fn invite_form(
    admin: Admin,
    query: web::Query<InviteQuery>,
) -> Result<HttpResponse, AppError> {
    let resource_type = query
        .resource_type
        .as_deref()
        .and_then(|t| ProfileType::parse(t).ok())
        .unwrap_or_default();
    let form = InviteForm {
        resource_type: resource_type.as_str().to_owned(),
        ..Default::default()
    };
    render_form(&admin, form, true, FieldErrors::new()).await
}

#[derive(Template)]
#[template(path = "pages/admin/invite_result.html")]
struct ResultPage {
    tab: Tab,
    outcome: InviteOutcome,
}

async fn send_invite(admin: Admin, form: web::Form<InviteForm>) -> Result<HttpResponse, AppError> {
    let (limits, key) = (
        admin.state().settings.limits.clone(),
        format!("invite-admin:{}", admin.current.ctx.user.id),
    );
    let ip = admin.meta.ip.clone();
    admin
        .run(move |conn, _, _| invite::check_rate(conn, &limits, &key, ip.as_deref()))
        .await?;
    let form = form.into_inner();
    let send_email = form.send_email.is_some();
    let mut errors = FieldErrors::new();
    let profile_type = errors.take("resourceType", ProfileType::parse(&form.resource_type));
    let first = errors.take(
        "firstName",
        PersonName::parse(&form.first_name, "first name"),
    );
    let last = errors.take("lastName", PersonName::parse(&form.last_name, "last name"));
    let external_id = Some(form.external_id.trim().to_owned()).filter(|e| !e.is_empty());
    if external_id
        .as_ref()
        .is_some_and(|e| e.chars().count() > 256)
    {
        errors.add("externalId", "An external ID can be at most 256 characters");
    }
    // A patient may be invited by external ID alone: no address, so no email and no link.
    let without_email = form.email.trim().is_empty() && external_id.is_some();
    let email = if without_email {
        if profile_type.is_some_and(|t| t != ProfileType::Patient) {
            errors.add(
                "email",
                "Enter an email address: only patients can be invited by external ID alone",
            );
        }
        None
    } else {
        errors.take("email", EmailAddress::parse_new(&form.email))
    };
    if let Some(suggested) = email.as_ref().and_then(EmailAddress::likely_typo)
        && form.keep_email.is_none()
    {
        errors.add(
            "email",
            format!(
                "Did you mean {suggested}? Correct the address, or tick “The address is right as typed”."
            ),
        );
    }
    let (Some(profile_type), Some(first_name), Some(last_name)) = (profile_type, first, last)
    else {
        return render_form(&admin, form, send_email, errors).await;
    };
    if email.is_none() && !without_email {
        return render_form(&admin, form, send_email, errors).await;
    }
    if !errors.is_empty() {
        return render_form(&admin, form, send_email, errors).await;
    }
    let request = InviteRequest {
        profile_type,
        first_name,
        last_name,
        email,
        access_policy_id: Some(form.access_policy.trim().to_owned()).filter(|p| !p.is_empty()),
        send_email: send_email && !without_email,
        admin: form.admin.is_some(),
        scope: form.project_scoped.is_some().then_some(Scope::Project),
        mfa_required: form.mfa_required.is_some(),
        external_id,
        upsert: false,
    };
    let (base_url, limits) = (
        admin.state().base_url.clone(),
        admin.state().settings.limits.clone(),
    );
    let outcome = admin
        .run(move |conn, project, by| {
            invite::invite(conn, project, by, request, &base_url, &limits)
        })
        .await;
    match outcome {
        Ok(outcome) => {
            admin.state().mail.wake();
            let view = ResultPage {
                tab: Tab::of_profile(outcome.profile.resource_type),
                outcome,
            };
            admin.show("Invitation sent", &view).await
        }
        Err(ServiceError::Conflict(conflict)) => {
            let (field, message) = match conflict {
                Conflict::AlreadyMember if form.email.trim().is_empty() => {
                    ("externalId", conflict.to_string())
                }
                Conflict::AlreadyMember => ("email", ALREADY_MEMBER_FORM.to_owned()),
                Conflict::ExternalIdTaken => ("externalId", conflict.to_string()),
                other => ("email", other.to_string()),
            };
            let errors = FieldErrors::single(field, message);
            render_form(&admin, form, send_email, errors).await
        }
        Err(ServiceError::Invalid(errors)) => render_form(&admin, form, send_email, errors).await,
        Err(e) => Err(e.into()),
    }
}
