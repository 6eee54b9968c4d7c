//! What the user may name: `name`, `name:arch`, with `=version` or `/release`.

use std::str::FromStr;

use paks_types::DebianVersion;

use super::AptError;
use crate::deb::relation::check_package_name;

/// A package named for apt: `python3`, `libc6:i386`, `hello=2.10-3`, `git/bookworm`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AptRequest {
    pub name: String,
    pub architecture: Option<String>,
    pub version: Option<String>,
    pub release: Option<String>,
}

impl AptRequest {
    /// Whether apt's `Inst` line for `package` is the one this request names.
    pub(crate) fn names(&self, package: &super::AptPackage) -> bool {
        package.name == self.name
            && self
                .architecture
                .as_ref()
                .is_none_or(|a| *a == package.architecture)
    }
}

impl FromStr for AptRequest {
    type Err = AptError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| AptError::Request {
            request: s.to_owned(),
            reason,
        };
        // A leading `-` would reach apt as an option.
        let (rest, version, release) = if let Some((n, v)) = s.split_once('=') {
            DebianVersion::from_str(v).map_err(|e| err(e.to_string()))?;
            (n, Some(v.to_owned()), None)
        } else if let Some((n, r)) = s.split_once('/') {
            let ok = !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".+~-_".contains(&b));
            if !ok {
                return Err(err(format!(
                    "`{r}` is not a release name (letters, digits, `. + ~ - _`)"
                )));
            }
            (n, None, Some(r.to_owned()))
        } else {
            (s, None, None)
        };
        let (name, architecture) = match rest.split_once(':') {
            Some((n, a)) => {
                let ok = !a.is_empty()
                    && a.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return Err(err(format!("`{a}` is not an architecture")));
                }
                (n, Some(a.to_owned()))
            }
            None => (rest, None),
        };
        check_package_name(name).map_err(err)?;
        Ok(Self {
            name: name.to_owned(),
            architecture,
            version,
            release,
        })
    }
}

impl std::fmt::Display for AptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.architecture {
            write!(f, ":{a}")?;
        }
        if let Some(v) = &self.version {
            write!(f, "={v}")?;
        }
        if let Some(r) = &self.release {
            write!(f, "/{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_prints_it_back() {
        for s in [
            "hello",
            "libc6:i386",
            "hello=2.10-3",
            "git=1:2.39.5-0+deb12u3",
            "git/bookworm-backports",
            "libc6:amd64=2.36-9",
        ] {
            let r: AptRequest = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
        let r: AptRequest = "libc6:i386=2.36-9".parse().unwrap();
        assert_eq!(r.name, "libc6");
        assert_eq!(r.architecture.as_deref(), Some("i386"));
        assert_eq!(r.version.as_deref(), Some("2.36-9"));
    }

    #[test]
    fn refuses_what_apt_would_take_as_an_option_or_a_pattern() {
        for (s, why) in [
            ("-oDir=/", "not a package name"),
            ("--help", "not a package name"),
            ("Hello", "not a package name"),
            ("hel*", "not a package name"),
            ("hello=", "version"),
            ("hello=x y", "version"),
            ("hello/", "release"),
            ("hello/a b", "release"),
            ("hello:", "architecture"),
            ("", "not a package name"),
        ] {
            let e = s.parse::<AptRequest>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(&format!("`{s}`")), "{s}: {e}");
        }
    }
}
