//! Every parser of form and API input, fed what libFuzzer makes of its corpus: none may
//! panic, and what one accepts must keep the promises of its type (the same promises as the
//! properties in `src/domain/properties.rs`, which generate text instead of bytes).
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rollcall::domain::folded::{ProfileKeys, fold};
use rollcall::domain::password::{MAX_LENGTH, MIN_LENGTH};
use rollcall::domain::profile_form::{IdentifierRow, ProfileFields, QualificationRow};
use rollcall::domain::{
    Criteria, EmailAddress, Password, PersonName, PolicyRule, ProfileType, ProjectName, RuleInput,
    parse_policy, resource_types,
};
use rollcall::services::invite::{Scope, bulk};
use rollcall::services::members::{Cursor, SortKey, bulk::Action};

#[derive(Arbitrary, Debug)]
enum Case<'a> {
    Email(&'a str),
    Name(&'a str),
    ProjectName(&'a str),
    Password(&'a str, &'a str, &'a str),
    Rule(&'a str, bool, &'a str),
    Policy(&'a str, Vec<(&'a str, bool, &'a str)>),
    ResourceType(&'a str),
    ProfileType(&'a str),
    Fold(&'a str, &'a str, Option<&'a str>),
    Profile(Profile<'a>),
    InviteList(&'a str),
    Cursor(&'a str),
    Sort(&'a str),
    Scope(&'a str),
    BulkAction(&'a str, &'a str),
}

#[derive(Arbitrary, Debug)]
struct Profile<'a> {
    text: [&'a str; 8],
    qualifications: Vec<[&'a str; 4]>,
    identifiers: Option<Vec<(&'a str, &'a str)>>,
}

fn email(input: &str) {
    if let Ok(email) = EmailAddress::parse(input) {
        let s = email.as_str();
        assert!(s.len() <= 254);
        assert_eq!(s, s.trim());
        assert_eq!(s.to_lowercase(), s);
        assert_eq!(s.matches('@').count(), 1);
        assert!(!s.chars().any(|c| c.is_control() || c.is_whitespace()));
        assert_eq!(EmailAddress::parse(s).ok(), Some(email.clone()));
    }
    if let Ok(new) = EmailAddress::parse_new(input) {
        assert_eq!(EmailAddress::parse(input).ok(), Some(new));
    }
}

fn one_line(s: &str, lengths: std::ops::RangeInclusive<usize>) {
    assert_eq!(s, s.trim());
    assert!(lengths.contains(&s.chars().count()));
    assert!(!s.chars().any(char::is_control));
}

fn profile(p: &Profile) {
    let [first, last, prefix, suffix, phone, gender, birth, language] = p.text.map(str::to_owned);
    let fields = ProfileFields {
        first_name: first,
        last_name: last,
        prefix,
        suffix,
        phone,
        gender,
        birth_date: birth,
        language,
        qualifications: p
            .qualifications
            .iter()
            .map(|[text, issuer, start, end]| QualificationRow {
                text: (*text).into(),
                issuer: (*issuer).into(),
                start: (*start).into(),
                end: (*end).into(),
            })
            .collect(),
        identifiers: p.identifiers.as_ref().map(|rows| {
            rows.iter()
                .map(|(system, value)| IdentifierRow {
                    system: (*system).into(),
                    value: (*value).into(),
                })
                .collect()
        }),
    };
    match fields.parse() {
        Ok(update) => {
            one_line(&update.first_name, 1..=128);
            one_line(&update.last_name, 1..=128);
            assert_eq!(update.identifiers.is_some(), fields.identifiers.is_some());
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
}

fuzz_target!(|case: Case| match case {
    Case::Email(input) => email(input),
    Case::Name(input) => {
        if let Ok(name) = PersonName::parse(input, "first name") {
            one_line(name.as_str(), 1..=128);
            assert_eq!(
                PersonName::parse(name.as_str(), "first name").ok(),
                Some(name)
            );
        }
    }
    Case::ProjectName(input) => {
        if let Ok(name) = ProjectName::parse(input) {
            one_line(name.as_str(), 4..=72);
            assert_eq!(ProjectName::parse(name.as_str()).ok(), Some(name));
        }
    }
    Case::Password(input, address, name) => {
        let address = EmailAddress::parse(address).ok();
        if Password::parse(input, address.as_ref(), &[name]).is_ok() {
            assert!((MIN_LENGTH..=MAX_LENGTH).contains(&input.chars().count()));
        }
    }
    Case::Rule(resource_type, read_only, criteria) => {
        if let Ok(c) = Criteria::parse(criteria) {
            assert_eq!(criteria.trim(), c.map_or("", Criteria::as_str));
        }
        if let Ok(rule) = PolicyRule::parse(resource_type, read_only, criteria) {
            let t = rule.resource_type.as_str();
            assert!(t == "*" || resource_types::lookup(t) == Ok(t));
            assert_eq!(rule.read_only, read_only);
        }
    }
    Case::Policy(name, rows) => {
        let rows: Vec<RuleInput> = rows
            .into_iter()
            .map(|(t, read_only, criteria)| RuleInput {
                resource_type: t.into(),
                read_only,
                criteria: criteria.into(),
            })
            .collect();
        match parse_policy(name, &rows) {
            Ok((name, rules)) => {
                assert!(!rules.is_empty() && rules.len() <= rows.len());
                assert!(!name.is_empty() && name == name.trim());
            }
            Err(errors) => assert!(!errors.is_empty()),
        }
    }
    Case::ResourceType(input) => {
        if let Ok(found) = resource_types::lookup(input) {
            assert_eq!(resource_types::lookup(found), Ok(found));
        }
    }
    Case::ProfileType(input) => {
        if let Ok(t) = ProfileType::parse(input) {
            assert_eq!(ProfileType::parse(t.as_str()).ok(), Some(t));
        }
    }
    Case::Fold(first, last, address) => {
        let once = fold(first);
        assert_eq!(fold(&once), once);
        assert!(!once.contains("  ") && once == once.trim());
        let keys = ProfileKeys::of(first, last, address);
        assert!(keys.search_text.starts_with(&fold(first)));
    }
    Case::Profile(p) => profile(&p),
    Case::InviteList(text) => {
        if let Ok(rows) = bulk::parse(text) {
            let lines = text.lines().count().max(1);
            assert!(rows.iter().all(|row| (1..=lines).contains(&row.line)));
        }
    }
    Case::Cursor(text) => {
        if let Some(cursor) = Cursor::decode(text) {
            let again = Cursor::decode(&cursor.encode()).map(|c| c.encode());
            assert_eq!(again, Some(cursor.encode()));
        }
    }
    Case::Sort(text) => {
        let _ = SortKey::parse(text);
    }
    Case::Scope(text) => {
        if Scope::parse(text).is_ok() {
            assert!(text == "project" || text == "server");
        }
    }
    Case::BulkAction(name, policy) => {
        let _ = Action::parse(name, policy);
    }
});
