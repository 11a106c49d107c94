use std::fmt;

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;

/// The FHIR resource type that represents a member inside a project. Stored as its name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, AsExpression, FromSqlRow, utoipa::ToSchema,
)]
#[diesel(sql_type = Text)]
pub enum ProfileType {
    #[default]
    Practitioner,
    Patient,
    RelatedPerson,
}

impl ProfileType {
    pub const ALL: [ProfileType; 3] = [
        ProfileType::Practitioner,
        ProfileType::Patient,
        ProfileType::RelatedPerson,
    ];

    pub fn parse(input: &str) -> Result<ProfileType, String> {
        match input.trim() {
            "Practitioner" => Ok(ProfileType::Practitioner),
            "Patient" => Ok(ProfileType::Patient),
            "RelatedPerson" => Ok(ProfileType::RelatedPerson),
            _ => Err("Choose Practitioner, Patient or RelatedPerson".into()),
        }
    }

    fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileType::Practitioner => "Practitioner",
            ProfileType::Patient => "Patient",
            ProfileType::RelatedPerson => "RelatedPerson",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ProfileType::Practitioner => "Practitioner",
            ProfileType::Patient => "Patient",
            ProfileType::RelatedPerson => "Related person",
        }
    }
}

super::text_column::text_column!(ProfileType);

impl fmt::Display for ProfileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_profile_types_parse() {
        for t in ProfileType::ALL {
            assert_eq!(ProfileType::parse(t.as_str()), Ok(t));
        }
        assert!(ProfileType::parse("ClientApplication").is_err());
        assert!(ProfileType::parse("patient").is_err());
    }
}
