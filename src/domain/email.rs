use std::fmt;

/// A trimmed, lower-cased email address of a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<EmailAddress, String> {
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err("Enter an email address".into());
        }
        if email.len() > 254 {
            return Err("An email address can be at most 254 characters".into());
        }
        let invalid = || "Enter an email address like name@example.com".to_string();
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let bad_char =
            |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c);
        if local.is_empty()
            || local.len() > 64
            || domain.is_empty()
            || local.chars().any(bad_char)
            || domain.chars().any(bad_char)
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(invalid());
        }
        Ok(EmailAddress(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(self.0.as_str(), |(l, _)| l)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let e = EmailAddress::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "alice.smith@example.com");
        assert_eq!(e.local_part(), "alice.smith");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@@example.com",
            "al ice@example.com",
            "alice@example..com",
            "alice@.example.com",
            ".alice@example.com",
            "alice<script>@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn overlong_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(EmailAddress::parse(&long).is_err());
    }
}
