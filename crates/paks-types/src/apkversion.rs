//! Alpine package versions and apk's ordering of them.
//!
//! The grammar is `digits{.digits}{letter}{_suffix{digits}}{~commit}{-rN}`. apk compares
//! two versions token by token: numbers numerically (but a dotted component with a leading
//! zero, like `.01`, compares as a string, as in Gentoo), the letter, the suffix by rank
//! (`_alpha` `_beta` `_pre` `_rc` sort before the release, `_cvs` `_svn` `_git` `_hg` `_p`
//! after it), the commit hash as a string, the revision numerically. When one version has
//! a token where the other has one of a later kind (or its end), it is newer, unless that
//! token is a pre-release suffix. This is apk-tools 3's ordering (`src/version.c`); it
//! differs from apk-tools 2.14's only for components with leading zeros.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// What a token is, in grammar order: when two versions reach tokens of different kinds,
/// the one with the earlier kind is the newer version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    End,
}

/// Suffixes by rank; `_rc` and those before it are pre-releases.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
const FIRST_POST_RELEASE: u64 = 4;

/// One token: its kind, its text, and its number (digits) or rank (suffix, letter).
#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    number: u64,
}

/// Why a string is not an Alpine version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Alpine version `{value}`")]
pub struct AlpineVersionError {
    /// The string as given.
    pub value: String,
}

/// An Alpine package version such as `1.36.1-r5` or `2.0_rc3-r0`, ordered as apk orders it.
///
/// Equality is apk's (`01` equals `1`), so the type keeps the original text for display.
#[derive(Debug, Clone)]
pub struct AlpineVersion {
    text: String,
    tokens: Vec<Token>,
}

impl AlpineVersion {
    /// Parses `text`, rejecting what apk would reject as an invalid version.
    pub fn parse(text: &str) -> Result<Self, AlpineVersionError> {
        let tokens = tokenize(text).ok_or_else(|| AlpineVersionError {
            value: text.to_owned(),
        })?;
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The semver form: `0.0.0+<identifiers>` whose semver order is apk's order, so that
    /// paks' resolver and index order imported packages right. Each token gives a class
    /// identifier and, except the end, a value identifier. The classes are ordered as the
    /// order above ranks the kinds when two versions reach different ones: a pre-release
    /// suffix `A`, the end `B`, revision `C`, commit hash `D`, suffix number `E`,
    /// post-release suffix `F`, letter `G`, dotted component with a leading zero `Ha`
    /// (compared as text, and below every other component, as text comparison puts it),
    /// dotted component `Hb`, first component `I`. Numbers and suffix ranks are numeric
    /// identifiers; text (a leading-zero component, a commit hash) is `z` and the text.
    pub fn semver_compatible(&self) -> crate::Version {
        let mut ids: Vec<String> = Vec::with_capacity(2 * self.tokens.len());
        for t in &self.tokens {
            let number = t.number.to_string();
            let (class, value) = match t.kind {
                Kind::Suffix if t.number < FIRST_POST_RELEASE => ("A", Some(number)),
                Kind::End => ("B", None),
                Kind::Revision => ("C", Some(number)),
                Kind::CommitHash => ("D", Some(format!("z{}", t.text))),
                Kind::SuffixNumber => ("E", Some(number)),
                Kind::Suffix => ("F", Some(number)),
                Kind::Letter => ("G", Some(t.text.clone())),
                Kind::Digit if t.text.starts_with('0') => ("Ha", Some(format!("z{}", t.text))),
                Kind::Digit => ("Hb", Some(number)),
                Kind::InitialDigit => ("I", Some(number)),
            };
            ids.push(class.to_owned());
            ids.extend(value);
        }
        crate::semver_form::from_identifiers(&ids)
    }
}

/// Splits a version into tokens, ending with `Kind::End`; `None` when invalid.
fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut rest = text;
    let mut tokens = vec![digits(Kind::InitialDigit, &mut rest)?];
    while let Some(c) = rest.chars().next() {
        let previous = tokens.last().map_or(Kind::InitialDigit, |t| t.kind);
        let token = match c {
            'a'..='z' if previous <= Kind::Digit => {
                rest = &rest[1..];
                Token {
                    kind: Kind::Letter,
                    text: c.to_string(),
                    number: u64::from(c),
                }
            }
            '.' if previous <= Kind::Digit => {
                rest = &rest[1..];
                digits(Kind::Digit, &mut rest)?
            }
            '0'..='9' if previous == Kind::Suffix => digits(Kind::SuffixNumber, &mut rest)?,
            '_' if previous <= Kind::SuffixNumber => {
                let name = span(&rest[1..], |c| c.is_ascii_lowercase());
                let rank = SUFFIXES.iter().position(|s| *s == name)?;
                rest = &rest[1 + name.len()..];
                Token {
                    kind: Kind::Suffix,
                    text: name.to_owned(),
                    number: rank as u64,
                }
            }
            '~' if previous < Kind::CommitHash => {
                let hash = span(&rest[1..], |c| matches!(c, '0'..='9' | 'a'..='f'));
                if hash.is_empty() {
                    return None;
                }
                rest = &rest[1 + hash.len()..];
                Token {
                    kind: Kind::CommitHash,
                    text: hash.to_owned(),
                    number: 0,
                }
            }
            '-' if previous < Kind::Revision && rest.starts_with("-r") => {
                rest = &rest[2..];
                digits(Kind::Revision, &mut rest)?
            }
            _ => return None,
        };
        tokens.push(token);
    }
    tokens.push(Token {
        kind: Kind::End,
        text: String::new(),
        number: 0,
    });
    Some(tokens)
}

/// The longest prefix of `text` whose characters satisfy `keep`.
fn span(text: &str, keep: impl Fn(char) -> bool) -> &str {
    &text[..text.find(|c| !keep(c)).unwrap_or(text.len())]
}

/// A run of at least one digit, as a token of `kind`.
fn digits(kind: Kind, rest: &mut &str) -> Option<Token> {
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let text = &rest[..end];
    *rest = &rest[end..];
    let number = text.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Token {
        kind,
        text: text.to_owned(),
        number,
    })
}

/// Compares two tokens of the same kind.
fn token_cmp(a: &Token, b: &Token) -> Ordering {
    match a.kind {
        // A dotted component with a leading zero compares as text: `1.01` < `1.1`.
        Kind::Digit if a.text.starts_with('0') || b.text.starts_with('0') => a.text.cmp(&b.text),
        Kind::CommitHash => a.text.cmp(&b.text),
        _ => a.number.cmp(&b.number),
    }
}

impl Ord for AlpineVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.tokens.iter().zip(&other.tokens) {
            if a.kind != b.kind {
                // One version goes on where the other has a later kind of token (or its
                // end): it is newer, unless what it goes on with is a pre-release suffix.
                if a.kind == Kind::Suffix && a.number < FIRST_POST_RELEASE {
                    return Ordering::Less;
                }
                if b.kind == Kind::Suffix && b.number < FIRST_POST_RELEASE {
                    return Ordering::Greater;
                }
                return b.kind.cmp(&a.kind);
            }
            if a.kind == Kind::End {
                return Ordering::Equal;
            }
            let order = token_cmp(a, b);
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for AlpineVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for AlpineVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for AlpineVersion {}

impl fmt::Display for AlpineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for AlpineVersion {
    type Err = AlpineVersionError;

    fn from_str(text: &str) -> Result<Self, AlpineVersionError> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> AlpineVersion {
        AlpineVersion::parse(text).unwrap()
    }

    #[test]
    fn apk_ordering_table() {
        // (older, newer) pairs as apk orders them.
        let pairs = [
            ("1.0", "1.1"),
            ("1.9", "1.10"),
            ("1", "1.0"),
            ("1.0", "1.0.1"),
            ("1.0", "1.0-r1"),
            ("1.0-r1", "1.0-r2"),
            ("1.0-r9", "1.0-r10"),
            ("1.0-r5", "1.0.1-r0"),
            ("1.0_alpha", "1.0_beta"),
            ("1.0_beta", "1.0_pre"),
            ("1.0_pre", "1.0_rc"),
            ("1.0_rc1", "1.0_rc2"),
            ("1.0_rc2", "1.0"),
            ("1.0_alpha1", "1.0"),
            ("1.0", "1.0_p1"),
            ("1.0_cvs", "1.0_svn"),
            ("1.0_git20240101", "1.0_p1"),
            ("1.0_p1", "1.0_p2"),
            ("1.0_p1", "1.0.1"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0b"),
            ("1.0a", "1.0.1"),
            ("1.01", "1.1"),
            ("1.001", "1.01"),
            ("1.0_rc1-r3", "1.0-r0"),
            ("2.38", "2.38.1-r0"),
            ("1.36.1-r5", "1.36.1-r15"),
            ("1.0~abc", "1.0~abd"),
            ("1.0", "1.0~abc"),
            ("1.0_git1~ff-r1", "1.0_git2~aa-r0"),
        ];
        for (older, newer) in pairs {
            assert!(v(older) < v(newer), "{older} < {newer}");
            assert!(v(newer) > v(older), "{newer} > {older}");
        }
    }

    #[test]
    fn semver_form_of_a_release() {
        assert_eq!(
            v("1.36.1_rc2-r5").semver_compatible().to_string(),
            "0.0.0+I.1.Hb.36.Hb.1.A.3.E.2.C.5.B"
        );
        assert_eq!(v("01").semver_compatible(), v("1").semver_compatible());
    }

    #[test]
    fn equal_versions() {
        assert_eq!(v("1.2.3-r0"), v("1.2.3-r0"));
        assert_eq!(v("01"), v("1"));
        assert_eq!(v("1.2_rc1").cmp(&v("1.2_rc1")), Ordering::Equal);
    }

    #[test]
    fn invalid_versions() {
        for bad in [
            "",
            ".1",
            "a",
            "1.",
            "1.0-",
            "1.0-r",
            "1.0-x1",
            "1.0_foo",
            "1.0_",
            "1.0ab",
            "1.0a2",
            "1.0-r1.2",
            "1.0_p1a",
            "1 0",
            "1.0~",
            "1.0~xyz",
            "1.0-r1_p1",
        ] {
            assert!(
                AlpineVersion::parse(bad).is_err(),
                "{bad} should be invalid"
            );
        }
        assert_eq!(v("1.2.3_rc1-r4").to_string(), "1.2.3_rc1-r4");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::AlpineVersion;

    /// Versions from the grammar, leading zeros and all suffixes included.
    fn version() -> impl Strategy<Value = String> {
        let number = "(0|[1-9][0-9]{0,3}|0[0-9]{1,2})";
        let suffix = "_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]{0,2}";
        proptest::string::string_regex(&format!(
            "[1-9][0-9]{{0,2}}(\\.{number}){{0,3}}[a-c]?({suffix}){{0,2}}(~[0-9a-f]{{1,4}})?(-r[0-9]{{1,2}})?"
        ))
        .unwrap()
    }

    proptest! {
        /// The semver form orders as apk does, and is equal exactly when the versions are.
        #[test]
        fn semver_form_orders_as_apk(a in version(), b in version()) {
            let (a, b) = (AlpineVersion::parse(&a).unwrap(), AlpineVersion::parse(&b).unwrap());
            let (sa, sb) = (a.semver_compatible(), b.semver_compatible());
            prop_assert_eq!(a.cmp(&b), sa.cmp(&sb), "{} vs {}: {} vs {}", a, b, sa, sb);
        }

        #[test]
        fn ordering_is_total(a in version(), b in version(), c in version()) {
            let (a, b, c) = (
                AlpineVersion::parse(&a).unwrap(),
                AlpineVersion::parse(&b).unwrap(),
                AlpineVersion::parse(&c).unwrap(),
            );
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            if a <= b && b <= c {
                prop_assert!(a <= c, "{} <= {} <= {} but not {} <= {}", a, b, c, a, c);
            }
        }

        #[test]
        fn parsing_never_panics(text in "[0-9a-z._~-]{0,16}") {
            let _ = AlpineVersion::parse(&text);
        }
    }
}
