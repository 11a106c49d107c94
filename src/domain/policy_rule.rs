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

/// What a member's access policy says about reading one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAccess {
    Allowed,
    /// No rule covers the resource type.
    TypeDenied,
    /// Rules cover the type, but their criteria exclude this resource.
    Hidden,
}

/// Decides a read of `resource_type/id` under `rules` (type, criteria) for a member whose
/// profile is `own` (type, id). `_id=%profile.id` admits the member's own profile only;
/// `_compartment=%patient` admits the member's own Patient (the patient compartment holds
/// no other member records).
pub fn read_access(
    rules: &[(String, Option<Criteria>)],
    own: Option<(&str, &str)>,
    resource_type: &str,
    id: &str,
) -> ReadAccess {
    let mut covered = false;
    for (rule_type, criteria) in rules {
        if rule_type != "*" && rule_type != resource_type {
            continue;
        }
        covered = true;
        let admitted = match criteria {
            None => true,
            Some(Criteria::OwnProfile) => own.is_some_and(|(t, i)| t == resource_type && i == id),
            Some(Criteria::PatientCompartment) => {
                own.is_some_and(|(t, i)| t == "Patient" && resource_type == "Patient" && i == id)
            }
        };
        if admitted {
            return ReadAccess::Allowed;
        }
    }
    if covered {
        ReadAccess::Hidden
    } else {
        ReadAccess::TypeDenied
    }
}

#[cfg(test)]
mod read_access_tests {
    use super::*;

    fn rules(list: &[(&str, Option<Criteria>)]) -> Vec<(String, Option<Criteria>)> {
        list.iter().map(|(t, c)| ((*t).to_owned(), *c)).collect()
    }

    #[test]
    fn a_patient_with_the_compartment_rule_reads_only_their_own_patient() {
        let r = rules(&[("Patient", Some(Criteria::PatientCompartment))]);
        let me = Some(("Patient", "p1"));
        assert_eq!(read_access(&r, me, "Patient", "p1"), ReadAccess::Allowed);
        assert_eq!(read_access(&r, me, "Patient", "p2"), ReadAccess::Hidden);
        assert_eq!(
            read_access(&r, me, "Practitioner", "x"),
            ReadAccess::TypeDenied
        );
    }

    #[test]
    fn own_profile_criteria_admit_only_the_members_profile_of_that_type() {
        let r = rules(&[("*", Some(Criteria::OwnProfile))]);
        let me = Some(("Practitioner", "d1"));
        assert_eq!(
            read_access(&r, me, "Practitioner", "d1"),
            ReadAccess::Allowed
        );
        assert_eq!(
            read_access(&r, me, "Practitioner", "d2"),
            ReadAccess::Hidden
        );
        assert_eq!(read_access(&r, me, "Patient", "d1"), ReadAccess::Hidden);
    }

    #[test]
    fn a_rule_without_criteria_admits_every_resource_of_its_type() {
        let r = rules(&[("Patient", None), ("Patient", Some(Criteria::OwnProfile))]);
        assert_eq!(read_access(&r, None, "Patient", "any"), ReadAccess::Allowed);
        assert_eq!(
            read_access(&r, None, "RelatedPerson", "any"),
            ReadAccess::TypeDenied
        );
    }
}
