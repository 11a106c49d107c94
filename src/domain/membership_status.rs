//! Whether the person behind a membership has accepted it, stored as text.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;

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
    fn from_stored(text: &str) -> Option<Self> {
        match text {
            "invited" => Some(MembershipStatus::Invited),
            "active" => Some(MembershipStatus::Active),
            _ => None,
        }
    }
}

super::text_column::text_column!(MembershipStatus);
