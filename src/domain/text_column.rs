//! Domain enums stored as text on both databases. One binary, two backends: the value is
//! written and read the same way on each, and through the connection enum.
//!
//! A type opts in with `#[derive(AsExpression, FromSqlRow)] #[diesel(sql_type = Text)]`, an
//! `as_str(self) -> &'static str`, an `from_stored(&str) -> Option<Self>`, and
//! `text_column!(Type)`. (A blanket impl over a trait is not allowed: diesel owns `ToSql`.)

macro_rules! text_column {
    ($ty:ty) => {
        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                out.set_value(self.as_str());
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    &mut out.reborrow(),
                )
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, $crate::domain::text_column::Backend>
            for $ty
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, $crate::domain::text_column::Backend>,
            ) -> diesel::serialize::Result {
                out.set_value((diesel::sql_types::Text, self.as_str()));
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $ty {
            fn from_sql(
                bytes: <diesel::sqlite::Sqlite as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                $crate::domain::text_column::read(
                    &<String as diesel::deserialize::FromSql<
                        diesel::sql_types::Text,
                        diesel::sqlite::Sqlite,
                    >>::from_sql(bytes)?,
                    <$ty>::from_stored,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $ty {
            fn from_sql(
                bytes: <diesel::pg::Pg as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                $crate::domain::text_column::read(
                    &<String as diesel::deserialize::FromSql<
                        diesel::sql_types::Text,
                        diesel::pg::Pg,
                    >>::from_sql(bytes)?,
                    <$ty>::from_stored,
                )
            }
        }

        impl
            diesel::deserialize::FromSql<
                diesel::sql_types::Text,
                $crate::domain::text_column::Backend,
            > for $ty
        {
            fn from_sql(
                bytes: <$crate::domain::text_column::Backend as diesel::backend::Backend>::RawValue<
                    '_,
                >,
            ) -> diesel::deserialize::Result<Self> {
                $crate::domain::text_column::read(
                    &bytes.from_sql::<String, diesel::sql_types::Text>()?,
                    <$ty>::from_stored,
                )
            }
        }
    };
}

pub(crate) use text_column;

/// The backend of the connection enum (SQLite or PostgreSQL, chosen at run time).
pub type Backend = <crate::db::DbConn as diesel::Connection>::Backend;

/// A stored value that no variant matches is a corrupt row, reported as a read error.
pub fn read<T>(text: &str, parse: fn(&str) -> Option<T>) -> diesel::deserialize::Result<T> {
    parse(text).ok_or_else(|| {
        format!(
            "unknown stored value {text:?} for {}",
            std::any::type_name::<T>()
        )
        .into()
    })
}
