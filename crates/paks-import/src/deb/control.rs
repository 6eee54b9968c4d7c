//! The typed fields of a binary package's `control` stanza (Debian Policy 5.3, 5.6).

use paks_types::DebianVersion;

use super::deb822::{Paragraph, parse_paragraphs, unfold};
use super::relation::{Alternatives, check_package_name, parse_relations};
use crate::ImportError;

/// A binary package's control data, typed. Fields paks does not use stay in `paragraph`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryControl {
    /// `Package` (required).
    pub package: String,
    /// `Version` (required), verbatim and ordered as dpkg orders.
    pub version: DebianVersion,
    /// `Architecture` (required): a Debian architecture or `all`.
    pub architecture: String,
    /// `Maintainer`.
    pub maintainer: Option<String>,
    /// `Description`.
    pub description: Option<Description>,
    /// `Homepage`.
    pub homepage: Option<String>,
    /// `Source`, when the source package differs from the binary one in name or version.
    pub source: Option<SourceRef>,
    /// `Installed-Size`, in KiB as Policy defines it.
    pub installed_size_kib: Option<u64>,
    /// `Depends`.
    pub depends: Vec<Alternatives>,
    /// `Pre-Depends`.
    pub pre_depends: Vec<Alternatives>,
    /// `Recommends`.
    pub recommends: Vec<Alternatives>,
    /// `Provides`.
    pub provides: Vec<Alternatives>,
    /// `Conflicts`.
    pub conflicts: Vec<Alternatives>,
    /// `Breaks`.
    pub breaks: Vec<Alternatives>,
    /// `Replaces`.
    pub replaces: Vec<Alternatives>,
    /// The whole stanza, every field raw.
    pub paragraph: Paragraph,
}

/// The `Description` field: a one-line summary, then the extended description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The first line.
    pub summary: String,
    /// The continuation lines with their one leading space removed and ` .` lines as
    /// empty lines; empty when there are none.
    pub long: String,
}

/// The `Source` field: `name` or `name (version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// The source package's name.
    pub name: String,
    /// Its version, when it differs from the binary package's.
    pub version: Option<DebianVersion>,
}

impl BinaryControl {
    /// Parses a `control` file: exactly one stanza.
    pub fn parse(text: &str) -> Result<Self, ImportError> {
        let mut paragraphs = parse_paragraphs(text)?;
        if paragraphs.len() != 1 {
            return Err(ImportError::field(
                "control",
                format!("{} stanzas", paragraphs.len()),
                "a binary package's control file holds exactly one stanza",
            ));
        }
        Self::from_paragraph(paragraphs.remove(0))
    }

    /// Types one stanza (of a `control` file or a `Packages` index).
    pub fn from_paragraph(p: Paragraph) -> Result<Self, ImportError> {
        let required = |name: &'static str| {
            p.get(name)
                .filter(|v| !v.is_empty())
                .ok_or(ImportError::MissingField { field: name })
        };
        let simple = |name: &'static str| -> Result<Option<String>, ImportError> {
            match p.get(name) {
                Some(v) if v.contains('\n') => Err(ImportError::field(
                    name,
                    v.escape_debug().to_string(),
                    "this field is one line",
                )),
                v => Ok(v.map(str::to_owned)),
            }
        };
        let package = required("Package")?.to_owned();
        check_package_name(&package).map_err(|r| ImportError::field("Package", &package, r))?;
        let version_text = required("Version")?;
        let version = DebianVersion::parse(version_text)
            .map_err(|e| ImportError::field("Version", version_text, e.reason))?;
        let architecture = required("Architecture")?.to_owned();
        if architecture.contains(char::is_whitespace) {
            return Err(ImportError::field(
                "Architecture",
                architecture,
                "a binary package has one architecture",
            ));
        }
        let source = simple("Source")?.map(|s| parse_source(&s)).transpose()?;
        let installed_size_kib = simple("Installed-Size")?
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| ImportError::field("Installed-Size", &s, "a whole number of KiB"))
            })
            .transpose()?;
        let relations = |name: &str| match p.get(name) {
            Some(v) => parse_relations(name, &unfold(v)),
            None => Ok(Vec::new()),
        };
        Ok(Self {
            package,
            version,
            architecture,
            maintainer: simple("Maintainer")?,
            description: p.get("Description").map(parse_description),
            homepage: simple("Homepage")?,
            source,
            installed_size_kib,
            depends: relations("Depends")?,
            pre_depends: relations("Pre-Depends")?,
            recommends: relations("Recommends")?,
            provides: relations("Provides")?,
            conflicts: relations("Conflicts")?,
            breaks: relations("Breaks")?,
            replaces: relations("Replaces")?,
            paragraph: p,
        })
    }
}

fn parse_source(s: &str) -> Result<SourceRef, ImportError> {
    let fail = |reason: String| ImportError::field("Source", s, reason);
    let (name, version) = match s.split_once('(') {
        Some((name, rest)) => {
            let Some(v) = rest.trim_end().strip_suffix(')') else {
                return Err(fail("a `(` without `)`".into()));
            };
            let v = DebianVersion::parse(v.trim()).map_err(|e| fail(e.to_string()))?;
            (name.trim(), Some(v))
        }
        None => (s.trim(), None),
    };
    check_package_name(name).map_err(fail)?;
    Ok(SourceRef {
        name: name.to_owned(),
        version,
    })
}

fn parse_description(v: &str) -> Description {
    let mut lines = v.lines();
    let summary = lines.next().unwrap_or_default().to_owned();
    let long = lines
        .map(|l| {
            let l = l.strip_prefix([' ', '\t']).unwrap_or(l);
            if l == "." { "" } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Description { summary, long }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
Maintainer: Santiago Vila <sanvila@debian.org>\nInstalled-Size: 280\n\
Depends: libc6 (>= 2.34)\nConflicts: hello-traditional\nBreaks: hello-debhelper (<< 2.9)\n\
Replaces: hello-debhelper (<< 2.9), hello-traditional\nSection: devel\nPriority: optional\n\
Homepage: https://www.gnu.org/software/hello/\nSource: hello (2.10-2)\n\
Description: example package based on GNU hello\n The GNU hello program.\n .\n Second paragraph.\n";

    #[test]
    fn types_every_field() {
        let c = BinaryControl::parse(HELLO).unwrap();
        assert_eq!(c.package, "hello");
        assert_eq!(c.version.to_string(), "2.10-3");
        assert_eq!(c.architecture, "amd64");
        assert_eq!(c.installed_size_kib, Some(280));
        let d = c.description.unwrap();
        assert_eq!(d.summary, "example package based on GNU hello");
        assert_eq!(d.long, "The GNU hello program.\n\nSecond paragraph.");
        let s = c.source.unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.unwrap().to_string()),
            ("hello", "2.10-2".into())
        );
        assert_eq!(c.replaces.len(), 2);
        assert_eq!(c.breaks[0][0].to_string(), "hello-debhelper (<< 2.9)");
        assert_eq!(c.paragraph.get("Section"), Some("devel"));
        assert!(c.pre_depends.is_empty());
    }

    #[test]
    fn errors_name_field_and_value() {
        for (from, to, why) in [
            ("Version: 2.10-3", "Version: x2", "`Version`: `x2`"),
            (
                "Installed-Size: 280",
                "Installed-Size: 28k",
                "`Installed-Size`: `28k`",
            ),
            (
                "Source: hello (2.10-2)",
                "Source: hello (2.10",
                "`Source`: `hello (2.10`",
            ),
            ("Package: hello", "Package: Hello", "`Package`: `Hello`"),
            ("Package: hello\n", "", "missing field `Package`"),
            (
                "Depends: libc6 (>= 2.34)",
                "Depends: libc6 (>= 2.34",
                "`Depends`",
            ),
            ("Homepage: https://", "Homepage: \n https://", "`Homepage`"),
        ] {
            let text = HELLO.replace(from, to);
            let err = BinaryControl::parse(&text).unwrap_err().to_string();
            assert!(err.contains(why), "{to}: {err}");
        }
        let two = format!("{HELLO}\n{HELLO}");
        assert!(
            BinaryControl::parse(&two)
                .unwrap_err()
                .to_string()
                .contains("2 stanzas")
        );
    }
}
