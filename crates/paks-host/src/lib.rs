//! The host profile: what a package build needs to know about the machine it will run on.
//!
//! A [`HostProfile`] is plain data (rattler's virtual packages are the model): detected once
//! with [`HostProfile::detect`], serialisable as JSON, and overridable from a file named by
//! `PAKS_HOST_PROFILE` ([`HostProfile::from_env`]), so that a test or a user can resolve
//! for "a host with glibc 2.17 and `x86_64_v2`", or "a host with Open MPI 4.1 and CUDA
//! 12.2", on any machine.
//!
//! Detection never fails as a whole, and needs no vendor tool: it reads files (`/proc`,
//! `/sys`, `/etc/os-release`, the linker cache, ELF headers of a few libraries). A part that
//! cannot be detected is `None`, or [`Detected::Unknown`] with the reason.

mod detect;
mod detected;
mod partial;
mod parts;
mod summary;

use std::path::{Path, PathBuf};

use paks_types::Platform;
use semver::Version;
use serde::{Deserialize, Serialize};

pub use detect::glibc::{glibc_text, parse_glibc};
pub use detected::Detected;
pub use parts::{ContainerInfo, Gpu, MpiFamily, MpiInstall};

/// The environment variable naming a JSON host profile that overrides detection.
pub const HOST_PROFILE_ENV: &str = "PAKS_HOST_PROFILE";

/// What paks knows about a host.
///
/// `Default` is the profile that knows nothing (empty names, every part unknown): with
/// struct update syntax, it lets a test spell out only what matters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// CPU feature flags, sorted: archspec's for the microarchitecture (with its
    /// ancestors'), or the flags of `/proc/cpuinfo` when archspec does not know the CPU.
    #[serde(default)]
    pub features: Vec<String>,
    /// The kernel release (`uname -r`: `6.1.0-18-amd64`).
    #[serde(default)]
    pub kernel: Detected<String>,
    /// The distribution, as `/etc/os-release` names it (`PRETTY_NAME`).
    #[serde(default)]
    pub distro: Detected<String>,
    /// The dynamic loader (`/lib64/ld-linux-x86-64.so.2`).
    #[serde(default)]
    pub loader: Detected<String>,
    /// The newest `GLIBCXX_3.4.N` that the host's `libstdc++.so.6` defines, as `3.4.N`.
    #[serde(default)]
    pub libstdcxx: Detected<Version>,
    /// The MPI libraries found (known and empty when there are none).
    #[serde(default)]
    pub mpi: Detected<Vec<MpiInstall>>,
    /// The GPUs, one entry per vendor (known and empty when there are none).
    #[serde(default)]
    pub gpus: Detected<Vec<Gpu>>,
    /// The container paks runs in, and its CPU and memory limits.
    #[serde(default)]
    pub container: Detected<ContainerInfo>,
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

impl HostProfile {
    /// Detects this host. Parts that cannot be detected are `None` or
    /// [`Detected::Unknown`].
    pub fn detect() -> Self {
        partial::PartialProfile::default().resolve()
    }

    /// Loads a profile from a JSON file. Any field may be omitted and then takes the detected
    /// value (only absent fields are detected), so a partial profile overrides detection.
    /// When `microarch` is given without `targets` or `features`, they are derived from it
    /// (archspec); when `arch` is given and differs from this host's, the detected
    /// microarchitecture is not used, and the parts not given (kernel, libraries, GPUs, …)
    /// are unknown. A part that may be unknown is given as `{"known": …}`,
    /// `{"unknown": "why"}`, or just its value.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = fs_err::read_to_string(path).map_err(HostError::Read)?;
        let partial: partial::PartialProfile =
            serde_json::from_str(&text).map_err(|source| HostError::Parse {
                path: path.to_owned(),
                source,
            })?;
        Ok(partial.resolve())
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
        detect::cpu::known(name).map(|m| detect::cpu::targets_of(m))
    }

    /// The generic microarchitecture every CPU of OCI architecture `arch` runs (`amd64` →
    /// `x86_64`, `arm64` → `aarch64`); `None` if archspec does not know it.
    pub fn generic_target(arch: &str) -> Option<String> {
        detect::cpu::generic_root(arch)
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
            ..HostProfile::default()
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

    /// A host with Open MPI 4.1 and CUDA 12.2, on any machine.
    const HPC_HOST: &str = r#"{
        "microarch": "zen3",
        "glibc": "2.28.0",
        "kernel": "4.18.0-513.el8.x86_64",
        "distro": {"known": "Rocky Linux 8.9 (Green Obsidian)"},
        "loader": {"unknown": "not given"},
        "libstdcxx": "3.4.25",
        "mpi": [{"family": "openmpi", "version": "4.1.5", "abi": "openmpi",
                 "library": "/usr/lib64/openmpi/lib/libmpi.so.40", "soname": "libmpi.so.40"}],
        "gpus": {"known": [{"vendor": "nvidia", "driver": "535.104.05", "cuda": "12.2", "devices": 4}]},
        "container": {"runtime": null, "cpu_limit": null, "memory_limit": null}
    }"#;

    #[test]
    fn partial_profile_fakes_every_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        std::fs::write(&path, HPC_HOST).unwrap();
        let h = HostProfile::load(&path).unwrap();
        assert_eq!(h.kernel.known().unwrap(), "4.18.0-513.el8.x86_64");
        assert_eq!(
            h.distro.known().unwrap(),
            "Rocky Linux 8.9 (Green Obsidian)"
        );
        assert_eq!(h.loader, Detected::Unknown("not given".into()));
        assert_eq!(h.libstdcxx, Detected::Known(Version::new(3, 4, 25)));
        let mpi = h.mpi.known().unwrap();
        assert_eq!(
            (mpi[0].family, mpi[0].version.as_deref()),
            (MpiFamily::OpenMpi, Some("4.1.5"))
        );
        assert_eq!(h.gpus.known().unwrap()[0].cuda.as_deref(), Some("12.2"));
        assert_eq!(h.container, Detected::Known(ContainerInfo::default()));
        // Features follow the given microarchitecture, not this host's CPU.
        assert!(
            h.features.contains(&"avx2".to_owned()) && !h.features.contains(&"avx512f".to_owned())
        );
        assert_eq!(
            h.summary_lines()[3],
            "MPI: Open MPI 4.1.5 (openmpi ABI, /usr/lib64/openmpi/lib/libmpi.so.40)"
        );
        assert_eq!(
            h.summary_lines()[4],
            "GPU: 4 nvidia (driver 535.104.05, CUDA 12.2)"
        );

        // Absent parts are detected; a typo is refused with the field's name.
        std::fs::write(&path, r#"{"gpus": []}"#).unwrap();
        let h = HostProfile::load(&path).unwrap();
        assert_eq!(h.gpus, Detected::Known(vec![]));
        assert_eq!(h.kernel, HostProfile::detect().kernel);
        std::fs::write(
            &path,
            r#"{"gpus": [{"vendor": "nvidia", "cude": "12.2", "devices": 1}]}"#,
        )
        .unwrap();
        let err = HostProfile::load(&path).unwrap_err();
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains("unknown field `cude`"), "{text}");

        // Another architecture's host does not get this one's libraries.
        std::fs::write(&path, r#"{"arch": "riscv64", "kernel": "6.6.0"}"#).unwrap();
        let h = HostProfile::load(&path).unwrap();
        if HostProfile::detect().arch != "riscv64" {
            assert!(
                h.mpi.reason().unwrap().contains("not riscv64"),
                "{:?}",
                h.mpi
            );
            assert_eq!(h.kernel.known().unwrap(), "6.6.0");
            assert!(h.features.is_empty());
        }
    }

    #[test]
    fn json_round_trip_with_unknown_parts() {
        let mut h = fake();
        h.kernel = Detected::Known("6.1.0-18-amd64".into());
        h.gpus = Detected::Unknown("permission denied".into());
        h.container = Detected::Known(ContainerInfo {
            runtime: Some("docker".into()),
            cpu_limit: Some(1.5),
            memory_limit: Some(1 << 30),
        });
        let json = serde_json::to_string(&h).unwrap();
        assert!(
            json.contains(r#""gpus":{"unknown":"permission denied"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""distro":{"unknown":"not detected"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<HostProfile>(&json).unwrap(), h);
        // A profile written before these parts existed still reads.
        let old =
            r#"{"os":"linux","arch":"amd64","microarch":null,"targets":["x86_64"],"glibc":null}"#;
        let h = serde_json::from_str::<HostProfile>(old).unwrap();
        assert_eq!(h.kernel, Detected::default());
        assert!(h.features.is_empty());
    }

    #[test]
    fn summary_lines_say_what_is_unknown() {
        let mut h = fake();
        h.mpi = Detected::Known(vec![]);
        h.container = Detected::Known(ContainerInfo {
            runtime: Some("docker".into()),
            cpu_limit: Some(2.0),
            memory_limit: Some(4 << 30),
        });
        assert_eq!(
            h.summary_lines(),
            [
                "OS: linux/amd64, distribution unknown (not detected), kernel unknown (not detected)",
                "CPU: x86_64_v2 (targets x86_64_v2, x86_64), features: 0",
                "glibc: 2.17, libstdc++: unknown (not detected), loader: unknown (not detected)",
                &format!("MPI: none found (searched {})", detect::mpi::SEARCHED),
                "GPU: unknown (not detected)",
                "Container: docker, CPU limit 2, memory limit 4.0 GiB",
            ]
        );
    }

    #[test]
    fn detects_every_part_of_this_host() {
        let h = HostProfile::detect();
        for line in h.summary_lines() {
            eprintln!("{line}");
        }
        assert!(h.kernel.is_known() && h.loader.is_known() && h.container.is_known());
        assert!(
            h.mpi.is_known() && h.gpus.is_known(),
            "{:?} {:?}",
            h.mpi,
            h.gpus
        );
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(h.libstdcxx.is_known(), "{:?}", h.libstdcxx);
            assert!(!h.features.is_empty());
        }
    }
}
