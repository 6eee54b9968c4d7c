//! Known vulnerabilities, offline: SBOM components matched against advisories in the OSV
//! format (<https://ossf.github.io/osv-schema/>, schema 1.6) read from a directory.
//!
//! A component matches an advisory's `affected[]` entry by package URL (type, namespace
//! and name; for Debian and Alpine also the source package named by the purl's `upstream`
//! qualifier, as OSV names source packages) or by ecosystem and name. Its version is
//! affected when it is listed in `versions`, or falls in a range: `SEMVER` ranges compare
//! with semver; `ECOSYSTEM` ranges with the ecosystem's own order (Debian and Ubuntu with
//! dpkg's, Alpine with apk's, semver for the ecosystems whose versions are semver). `GIT`
//! ranges and ecosystems whose order paks does not know are not evaluated: no finding is
//! better than a guessed one.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use paks_types::{AlpineVersion, DebianVersion};
use serde::{Deserialize, Serialize};

use crate::components::{Component, Purl};

/// The largest advisory file read, in bytes.
pub const MAX_ADVISORY_SIZE: u64 = 8 << 20;

/// One OSV advisory, the fields paks reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    /// When set, the advisory was retracted: it matches nothing.
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub affected: Vec<Affected>,
}

/// An `affected[]` entry: one package and the versions of it that are affected.
#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
}

/// `affected[].package`.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

/// `affected[].ranges[]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event of a range: exactly one field is set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    pub introduced: Option<String>,
    pub fixed: Option<String>,
    pub last_affected: Option<String>,
    pub limit: Option<String>,
}

/// A component affected by an advisory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The advisory's id (`DSA-5514-1`, `GHSA-...`).
    pub id: String,
    pub aliases: Vec<String>,
    /// The component's name.
    pub component: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// The component's version.
    pub installed: String,
    /// The first version that fixes it, when the advisory names one.
    pub fixed: Option<String>,
    /// The advisory's summary, else the first line of its details.
    pub summary: Option<String>,
}

/// Why the advisories could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    #[error("failed to read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is {size} bytes, more than the {MAX_ADVISORY_SIZE} bytes of an advisory paks reads", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("`{}` is not an OSV advisory", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl OsvError {
    /// Whether the machine failed rather than the input.
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}

/// Advisories loaded from a directory.
#[derive(Debug, Clone, Default)]
pub struct Database {
    pub advisories: Vec<Advisory>,
}

impl Database {
    /// Reads every `*.json` file under `dir` (subdirectories too, in name order), each an
    /// OSV advisory, as osv.dev's per-ecosystem exports hold them once unzipped.
    pub fn load(dir: &Path) -> Result<Self, OsvError> {
        let mut files = Vec::new();
        collect(dir, &mut files)?;
        files.sort();
        let mut advisories = Vec::with_capacity(files.len());
        for path in files {
            let io = |source| OsvError::Io {
                path: path.clone(),
                source,
            };
            let size = std::fs::metadata(&path).map_err(io)?.len();
            if size > MAX_ADVISORY_SIZE {
                return Err(OsvError::TooLarge { path, size });
            }
            let bytes = std::fs::read(&path).map_err(io)?;
            let advisory =
                serde_json::from_slice(&bytes).map_err(|source| OsvError::Json { path, source })?;
            advisories.push(advisory);
        }
        Ok(Self { advisories })
    }

    /// The findings for `components`, by component then advisory id.
    pub fn audit(&self, components: &[Component]) -> Vec<Finding> {
        let mut findings = Vec::new();
        for c in components {
            let Some(version) = c.version.as_deref() else {
                continue;
            };
            for advisory in self.advisories.iter().filter(|a| a.withdrawn.is_none()) {
                let hit = advisory.affected.iter().find_map(|a| {
                    let package = a.package.as_ref()?;
                    matches_package(package, c).then(|| affects(a, package, version))?
                });
                if let Some(Hit { fixed }) = hit {
                    findings.push(Finding {
                        id: advisory.id.clone(),
                        aliases: advisory.aliases.clone(),
                        component: c.name.clone(),
                        purl: c.purl.clone(),
                        installed: version.to_owned(),
                        fixed,
                        summary: advisory.summary.clone().or_else(|| {
                            let details = advisory.details.as_deref()?;
                            details.lines().next().map(str::to_owned)
                        }),
                    });
                }
            }
        }
        findings.sort_by(|a, b| (&a.component, &a.id).cmp(&(&b.component, &b.id)));
        findings.dedup();
        findings
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), OsvError> {
    let io = |source| OsvError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            collect(&path, files)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    Ok(())
}

/// A version order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// dpkg's (Debian, Ubuntu).
    Debian,
    /// apk's (Alpine).
    Alpine,
    /// Semantic versioning 2.0, a leading `v` allowed (Go).
    Semver,
}

/// What an OSV ecosystem (`Debian:12`, `Alpine:v3.18`) is as a purl type and namespace,
/// and how its versions are ordered (`None`: an order paks does not know).
fn ecosystem(name: &str) -> Option<(&'static str, Option<&'static str>, Option<Order>)> {
    let base = name.split(':').next().unwrap_or_default();
    Some(match base {
        "Debian" => ("deb", Some("debian"), Some(Order::Debian)),
        "Ubuntu" => ("deb", Some("ubuntu"), Some(Order::Debian)),
        "Alpine" => ("apk", Some("alpine"), Some(Order::Alpine)),
        "crates.io" => ("cargo", None, Some(Order::Semver)),
        "npm" => ("npm", None, Some(Order::Semver)),
        "Go" => ("golang", None, Some(Order::Semver)),
        "Hex" => ("hex", None, Some(Order::Semver)),
        "Pub" => ("pub", None, Some(Order::Semver)),
        "PyPI" => ("pypi", None, None),
        "Maven" => ("maven", None, None),
        "RubyGems" => ("gem", None, None),
        "NuGet" => ("nuget", None, None),
        "Packagist" => ("composer", None, None),
        _ => return None,
    })
}

/// Debian releases by code name, as purls' `distro` qualifiers may name them.
const DEBIAN_CODENAMES: [(&str, &str); 6] = [
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
    ("sid", "sid"),
];

/// The names a component may have in an advisory: its purl name, with its namespace
/// (`@scope/name`, `group:artifact`, a Go module path), and for distribution packages the
/// source package (`upstream`, optionally `name@version`).
fn names(purl: &Purl) -> Vec<String> {
    let mut names = vec![purl.name.clone()];
    if let Some(ns) = &purl.namespace {
        names.push(format!("{ns}/{}", purl.name));
        names.push(format!("{ns}:{}", purl.name));
    }
    if let Some(upstream) = purl.qualifiers.get("upstream") {
        names.push(upstream.split('@').next().unwrap_or_default().to_owned());
    }
    names
}

/// Whether `package` (an advisory's) is the component `c`.
fn matches_package(package: &Package, c: &Component) -> bool {
    let Some(purl) = c.package_url() else {
        return false;
    };
    let same_name = |name: &str| {
        let fold = |s: &str| {
            if purl.kind == "pypi" {
                s.to_ascii_lowercase().replace(['_', '.'], "-")
            } else {
                s.to_owned()
            }
        };
        names(&purl).iter().any(|n| fold(n) == fold(name))
    };
    if let Some(theirs) = package.purl.as_deref().and_then(Purl::parse) {
        return theirs.kind == purl.kind
            && (theirs.namespace.is_none() || theirs.namespace == purl.namespace)
            && same_name(&theirs.name);
    }
    let Some((kind, namespace, _)) = ecosystem(&package.ecosystem) else {
        return false;
    };
    kind == purl.kind
        && namespace.is_none_or(|ns| {
            purl.namespace
                .as_deref()
                .is_none_or(|theirs| theirs.eq_ignore_ascii_case(ns))
        })
        && same_release(&package.ecosystem, &purl)
        && same_name(&package.name)
}

/// Whether the release an ecosystem names (`Debian:12`, `Alpine:v3.18`) is the one of the
/// purl's `distro` qualifier (`debian-12`, `bookworm`, `alpine-3.18.4`). A purl without
/// one may be of any release, so it matches.
fn same_release(ecosystem: &str, purl: &Purl) -> bool {
    let Some(release) = ecosystem
        .split_once(':')
        .map(|(_, r)| r.trim_start_matches('v'))
    else {
        return true;
    };
    let Some(distro) = purl.qualifiers.get("distro") else {
        return true;
    };
    let distro = distro.rsplit('-').next().unwrap_or_default();
    let distro = DEBIAN_CODENAMES
        .iter()
        .find(|(name, _)| *name == distro)
        .map_or(distro, |(_, number)| number);
    distro == release || distro.starts_with(&format!("{release}."))
}

/// That a version is affected, and the version that fixes it when the advisory names one.
struct Hit {
    fixed: Option<String>,
}

/// Whether `version` of `package` is affected by `a`.
fn affects(a: &Affected, package: &Package, version: &str) -> Option<Hit> {
    let ecosystem_order = ecosystem(&package.ecosystem).and_then(|(_, _, order)| order);
    let listed = a.versions.iter().any(|v| v == version);
    let mut fixed_of_listed = None;
    for range in &a.ranges {
        let order = match range.kind.as_str() {
            "SEMVER" => Order::Semver,
            "ECOSYSTEM" => match ecosystem_order {
                Some(order) => order,
                None => continue,
            },
            _ => continue,
        };
        let fixed = first_fix(range, order, version);
        if in_range(range, order, version) {
            return Some(Hit { fixed });
        }
        fixed_of_listed = fixed_of_listed.or(fixed);
    }
    listed.then_some(Hit {
        fixed: fixed_of_listed,
    })
}

fn compare(order: Order, a: &str, b: &str) -> Option<Ordering> {
    match order {
        Order::Debian => Some(
            DebianVersion::parse(a)
                .ok()?
                .cmp(&DebianVersion::parse(b).ok()?),
        ),
        Order::Alpine => Some(
            AlpineVersion::parse(a)
                .ok()?
                .cmp(&AlpineVersion::parse(b).ok()?),
        ),
        Order::Semver => {
            let semver = |s: &str| paks_types::Version::parse(s.trim_start_matches('v')).ok();
            Some(semver(a)?.cmp(&semver(b)?))
        }
    }
}

/// The OSV evaluation of one range: the events are ordered by version and the last one
/// at or below `version` decides (`introduced` opens, `fixed` closes at its version,
/// `last_affected` just after it); `limit`s, where given, bound the range from above.
/// `introduced: "0"` is below every version. Events whose version does not parse are
/// ignored, and a `version` that does not parse is not affected.
fn in_range(range: &Range, order: Order, version: &str) -> bool {
    let cmp = |bound: &str| compare(order, bound, version);
    if compare(order, version, version).is_none() {
        return false;
    }
    // The deciding event so far: its bound (`None` for "0") and whether it opens.
    let mut decider: Option<(Option<&str>, bool)> = None;
    let later = |new: Option<&str>, opens: bool, old: Option<(Option<&str>, bool)>| match old {
        None => true,
        Some((old, old_opens)) => match (new, old) {
            (None, None) => !opens && old_opens,
            (None, Some(_)) => false,
            (Some(_), None) => true,
            (Some(n), Some(o)) => match compare(order, n, o) {
                Some(Ordering::Greater) => true,
                // At the same version, a close wins over an open.
                Some(Ordering::Equal) => !opens && old_opens,
                _ => false,
            },
        },
    };
    for e in &range.events {
        let candidate = if let Some(v) = e.introduced.as_deref() {
            let bound = (v != "0").then_some(v);
            let applies = bound.is_none_or(|b| cmp(b).is_some_and(Ordering::is_le));
            applies.then_some((bound, true))
        } else if let Some(v) = e.fixed.as_deref() {
            cmp(v)
                .is_some_and(Ordering::is_le)
                .then_some((Some(v), false))
        } else if let Some(v) = e.last_affected.as_deref() {
            cmp(v)
                .is_some_and(Ordering::is_lt)
                .then_some((Some(v), false))
        } else {
            None
        };
        if let Some((bound, opens)) = candidate
            && later(bound, opens, decider)
        {
            decider = Some((bound, opens));
        }
    }
    let limits: Vec<&str> = range
        .events
        .iter()
        .filter_map(|e| e.limit.as_deref())
        .collect();
    let below_a_limit = limits.is_empty()
        || limits
            .iter()
            .any(|l| *l == "*" || cmp(l) == Some(Ordering::Greater));
    decider.is_some_and(|(_, opens)| opens) && below_a_limit
}

/// The lowest `fixed` of `range` above `version`.
fn first_fix(range: &Range, order: Order, version: &str) -> Option<String> {
    range
        .events
        .iter()
        .filter_map(|e| e.fixed.as_deref())
        .filter(|f| compare(order, f, version) == Some(Ordering::Greater))
        .min_by(|a, b| compare(order, a, b).unwrap_or(Ordering::Equal))
        .map(str::to_owned)
}
