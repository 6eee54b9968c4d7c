//! Versions as upstream projects and image tags write them: `v1.2.3`, `1.3`, `2024.01.15`,
//! `3.13.0rc1`, `1.2.3-beta.2`. Not semver, but ordered, and convertible to the semver a
//! recipe's `version` needs.
//!
//! Upstream release checks (`paks-update`) and Dockerfile tag updates (`paks-dockerfile`)
//! both compare such versions; they share this one reading of them.

use std::cmp::Ordering;
use std::fmt;

/// The most numeric components a loose version may have.
const MAX_PARTS: usize = 6;

/// A loosely written version: a numeric release (`1.2.3`, any number of components from 1
/// to 6) and an optional pre-release (`rc1`, `beta.2`).
///
/// Ordered as people read versions: `1.2` == `1.2.0` < `1.2.1` < `1.10`; a pre-release
/// comes before its release (`1.3rc1` < `1.3`), and pre-releases order as semver's do.
/// Equality follows the order (`1.2` == `1.2.0`); [`LooseVersion::text`] keeps how it was
/// written.
#[derive(Debug, Clone)]
pub struct LooseVersion {
    release: Vec<u64>,
    pre: Option<semver::Prerelease>,
    text: String,
}

impl LooseVersion {
    /// Reads `text`: an optional `v`/`V`, then numbers separated by `.` (or all by `_`, as
    /// in `curl-8_5_0` tags), then optionally a pre-release: `-` or `.` or nothing, and an
    /// identifier starting with a letter (`rc1`, `beta.2`, `alpha-3`, `a1`). `None` for
    /// anything else, including suffixes that are not pre-releases (`3.12-slim` is not a
    /// version; split a tag's variant off first).
    pub fn parse(text: &str) -> Option<Self> {
        let body = text
            .strip_prefix('v')
            .or_else(|| text.strip_prefix('V'))
            .unwrap_or(text);
        let digits_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(body.len());
        let numbers = &body[..digits_end];
        let separator = if numbers.contains('_') { '_' } else { '.' };
        // A trailing separator belongs to the pre-release (`1.2.rc1`).
        let numbers = numbers.strip_suffix(separator).unwrap_or(numbers);
        if numbers.contains('.') && numbers.contains('_') {
            return None;
        }
        let release = numbers
            .split(separator)
            .map(|part| {
                // No leading zeros beyond a lone `0`, except in date-like parts (`01`).
                (!part.is_empty() && part.len() <= 18)
                    .then(|| part.parse::<u64>().ok())
                    .flatten()
            })
            .collect::<Option<Vec<u64>>>()?;
        if release.is_empty() || release.len() > MAX_PARTS {
            return None;
        }
        let rest = &body[numbers.len()..];
        let pre = if rest.is_empty() {
            None
        } else {
            let id = rest
                .strip_prefix(['-', '.', '_'])
                .filter(|_| rest.len() > 1)
                .unwrap_or(rest);
            if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return None;
            }
            if !is_prerelease_word(id) {
                return None;
            }
            Some(semver::Prerelease::new(&id.replace('_', ".")).ok()?)
        };
        Some(Self {
            release,
            pre,
            text: text.to_owned(),
        })
    }

    /// The numeric components, as written (`1.2` has two).
    pub fn release(&self) -> &[u64] {
        &self.release
    }

    /// The pre-release identifiers, if any (`rc1`, `beta.2`).
    pub fn pre(&self) -> Option<&str> {
        self.pre.as_ref().map(semver::Prerelease::as_str)
    }

    /// Whether this is a pre-release (`rc`, `beta`, `alpha`, `dev`, `pre`, `a1`, `b2`).
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }

    /// The text as it was read, `v` prefix and all.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The semver form a recipe's `version` takes: missing components are `0` (`1.3` →
    /// `1.3.0`), components past the third become build metadata (`1.2.3.4` →
    /// `1.2.3+4`, which the `semver` crate still orders), the pre-release is kept.
    pub fn to_semver(&self) -> semver::Version {
        let part = |i: usize| self.release.get(i).copied().unwrap_or(0);
        let mut version = semver::Version::new(part(0), part(1), part(2));
        if let Some(pre) = &self.pre {
            version.pre = pre.clone();
        }
        if self.release.len() > 3 {
            let extra = self.release[3..]
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".");
            if let Ok(build) = semver::BuildMetadata::new(&extra) {
                version.build = build;
            }
        }
        version
    }

    /// `version` as a loose version (its text is semver's).
    pub fn from_semver(version: &semver::Version) -> Self {
        let mut release = vec![version.major, version.minor, version.patch];
        release.extend(
            version
                .build
                .as_str()
                .split('.')
                .filter_map(|p| p.parse::<u64>().ok()),
        );
        Self {
            release,
            pre: (!version.pre.is_empty()).then(|| version.pre.clone()),
            text: version.to_string(),
        }
    }

    /// The shortest texts that name this version's release in a URL or file name, longest
    /// first: `1.3.0` gives `1.3.0` and `1.3`; `1.3.1` only `1.3.1`. Used to find the
    /// current version inside a source URL.
    pub fn spellings(&self) -> Vec<String> {
        let mut parts = self.release.clone();
        let suffix = self.pre().map(|p| format!("-{p}")).unwrap_or_default();
        let mut out = Vec::new();
        loop {
            let joined = parts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".");
            out.push(format!("{joined}{suffix}"));
            if parts.len() > 1 && parts.last() == Some(&0) {
                parts.pop();
            } else {
                break;
            }
        }
        out
    }
}

/// The words a pre-release starts with; anything else (`slim`, `alpine`, `bookworm`) is a
/// variant, not a pre-release.
fn is_prerelease_word(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    let word: String = lower
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    matches!(
        word.as_str(),
        "a" | "b"
            | "c"
            | "alpha"
            | "beta"
            | "rc"
            | "pre"
            | "preview"
            | "dev"
            | "snapshot"
            | "nightly"
            | "m"
            | "milestone"
            | "cr"
            | "ea"
    )
}

impl PartialEq for LooseVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for LooseVersion {}

impl PartialOrd for LooseVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LooseVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.release.len().max(other.release.len());
        for i in 0..len {
            let a = self.release.get(i).copied().unwrap_or(0);
            let b = other.release.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (&self.pre, &other.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => a.cmp(b),
        }
    }
}

impl fmt::Display for LooseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> LooseVersion {
        LooseVersion::parse(text).unwrap_or_else(|| panic!("`{text}` should parse"))
    }

    #[test]
    fn reads_the_usual_spellings() {
        assert_eq!(v("v1.2.3").release(), [1, 2, 3]);
        assert_eq!(v("1.3").release(), [1, 3]);
        assert_eq!(v("2024.01.15").release(), [2024, 1, 15]);
        assert_eq!(v("8_5_0").release(), [8, 5, 0]);
        assert_eq!(v("3.13.0rc1").pre(), Some("rc1"));
        assert_eq!(v("1.2.3-beta.2").pre(), Some("beta.2"));
        assert_eq!(v("1.2.rc1").pre(), Some("rc1"));
        for bad in [
            "",
            "v",
            "1..2",
            "3.12-slim",
            "latest",
            "1.2.3.4.5.6.7",
            "1.2_3",
            "1.2-",
            "-1",
        ] {
            assert!(
                LooseVersion::parse(bad).is_none(),
                "`{bad}` should not parse"
            );
        }
    }

    #[test]
    fn orders_as_people_read() {
        assert!(v("1.2") == v("1.2.0"));
        assert!(v("1.2.0") < v("1.2.1"));
        assert!(v("1.9") < v("1.10"));
        assert!(v("1.3rc1") < v("1.3"));
        assert!(v("1.3-rc.1") < v("1.3-rc.2"));
        assert!(v("1.3-alpha") < v("1.3-beta"));
        assert!(v("1.2.3.4") > v("1.2.3"));
    }

    #[test]
    fn becomes_semver() {
        assert_eq!(v("1.3").to_semver().to_string(), "1.3.0");
        assert_eq!(v("v2.0.1-rc1").to_semver().to_string(), "2.0.1-rc1");
        assert_eq!(v("1.2.3.4").to_semver().to_string(), "1.2.3+4");
        let s = semver::Version::parse("1.3.0").unwrap();
        assert_eq!(LooseVersion::from_semver(&s), v("1.3"));
    }

    #[test]
    fn spells_a_release_the_short_ways() {
        assert_eq!(v("1.3.0").spellings(), ["1.3.0", "1.3"]);
        assert_eq!(v("1.3.1").spellings(), ["1.3.1"]);
        assert_eq!(v("2.0.0").spellings(), ["2.0.0", "2.0", "2"]);
    }
}
