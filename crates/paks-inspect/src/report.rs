//! What an image needs, as a whole: the report `paks inspect --json` prints.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::elf::{self, Binary};
use crate::isa::{IsaLevel, IsaSource};
use crate::rootfs::{Node, Rootfs};

/// Multiarch directories searched by default (Debian's and Ubuntu's triplets).
const TRIPLETS: &[&str] = &[
    "x86_64-linux-gnu",
    "aarch64-linux-gnu",
    "i386-linux-gnu",
    "powerpc64le-linux-gnu",
    "s390x-linux-gnu",
    "riscv64-linux-gnu",
    "arm-linux-gnueabihf",
];

/// Everything `inspect` found out about an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageReport {
    /// The image, as given (`registry/repo:tag`, `oci:DIR:TAG`, `docker-archive:FILE`).
    pub source: String,
    /// The digest of the image manifest inspected, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// `os/architecture[/variant]` from the image config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The config's `Labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The manifest's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The paks packages the image holds (ids, in layer order), for images composed by
    /// `paks image build`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// The other manifests of the index for the same OS and architecture
    /// (`linux/amd64/v3`): tuned builds the index offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
    /// Every ELF binary in the final filesystem, by path.
    pub binaries: Vec<Binary>,
    pub summary: Summary,
    /// Things not analysed, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// When the image is a paks package build (a `.pak`, or a package in a registry): its
    /// metadata, which [`crate::compat`] judges it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Box<paks_types::PackageMeta>>,
}

/// A version some binary needs, and the binary that needs the most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub version: Version,
    pub binary: String,
}

/// The image's x86-64 level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsaSummary {
    /// The highest level a binary requires (see [`crate::Isa::is_required`]).
    pub level: IsaLevel,
    /// The binary that requires it (`None` when every binary is at the baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Where that binary's level came from.
    pub source: IsaSource,
    /// x86 binaries whose level is an estimate, and of those, how many dispatch on the
    /// CPU at run time (their level is what they may use, not what they require).
    pub estimated: usize,
    pub gnu_property: usize,
    pub dispatching: usize,
    /// The highest level of the dispatching binaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_max: Option<IsaLevel>,
}

/// A name nothing provides, and who needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub name: String,
    pub needed_by: Vec<String>,
}

/// The MPI the image links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpiNeed {
    /// `openmpi` or `mpich`.
    pub abi: String,
    pub sonames: Vec<String>,
    pub binaries: usize,
}

/// The CUDA the image links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CudaNeed {
    /// The CUDA version: `CUDA_VERSION` from the config's environment, else the version in
    /// the file name of the image's `libcudart.so.N.M.P`, else the soname's major version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub libraries: Vec<String>,
    /// Whether a binary links the driver API (`libcuda.so.1`) directly.
    pub driver_api: bool,
}

/// The image as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Summary {
    pub binaries: usize,
    pub executables: usize,
    /// Binaries per machine (`x86_64`: 120).
    pub machines: BTreeMap<String, usize>,
    /// The highest `GLIBC_x.y` needed, glibc's own libraries not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc_required: Option<Requirement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibcxx_required: Option<Requirement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<IsaSummary>,
    /// The glibc the image ships (its `libc.so.6`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_glibc: Option<Version>,
    /// The highest `GLIBCXX` the image's `libstdc++.so.6` defines, if it ships one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_glibcxx: Option<Version>,
    /// Sonames needed that neither the image, the loader nor the host's GPU driver
    /// provide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
    /// Interpreters (`PT_INTERP`) the image does not have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_interpreters: Vec<Missing>,
    /// Sonames expected from the host's GPU driver (`libcuda.so.1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_driver: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpi: Option<MpiNeed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<CudaNeed>,
}

/// What the report needs from the image config.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageConfig {
    pub platform: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
    /// The `paks` field of a package build's config.
    pub package: Option<Box<paks_types::PackageMeta>>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_slice(bytes)?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
        let platform = match (s("os"), s("architecture")) {
            (Some(os), Some(arch)) => Some(match s("variant") {
                Some(var) => format!("{os}/{arch}/{var}"),
                None => format!("{os}/{arch}"),
            }),
            _ => None,
        };
        let config = v.get("config");
        let labels = config
            .and_then(|c| c.get("Labels"))
            .and_then(|l| l.as_object())
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let env = config
            .and_then(|c| c.get("Env"))
            .and_then(|e| e.as_array())
            .map(|e| {
                e.iter()
                    .filter_map(|x| x.as_str()?.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        // A config whose `paks` field does not parse is judged as an image.
        let package = v
            .get("paks")
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .map(Box::new);
        Ok(Self {
            platform,
            labels,
            env,
            package,
        })
    }
}

/// The directories the loader searches for every binary: `LD_LIBRARY_PATH` from the
/// config, `/etc/ld.so.conf` (and includes), then the defaults and multiarch directories.
fn global_dirs(fs: &Rootfs, config: &ImageConfig) -> Vec<String> {
    let mut dirs: Vec<String> = config
        .env
        .get("LD_LIBRARY_PATH")
        .map(|p| {
            p.split(':')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    dirs.extend(fs.ld_so_conf_dirs());
    for base in ["/lib", "/usr/lib", "/usr/local/lib"] {
        for t in TRIPLETS {
            dirs.push(format!("{base}/{t}"));
        }
    }
    dirs.extend(["/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"].map(String::from));
    dirs
}

/// A binary's own `RUNPATH`/`RPATH` with `$ORIGIN` (and `$LIB`) expanded.
fn runpath_dirs(b: &Binary) -> Vec<String> {
    let mut dirs = Vec::new();
    for r in &b.runpath {
        let r = r.replace("${ORIGIN}", b.dir()).replace("$ORIGIN", b.dir());
        if r.contains("$LIB") || r.contains("${LIB}") {
            for lib in ["lib", "lib64"] {
                dirs.push(r.replace("${LIB}", lib).replace("$LIB", lib));
            }
        } else if r.starts_with('/') {
            dirs.push(r);
        }
    }
    dirs
}

/// Where `soname` is found in `dirs` (the image path, after resolving directory
/// symlinks): a file or a symlink of that name in one of them.
fn find_in(fs: &Rootfs, dirs: &[String], soname: &str) -> Option<String> {
    dirs.iter().find_map(|d| {
        let dir = fs.resolve(d, true)?;
        let key = if dir.is_empty() {
            soname.to_owned()
        } else {
            format!("{dir}/{soname}")
        };
        fs.nodes.contains_key(&key).then(|| format!("/{key}"))
    })
}

/// The binary a soname resolves to through the default directories, and the name of
/// the file it finally is (`libc-2.31.so`).
fn library<'a>(fs: &'a Rootfs, dirs: &[String], soname: &str) -> Option<(&'a Binary, String)> {
    let path = find_in(fs, dirs, soname)?;
    let real = fs.resolve(&path, true)?;
    match fs.nodes.get(&real) {
        Some(Node::Elf(b)) => Some((b, real.rsplit('/').next().unwrap_or("").to_owned())),
        _ => None,
    }
}

/// The version in a file name after `prefix`: `libc-2.31.so` → `2.31`,
/// `libcudart.so.12.2.140` → `12.2.140`.
fn version_in(name: &str, prefix: &str, suffix: &str) -> Option<String> {
    let v = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!v.is_empty()
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    .then(|| v.to_owned())
}

/// Build the report: resolve each binary's `DT_NEEDED`, then summarise.
pub(crate) fn build(
    source: String,
    manifest_digest: Option<String>,
    config: &ImageConfig,
    fs: &Rootfs,
    annotations: BTreeMap<String, String>,
    alternatives: Vec<String>,
    notes: Vec<String>,
) -> ImageReport {
    let global = global_dirs(fs, config);
    let mut binaries: Vec<Binary> = fs.binaries().cloned().collect();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut missing_interp: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut host_driver = BTreeSet::new();
    for b in &mut binaries {
        let mut dirs = runpath_dirs(b);
        dirs.extend(global.iter().cloned());
        let path = b.path.clone();
        for n in &mut b.needed {
            n.provided_by = if elf::is_loader(&n.soname) {
                Some("loader".into())
            } else if let Some(p) = find_in(fs, &dirs, &n.soname) {
                Some(p)
            } else if elf::is_host_driver(&n.soname) {
                host_driver.insert(n.soname.clone());
                Some("host-driver".into())
            } else {
                missing
                    .entry(n.soname.clone())
                    .or_default()
                    .push(path.clone());
                None
            };
        }
        if let Some(interp) = &b.interpreter {
            let found = fs
                .resolve(interp, true)
                .is_some_and(|p| matches!(fs.nodes.get(&p), Some(Node::Elf(_))));
            if !found {
                missing_interp.entry(interp.clone()).or_default().push(path);
            }
        }
    }

    let mut summary = Summary {
        binaries: binaries.len(),
        executables: binaries.iter().filter(|b| b.is_executable()).count(),
        ..Summary::default()
    };
    for b in &binaries {
        *summary.machines.entry(b.machine.clone()).or_default() += 1;
    }
    let max_of = |f: &dyn Fn(&Binary) -> Option<&Version>| {
        binaries
            .iter()
            .filter_map(|b| Some((f(b)?, &b.path)))
            .max_by(|a, b| a.0.cmp(b.0).then_with(|| b.1.cmp(a.1)))
            .map(|(v, p)| Requirement {
                version: v.clone(),
                binary: p.clone(),
            })
    };
    // glibc's own libraries need versions of each other: not the image's requirement.
    summary.glibc_required = max_of(&|b| b.glibc.as_ref().filter(|_| b.defines_glibc.is_none()));
    summary.glibcxx_required = max_of(&|b| b.glibcxx.as_ref());
    summary.isa = isa_summary(&binaries);

    if let Some((libc, file)) = library(fs, &global, "libc.so.6") {
        let from_name = version_in(&file, "libc-", ".so").and_then(|v| paks_host::parse_glibc(&v));
        summary.image_glibc = libc.defines_glibc.clone().max(from_name);
    }
    if let Some((stdcxx, _)) = library(fs, &global, "libstdc++.so.6") {
        summary.image_glibcxx.clone_from(&stdcxx.defines_glibcxx);
    }
    summary.missing = into_missing(missing);
    summary.missing_interpreters = into_missing(missing_interp);
    summary.host_driver = host_driver.into_iter().collect();
    summary.mpi = mpi_need(&binaries);
    summary.cuda = cuda_need(fs, &global, config, &binaries);

    // `paks image build` lists the packages in a label and an annotation.
    let packages = config
        .labels
        .get(paks_types::IMAGE_PACKAGES_KEY)
        .or_else(|| annotations.get(paks_types::IMAGE_PACKAGES_KEY))
        .map(|ids| ids.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    ImageReport {
        source,
        manifest_digest,
        platform: config.platform.clone(),
        labels: config.labels.clone(),
        annotations,
        packages,
        alternatives,
        binaries,
        summary,
        notes,
        package: config.package.clone(),
    }
}

fn into_missing(map: BTreeMap<String, Vec<String>>) -> Vec<Missing> {
    map.into_iter()
        .map(|(name, needed_by)| Missing { name, needed_by })
        .collect()
}

fn isa_summary(binaries: &[Binary]) -> Option<IsaSummary> {
    let with_isa: Vec<(&Binary, &crate::Isa)> = binaries
        .iter()
        .filter_map(|b| Some((b, b.isa.as_ref()?)))
        .collect();
    if with_isa.is_empty() {
        return None;
    }
    let top = with_isa
        .iter()
        .filter(|(_, i)| i.is_required() && i.level > IsaLevel::V1)
        // The highest level; a property note before an estimate; then by path.
        .max_by(|a, b| {
            (a.1.level, a.1.source == IsaSource::GnuProperty)
                .cmp(&(b.1.level, b.1.source == IsaSource::GnuProperty))
                .then_with(|| b.0.path.cmp(&a.0.path))
        });
    let count = |f: &dyn Fn(&crate::Isa) -> bool| with_isa.iter().filter(|(_, i)| f(i)).count();
    Some(IsaSummary {
        level: top.map_or(IsaLevel::V1, |t| t.1.level),
        binary: top.map(|t| t.0.path.clone()),
        source: top.map_or(IsaSource::Estimated, |t| t.1.source),
        estimated: count(&|i| i.source == IsaSource::Estimated),
        gnu_property: count(&|i| i.source == IsaSource::GnuProperty),
        dispatching: count(&|i| !i.is_required()),
        dispatch_max: with_isa
            .iter()
            .filter(|(_, i)| !i.is_required())
            .map(|(_, i)| i.level)
            .max(),
    })
}

fn mpi_need(binaries: &[Binary]) -> Option<MpiNeed> {
    let mut by_abi: BTreeMap<&str, (BTreeSet<&str>, usize)> = BTreeMap::new();
    for b in binaries {
        for n in &b.needed {
            if let Some(abi) = elf::mpi_abi(&n.soname) {
                let e = by_abi.entry(abi).or_default();
                e.0.insert(&n.soname);
                e.1 += 1;
            }
        }
    }
    let (abi, (sonames, count)) = by_abi.into_iter().max_by_key(|(_, (_, c))| *c)?;
    Some(MpiNeed {
        abi: abi.to_owned(),
        sonames: sonames.into_iter().map(str::to_owned).collect(),
        binaries: count,
    })
}

fn cuda_need(
    fs: &Rootfs,
    dirs: &[String],
    config: &ImageConfig,
    binaries: &[Binary],
) -> Option<CudaNeed> {
    let libraries: BTreeSet<&str> = binaries
        .iter()
        .flat_map(|b| b.cuda.iter().map(String::as_str))
        .collect();
    if libraries.is_empty() {
        return None;
    }
    let major_minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    let cudart = libraries.iter().find(|l| l.starts_with("libcudart.so."));
    let version = config
        .env
        .get("CUDA_VERSION")
        .map(|v| major_minor(v))
        .or_else(|| {
            let (_, file) = library(fs, dirs, cudart?)?;
            version_in(&file, "libcudart.so.", "").map(|v| major_minor(&v))
        })
        .or_else(|| {
            cudart
                .and_then(|c| c.strip_prefix("libcudart.so."))
                .map(str::to_owned)
        });
    Some(CudaNeed {
        version,
        driver_api: libraries.iter().any(|l| l.starts_with("libcuda.so")),
        libraries: libraries.into_iter().map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_in_file_names() {
        assert_eq!(
            version_in("libc-2.31.so", "libc-", ".so").as_deref(),
            Some("2.31")
        );
        assert_eq!(
            version_in("libcudart.so.12.2.140", "libcudart.so.", "").as_deref(),
            Some("12.2.140")
        );
        assert_eq!(version_in("libc.so.6", "libc-", ".so"), None);
        assert_eq!(version_in("libc-.so", "libc-", ".so"), None);
    }

    #[test]
    fn parses_config() {
        let c = ImageConfig::parse(
            br#"{"os":"linux","architecture":"arm64","variant":"v8",
                "config":{"Labels":{"a":"b","n":1},"Env":["CUDA_VERSION=12.2.2","X"]}}"#,
        )
        .unwrap();
        assert_eq!(c.platform.as_deref(), Some("linux/arm64/v8"));
        assert_eq!(c.labels, BTreeMap::from([("a".into(), "b".into())]));
        assert_eq!(c.env["CUDA_VERSION"], "12.2.2");
        let c = ImageConfig::parse(br#"{"config":{"Labels":null}}"#).unwrap();
        assert!(c.platform.is_none() && c.labels.is_empty());
    }
}
