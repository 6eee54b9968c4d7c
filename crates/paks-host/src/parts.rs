//! The data types of the profile's optional parts: MPI installations, GPUs, the container.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An MPI implementation family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MpiFamily {
    /// Open MPI (`libmpi.so.40`), its own ABI.
    OpenMpi,
    /// MPICH and its derivatives that do not say otherwise (MVAPICH): the MPICH ABI.
    Mpich,
    /// Intel MPI: MPICH ABI (`libmpi.so.12`).
    IntelMpi,
}

impl MpiFamily {
    /// The ABI that builds against this family link to: `openmpi` or `mpich`.
    pub fn abi(self) -> &'static str {
        match self {
            Self::OpenMpi => "openmpi",
            Self::Mpich | Self::IntelMpi => "mpich",
        }
    }

    /// The family's name for people: `Open MPI`, `MPICH`, `Intel MPI`.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::OpenMpi => "Open MPI",
            Self::Mpich => "MPICH",
            Self::IntelMpi => "Intel MPI",
        }
    }
}

/// An MPI library found on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpiInstall {
    /// Which implementation.
    pub family: MpiFamily,
    /// The implementation's release (`4.1.4`), when the library says so cheaply.
    pub version: Option<String>,
    /// The ABI: `openmpi` or `mpich` (Intel MPI and MVAPICH are MPICH-ABI).
    pub abi: String,
    /// The library file as found (not canonicalised).
    pub library: PathBuf,
    /// Its `DT_SONAME`: `libmpi.so.40`, `libmpich.so.12`, `libmpi.so.12`.
    pub soname: String,
}

/// The GPUs of one vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    /// `nvidia` or `amd`.
    pub vendor: String,
    /// The kernel driver's version (`535.104.05`), when known.
    pub driver: Option<String>,
    /// The newest CUDA driver API version the driver supports (`12.2`); NVIDIA only.
    pub cuda: Option<String>,
    /// The `ROCm` release installed (`6.0.2`); AMD only.
    pub rocm: Option<String>,
    /// How many devices of this vendor.
    pub devices: u32,
}

/// Whether paks runs in a container, and the container's resource limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerInfo {
    /// `docker`, `podman`, `kubernetes`, `lxc`, …; `None` when no container was recognised.
    pub runtime: Option<String>,
    /// CPUs this process may use (cgroup `cpu.max` quota / period); `None` when unlimited.
    pub cpu_limit: Option<f64>,
    /// Bytes of memory this process may use (cgroup `memory.max`); `None` when unlimited.
    pub memory_limit: Option<u64>,
}
