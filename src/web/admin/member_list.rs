//! The Users and Patients tabs: search, filters, sortable columns and pages both ways.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab, query_string};
use crate::domain::{MembershipStatus, ProfileType};
use crate::services::members::{
    self, Cursor, Filters, ListQuery, MemberKind, MemberPage, SortKey, Total,
};
use crate::services::policies;
use crate::web::errors::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/users").route(web::get().to(users)))
        .service(web::resource("/admin/patients").route(web::get().to(patients)));
}

/// The list's URL parameters. Everything that shapes the list is in the URL, so a link, a
/// reload or the pager keeps it.
#[derive(Deserialize, Default, Clone)]
pub(super) struct ListParams {
    #[serde(default, deserialize_with = "search_words")]
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

/// The search as typed, without control characters (a NUL, a line break) or surrounding
/// spaces; nothing left is no search.
fn search_words<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let q = Option::<String>::deserialize(d)?;
    Ok(
        q.map(|q| q.chars().filter(|c| !c.is_control()).collect::<String>())
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
    )
}

impl ListParams {
    /// The list these parameters ask for, from its first row.
    pub(super) fn query(&self, tab: Tab, limit: i64) -> ListQuery {
        let (sort, descending) = self.sort();
        ListQuery {
            kind: if tab == Tab::Patients {
                MemberKind::Patients
            } else {
                MemberKind::People
            },
            q: self.q.clone(),
            filters: self.filters(tab),
            sort,
            descending,
            cursor: None,
            limit,
        }
    }

    /// The list's shape as a query string (`?q=...&status=...`), for the export links.
    pub(super) fn query_string(&self) -> String {
        let (sort, descending) = self.sort();
        let pairs = self.shape(sort, descending);
        if pairs.is_empty() {
            String::new()
        } else {
            format!(
                "?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            )
        }
    }

    fn flag(value: &Option<String>) -> bool {
        value.as_deref().is_some_and(|v| v == "1" || v == "on")
    }

    fn filters(&self, tab: Tab) -> Filters {
        let yes_no = |v: &Option<String>| match v.as_deref() {
            Some("1" | "on") => Some(true),
            Some("0" | "off") => Some(false),
            _ => None,
        };
        // Suspended members are apart from both the invited and the active ones.
        let (status, active) = match self.status.as_deref() {
            Some("invited") => (Some(MembershipStatus::Invited), Some(true)),
            Some("active") => (Some(MembershipStatus::Active), Some(true)),
            Some("suspended") => (None, Some(false)),
            _ => (None, None),
        };
        Filters {
            status,
            active,
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
    csrf: String,
    /// The project's access policies, for the bulk "change access policy".
    policies: Vec<(String, String)>,
}

impl MembersPage {
    /// The list's search, filters and order, as hidden fields of the bulk form.
    fn list_fields(&self) -> Vec<(&'static str, String)> {
        let (sort, descending) = self.params.sort();
        self.params.shape(sort, descending)
    }

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
        match (f.status, f.active) {
            (_, Some(false)) => words.push("suspended"),
            (Some(MembershipStatus::Active), _) => words.push("active"),
            (Some(MembershipStatus::Invited), _) => words.push("invited"),
            (None, _) => {}
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
pub(super) fn thousands(n: i64) -> String {
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
    let q = params.q.clone().unwrap_or_default();
    let filters = params.filters(tab);
    let mut query = params.query(tab, members::PAGE_SIZE);
    query.cursor = params
        .after
        .as_deref()
        .or(params.before.as_deref())
        .and_then(Cursor::decode);
    let (page, policies) = admin
        .run(move |conn, project, _| {
            Ok((
                members::list(conn, &project.id, &query)?,
                policies::options(conn, &project.id)?,
            ))
        })
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
        csrf: admin.csrf(),
        policies,
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
