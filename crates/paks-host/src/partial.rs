//! Profile files: a partial [`HostProfile`] whose absent fields are detected.

use std::cell::OnceCell;
use std::path::Path;

use paks_types::Platform;
use semver::Version;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::detect::ldcache::LinkerCache;
use crate::detect::{container, cpu, glibc, gpu, libstdcxx, mpi, system};
use crate::{ContainerInfo, Detected, Gpu, HostProfile, MpiInstall};

/// A profile file: every field optional. An absent field takes the detected value; `null`
/// (for `microarch` and `glibc`) means "this host has none". The parts that may be unknown
/// take either their JSON form (`{"known": …}`, `{"unknown": "why"}`) or a plain value,
/// which is known: `"libstdcxx": "3.4.30"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartialProfile {
    /// `"host"` in what `paks host --json` prints; read and ignored.
    #[serde(default, rename = "type")]
    _kind: Option<serde::de::IgnoredAny>,
    os: Option<String>,
    arch: Option<String>,
    #[serde(default, deserialize_with = "given")]
    microarch: Field<String>,
    targets: Option<Vec<String>>,
    #[serde(default, deserialize_with = "given")]
    glibc: Field<Version>,
    features: Option<Vec<String>>,
    #[serde(default, deserialize_with = "part")]
    kernel: Option<Detected<String>>,
    #[serde(default, deserialize_with = "part")]
    distro: Option<Detected<String>>,
    #[serde(default, deserialize_with = "part")]
    loader: Option<Detected<String>>,
    #[serde(default, deserialize_with = "part")]
    libstdcxx: Option<Detected<Version>>,
    #[serde(default, deserialize_with = "part")]
    mpi: Option<Detected<Vec<MpiInstall>>>,
    #[serde(default, deserialize_with = "part")]
    gpus: Option<Detected<Vec<Gpu>>>,
    #[serde(default, deserialize_with = "part")]
    container: Option<Detected<ContainerInfo>>,
}

/// An optional field of a profile file: absent, or given (possibly as `null`).
#[derive(Debug, Default)]
enum Field<T> {
    #[default]
    Absent,
    Given(Option<T>),
}

fn given<'de, D, T>(d: D) -> Result<Field<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Field::Given)
}

fn part<'de, D, T>(d: D) -> Result<Option<Detected<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::Error;
    let value = serde_json::Value::deserialize(d)?;
    let tagged = value
        .as_object()
        .is_some_and(|o| o.len() == 1 && (o.contains_key("known") || o.contains_key("unknown")));
    let parsed = if tagged {
        serde_json::from_value::<Detected<T>>(value)
    } else {
        serde_json::from_value::<T>(value).map(Detected::Known)
    };
    parsed.map(Some).map_err(D::Error::custom)
}

impl PartialProfile {
    /// The profile: the given fields, and the detected values of the others. Only what is
    /// absent is detected.
    pub(crate) fn resolve(self) -> HostProfile {
        let platform = Platform::host();
        let arch = self.arch.unwrap_or_else(|| platform.architecture.clone());
        let same_arch = arch == platform.architecture;
        let detected_cpu = OnceCell::new();
        let host_cpu = || detected_cpu.get_or_init(|| cpu::detect(&platform.architecture));
        // The detected cpu says nothing about another architecture.
        let microarch_changed = matches!(self.microarch, Field::Given(_)) || !same_arch;
        let microarch = match self.microarch {
            Field::Given(m) => m,
            Field::Absent if same_arch => host_cpu().microarch.clone(),
            Field::Absent => None,
        };
        let targets = match self.targets {
            Some(t) => t,
            None if microarch_changed => match &microarch {
                Some(m) => HostProfile::targets_for(m).unwrap_or_else(|| vec![m.clone()]),
                None => cpu::generic_root(&arch).into_iter().collect(),
            },
            None => host_cpu().targets.clone(),
        };
        let features = match self.features {
            Some(f) => f,
            None if microarch_changed => microarch
                .as_deref()
                .and_then(cpu::known)
                .map(|m| cpu::features_of(m))
                .unwrap_or_default(),
            None => host_cpu().features.clone(),
        };
        let glibc = match self.glibc {
            Field::Given(g) => g,
            Field::Absent => glibc::detect(),
        };

        // Neither are this host's libraries and devices another architecture's.
        let foreign = (!same_arch).then(|| {
            format!(
                "not in the profile, and this host is {}, not {arch}",
                platform.architecture
            )
        });
        let foreign = foreign.as_deref();
        let cache = OnceCell::new();
        let cache = || cache.get_or_init(|| LinkerCache::load().unwrap_or_default());
        HostProfile {
            kernel: or_detect(self.kernel, foreign, system::kernel),
            distro: or_detect(self.distro, foreign, || system::distro(Path::new("/"))),
            loader: or_detect(self.loader, foreign, system::loader),
            libstdcxx: or_detect(self.libstdcxx, foreign, || libstdcxx::detect(cache())),
            mpi: or_detect(self.mpi, foreign, || mpi::detect(cache())),
            gpus: or_detect(self.gpus, foreign, || gpu::detect(cache())),
            container: or_detect(self.container, foreign, container::detect),
            os: self.os.unwrap_or(platform.os),
            arch,
            microarch,
            targets,
            glibc,
            features,
        }
    }
}

/// A part given by the file, or else detected; on a foreign architecture, unknown.
fn or_detect<T>(
    given: Option<Detected<T>>,
    foreign: Option<&str>,
    detect: impl FnOnce() -> Detected<T>,
) -> Detected<T> {
    match (given, foreign) {
        (Some(v), _) => v,
        (None, Some(why)) => Detected::Unknown(why.to_owned()),
        (None, None) => detect(),
    }
}
