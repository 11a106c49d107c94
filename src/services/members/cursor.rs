//! Keyset pagination for the member lists, both ways. A cursor names the row a page starts
//! after (or ends before) by its sort key and id, plus the position of the page it leads to
//! (for "51–100 of 80,000"); it travels in the URL as short opaque text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::sql_types::{Bool, Text, Timestamp};
use serde::{Deserialize, Serialize};

use crate::db::DbConn;

type Backend = <DbConn as diesel::Connection>::Backend;
pub(super) type Condition<QS> = Box<dyn diesel::BoxableExpression<QS, Backend, SqlType = Bool>>;

/// What the list is ordered by. Every order ends with the membership id, so it is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// "first last", the order names are shown in.
    #[default]
    Name,
    /// "last first" (the list then shows "Last, First").
    LastName,
    Email,
    /// Newest first by default; people who never signed in come last.
    LastSignin,
    /// Active before invited, then by name.
    Status,
}

impl SortKey {
    pub fn parse(value: &str) -> Option<SortKey> {
        Some(match value {
            "name" => SortKey::Name,
            "last" => SortKey::LastName,
            "email" => SortKey::Email,
            "signin" => SortKey::LastSignin,
            "status" => SortKey::Status,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::LastName => "last",
            SortKey::Email => "email",
            SortKey::LastSignin => "signin",
            SortKey::Status => "status",
        }
    }

    /// The direction a click on the column header starts with.
    pub fn descending_by_default(self) -> bool {
        self == SortKey::LastSignin
    }

    /// The text columns of the key, before the id (none for the last sign-in).
    fn text_columns(self) -> &'static [&'static str] {
        match self {
            SortKey::Name => &["memberships.sort_first"],
            SortKey::LastName => &["memberships.sort_last"],
            SortKey::Email => &["memberships.email"],
            SortKey::Status => &["memberships.status", "memberships.sort_first"],
            SortKey::LastSignin => &[],
        }
    }

    /// `ORDER BY` for a scan in this direction. Never signed in counts as earliest, on both
    /// databases (SQLite's natural order; PostgreSQL's index says `NULLS FIRST`).
    pub(super) fn order_by(self, ascending: bool) -> String {
        let dir = if ascending { "ASC" } else { "DESC" };
        let mut terms: Vec<String> = self
            .text_columns()
            .iter()
            .map(|c| format!("{c} {dir}"))
            .collect();
        if self == SortKey::LastSignin {
            let nulls = if ascending {
                "NULLS FIRST"
            } else {
                "NULLS LAST"
            };
            terms.push(format!("memberships.last_signin_at {dir} {nulls}"));
        }
        terms.push(format!("memberships.id {dir}"));
        terms.join(", ")
    }
}

/// A row's place in the order: its key values and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    #[serde(rename = "t", default, skip_serializing_if = "Vec::is_empty")]
    pub text: Vec<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub signed_in: Option<NaiveDateTime>,
    #[serde(rename = "i")]
    pub id: String,
}

/// What a row's place in every order is made of.
pub(super) struct Placed<'a> {
    pub sort_first: &'a str,
    pub sort_last: &'a str,
    pub email: &'a str,
    pub status: crate::domain::MembershipStatus,
    pub last_signin_at: Option<NaiveDateTime>,
    pub id: &'a str,
}

impl Key {
    pub(super) fn of(sort: SortKey, row: Placed<'_>) -> Key {
        let text = match sort {
            SortKey::Name => vec![row.sort_first.to_owned()],
            SortKey::LastName => vec![row.sort_last.to_owned()],
            SortKey::Email => vec![row.email.to_owned()],
            SortKey::Status => vec![row.status.as_str().to_owned(), row.sort_first.to_owned()],
            SortKey::LastSignin => Vec::new(),
        };
        Key {
            text,
            signed_in: row.last_signin_at.filter(|_| sort == SortKey::LastSignin),
            id: row.id.to_owned(),
        }
    }

    /// The ascending order of the sort, as the databases sort it: text by bytes (SQLite's
    /// BINARY, PostgreSQL's "C"), never signed in first, then the id.
    pub(super) fn order(&self, other: &Key) -> std::cmp::Ordering {
        (&self.text, self.signed_in, &self.id).cmp(&(&other.text, other.signed_in, &other.id))
    }
}

/// Where a page starts: after a row (forward) or before it (backward), and its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "b", default, skip_serializing_if = "std::ops::Not::not")]
    pub backward: bool,
    /// How many rows come before the page this cursor leads to.
    #[serde(rename = "o")]
    pub offset: i64,
    #[serde(rename = "k")]
    pub key: Key,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// `None` for anything that is not a cursor this module made (the list then starts over).
    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Rows strictly past the cursor's row, in a scan that runs `ascending`.
    pub(super) fn past<QS>(&self, sort: SortKey, ascending: bool) -> Option<Condition<QS>> {
        let key = &self.key;
        if sort == SortKey::LastSignin {
            return Some(past_signin(key, ascending));
        }
        let columns = sort.text_columns();
        if key.text.len() != columns.len() {
            return None;
        }
        let (cmp, bound) = if ascending { (">", ">=") } else { ("<", "<=") };
        // The redundant bound on the first column lets SQLite start its index walk at the
        // cursor; the row value comparison then decides.
        let start = sql::<Bool>(&format!("{} {bound} ", columns[0]))
            .bind::<Text, _>(key.text[0].clone())
            .sql(&format!(
                " AND ({}, memberships.id) {cmp} (",
                columns.join(", ")
            ))
            .bind::<Text, _>(key.text[0].clone())
            .sql(", ");
        Some(match &key.text[1..] {
            [] => Box::new(start.bind::<Text, _>(key.id.clone()).sql(")")),
            [second] => Box::new(
                start
                    .bind::<Text, _>(second.clone())
                    .sql(", ")
                    .bind::<Text, _>(key.id.clone())
                    .sql(")"),
            ),
            _ => return None,
        })
    }
}

/// Never signed in sorts earliest: an ascending scan from a never-signed-in row still meets
/// every signed-in row; a descending one from a signed-in row still meets every other.
fn past_signin<QS>(key: &Key, ascending: bool) -> Condition<QS> {
    let id = key.id.clone();
    match (key.signed_in, ascending) {
        (None, true) => Box::new(
            sql::<Bool>("((memberships.last_signin_at IS NULL AND memberships.id > ")
                .bind::<Text, _>(id)
                .sql(") OR memberships.last_signin_at IS NOT NULL)"),
        ),
        (None, false) => Box::new(
            sql::<Bool>("(memberships.last_signin_at IS NULL AND memberships.id < ")
                .bind::<Text, _>(id)
                .sql(")"),
        ),
        (Some(at), true) => Box::new(
            sql::<Bool>("(memberships.last_signin_at, memberships.id) > (")
                .bind::<Timestamp, _>(at)
                .sql(", ")
                .bind::<Text, _>(id)
                .sql(")"),
        ),
        (Some(at), false) => Box::new(
            sql::<Bool>("((memberships.last_signin_at, memberships.id) < (")
                .bind::<Timestamp, _>(at)
                .sql(", ")
                .bind::<Text, _>(id)
                .sql(") OR memberships.last_signin_at IS NULL)"),
        ),
    }
}
