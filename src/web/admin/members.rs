//! The Users and Patients tabs, the member page and its actions.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab, query_string};
use crate::domain::FieldErrors;
use crate::domain::{MembershipStatus, ProfileType};
use crate::services::members::{
    self, Cursor, Filters, ListQuery, MemberDetail, MemberKind, MemberPage, SortKey, Total,
};
use crate::services::{ServiceError, authority, policies};
use crate::web::errors::AppError;
use crate::web::htmx::is_htmx;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/users").route(web::get().to(users)))
        .service(web::resource("/admin/patients").route(web::get().to(patients)))
        .service(
            web::resource("/admin/members/{id}")
                .route(web::get().to(member))
                .route(web::post().to(save_member)),
        )
        .service(
            web::resource("/admin/members/{id}/remove")
                .route(web::get().to(confirm_remove))
                .route(web::post().to(remove)),
        )
        .service(
            web::resource("/admin/members/{id}/{action}").route(web::post().to(member_action)),
        );
}

/// The list's URL parameters. Everything that shapes the list is in the URL, so a link, a
/// reload or the pager keeps it.
#[derive(Deserialize, Default, Clone)]
pub struct ListParams {
    q: Option<String>,
    status: Option<String>,
    role: Option<String>,
    admin: Option<String>,
    mfa: Option<String>,
    never: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

impl ListParams {
    fn flag(value: &Option<String>) -> bool {
        value.as_deref().is_some_and(|v| v == "1" || v == "on")
    }

    fn filters(&self, tab: Tab) -> Filters {
        let yes_no = |v: &Option<String>| match v.as_deref() {
            Some("1" | "on") => Some(true),
            Some("0" | "off") => Some(false),
            _ => None,
        };
        Filters {
            status: match self.status.as_deref() {
                Some("invited") => Some(MembershipStatus::Invited),
                Some("active") => Some(MembershipStatus::Active),
                _ => None,
            },
            role: self
                .role
                .as_deref()
                .and_then(|r| ProfileType::parse(r).ok())
                .filter(|r| tab == Tab::Users && *r != ProfileType::Patient),
            admin: Self::flag(&self.admin).then_some(true),
            mfa: yes_no(&self.mfa),
            never_signed_in: Self::flag(&self.never),
        }
    }

    fn sort(&self) -> (SortKey, bool) {
        let sort = self
            .sort
            .as_deref()
            .and_then(SortKey::parse)
            .unwrap_or_default();
        let descending = match self.dir.as_deref() {
            Some("desc") => true,
            Some("asc") => false,
            _ => sort.descending_by_default(),
        };
        (sort, descending)
    }

    /// The parameters that shape the list (not the page), as a link keeps them.
    fn shape(&self, sort: SortKey, descending: bool) -> Vec<(&'static str, String)> {
        let dir = if descending == sort.descending_by_default() {
            ""
        } else if descending {
            "desc"
        } else {
            "asc"
        };
        let sort_name = if sort == SortKey::Name {
            ""
        } else {
            sort.as_str()
        };
        [
            ("q", self.q.clone().unwrap_or_default()),
            ("status", self.status.clone().unwrap_or_default()),
            ("role", self.role.clone().unwrap_or_default()),
            ("admin", self.admin.clone().unwrap_or_default()),
            ("mfa", self.mfa.clone().unwrap_or_default()),
            ("never", self.never.clone().unwrap_or_default()),
            ("sort", sort_name.to_owned()),
            ("dir", dir.to_owned()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }
}

/// A sortable column header: its link and, for the sorted column, its direction.
pub struct SortHeader {
    label: &'static str,
    href: String,
    /// `ascending` / `descending` on the sorted column (for `aria-sort`), else empty.
    aria_sort: &'static str,
}

#[derive(Template)]
#[template(path = "pages/admin/members.html")]
struct MembersPage {
    tab: Tab,
    page: MemberPage,
    q: String,
    filters: Filters,
    params: ListParams,
    sort: SortKey,
    headers: Vec<SortHeader>,
    /// "1,234 members", or "10,000+ members" past the search count's cap.
    count_text: String,
    /// "51–100 of 80,000".
    range_text: String,
    paged: bool,
    next_href: Option<String>,
    previous_href: Option<String>,
    first_href: String,
}

impl MembersPage {
    /// A list parameter as given, for the filter form.
    fn param(&self, name: &str) -> &str {
        let p = &self.params;
        let value = match name {
            "status" => &p.status,
            "role" => &p.role,
            "mfa" => &p.mfa,
            "dir" => &p.dir,
            _ => &None,
        };
        value.as_deref().unwrap_or("")
    }

    fn has_roles(&self) -> bool {
        self.tab == Tab::Users
    }

    fn last_name_first(&self) -> bool {
        self.sort == SortKey::LastName
    }

    fn sort_options(&self) -> [(&'static str, &'static str); 5] {
        [
            ("name", "Name"),
            ("last", "Last name"),
            ("email", "Email"),
            ("signin", "Last sign-in"),
            ("status", "Status"),
        ]
    }

    /// The filters in force, in words, for the results line.
    fn filter_words(&self) -> Vec<&'static str> {
        let f = &self.filters;
        let mut words = Vec::new();
        match f.status {
            Some(MembershipStatus::Active) => words.push("active"),
            Some(MembershipStatus::Invited) => words.push("invited"),
            None => {}
        }
        match f.role {
            Some(ProfileType::Practitioner) => words.push("practitioners"),
            Some(ProfileType::RelatedPerson) => words.push("related persons"),
            _ => {}
        }
        match f.mfa {
            Some(true) => words.push("two-factor on"),
            Some(false) => words.push("two-factor off"),
            None => {}
        }
        if f.admin == Some(true) {
            words.push("admins only");
        }
        if f.never_signed_in {
            words.push("never signed in");
        }
        words
    }

    fn unfiltered(&self) -> bool {
        self.q.trim().is_empty() && self.filters == Filters::default()
    }
}

fn href(tab: Tab, pairs: &[(&'static str, String)]) -> String {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    format!("{}{}", tab.href(), query_string(&pairs))
}

/// `80000` → `80,000`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn headers(tab: Tab, params: &ListParams, sort: SortKey, descending: bool) -> Vec<SortHeader> {
    let columns = [
        ("Name", SortKey::Name),
        ("Email", SortKey::Email),
        ("Status", SortKey::Status),
        ("Last sign-in", SortKey::LastSignin),
    ];
    columns
        .into_iter()
        .map(|(label, key)| {
            let sorted = key == sort || (key == SortKey::Name && sort == SortKey::LastName);
            let next_descending = if sorted {
                !descending
            } else {
                key.descending_by_default()
            };
            let key = if sorted { sort } else { key };
            SortHeader {
                label,
                href: href(tab, &params.shape(key, next_descending)),
                aria_sort: match (sorted, descending) {
                    (false, _) => "",
                    (true, false) => "ascending",
                    (true, true) => "descending",
                },
            }
        })
        .collect()
}

async fn list(admin: Admin, params: ListParams, tab: Tab) -> Result<HttpResponse, AppError> {
    let (sort, descending) = params.sort();
    let cursor = params
        .after
        .as_deref()
        .or(params.before.as_deref())
        .and_then(Cursor::decode);
    let q = params.q.clone().unwrap_or_default();
    let filters = params.filters(tab);
    let query = ListQuery {
        kind: if tab == Tab::Patients {
            MemberKind::Patients
        } else {
            MemberKind::People
        },
        q: Some(q.clone()),
        filters: filters.clone(),
        sort,
        descending,
        cursor,
    };
    let page = admin
        .run(move |conn, project, _| members::list(conn, &project.id, &query))
        .await?;
    let shape = params.shape(sort, descending);
    let with = |name: &'static str, cursor: &Cursor| {
        let mut pairs = shape.clone();
        pairs.push((name, cursor.encode()));
        href(tab, &pairs)
    };
    let first_href = href(tab, &shape);
    let view = MembersPage {
        tab,
        headers: headers(tab, &params, sort, descending),
        count_text: match page.total {
            Total::Exact(1) => "1 member".to_owned(),
            Total::Exact(n) => format!("{} members", thousands(n)),
            Total::AtLeast(n) => format!("{}+ members", thousands(n)),
        },
        range_text: match (page.rows.len() as i64, page.total) {
            (0, _) => String::new(),
            (shown, total) => format!(
                "{}–{} of {}",
                thousands(page.offset + 1),
                thousands(page.offset + shown),
                match total {
                    Total::Exact(n) => thousands(n),
                    Total::AtLeast(n) => format!("{}+", thousands(n)),
                }
            ),
        },
        next_href: page.next.as_ref().map(|c| with("after", c)),
        previous_href: page.previous.as_ref().map(|c| {
            if c.offset == 0 {
                first_href.clone()
            } else {
                with("before", c)
            }
        }),
        paged: page.offset > 0,
        first_href,
        page,
        q,
        filters,
        params,
        sort,
    };
    admin.show(tab.label(), &view).await
}

async fn users(admin: Admin, params: web::Query<ListParams>) -> Result<HttpResponse, AppError> {
    list(admin, params.into_inner(), Tab::Users).await
}

async fn patients(admin: Admin, params: web::Query<ListParams>) -> Result<HttpResponse, AppError> {
    list(admin, params.into_inner(), Tab::Patients).await
}

#[derive(Template)]
#[template(path = "pages/admin/member.html")]
struct MemberPageView {
    tab: Tab,
    csrf: String,
    detail: MemberDetail,
    policies: Vec<(String, String)>,
    errors: FieldErrors,
    problem: Option<String>,
    admin_checked: bool,
    policy_selected: String,
    is_self: bool,
    /// This project may act on the account's password and two-factor settings.
    credentials: bool,
}

async fn load_member(
    admin: &Admin,
    id: String,
) -> Result<(MemberDetail, Vec<(String, String)>), AppError> {
    Ok(admin
        .run(move |conn, project, _| {
            Ok((
                members::get(conn, project, &id)?,
                policies::options(conn, &project.id)?,
            ))
        })
        .await?)
}

/// What the member page shows besides the stored membership: the form as submitted, or
/// why an action was refused.
#[derive(Default)]
struct Shown {
    errors: FieldErrors,
    problem: Option<(StatusCode, String)>,
    admin_checked: Option<bool>,
    policy_selected: Option<String>,
}

async fn render_member(admin: &Admin, id: String, shown: Shown) -> Result<HttpResponse, AppError> {
    let (detail, policies) = load_member(admin, id).await?;
    let title = format!("{} {}", detail.profile.first_name, detail.profile.last_name);
    let status = match &shown.problem {
        Some((status, _)) => *status,
        None if !shown.errors.is_empty() => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let view = MemberPageView {
        tab: Tab::of_profile(detail.profile.resource_type),
        csrf: admin.csrf(),
        admin_checked: shown.admin_checked.unwrap_or(detail.membership.admin),
        policy_selected: shown.policy_selected.unwrap_or_else(|| {
            detail
                .membership
                .access_policy_id
                .clone()
                .unwrap_or_default()
        }),
        is_self: detail.user.id == admin.current.ctx.user.id,
        credentials: authority::governs_credentials(&admin.acting(), &admin.project, &detail.user),
        detail,
        policies,
        errors: shown.errors,
        problem: shown.problem.map(|(_, message)| message),
    };
    admin.render(&title, &view, status).await
}

/// A refusal from a service, shown on the member page; anything else is an error page.
async fn refused(admin: &Admin, id: String, e: ServiceError) -> Result<HttpResponse, AppError> {
    let problem = match e {
        ServiceError::Conflict(problem) => (StatusCode::CONFLICT, problem.to_string()),
        ServiceError::Forbidden(problem) => (StatusCode::FORBIDDEN, problem),
        other => return Err(other.into()),
    };
    let shown = Shown {
        problem: Some(problem),
        ..Shown::default()
    };
    render_member(admin, id, shown).await
}

async fn member(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    render_member(&admin, path.into_inner(), Shown::default()).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberForm {
    admin: Option<String>,
    #[serde(default)]
    access_policy: String,
}

async fn save_member(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let make_admin = form.admin.is_some();
    let policy = Some(form.access_policy.trim().to_owned()).filter(|p| !p.is_empty());
    let (member_id, chosen) = (id.clone(), policy.clone());
    match admin
        .run(move |conn, project, by| {
            members::update(conn, project, by, &member_id, make_admin, chosen)
        })
        .await
    {
        Ok(_) => admin.done(
            &session,
            "Membership saved",
            &format!("/admin/members/{id}"),
        ),
        Err(ServiceError::Invalid(errors)) => {
            let shown = Shown {
                errors,
                admin_checked: Some(make_admin),
                policy_selected: Some(policy.unwrap_or_default()),
                ..Shown::default()
            };
            render_member(&admin, id, shown).await
        }
        Err(e) => refused(&admin, id, e).await,
    }
}

#[derive(Template)]
#[template(path = "pages/admin/confirm_remove.html")]
struct ConfirmRemovePage<'a> {
    csrf: String,
    detail: &'a MemberDetail,
    dialog: bool,
}

/// The confirmation step: a page without JavaScript, a dialog with htmx.
async fn confirm_remove(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (detail, _) = load_member(&admin, path.into_inner()).await?;
    let view = ConfirmRemovePage {
        csrf: admin.csrf(),
        detail: &detail,
        dialog: is_htmx(admin.req()),
    };
    admin.show("Remove member", &view).await
}

async fn remove(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (detail, _) = load_member(&admin, id.clone()).await?;
    let member_id = id.clone();
    match admin
        .run(move |conn, project, by| members::remove(conn, project, by, &member_id))
        .await
    {
        Ok(name) => {
            let back = Tab::of_profile(detail.profile.resource_type).href();
            admin.done(
                &session,
                &format!("{name} was removed from the project"),
                back,
            )
        }
        Err(e) => refused(&admin, id, e).await,
    }
}

/// An admin action on one member: the service to run and what to tell the admin after.
type MemberActionFn = fn(
    &mut crate::db::DbConn,
    &crate::db::models::Project,
    &members::Acting,
    &str,
    &str,
    &crate::config::Limits,
) -> Result<(), ServiceError>;

/// `POST /admin/members/{id}/{action}`: resend, reset-password or reset-mfa. Runs the action
/// and comes back to the member page with its outcome.
async fn member_action(
    admin: Admin,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let (done, run): (&str, MemberActionFn) = match action.as_str() {
        "resend" => (
            "A new invitation was sent; the previous link no longer works",
            members::resend_invite,
        ),
        "reset-password" => (
            "A password reset email was sent",
            members::send_password_reset,
        ),
        "reset-mfa" => (
            "Two-factor authentication was reset and the member was told by email",
            |conn, project, by, id, _, _| members::reset_mfa(conn, project, by, id),
        ),
        _ => return Err(AppError::NotFound),
    };
    let (member_id, base_url, limits) = (
        id.clone(),
        admin.state().base_url.clone(),
        admin.state().settings.limits.clone(),
    );
    match admin
        .run(move |conn, project, by| run(conn, project, by, &member_id, &base_url, &limits))
        .await
    {
        Ok(()) => {
            admin.state().mail.wake();
            admin.done(&session, done, &format!("/admin/members/{id}"))
        }
        Err(e) => refused(&admin, id, e).await,
    }
}
