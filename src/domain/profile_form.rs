//! The account settings form: what a member typed (`ProfileFields`, shown again with its
//! errors) and what it becomes once every field is valid (`ProfileUpdate`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{FieldErrors, PersonName};

pub const LANGUAGES: &[(&str, &str)] = &[
    ("ar", "Arabic"),
    ("zh", "Chinese"),
    ("nl", "Dutch"),
    ("en", "English"),
    ("fr", "French"),
    ("de", "German"),
    ("hi", "Hindi"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ru", "Russian"),
    ("es", "Spanish"),
    ("sv", "Swedish"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("vi", "Vietnamese"),
];
pub const GENDERS: &[(&str, &str)] = &[
    ("female", "Female"),
    ("male", "Male"),
    ("other", "Other"),
    ("unknown", "Prefer not to say"),
];
/// Rows a form may carry; further rows are not read.
pub const QUALIFICATIONS_MAX: usize = 20;
pub const IDENTIFIERS_MAX: usize = 10;
const SYSTEM_MAX: usize = 256;
const SHORT_MAX: usize = 32;
const TEXT_MAX: usize = 128;

/// The form as typed.
#[derive(Debug, Default, Clone)]
pub struct ProfileFields {
    pub first_name: String,
    pub last_name: String,
    pub prefix: String,
    pub suffix: String,
    pub phone: String,
    pub gender: String,
    pub birth_date: String,
    pub language: String,
    pub qualifications: Vec<QualificationRow>,
    /// `None` when the form does not carry identifiers (a member's own settings: only the
    /// project's admins keep them), and they stay as saved.
    pub identifiers: Option<Vec<IdentifierRow>>,
}

#[derive(Debug, Default, Clone)]
pub struct IdentifierRow {
    pub system: String,
    pub value: String,
}

/// FHIR `Identifier`: a number the organisation knows the person by (a staff number, an
/// NPI, a medical record number), optionally with the namespace (`system`) it comes from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identifier {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system: String,
    pub value: String,
}

#[derive(Debug, Default, Clone)]
pub struct QualificationRow {
    pub text: String,
    pub issuer: String,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Qualification {
    pub text: String,
    pub issuer: String,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

/// A valid profile, ready to be saved.
#[derive(Debug)]
pub struct ProfileUpdate {
    pub first_name: String,
    pub last_name: String,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub language: Option<String>,
    pub qualifications: Vec<Qualification>,
    /// `None`: leave the saved identifiers as they are.
    pub identifiers: Option<Vec<Identifier>>,
}

impl ProfileFields {
    /// Every field checked; each error is keyed by the form field it belongs to.
    pub fn parse(&self) -> Result<ProfileUpdate, FieldErrors> {
        let mut errors = FieldErrors::new();
        let first = errors.take(
            "firstName",
            PersonName::parse(&self.first_name, "first name"),
        );
        let last = errors.take("lastName", PersonName::parse(&self.last_name, "last name"));
        let prefix = optional_text(&mut errors, "prefix", "A prefix", &self.prefix, SHORT_MAX);
        let suffix = optional_text(&mut errors, "suffix", "A suffix", &self.suffix, SHORT_MAX);
        let phone = phone(&mut errors, &self.phone);
        let gender = from_list(&mut errors, "gender", "a gender", &self.gender, GENDERS);
        let birth_date = optional_date(&mut errors, "birthDate", "Birth date", &self.birth_date);
        if birth_date.is_some_and(|d| d > chrono::Utc::now().date_naive()) {
            errors.add("birthDate", "Birth date cannot be in the future");
        }
        let language = from_list(
            &mut errors,
            "language",
            "a language",
            &self.language,
            LANGUAGES,
        );
        let qualifications = self
            .qualifications
            .iter()
            .enumerate()
            .filter(|(_, row)| !row.is_blank())
            .map(|(i, row)| row.parse(i, &mut errors))
            .collect();
        let identifiers = self
            .identifiers
            .as_ref()
            .map(|rows| parse_identifiers(rows, &mut errors));
        match (first, last) {
            (Some(first), Some(last)) if errors.is_empty() => Ok(ProfileUpdate {
                first_name: first.into_inner(),
                last_name: last.into_inner(),
                prefix,
                suffix,
                phone,
                gender,
                birth_date,
                language,
                qualifications,
                identifiers,
            }),
            _ => Err(errors),
        }
    }
}

impl QualificationRow {
    fn is_blank(&self) -> bool {
        [&self.text, &self.issuer, &self.start, &self.end]
            .iter()
            .all(|v| v.trim().is_empty())
    }

    /// Row `i` (shown to people as number `i + 1`).
    fn parse(&self, i: usize, errors: &mut FieldErrors) -> Qualification {
        let n = i + 1;
        let field = |name: &str| format!("qualification[{i}].{name}");
        if self.text.trim().is_empty() {
            errors.add(&field("text"), format!("Qualification {n}: enter its name"));
        }
        let label = format!("Qualification {n}");
        let text = optional_text(errors, &field("text"), &label, &self.text, TEXT_MAX);
        let issuer_label = format!("{label} issuer");
        let issuer = optional_text(
            errors,
            &field("issuer"),
            &issuer_label,
            &self.issuer,
            TEXT_MAX,
        );
        let start = optional_date(
            errors,
            &field("start"),
            &format!("{label} start"),
            &self.start,
        );
        let end = optional_date(errors, &field("end"), &format!("{label} end"), &self.end);
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            errors.add(
                &field("end"),
                format!("Qualification {n}: the end cannot be before the start"),
            );
        }
        Qualification {
            text: text.unwrap_or_default(),
            issuer: issuer.unwrap_or_default(),
            start,
            end,
        }
    }
}

/// Blank rows are dropped; a row needs a value; the same system and value twice is refused.
fn parse_identifiers(rows: &[IdentifierRow], errors: &mut FieldErrors) -> Vec<Identifier> {
    let mut kept: Vec<Identifier> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.system.trim().is_empty() && row.value.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let field = |name: &str| format!("identifier[{i}].{name}");
        let label = format!("Identifier {n}");
        let system_label = format!("{label} system");
        let system = optional_text(
            errors,
            &field("system"),
            &system_label,
            &row.system,
            SYSTEM_MAX,
        )
        .unwrap_or_default();
        if system.chars().any(char::is_whitespace) {
            errors.add(
                &field("system"),
                format!("{label}: the system is a URI such as http://hl7.org/fhir/sid/us-npi, without spaces"),
            );
        }
        let value = optional_text(errors, &field("value"), &label, &row.value, TEXT_MAX);
        let Some(value) = value else {
            errors.add(&field("value"), format!("{label}: enter its value"));
            continue;
        };
        let identifier = Identifier { system, value };
        if kept.contains(&identifier) {
            errors.add(
                &field("value"),
                format!("{label}: the same system and value are already listed"),
            );
        } else {
            kept.push(identifier);
        }
    }
    kept
}

fn optional_text(
    errors: &mut FieldErrors,
    field: &str,
    label: &str,
    value: &str,
    max: usize,
) -> Option<String> {
    let v = value.trim();
    if v.chars().count() > max {
        errors.add(field, format!("{label} can be at most {max} characters"));
    } else if super::has_control_chars(v) {
        errors.add(field, format!("{label} cannot contain line breaks"));
    }
    (!v.is_empty()).then(|| v.to_owned())
}

fn optional_date(
    errors: &mut FieldErrors,
    field: &str,
    label: &str,
    value: &str,
) -> Option<NaiveDate> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if (1800..=9999).contains(&chrono::Datelike::year(&d)) => Some(d),
        _ => {
            errors.add(field, format!("{label} must be a date like 1990-04-23"));
            None
        }
    }
}

fn phone(errors: &mut FieldErrors, value: &str) -> Option<String> {
    let phone = optional_text(errors, "phone", "A phone number", value, SHORT_MAX);
    let plausible = |p: &str| {
        p.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            && p.chars().filter(char::is_ascii_digit).count() >= 3
    };
    if phone.as_deref().is_some_and(|p| !plausible(p)) {
        errors.add(
            "phone",
            "Enter a phone number using digits, spaces and + - ( )",
        );
    }
    phone
}

/// An optional choice that must be one of `choices`' keys.
fn from_list(
    errors: &mut FieldErrors,
    field: &str,
    what: &str,
    value: &str,
    choices: &[(&str, &str)],
) -> Option<String> {
    let v = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    if v.as_deref()
        .is_some_and(|v| !choices.iter().any(|(k, _)| *k == v))
    {
        errors.add(field, format!("Choose {what} from the list"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named() -> ProfileFields {
        ProfileFields {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            ..ProfileFields::default()
        }
    }

    #[test]
    fn blank_qualification_rows_are_dropped_and_others_are_checked() {
        let mut f = named();
        f.qualifications = vec![
            QualificationRow::default(),
            QualificationRow {
                issuer: "Board".into(),
                start: "2020-01-01".into(),
                end: "2019-01-01".into(),
                ..QualificationRow::default()
            },
        ];
        let errors = f
            .parse()
            .expect_err("row 2 has no name and ends before it starts");
        assert_eq!(
            errors.get("qualification[1].text"),
            Some("Qualification 2: enter its name")
        );
        assert_eq!(
            errors.get("qualification[1].end"),
            Some("Qualification 2: the end cannot be before the start")
        );
    }

    #[test]
    fn choices_phone_and_dates_are_checked() {
        let mut f = named();
        f.gender = "robot".into();
        f.language = "xx".into();
        f.phone = "call me".into();
        f.birth_date = "23/04/1990".into();
        let errors = f.parse().expect_err("four bad fields");
        assert_eq!(errors.get("gender"), Some("Choose a gender from the list"));
        assert_eq!(
            errors.get("language"),
            Some("Choose a language from the list")
        );
        assert!(errors.get("phone").is_some());
        assert_eq!(
            errors.get("birthDate"),
            Some("Birth date must be a date like 1990-04-23")
        );
    }

    #[test]
    fn identifiers_need_a_value_no_spaces_in_the_system_and_no_repeats() {
        let mut f = named();
        let row = |system: &str, value: &str| IdentifierRow {
            system: system.into(),
            value: value.into(),
        };
        f.identifiers = Some(vec![
            row("http://hl7.org/fhir/sid/us-npi", "1234567893"),
            row("", ""),
            row("urn:staff", ""),
            row("my system", "7"),
            row("http://hl7.org/fhir/sid/us-npi", " 1234567893 "),
        ]);
        let errors = f.parse().expect_err("three bad rows");
        assert_eq!(
            errors.get("identifier[2].value"),
            Some("Identifier 3: enter its value")
        );
        assert!(errors.get("identifier[3].system").is_some());
        assert_eq!(
            errors.get("identifier[4].value"),
            Some("Identifier 5: the same system and value are already listed")
        );
        f.identifiers = Some(vec![row("", "  A-17 "), row("", "")]);
        let update = f.parse().expect("a value alone is an identifier");
        assert_eq!(
            update.identifiers,
            Some(vec![Identifier {
                system: String::new(),
                value: "A-17".into()
            }])
        );
        f.identifiers = None;
        assert_eq!(f.parse().expect("valid").identifiers, None);
    }

    #[test]
    fn a_valid_form_becomes_an_update() {
        let mut f = named();
        f.gender = "female".into();
        f.phone = "+44 20 7946 0000".into();
        let update = f.parse().expect("valid");
        assert_eq!(update.first_name, "Ada");
        assert_eq!(update.gender.as_deref(), Some("female"));
        assert!(update.qualifications.is_empty());
    }
}
