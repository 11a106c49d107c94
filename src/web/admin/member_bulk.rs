//! Bulk actions on the Users and Patients tabs: the tab's form posts the chosen members (or
//! "all N matching", resolved here from the tab's search and filters) and an action; a
//! confirmation says how many and names a few; confirming applies the action member by
//! member (see `services::members::bulk`) and shows what was done and what was refused, why.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::member_list::ListParams;
use super::{Admin, Tab};
use crate::services::members::bulk::{self, Action, Named, Outcome};
use crate::services::members::{self, MemberKind};
use crate::services::policies;
use crate::web::errors::AppError;

/// Names the confirmation shows before "and N others".
const NAMED: usize = 5;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for tab in [Tab::Users, Tab::Patients] {
        cfg.service(
            web::resource(format!("{}/bulk", tab.href())).route(web::post().to(
                move |admin: Admin, form: web::Form<Vec<(String, String)>>| {
                    review(admin, form.into_inner(), tab)
                },
            )),
        );
    }
    cfg.service(web::resource("/admin/members/bulk").route(web::post().to(apply)));
}

/// A posted form with repeated fields (`member` once per chosen row).
struct Posted(Vec<(String, String)>);

impl Posted {
    fn one(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The tab's search, filters and order, carried as hidden fields.
    fn list_params(&self) -> ListParams {
        let kept: Vec<&(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| {
                [
                    "q", "status", "role", "admin", "mfa", "never", "sort", "dir",
                ]
                .contains(&k.as_str())
            })
            .collect();
        serde_urlencoded::to_string(kept)
            .ok()
            .and_then(|s| serde_urlencoded::from_str(&s).ok())
            .unwrap_or_default()
    }

    fn tab(&self) -> Tab {
        if self.one("tab") == "patients" {
            Tab::Patients
        } else {
            Tab::Users
        }
    }
}

fn kind(tab: Tab) -> MemberKind {
    if tab == Tab::Patients {
        MemberKind::Patients
    } else {
        MemberKind::People
    }
}

#[derive(Template)]
#[template(path = "pages/admin/bulk_confirm.html")]
struct ConfirmPage {
    tab: Tab,
    csrf: String,
    back: String,
    problem: Option<String>,
    action: Option<Action>,
    policy_name: String,
    members: Vec<Named>,
}

impl ConfirmPage {
    fn verb(&self) -> String {
        let n = self.members.len();
        let people = if n == 1 {
            "1 member".to_owned()
        } else {
            format!("{n} members")
        };
        match &self.action {
            Some(Action::Suspend) => format!("Suspend {people}"),
            Some(Action::Reactivate) => format!("Reactivate {people}"),
            Some(Action::MakeAdmin) => format!("Make {people} admins"),
            Some(Action::RemoveAdmin) => format!("Remove admin rights from {people}"),
            Some(Action::Policy(_)) => format!("Change the access policy of {people}"),
            Some(Action::ResendInvitation) => format!("Resend the invitation to {people}"),
            Some(Action::Remove) => format!("Remove {people} from the project"),
            None => String::new(),
        }
    }

    fn others(&self) -> usize {
        self.members.len().saturating_sub(NAMED)
    }
}

async fn show_confirm(admin: &Admin, view: ConfirmPage) -> Result<HttpResponse, AppError> {
    let status = if view.problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    admin.render("Confirm", &view, status).await
}

/// Step one: what would be done to whom.
async fn review(
    admin: Admin,
    form: Vec<(String, String)>,
    tab: Tab,
) -> Result<HttpResponse, AppError> {
    let posted = Posted(form);
    let params = posted.list_params();
    let back = format!("{}{}", tab.href(), params.query_string());
    let action = Action::parse(posted.one("action"), posted.one("accessPolicy"));
    let everyone = posted.one("all") == "1";
    let chosen = posted.all("member");
    let query = params.query(tab, members::PAGE_SIZE);
    let policy = match &action {
        Some(Action::Policy(Some(id))) => Some(id.clone()),
        _ => None,
    };
    let (named, policy_name) = admin
        .run(move |conn, project, _| {
            let ids = if everyone {
                members::ids_matching(conn, &project.id, &query, bulk::MAX)?
            } else {
                chosen
            };
            if ids.len() > bulk::MAX {
                return Ok((None, None));
            }
            let named = bulk::named(conn, &project.id, kind(tab).types(), &ids)?;
            // The chosen policy's name, or `None` when it is not one of this project's.
            let policy_name = match policy {
                Some(id) => policies::options(conn, &project.id)?
                    .into_iter()
                    .find(|(p, _)| *p == id)
                    .map(|(_, name)| name),
                None => Some(String::new()),
            };
            Ok((Some(named), policy_name))
        })
        .await?;
    let problem = match (&action, &named) {
        (_, None) => Some(format!(
            "At most {} members can be changed at once. Narrow the list with a search or filters first.",
            bulk::MAX
        )),
        (None, _) => Some("Choose what to do with the selected members.".to_owned()),
        (_, Some(n)) if n.is_empty() => {
            Some("Select at least one member (tick their rows, or “all matching”).".to_owned())
        }
        _ if policy_name.is_none() => Some("Choose an access policy of this project.".to_owned()),
        _ => None,
    };
    let policy_name = policy_name.unwrap_or_default();
    let view = ConfirmPage {
        tab,
        csrf: admin.csrf(),
        back,
        problem,
        action,
        policy_name,
        members: named.unwrap_or_default(),
    };
    show_confirm(&admin, view).await
}

#[derive(Template)]
#[template(path = "pages/admin/bulk_result.html")]
struct ResultPage {
    tab: Tab,
    outcome: Outcome,
}

/// Step two: do it, member by member, and say what happened to each.
async fn apply(
    admin: Admin,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let posted = Posted(form.into_inner());
    let tab = posted.tab();
    let Some(action) = Action::parse(posted.one("action"), posted.one("accessPolicy")) else {
        return Err(AppError::BadRequest(
            "Choose what to do with the selected members.".into(),
        ));
    };
    let ids = posted.all("member");
    if ids.len() > bulk::MAX {
        return Err(AppError::BadRequest(format!(
            "At most {} members can be changed at once",
            bulk::MAX
        )));
    }
    let (base_url, limits) = (
        admin.state().base_url.clone(),
        admin.state().settings.limits.clone(),
    );
    let emails = action == Action::ResendInvitation;
    let outcome = admin
        .run(move |conn, project, by| {
            let named = bulk::named(conn, &project.id, kind(tab).types(), &ids)?;
            bulk::apply(conn, project, by, &action, named, &base_url, &limits)
        })
        .await?;
    if emails {
        admin.state().mail.wake();
    }
    admin.show("Done", &ResultPage { tab, outcome }).await
}
