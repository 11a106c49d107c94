/// One rule of an access policy: which resource type (or `*` for all), read-only or not,
/// and an optional criterion limiting it to the member's own records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub resource_type: String,
    pub read_only: bool,
    pub criteria: Option<Criteria>,
}

/// The two criteria Rollcall understands; anything else is refused rather than stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criteria {
    /// `_id=%profile.id`: only the member's own profile resource.
    OwnProfile,
    /// `_compartment=%patient`: only resources in the member's patient compartment.
    PatientCompartment,
}

impl Criteria {
    pub const ALL: [Criteria; 2] = [Criteria::OwnProfile, Criteria::PatientCompartment];

    pub fn as_str(self) -> &'static str {
        match self {
            Criteria::OwnProfile => "_id=%profile.id",
            Criteria::PatientCompartment => "_compartment=%patient",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Criteria::OwnProfile => "Only their own profile (_id=%profile.id)",
            Criteria::PatientCompartment => {
                "Only their patient compartment (_compartment=%patient)"
            }
        }
    }

    pub fn parse(input: &str) -> Result<Option<Criteria>, String> {
        match input.trim() {
            "" => Ok(None),
            "_id=%profile.id" => Ok(Some(Criteria::OwnProfile)),
            "_compartment=%patient" => Ok(Some(Criteria::PatientCompartment)),
            _ => Err("Criteria must be empty, _id=%profile.id or _compartment=%patient".into()),
        }
    }
}

impl PolicyRule {
    pub fn parse(
        resource_type: &str,
        read_only: bool,
        criteria: &str,
    ) -> Result<PolicyRule, String> {
        let t = resource_type.trim();
        let valid = t == "*"
            || (t.len() <= 64
                && t.starts_with(|c: char| c.is_ascii_uppercase())
                && t.chars().all(|c| c.is_ascii_alphanumeric()));
        if t.is_empty() {
            return Err("Enter a resource type, or * for all types".into());
        }
        if !valid {
            return Err(
                "A resource type is a FHIR type name such as Patient, or * for all types".into(),
            );
        }
        Ok(PolicyRule {
            resource_type: t.to_owned(),
            read_only,
            criteria: Criteria::parse(criteria)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_accept_type_names_star_and_the_two_criteria() {
        let r = PolicyRule::parse(" Patient ", true, "_compartment=%patient").unwrap();
        assert_eq!(r.resource_type, "Patient");
        assert_eq!(r.criteria, Some(Criteria::PatientCompartment));
        assert!(
            PolicyRule::parse("*", false, "")
                .unwrap()
                .criteria
                .is_none()
        );
    }

    #[test]
    fn other_types_and_criteria_are_refused() {
        assert!(PolicyRule::parse("", false, "").is_err());
        assert!(PolicyRule::parse("patient", false, "").is_err());
        assert!(PolicyRule::parse("Patient;drop", false, "").is_err());
        assert!(PolicyRule::parse("Patient", false, "name=Smith").is_err());
    }
}
