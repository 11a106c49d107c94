//! Parsed input: once a value has one of these types, it is valid.

mod email;
pub mod folded;
mod membership_status;
mod names;
pub mod password;
mod policy_rule;
pub mod profile_form;
mod profile_type;
#[cfg(test)]
mod properties;
pub mod resource_types;
pub(crate) mod text_column;

pub use email::EmailAddress;
pub use membership_status::MembershipStatus;
pub use names::{PersonName, ProjectName};
pub use password::Password;
pub use policy_rule::{Criteria, PolicyRule, ReadAccess, RuleInput, parse_policy, read_access};
pub use profile_type::ProfileType;

/// Validation messages keyed by form field name, in the order the fields appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field.to_owned(), message.into()));
        }
    }

    /// Keeps the parsed value, or records its error under `field`.
    pub fn take<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// Rejects control characters (newlines included) in one-line text.
fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}
