//! A paks package build (a `.pak`, or a package in a registry) judged as a package, not
//! as an image: a package carries no libc and gets its libraries from its dependencies
//! and the host, so what counts is the platform, microarchitecture target and glibc it
//! declares, and what its binaries need of the host.

use paks_host::HostProfile;
use paks_types::PackageMeta;

use crate::isa::IsaLevel;
use crate::report::ImageReport;
use crate::verdict::{Status, Verdict, reason};

/// Judge the package `meta` (whose layer `report` describes) against `host`.
///
/// Will not run: another platform; a declared x86-64 level the host does not run; a
/// declared glibc above the host's; and whatever the image judgement finds in its
/// binaries (machine code, `GLIBC_`/`GLIBCXX_` versions above the host's, ISA level),
/// except sonames and interpreters the package itself lacks: those come from its
/// dependencies and the host.
pub(crate) fn compat(meta: &PackageMeta, report: &ImageReport, host: &HostProfile) -> Verdict {
    let here = host.platform();
    if !meta.platform.runs_on(&here) {
        return Verdict::from_reasons(vec![reason(
            Status::WillNotRun,
            format!(
                "the package `{}` is for `{}`; this host is `{here}`",
                meta.id, meta.platform
            ),
        )]);
    }
    let mut reasons = Vec::new();
    if let Some(level) = &meta.needs.isa_level
        && let Some(target) = IsaLevel::parse(level).map(IsaLevel::archspec)
        && host.can_run_target(Some(target)).is_none()
    {
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "the package `{}` is built for `{target}`; this host is `{}`",
                meta.id,
                host.microarch.as_deref().unwrap_or(&host.arch)
            ),
        ));
    }
    if let Some(need) = meta.needs.glibc.as_deref()
        && let Some(version) = paks_host::parse_glibc(need)
        && !host.glibc_ok(Some(&version))
    {
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "the package `{}` needs glibc {need}; this host has {}",
                meta.id,
                host.glibc
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), paks_host::glibc_text)
            ),
        ));
    }
    let mut binaries = report.clone();
    binaries.package = None;
    binaries.summary.missing.clear();
    binaries.summary.missing_interpreters.clear();
    reasons.extend(crate::compat(&binaries, host).reasons);
    Verdict::from_reasons(reasons)
}
