//! What the user asks for: `hello`, `zlib@^1.3`, `cmake>=3.20,<4`.

use std::fmt;
use std::str::FromStr;

use paks_types::{PackageName, Version, VersionReq};
use pubgrub::Ranges;
use semver::{Comparator, Op, Prerelease};

/// A requested package and the versions that will do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    pub name: PackageName,
    pub req: VersionReq,
}

/// A request that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("invalid request `{input}`: the package name is not valid")]
    Name {
        input: String,
        #[source]
        source: paks_types::TypeError,
    },
    #[error("invalid request `{input}`: the version requirement is not valid")]
    Req {
        input: String,
        #[source]
        source: semver::Error,
    },
}

impl Request {
    /// Parses `NAME`, `NAME@REQ` or `NAME<op>…`.
    ///
    /// `REQ` is a semver requirement with cargo's rules: a bare version means caret
    /// (`zlib@1.3` = `zlib@^1.3`, so `>=1.3.0, <2.0.0`), `=1.2.3` is exact, and several
    /// comparators are separated by commas (`cmake>=3.20,<4`). Without `@`, the requirement
    /// starts at the first `<`, `>`, `=`, `~` or `^`. A name alone accepts any version.
    pub fn parse(input: &str) -> Result<Self, RequestError> {
        let trimmed = input.trim();
        let (name, req) = match trimmed.split_once('@') {
            Some((name, req)) => (name, Some(req)),
            None => match trimmed.find(['<', '>', '=', '~', '^']) {
                Some(i) => (&trimmed[..i], Some(&trimmed[i..])),
                None => (trimmed, None),
            },
        };
        let name = PackageName::new(name.trim()).map_err(|source| RequestError::Name {
            input: input.to_owned(),
            source,
        })?;
        let req = match req {
            Some(req) => VersionReq::parse(req.trim()).map_err(|source| RequestError::Req {
                input: input.to_owned(),
                source,
            })?,
            None => VersionReq::STAR,
        };
        Ok(Self { name, req })
    }

    /// Whether the requirement names a prerelease, which lets prereleases of that version
    /// be chosen (semver's rule).
    pub(crate) fn allows_prereleases(&self) -> bool {
        self.req.comparators.iter().any(|c| !c.pre.is_empty())
    }
}

impl fmt::Display for Request {
    /// The canonical form: `hello` for any version, else `NAME@REQ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.req.comparators.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}@{}", self.name, self.req)
        }
    }
}

impl FromStr for Request {
    type Err = RequestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The versions a requirement accepts, as a `PubGrub` range.
///
/// Exact for release versions. Prereleases are not excluded here (a range cannot say
/// "no prereleases") but at choice time, where the resolver applies semver's rule.
pub(crate) fn req_to_ranges(req: &VersionReq) -> Ranges<Version> {
    req.comparators.iter().fold(Ranges::full(), |acc, c| {
        acc.intersection(&comparator_ranges(c))
    })
}

fn comparator_ranges(c: &Comparator) -> Ranges<Version> {
    let major = c.major;
    let v = |major, minor, patch| Version::new(major, minor, patch);
    // The full version the comparator names, with its prerelease.
    let full = |minor, patch| Version {
        pre: c.pre.clone(),
        ..v(major, minor, patch)
    };
    // The half-open range of versions a partial version (`1`, `1.2`) stands for.
    let partial = |minor: Option<u64>| match minor {
        None => Ranges::between(v(major, 0, 0), v(major + 1, 0, 0)),
        Some(m) => Ranges::between(v(major, m, 0), v(major, m + 1, 0)),
    };
    match (c.op, c.minor, c.patch) {
        (Op::Exact | Op::Wildcard, Some(m), Some(p)) => Ranges::singleton(full(m, p)),

        (Op::Greater, Some(m), Some(p)) => Ranges::strictly_higher_than(full(m, p)),
        (Op::Greater, Some(m), None) => Ranges::higher_than(v(major, m + 1, 0)),
        (Op::Greater, None, _) => Ranges::higher_than(v(major + 1, 0, 0)),
        (Op::GreaterEq, minor, patch) => {
            Ranges::higher_than(full(minor.unwrap_or(0), patch.unwrap_or(0)))
        }
        (Op::Less, minor, patch) => {
            let bound = full(minor.unwrap_or(0), patch.unwrap_or(0));
            Ranges::strictly_lower_than(bound)
        }
        (Op::LessEq, Some(m), Some(p)) => Ranges::lower_than(full(m, p)),
        (Op::LessEq, Some(m), None) => Ranges::strictly_lower_than(v(major, m + 1, 0)),
        (Op::LessEq, None, _) => Ranges::strictly_lower_than(v(major + 1, 0, 0)),
        (Op::Tilde, Some(m), Some(p)) => Ranges::between(full(m, p), v(major, m + 1, 0)),
        (Op::Exact | Op::Wildcard, minor, _) | (Op::Tilde, minor, None) => partial(minor),
        (Op::Caret, Some(m), Some(p)) => {
            let upper = match (major, m) {
                (0, 0) => v(0, 0, p + 1),
                (0, m) => v(0, m + 1, 0),
                (major, _) => v(major + 1, 0, 0),
            };
            Ranges::between(full(m, p), upper)
        }
        (Op::Caret, Some(m), None) if major == 0 => partial(Some(m)),
        (Op::Caret, minor, None) => {
            Ranges::between(v(major, minor.unwrap_or(0), 0), v(major + 1, 0, 0))
        }
        // `Op` is non-exhaustive and `Some(patch)` without a minor cannot be written; refuse
        // nothing we do not understand rather than guess: semver's own test decides.
        _ => Ranges::full(),
    }
}

/// Whether `v` may be chosen for a package under semver's prerelease rule: releases always;
/// a prerelease only when a request for the package names a prerelease of the same
/// `major.minor.patch` (and accepts `v`), or the range is exactly `v` (a pin).
pub(crate) fn prerelease_allowed(
    v: &Version,
    requests: &[&Request],
    range: &Ranges<Version>,
) -> bool {
    v.pre == Prerelease::EMPTY
        || range.as_singleton() == Some(v)
        || requests
            .iter()
            .any(|r| r.allows_prereleases() && r.req.matches(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let r = Request::parse("hello").unwrap();
        assert_eq!(
            (r.name.as_str(), r.req.clone()),
            ("hello", VersionReq::STAR)
        );
        assert_eq!(r.to_string(), "hello");
        let r = Request::parse("zlib@^1.3").unwrap();
        assert_eq!(r.to_string(), "zlib@^1.3");
        let r = Request::parse("cmake>=3.20,<4").unwrap();
        assert_eq!(r.name.as_str(), "cmake");
        assert_eq!(r.to_string(), "cmake@>=3.20, <4");
        assert_eq!(Request::parse(&r.to_string()).unwrap(), r);
        let r = Request::parse("hello@1.2.3").unwrap();
        assert!(
            r.req.matches(&Version::new(1, 9, 0)),
            "bare version means caret"
        );
        let r = Request::parse("hello@=1.2.3").unwrap();
        assert!(!r.req.matches(&Version::new(1, 2, 4)));
        assert!(Request::parse("g++ ~13.2").is_ok());
    }

    #[test]
    fn rejects_bad_requests() {
        let err = Request::parse("Hello").unwrap_err().to_string();
        assert!(err.contains("invalid request `Hello`"), "{err}");
        let err = Request::parse("hello@>>1").unwrap_err().to_string();
        assert!(err.contains("version requirement"), "{err}");
        assert!(Request::parse("@1.0").is_err());
    }

    #[test]
    fn ranges_agree_with_semver_on_releases() {
        let reqs = [
            "*",
            "1",
            "1.2",
            "1.2.3",
            "=1",
            "=1.2",
            "=1.2.3",
            ">1",
            ">1.2",
            ">1.2.3",
            ">=1",
            ">=1.2",
            ">=1.2.3",
            "<1",
            "<1.2",
            "<1.2.3",
            "<=1",
            "<=1.2",
            "<=1.2.3",
            "~1",
            "~1.2",
            "~1.2.3",
            "^0",
            "^0.0",
            "^0.0.3",
            "^0.2",
            "^0.2.3",
            "^1.2",
            "1.*",
            "1.2.*",
            ">=1.2, <2.1",
            ">=3.20, <4",
            "^1.2.3-rc.1",
        ];
        let mut versions = Vec::new();
        for major in 0..4 {
            for minor in 0..4 {
                for patch in 0..5 {
                    versions.push(Version::new(major, minor, patch));
                }
            }
        }
        versions.push(Version::new(3, 20, 0));
        versions.push(Version::new(3, 25, 1));
        for req in reqs {
            let req = VersionReq::parse(req).unwrap();
            let ranges = req_to_ranges(&req);
            for v in &versions {
                assert_eq!(ranges.contains(v), req.matches(v), "{req} vs {v}: {ranges}");
            }
        }
    }

    #[test]
    fn prereleases_only_when_named() {
        let v = Version::parse("2.0.0-rc.1").unwrap();
        let any = Request::parse("hello").unwrap();
        let range = req_to_ranges(&any.req);
        assert!(!prerelease_allowed(&v, &[&any], &range));
        let rc = Request::parse("hello@>=2.0.0-rc.0").unwrap();
        assert!(prerelease_allowed(&v, &[&rc], &req_to_ranges(&rc.req)));
        assert!(prerelease_allowed(&v, &[], &Ranges::singleton(v.clone())));
    }
}
