//! How a list search reads the index. A database's planner cannot see how many rows a
//! substring will match, so the plan is chosen here, from a count the trigram index gives
//! cheaply: a narrow search (most: a name, an address) reads its matches through the index,
//! counts and orders them; a wide one (a common fragment such as a mail domain) walks the
//! list's sort index and keeps the rows whose text contains it, which finds a page quickly
//! precisely because matches are everywhere. On SQLite, a search between the two (a common
//! first name) walks the sort index too, keeping the entries whose trigram-index key (carried
//! by the index itself) is among the matches, so that no row is read that is not shown.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use super::cursor::Condition;
use crate::db::DbConn;
use crate::db::schema::{memberships, profiles};
use crate::domain::folded::fold;
use crate::services::ServiceError;

/// Matches past which walking the sort index is cheaper than reading every match's place.
const WIDE: i64 = 10_000;

pub(super) enum Search {
    Everyone,
    /// Few enough matches to read, count and order them all.
    Narrow(Matcher),
    /// Too many matches in this list to order them all, but few enough trigram hits to keep
    /// in memory (SQLite): walk the sort index and keep the entries whose key is among the
    /// hits. Holds the trigram phrase.
    Spread(String),
    /// Many matches: walk the sort index and keep the rows whose folded text contains the
    /// pattern.
    Wide(String),
    /// One or two characters have no trigram to look up, and a substring that short is
    /// everywhere: they match the start of a first name, a last name or an email, which the
    /// lists' own indexes find.
    Prefix(String),
}

pub(super) enum Matcher {
    /// SQLite's FTS5 trigram index, by phrase.
    Trigram(String),
    /// `LIKE`, which PostgreSQL's `pg_trgm` index serves.
    Like(String),
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Memberships whose trigram-index key is among the phrase's hits. `table` is `memberships`,
/// or `+memberships` to keep the key's index out of the plan.
fn keyed<QS>(table: &str, phrase: &str) -> Condition<QS> {
    Box::new(
        sql::<Bool>(&format!(
            "{table}.search_key IN (SELECT rowid FROM profile_search WHERE profile_search MATCH "
        ))
        .bind::<Text, _>(phrase.to_owned())
        .sql(")"),
    )
}

impl Search {
    pub(super) fn plan(conn: &mut DbConn, q: Option<&str>) -> Result<Search, ServiceError> {
        // Control characters match nothing a person types, and a NUL ends an FTS5 query.
        let Some(q) = q
            .map(|q| {
                fold(q)
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect::<String>()
            })
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty())
        else {
            return Ok(Search::Everyone);
        };
        let pattern = format!("%{}%", crate::services::auth::escape_like(&q));
        if q.chars().count() < 3 {
            return Ok(Search::Prefix(q));
        }
        let (matches, matcher) = if matches!(conn, DbConn::Sqlite(_)) {
            // One phrase, quotes doubled: the trigram tokenizer matches it as a substring.
            let phrase = format!("\"{}\"", q.replace('"', "\"\""));
            let n = diesel::sql_query(
                "SELECT count(*) AS n FROM profile_search WHERE profile_search MATCH ?",
            )
            .bind::<Text, _>(&phrase)
            .get_result::<Count>(conn)?
            .n;
            (n, Matcher::Trigram(phrase))
        } else {
            let n = diesel::sql_query(
                "SELECT count(*) AS n FROM (SELECT 1 FROM profiles \
                 WHERE search_text LIKE $1 ESCAPE '\\' LIMIT $2) AS found",
            )
            .bind::<Text, _>(&pattern)
            .bind::<BigInt, _>(WIDE + 1)
            .get_result::<Count>(conn)?
            .n;
            (n, Matcher::Like(pattern.clone()))
        };
        Ok(if matches > WIDE {
            Search::Wide(pattern)
        } else {
            Search::Narrow(matcher)
        })
    }

    /// The condition on the list's rows.
    pub(super) fn condition<QS: 'static>(&self) -> Option<Condition<QS>>
    where
        profiles::search_text: SelectableExpression<QS>,
        memberships::sort_first: SelectableExpression<QS>,
        memberships::sort_last: SelectableExpression<QS>,
        memberships::email: SelectableExpression<QS>,
    {
        let like = |pattern: &String| -> Condition<QS> {
            Box::new(profiles::search_text.like(pattern.clone()).escape('\\'))
        };
        match self {
            Search::Everyone => None,
            // Through the key index: read the matches' rows.
            Search::Narrow(Matcher::Trigram(phrase)) => Some(keyed("memberships", phrase)),
            // The unary `+` keeps the key index out of the plan: walk the sort index, whose
            // entries carry the key.
            Search::Spread(phrase) => Some(keyed("+memberships", phrase)),
            Search::Narrow(Matcher::Like(pattern)) | Search::Wide(pattern) => Some(like(pattern)),
            Search::Prefix(start) => {
                // Every text that starts with `start` sorts between it and it + the last char.
                let end = format!("{start}{}", char::MAX);
                let (s, e) = (start.clone(), end);
                Some(Box::new(
                    memberships::sort_first
                        .ge(s.clone())
                        .and(memberships::sort_first.lt(e.clone()))
                        .or(memberships::sort_last
                            .ge(s.clone())
                            .and(memberships::sort_last.lt(e.clone())))
                        .or(memberships::email.ge(s).and(memberships::email.lt(e))),
                ))
            }
        }
    }

    /// A narrow search: its matches are few enough to read, count and order all.
    pub(super) fn collects(&self) -> bool {
        matches!(self, Search::Narrow(_))
    }

    /// The same search read by walking the sort index (for a narrow trigram search that turns
    /// out to have many matches in this list).
    pub(super) fn walked(self) -> Search {
        match self {
            Search::Narrow(Matcher::Trigram(phrase)) => Search::Spread(phrase),
            other => other,
        }
    }

    /// A trigram search's condition on memberships alone (no profile needed), for counting.
    pub(super) fn keyed<QS>(&self) -> Option<Condition<QS>> {
        match self {
            Search::Narrow(Matcher::Trigram(phrase)) | Search::Spread(phrase) => {
                Some(keyed("memberships", phrase))
            }
            _ => None,
        }
    }

    /// Whether the list's own count decides between collecting and walking (SQLite's trigram
    /// count spans every project and list).
    pub(super) fn counts_first(&self) -> bool {
        matches!(self, Search::Narrow(Matcher::Trigram(_)))
    }

    pub(super) fn is_search(&self) -> bool {
        !matches!(self, Search::Everyone)
    }
}
