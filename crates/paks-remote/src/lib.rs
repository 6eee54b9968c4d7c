//! Packages in OCI registries: the on-registry format (`docs/registry-format.md`), pushing
//! builds and their dependencies, pulling a reference's closure into the verified blob
//! cache, copying between registries and OCI layout directories, and attachments
//! (artifacts that refer to a build: [`attach`]).

pub mod attach;
mod copy;
pub mod format;
mod locations;
mod pull;
mod push;

use paks_oci::{Client, Reference, Repository};
use paks_store::Store;
use paks_types::{Digest, PackageId, PackageName, Platform};

pub use copy::{CopyReport, Endpoint};
pub use pull::{Downloads, Found, LayerDownload, Pulled, downloads};
pub use push::{PushReport, PushTarget, Pushed};

/// An error moving packages to and from registries: one pointer wide; the details are in
/// [`RemoteError::kind`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RemoteError(Box<RemoteErrorKind>);

impl<E> From<E> for RemoteError
where
    RemoteErrorKind: From<E>,
{
    fn from(e: E) -> Self {
        Self(Box::new(RemoteErrorKind::from(e)))
    }
}

impl RemoteError {
    pub fn kind(&self) -> &RemoteErrorKind {
        &self.0
    }

    /// Whether the cause is the machine (local I/O), not the request.
    pub fn is_io(&self) -> bool {
        match &*self.0 {
            RemoteErrorKind::Io(_) => true,
            RemoteErrorKind::Store(e) => e.is_io(),
            other => paks_store::is_machine_failure(other),
        }
    }

    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        self.0.hint()
    }
}

/// Everything that can go wrong moving packages to and from registries.
#[derive(Debug, thiserror::Error)]
pub enum RemoteErrorKind {
    #[error(transparent)]
    Oci(#[from] paks_oci::OciError),
    #[error(transparent)]
    Store(#[from] paks_store::StoreError),
    #[error(transparent)]
    Archive(#[from] paks_archive::ArchiveError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the package name `{name}` cannot be a repository name (as `{mapped}`)")]
    UnpushableName { name: PackageName, mapped: String },
    #[error("`{reference}` is not a paks package: {reason}")]
    NotAPackage { reference: String, reason: String },
    #[error("`{reference}` has no build that runs on `{host}` here (it has {})", available.join(", "))]
    NoBuildForHost {
        reference: String,
        host: Platform,
        available: Vec<String>,
    },
    #[error(
        "`{id}` needs `{dep}`, which is neither in `{namespace}` nor in an archive beside `{pak}`"
    )]
    DependencyNotFound {
        id: PackageId,
        dep: PackageId,
        namespace: String,
        pak: String,
    },
    #[error(
        "`{id}` names its dependency `{dep}` without a manifest digest, and no build tagged with its id is that build"
    )]
    UnpinnedDependency { id: PackageId, dep: PackageId },
    #[error("the registry stored the manifest of `{reference}` as `{actual}`, not `{expected}`")]
    DigestChanged {
        reference: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "`{0}` must name a namespace or a repository, without a tag or digest, to receive packages"
    )]
    TargetHasTag(String),
    #[error(
        "{what} (`{target}`) receives the builds of one package version, and the archives given are of several"
    )]
    NotOneVersion { what: String, target: String },
    #[error("`paks copy` does not read or write `{0}`")]
    UnsupportedEndpoint(String),
    #[error("`{reference}` is not an attachment: {reason}")]
    NotAnAttachment { reference: String, reason: String },
    #[error("the attachment `{reference}` is {size} bytes, more than the {limit} read")]
    AttachmentTooLarge {
        reference: String,
        size: u64,
        limit: u64,
    },
}

impl RemoteErrorKind {
    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Oci(e) => e.hint(),
            Self::Store(e) => e.hint(),
            Self::DependencyNotFound { dep, .. } => Some(format!(
                "push `{}` first, or put its archive (`{}-{}-{}.pak`) beside the one you push",
                dep.name(),
                dep.name(),
                dep.version(),
                dep.hash()
            )),
            Self::UnsupportedEndpoint(_) => Some(
                "copy reads and writes registries, `oci:DIR[:TAG]` and `oci-archive:FILE[:TAG]`"
                    .into(),
            ),
            Self::NoBuildForHost { .. } => Some(
                "build the package for this platform (or a target this CPU runs) and push it"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Moves packages between a store's blob cache and registries.
pub struct Remote<'a> {
    pub client: Client,
    pub store: &'a Store,
}

impl<'a> Remote<'a> {
    pub fn new(client: Client, store: &'a Store) -> Self {
        Self { client, store }
    }
}

/// The namespace of a repository: its path without the last component.
fn namespace_of(repo: &Repository) -> Repository {
    let ns = repo.name.rsplit_once('/').map_or("", |(ns, _)| ns);
    Repository {
        registry: repo.registry.clone(),
        name: ns.to_owned(),
    }
}

/// The repository of package `name` in namespace `ns`.
fn package_repo(ns: &Repository, name: &PackageName) -> Result<Repository, RemoteError> {
    let repo = format::repo_name(name)?;
    let name = if ns.name.is_empty() {
        repo
    } else {
        format!("{}/{repo}", ns.name)
    };
    Ok(Repository {
        registry: ns.registry.clone(),
        name,
    })
}

fn by_digest(repo: &Repository, digest: &Digest) -> Reference {
    Reference {
        registry: repo.registry.clone(),
        repository: repo.name.clone(),
        tag: None,
        digest: Some(digest.clone()),
    }
}

fn by_tag(repo: &Repository, tag: &str) -> Reference {
    Reference {
        registry: repo.registry.clone(),
        repository: repo.name.clone(),
        tag: Some(tag.to_owned()),
        digest: None,
    }
}
