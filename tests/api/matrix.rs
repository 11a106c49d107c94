//! The authorization matrix: every route the application registers (walked from its source,
//! so a new route without a row fails) × every kind of caller → the answer each must get.
//!
//! A cell is judged by what the caller is told, not by the page's wording:
//! - `Allowed`: the request got past every access check. Any answer but 401, 403, 404, 405,
//!   a redirect to sign in, or a server error (a form sent empty may be 422: that is allowed).
//! - `SignIn`: a redirect to `/signin…` (pages for people who are not signed in).
//! - an exact status: 401 (API without valid credentials), 403 (not permitted), 404 (a record
//!   the caller may not know exists).
//!
//! State-changing requests of callers who are allowed act on a record made for that cell
//! alone, so that no cell's outcome depends on another's. Requests are sent empty (a CSRF
//! token for forms, `{}` for JSON): an allowed caller then meets validation, not the action,
//! except where the action takes no input (remove, suspend, rotate, revoke), which is why
//! those act on fresh records.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Actor {
    SignedOut,
    /// Password accepted, second factor not yet given.
    Pending,
    Member,
    /// A patient whose access policy limits her to her own compartment.
    Patient,
    /// A member suspended in the project (signed in before the suspension).
    Suspended,
    OtherAdmin,
    Admin,
    Owner,
    SuperAdmin,
    ClientToken,
    OtherClientToken,
    /// A member's own token from the sign-in API.
    UserToken,
    ExpiredToken,
    RevokedToken,
}

const ACTORS: [Actor; 14] = [
    Actor::SignedOut,
    Actor::Pending,
    Actor::Member,
    Actor::Patient,
    Actor::Suspended,
    Actor::OtherAdmin,
    Actor::Admin,
    Actor::Owner,
    Actor::SuperAdmin,
    Actor::ClientToken,
    Actor::OtherClientToken,
    Actor::UserToken,
    Actor::ExpiredToken,
    Actor::RevokedToken,
];

impl Actor {
    fn is_token(self) -> bool {
        matches!(
            self,
            Actor::ClientToken
                | Actor::OtherClientToken
                | Actor::UserToken
                | Actor::ExpiredToken
                | Actor::RevokedToken
        )
    }

    /// Signed in to a page session, fully (not pending).
    fn is_person(self) -> bool {
        matches!(
            self,
            Actor::Member
                | Actor::Patient
                | Actor::Suspended
                | Actor::OtherAdmin
                | Actor::Admin
                | Actor::Owner
                | Actor::SuperAdmin
        )
    }

    /// Administers the project whose records the rows name.
    fn is_admin(self) -> bool {
        matches!(self, Actor::Admin | Actor::Owner | Actor::SuperAdmin)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Any answer that is not a refusal or an error, including being sent on to sign in
    /// (an open page sends those who are signed in elsewhere).
    Open,
    Allowed,
    SignIn,
    /// A redirect to choose a project (signed in, but with no project to work in).
    Choose,
    /// 404 or 410: a link that matches nothing (410 where the page says "used or expired").
    Gone,
    Status(u16),
}

/// Who may use a route.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone: public pages, sign-in steps, discovery documents.
    Open,
    /// A link from an email, here with an id and secret that match nothing: 404 for all.
    Link,
    /// Pages to create a project: not for a project-scoped (patient) account.
    NewProjectPage,
    /// Choosing the member's own membership as the session's project.
    MembersChoice,
    /// Pages for a signed-in person working in a project, whatever their role.
    Person,
    /// Pages of the account itself, which need no project.
    AccountPage,
    /// Signing out: every browser is sent to sign in; a post without a session fails CSRF.
    SignOut,
    /// Credentials of a member's account shared with other projects (the trust rule): only a
    /// super admin's.
    Credentials,
    /// An admin action on a record that does not exist: 404 once past the admin check.
    AdminMissing,
    /// Pages of the second sign-in step: for the pending person, and for the signed-in
    /// (who are sent on).
    SecondStep,
    /// Admin pages of the current project, no record named: another project's admin sees
    /// their own project's.
    AdminPage,
    /// Admin pages that name one of the project's records.
    AdminRecord,
    /// The owner's pages (super admins too).
    OwnerPage,
    /// The admin's own other session.
    AdminsSession,
    /// An invitation addressed to the member.
    MembersInvitation,
    /// A profile photo of a practitioner of the project.
    ProjectPhoto,
    /// API for a person's own account: their token (or page session for reads).
    ApiPerson,
    /// `/auth/me`: any valid token (a client's shows the client), or a page session.
    ApiMe,
    /// UserInfo: a person's token only.
    ApiUserInfo,
    /// Logout: ends the token's sign-in (clients' too); the POST row runs after the GET row
    /// has ended every token it was given.
    ApiLogout,
    /// API reads of the project's memberships: admins (and clients) of a project.
    ApiAdminRead,
    /// API read of one of the project's records.
    ApiRecord,
    /// API for an admin of the project in the path (a token; page sessions may read).
    ApiAdmin,
    /// API reads scoped to the caller's project (a token or a page session).
    ApiRead,
    /// API to create a project: super admins only (none of the actors here, whose page
    /// sessions may not write).
    ApiNewProject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    None,
    /// A fresh invited practitioner of the project.
    Member,
    Client,
    Policy,
    /// A session of the admin's, made for the cell.
    AdminSession,
    /// An invitation of the member's account into another project, made for the row.
    Invitation,
    /// The member's practitioner profile.
    Profile,
    /// The member's membership in the project.
    MembersMembership,
}

struct Row {
    method: &'static str,
    path: &'static str,
    rule: Rule,
    target: Target,
    /// Rows that end sessions or memberships of the actors run after the others, in this
    /// order.
    late: u8,
    /// The form field that carries the target's id (where the path does not).
    field: Option<&'static str>,
    /// The JSON body for the target's id (`{}` otherwise).
    body: Option<fn(&str) -> serde_json::Value>,
    /// The `{action}` of the path, for routes with one path per action.
    action: Option<&'static str>,
}

const fn row(method: &'static str, path: &'static str, rule: Rule, target: Target) -> Row {
    Row {
        method,
        path,
        rule,
        target,
        late: 0,
        field: None,
        body: None,
        action: None,
    }
}

const fn action(method: &'static str, action: &'static str, rule: Rule) -> Row {
    Row {
        action: Some(action),
        ..row(method, "/admin/members/{id}/{action}", rule, Target::Member)
    }
}

const fn late(method: &'static str, path: &'static str, rule: Rule, late: u8) -> Row {
    Row {
        method,
        path,
        rule,
        target: Target::None,
        late,
        field: None,
        body: None,
        action: None,
    }
}

use Rule::*;
use Target as T;

const ROWS: &[Row] = &[
    // Public pages and sign-in steps.
    row("GET", "/", Person, T::None),
    row("GET", "/healthz", Open, T::None),
    row("GET", "/readyz", Open, T::None),
    row("GET", "/static/{path:.*}", Open, T::None),
    row("GET", "/register", Open, T::None),
    row("POST", "/register", Open, T::None),
    row("GET", "/signin", Open, T::None),
    row("POST", "/signin", Open, T::None),
    row("GET", "/signin/mfa", SecondStep, T::None),
    row("POST", "/signin/mfa", SecondStep, T::None),
    row("GET", "/signin/mfa/enroll", SecondStep, T::None),
    row("POST", "/signin/mfa/enroll", SecondStep, T::None),
    row("GET", "/signin/project", AccountPage, T::None),
    Row {
        field: Some("membership"),
        ..row(
            "POST",
            "/signin/project",
            MembersChoice,
            T::MembersMembership,
        )
    },
    row("GET", "/signin/external/callback", Open, T::None),
    row("GET", "/resetpassword", Open, T::None),
    row("POST", "/resetpassword", Open, T::None),
    row("GET", "/setpassword/{id}/{secret}", Link, T::None),
    row("POST", "/setpassword/{id}/{secret}", Link, T::None),
    row("GET", "/verify-email/{id}/{secret}", Link, T::None),
    row("POST", "/verify-email/{id}/{secret}", Link, T::None),
    row("GET", "/account/email/{id}/{secret}", Link, T::None),
    row("POST", "/account/email/{id}/{secret}", Link, T::None),
    row("GET", "/oauth2/authorize", Open, T::None),
    row("POST", "/oauth2/authorize", Open, T::None),
    // A person's own pages.
    row("GET", "/register/project", NewProjectPage, T::None),
    row("POST", "/register/project", NewProjectPage, T::None),
    row("GET", "/projects/new", NewProjectPage, T::None),
    row("POST", "/projects/new", NewProjectPage, T::None),
    row("GET", "/account", Person, T::None),
    row("POST", "/account", Person, T::None),
    row("POST", "/account/photo", Person, T::None),
    row("GET", "/account/security", Person, T::None),
    row("POST", "/account/password", Person, T::None),
    row("POST", "/account/email", Person, T::None),
    row("POST", "/account/theme", AccountPage, T::None),
    row("GET", "/account/mfa", Person, T::None),
    row("POST", "/account/mfa", Person, T::None),
    row("POST", "/account/mfa/disable", Person, T::None),
    row("POST", "/account/mfa/recovery-codes", Person, T::None),
    row("GET", "/account/delete", AccountPage, T::None),
    row("POST", "/account/delete", AccountPage, T::None),
    row(
        "POST",
        "/account/sessions/{id}/revoke",
        AdminsSession,
        T::AdminSession,
    ),
    row("GET", "/invitations", AccountPage, T::None),
    row("POST", "/invitations/verify-email", AccountPage, T::None),
    row("GET", "/projects/leave", Person, T::None),
    row("GET", "/profiles/{id}/photo", ProjectPhoto, T::Profile),
    // Admin pages of the current project.
    row("GET", "/admin", AdminPage, T::None),
    row("GET", "/admin/project", AdminPage, T::None),
    row("POST", "/admin/project", AdminPage, T::None),
    row("GET", "/admin/users", AdminPage, T::None),
    row("GET", "/admin/patients", AdminPage, T::None),
    row("GET", "/admin/users.csv", AdminPage, T::None),
    row("GET", "/admin/users.json", AdminPage, T::None),
    row("GET", "/admin/patients.csv", AdminPage, T::None),
    row("GET", "/admin/patients.json", AdminPage, T::None),
    row("POST", "/admin/users/bulk", AdminPage, T::None),
    row("POST", "/admin/patients/bulk", AdminPage, T::None),
    row("POST", "/admin/members/bulk", AdminPage, T::None),
    row("GET", "/admin/invite", AdminPage, T::None),
    row("POST", "/admin/invite", AdminPage, T::None),
    row("GET", "/admin/invite/bulk", AdminPage, T::None),
    row("POST", "/admin/invite/bulk", AdminPage, T::None),
    row("GET", "/admin/invitations", AdminPage, T::None),
    row(
        "POST",
        "/admin/invitations/resend-expired",
        AdminPage,
        T::None,
    ),
    row("GET", "/admin/audit", AdminPage, T::None),
    row("GET", "/admin/audit.csv", AdminPage, T::None),
    row("GET", "/admin/clients", AdminPage, T::None),
    row("GET", "/admin/clients/new", AdminPage, T::None),
    row("POST", "/admin/clients/new", AdminPage, T::None),
    row("GET", "/admin/access-policies", AdminPage, T::None),
    row("GET", "/admin/access-policies/new", AdminPage, T::None),
    row("POST", "/admin/access-policies/new", AdminPage, T::None),
    row("GET", "/admin/sign-in", AdminPage, T::None),
    row("POST", "/admin/sign-in", AdminPage, T::None),
    // Admin pages naming one of the project's records.
    row("GET", "/admin/members/{id}", AdminRecord, T::Member),
    row("POST", "/admin/members/{id}", AdminRecord, T::Member),
    row("GET", "/admin/members/{id}/remove", AdminRecord, T::Member),
    row("POST", "/admin/members/{id}/remove", AdminRecord, T::Member),
    // One row per action. GET: only resetting two-factor authentication asks first. The
    // member's account is shared with other projects: its credentials are a super admin's.
    action("GET", "reset-mfa", Credentials),
    action("POST", "reset-mfa", Credentials),
    action("POST", "reset-password", Credentials),
    action("POST", "resend", AdminRecord),
    action("POST", "suspend", AdminRecord),
    action("POST", "reactivate", AdminRecord),
    row("GET", "/admin/members/{id}/email", Credentials, T::Member),
    row("POST", "/admin/members/{id}/email", Credentials, T::Member),
    row("GET", "/admin/members/{id}/profile", AdminRecord, T::Member),
    row(
        "POST",
        "/admin/members/{id}/profile",
        AdminRecord,
        T::Member,
    ),
    row(
        "POST",
        "/admin/invitations/{id}/resend",
        AdminRecord,
        T::Member,
    ),
    row(
        "GET",
        "/admin/invitations/{id}/cancel",
        AdminRecord,
        T::Member,
    ),
    row(
        "POST",
        "/admin/invitations/{id}/cancel",
        AdminRecord,
        T::Member,
    ),
    row("GET", "/admin/clients/{id}", AdminRecord, T::Client),
    row("POST", "/admin/clients/{id}", AdminRecord, T::Client),
    row(
        "POST",
        "/admin/clients/{id}/redirect-uris",
        AdminRecord,
        T::Client,
    ),
    row("GET", "/admin/clients/{id}/rotate", AdminRecord, T::Client),
    row("POST", "/admin/clients/{id}/rotate", AdminRecord, T::Client),
    row("GET", "/admin/clients/{id}/remove", AdminRecord, T::Client),
    row("POST", "/admin/clients/{id}/remove", AdminRecord, T::Client),
    row("GET", "/admin/access-policies/{id}", AdminRecord, T::Policy),
    row(
        "POST",
        "/admin/access-policies/{id}",
        AdminRecord,
        T::Policy,
    ),
    row(
        "GET",
        "/admin/access-policies/{id}/delete",
        AdminRecord,
        T::Policy,
    ),
    row(
        "POST",
        "/admin/access-policies/{id}/delete",
        AdminRecord,
        T::Policy,
    ),
    row("POST", "/admin/sign-in/{id}/remove", AdminMissing, T::None),
    // The owner's pages.
    row("GET", "/admin/project/transfer", OwnerPage, T::None),
    row("POST", "/admin/project/transfer", OwnerPage, T::None),
    row("GET", "/admin/project/delete", OwnerPage, T::None),
    row("POST", "/admin/project/delete", OwnerPage, T::None),
    // JSON: open.
    row("GET", "/openapi.json", Open, T::None),
    row("GET", "/.well-known/openid-configuration", Open, T::None),
    row(
        "GET",
        "/.well-known/oauth-authorization-server",
        Open,
        T::None,
    ),
    row("GET", "/.well-known/jwks.json", Open, T::None),
    row("POST", "/oauth2/token", Open, T::None),
    row("POST", "/auth/login", Open, T::None),
    row("GET", "/auth/login/{login}", Link, T::None),
    row("POST", "/auth/profile", Open, T::None),
    row("POST", "/auth/mfa/verify", Open, T::None),
    row("POST", "/auth/mfa/login-enroll", Open, T::None),
    row("POST", "/auth/method", Open, T::None),
    row("POST", "/auth/newuser", Open, T::None),
    row("POST", "/auth/newproject", Open, T::None),
    row("POST", "/auth/resetpassword", Open, T::None),
    row("POST", "/auth/setpassword", Open, T::None),
    // JSON: a person's own account.
    row("GET", "/auth/me", ApiMe, T::None),
    row("GET", "/oauth2/userinfo", ApiUserInfo, T::None),
    row("POST", "/oauth2/userinfo", ApiUserInfo, T::None),
    row("POST", "/auth/changepassword", ApiPerson, T::None),
    row("GET", "/auth/mfa/status", ApiPerson, T::None),
    row("POST", "/auth/mfa/enroll", ApiPerson, T::None),
    row("POST", "/auth/mfa/disable", ApiPerson, T::None),
    row("POST", "/auth/revoke", ApiPerson, T::None),
    row("POST", "/admin/projects", ApiNewProject, T::None),
    row("POST", "/admin/Project", ApiNewProject, T::None),
    row("POST", "/admin/Project/", ApiNewProject, T::None),
    row("POST", "/fhir/R4/Project", ApiNewProject, T::None),
    // JSON: the project's admin.
    row("GET", "/admin/projects/{projectId}", ApiAdmin, T::None),
    row(
        "POST",
        "/admin/projects/{projectId}/invite",
        ApiAdmin,
        T::None,
    ),
    row(
        "POST",
        "/admin/projects/{projectId}/invite/bulk",
        ApiAdmin,
        T::None,
    ),
    row(
        "POST",
        "/admin/projects/{projectId}/client",
        ApiAdmin,
        T::None,
    ),
    row(
        "GET",
        "/admin/projects/{projectId}/members/{membershipId}",
        ApiAdmin,
        T::Member,
    ),
    Row {
        body: Some(|id| json!({"resourceType": "ProjectMembership", "id": id})),
        ..row(
            "POST",
            "/admin/projects/{projectId}/members/{membershipId}",
            ApiAdmin,
            T::Member,
        )
    },
    row(
        "PATCH",
        "/admin/projects/{projectId}/members/{membershipId}",
        ApiAdmin,
        T::Member,
    ),
    row(
        "DELETE",
        "/admin/projects/{projectId}/members/{membershipId}",
        ApiAdmin,
        T::Member,
    ),
    row(
        "POST",
        "/admin/projects/{projectId}/members/{membershipId}/mfa/reset",
        Credentials,
        T::Member,
    ),
    row(
        "POST",
        "/admin/projects/{projectId}/members/{membershipId}/resetpassword",
        Credentials,
        T::Member,
    ),
    // JSON: reads within the caller's project.
    row("GET", "/fhir/R4/ProjectMembership", ApiAdminRead, T::None),
    row("GET", "/fhir/R4/{resourceType}", ApiRead, T::None),
    row("GET", "/fhir/R4/{resourceType}/{id}", ApiRecord, T::Profile),
    // Rows that end what the actors hold, last.
    Row {
        late: 1,
        ..row(
            "POST",
            "/invitations/{id}/decline",
            MembersInvitation,
            T::Invitation,
        )
    },
    Row {
        late: 2,
        ..row(
            "POST",
            "/invitations/{id}/accept",
            MembersInvitation,
            T::Invitation,
        )
    },
    late("POST", "/account/sessions/revoke-others", Person, 3),
    late("GET", "/oauth2/logout", ApiLogout, 4),
    late("POST", "/oauth2/logout", ApiLogout, 5),
    late("POST", "/projects/leave", Person, 6),
    late("POST", "/signout", SignOut, 7),
];

/// What `actor` must be told for `method` on a route of `rule` (`api`: a JSON path, which
/// carries no page session and so no CSRF check).
fn expected(rule: Rule, actor: Actor, method: &str, api: bool) -> Expect {
    use Actor as A;
    let read = method == "GET";
    // A form posted without a session (a token is no session) fails the CSRF check first.
    if !api && !read && actor.is_token() {
        return Expect::Status(403);
    }
    match rule {
        Open => Expect::Open,
        Link => Expect::Gone,
        SignOut => Expect::SignIn,
        SecondStep => match actor {
            A::SignedOut => Expect::SignIn,
            _ if actor.is_token() => Expect::SignIn,
            _ => Expect::Open,
        },
        _ if !api && (!actor.is_person()) => Expect::SignIn,
        // Suspended in their only project: the account's own pages still work; pages of a
        // project send them to choose one.
        AccountPage => Expect::Allowed,
        NewProjectPage => match actor {
            A::Patient => Expect::Status(403),
            _ => Expect::Allowed,
        },
        MembersInvitation | MembersChoice => match actor {
            A::Member => Expect::Allowed,
            _ => Expect::Status(404),
        },
        _ if !api && actor == A::Suspended => Expect::Choose,
        Person => Expect::Allowed,
        AdminsSession => match actor {
            A::Admin => Expect::Allowed,
            _ => Expect::Status(404),
        },
        ProjectPhoto => match actor {
            A::Patient | A::OtherAdmin => Expect::Status(404),
            _ => Expect::Allowed,
        },
        _ if !api && matches!(actor, A::Member | A::Patient) => Expect::Status(403),
        AdminPage => Expect::Allowed,
        AdminRecord => match actor {
            A::OtherAdmin => Expect::Status(404),
            _ => Expect::Allowed,
        },
        AdminMissing => Expect::Status(404),
        OwnerPage => match actor {
            A::Owner | A::SuperAdmin | A::OtherAdmin => Expect::Allowed,
            _ => Expect::Status(403),
        },
        Credentials if !api => match actor {
            A::SuperAdmin => Expect::Allowed,
            A::OtherAdmin => Expect::Status(404),
            _ => Expect::Status(403),
        },
        // The JSON API from here on.
        ApiLogout => match actor {
            A::ClientToken | A::OtherClientToken | A::UserToken if read => Expect::Allowed,
            _ => Expect::Status(401),
        },
        ApiUserInfo => match actor {
            A::UserToken => Expect::Allowed,
            _ => Expect::Status(401),
        },
        _ if matches!(
            actor,
            A::SignedOut | A::Pending | A::Suspended | A::ExpiredToken | A::RevokedToken
        ) =>
        {
            Expect::Status(401)
        }
        // Page sessions may read the API, never write to it.
        _ if actor.is_person() && !read => Expect::Status(401),
        ApiMe | ApiRead => Expect::Allowed,
        ApiPerson => match actor {
            A::ClientToken | A::OtherClientToken => Expect::Status(403),
            _ => Expect::Allowed,
        },
        ApiNewProject => Expect::Status(403),
        ApiAdminRead => match actor {
            A::Member | A::Patient | A::UserToken => Expect::Status(403),
            _ => Expect::Allowed,
        },
        ApiRecord => match actor {
            A::Patient => Expect::Status(403),
            A::OtherAdmin | A::OtherClientToken => Expect::Status(404),
            _ => Expect::Allowed,
        },
        // No client here is a super admin's.
        Credentials => Expect::Status(403),
        ApiAdmin => match actor {
            A::ClientToken => Expect::Allowed,
            _ if actor.is_admin() => Expect::Allowed,
            _ => Expect::Status(403),
        },
    }
}

fn judged(expect: Expect, status: StatusCode, location: &str) -> bool {
    let redirect = status.is_redirection();
    let to_choose = redirect && location.starts_with("/signin/project");
    let to_signin = redirect && location.starts_with("/signin") && !to_choose;
    let refused = status.is_server_error() || [401, 403, 404, 405].contains(&status.as_u16());
    match expect {
        Expect::Open => !refused,
        Expect::Allowed => !refused && !to_signin,
        Expect::SignIn => to_signin,
        Expect::Choose => to_choose,
        Expect::Gone => [404, 410].contains(&status.as_u16()),
        Expect::Status(code) => status.as_u16() == code,
    }
}

/// How an actor calls: a browser (cookies, and the CSRF token of its session) or a bearer
/// token.
enum Caller {
    Browser {
        client: reqwest::Client,
        csrf: String,
    },
    Token(String),
}

struct World {
    app: TestApp,
    project: String,
    callers: HashMap<Actor, Caller>,
    mallory: reqwest::Client,
    member_profile: String,
    member_membership: String,
    fresh: u32,
}

fn limits_lifted(settings: &mut rollcall::config::Settings) {
    lift_signin_limits(settings);
    let l = &mut settings.limits;
    l.invites_per_admin = 100_000;
    l.invites_per_ip = 100_000;
    l.admin_emails_per_target = 1_000;
    l.admin_emails_per_address = 1_000;
    l.registrations_per_ip = 1_000;
    l.reset_requests_per_ip = 1_000;
}

/// A browser caller with the CSRF token of its session, read from `page` (or where that page
/// sends it).
async fn browser_caller(app: &TestApp, client: reqwest::Client, page: &str) -> Caller {
    let r = app.get_with(&client, page).await;
    let html = if r.status().is_redirection() {
        app.get_html_with(&client, &location(&r)).await
    } else {
        r.text().await.unwrap()
    };
    Caller::Browser {
        csrf: csrf_in(&html),
        client,
    }
}

fn set_super_admin(app: &TestApp, email: &str) {
    use rollcall::db::schema::users;
    diesel::update(users::table.filter(users::email.eq(email)))
        .set(users::super_admin.eq(true))
        .execute(&mut app.conn())
        .unwrap();
}

async fn world() -> World {
    let app = spawn_app_with(limits_lifted).await;
    app.register_with_project("Ada", ADMIN_EMAIL, "Clinic")
        .await;
    let project = app.project_id();
    let mut callers = HashMap::new();

    let (_, admin) = app
        .member(
            "Adam",
            "Admin",
            "adam@example.com",
            &[("admin", "on")],
            PASSWORD,
        )
        .await;
    let (member_id, member) = app
        .member("Mia", "Member", "mia@example.com", &[], PASSWORD)
        .await;
    let (suspended_id, suspended) = app
        .member("Sue", "Spended", "sue@example.com", &[], PASSWORD)
        .await;
    let (_, sam) = app
        .member(
            "Sam",
            "Super",
            "sam@example.com",
            &[("admin", "on")],
            PASSWORD,
        )
        .await;
    set_super_admin(&app, "sam@example.com");
    let (_, two_step) = app
        .member("Tess", "Twostep", "tess@example.com", &[], PASSWORD)
        .await;
    enrol(&app, &two_step, "/account/mfa").await;
    let pending = new_client();
    let r = app
        .sign_in_with(&pending, "tess@example.com", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get_with(&pending, "/").await;
    assert!(location(&r).starts_with("/signin/mfa"), "{}", location(&r));

    let policy = app.patient_self_policy("Patient self").await;
    let r = app
        .invite(&[
            ("resourceType", "Patient"),
            ("firstName", "Pam"),
            ("lastName", "Patient"),
            ("email", "pam@example.com"),
            ("sendEmail", "on"),
            ("accessPolicy", &policy),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let patient = app.accept_invite("pam@example.com", PASSWORD).await;

    let r = app
        .submit("/", &format!("/admin/members/{suspended_id}/suspend"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let mallory = other_admin(&app).await;
    // Confirmed addresses, so that answering someone else's invitation reaches the check of
    // whose it is (an unconfirmed address is first asked to confirm).
    confirm_address(&app, &app.client, ADMIN_EMAIL).await;
    confirm_address(&app, &mallory, "mallory@example.com").await;

    let client = app.admin_client().await;
    let client_token = app.token(&client).await;
    let r = app
        .submit_with(
            &mallory,
            "/admin/clients/new",
            "/admin/clients/new",
            &[("name", "Theirs"), ("admin", "on")],
        )
        .await;
    let page = location(&r);
    let html = app.get_html_with(&mallory, &page).await;
    let other_client = ClientCredentials {
        id: page.rsplit('/').next().unwrap().to_owned(),
        secret: attr_of(&html, "#client-secret", "value").unwrap(),
    };
    let other_client_token = app.token(&other_client).await;

    app.invite_person("Uma", "User", "uma@example.com", &[])
        .await;
    app.accept_invite("uma@example.com", PASSWORD).await;
    let user_token = access_token(
        &app.person_tokens("uma@example.com", PASSWORD, "openid")
            .await,
    );
    app.invite_person("Eli", "Expired", "eli@example.com", &[])
        .await;
    app.accept_invite("eli@example.com", PASSWORD).await;
    let expired = access_token(
        &app.person_tokens("eli@example.com", PASSWORD, "openid")
            .await,
    );
    {
        use rollcall::db::schema::{logins, users};
        let eli: String = users::table
            .filter(users::email.eq("eli@example.com"))
            .select(users::id)
            .first(&mut app.conn())
            .unwrap();
        diesel::update(logins::table.filter(logins::user_id.eq(eli)))
            .set(
                logins::expires_at
                    .eq(chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1)),
            )
            .execute(&mut app.conn())
            .unwrap();
    }
    app.invite_person("Rex", "Revoked", "rex@example.com", &[])
        .await;
    app.accept_invite("rex@example.com", PASSWORD).await;
    let revoked = access_token(
        &app.person_tokens("rex@example.com", PASSWORD, "openid")
            .await,
    );
    let r = reqwest::Client::new()
        .post(app.url("/oauth2/logout"))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().is_redirection());

    let member_profile = {
        use rollcall::db::schema::memberships;
        memberships::table
            .filter(memberships::id.eq(&member_id))
            .select(memberships::profile_id)
            .first::<Option<String>>(&mut app.conn())
            .unwrap()
            .unwrap()
    };
    // A photo for the member's profile, for the photo route to serve.
    app.give_photos(std::slice::from_ref(&member_profile));

    callers.insert(
        Actor::SignedOut,
        browser_caller(&app, new_client(), "/signin").await,
    );
    callers.insert(
        Actor::Pending,
        browser_caller(&app, pending, "/signin/mfa").await,
    );
    callers.insert(
        Actor::Member,
        browser_caller(&app, member, "/account").await,
    );
    callers.insert(
        Actor::Patient,
        browser_caller(&app, patient, "/account").await,
    );
    callers.insert(
        Actor::Suspended,
        browser_caller(&app, suspended, "/account").await,
    );
    callers.insert(
        Actor::OtherAdmin,
        browser_caller(&app, mallory.clone(), "/account").await,
    );
    callers.insert(Actor::Admin, browser_caller(&app, admin, "/account").await);
    callers.insert(
        Actor::Owner,
        browser_caller(&app, app.client.clone(), "/account").await,
    );
    callers.insert(
        Actor::SuperAdmin,
        browser_caller(&app, sam, "/account").await,
    );
    callers.insert(Actor::ClientToken, Caller::Token(client_token));
    callers.insert(Actor::OtherClientToken, Caller::Token(other_client_token));
    callers.insert(Actor::UserToken, Caller::Token(user_token));
    callers.insert(Actor::ExpiredToken, Caller::Token(expired));
    callers.insert(Actor::RevokedToken, Caller::Token(revoked));
    World {
        app,
        project,
        callers,
        mallory,
        member_profile,
        member_membership: member_id,
        fresh: 0,
    }
}

fn access_token(a: &ApiAnswer) -> String {
    a.body["access_token"].as_str().unwrap().to_owned()
}

impl World {
    /// A record of `target`'s kind for one cell (or one row), made by the project's owner.
    async fn make(&mut self, target: Target) -> String {
        self.fresh += 1;
        let n = self.fresh;
        let app = &self.app;
        match target {
            T::None => "00000000-0000-4000-8000-000000000000".to_owned(),
            T::Profile => self.member_profile.clone(),
            T::MembersMembership => self.member_membership.clone(),
            T::Member => {
                let email = format!("target{n}@example.com");
                let r = app
                    .invite(&[
                        ("resourceType", "Practitioner"),
                        ("firstName", "Target"),
                        ("lastName", &format!("Number{n}")),
                        ("email", &email),
                    ])
                    .await;
                assert_eq!(r.status(), StatusCode::OK);
                app.membership_of(&email)
            }
            T::Client => app.create_client(&format!("Target {n}"), &[]).await.id,
            T::Policy => {
                app.create_policy(&[
                    ("name", &format!("Target {n}")),
                    ("rule[0].resourceType", "Patient"),
                ])
                .await
            }
            T::AdminSession => {
                let other = new_client();
                let r = app.sign_in_with(&other, "adam@example.com", PASSWORD).await;
                assert_eq!(r.status(), StatusCode::SEE_OTHER);
                use rollcall::db::schema::{logins, users};
                logins::table
                    .inner_join(users::table.on(logins::user_id.eq(users::id.nullable())))
                    .filter(users::email.eq("adam@example.com"))
                    .order(logins::created_at.desc())
                    .select(logins::id)
                    .first(&mut app.conn())
                    .unwrap()
            }
            T::Invitation => {
                let r = app
                    .invite_with(
                        &self.mallory,
                        &[
                            ("resourceType", "Practitioner"),
                            ("firstName", "Mia"),
                            ("lastName", "Member"),
                            ("email", "mia@example.com"),
                        ],
                    )
                    .await;
                assert_eq!(r.status(), StatusCode::OK);
                let elsewhere = app.project_id_of("Elsewhere");
                use rollcall::db::schema::{memberships, users};
                memberships::table
                    .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
                    .filter(users::email.eq("mia@example.com"))
                    .filter(memberships::project_id.eq(elsewhere))
                    .select(memberships::id)
                    .first(&mut app.conn())
                    .unwrap()
            }
        }
    }

    fn path(&self, row: &Row, id: &str) -> String {
        row.path
            .replace("{projectId}", &self.project)
            .replace("{membershipId}", id)
            .replace("{resourceType}", "Practitioner")
            .replace("{path:.*}", "app.css")
            .replace("{action}", row.action.unwrap_or_default())
            .replace("{secret}", "not-the-secret")
            .replace("{login}", "00000000-0000-4000-8000-000000000000")
            .replace("{id}", id)
    }

    async fn call(
        &self,
        actor: Actor,
        method: &str,
        path: &str,
        field: Option<(&str, &str)>,
        body: serde_json::Value,
    ) -> (StatusCode, String, Vec<&'static str>) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let api = rollcall::api::is_api_path(path);
        let request = match &self.callers[&actor] {
            Caller::Browser { client, csrf } => {
                let request = client.request(method.clone(), self.app.url(path));
                if api {
                    request.json(&body)
                } else if method == Method::GET {
                    request
                } else {
                    let mut form = vec![("csrf_token", csrf.as_str())];
                    form.extend(field);
                    request.form(&form)
                }
            }
            Caller::Token(token) => {
                let request = new_client()
                    .request(method.clone(), self.app.url(path))
                    .bearer_auth(token);
                match (api, method.as_str()) {
                    (true, "PATCH") => request
                        .header("content-type", "application/json-patch+json")
                        .body("[]"),
                    (true, _) if method != Method::GET => request.json(&body),
                    (false, _) if method != Method::GET => request.form(&[("csrf_token", "")]),
                    _ => request,
                }
            }
        };
        let r = request.send().await.unwrap();
        let status = r.status();
        (status, location_or_empty(&r), missing_security_headers(&r))
    }
}

/// The security headers this answer lacks: every answer, page or error or JSON, says
/// `nosniff`; every HTML answer carries the strict content security policy.
fn location_or_empty(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_the_matrix_says() {
    let mut world = world().await;
    let mut rows: Vec<&Row> = ROWS.iter().collect();
    rows.sort_by_key(|r| r.late);
    let mut wrong = Vec::new();
    let mut cells = 0;
    for row in rows {
        // Denied callers first, so that an allowed one's action cannot change their answer.
        let mut actors = ACTORS.to_vec();
        let api = rollcall::api::is_api_path(row.path);
        actors.sort_by_key(|a| expected(row.rule, *a, row.method, api) == Expect::Allowed);
        let per_row = match row.target {
            T::Invitation => Some(world.make(row.target).await),
            _ => None,
        };
        for actor in actors {
            let expect = expected(row.rule, actor, row.method, api);
            let id = match &per_row {
                Some(id) => id.clone(),
                None => world.make(row.target).await,
            };
            let path = world.path(row, &id);
            let field = row.field.map(|name| (name, id.as_str()));
            let body = row.body.map_or_else(|| json!({}), |make| make(&id));
            let (status, location, missing) =
                world.call(actor, row.method, &path, field, body).await;
            cells += 1;
            if !missing.is_empty() {
                wrong.push(format!(
                    "{} {} as {actor:?}: {status} without {missing:?}",
                    row.method, row.path
                ));
            }
            if !judged(expect, status, &location) {
                wrong.push(format!(
                    "{} {} as {actor:?}: expected {expect:?}, got {status} {location}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(cells, ROWS.len() * ACTORS.len());
}

/// The routes the application registers, read from its source: `(METHOD, path)` for every
/// `resource(…)` and the methods routed on it.
fn registered_routes() -> BTreeSet<(String, String)> {
    // Paths built in code, by the expression the source registers them with.
    let built: HashMap<&str, Vec<&str>> = HashMap::from([
        (
            "format!(\"{}/bulk\", tab.href())",
            vec!["/admin/users/bulk", "/admin/patients/bulk"],
        ),
        (
            "path",
            vec![
                "/admin/users.csv",
                "/admin/users.json",
                "/admin/patients.csv",
                "/admin/patients.json",
            ],
        ),
    ]);
    let mut routes = BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        // Every route is a `resource(…)`, so that this scan finds it: no other way of
        // registering one is used anywhere.
        for other in [
            ".route(\"",
            "web::scope(",
            "#[get(",
            "#[post(",
            "#[put(",
            "#[patch(",
            "#[delete(",
            "#[route(",
        ] {
            assert!(
                !source.contains(other),
                "{} registers a route with {other}, which the matrix cannot see",
                path.display()
            );
        }
        let consts: HashMap<String, String> = source
            .lines()
            .filter_map(|l| {
                let line = l.trim();
                let rest = line
                    .strip_prefix("pub ")
                    .unwrap_or(line)
                    .strip_prefix("const ")?;
                let (name, value) = rest.split_once(": &str = \"")?;
                Some((name.to_owned(), value.split('"').next()?.to_owned()))
            })
            .collect();
        let mut pieces = source.split("resource(").skip(1).peekable();
        while let Some(piece) = pieces.next() {
            let piece = piece.trim_start();
            // The helper's own definition (`pub fn resource(path: &str, …)`) registers nothing.
            if piece.starts_with("path: &str") {
                continue;
            }
            let argument: String = if let Some(literal) = piece.strip_prefix('"') {
                literal.split('"').next().unwrap().to_owned()
            } else {
                let end = piece.find([',', ')']).unwrap();
                let expression = if piece.starts_with("format!(") {
                    &piece[..piece.find("))").unwrap() + 2]
                } else {
                    piece[..end].trim()
                };
                expression.to_owned()
            };
            let paths: Vec<String> = if piece.starts_with('"') {
                vec![argument]
            } else if let Some(value) = consts.get(&argument) {
                vec![value.clone()]
            } else {
                built
                    .get(argument.as_str())
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: a route's path `{argument}` is built in code: name its paths in registered_routes",
                            path.display()
                        )
                    })
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect()
            };
            // The methods routed on it: up to the next registration.
            let body = piece.split(".service(").next().unwrap();
            for method in ["get", "post", "put", "patch", "delete"] {
                if body.contains(&format!("web::{method}()")) {
                    for p in &paths {
                        routes.insert((method.to_uppercase(), p.clone()));
                    }
                }
            }
            if pieces.peek().is_none() {
                break;
            }
        }
    }
    routes
}

#[test]
fn the_matrix_has_a_row_for_every_route_and_method_the_application_registers() {
    let registered = registered_routes();
    assert!(
        registered.len() > 100,
        "too few routes found: {registered:?}"
    );
    let distinct: BTreeSet<_> = ROWS.iter().map(|r| (r.method, r.path, r.action)).collect();
    assert_eq!(distinct.len(), ROWS.len(), "a row is listed twice");
    let rows: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<_> = registered.difference(&rows).collect();
    let extra: Vec<_> = rows.difference(&registered).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes without a row: {missing:?}\nrows without a route: {extra:?}"
    );
}
