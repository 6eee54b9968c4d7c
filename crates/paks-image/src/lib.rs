//! Container images composed from packages, without rebuilding anything.
//!
//! A package build in a registry is already an image layer (its one layer is rooted at
//! `opt/paks/store/<id>/`), so an image is a new config and manifest that list the base
//! image's layers, one layer per package in dependency order, and a small last layer with
//! the view and environment ([`view`]). Composing reads manifests and configs only; pushing
//! to the registry the packages are in mounts their layers, so no layer bytes move.
//!
//! - [`spec`]: `image.toml` and its defaults.
//! - [`plan`]: the layer budget, and which packages share a layer when over it.
//! - [`compose`]: the image for one platform, and its outputs: a registry (an image, or an
//!   index over platforms), an OCI image layout, a `docker-archive` tar.
//! - [`rootfs`] and [`conflicts`]: imported packages rooted at `/`, their layer order and
//!   their file conflicts.
//! - [`containerize`]: the same image as a multi-stage Dockerfile, for `docker build`.
//! - [`sysroot`]: the same image extracted into a directory, or written as one tar.
//!
//! The same inputs always give the same bytes: timestamps are fixed, JSON keys sorted,
//! tars deterministic.

pub mod compose;
pub mod conflicts;
pub mod containerize;
mod docker_archive;
pub mod plan;
mod repack;
pub mod rootfs;
pub mod spec;
pub mod sysroot;
pub mod system;
pub mod view;

use std::path::PathBuf;

use paks_types::{Digest, PackageId};

pub use compose::{
    Base, BlobSource, Composed, Composer, LayerSource, Output, PlatformInput, PushStats, base_of,
    base_platform, index_of,
};
pub use spec::{DEFAULT_LAYER_BUDGET, ImageSpec, LayerCompression, MAX_LAYERS};

/// The manifest annotation and config label that list an image's packages (ids,
/// space-separated, in layer order).
pub const PACKAGES_KEY: &str = paks_types::IMAGE_PACKAGES_KEY;
/// The creation time written everywhere: fixed, so the same inputs give the same digest.
pub const CREATED: &str = "1970-01-01T00:00:00Z";

/// What can go wrong composing an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("`{origin}` is not a valid image spec: {reason}")]
    Spec { origin: String, reason: String },
    #[error("the base image `{reference}` cannot be used: {reason}")]
    Base { reference: String, reason: String },
    #[error(
        "the base image has {base} layers, which leaves no room for packages within the layer budget of {budget}"
    )]
    NoRoom { base: usize, budget: usize },
    #[error("package `{id}` lists the path `{path}`, which leaves its prefix")]
    BadContents { id: PackageId, path: String },
    #[error("package `{id}` is not a paks package layer: {reason}")]
    NotAPackage { id: PackageId, reason: String },
    #[error("the layer `{}` does not unpack to its diff id `{expected}` (got `{actual}`)", blob.display())]
    DiffIdMismatch {
        blob: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    /// A value `paks containerize` cannot write into a Dockerfile without changing what
    /// it means (a name that is not a variable name, a control character).
    #[error("cannot write {what} `{value}` into a Dockerfile: {reason}")]
    Dockerfile {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Conflict(#[from] Box<conflicts::Conflict>),
    #[error("a `docker-archive` holds one platform's image; {0} platforms were asked for")]
    ArchiveOnePlatform(usize),
    #[error(transparent)]
    Archive(#[from] paks_archive::ArchiveError),
    #[error(transparent)]
    Oci(#[from] paks_oci::OciError),
    #[error(transparent)]
    Remote(#[from] paks_remote::RemoteError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ImageError {
    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Oci(e) => e.hint(),
            Self::Remote(e) => e.hint(),
            Self::NoRoom { .. } => Some(
                "raise `--layer-budget` (at most 127), or use a base image with fewer layers"
                    .into(),
            ),
            Self::Conflict(c) => Some(c.hint()),
            Self::ArchiveOnePlatform(_) => Some(
                "name one `--platform`, or write an OCI layout (`--output oci:DIR:TAG`)".into(),
            ),
            _ => None,
        }
    }
}
