//! apk dependency atoms: `name`, `name>=1.2`, `so:libc.musl-x86_64.so.1`, `cmd:sh`, `!conflict`.

use std::fmt;

use crate::apk::{AlpineVersion, ApkError};

/// How a dependency constrains the version of what satisfies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `=`
    Equal,
    /// `>=`
    GreaterOrEqual,
    /// `>`
    Greater,
    /// `~` or `=~`: the version's leading tokens match.
    Fuzzy,
}

impl VersionOp {
    fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "<" => Self::Less,
            "<=" => Self::LessOrEqual,
            "=" => Self::Equal,
            ">=" => Self::GreaterOrEqual,
            ">" => Self::Greater,
            "~" | "=~" => Self::Fuzzy,
            _ => return None,
        })
    }

    /// Whether `version` meets `self bound` in apk's order. The fuzzy `~` matches a
    /// version equal to the bound or extending it at a component boundary (`~1.2` takes
    /// `1.2.3` and `1.2_rc1`, not `1.23`).
    pub fn matches(self, version: &AlpineVersion, bound: &AlpineVersion) -> bool {
        let order = version.cmp(bound);
        match self {
            Self::Less => order.is_lt(),
            Self::LessOrEqual => order.is_le(),
            Self::Equal => order.is_eq(),
            Self::GreaterOrEqual => order.is_ge(),
            Self::Greater => order.is_gt(),
            Self::Fuzzy => {
                order.is_eq()
                    || version
                        .as_str()
                        .strip_prefix(bound.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '_', '-', '~']))
            }
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Equal => "=",
            Self::GreaterOrEqual => ">=",
            Self::Greater => ">",
            Self::Fuzzy => "~",
        }
    }
}

/// One dependency (or provided name) as `.PKGINFO` and `APKINDEX` write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The name depended on, with its namespace if any (`so:`, `cmd:`, `pc:`).
    pub name: String,
    /// `Some` when the atom carries a version constraint.
    pub version: Option<(VersionOp, AlpineVersion)>,
    /// `true` for `!name`: the package conflicts with `name`.
    pub conflict: bool,
}

impl Dependency {
    /// Parses one atom.
    pub fn parse(atom: &str) -> Result<Self, ApkError> {
        let invalid = || ApkError::InvalidValue {
            field: "dependency",
            value: atom.to_owned(),
        };
        let (conflict, rest) = match atom.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, atom),
        };
        let name_end = rest.find(['<', '>', '=', '~']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '!') {
            return Err(invalid());
        }
        let tail = &rest[name_end..];
        let version = if tail.is_empty() {
            None
        } else {
            let op_len = tail
                .find(|c| !matches!(c, '<' | '>' | '=' | '~'))
                .ok_or_else(invalid)?;
            let op = VersionOp::parse(&tail[..op_len]).ok_or_else(invalid)?;
            let version = AlpineVersion::parse(&tail[op_len..]).map_err(|_| invalid())?;
            Some((op, version))
        };
        Ok(Self {
            name: name.to_owned(),
            version,
            conflict,
        })
    }

    /// Parses a space-separated list of atoms (an `APKINDEX` `D:` or `p:` line).
    pub fn parse_list(list: &str) -> Result<Vec<Self>, ApkError> {
        list.split_whitespace().map(Self::parse).collect()
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some((op, version)) = &self.version {
            write!(f, "{}{version}", op.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms() {
        let plain = Dependency::parse("musl").unwrap();
        assert_eq!(
            (plain.name.as_str(), plain.version.is_none(), plain.conflict),
            ("musl", true, false)
        );

        let so = Dependency::parse("so:libc.musl-x86_64.so.1").unwrap();
        assert_eq!(so.name, "so:libc.musl-x86_64.so.1");
        assert!(so.version.is_none());

        let versioned = Dependency::parse("busybox>=1.36.1-r5").unwrap();
        let (op, version) = versioned.version.clone().unwrap();
        assert_eq!(op, VersionOp::GreaterOrEqual);
        assert_eq!(version.as_str(), "1.36.1-r5");
        assert_eq!(versioned.to_string(), "busybox>=1.36.1-r5");

        let conflict = Dependency::parse("!openssl-dev").unwrap();
        assert!(conflict.conflict);
        assert_eq!(conflict.to_string(), "!openssl-dev");

        let provided = Dependency::parse("cmd:sh=1.36.1-r5").unwrap();
        assert_eq!(provided.version.unwrap().0, VersionOp::Equal);

        assert_eq!(
            Dependency::parse("foo~1.2").unwrap().version.unwrap().0,
            VersionOp::Fuzzy
        );
    }

    #[test]
    fn version_ops_match_in_apks_order() {
        let v = |s: &str| AlpineVersion::parse(s).unwrap();
        assert!(VersionOp::GreaterOrEqual.matches(&v("1.2.5-r1"), &v("1.2.5-r0")));
        assert!(!VersionOp::Less.matches(&v("1.2.5"), &v("1.2.5_rc1")));
        assert!(VersionOp::Equal.matches(&v("1.2"), &v("1.2")));
        assert!(VersionOp::Fuzzy.matches(&v("1.2.3"), &v("1.2")));
        assert!(VersionOp::Fuzzy.matches(&v("1.2_rc1"), &v("1.2")));
        assert!(!VersionOp::Fuzzy.matches(&v("1.23"), &v("1.2")));
    }

    #[test]
    fn bad_atoms() {
        for bad in [
            "",
            "!",
            ">=1.0",
            "foo>=",
            "foo=>1",
            "foo>=1.0_bogus",
            "!!foo",
        ] {
            assert!(
                Dependency::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
