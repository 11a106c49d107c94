//! Properties of every parser of form and API input, over generated text: none panics on any
//! input, and what one accepts keeps the promises of its type (trimmed, bounded, one line,
//! the same when parsed again). The fuzz target in `fuzz/` feeds the same parsers bytes.

use proptest::prelude::*;

use super::folded::fold;
use super::profile_form::{IdentifierRow, ProfileFields, QualificationRow};
use super::{
    Criteria, EmailAddress, Password, PersonName, PolicyRule, ProfileType, ProjectName, RuleInput,
    parse_policy, resource_types,
};

/// Text of every kind: any Unicode (controls, right-to-left marks, emoji, NUL), address-like
/// shapes, and very long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t]{0,3}[a-zA-Z0-9._%+-]{0,70}@[a-zA-Z0-9.-]{0,70}[ \\t]{0,3}",
        "[\\PC]{0,300}",
        "(.|\\n){0,2000}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn an_accepted_email_address_is_trimmed_lower_case_bounded_and_parses_to_itself(input in text()) {
        if let Ok(email) = EmailAddress::parse(&input) {
            let s = email.as_str();
            prop_assert!(s.len() <= 254);
            prop_assert_eq!(s, s.trim());
            prop_assert_eq!(s.to_lowercase(), s);
            prop_assert_eq!(s.matches('@').count(), 1);
            prop_assert!(!s.chars().any(|c| c.is_control() || c.is_whitespace()));
            prop_assert_eq!(EmailAddress::parse(s).ok(), Some(email.clone()));
        }
        if let Ok(new) = EmailAddress::parse_new(&input) {
            prop_assert_eq!(EmailAddress::parse(&input).ok(), Some(new));
        }
    }

    #[test]
    fn an_accepted_name_is_one_trimmed_line_of_at_most_128_characters(input in text()) {
        if let Ok(name) = PersonName::parse(&input, "first name") {
            let s = name.as_str();
            prop_assert_eq!(s, s.trim());
            prop_assert!((1..=128).contains(&s.chars().count()));
            prop_assert!(!s.chars().any(char::is_control));
            prop_assert_eq!(PersonName::parse(s, "first name").ok(), Some(name.clone()));
        } else {
            let trimmed = input.trim();
            prop_assert!(
                trimmed.is_empty()
                    || trimmed.chars().count() > 128
                    || trimmed.chars().any(char::is_control)
            );
        }
    }

    #[test]
    fn an_accepted_project_name_is_one_trimmed_line_of_4_to_72_characters(input in text()) {
        if let Ok(name) = ProjectName::parse(&input) {
            let s = name.as_str();
            prop_assert_eq!(s, s.trim());
            prop_assert!((4..=72).contains(&s.chars().count()));
            prop_assert!(!s.chars().any(char::is_control));
            prop_assert_eq!(ProjectName::parse(s).ok(), Some(name.clone()));
        }
    }

    #[test]
    fn policy_rules_accept_only_known_types_and_the_two_criteria(
        resource_type in text(),
        criteria in text(),
        read_only in any::<bool>(),
        name in text(),
    ) {
        if let Ok(c) = Criteria::parse(&criteria) {
            let expected = match c {
                None => "",
                Some(Criteria::OwnProfile) => "_id=%profile.id",
                Some(Criteria::PatientCompartment) => "_compartment=%patient",
            };
            prop_assert_eq!(criteria.trim(), expected);
        }
        if let Ok(rule) = PolicyRule::parse(&resource_type, read_only, &criteria) {
            prop_assert!(
                rule.resource_type == "*"
                    || resource_types::lookup(&rule.resource_type) == Ok(rule.resource_type.as_str())
            );
            prop_assert_eq!(rule.read_only, read_only);
        }
        let rows = [RuleInput { resource_type, read_only, criteria }];
        if let Ok((name, rules)) = parse_policy(&name, &rows) {
            prop_assert!(!rules.is_empty());
            prop_assert!((1..=super::policy_rule::POLICY_NAME_MAX).contains(&name.chars().count()));
        }
    }

    #[test]
    fn a_resource_type_found_is_found_again_as_itself(input in text()) {
        if let Ok(found) = resource_types::lookup(&input) {
            prop_assert_eq!(resource_types::lookup(found), Ok(found));
        }
    }

    #[test]
    fn a_profile_type_parses_to_what_it_writes(input in text()) {
        if let Ok(t) = ProfileType::parse(&input) {
            prop_assert_eq!(ProfileType::parse(t.as_str()).ok(), Some(t));
            prop_assert_eq!(input.trim(), t.as_str());
        }
    }

    #[test]
    fn folding_is_lower_case_single_spaced_and_folding_again_changes_nothing(input in text()) {
        let once = fold(&input);
        prop_assert_eq!(fold(&once), once.clone());
        prop_assert!(!once.contains("  "));
        prop_assert_eq!(once.trim(), once.as_str());
    }
}

fn profile_fields() -> impl Strategy<Value = ProfileFields> {
    let qualification =
        (text(), text(), text(), text()).prop_map(|(text, issuer, start, end)| QualificationRow {
            text,
            issuer,
            start,
            end,
        });
    let identifier = (text(), text()).prop_map(|(system, value)| IdentifierRow { system, value });
    (
        [
            text(),
            text(),
            text(),
            text(),
            text(),
            text(),
            text(),
            text(),
        ],
        prop::collection::vec(qualification, 0..4),
        prop::option::of(prop::collection::vec(identifier, 0..4)),
    )
        .prop_map(|(text, qualifications, identifiers)| {
            let mut fields = ProfileFields {
                qualifications,
                identifiers,
                ..ProfileFields::default()
            };
            let slots = [
                &mut fields.first_name,
                &mut fields.last_name,
                &mut fields.prefix,
                &mut fields.suffix,
                &mut fields.phone,
                &mut fields.gender,
                &mut fields.birth_date,
                &mut fields.language,
            ];
            for (slot, value) in slots.into_iter().zip(text) {
                *slot = value;
            }
            fields
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn an_accepted_profile_has_one_line_names_and_keeps_or_replaces_identifiers_as_asked(
        fields in profile_fields(),
    ) {
        match fields.parse() {
            Ok(update) => {
                for name in [&update.first_name, &update.last_name] {
                    prop_assert_eq!(name.as_str(), name.trim());
                    prop_assert!((1..=128).contains(&name.chars().count()));
                    prop_assert!(!name.chars().any(char::is_control));
                }
                prop_assert_eq!(update.identifiers.is_some(), fields.identifiers.is_some());
                prop_assert!(update.qualifications.len() <= fields.qualifications.len());
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }
}

proptest! {
    // Judging a password's strength is the slow part of its parse: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_password_is_judged_without_panicking_and_only_within_its_length_bounds(
        input in text(),
        email in text(),
        name in text(),
    ) {
        let email = EmailAddress::parse(&email).ok();
        if Password::parse(&input, email.as_ref(), &[name.as_str()]).is_ok() {
            let len = input.chars().count();
            prop_assert!((super::password::MIN_LENGTH..=super::password::MAX_LENGTH).contains(&len));
        }
    }
}
