use super::has_control_chars;

/// A first or last name: trimmed, 1 to 128 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str, what: &str) -> Result<PersonName, String> {
        let name = input.trim();
        if name.is_empty() {
            return Err(format!("Enter a {what}"));
        }
        if name.chars().count() > 128 {
            return Err(format!("A {what} can be at most 128 characters"));
        }
        if has_control_chars(name) {
            return Err(format!(
                "A {what} cannot contain line breaks or control characters"
            ));
        }
        Ok(PersonName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A project name: trimmed, 4 to 72 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(input: &str) -> Result<ProjectName, String> {
        let name = input.trim();
        let len = name.chars().count();
        if len == 0 {
            return Err("Enter a project name".into());
        }
        if len < 4 {
            return Err("A project name must be at least 4 characters".into());
        }
        if len > 72 {
            return Err("A project name can be at most 72 characters".into());
        }
        if has_control_chars(name) {
            return Err("A project name cannot contain line breaks or control characters".into());
        }
        Ok(ProjectName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(
            PersonName::parse("  Ada ", "first name").unwrap().as_str(),
            "Ada"
        );
    }

    #[test]
    fn empty_long_and_multiline_names_are_refused() {
        assert_eq!(
            PersonName::parse(" ", "first name").unwrap_err(),
            "Enter a first name"
        );
        assert!(PersonName::parse(&"x".repeat(129), "last name").is_err());
        assert!(PersonName::parse(&"é".repeat(128), "last name").is_ok());
        assert!(PersonName::parse("Ada\nLovelace", "first name").is_err());
    }

    #[test]
    fn project_names_have_four_to_seventy_two_characters() {
        assert!(ProjectName::parse("abc").is_err());
        assert!(ProjectName::parse(" abcd ").is_ok());
        assert!(ProjectName::parse(&"p".repeat(72)).is_ok());
        assert!(ProjectName::parse(&"p".repeat(73)).is_err());
    }
}
