//! Relationship fields (Debian Policy 7.1): `Depends`, `Pre-Depends`, `Recommends`,
//! `Provides`, `Conflicts`, `Breaks`, `Replaces`.
//!
//! A field is a comma-separated list; each item is one or more alternatives separated by
//! `|`; each alternative is `name[:archqual] [(op version)] [[arch ...]] [<profile ...>]`.
//! Build profiles (`<!nocheck>`) only mean something for build dependencies, so they are
//! checked for shape and dropped.

use std::fmt;

use paks_types::DebianVersion;

use crate::ImportError;

/// A version relation operator. The obsolete `<` and `>` are refused (dpkg reads them as
/// `<=`/`>=`, which surprises everyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// `<<`: strictly earlier.
    Less,
    /// `<=`.
    LessEqual,
    /// `=`.
    Equal,
    /// `>=`.
    GreaterEqual,
    /// `>>`: strictly later.
    Greater,
}

impl VersionOp {
    /// Whether `candidate op bound` holds, in dpkg's order.
    pub fn matches(self, candidate: &DebianVersion, bound: &DebianVersion) -> bool {
        let ord = candidate.cmp(bound);
        match self {
            Self::Less => ord.is_lt(),
            Self::LessEqual => ord.is_le(),
            Self::Equal => ord.is_eq(),
            Self::GreaterEqual => ord.is_ge(),
            Self::Greater => ord.is_gt(),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Less => "<<",
            Self::LessEqual => "<=",
            Self::Equal => "=",
            Self::GreaterEqual => ">=",
            Self::Greater => ">>",
        }
    }
}

/// One alternative: a package, maybe with a version bound and architecture limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The package name.
    pub name: String,
    /// The architecture qualifier after `:` (`any`, `native`, or an architecture).
    pub arch_qualifier: Option<String>,
    /// The version bound in parentheses.
    pub version: Option<(VersionOp, DebianVersion)>,
    /// The architecture restriction list in brackets (`!` entries kept with their `!`).
    pub architectures: Vec<String>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        if !self.architectures.is_empty() {
            write!(f, " [{}]", self.architectures.join(" "))?;
        }
        Ok(())
    }
}

/// One item of a relation list: any one of these satisfies it.
pub type Alternatives = Vec<Relation>;

/// Parses a relationship field's (unfolded) value. `field` names it in errors.
pub fn parse_relations(field: &str, value: &str) -> Result<Vec<Alternatives>, ImportError> {
    let mut out = Vec::new();
    if value.trim().is_empty() {
        return Ok(out);
    }
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    for (i, item) in items.iter().enumerate() {
        // A trailing comma is tolerated (dpkg does); an empty item in the middle is not.
        if item.is_empty() && i + 1 == items.len() && i > 0 {
            continue;
        }
        let alts = item
            .split('|')
            .map(|alt| parse_one(alt.trim()).map_err(|r| ImportError::field(field, *item, r)))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(alts);
    }
    Ok(out)
}

fn parse_one(s: &str) -> Result<Relation, String> {
    if s.is_empty() {
        return Err("an empty relation".into());
    }
    let name_end = s
        .find(|c: char| c.is_whitespace() || "([<:".contains(c))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    check_package_name(name)?;
    let mut rest = &s[name_end..];
    let mut arch_qualifier = None;
    if let Some(r) = rest.strip_prefix(':') {
        let end = r
            .find(|c: char| c.is_whitespace() || "([<".contains(c))
            .unwrap_or(r.len());
        let q = &r[..end];
        if q.is_empty() || !q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("invalid architecture qualifier `:{q}`"));
        }
        arch_qualifier = Some(q.to_owned());
        rest = &r[end..];
    }
    rest = rest.trim_start();
    let mut version = None;
    if let Some(r) = rest.strip_prefix('(') {
        let Some(end) = r.find(')') else {
            return Err("a `(` without `)`".into());
        };
        let inner = r[..end].trim();
        let (op, v) = if let Some(v) = inner.strip_prefix("<<") {
            (VersionOp::Less, v)
        } else if let Some(v) = inner.strip_prefix("<=") {
            (VersionOp::LessEqual, v)
        } else if let Some(v) = inner.strip_prefix(">=") {
            (VersionOp::GreaterEqual, v)
        } else if let Some(v) = inner.strip_prefix(">>") {
            (VersionOp::Greater, v)
        } else if let Some(v) = inner.strip_prefix('=') {
            (VersionOp::Equal, v)
        } else {
            return Err(format!(
                "the relation `({inner})` needs one of `<< <= = >= >>`"
            ));
        };
        let v = DebianVersion::parse(v.trim()).map_err(|e| e.to_string())?;
        version = Some((op, v));
        rest = r[end + 1..].trim_start();
    }
    let mut architectures = Vec::new();
    if let Some(r) = rest.strip_prefix('[') {
        let Some(end) = r.find(']') else {
            return Err("a `[` without `]`".into());
        };
        architectures = r[..end].split_whitespace().map(str::to_owned).collect();
        if architectures.is_empty() {
            return Err("an empty architecture list `[]`".into());
        }
        rest = r[end + 1..].trim_start();
    }
    while let Some(r) = rest.strip_prefix('<') {
        let Some(end) = r.find('>') else {
            return Err("a build profile `<` without `>`".into());
        };
        rest = r[end + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err(format!("unexpected `{rest}` after the relation"));
    }
    Ok(Relation {
        name: name.to_owned(),
        arch_qualifier,
        version,
        architectures,
    })
}

/// Package names (Policy 5.6.1): lowercase letters, digits, `+ - .`; at least two
/// characters, starting with a letter or digit.
pub(crate) fn check_package_name(name: &str) -> Result<(), String> {
    let ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a package name (lowercase letters, digits, `+ - .`, two or more, starting with a letter or digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part() {
        let r = parse_relations(
            "Depends",
            "libc6 (>= 2.34), foo:any | bar (<< 1:2.0~rc1) [amd64 !i386] <!nocheck>, baz,",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0][0].to_string(), "libc6 (>= 2.34)");
        assert_eq!(r[1][0].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(r[1][1].to_string(), "bar (<< 1:2.0~rc1) [amd64 !i386]");
        let (op, v) = r[1][1].version.clone().unwrap();
        assert!(op.matches(&"1:1.9".parse().unwrap(), &v));
        assert!(!op.matches(&"1:2.0".parse().unwrap(), &v));
        assert_eq!(r[2][0].name, "baz");
        assert!(parse_relations("Depends", "").unwrap().is_empty());
    }

    #[test]
    fn errors_name_field_and_value() {
        for (value, why) in [
            ("libc6 (> 2)", "needs one of"),
            ("libc6 (>= x)", "invalid Debian version"),
            ("Libc6", "not a package name"),
            ("aa, , bb", "empty relation"),
            ("libc6 (>= 2", "without `)`"),
            ("libc6 junk", "unexpected `junk`"),
            ("foo:", "architecture qualifier"),
        ] {
            let err = parse_relations("Breaks", value).unwrap_err().to_string();
            assert!(
                err.contains("`Breaks`") && err.contains(why),
                "{value}: {err}"
            );
        }
    }
}
