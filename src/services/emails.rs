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
