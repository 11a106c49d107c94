//! An admin edits a member's profile in this project from the member page (see
//! `services::members::edit_profile` for whose names are whose).

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Admin, Tab};
use crate::domain::FieldErrors;
use crate::domain::profile_form::{GENDERS, LANGUAGES, ProfileFields};
use crate::services::ServiceError;
use crate::services::members::{self, MemberDetail};
use crate::web::errors::AppError;
use crate::web::profile::{apply_row_button, fields_of, parse_fields};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/members/{id}/profile")
            .route(web::get().to(form))
            .route(web::post().to(save)),
    );
}

#[derive(Template)]
#[template(path = "pages/admin/member_profile.html")]
struct ProfilePage<'a> {
    tab: Tab,
    csrf: String,
    detail: MemberDetail,
    fields: ProfileFields,
    errors: FieldErrors,
    names_locked: Option<String>,
    languages: &'a [(&'a str, &'a str)],
    genders: &'a [(&'a str, &'a str)],
}

async fn render(
    admin: &Admin,
    detail: MemberDetail,
    fields: Option<ProfileFields>,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let view = ProfilePage {
        tab: Tab::of_profile(detail.profile.resource_type),
        csrf: admin.csrf(),
        names_locked: members::names_locked(&admin.acting(), &admin.project, &detail.user),
        fields: fields.unwrap_or_else(|| fields_of(&detail.profile, true)),
        detail,
        errors,
        languages: LANGUAGES,
        genders: GENDERS,
    };
    admin.form("Edit profile", &view, &view.errors).await
}

async fn load(admin: &Admin, id: String) -> Result<MemberDetail, AppError> {
    Ok(admin
        .run(move |conn, project, _| members::get(conn, project, &id))
        .await?)
}

async fn form(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let detail = load(&admin, path.into_inner()).await?;
    render(&admin, detail, None, FieldErrors::new()).await
}

async fn save(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let detail = load(&admin, id.clone()).await?;
    let (mut fields, button) = parse_fields(&body)?;
    fields.identifiers.get_or_insert_default();
    if members::names_locked(&admin.acting(), &admin.project, &detail.user).is_some() {
        // The form does not offer them; the saved names stand.
        fields.first_name.clone_from(&detail.profile.first_name);
        fields.last_name.clone_from(&detail.profile.last_name);
    }
    if apply_row_button(&mut fields, &button) {
        return render(&admin, detail, Some(fields), FieldErrors::new()).await;
    }
    let update = match fields.parse() {
        Ok(update) => update,
        Err(errors) => return render(&admin, detail, Some(fields), errors).await,
    };
    let member_id = id.clone();
    match admin
        .run(move |conn, project, by| members::edit_profile(conn, project, by, &member_id, update))
        .await
    {
        Ok(changed) => admin.done(
            &session,
            if changed {
                "The profile was saved"
            } else {
                "Nothing was changed"
            },
            &format!("/admin/members/{id}"),
        ),
        Err(ServiceError::Invalid(errors)) => render(&admin, detail, Some(fields), errors).await,
        Err(e) => Err(e.into()),
    }
}
