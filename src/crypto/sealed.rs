//! `Sealed<C>`: the only Diesel type through which personal data reaches SQL.
//! It holds ciphertext for column `C`; it can be made only by a [`KeyRing`](super::KeyRing)
//! from plaintext, and read only back through one. The column marker is part of the
//! type, so a sealed email cannot be bound to a name column at compile time, and the
//! label inside the ciphertext's associated data catches a copy made in SQL at run time.

use std::fmt;
use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Binary;
use diesel::sqlite::Sqlite;

/// A column that holds personal data, named in the ciphertext's associated data.
pub trait PersonalColumn: 'static {
    const LABEL: &'static str;
}

/// A personal column that holds bytes (a file) rather than text. Only these can be
/// sealed and opened as bytes; text columns keep the UTF-8 checked path, and the
/// label in the associated data keeps a file from opening as text and back.
pub trait BytesColumn: PersonalColumn {}

#[derive(AsExpression, FromSqlRow)]
#[diesel(sql_type = Binary)]
pub struct Sealed<C: PersonalColumn> {
    bytes: Vec<u8>,
    column: PhantomData<fn() -> C>,
}

impl<C: PersonalColumn> Sealed<C> {
    /// Only the key ring makes sealed values from plaintext.
    pub(super) fn from_ciphertext(bytes: Vec<u8>) -> Self {
        Sealed {
            bytes,
            column: PhantomData,
        }
    }

    pub fn ciphertext(&self) -> &[u8] {
        &self.bytes
    }

    /// Ciphertext kept somewhere other than its column (a pending TOTP secret in the
    /// server-side session). Opening it still checks its key and the label bound in.
    pub fn from_stored(bytes: Vec<u8>) -> Self {
        Sealed::from_ciphertext(bytes)
    }
}

impl<C: PersonalColumn> Clone for Sealed<C> {
    fn clone(&self) -> Self {
        Sealed::from_ciphertext(self.bytes.clone())
    }
}

impl<C: PersonalColumn> fmt::Debug for Sealed<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed<{}>({} bytes)", C::LABEL, self.bytes.len())
    }
}

impl<C: PersonalColumn> ToSql<Binary, Sqlite> for Sealed<C> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.bytes.as_slice());
        Ok(IsNull::No)
    }
}

impl<C: PersonalColumn> FromSql<Binary, Sqlite> for Sealed<C> {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let bytes = <Vec<u8> as FromSql<Binary, Sqlite>>::from_sql(value)?;
        Ok(Sealed::from_ciphertext(bytes))
    }
}

/// Personal data after opening: the value, or `Erased` once the person's key is gone.
/// Erased data is a normal state (crypto-shredding), not an error.
#[derive(Clone, PartialEq, Eq)]
pub enum Revealed {
    Value(String),
    Erased,
}

impl Revealed {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Revealed::Value(v) => Some(v),
            Revealed::Erased => None,
        }
    }

    pub fn is_erased(&self) -> bool {
        matches!(self, Revealed::Erased)
    }

    /// What a page shows, as [`Display`](fmt::Display) does, without copying the value.
    pub fn into_display(self) -> String {
        match self {
            Revealed::Value(v) => v,
            Revealed::Erased => "erased".to_owned(),
        }
    }
}

/// Pages show an erased value as the word "erased".
impl fmt::Display for Revealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revealed::Value(v) => f.write_str(v),
            Revealed::Erased => f.write_str("erased"),
        }
    }
}

/// Never print personal data into logs by accident.
impl fmt::Debug for Revealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revealed::Value(_) => f.write_str("Revealed(..)"),
            Revealed::Erased => f.write_str("Revealed::Erased"),
        }
    }
}
