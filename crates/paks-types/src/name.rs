use std::fmt;
use std::str::FromStr;

use crate::TypeError;

/// A package name: 1 to 64 characters of `a-z`, `0-9`, `-`, `_`, `.` and `+`, starting with
/// a letter or digit. Lower case only, so names are also valid OCI repository components
/// once `+` is mapped (see the registry format).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName(String);

impl PackageName {
    pub fn new(value: &str) -> Result<Self, TypeError> {
        let err = |reason| TypeError::Name {
            value: value.to_owned(),
            reason,
        };
        if value.is_empty() {
            return Err(err("it is empty"));
        }
        if value.len() > 64 {
            return Err(err("it is longer than 64 characters"));
        }
        if !value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(err("it must start with a lower-case letter or a digit"));
        }
        if !value.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | '+')
        }) {
            return Err(err("only a-z, 0-9, `-`, `_`, `.` and `+` are allowed"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl FromStr for PackageName {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

crate::serde_via_str!(PackageName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_names() {
        for n in [
            "zlib",
            "libgreet",
            "hello-script",
            "g++",
            "python3.12",
            "0ad",
            "lib_x",
        ] {
            assert_eq!(PackageName::new(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn rejects_bad_names() {
        for n in ["", "Zlib", "-x", ".x", "a/b", "a b", "é", &"a".repeat(65)] {
            let err = PackageName::new(n).unwrap_err().to_string();
            assert!(err.contains("invalid package name"), "{n}: {err}");
        }
    }
}
