use super::ProfileType;

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

/// Which part of a rule is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// `resourceType` or `criteria`: the field of the rule's row.
    pub field: &'static str,
    pub message: String,
}

impl PolicyRule {
    pub fn parse(
        resource_type: &str,
        read_only: bool,
        criteria: &str,
    ) -> Result<PolicyRule, RuleError> {
        let on_type = |message: &str| RuleError {
            field: "resourceType",
            message: message.to_owned(),
        };
        let t = resource_type.trim();
        let valid = t == "*" || (t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric()));
        if t.is_empty() {
            return Err(on_type("Enter a resource type, or * for all types"));
        }
        if !valid {
            return Err(on_type(
                "A resource type is a FHIR type name such as Patient, or * for all types",
            ));
        }
        let t = match t {
            "*" => "*",
            t => super::resource_types::lookup(t).map_err(|suggestion| match suggestion {
                Some(known) => on_type(&format!(
                    "{t} is not a FHIR resource type. Did you mean {known}?"
                )),
                None => on_type(&format!(
                    "{t} is not a FHIR resource type. Pick one from the list, or * for all types"
                )),
            })?,
        };
        Ok(PolicyRule {
            resource_type: t.to_owned(),
            read_only,
            criteria: Criteria::parse(criteria).map_err(|message| RuleError {
                field: "criteria",
                message,
            })?,
        })
    }
}

/// One rule row of the policy form as typed, kept so the form can be shown again.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub resource_type: String,
    pub read_only: bool,
    pub criteria: String,
}

impl RuleInput {
    fn is_blank(&self) -> bool {
        self.resource_type.trim().is_empty() && self.criteria.is_empty() && !self.read_only
    }
}

pub const POLICY_NAME_MAX: usize = 128;

/// A policy as the form describes it: a name and its rules (rows left blank are ignored; at
/// least one rule). Errors name the field of the row: `rule[N].resourceType` or
/// `rule[N].criteria`.
pub fn parse_policy(
    name: &str,
    rows: &[RuleInput],
) -> Result<(String, Vec<PolicyRule>), super::FieldErrors> {
    let mut errors = super::FieldErrors::new();
    let name = name.trim().to_owned();
    if name.is_empty() {
        errors.add("name", "Enter a name for the policy");
    } else if name.chars().count() > POLICY_NAME_MAX {
        errors.add(
            "name",
            format!("A name can be at most {POLICY_NAME_MAX} characters"),
        );
    }
    let filled: Vec<(usize, &RuleInput)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_blank())
        .collect();
    if filled.is_empty() {
        errors.add("rule[0].resourceType", "Add at least one rule");
    }
    let mut rules = Vec::new();
    for (i, row) in filled {
        match PolicyRule::parse(&row.resource_type, row.read_only, &row.criteria) {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.add(
                &format!("rule[{i}].{}", e.field),
                format!("Rule {}: {}", i + 1, e.message),
            ),
        }
    }
    if errors.is_empty() {
        Ok((name, rules))
    } else {
        Err(errors)
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
    fn a_policy_needs_a_name_and_a_rule_and_errors_name_the_rows_field() {
        let row = |t: &str, c: &str| RuleInput {
            resource_type: t.into(),
            read_only: false,
            criteria: c.into(),
        };
        let errors = parse_policy(" ", &[RuleInput::default()]).unwrap_err();
        assert!(errors.get("name").is_some());
        assert!(errors.get("rule[0].resourceType").is_some());
        let errors = parse_policy("P", &[row("Patient", ""), row("Patient", "x=1")]).unwrap_err();
        assert!(
            errors
                .get("rule[1].criteria")
                .unwrap()
                .starts_with("Rule 2")
        );
        let errors = parse_policy("P", &[RuleInput::default(), row("patient", "")]).unwrap_err();
        assert!(errors.get("rule[1].resourceType").is_some());
        let (name, rules) = parse_policy(" Own ", &[row("*", ""), RuleInput::default()]).unwrap();
        assert_eq!((name.as_str(), rules.len()), ("Own", 1));
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
    own: Option<(ProfileType, &str)>,
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
            Some(Criteria::OwnProfile) => {
                own.is_some_and(|(t, i)| t.as_str() == resource_type && i == id)
            }
            Some(Criteria::PatientCompartment) => own.is_some_and(|(t, i)| {
                t == ProfileType::Patient
                    && resource_type == ProfileType::Patient.as_str()
                    && i == id
            }),
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
        let me = Some((ProfileType::Patient, "p1"));
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
        let me = Some((ProfileType::Practitioner, "d1"));
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
