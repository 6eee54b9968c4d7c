//! "Will it run here, and well?": a report judged against a host profile.

use std::path::PathBuf;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::elf::{self, oci_arch};
use crate::isa::IsaLevel;
use crate::report::ImageReport;
use crate::source::best_level;
use paks_host::{Detected, HostProfile, MpiInstall};

/// The label (or annotation) listing the tuned builds of an image that exist elsewhere:
/// comma-separated x86-64 levels or archspec targets (`x86-64-v3,x86-64-v4`).
pub const LABEL_TUNED: &str = "io.paks.tuned";

/// How well an image runs on a host; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Runs,
    RunsNotOptimally,
    WillNotRun,
}

/// One finding: how bad it is, and what it is, naming the binary and the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub status: Status,
    pub message: String,
}

/// The verdict: the worst status among the reasons (`Runs` when there are none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    pub reasons: Vec<Reason>,
}

impl Verdict {
    /// The verdict of `reasons`: the worst of their statuses.
    pub fn from_reasons(reasons: Vec<Reason>) -> Self {
        Self {
            status: reasons
                .iter()
                .map(|r| r.status)
                .max()
                .unwrap_or(Status::Runs),
            reasons,
        }
    }
}

pub(crate) fn reason(status: Status, message: impl Into<String>) -> Reason {
    Reason {
        status,
        message: message.into(),
    }
}

/// A version as glibc writes it: `2.34` for `2.34.0`.
pub(crate) fn short(v: &Version) -> String {
    paks_host::glibc_text(v)
}

/// ` (and N more)` when N > 0.
fn more(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" (and {n} more)")
    }
}

/// Whether code for ELF machine `machine` runs on an OCI architecture.
fn machine_runs_on(machine: &str, arch: &str) -> bool {
    oci_arch(machine) == arch || (machine == "i386" && arch == "amd64")
}

/// Judge `report` against `host`; a package build as a package (see
/// [`crate::package::compat`]).
///
/// Will not run: another OS or architecture (the config's, or a binary's machine); a
/// binary needs a `GLIBC_` version above the image's glibc (the host's when the image has
/// none), a `GLIBCXX_` version above the image's `libstdc++` (else the host's), or an
/// x86-64 level above the host's best generic level; an executable needs a soname or an
/// interpreter nothing provides; the image needs a newer CUDA major version than the
/// host's driver.
///
/// Runs not optimally: built for a lower x86-64 level than the host runs; a tuned build
/// the host could run exists (another variant in the index, or [`LABEL_TUNED`]); the image
/// links an MPI ABI the host has no install of; it links CUDA and the host has no NVIDIA
/// GPU, or a driver of the same major but an older minor CUDA version.
pub fn compat(report: &ImageReport, host: &HostProfile) -> Verdict {
    if let Some(meta) = &report.package {
        return crate::package::compat(meta, report, host);
    }
    let mut reasons = Vec::new();
    let s = &report.summary;

    // Platform.
    if let Some(p) = &report.platform {
        let mut parts = p.split('/');
        let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if os != host.os || arch != host.arch {
            reasons.push(reason(
                Status::WillNotRun,
                format!(
                    "the image is for `{p}`; this host is `{}/{}`",
                    host.os, host.arch
                ),
            ));
            return Verdict::from_reasons(reasons);
        }
    }
    for machine in s.machines.keys() {
        if !machine_runs_on(machine, &host.arch) {
            let mut foreign = report.binaries.iter().filter(|b| &b.machine == machine);
            let first = foreign.next().map(|b| b.path.clone()).unwrap_or_default();
            reasons.push(reason(
                Status::WillNotRun,
                format!(
                    "`{first}`{} is {machine} code; this host is `{}`",
                    more(foreign.count()),
                    host.arch
                ),
            ));
        }
    }

    glibc_reasons(report, host, &mut reasons);
    isa_reasons(report, host, &mut reasons);
    missing_reasons(report, host, &mut reasons);
    gpu_mpi_reasons(report, host, &mut reasons);
    Verdict::from_reasons(reasons)
}

fn glibc_reasons(report: &ImageReport, host: &HostProfile, reasons: &mut Vec<Reason>) {
    let s = &report.summary;
    if let Some(req) = &s.glibc_required {
        let have = match (&s.image_glibc, &host.glibc) {
            (Some(v), _) => Some((v, "the image's glibc")),
            (None, Some(v)) => Some((v, "the image has no glibc, and the host's")),
            (None, None) => None,
        };
        if let Some((have, whose)) = have
            && req.version > *have
        {
            let others = report
                .binaries
                .iter()
                .filter(|b| b.defines_glibc.is_none() && b.glibc.as_ref().is_some_and(|v| v > have))
                .count()
                .saturating_sub(1);
            reasons.push(reason(
                Status::WillNotRun,
                format!(
                    "`{}`{} needs GLIBC_{}; {whose} is {}",
                    req.binary,
                    more(others),
                    short(&req.version),
                    short(have)
                ),
            ));
        }
    }
    if let Some(req) = &s.glibcxx_required {
        let have = match (&s.image_glibcxx, host.libstdcxx.known()) {
            (Some(v), _) => Some((v, "the image's libstdc++ offers")),
            (None, Some(v)) => Some((v, "the image has no libstdc++, and the host's offers")),
            (None, None) => None,
        };
        if let Some((have, whose)) = have
            && req.version > *have
        {
            reasons.push(reason(
                Status::WillNotRun,
                format!(
                    "`{}` needs GLIBCXX_{}; {whose} up to GLIBCXX_{}",
                    req.binary, req.version, have
                ),
            ));
        }
    }
}

/// The best tuned build the labels, annotations or index offer that the host runs and
/// that is better than `level`: its level and where it was seen.
fn tuned_offer(
    report: &ImageReport,
    host: &HostProfile,
    level: IsaLevel,
    host_level: IsaLevel,
) -> Option<String> {
    let mut offers: Vec<(IsaLevel, String)> = Vec::new();
    for alt in &report.alternatives {
        if let Some(l) = alt.rsplit('/').next().and_then(IsaLevel::parse)
            && alt.split('/').nth(2).is_some()
        {
            offers.push((l, format!("`{alt}` in the index")));
        }
    }
    for (map, what) in [
        (&report.labels, "label"),
        (&report.annotations, "annotation"),
    ] {
        if let Some(value) = map.get(LABEL_TUNED) {
            for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if let Some(l) = IsaLevel::parse(t) {
                    offers.push((l, format!("`{t}` in the `{LABEL_TUNED}` {what}")));
                } else if host.targets.iter().any(|h| h == t) {
                    // A microarchitecture build the host runs beats every generic level.
                    offers.push((IsaLevel::V4, format!("`{t}` in the `{LABEL_TUNED}` {what}")));
                }
            }
        }
    }
    offers
        .into_iter()
        .filter(|(l, _)| *l > level && *l <= host_level)
        .max_by_key(|(l, _)| *l)
        .map(|(_, what)| what)
}

fn isa_reasons(report: &ImageReport, host: &HostProfile, reasons: &mut Vec<Reason>) {
    let (Some(isa), Some(host_level)) = (&report.summary.isa, best_level(&host.targets)) else {
        return;
    };
    if host.arch != "amd64" {
        return;
    }
    let too_high: Vec<_> = report
        .binaries
        .iter()
        .filter_map(|b| Some((b, b.isa.as_ref()?)))
        .filter(|(_, i)| i.is_required() && i.level > host_level)
        .collect();
    if let Some((b, i)) = too_high.iter().max_by_key(|(_, i)| i.level) {
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "`{}`{} needs {} ({}); this host runs up to {host_level}",
                b.path,
                more(too_high.len() - 1),
                i.level,
                i.source.as_str()
            ),
        ));
        return;
    }
    if isa.level < host_level {
        let who = match &isa.binary {
            Some(b) => format!("highest: `{b}`, {}", isa.source.as_str()),
            None => "every binary".to_owned(),
        };
        reasons.push(reason(
            Status::RunsNotOptimally,
            format!(
                "built for {} ({who}; {} of {} levels estimated); this host runs {host_level}",
                isa.level,
                isa.estimated,
                isa.estimated + isa.gnu_property
            ),
        ));
        if let Some(offer) = tuned_offer(report, host, isa.level, host_level) {
            reasons.push(reason(
                Status::RunsNotOptimally,
                format!("this generic build runs here, but a tuned build exists: {offer}"),
            ));
        }
    }
}

fn missing_reasons(report: &ImageReport, host: &HostProfile, reasons: &mut Vec<Reason>) {
    let is_exe = |path: &str| {
        report
            .binaries
            .iter()
            .any(|b| b.path == path && b.is_executable())
    };
    let host_mpi = host.mpi.known().cloned().unwrap_or_default();
    for m in &report.summary.missing {
        let exes: Vec<&String> = m.needed_by.iter().filter(|p| is_exe(p)).collect();
        let Some(first) = exes.first() else { continue };
        let hint = host_mpi
            .iter()
            .find(|i| i.soname == m.name)
            .map(|i| {
                format!(
                    " (the host's MPI has it: bind-mount `{}`)",
                    i.library.display()
                )
            })
            .unwrap_or_default();
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "`{first}`{} needs `{}`, which the image does not provide{hint}",
                more(exes.len() - 1),
                m.name
            ),
        ));
    }
    for m in &report.summary.missing_interpreters {
        let exes: Vec<&String> = m.needed_by.iter().filter(|p| is_exe(p)).collect();
        if let Some(first) = exes.first() {
            reasons.push(reason(
                Status::WillNotRun,
                format!(
                    "`{first}`{} needs the interpreter `{}`, which the image does not have",
                    more(exes.len() - 1),
                    m.name
                ),
            ));
        }
    }
}

/// `12.2` → (12, 2).
fn cuda_version(v: &str) -> Option<(u64, u64)> {
    let mut parts = v.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

fn is_nvidia(vendor: &str) -> bool {
    vendor.eq_ignore_ascii_case("nvidia") || vendor == "10de"
}

/// The CUDA need against one driver's CUDA version, if both are known.
fn cuda_against(need: &str, driver: &str) -> Option<Reason> {
    let (n, d) = (cuda_version(need)?, cuda_version(driver)?);
    Some(if n.0 > d.0 {
        reason(
            Status::WillNotRun,
            format!("the image needs CUDA {need}; the host's driver supports CUDA {driver}"),
        )
    } else if n > d {
        reason(
            Status::RunsNotOptimally,
            format!(
                "the image needs CUDA {need}; the host's driver supports CUDA {driver} (minor version compatibility: features and PTX of {need} are unavailable)"
            ),
        )
    } else {
        reason(
            Status::Runs,
            format!("the image needs CUDA {need}; the host's driver supports CUDA {driver}"),
        )
    })
}

fn gpu_mpi_reasons(report: &ImageReport, host: &HostProfile, reasons: &mut Vec<Reason>) {
    let s = &report.summary;
    if let Some(cuda) = &s.cuda
        && let Some(gpus) = host.gpus.known()
    {
        let libs = cuda.libraries.join(", ");
        let nvidia: Vec<_> = gpus.iter().filter(|g| is_nvidia(&g.vendor)).collect();
        let best = nvidia
            .iter()
            .filter_map(|g| g.cuda.as_deref())
            .max_by_key(|v| cuda_version(v));
        match (nvidia.is_empty(), &cuda.version, best) {
            (true, _, _) => reasons.push(reason(
                Status::RunsNotOptimally,
                format!("the image links CUDA ({libs}); this host has no NVIDIA GPU"),
            )),
            (false, Some(need), Some(driver)) => {
                if let Some(r) = cuda_against(need, driver).filter(|r| r.status != Status::Runs) {
                    reasons.push(r);
                }
            }
            _ => {}
        }
    }
    if let Some(mpi) = &s.mpi
        && let Some(installs) = host.mpi.known()
        && !installs.iter().any(|i| i.abi == mpi.abi)
    {
        reasons.push(reason(
            Status::RunsNotOptimally,
            format!(
                "the image links the {} MPI ABI ({}); the host has no MPI of that ABI to bind-mount, so the image's own MPI is used (likely without the host's interconnect)",
                mpi.abi,
                mpi.sonames.join(", ")
            ),
        ));
    }
}

/// What a bind-mount check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindKind {
    Mpi,
    Cuda,
}

/// Whether a host library can be bind-mounted into the image in place of the image's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindCheck {
    pub kind: BindKind,
    /// The host library (an MPI install's `libmpi`); `None` for the GPU driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_library: Option<PathBuf>,
    /// `Runs`: bind-mounting works; `WillNotRun`: it does not.
    pub status: Status,
    pub reasons: Vec<Reason>,
}

impl BindCheck {
    fn new(kind: BindKind, host_library: Option<PathBuf>, reasons: Vec<Reason>) -> Self {
        let v = Verdict::from_reasons(reasons);
        Self {
            kind,
            host_library,
            status: v.status,
            reasons: v.reasons,
        }
    }
}

/// Checks for bind-mounting the host's MPI (for an image that links MPI) and its CUDA
/// driver (for an image that links CUDA).
///
/// MPI, per host install: the same ABI family as the image links; the soname the image
/// needs; the host library's own `GLIBC_` needs (read from the file) at most the image's
/// glibc. CUDA, per NVIDIA GPU: the image's CUDA version at most the driver's.
pub fn bind_mount_checks(report: &ImageReport, host: &HostProfile) -> Vec<BindCheck> {
    let mut checks = Vec::new();
    if let Some(mpi) = &report.summary.mpi {
        match host.mpi.known() {
            Some(installs) if !installs.is_empty() => {
                for install in installs {
                    checks.push(mpi_check(report, mpi, install));
                }
            }
            other => {
                let why = match (other, &host.mpi) {
                    (Some(_), _) => "the host has no MPI".to_owned(),
                    (None, Detected::Unknown(why)) => {
                        format!("the host's MPI is unknown: {why}")
                    }
                    (None, Detected::Known(_)) => unreachable!(),
                };
                checks.push(BindCheck::new(
                    BindKind::Mpi,
                    None,
                    vec![reason(Status::WillNotRun, why)],
                ));
            }
        }
    }
    if let Some(cuda) = &report.summary.cuda {
        let gpus: Vec<_> = host
            .gpus
            .known()
            .map(|g| g.iter().filter(|g| is_nvidia(&g.vendor)).collect())
            .unwrap_or_default();
        if gpus.is_empty() {
            checks.push(BindCheck::new(
                BindKind::Cuda,
                None,
                vec![reason(
                    Status::WillNotRun,
                    format!(
                        "the image links CUDA ({}); the host has no NVIDIA GPU driver to bind-mount",
                        cuda.libraries.join(", ")
                    ),
                )],
            ));
        }
        for gpu in gpus {
            let r = match (&cuda.version, &gpu.cuda) {
                (Some(need), Some(driver)) => cuda_against(need, driver),
                _ => None,
            }
            .unwrap_or_else(|| {
                reason(
                    Status::Runs,
                    "the CUDA versions are not both known; not checked",
                )
            });
            checks.push(BindCheck::new(BindKind::Cuda, None, vec![r]));
        }
    }
    checks
}

fn mpi_check(
    report: &ImageReport,
    mpi: &crate::report::MpiNeed,
    install: &MpiInstall,
) -> BindCheck {
    let lib = install.library.display();
    let mut reasons = Vec::new();
    if install.abi != mpi.abi {
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "the host's MPI `{lib}` has the {} ABI; the image links {} ({})",
                install.abi,
                mpi.abi,
                mpi.sonames.join(", ")
            ),
        ));
    } else if !mpi.sonames.contains(&install.soname) {
        reasons.push(reason(
            Status::Runs,
            format!(
                "the image needs {}; the host library is `{}`: bind-mount it under the needed name",
                mpi.sonames.join(", "),
                install.soname
            ),
        ));
    } else {
        reasons.push(reason(
            Status::Runs,
            format!("`{lib}` provides `{}`, as the image needs", install.soname),
        ));
    }
    match elf::glibc_needed_by_file(&install.library) {
        Err(e) => reasons.push(reason(
            Status::WillNotRun,
            format!("cannot read the host's MPI library `{lib}`: {e}"),
        )),
        Ok(need) => match (need, &report.summary.image_glibc) {
            (Some(need), Some(have)) if need > *have => reasons.push(reason(
                Status::WillNotRun,
                format!(
                    "`{lib}` needs GLIBC_{}; the image's glibc is {}",
                    short(&need),
                    short(have)
                ),
            )),
            (Some(need), Some(have)) => reasons.push(reason(
                Status::Runs,
                format!(
                    "`{lib}` needs GLIBC_{}; the image's glibc is {}",
                    short(&need),
                    short(have)
                ),
            )),
            (Some(_), None) => reasons.push(reason(
                Status::WillNotRun,
                format!("`{lib}` needs glibc; the image ships none"),
            )),
            (None, _) => {}
        },
    }
    BindCheck::new(BindKind::Mpi, Some(install.library.clone()), reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_versions_compare() {
        assert_eq!(cuda_version("12.2"), Some((12, 2)));
        assert_eq!(cuda_version("12"), Some((12, 0)));
        assert_eq!(cuda_against("12.2", "12.4").unwrap().status, Status::Runs);
        assert_eq!(
            cuda_against("12.4", "12.2").unwrap().status,
            Status::RunsNotOptimally
        );
        assert_eq!(
            cuda_against("12.0", "11.8").unwrap().status,
            Status::WillNotRun
        );
        assert!(Status::WillNotRun > Status::RunsNotOptimally);
        assert!(machine_runs_on("i386", "amd64") && !machine_runs_on("aarch64", "amd64"));
    }
}
