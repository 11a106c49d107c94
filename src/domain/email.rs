use std::fmt;

/// A trimmed, lower-cased email address of a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Mail providers with many users, most used first: a domain one edit away from one of these
/// is more likely a typo than a real domain.
const PROVIDERS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "live.com",
    "msn.com",
    "me.com",
    "mac.com",
    "googlemail.com",
    "protonmail.com",
    "proton.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "btinternet.com",
    "yahoo.fr",
    "hotmail.fr",
    "orange.fr",
    "free.fr",
    "wanadoo.fr",
    "libero.it",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    // Real providers one letter away from another, listed so they are never "corrected".
    "mail.com",
    "email.com",
    "ymail.com",
    "rocketmail.com",
    "hotmail.de",
    "hotmail.it",
    "outlook.fr",
    "outlook.de",
    "live.fr",
    "live.de",
    "live.co.uk",
    "laposte.net",
    "fastmail.com",
    "zoho.com",
    "mail.de",
    "gmx.at",
    "gmx.ch",
    "bluewin.ch",
    "wp.pl",
    "o2.pl",
    "list.ru",
    "bk.ru",
    "inbox.ru",
    "naver.com",
    "daum.net",
    "126.com",
    "yeah.net",
    "uol.com.br",
    "bol.com.br",
    "cox.net",
    "charter.net",
    "shaw.ca",
];

/// Domains this short are a letter away from too many real ones to suggest them.
const SUGGEST_MIN_LEN: usize = 8;

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

    /// An address for a new account or invitation: also refuses a domain without a dot
    /// (`priya@example`), which cannot receive mail from outside. Addresses already stored
    /// are read with `parse`, so older accounts such as `admin@localhost` still sign in.
    pub fn parse_new(input: &str) -> Result<EmailAddress, String> {
        let email = EmailAddress::parse(input)?;
        let domain = email.0.rsplit_once('@').map_or("", |(_, d)| d);
        if !domain.contains('.') {
            return Err(format!(
                "The part after @ needs a dot, like {domain}.com: “{}” cannot receive mail",
                email.0
            ));
        }
        Ok(email)
    }

    /// The address it probably should be, when its domain is one letter away from a large
    /// mail provider's (`gmial.com` → `gmail.com`): a warning a person may override, since
    /// such a domain can exist.
    pub fn likely_typo(&self) -> Option<EmailAddress> {
        let (local, domain) = self.0.rsplit_once('@')?;
        if PROVIDERS.contains(&domain) {
            return None;
        }
        PROVIDERS
            .iter()
            .filter(|known| known.len() >= SUGGEST_MIN_LEN)
            .filter(|known| strsim::damerau_levenshtein(domain, known) == 1)
            .min_by_key(|known| PROVIDERS.iter().position(|p| p == *known))
            .map(|known| EmailAddress(format!("{local}@{known}")))
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
    fn a_domain_without_a_dot_is_refused() {
        let message = EmailAddress::parse_new("priya@example").unwrap_err();
        assert!(message.contains("needs a dot"), "{message}");
        assert!(EmailAddress::parse_new("priya@example.org").is_ok());
        // An address already stored still reads (and so signs in).
        assert!(EmailAddress::parse("admin@localhost").is_ok());
    }

    #[test]
    fn a_large_providers_misspelled_domain_gets_a_suggestion() {
        let typo = |a: &str| EmailAddress::parse(a).unwrap().likely_typo().map(|e| e.0);
        assert_eq!(typo("priya@gmial.com").as_deref(), Some("priya@gmail.com"));
        assert_eq!(typo("priya@gmail.con").as_deref(), Some("priya@gmail.com"));
        assert_eq!(
            typo("priya@hotmial.com").as_deref(),
            Some("priya@hotmail.com")
        );
        assert_eq!(typo("priya@yaho.com").as_deref(), Some("priya@yahoo.com"));
        assert_eq!(typo("priya@gmail.com"), None);
        assert_eq!(typo("priya@example.com"), None);
        assert_eq!(typo("priya@clinic-north.org"), None);
        // Real providers are never "corrected" to another one, and short domains are a
        // letter away from too many real ones to guess.
        assert_eq!(typo("priya@me.com"), None);
        assert_eq!(typo("priya@mail.com"), None);
        assert_eq!(typo("priya@ymail.com"), None);
        assert_eq!(typo("priya@email.com"), None);
        assert_eq!(typo("priya@me.co"), None);
    }

    #[test]
    fn overlong_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(EmailAddress::parse(&long).is_err());
    }
}
