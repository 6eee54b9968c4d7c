//! "Will this image run on my host, and well?" for an image of the registry and a host
//! profile as `paks host --json` prints it.
//!
//! An image that carries paks's labels (`io.paks.glibc.required`, `io.paks.isa-level`, …:
//! `docs/labels.md`; `paks image build` and `paks label` write them) is judged from them
//! alone. Any other image (and every package build) is inspected as `paks compat` does:
//! its layers are read from the storage, bounded by [`LAYERS_LIMIT`], and the report is
//! cached by manifest digest, since the same image is asked about with many profiles.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use paks_host::HostProfile;
use paks_inspect::{
    IsaLevel, LABEL_GLIBC_PROVIDED, LABEL_GLIBC_REQUIRED, LABEL_GLIBCXX_REQUIRED, LABEL_GPU,
    LABEL_ISA_LEVEL, LABEL_ISA_LEVEL_SOURCE, LABEL_MPI, LABEL_TUNED, Status,
};
use paks_oci::ImageManifest;
use paks_registry::names::RepoName;
use paks_types::Digest;

use crate::Catalog;
use crate::error::CatalogError;
use crate::model::{Image, Verdict, VerdictBasis, VerdictReason, VerdictStatus};

/// The most compressed layer bytes read to judge one image.
pub const LAYERS_LIMIT: u64 = 2 * 1024 * 1024 * 1024;
/// Largest host profile accepted (a real one is a few kilobytes).
pub const HOST_PROFILE_LIMIT: usize = 1024 * 1024;
/// Inspection reports kept (by manifest digest).
const CACHE_SIZE: usize = 32;

/// The labels that make an image judged from its labels.
const JUDGED_LABELS: [&str; 3] = [LABEL_GLIBC_REQUIRED, LABEL_ISA_LEVEL, LABEL_GLIBC_PROVIDED];

/// Parses a host profile as `paks host --json` prints it (its `type` field is ignored;
/// parts it leaves out are unknown).
pub fn parse_host(text: &str) -> Result<HostProfile, CatalogError> {
    if text.len() > HOST_PROFILE_LIMIT {
        return Err(CatalogError::HostProfile(format!(
            "it is {} bytes; at most {HOST_PROFILE_LIMIT} are read",
            text.len()
        )));
    }
    let host: HostProfile = serde_json::from_str(text.trim()).map_err(|e| {
        CatalogError::HostProfile(format!("{e} (expected the output of `paks host --json`)"))
    })?;
    if host.os.is_empty() || host.arch.is_empty() {
        return Err(CatalogError::HostProfile(
            "`os` and `arch` must not be empty (expected the output of `paks host --json`)".into(),
        ));
    }
    Ok(host)
}

/// Judges `image` (from [`Catalog::image`]; read it with [`Catalog::image_for`] and
/// `host.platform()` to judge the build of an index the host would pull) against `host`.
///
/// Blocking: inspecting layers reads them from the storage. From async code, use
/// [`check_async`].
pub fn check(
    catalog: &Catalog,
    image: &Image,
    host: &HostProfile,
) -> Result<Verdict, CatalogError> {
    let (basis, verdict) = if JUDGED_LABELS.iter().any(|l| image.labels.contains_key(*l)) {
        (VerdictBasis::Labels, from_labels(image, host))
    } else {
        let report = inspect(catalog, image)?;
        (VerdictBasis::Layers, paks_inspect::compat(&report, host))
    };
    Ok(Verdict {
        repository: image.repository.clone(),
        digest: image.digest.clone(),
        platform: image.platform.clone(),
        status: status(verdict.status),
        basis,
        reasons: verdict
            .reasons
            .into_iter()
            .map(|r| VerdictReason {
                status: status(r.status),
                message: r.message,
            })
            .collect(),
    })
}

/// [`check`] on a blocking thread.
pub async fn check_async(
    catalog: Catalog,
    image: Image,
    host: HostProfile,
) -> Result<Verdict, CatalogError> {
    tokio::task::spawn_blocking(move || check(&catalog, &image, &host))
        .await
        .expect("the verdict task does not panic")
}

fn status(s: Status) -> VerdictStatus {
    match s {
        Status::Runs => VerdictStatus::Runs,
        Status::RunsNotOptimally => VerdictStatus::RunsNotOptimally,
        Status::WillNotRun => VerdictStatus::WillNotRun,
    }
}

fn reason(status: Status, message: String) -> paks_inspect::Reason {
    paks_inspect::Reason { status, message }
}

/// The verdict from the image's labels: platform, glibc, GLIBCXX, x86-64 level, MPI, CUDA.
fn from_labels(image: &Image, host: &HostProfile) -> paks_inspect::Verdict {
    let label = |k: &str| image.labels.get(k).map(String::as_str);
    let mut reasons = Vec::new();
    let mut parts = image.platform.split('/');
    let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !image.platform.is_empty() && (os != host.os || arch != host.arch) {
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "the image is for `{}`; this host is `{}/{}`",
                image.platform, host.os, host.arch
            ),
        ));
        return paks_inspect::Verdict::from_reasons(reasons);
    }
    if let Some(need) = label(LABEL_GLIBC_REQUIRED).and_then(paks_host::parse_glibc) {
        let provided = label(LABEL_GLIBC_PROVIDED).and_then(paks_host::parse_glibc);
        let have = match (&provided, &host.glibc) {
            (Some(v), _) => Some((v, "the image's glibc")),
            (None, Some(v)) => Some((
                v,
                "the image does not label the glibc it has (`io.paks.glibc.provided`); the host's",
            )),
            (None, None) => None,
        };
        if let Some((have, whose)) = have
            && need > *have
        {
            reasons.push(reason(
                Status::WillNotRun,
                format!(
                    "the image needs GLIBC_{} (label `{LABEL_GLIBC_REQUIRED}`); {whose} is {}",
                    paks_host::glibc_text(&need),
                    paks_host::glibc_text(have)
                ),
            ));
        }
    }
    // An image's own libstdc++ is not labelled: judged against the host's only when the
    // image has no glibc either (its binaries then use the host's libraries).
    if label(LABEL_GLIBC_PROVIDED).is_none()
        && let Some(text) = label(LABEL_GLIBCXX_REQUIRED)
        && let Ok(need) = semver::Version::parse(text)
        && let Some(have) = host.libstdcxx.known()
        && need > *have
    {
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "the image needs GLIBCXX_{need} (label `{LABEL_GLIBCXX_REQUIRED}`); the host's libstdc++ offers up to GLIBCXX_{have}"
            ),
        ));
    }
    isa_from_labels(image, host, &mut reasons);
    if let Some(abi) = label(LABEL_MPI)
        && let Some(installs) = host.mpi.known()
        && !installs.iter().any(|i| i.abi == abi)
    {
        reasons.push(reason(
            Status::RunsNotOptimally,
            format!(
                "the image links the {abi} MPI ABI (label `{LABEL_MPI}`); the host has no MPI of that ABI to bind-mount, so the image's own MPI is used (likely without the host's interconnect)"
            ),
        ));
    }
    if let Some(gpu) = label(LABEL_GPU)
        && gpu.starts_with("cuda")
        && let Some(gpus) = host.gpus.known()
    {
        cuda_from_label(gpu, gpus, &mut reasons);
    }
    paks_inspect::Verdict::from_reasons(reasons)
}

fn isa_from_labels(image: &Image, host: &HostProfile, reasons: &mut Vec<paks_inspect::Reason>) {
    let Some(level) = image
        .labels
        .get(LABEL_ISA_LEVEL)
        .and_then(|l| IsaLevel::parse(l))
    else {
        return;
    };
    let Some(host_level) = paks_inspect::best_level(&host.targets) else {
        return;
    };
    if host.arch != "amd64" {
        return;
    }
    let source = image
        .labels
        .get(LABEL_ISA_LEVEL_SOURCE)
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    if level > host_level {
        reasons.push(reason(
            Status::WillNotRun,
            format!(
                "the image needs {level} (label `{LABEL_ISA_LEVEL}`{source}); this host runs up to {host_level}"
            ),
        ));
    } else if level < host_level {
        reasons.push(reason(
            Status::RunsNotOptimally,
            format!(
                "the image is built for {level} (label `{LABEL_ISA_LEVEL}`{source}); this host runs {host_level}"
            ),
        ));
        let tuned = image
            .labels
            .get(LABEL_TUNED)
            .into_iter()
            .flat_map(|t| t.split(','))
            .chain(image.platforms.iter().filter_map(|p| p.split('/').nth(2)))
            .map(str::trim)
            .filter_map(|t| Some((IsaLevel::parse(t)?, t)))
            .filter(|(l, _)| *l > level && *l <= host_level)
            .max_by_key(|(l, _)| *l);
        if let Some((_, t)) = tuned {
            reasons.push(reason(
                Status::RunsNotOptimally,
                format!("this generic build runs here, but a tuned build exists: `{t}`"),
            ));
        }
    }
}

/// `cuda:12.2` (or `cuda`, version unknown) against the host's GPUs.
fn cuda_from_label(gpu: &str, gpus: &[paks_host::Gpu], reasons: &mut Vec<paks_inspect::Reason>) {
    let nvidia: Vec<_> = gpus
        .iter()
        .filter(|g| g.vendor.eq_ignore_ascii_case("nvidia") || g.vendor == "10de")
        .collect();
    if nvidia.is_empty() {
        reasons.push(reason(
            Status::RunsNotOptimally,
            format!(
                "the image links CUDA (label `{LABEL_GPU}` = `{gpu}`); this host has no NVIDIA GPU"
            ),
        ));
        return;
    }
    let key = |v: &str| -> Option<(u64, u64)> {
        let mut p = v.trim().split('.');
        Some((
            p.next()?.parse().ok()?,
            p.next().map_or(Some(0), |m| m.parse().ok())?,
        ))
    };
    let Some(need_text) = gpu.strip_prefix("cuda:") else {
        return;
    };
    let Some(driver) = nvidia
        .iter()
        .filter_map(|g| g.cuda.as_deref())
        .max_by_key(|v| key(v))
    else {
        return;
    };
    let (Some(need), Some(have)) = (key(need_text), key(driver)) else {
        return;
    };
    if need.0 > have.0 {
        reasons.push(reason(
            Status::WillNotRun,
            format!("the image needs CUDA {need_text}; the host's driver supports CUDA {driver}"),
        ));
    } else if need > have {
        reasons.push(reason(
            Status::RunsNotOptimally,
            format!(
                "the image needs CUDA {need_text}; the host's driver supports CUDA {driver} (minor version compatibility: features and PTX of {need_text} are unavailable)"
            ),
        ));
    }
}

/// Reports by manifest digest, newest last.
type Reports = Mutex<VecDeque<(Digest, Arc<paks_inspect::ImageReport>)>>;

/// The reports inspected lately (content-addressed: valid for every catalogue).
fn cache() -> &'static Reports {
    static CACHE: OnceLock<Reports> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(VecDeque::new()))
}

/// The inspection report of `image`'s layers, from the cache or the storage.
fn inspect(
    catalog: &Catalog,
    image: &Image,
) -> Result<Arc<paks_inspect::ImageReport>, CatalogError> {
    if let Some((_, r)) = cache()
        .lock()
        .expect("not poisoned")
        .iter()
        .find(|(d, _)| *d == image.digest)
    {
        return Ok(r.clone());
    }
    let ctx = catalog.context().ok_or(CatalogError::NotStarted)?;
    let storage = ctx.storage.as_ref();
    let damaged = |what: String, reason: String| CatalogError::Damaged {
        repository: image.repository.clone(),
        what,
        reason,
    };
    let repo = RepoName::parse(&image.repository)
        .map_err(|e| damaged(format!("repository {}", image.repository), e))?;
    let stored = storage
        .get_manifest(&repo, &image.digest)?
        .ok_or_else(|| damaged(format!("manifest {}", image.digest), "it is gone".into()))?;
    let manifest: ImageManifest = serde_json::from_slice(&stored.bytes)
        .map_err(|e| damaged(format!("manifest {}", image.digest), e.to_string()))?;
    let total: u64 = manifest.layers.iter().map(|l| l.size).sum();
    if total > LAYERS_LIMIT {
        return Err(CatalogError::TooLarge {
            what: format!("the layers of {}@{}", image.repository, image.digest),
            size: total,
            limit: LAYERS_LIMIT,
        });
    }
    let config = crate::image::read_config(storage, &repo, &manifest.config)?;
    let config = (!config.is_null()).then(|| serde_json::to_vec(&config).expect("JSON serialises"));
    let mut readers = Vec::with_capacity(manifest.layers.len());
    for layer in &manifest.layers {
        let blob = storage.open_blob(&repo, &layer.digest)?.ok_or_else(|| {
            damaged(
                format!("layer {}", layer.digest),
                "the blob is missing".into(),
            )
        })?;
        readers.push(blob.reader);
    }
    let mut report =
        paks_inspect::inspect_layers(config.as_deref(), readers).map_err(|source| {
            CatalogError::Inspect {
                image: format!("{}@{}", image.repository, image.digest),
                source,
            }
        })?;
    report.source = format!("{}@{}", image.repository, image.digest);
    report.manifest_digest = Some(image.digest.to_string());
    report.alternatives.clone_from(&image.platforms);
    let report = Arc::new(report);
    let mut cache = cache().lock().expect("not poisoned");
    if cache.len() >= CACHE_SIZE {
        cache.pop_front();
    }
    cache.push_back((image.digest.clone(), report.clone()));
    Ok(report)
}
