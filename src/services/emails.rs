//! The emails Rollcall sends. Each declares its fields once (a plain struct); its plain-text
//! and HTML parts under templates/emails read them as `e.field`.

use askama::Template;

use super::ServiceError;

/// A rendered email, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn render(t: &impl Template) -> Result<String, ServiceError> {
    t.render()
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("email template: {e}")))
}

fn email(
    to: &str,
    subject: String,
    text: &impl Template,
    html: &impl Template,
) -> Result<Email, ServiceError> {
    Ok(Email {
        to: to.to_owned(),
        subject,
        text: render(text)?,
        html: render(html)?,
    })
}

struct Welcome<'a> {
    first_name: &'a str,
    project_name: &'a str,
    project_url: &'a str,
}

#[derive(Template)]
#[template(path = "emails/welcome.txt")]
struct WelcomeText<'a> {
    e: &'a Welcome<'a>,
}

#[derive(Template)]
#[template(path = "emails/welcome.html")]
struct WelcomeHtml<'a> {
    e: &'a Welcome<'a>,
}

/// The link that opens a project: straight in when signed in (switching to it), after
/// signing in otherwise.
pub fn project_url(base_url: &str, project_id: &str) -> String {
    format!("{base_url}/signin?project={project_id}")
}

pub fn welcome(
    to: &str,
    first_name: &str,
    project_name: &str,
    project_url: &str,
) -> Result<Email, ServiceError> {
    let e = Welcome {
        first_name,
        project_name,
        project_url,
    };
    email(
        to,
        format!("Your project {project_name} is ready"),
        &WelcomeText { e: &e },
        &WelcomeHtml { e: &e },
    )
}

struct Reset<'a> {
    first_name: &'a str,
    link: &'a str,
    account: &'a str,
}

#[derive(Template)]
#[template(path = "emails/reset.txt")]
struct ResetText<'a> {
    e: &'a Reset<'a>,
}

#[derive(Template)]
#[template(path = "emails/reset.html")]
struct ResetHtml<'a> {
    e: &'a Reset<'a>,
}

/// `account` says which account the link is for ("your Rollcall account", or a project's).
pub fn password_reset(
    to: &str,
    first_name: &str,
    link: &str,
    account: &str,
) -> Result<Email, ServiceError> {
    let e = Reset {
        first_name,
        link,
        account,
    };
    email(
        to,
        "Reset your Rollcall password".into(),
        &ResetText { e: &e },
        &ResetHtml { e: &e },
    )
}

struct InviteNew<'a> {
    first_name: &'a str,
    inviter: &'a str,
    project_name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/invite_new.txt")]
struct InviteNewText<'a> {
    e: &'a InviteNew<'a>,
}

#[derive(Template)]
#[template(path = "emails/invite_new.html")]
struct InviteNewHtml<'a> {
    e: &'a InviteNew<'a>,
}

/// For someone new: a link to choose their password, which also accepts the invitation.
pub fn invite_new(
    to: &str,
    first_name: &str,
    inviter: &str,
    project_name: &str,
    link: &str,
) -> Result<Email, ServiceError> {
    let e = InviteNew {
        first_name,
        inviter,
        project_name,
        link,
    };
    email(
        to,
        format!("You are invited to {project_name} on Rollcall"),
        &InviteNewText { e: &e },
        &InviteNewHtml { e: &e },
    )
}

struct InviteExisting<'a> {
    first_name: &'a str,
    inviter: &'a str,
    project_name: &'a str,
    link: &'a str,
    accept: bool,
}

#[derive(Template)]
#[template(path = "emails/invite_existing.txt")]
struct InviteExistingText<'a> {
    e: &'a InviteExisting<'a>,
}

#[derive(Template)]
#[template(path = "emails/invite_existing.html")]
struct InviteExistingHtml<'a> {
    e: &'a InviteExisting<'a>,
}

/// For someone who already has an account: invited to a project (`accept`: they accept or
/// decline it when signed in), or added to it.
pub fn invite_existing(
    to: &str,
    first_name: &str,
    inviter: &str,
    project_name: &str,
    link: &str,
    accept: bool,
) -> Result<Email, ServiceError> {
    let e = InviteExisting {
        first_name,
        inviter,
        project_name,
        link,
        accept,
    };
    let subject = if accept {
        format!("Invitation to join {project_name} on Rollcall")
    } else {
        format!("You were added to {project_name} on Rollcall")
    };
    email(
        to,
        subject,
        &InviteExistingText { e: &e },
        &InviteExistingHtml { e: &e },
    )
}

struct MfaReset<'a> {
    first_name: &'a str,
    project_name: &'a str,
}

#[derive(Template)]
#[template(path = "emails/mfa_reset.txt")]
struct MfaResetText<'a> {
    e: &'a MfaReset<'a>,
}

#[derive(Template)]
#[template(path = "emails/mfa_reset.html")]
struct MfaResetHtml<'a> {
    e: &'a MfaReset<'a>,
}

pub fn mfa_reset(to: &str, first_name: &str, project_name: &str) -> Result<Email, ServiceError> {
    let e = MfaReset {
        first_name,
        project_name,
    };
    email(
        to,
        "Your two-factor authentication was reset".into(),
        &MfaResetText { e: &e },
        &MfaResetHtml { e: &e },
    )
}

struct VerifyEmail<'a> {
    first_name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/verify_email.txt")]
struct VerifyEmailText<'a> {
    e: &'a VerifyEmail<'a>,
}

#[derive(Template)]
#[template(path = "emails/verify_email.html")]
struct VerifyEmailHtml<'a> {
    e: &'a VerifyEmail<'a>,
}

/// A link that proves the address belongs to the account's owner.
pub fn verify_email(to: &str, first_name: &str, link: &str) -> Result<Email, ServiceError> {
    let e = VerifyEmail { first_name, link };
    email(
        to,
        "Confirm your email address".into(),
        &VerifyEmailText { e: &e },
        &VerifyEmailHtml { e: &e },
    )
}

struct PasswordChanged<'a> {
    first_name: &'a str,
    ip: &'a str,
}

#[derive(Template)]
#[template(path = "emails/password_changed.txt")]
struct PasswordChangedText<'a> {
    e: &'a PasswordChanged<'a>,
}

#[derive(Template)]
#[template(path = "emails/password_changed.html")]
struct PasswordChangedHtml<'a> {
    e: &'a PasswordChanged<'a>,
}

pub fn password_changed(
    to: &str,
    first_name: &str,
    ip: Option<&str>,
) -> Result<Email, ServiceError> {
    let e = PasswordChanged {
        first_name,
        ip: ip.unwrap_or("an unknown address"),
    };
    email(
        to,
        "Your Rollcall password was changed".into(),
        &PasswordChangedText { e: &e },
        &PasswordChangedHtml { e: &e },
    )
}

struct AccountDeleted<'a> {
    first_name: &'a str,
    ip: &'a str,
    projects: &'a [String],
}

#[derive(Template)]
#[template(path = "emails/account_deleted.txt")]
struct AccountDeletedText<'a> {
    e: &'a AccountDeleted<'a>,
}

#[derive(Template)]
#[template(path = "emails/account_deleted.html")]
struct AccountDeletedHtml<'a> {
    e: &'a AccountDeleted<'a>,
}

/// The record of a deleted account, to the address it had.
pub fn account_deleted(
    to: &str,
    first_name: &str,
    ip: Option<&str>,
    projects: &[String],
) -> Result<Email, ServiceError> {
    let e = AccountDeleted {
        first_name,
        ip: ip.unwrap_or("an unknown address"),
        projects,
    };
    email(
        to,
        "Your Rollcall account was deleted".into(),
        &AccountDeletedText { e: &e },
        &AccountDeletedHtml { e: &e },
    )
}

struct Ownership<'a> {
    first_name: &'a str,
    project_name: &'a str,
    old_owner: &'a str,
    new_owner: &'a str,
    /// This email goes to the new owner (else to the previous one).
    becomes_owner: bool,
    project_url: &'a str,
}

#[derive(Template)]
#[template(path = "emails/ownership.txt")]
struct OwnershipText<'a> {
    e: &'a Ownership<'a>,
}

#[derive(Template)]
#[template(path = "emails/ownership.html")]
struct OwnershipHtml<'a> {
    e: &'a Ownership<'a>,
}

/// To the new owner and to the previous one, when a project is handed over.
pub fn ownership_transferred(
    to: &str,
    first_name: &str,
    project_name: &str,
    old_owner: &str,
    new_owner: &str,
    becomes_owner: bool,
    project_url: &str,
) -> Result<Email, ServiceError> {
    let e = Ownership {
        first_name,
        project_name,
        old_owner,
        new_owner,
        becomes_owner,
        project_url,
    };
    let subject = if becomes_owner {
        format!("You are now the owner of {project_name}")
    } else {
        format!("{new_owner} is now the owner of {project_name}")
    };
    email(
        to,
        subject,
        &OwnershipText { e: &e },
        &OwnershipHtml { e: &e },
    )
}

/// What an email about a change of address says (see `email_change`).
pub struct EmailChange<'a> {
    pub first_name: &'a str,
    pub old_email: &'a str,
    pub new_email: &'a str,
    /// To the new address: the link that confirms it.
    pub link: Option<&'a str>,
    /// An admin made the change (their name), in this project.
    pub by_admin: Option<&'a str>,
    pub project_name: &'a str,
}

#[derive(Template)]
#[template(path = "emails/email_change.txt")]
struct EmailChangeText<'a> {
    e: &'a EmailChange<'a>,
}

#[derive(Template)]
#[template(path = "emails/email_change.html")]
struct EmailChangeHtml<'a> {
    e: &'a EmailChange<'a>,
}

/// A change of email address: the confirmation link to the new address, the notice to the
/// old one, or (an admin's change) the notice to both.
pub fn email_change(to: &str, e: &EmailChange<'_>) -> Result<Email, ServiceError> {
    let subject = match (e.link, e.by_admin) {
        (Some(_), _) => "Confirm your new email address".to_owned(),
        (None, Some(_)) => format!("Your email address in {} was changed", e.project_name),
        (None, None) => "A change of your email address was requested".to_owned(),
    };
    email(to, subject, &EmailChangeText { e }, &EmailChangeHtml { e })
}
