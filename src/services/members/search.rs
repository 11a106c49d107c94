//! How a list search reads the index. A database's planner cannot see how many rows a
//! substring will match, so the plan is chosen here, from a count the trigram index gives
//! cheaply: a narrow search (most: a name, an address) reads its matches through the index,
//! counts and orders them; a wide one (a common fragment such as a mail domain) walks the
//! list's sort index and keeps the rows whose text contains it, which finds a page quickly
//! precisely because matches are everywhere.

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

impl Search {
    pub(super) fn plan(conn: &mut DbConn, q: Option<&str>) -> Result<Search, ServiceError> {
        let Some(q) = q.map(fold).filter(|q| !q.is_empty()) else {
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
            Search::Narrow(Matcher::Trigram(phrase)) => Some(Box::new(
                sql::<Bool>(
                    "memberships.profile_id IN (SELECT k.profile_id FROM profile_search_keys k \
                     WHERE k.id IN (SELECT rowid FROM profile_search WHERE profile_search MATCH ",
                )
                .bind::<Text, _>(phrase.clone())
                .sql("))"),
            )),
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

    pub(super) fn is_search(&self) -> bool {
        !matches!(self, Search::Everyone)
    }
}
