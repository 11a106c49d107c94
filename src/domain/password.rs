use secrecy::{ExposeSecret, SecretString};

use super::EmailAddress;

/// A new password that meets the rules: 8 to 256 characters, not built from the email's
/// local part or the person's names, and not easy to guess.
#[derive(Debug)]
pub struct Password(SecretString);

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 256;

impl Password {
    /// `email` is `None` when the address itself was invalid: the other rules still apply.
    pub fn parse(
        input: &str,
        email: Option<&EmailAddress>,
        names: &[&str],
    ) -> Result<Password, String> {
        let len = input.chars().count();
        if len == 0 {
            return Err("Enter a password".into());
        }
        if len < MIN_LENGTH {
            return Err(format!(
                "A password must be at least {MIN_LENGTH} characters"
            ));
        }
        if len > MAX_LENGTH {
            return Err(format!("A password can be at most {MAX_LENGTH} characters"));
        }
        let mut inputs: Vec<&str> = Vec::new();
        if let Some(email) = email {
            let lower = input.to_lowercase();
            let local = email.local_part();
            if lower == email.as_str() || (local.chars().count() >= 3 && lower.contains(local)) {
                return Err("A password cannot contain your email address".into());
            }
            inputs.extend([email.as_str(), local]);
        }
        inputs.extend(names.iter().copied().filter(|n| !n.is_empty()));
        let strength = zxcvbn::zxcvbn(input, &inputs);
        if (strength.score() as u8) < 2 {
            return Err(
                "This password is too common or easy to guess. Try a few unrelated words together"
                    .into(),
            );
        }
        Ok(Password(SecretString::from(input.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> EmailAddress {
        EmailAddress::parse("alice.smith@example.com").unwrap()
    }

    #[test]
    fn a_long_uncommon_password_is_accepted() {
        assert!(Password::parse("correct horse battery staple", Some(&email()), &[]).is_ok());
    }

    #[test]
    fn short_and_overlong_passwords_are_refused() {
        assert!(Password::parse("", Some(&email()), &[]).is_err());
        assert!(Password::parse("Xk9#qv2", Some(&email()), &[]).is_err());
        let long = "Zq7!".repeat(65);
        assert!(Password::parse(&long, Some(&email()), &[]).is_err());
    }

    #[test]
    fn common_passwords_are_refused() {
        for pw in [
            "password",
            "password123",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
        ] {
            assert!(
                Password::parse(pw, Some(&email()), &[]).is_err(),
                "{pw} was accepted"
            );
        }
    }

    #[test]
    fn passwords_containing_the_email_are_refused() {
        let e = Password::parse("xx-Alice.Smith-2024!", Some(&email()), &[]).unwrap_err();
        assert!(e.contains("email"));
        assert!(Password::parse("alice.smith@example.com", Some(&email()), &[]).is_err());
    }

    #[test]
    fn debug_output_does_not_show_the_password() {
        let p = Password::parse("correct horse battery staple", Some(&email()), &[]).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
