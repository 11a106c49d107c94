use std::fmt;

/// The FHIR resource type that represents a member inside a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
