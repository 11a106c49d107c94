//! The emails Rollcall sends: each has a plain-text and an HTML template under templates/emails.

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

#[derive(Template)]
#[template(path = "emails/welcome.txt")]
struct WelcomeText<'a> {
    first_name: &'a str,
    project_name: &'a str,
    project_url: &'a str,
}

#[derive(Template)]
#[template(path = "emails/welcome.html")]
struct WelcomeHtml<'a> {
    first_name: &'a str,
    project_name: &'a str,
    project_url: &'a str,
}

pub fn welcome(
    to: &str,
    first_name: &str,
    project_name: &str,
    project_url: &str,
) -> Result<Email, ServiceError> {
    Ok(Email {
        to: to.to_owned(),
        subject: format!("Your project {project_name} is ready"),
        text: render(&WelcomeText {
            first_name,
            project_name,
            project_url,
        })?,
        html: render(&WelcomeHtml {
            first_name,
            project_name,
            project_url,
        })?,
    })
}

#[derive(Template)]
#[template(path = "emails/reset.txt")]
struct ResetText<'a> {
    first_name: &'a str,
    link: &'a str,
    account: &'a str,
}

#[derive(Template)]
#[template(path = "emails/reset.html")]
struct ResetHtml<'a> {
    first_name: &'a str,
    link: &'a str,
    account: &'a str,
}

/// `account` says which account the link is for ("your Rollcall account", or a project's).
pub fn password_reset(
    to: &str,
    first_name: &str,
    link: &str,
    account: &str,
) -> Result<Email, ServiceError> {
    Ok(Email {
        to: to.to_owned(),
        subject: "Reset your Rollcall password".into(),
        text: render(&ResetText {
            first_name,
            link,
            account,
        })?,
        html: render(&ResetHtml {
            first_name,
            link,
            account,
        })?,
    })
}

#[derive(Template)]
#[template(path = "emails/invite_new.txt")]
struct InviteNewText<'a> {
    first_name: &'a str,
    inviter: &'a str,
    project_name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/invite_new.html")]
struct InviteNewHtml<'a> {
    first_name: &'a str,
    inviter: &'a str,
    project_name: &'a str,
    link: &'a str,
}

/// For someone who has no password yet: a link to set one, valid 7 days.
pub fn invite_new(
    to: &str,
    first_name: &str,
    inviter: &str,
    project_name: &str,
    link: &str,
) -> Result<Email, ServiceError> {
    Ok(Email {
        to: to.to_owned(),
        subject: format!("You are invited to {project_name} on Rollcall"),
        text: render(&InviteNewText {
            first_name,
            inviter,
            project_name,
            link,
        })?,
        html: render(&InviteNewHtml {
            first_name,
            inviter,
            project_name,
            link,
        })?,
    })
}

#[derive(Template)]
#[template(path = "emails/invite_existing.txt")]
struct InviteExistingText<'a> {
    first_name: &'a str,
    inviter: &'a str,
    project_name: &'a str,
    link: &'a str,
    accept: bool,
}

#[derive(Template)]
#[template(path = "emails/invite_existing.html")]
struct InviteExistingHtml<'a> {
    first_name: &'a str,
    inviter: &'a str,
    project_name: &'a str,
    link: &'a str,
    accept: bool,
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
    Ok(Email {
        to: to.to_owned(),
        subject: if accept {
            format!("Invitation to join {project_name} on Rollcall")
        } else {
            format!("You were added to {project_name} on Rollcall")
        },
        text: render(&InviteExistingText {
            first_name,
            inviter,
            project_name,
            link,
            accept,
        })?,
        html: render(&InviteExistingHtml {
            first_name,
            inviter,
            project_name,
            link,
            accept,
        })?,
    })
}

#[derive(Template)]
#[template(path = "emails/mfa_reset.txt")]
struct MfaResetText<'a> {
    first_name: &'a str,
    project_name: &'a str,
}

#[derive(Template)]
#[template(path = "emails/mfa_reset.html")]
struct MfaResetHtml<'a> {
    first_name: &'a str,
    project_name: &'a str,
}

pub fn mfa_reset(to: &str, first_name: &str, project_name: &str) -> Result<Email, ServiceError> {
    Ok(Email {
        to: to.to_owned(),
        subject: "Your two-factor authentication was reset".into(),
        text: render(&MfaResetText {
            first_name,
            project_name,
        })?,
        html: render(&MfaResetHtml {
            first_name,
            project_name,
        })?,
    })
}

#[derive(Template)]
#[template(path = "emails/password_changed.txt")]
struct PasswordChangedText<'a> {
    first_name: &'a str,
    ip: &'a str,
}

#[derive(Template)]
#[template(path = "emails/password_changed.html")]
struct PasswordChangedHtml<'a> {
    first_name: &'a str,
    ip: &'a str,
}

pub fn password_changed(
    to: &str,
    first_name: &str,
    ip: Option<&str>,
) -> Result<Email, ServiceError> {
    let ip = ip.unwrap_or("an unknown address");
    Ok(Email {
        to: to.to_owned(),
        subject: "Your Rollcall password was changed".into(),
        text: render(&PasswordChangedText { first_name, ip })?,
        html: render(&PasswordChangedHtml { first_name, ip })?,
    })
}
