//! Text as the member lists compare it: lower case, accents removed, spaces collapsed, so that
//! `jose` finds `José` and `Élodie` sorts among the e's. Written next to every profile (the
//! databases only index it), and applied to what people type into the search box.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// `"  José  Ñúñez "` → `"jose nunez"`. Letters of every script are kept; only the marks
/// that decompose off a base letter go (so `ß`, `ø` or Cyrillic stay as they are).
pub fn fold(text: &str) -> String {
    let decomposed: String = text.nfkd().filter(|c| !is_combining_mark(*c)).collect();
    decomposed
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The folded forms a profile keeps: two sort keys and the text search matches against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileKeys {
    /// "first last": the order names are shown in.
    pub sort_first: String,
    /// "last first": the order of a sort by last name.
    pub sort_last: String,
    /// "first last email": a search for a name, "first last", or an address finds the row.
    pub search_text: String,
}

impl ProfileKeys {
    pub fn of(first_name: &str, last_name: &str, email: Option<&str>) -> ProfileKeys {
        let (first, last) = (fold(first_name), fold(last_name));
        let email = email.map(fold).unwrap_or_default();
        ProfileKeys {
            sort_first: format!("{first} {last}"),
            sort_last: format!("{last} {first}"),
            search_text: format!("{first} {last} {email}").trim_end().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_spacing_fold_away() {
        assert_eq!(fold("  José  Ñúñez "), "jose nunez");
        assert_eq!(fold("ÉLODIE"), "elodie");
        assert_eq!(fold("Zoë O’Brien"), "zoe o’brien");
        assert_eq!(fold("Łukasz"), "łukasz", "ł has no decomposition; it stays");
        assert_eq!(fold("Пётр"), "петр");
        assert_eq!(fold("李小龍"), "李小龍");
        assert_eq!(fold("ﬁona"), "fiona", "compatibility forms are spelled out");
    }

    #[test]
    fn a_profile_keeps_both_name_orders_and_its_search_text() {
        let keys = ProfileKeys::of("José", "García", Some("jose@example.com"));
        assert_eq!(keys.sort_first, "jose garcia");
        assert_eq!(keys.sort_last, "garcia jose");
        assert_eq!(keys.search_text, "jose garcia jose@example.com");
        assert_eq!(ProfileKeys::of("A", "B", None).search_text, "a b");
    }
}
