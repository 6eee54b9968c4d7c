//! The host profile: what a package build needs to know about the machine it will run on.
//!
//! A [`HostProfile`] is plain data (rattler's virtual packages are the model): detected once
//! with [`HostProfile::detect`], serialisable as JSON, and overridable from a file named by
//! `PAKS_HOST_PROFILE` ([`HostProfile::from_env`]), so that a test or a user can resolve
//! for "a host with glibc 2.17 and `x86_64_v2`" on any machine.
//!
//! Detection never fails as a whole: a part that cannot be detected is `None` (or, for
//! `targets`, as much as is known).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use archspec::cpu::Microarchitecture;
use paks_types::Platform;
use semver::Version;
use serde::{Deserialize, Deserializer, Serialize};

/// The environment variable naming a JSON host profile that overrides detection.
pub const HOST_PROFILE_ENV: &str = "PAKS_HOST_PROFILE";

/// What paks knows about a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostProfile {
    /// The operating system, as OCI platforms name it (`linux`).
    pub os: String,
    /// The CPU architecture, as OCI platforms name it (`amd64`, `arm64`).
    pub arch: String,
    /// The CPU microarchitecture, as archspec names it (`skylake_avx512`, `zen3`,
    /// `neoverse_n1`); `None` when it could not be detected.
    pub microarch: Option<String>,
    /// Every microarchitecture target this host can run, best first: the exact
    /// microarchitecture, then the specific ones it descends from (most derived first), then
    /// the generic levels from highest to lowest (`x86_64_v4` … `x86_64`; `aarch64`).
    pub targets: Vec<String>,
    /// The C library's version when it is glibc (`2.36.0` for glibc 2.36); `None` when the
    /// host has no glibc or it could not be found.
    pub glibc: Option<Version>,
}

/// Errors from loading a host profile.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read the host profile")]
    Read(#[source] std::io::Error),
    #[error("invalid host profile `{}`", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A profile file: every field optional. An absent field takes the detected value; `null`
/// (for `microarch` and `glibc`) means "this host has none".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialProfile {
    os: Option<String>,
    arch: Option<String>,
    #[serde(default, deserialize_with = "given")]
    microarch: Field<String>,
    targets: Option<Vec<String>>,
    #[serde(default, deserialize_with = "given")]
    glibc: Field<Version>,
}

/// An optional field of a profile file: absent, or given (possibly as `null`).
#[derive(Debug, Default)]
enum Field<T> {
    #[default]
    Absent,
    Given(Option<T>),
}

impl<T> Field<T> {
    fn or(self, detected: Option<T>) -> Option<T> {
        match self {
            Self::Absent => detected,
            Self::Given(v) => v,
        }
    }
}

fn given<'de, D, T>(d: D) -> Result<Field<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Field::Given)
}

impl HostProfile {
    /// Detects this host. Parts that cannot be detected are `None`.
    pub fn detect() -> Self {
        let platform = Platform::host();
        let (microarch, targets) = match archspec::cpu::host() {
            Ok(m) => (Some(m.name().to_owned()), targets_of(&m)),
            // Unknown CPU: the architecture's generic root still runs.
            Err(_) => (
                None,
                generic_root(&platform.architecture).into_iter().collect(),
            ),
        };
        Self {
            os: platform.os,
            arch: platform.architecture,
            microarch,
            targets,
            glibc: detect_glibc(),
        }
    }

    /// Loads a profile from a JSON file. Any field may be omitted and then takes the detected
    /// value, so a partial profile overrides detection. When `microarch` is given without
    /// `targets`, the targets are derived from it (archspec's ancestors); when `arch` is
    /// given and differs from this host's, the detected microarchitecture is not used.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = fs_err::read_to_string(path).map_err(HostError::Read)?;
        let partial: PartialProfile =
            serde_json::from_str(&text).map_err(|source| HostError::Parse {
                path: path.to_owned(),
                source,
            })?;
        Ok(partial.over(Self::detect()))
    }

    /// The profile named by `PAKS_HOST_PROFILE` if it is set (and not empty), else the
    /// detected one.
    pub fn from_env() -> Result<Self, HostError> {
        match std::env::var_os(HOST_PROFILE_ENV) {
            Some(path) if !path.is_empty() => Self::load(Path::new(&path)),
            _ => Ok(Self::detect()),
        }
    }

    /// The targets a host of microarchitecture `name` can run, best first (see
    /// [`HostProfile::targets`]); `None` if archspec does not know the name.
    pub fn targets_for(name: &str) -> Option<Vec<String>> {
        Microarchitecture::known_targets()
            .get(name)
            .map(|m| targets_of(m))
    }

    /// This host as an OCI platform. `arm64` hosts get the variant `v8`, which every arm64
    /// CPU runs, so builds published as `linux/arm64/v8` match; other architectures get no
    /// variant.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.arch.clone(),
            variant: (self.arch == "arm64").then(|| "v8".to_owned()),
        }
    }

    /// Whether a build for microarchitecture `target` runs here, and how well: the rank of
    /// the target in [`HostProfile::targets`] (0 = best), or `None` if it cannot run.
    ///
    /// A build without a target (a baseline build) runs on every host of its architecture
    /// and ranks after every named target: `Some(targets.len())`. The architecture itself
    /// is not checked here; compare platforms for that.
    pub fn can_run_target(&self, target: Option<&str>) -> Option<usize> {
        match target {
            None => Some(self.targets.len()),
            Some(t) => self.targets.iter().position(|have| have == t),
        }
    }

    /// Whether a build that needs glibc `required` or newer runs here. A build that needs
    /// none always does. When this host's glibc is unknown, it is assumed to be new enough:
    /// an unknown host is more likely a detection gap than a musl system running glibc
    /// builds, and refusing would make every glibc build uninstallable.
    pub fn glibc_ok(&self, required: Option<&Version>) -> bool {
        match (required, &self.glibc) {
            (Some(required), Some(have)) => have >= required,
            _ => true,
        }
    }

    /// A short description for messages: `x86_64_v3, glibc 2.28`.
    pub fn summary(&self) -> String {
        let cpu = self.microarch.as_deref().unwrap_or(&self.arch);
        match &self.glibc {
            Some(v) => format!("{cpu}, glibc {}", glibc_text(v)),
            None => format!("{cpu}, glibc unknown"),
        }
    }
}

/// A glibc version as glibc writes it: `2.17` for `2.17.0`.
pub fn glibc_text(v: &Version) -> String {
    if v.patch == 0 && v.pre.is_empty() {
        format!("{}.{}", v.major, v.minor)
    } else {
        v.to_string()
    }
}

/// Parses a glibc version string (`2.36`, `2.28.9000`) into a semver version.
pub fn parse_glibc(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    parts
        .next()
        .is_none()
        .then(|| Version::new(major, minor, patch))
}

impl PartialProfile {
    fn over(self, detected: HostProfile) -> HostProfile {
        let arch = self.arch.unwrap_or_else(|| detected.arch.clone());
        let same_arch = arch == detected.arch;
        // The detected cpu says nothing about another architecture.
        let microarch_changed = matches!(self.microarch, Field::Given(_)) || !same_arch;
        let microarch = self
            .microarch
            .or(if same_arch { detected.microarch } else { None });
        let targets = match self.targets {
            Some(t) => t,
            None if microarch_changed => match &microarch {
                Some(m) => HostProfile::targets_for(m).unwrap_or_else(|| vec![m.clone()]),
                None => generic_root(&arch).into_iter().collect(),
            },
            None => detected.targets,
        };
        HostProfile {
            os: self.os.unwrap_or(detected.os),
            arch,
            microarch,
            targets,
            glibc: self.glibc.or(detected.glibc),
        }
    }
}

fn targets_of(m: &Microarchitecture) -> Vec<String> {
    // Specific ancestors (zen3 for a zen4) before generic levels; within each group the most
    // derived first. archspec's own ancestor order is breadth-first, not by quality.
    let mut ancestors: Vec<&Arc<Microarchitecture>> = m.ancestors().iter().collect();
    ancestors.sort_by_key(|a| {
        (
            a.vendor() == "generic",
            std::cmp::Reverse(a.ancestors().len()),
            a.name().to_owned(),
        )
    });
    std::iter::once(m.name().to_owned())
        .chain(ancestors.into_iter().map(|a| a.name().to_owned()))
        .collect()
}

/// The archspec root of an OCI architecture (`amd64` → `x86_64`), which every CPU of that
/// architecture runs; `None` if archspec does not know it.
fn generic_root(oci_arch: &str) -> Option<String> {
    let name = match oci_arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    Microarchitecture::known_targets()
        .contains_key(name)
        .then(|| name.to_owned())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn detect_glibc() -> Option<Version> {
    // SAFETY: `gnu_get_libc_version` takes no arguments and returns a pointer to a static,
    // NUL-terminated string owned by glibc, valid for the life of the process.
    #[allow(
        unsafe_code,
        reason = "the one FFI call glibc offers for its own version"
    )]
    let text = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    parse_glibc(text.to_str().ok()?)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn detect_glibc() -> Option<Version> {
    // A static (musl) paks binary may still run on a glibc host: ask glibc's getconf.
    let out = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    parse_glibc(text.trim().strip_prefix("glibc ")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> HostProfile {
        HostProfile {
            os: "linux".into(),
            arch: "amd64".into(),
            microarch: Some("x86_64_v2".into()),
            targets: vec!["x86_64_v2".into(), "x86_64".into()],
            glibc: Some(Version::new(2, 17, 0)),
        }
    }

    #[test]
    fn ranks_targets_and_baseline() {
        let h = fake();
        assert_eq!(h.can_run_target(Some("x86_64_v2")), Some(0));
        assert_eq!(h.can_run_target(Some("x86_64")), Some(1));
        assert_eq!(h.can_run_target(None), Some(2));
        assert_eq!(h.can_run_target(Some("x86_64_v3")), None);
        assert_eq!(h.can_run_target(Some("zen3")), None);
    }

    #[test]
    fn glibc_checks() {
        let mut h = fake();
        assert!(h.glibc_ok(None));
        assert!(h.glibc_ok(Some(&Version::new(2, 17, 0))));
        assert!(h.glibc_ok(Some(&Version::new(2, 12, 0))));
        assert!(!h.glibc_ok(Some(&Version::new(2, 28, 0))));
        h.glibc = None;
        assert!(
            h.glibc_ok(Some(&Version::new(2, 99, 0))),
            "unknown glibc is assumed ok"
        );
        assert_eq!(fake().summary(), "x86_64_v2, glibc 2.17");
    }

    #[test]
    fn parses_glibc_versions() {
        assert_eq!(parse_glibc("2.36"), Some(Version::new(2, 36, 0)));
        assert_eq!(parse_glibc("2.28.9000\n"), Some(Version::new(2, 28, 9000)));
        assert_eq!(parse_glibc("2"), Some(Version::new(2, 0, 0)));
        assert_eq!(parse_glibc("x.1"), None);
        assert_eq!(parse_glibc("1.2.3.4"), None);
    }

    #[test]
    fn targets_are_ordered_best_first() {
        let t = HostProfile::targets_for("zen3").unwrap();
        assert_eq!(t[0], "zen3");
        assert!(t.contains(&"zen2".to_owned()) && t.contains(&"zen".to_owned()));
        let generic: Vec<&str> = t
            .iter()
            .map(String::as_str)
            .filter(|n| n.starts_with("x86_64"))
            .collect();
        assert_eq!(generic, ["x86_64_v3", "x86_64_v2", "x86_64"]);
        // Specific ancestors come before the generic levels, most derived first.
        let pos = |n: &str| t.iter().position(|x| x == n).unwrap();
        assert!(pos("zen2") < pos("zen") && pos("zen") < pos("x86_64_v3"));
        assert_eq!(
            HostProfile::targets_for("neoverse_n1")
                .unwrap()
                .last()
                .unwrap(),
            "aarch64"
        );
        assert_eq!(HostProfile::targets_for("no-such-cpu"), None);
    }

    #[test]
    fn json_round_trip() {
        let h = fake();
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.contains(r#""glibc":"2.17.0""#), "{json}");
        assert_eq!(serde_json::from_str::<HostProfile>(&json).unwrap(), h);
    }

    #[test]
    fn partial_profile_overrides_detection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        std::fs::write(&path, r#"{"microarch": "x86_64_v2", "glibc": "2.17.0"}"#).unwrap();
        let h = HostProfile::load(&path).unwrap();
        let detected = HostProfile::detect();
        assert_eq!(h.os, detected.os);
        assert_eq!(h.arch, detected.arch);
        assert_eq!(h.microarch.as_deref(), Some("x86_64_v2"));
        assert_eq!(h.targets, ["x86_64_v2", "x86_64"]);
        assert_eq!(h.glibc, Some(Version::new(2, 17, 0)));

        std::fs::write(&path, r#"{"glibc": null, "targets": ["x86_64"]}"#).unwrap();
        let h = HostProfile::load(&path).unwrap();
        assert_eq!(h.glibc, None);
        assert_eq!(h.targets, ["x86_64"]);
        assert_eq!(h.microarch, detected.microarch);

        std::fs::write(&path, r#"{"arch": "arm64"}"#).unwrap();
        let h = HostProfile::load(&path).unwrap();
        if detected.arch != "arm64" {
            assert_eq!(h.microarch, None, "a foreign arch drops the detected cpu");
            assert_eq!(h.targets, ["aarch64"]);
            assert_eq!(h.platform().to_string(), "linux/arm64/v8");
        }
        std::fs::write(&path, r#"{"arch": "arm64", "microarch": "neoverse_n1"}"#).unwrap();
        let h = HostProfile::load(&path).unwrap();
        assert_eq!(h.targets.first().map(String::as_str), Some("neoverse_n1"));
        assert_eq!(h.targets.last().map(String::as_str), Some("aarch64"));

        std::fs::write(&path, r#"{"glbc": "2.17.0"}"#).unwrap();
        let err = HostProfile::load(&path).unwrap_err();
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            text.contains("host.json") && text.contains("unknown field `glbc`"),
            "{text}"
        );
    }

    #[test]
    fn detects_this_host() {
        let h = HostProfile::detect();
        assert_eq!(h.os, std::env::consts::OS);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(h.arch, "amd64");
            let m = h.microarch.as_deref().expect("archspec knows this cpu");
            assert_eq!(h.targets.first().map(String::as_str), Some(m));
            assert_eq!(h.targets.last().map(String::as_str), Some("x86_64"));
            assert!(
                h.targets.contains(&"x86_64_v2".to_owned()),
                "{:?}",
                h.targets
            );
            assert_eq!(h.can_run_target(Some(m)), Some(0));
        }
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_matches_ldd() {
        let out = std::process::Command::new("ldd")
            .arg("--version")
            .output()
            .expect("ldd runs");
        let first = String::from_utf8(out.stdout).unwrap();
        // `ldd (Debian GLIBC 2.36-9+deb12u14) 2.36`: the version is the last word.
        let word = first
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        assert_eq!(HostProfile::detect().glibc, parse_glibc(word), "{first}");
        assert!(HostProfile::detect().glibc.unwrap() >= Version::new(2, 17, 0));
    }
}
