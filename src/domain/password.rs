use secrecy::{ExposeSecret, SecretString};

use super::EmailAddress;

/// A new password that meets the rules: 8 to 256 characters, not built from the email's
/// local part or the person's names, and not easy to guess.
#[derive(Debug)]
pub struct Password(SecretString);

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 256;

/// The person's name as it was written, when the guess that made a password weak was their name.
fn personal_part<'a>(strength: &zxcvbn::Entropy, names: &[&'a str]) -> Option<&'a str> {
    strength.sequence().iter().find_map(|m| match &m.pattern {
        zxcvbn::matching::patterns::MatchPattern::Dictionary(d) => names
            .iter()
            .find(|n| n.to_lowercase() == d.matched_word.to_lowercase())
            .copied(),
        _ => None,
    })
}

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
        let names: Vec<&str> = names.iter().copied().filter(|n| !n.is_empty()).collect();
        let mut inputs: Vec<&str> = Vec::new();
        if let Some(email) = email {
            let lower = input.to_lowercase();
            let local = email.local_part();
            if lower == email.as_str() {
                return Err("A password cannot be your email address".into());
            }
            if local.chars().count() >= 3 && lower.contains(local) {
                // Say what matched: "maria" may be the name as much as the address.
                return Err(match names.iter().find(|n| n.to_lowercase() == local) {
                    Some(name) => format!("A password cannot contain your name (“{name}”)"),
                    None => format!(
                        "A password cannot contain the first part of your email address (“{local}”)"
                    ),
                });
            }
            inputs.extend([email.as_str(), local]);
        }
        inputs.extend(names.iter().copied());
        let strength = zxcvbn::zxcvbn(input, &inputs);
        if (strength.score() as u8) < 2 {
            return Err(match personal_part(&strength, &names) {
                Some(name) => format!(
                    "This password is easy to guess because it contains your name (“{name}”). Try a few unrelated words together"
                ),
                None => "This password is too common or easy to guess. Try a few unrelated words together"
                    .into(),
            });
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
    fn the_refusal_says_whether_the_name_or_the_address_matched() {
        let maria = EmailAddress::parse("maria@example.com").unwrap();
        let e = Password::parse("maria-2024-xq!", Some(&maria), &["Maria", "Lopez"]).unwrap_err();
        assert_eq!(e, "A password cannot contain your name (“Maria”)");
        let e =
            Password::parse("alice.smith-9q!Zr", Some(&email()), &["Alice", "Smith"]).unwrap_err();
        assert_eq!(
            e,
            "A password cannot contain the first part of your email address (“alice.smith”)"
        );
        let e = Password::parse("alice.smith@example.com", Some(&email()), &[]).unwrap_err();
        assert_eq!(e, "A password cannot be your email address");
        let e = Password::parse("Lopez1234", Some(&maria), &["Maria", "Lopez"]).unwrap_err();
        assert!(e.contains("your name (“Lopez”)"), "{e}");
        let e = Password::parse("password123", Some(&maria), &["Maria", "Lopez"]).unwrap_err();
        assert!(e.starts_with("This password is too common"), "{e}");
    }

    #[test]
    fn debug_output_does_not_show_the_password() {
        let p = Password::parse("correct horse battery staple", Some(&email()), &[]).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
