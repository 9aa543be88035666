//! Typed identifiers, so an organisation id can never be passed where a user id
//! (or a key id) is expected. Slugs are validated once, at the edge.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Row id of an organisation in the registry.
    OrgId
);
id_type!(
    /// Row id of a user inside one organisation's database.
    UserId
);
id_type!(
    /// Id of one data subject's key in the organisation's key store.
    PersonKeyId
);

/// An organisation's short name: lower-case letters, digits and inner hyphens,
/// 2 to 32 characters. It names a directory, so nothing else is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Slug, SlugError> {
        let s = raw.trim();
        let ok_len = (2..=Self::MAX_LEN).contains(&s.len());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_ends = !s.starts_with('-') && !s.ends_with('-') && !s.contains("--");
        if ok_len && ok_chars && ok_ends {
            Ok(Slug(s.to_owned()))
        } else {
            Err(SlugError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "an organisation slug must be 2 to 32 characters of lower-case letters, digits and single inner hyphens"
)]
pub struct SlugError;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["acme", "a1", "acme-uk", "x-2-y"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "Acme",
            "-acme",
            "acme-",
            "ac--me",
            "../etc",
            "a b",
            "acmé",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }
}
