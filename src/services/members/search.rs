//! How a list search reads the index. SQLite's planner cannot see how many rows a trigram
//! match will give, so the plan is chosen here: a narrow search (most: a name, an address)
//! reads its matches from the trigram index, counts and orders them; a wide one (a common
//! fragment such as a mail domain) walks the list's sort index and keeps the rows whose text
//! contains it, which finds a page quickly precisely because matches are everywhere.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use super::cursor::Condition;
use crate::db::DbConn;
use crate::db::schema::profiles;
use crate::domain::folded::fold;
use crate::services::ServiceError;

/// Matches past which walking the sort index is cheaper than reading every match's place.
const WIDE: i64 = 10_000;

pub(super) enum Search {
    Everyone,
    /// SQLite's trigram index, by phrase, for a narrow search.
    Trigram(String),
    /// `LIKE` on the folded text: PostgreSQL (where `pg_trgm` serves it), a wide search, or
    /// under three characters on SQLite (no trigram to look up).
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
        let like = Search::Like(format!("%{}%", crate::services::auth::escape_like(&q)));
        if !matches!(conn, DbConn::Sqlite(_)) || q.chars().count() < 3 {
            return Ok(like);
        }
        // One phrase, quotes doubled: the trigram tokenizer matches it as a substring.
        let phrase = format!("\"{}\"", q.replace('"', "\"\""));
        let matches = diesel::sql_query(
            "SELECT count(*) AS n FROM profile_search WHERE profile_search MATCH ?",
        )
        .bind::<Text, _>(&phrase)
        .get_result::<Count>(conn)?
        .n;
        Ok(if matches > WIDE {
            like
        } else {
            Search::Trigram(phrase)
        })
    }

    /// The condition on the list's rows.
    pub(super) fn condition<QS: 'static>(&self) -> Option<Condition<QS>>
    where
        profiles::search_text: SelectableExpression<QS>,
    {
        match self {
            Search::Everyone => None,
            Search::Trigram(phrase) => Some(Box::new(
                sql::<Bool>(
                    "memberships.profile_id IN (SELECT k.profile_id FROM profile_search_keys k \
                     WHERE k.id IN (SELECT rowid FROM profile_search WHERE profile_search MATCH ",
                )
                .bind::<Text, _>(phrase.clone())
                .sql("))"),
            )),
            Search::Like(pattern) => Some(Box::new(
                profiles::search_text.like(pattern.clone()).escape('\\'),
            )),
        }
    }

    /// A narrow trigram search: its matches are few enough to read, count and order all.
    pub(super) fn collects(&self) -> bool {
        matches!(self, Search::Trigram(_))
    }

    pub(super) fn is_search(&self) -> bool {
        !matches!(self, Search::Everyone)
    }
}
