//! Debian package versions (`[epoch:]upstream[-revision]`, Debian Policy 5.6.12), ordered
//! exactly as `dpkg --compare-versions` orders them.
//!
//! # How a Debian version maps to paks' semver
//!
//! paks versions are semver, but Debian versions are not: `1:2.36-9+deb12u4`,
//! `2.0~rc1-1` or `20230311` have no faithful `major.minor.patch` spelling, and semver
//! orders pre-releases differently from dpkg's `~`. So an imported package keeps its
//! [`DebianVersion`] verbatim for display, and [`DebianVersion::semver_compatible`] gives
//! the semver value its id needs: `0.0.0+<identifiers>`, build metadata whose semver order
//! (identifier by identifier) is dpkg's order, so the resolver, an index's "newest" and
//! `outdated` order imported packages right without knowing they are Debian's. The
//! identifiers are the epoch, the upstream version's runs, an end mark, the revision's
//! runs (a missing revision is `0`) and an end mark: `1:2.36-9+deb12u4` is
//! `0.0.0+1.2.FB.36.B.B.9.DCdCeCbB.12.CuB.4.B` (see `push_runs` for the codes).
//! Versions dpkg calls equal (`1.0`, `0:1.0`, `1.0-0`) get the same form.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A Debian package version, validated on construction.
///
/// Equality and order follow dpkg: `1.0` and `0:1.0` are equal (a missing epoch is 0),
/// `1.0-0` and `1.0` are not equal in text but compare equal, as in dpkg.
#[derive(Debug, Clone)]
pub struct DebianVersion {
    text: String,
    epoch: u32,
    /// Byte range of the upstream version within `text`.
    upstream: (usize, usize),
    /// Byte range of the revision within `text`, when there is one.
    revision: Option<(usize, usize)>,
}

/// Why a string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Debian version `{value}`: {reason}")]
pub struct DebianVersionError {
    /// The string as given.
    pub value: String,
    /// What rule of Debian Policy 5.6.12 it breaks.
    pub reason: &'static str,
}

impl DebianVersion {
    /// Parses a version; see [`FromStr`].
    pub fn parse(s: &str) -> Result<Self, DebianVersionError> {
        let fail = |reason| DebianVersionError {
            value: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(fail("it is empty"));
        }
        let (epoch, rest_start) = match s.find(':') {
            Some(i) => {
                let e = &s[..i];
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(fail("the epoch (before `:`) must be a decimal number"));
                }
                let epoch = e
                    .parse::<u32>()
                    .map_err(|_| fail("the epoch is too large"))?;
                (epoch, i + 1)
            }
            None => (0, 0),
        };
        let rest = &s[rest_start..];
        let (upstream, revision) = match rest.rfind('-') {
            Some(i) => {
                let rev = &rest[i + 1..];
                if rev.is_empty() {
                    return Err(fail("the revision after the last `-` is empty"));
                }
                if !rev
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.~".contains(&b))
                {
                    return Err(fail(
                        "the revision may only hold letters, digits and `+ . ~`",
                    ));
                }
                (
                    (rest_start, rest_start + i),
                    Some((rest_start + i + 1, s.len())),
                )
            }
            None => ((rest_start, s.len()), None),
        };
        let up = &s[upstream.0..upstream.1];
        let Some(first) = up.bytes().next() else {
            return Err(fail("the upstream version is empty"));
        };
        if !first.is_ascii_digit() {
            return Err(fail("the upstream version must start with a digit"));
        }
        // `-` is only possible here when a revision exists (we split at the last one), and
        // `:` never, since the epoch took the first one.
        if !up
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.~-".contains(&b))
        {
            return Err(fail(
                "the upstream version may only hold letters, digits and `+ . ~` (and `-` with a revision)",
            ));
        }
        Ok(Self {
            text: s.to_owned(),
            epoch,
            upstream,
            revision,
        })
    }

    /// The epoch; 0 when the version has none.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version: between the epoch's `:` and the last `-`.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    /// The Debian revision after the last `-`, if any.
    pub fn revision(&self) -> Option<&str> {
        self.revision.map(|(a, b)| &self.text[a..b])
    }

    /// The version exactly as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The semver form: `0.0.0+<identifiers>`, ordered as dpkg orders (see the module
    /// documentation). Equal versions (`1.0`, `0:1.0`, `1.0-0`) give the same form.
    pub fn semver_compatible(&self) -> semver::Version {
        let mut ids = vec![self.epoch.to_string()];
        // The upstream version starts with a digit: its first non-digit run is always
        // empty, so it is left out (both sides of a comparison leave it out).
        push_runs(&mut ids, self.upstream(), false);
        ids.push("B".to_owned());
        push_runs(&mut ids, self.revision().unwrap_or("0"), true);
        ids.push("B".to_owned());
        crate::semver_form::from_identifiers(&ids)
    }
}

/// Appends the identifiers of one part (upstream or revision): its alternating runs, each
/// non-digit run as the codes of its characters (`~` `A`, a letter L `C`L, `+` `D`, `-`
/// `E`, `.` `F`) ended by `B`, each digit run as a number without leading zeros (`0` when
/// empty). ASCII order of the codes is dpkg's [`weight`] order, and `B` for the end of a
/// run sits between `~` and letters, as weight 0 does. The `B` after the last run of a
/// part stands for the empty runs dpkg compares once a part has ended: it meets either
/// the same `B` or a non-empty non-digit run of the other version, never a digit run.
fn push_runs(ids: &mut Vec<String>, part: &str, first_non_digit: bool) {
    let mut rest = part.as_bytes();
    let mut first = true;
    while first || !rest.is_empty() {
        let n = rest.iter().take_while(|c| !c.is_ascii_digit()).count();
        if first_non_digit || !first {
            let mut code = String::with_capacity(2 * n + 1);
            for &c in &rest[..n] {
                match c {
                    b'~' => code.push('A'),
                    b'+' => code.push('D'),
                    b'-' => code.push('E'),
                    b'.' => code.push('F'),
                    c => {
                        debug_assert!(c.is_ascii_alphabetic(), "the parser admits {c}");
                        code.push('C');
                        code.push(char::from(c));
                    }
                }
            }
            code.push('B');
            ids.push(code);
        }
        rest = &rest[n..];
        let d = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let digits = std::str::from_utf8(trim_zeros(&rest[..d])).expect("ASCII");
        ids.push(if digits.is_empty() { "0" } else { digits }.to_owned());
        rest = &rest[d..];
        first = false;
    }
}

impl FromStr for DebianVersion {
    type Err = DebianVersionError;

    /// Parses `[epoch:]upstream[-revision]`: the epoch is a decimal number; the upstream
    /// version starts with a digit and holds letters, digits, `. + ~` and `-` (the last
    /// `-` starts the revision, so `-` only appears in upstream when a revision exists);
    /// the revision holds letters, digits and `. + ~`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DebianVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for DebianVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebianVersion {}

impl PartialOrd for DebianVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DebianVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream(), other.upstream()))
            // A missing revision compares as "0", as dpkg does.
            .then_with(|| {
                compare_part(
                    self.revision().unwrap_or("0"),
                    other.revision().unwrap_or("0"),
                )
            })
    }
}

impl std::hash::Hash for DebianVersion {
    /// Consistent with `Eq`: equal versions (`1.0`, `0:1.0`, `1.0-0`) hash alike.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        normal_form(self.upstream()).hash(state);
        normal_form(self.revision().unwrap_or("0")).hash(state);
    }
}

crate::serde_via_str!(DebianVersion);

/// The weight of one character in the non-digit runs: `~` below the end of the string,
/// letters below every other character.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate a non-digit run (compared by [`weight`], the end of a
/// run weighing 0) and a digit run (compared numerically, leading zeros ignored).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let an = a.iter().take_while(|c| !c.is_ascii_digit()).count();
        let bn = b.iter().take_while(|c| !c.is_ascii_digit()).count();
        for i in 0..an.max(bn) {
            let wa = weight(if i < an { Some(a[i]) } else { None });
            let wb = weight(if i < bn { Some(b[i]) } else { None });
            if wa != wb {
                return wa.cmp(&wb);
            }
        }
        a = &a[an..];
        b = &b[bn..];
        let ad = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let bd = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let (da, db) = (trim_zeros(&a[..ad]), trim_zeros(&b[..bd]));
        let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[ad..];
        b = &b[bd..];
    }
    Ordering::Equal
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

/// A form equal for parts that [`compare_part`] calls equal: leading zeros of digit runs
/// dropped, and trailing zero runs dropped (`1.0` vs `1.0.0` differ, but `1` vs `01` do not).
fn normal_form(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while !rest.is_empty() {
        let n = rest.iter().take_while(|c| !c.is_ascii_digit()).count();
        out.push_str(std::str::from_utf8(&rest[..n]).expect("ASCII"));
        rest = &rest[n..];
        let d = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let digits = trim_zeros(&rest[..d]);
        out.push_str(std::str::from_utf8(digits).expect("ASCII"));
        out.push('|');
        rest = &rest[d..];
    }
    // A final empty digit run and a final run of 0 compare alike: `1.0a` vs `1.0a0`.
    while out.ends_with('|') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn v(s: &str) -> DebianVersion {
        s.parse().unwrap()
    }

    /// Pairs `a < b` in dpkg's order, covering each rule once.
    const LESS: &[(&str, &str)] = &[
        ("1.0", "1.1"),
        ("1.9", "1.10"),
        ("1.0~rc1", "1.0"),
        ("1.0~~", "1.0~"),
        ("1.0~", "1.0"),
        ("1.0", "1.0a"),
        ("1.0a", "1.0+"),
        ("1.0a", "1.0."),
        ("1.0", "1.0.1"),
        ("1.0", "1.0-1"),
        ("1.0-1", "1.0-2"),
        ("1.0-1~bpo1", "1.0-1"),
        ("1.0-9", "1.0-10"),
        ("2.0", "1:0.1"),
        ("1:9.9", "2:0.1"),
        ("1.2.3-4+deb12u1", "1.2.3-4+deb12u2"),
        ("1.2.3-4", "1.2.3-4+deb12u1"),
        ("0.1-1", "0.1-1.1"),
        ("2.36-9", "2.36-9+deb12u4"),
        ("1a", "1b"),
        ("1Z", "1a"),
    ];

    const EQUAL: &[(&str, &str)] = &[
        ("1.0", "0:1.0"),
        ("1.0", "1.0-0"),
        ("1.01", "1.1"),
        ("1.0-01", "1.0-1"),
        ("00:1.0", "1.0"),
    ];

    #[test]
    fn orders_as_dpkg() {
        for (a, b) in LESS {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
        for (a, b) in EQUAL {
            assert_eq!(v(a), v(b), "{a} = {b}");
            let s = std::hash::RandomState::new();
            assert_eq!(s.hash_one(v(a)), s.hash_one(v(b)), "hash {a} = {b}");
        }
    }

    #[test]
    fn parses_parts_and_keeps_the_text() {
        let x = v("1:2.36-9+deb12u4");
        assert_eq!(
            (x.epoch(), x.upstream(), x.revision()),
            (1, "2.36", Some("9+deb12u4"))
        );
        assert_eq!(x.to_string(), "1:2.36-9+deb12u4");
        let y = v("1.2-3-4");
        assert_eq!((y.upstream(), y.revision()), ("1.2-3", Some("4")));
        let z = v("20230311");
        assert_eq!((z.epoch(), z.revision()), (0, None));
        assert_eq!(v("0:1.0").to_string(), "0:1.0");
    }

    #[test]
    fn refuses_what_policy_refuses() {
        for (bad, why) in [
            ("", "empty"),
            ("a1.0", "start with a digit"),
            ("1.0-", "revision after the last `-` is empty"),
            ("x:1.0", "epoch"),
            (":1.0", "epoch"),
            ("1:", "upstream version is empty"),
            ("1.0:1", "epoch"),
            ("1:2:3", "upstream version may only"),
            ("1.0_1", "upstream version may only"),
            ("1.0-a_b", "revision may only"),
            ("1.0 ", "upstream version may only"),
            ("99999999999:1", "too large"),
        ] {
            let err = DebianVersion::parse(bad).unwrap_err();
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
            assert!(err.to_string().contains(&format!("`{bad}`")));
        }
    }

    #[test]
    fn semver_form_orders_as_dpkg() {
        assert_eq!(
            v("1:2.36-9+deb12u4").semver_compatible().to_string(),
            "0.0.0+1.2.FB.36.B.B.9.DCdCeCbB.12.CuB.4.B"
        );
        assert_eq!(
            v("1.0~rc1-1").semver_compatible().to_string(),
            "0.0.0+0.1.FB.0.ACrCcB.1.B.B.1.B"
        );
        for (a, b) in LESS {
            assert!(
                v(a).semver_compatible() < v(b).semver_compatible(),
                "{a} < {b}"
            );
        }
        for (a, b) in EQUAL {
            assert_eq!(
                v(a).semver_compatible(),
                v(b).semver_compatible(),
                "{a} = {b}"
            );
        }
    }
}
