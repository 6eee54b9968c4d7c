use std::path::PathBuf;

use paks_types::{Digest, PackageId, Platform};

/// An error from the install tree: one pointer wide, so that `Result`s stay small; the
/// details are in [`StoreError::kind`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreError(Box<StoreErrorKind>);

impl StoreError {
    pub fn kind(&self) -> &StoreErrorKind {
        &self.0
    }

    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        self.0.hint()
    }

    /// Whether the cause is the machine (I/O), not the request: an I/O error of the store
    /// itself, or one under an extraction or relocation that the disk caused (full,
    /// read-only, failing), which no archive can be blamed for.
    pub fn is_io(&self) -> bool {
        matches!(*self.0, StoreErrorKind::Io(_)) || is_machine_failure(&*self.0)
    }
}

/// Whether `error` or one of its causes is a failure of the machine rather than of the
/// input: no space or quota left, a read-only filesystem, out of memory, or `EIO`.
pub fn is_machine_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::StorageFull | K::QuotaExceeded | K::ReadOnlyFilesystem | K::OutOfMemory
            ) || io.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error())
            {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

impl<E> From<E> for StoreError
where
    StoreErrorKind: From<E>,
{
    fn from(e: E) -> Self {
        Self(Box::new(StoreErrorKind::from(e)))
    }
}

/// Everything that can go wrong in the install tree.
#[derive(Debug, thiserror::Error)]
pub enum StoreErrorKind {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("failed to read the package archive `{}`", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: paks_archive::ArchiveError,
    },
    #[error("failed to extract `{id}`")]
    Extract {
        id: PackageId,
        #[source]
        source: paks_archive::ArchiveError,
    },
    #[error("failed to relocate `{id}` to `{}`", root.display())]
    Relocate {
        id: PackageId,
        root: PathBuf,
        #[source]
        source: paks_relocate::RelocateError,
    },
    #[error("the metadata of `{what}` is not a valid paks package config")]
    BadConfig {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A config that parses but breaks the metadata rules (`paks_types::rules`): a hostile
    /// env name, a control character in a summary, an absolute path.
    #[error("the metadata of `{what}` is refused")]
    UnsafeMeta {
        what: String,
        #[source]
        source: paks_types::TypeError,
    },
    #[error("`{what}` uses package metadata schema {found}; this paks reads up to {supported}")]
    NewerSchema {
        what: String,
        found: u32,
        supported: u32,
    },
    #[error("`{id}` is built for `{package}`, and this host is `{host}`")]
    WrongPlatform {
        id: PackageId,
        package: Platform,
        host: Platform,
    },
    #[error(
        "`{} {version}` is a rootfs package (imported from a distribution): its files belong at `/`, not in a store",
        id.name()
    )]
    RootfsPackage {
        id: PackageId,
        /// The distribution's version, verbatim.
        version: String,
    },
    #[error("`{id}` needs `{dep}`, which is not installed")]
    MissingDependency { id: PackageId, dep: PackageId },
    #[error(
        "`{id}` was built against `{dep}` from manifest `{pinned}`, but the `{dep}` installed is from manifest `{installed}`"
    )]
    DependencyMismatch {
        id: PackageId,
        dep: PackageId,
        pinned: Digest,
        installed: Digest,
    },
    #[error("no installed package matches `{0}`")]
    NotInstalled(String),
    #[error("`{spec}` matches several installed builds: {}", candidates.join(", "))]
    Ambiguous {
        spec: String,
        candidates: Vec<String>,
    },
    #[error("`{id}` is still needed by {}", needed_by.join(", "))]
    StillNeeded {
        id: PackageId,
        needed_by: Vec<String>,
    },
    #[error("the install record `{}` is damaged", path.display())]
    BadRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{}` both provide `{path}`", packages.join("` and `"))]
    ViewConflict { path: String, packages: Vec<String> },
    #[error("`{}` exists and is not a paks view", path.display())]
    NotAView { path: PathBuf },
    #[error("`{what}` is refused: its {field} `{found}` disagrees with {against} `{claim}`")]
    Inconsistent {
        what: String,
        field: &'static str,
        found: String,
        against: &'static str,
        claim: String,
    },
    #[error(
        "`{what}` is refused: its layer has the media type `{media_type}`, which paks does not know"
    )]
    UnknownLayerType { what: String, media_type: String },
    #[error(
        "`{id}` is refused: its layer unpacks to more than {limit} bytes, but its metadata claims {claimed} unpacked bytes"
    )]
    Oversized {
        id: PackageId,
        claimed: u64,
        limit: u64,
    },
    #[error(
        "gave up waiting for the lock `{}` after {waited_secs} s{}",
        path.display(),
        holder.map(|pid| format!(" (held by process {pid})")).unwrap_or_default()
    )]
    LockTimeout {
        path: PathBuf,
        waited_secs: u64,
        holder: Option<u32>,
    },
}

impl StoreErrorKind {
    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::MissingDependency { dep, .. } => Some(format!(
                "install `{}` first (its archive, `paks install {}-{}-*.pak`), or give both archives to one `paks install`",
                dep.name(),
                dep.name(),
                dep.version()
            )),
            Self::DependencyMismatch { dep, pinned, .. } => Some(format!(
                "install the build of `{}` it was made with (`paks install REGISTRY/NAMESPACE/{}@{pinned}`, or its archive), which replaces the other one",
                dep.name(),
                dep.name()
            )),
            Self::NotInstalled(_) => Some("see what is installed with `paks list`".into()),
            Self::Ambiguous { .. } => {
                Some("name one build by its full id (see `paks list`)".into())
            }
            Self::StillNeeded { .. } => Some("remove those first, or pass `--force`".into()),
            Self::ViewConflict { .. } => {
                Some("pass `--ignore-conflicts` to keep the first package's file".into())
            }
            Self::NotAView { .. } => {
                Some("choose another path; paks only replaces its own views".into())
            }
            Self::WrongPlatform { .. } => Some("install a build for this host's platform".into()),
            Self::RootfsPackage { id, .. } => Some(format!(
                "rootfs packages go into images and sysroots: `paks image build --from scratch {name}` or `paks sysroot create DIR {name}`",
                name = id.name()
            )),
            Self::Inconsistent { .. } | Self::UnknownLayerType { .. } | Self::Oversized { .. } => {
                Some("the archive was altered after it was built: get it again from a source you trust".into())
            }
            Self::LockTimeout { .. } => Some(format!(
                "another paks command is working on the same packages: wait for it to finish, or raise `{}` (seconds)",
                crate::LOCK_TIMEOUT_ENV
            )),
            Self::UnsafeMeta { .. } => Some(
                "`paks build` never writes such metadata: the package was altered or made \
                 by another tool; do not install it, and tell its publisher"
                    .into(),
            ),
            _ => None,
        }
    }
}
