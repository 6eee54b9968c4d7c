//! Repository names, tags and references, with the grammar of the OCI distribution spec.
//!
//! ```text
//! name      [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//! tag       [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//! ```
//! Every component of a name starts with `[a-z0-9]`, so storage can keep its own entries
//! under names starting with `_` beside a repository's children without collisions.

use std::fmt;

use paks_types::Digest;

pub use paks_types::distribution::MAX_NAME_LEN;

/// A validated repository name, such as `acme/hello`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoName(String);

impl RepoName {
    /// Parses `name`, or says why it breaks the grammar.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("the repository name is empty".into());
        }
        if name.len() > MAX_NAME_LEN {
            return Err(format!(
                "the repository name is {} characters long; the limit is {MAX_NAME_LEN}",
                name.len()
            ));
        }
        for component in name.split('/') {
            if !paks_types::distribution::is_valid_name_component(component) {
                return Err(format!(
                    "`{component}` is not a valid path component: use lower-case letters and digits, separated by `.`, `_`, `__` or dashes"
                ));
            }
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub use paks_types::distribution::is_valid_tag as valid_tag;

/// The `<reference>` of a manifest URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// Parses a reference; anything with a `:` must be a valid digest.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.contains(':') {
            s.parse::<Digest>()
                .map(Self::Digest)
                .map_err(|e| format!("`{s}` is not a valid digest: {e}"))
        } else if valid_tag(s) {
            Ok(Self::Tag(s.to_owned()))
        } else {
            Err(format!(
                "`{s}` is not a valid tag: up to 128 of `[A-Za-z0-9._-]`, not starting with `.` or `-`"
            ))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => f.write_str(t),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for ok in ["a", "acme/hello", "a.b/c_d/e__f/g--h", "0/1", "x-y---z"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "a_", "_a", "a___b", "a..b", "a.-b", "a/B", "a b", "a:b",
            "../a", "a/..", "a/_links",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
        assert!(RepoName::parse(&"a".repeat(256)).is_err());
        assert!(RepoName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn references_are_tags_or_digests() {
        let d = Digest::sha256_of(b"x");
        assert_eq!(Reference::parse(&d.to_string()), Ok(Reference::Digest(d)));
        assert_eq!(Reference::parse("v1"), Ok(Reference::Tag("v1".into())));
        assert!(Reference::parse("sha256:zz").is_err());
    }
}
