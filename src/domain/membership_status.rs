//! Whether the person behind a membership has accepted it, stored as text.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

type Backend = <crate::db::DbConn as diesel::Connection>::Backend;

/// `Invited`: waiting for the person (an existing account's invitation to accept, or a new
/// account that has not set its password from the invitation). `Active`: accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum MembershipStatus {
    Invited,
    Active,
}

impl MembershipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Invited => "invited",
            MembershipStatus::Active => "active",
        }
    }

    pub fn is_invited(self) -> bool {
        self == MembershipStatus::Invited
    }
}

impl std::fmt::Display for MembershipStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MembershipStatus {
    fn parse(text: &str) -> deserialize::Result<Self> {
        match text {
            "invited" => Ok(MembershipStatus::Invited),
            "active" => Ok(MembershipStatus::Active),
            other => Err(format!("unknown membership status {other:?}").into()),
        }
    }
}

// One binary, two databases: the text is written and read the same way on each, and through
// the connection enum.
impl ToSql<Text, Sqlite> for MembershipStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.as_str());
        Ok(IsNull::No)
    }
}

impl ToSql<Text, Pg> for MembershipStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), &mut out.reborrow())
    }
}

impl FromSql<Text, Sqlite> for MembershipStatus {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Self::parse(&<String as FromSql<Text, Sqlite>>::from_sql(bytes)?)
    }
}

impl FromSql<Text, Pg> for MembershipStatus {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Self::parse(&<String as FromSql<Text, Pg>>::from_sql(bytes)?)
    }
}

impl ToSql<Text, Backend> for MembershipStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Backend>) -> serialize::Result {
        out.set_value((Text, self.as_str()));
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Backend> for MembershipStatus {
    fn from_sql(
        bytes: <Backend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Self::parse(&bytes.from_sql::<String, Text>()?)
    }
}
