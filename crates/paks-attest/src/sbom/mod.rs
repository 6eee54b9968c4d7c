//! Software bills of materials: what a package build (or an image composed from packages)
//! is made of, as one model written out as SPDX 2.3 JSON ([`Sbom::to_spdx_json`], the
//! default) or `CycloneDX` 1.5 JSON ([`Sbom::to_cyclonedx_json`]).
//!
//! [`from_pak`] reads everything from a `.pak`: the package's metadata (its config's
//! `paks` field, with an imported package's Debian or Alpine origin) and every regular
//! file of its layer, hashed with sha256 and SHA-1 in one pass. A build adds the recipe's
//! sources with [`Sbom::add_sources`]. The document is deterministic: the same `.pak`,
//! sources and creation time give the same bytes (see `docs/trust.md`).

mod cyclonedx;
mod purl;
mod spdx;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use paks_archive::{ArchiveError, PakReader};
use paks_types::{Digest, ImageConfig, PackageKind, PackageMeta, Sha256Hasher};
use sha1::{Digest as _, Sha1};

pub use purl::purl;

/// The environment variable that fixes every SBOM's creation time, as reproducible builds
/// define it: seconds since 1970-01-01 UTC.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Why an SBOM could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("cannot read the package `{}`", path.display())]
    Pak {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
    #[error("the package `{}` has no valid paks metadata", path.display())]
    Meta {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot read the files of the package `{}`", path.display())]
    Layer {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A bill of materials: one subject (a package build or an image), its files, what it was
/// built from, and the components it relates to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sbom {
    /// When the document was made: RFC 3339, UTC, to the second.
    pub created: String,
    /// The package or image the document describes.
    pub subject: Component,
    /// The subject's regular files, sorted by path.
    pub files: Vec<FileEntry>,
    /// What the subject was built from.
    pub sources: Vec<SourceRef>,
    /// Other components, each with how the subject relates to it, in order.
    pub components: Vec<(Relation, Component)>,
}

/// How the subject relates to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// A run dependency of the package.
    DependsOn,
    /// A package inside the image.
    Contains,
    /// The image's base image.
    DescendantOf,
}

/// What kind of thing a component is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ComponentKind {
    /// A package (built by paks or imported).
    #[default]
    Package,
    /// A container image.
    Image,
}

/// A package or an image, with what is known about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Component {
    pub kind: ComponentKind,
    pub name: String,
    /// The version to show (an imported package's distribution version, verbatim).
    pub version: Option<String>,
    /// The paks package id (`<hash>-<name>-<version>`).
    pub id: Option<String>,
    /// Its package URL (`pkg:generic/hello@1.0.0`, `pkg:deb/debian/…`).
    pub purl: Option<String>,
    pub summary: Option<String>,
    /// The license as stated (an SPDX expression, when valid: see [`spdx_license`]).
    pub license: Option<String>,
    pub homepage: Option<String>,
    /// Who supplies it (an imported package's maintainer: `Name <email>`).
    pub supplier: Option<String>,
    /// The digest of its OCI manifest (a package build's, or an image's).
    pub digest: Option<Digest>,
    /// The sha256 of the original `.deb` or `.apk` file, for imported packages.
    pub file_digest: Option<Digest>,
    /// The source package it was built from (`glibc 2.36-9+deb12u4`), for imports.
    pub source_package: Option<String>,
    /// Relation fields of its distribution's control data (`depends`, …), verbatim.
    pub relations: BTreeMap<String, String>,
}

/// One regular file of the subject, with its digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the package's prefix (store packages) or to `/` (imported packages).
    pub path: String,
    /// Lower-case hex.
    pub sha256: String,
    /// Lower-case hex; SPDX 2.3 requires it for every file.
    pub sha1: String,
    pub size: u64,
}

/// A source the subject was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// A download, pinned by its digest.
    Url { url: String, sha256: Digest },
    /// A git checkout, pinned by its commit.
    Git { url: String, commit: String },
    /// A file or directory beside the recipe (digest only when the recipe states one).
    Path {
        path: String,
        sha256: Option<Digest>,
    },
}

impl SourceRef {
    /// The recipe's view of a source.
    pub fn from_recipe(source: &paks_recipe::Source) -> Self {
        match &source.kind {
            paks_recipe::SourceKind::Url { url, sha256, .. } => Self::Url {
                url: url.clone(),
                sha256: sha256.clone(),
            },
            paks_recipe::SourceKind::Git { url, commit } => Self::Git {
                url: url.clone(),
                commit: commit.clone(),
            },
            paks_recipe::SourceKind::Path { path, sha256 } => Self::Path {
                path: path.display().to_string(),
                sha256: sha256.clone(),
            },
        }
    }
}

impl Component {
    /// A package build, from its metadata and its manifest's digest.
    pub fn from_meta(meta: &PackageMeta, digest: Option<Digest>) -> Self {
        let origin = meta.origin.as_ref();
        Self {
            kind: ComponentKind::Package,
            name: meta.name.to_string(),
            version: Some(meta.shown_version()),
            id: Some(meta.id.to_string()),
            purl: Some(purl(meta)),
            summary: meta.summary.clone(),
            license: meta.license.clone(),
            homepage: meta.homepage.clone(),
            supplier: origin.and_then(|o| o.maintainer.clone()),
            digest,
            file_digest: origin.map(|o| o.file_digest.clone()),
            source_package: origin.and_then(|o| {
                let name = o.source.as_ref()?;
                let version = o.source_version.as_ref().unwrap_or(&o.version);
                Some(format!("{name} {version}"))
            }),
            relations: origin.map(|o| o.relations.clone()).unwrap_or_default(),
        }
    }

    /// A dependency as a package records it: name, exact build and manifest digest.
    fn from_dep(dep: &paks_types::PackageDep) -> Self {
        Self {
            name: dep.name.to_string(),
            version: Some(dep.id.version().to_string()),
            id: Some(dep.id.to_string()),
            purl: Some(purl::generic(
                dep.name.as_str(),
                &dep.id.version().to_string(),
            )),
            digest: dep.digest.clone(),
            ..Self::default()
        }
    }
}

/// The license expression as SPDX documents may state it: the text when it is a valid
/// SPDX expression of listed licenses, else `None` (written `NOASSERTION`). `LicenseRef-`
/// identifiers are refused too: a document would have to define their text.
pub fn spdx_license(license: Option<&str>) -> Option<&str> {
    let text = license?.trim();
    let expression = ::spdx::Expression::parse(text).ok()?;
    let listed = expression.requirements().all(|r| match &r.req.license {
        ::spdx::LicenseItem::Spdx { .. } => true,
        ::spdx::LicenseItem::Other(_) => false,
    });
    listed.then_some(text)
}

/// The creation time of a document: `SOURCE_DATE_EPOCH` when set to a number of seconds,
/// else `fallback`.
pub fn created_time(fallback: SystemTime) -> String {
    let epoch = std::env::var(SOURCE_DATE_EPOCH)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok());
    match epoch {
        Some(secs) => paks_index::Timestamp::from_unix(secs),
        None => paks_index::Timestamp::from_system_time(fallback),
    }
    .as_str()
    .to_owned()
}

/// The SBOM of a `.pak`: its package, dependencies (with their manifest digests), and
/// every regular file of its layer. Created at `SOURCE_DATE_EPOCH`, else at the `.pak`'s
/// modification time (when it was built), so a second call on the same file gives the
/// same document.
pub fn from_pak(path: &Path) -> Result<Sbom, SbomError> {
    let pak_err = |source| SbomError::Pak {
        path: path.to_owned(),
        source,
    };
    let pak = PakReader::open(path).map_err(pak_err)?;
    let config: ImageConfig = serde_json::from_slice(&pak.config_bytes().map_err(pak_err)?)
        .map_err(|source| SbomError::Meta {
            path: path.to_owned(),
            source,
        })?;
    let meta = config.paks;
    let layer_err = |source| SbomError::Layer {
        path: path.to_owned(),
        source,
    };
    let files = {
        let reader = pak.layer_reader().map_err(pak_err)?;
        let prefix = match meta.kind {
            PackageKind::Store => format!(
                "{}/{}/",
                paks_types::CANONICAL_STORE.trim_start_matches('/'),
                meta.id
            ),
            PackageKind::Rootfs => String::new(),
        };
        layer_files(reader, &prefix).map_err(layer_err)?
    };
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(layer_err)?;
    let subject = Component::from_meta(&meta, Some(pak.manifest_digest().clone()));
    let components = meta
        .dependencies
        .iter()
        .map(|d| (Relation::DependsOn, Component::from_dep(d)))
        .collect();
    Ok(Sbom {
        created: created_time(modified),
        subject,
        files,
        sources: Vec::new(),
        components,
    })
}

impl Sbom {
    /// Add the recipe's sources (what `paks build` knows and the `.pak` does not).
    pub fn add_sources(&mut self, sources: &[paks_recipe::Source]) {
        self.sources
            .extend(sources.iter().map(SourceRef::from_recipe));
    }

    /// The aggregate SBOM of an image: `image` (its name and manifest digest), every
    /// package in it, and the base images it starts from (one per platform).
    pub fn for_image(
        image: Component,
        packages: impl IntoIterator<Item = Component>,
        bases: impl IntoIterator<Item = Component>,
        created: String,
    ) -> Self {
        let mut components: Vec<(Relation, Component)> = packages
            .into_iter()
            .map(|p| (Relation::Contains, p))
            .collect();
        components.extend(bases.into_iter().map(|b| (Relation::DescendantOf, b)));
        Self {
            created,
            subject: Component {
                kind: ComponentKind::Image,
                ..image
            },
            files: Vec::new(),
            sources: Vec::new(),
            components,
        }
    }

    /// The document's name: the subject's package id, else its name.
    fn name(&self) -> &str {
        self.subject.id.as_deref().unwrap_or(&self.subject.name)
    }
}

/// Every regular file of a layer under `prefix`, with its digests, sorted by path. The
/// layer is read to its end, so a [`paks_types::VerifyingReader`] under it checks the
/// digest before this returns.
fn layer_files(mut layer: impl Read, prefix: &str) -> io::Result<Vec<FileEntry>> {
    // Later entries of a tar win, as when it is extracted.
    let mut files = BTreeMap::new();
    {
        let decoder = paks_archive::decompress(&mut layer)?;
        let mut archive = tar::Archive::new(decoder);
        let mut buf = vec![0; 64 * 1024];
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            let Some(rel) = relative(&entry.path()?, prefix) else {
                continue;
            };
            // A hard link is one more name of a file the layer already holds.
            if kind == tar::EntryType::Link {
                let target = entry.link_name()?.and_then(|t| relative(&t, prefix));
                if let Some(file) = target.and_then(|t| files.get(&t)).cloned() {
                    files.insert(rel.clone(), FileEntry { path: rel, ..file });
                }
                continue;
            }
            if kind != tar::EntryType::Regular {
                continue;
            }
            let (mut sha256, mut sha1) = (Sha256Hasher::default(), Sha1::new());
            loop {
                let n = entry.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                sha256.update(&buf[..n]);
                sha1.update(&buf[..n]);
            }
            let file = FileEntry {
                path: rel.clone(),
                size: sha256.len(),
                sha256: sha256.finish().hex().to_owned(),
                sha1: data_encoding::HEXLOWER.encode(&sha1.finalize()),
            };
            files.insert(rel, file);
        }
    }
    // The tar reader stops at the end-of-archive blocks; the rest must still be read.
    io::copy(&mut layer, &mut io::sink())?;
    Ok(files.into_values().collect())
}

/// A layer path relative to `prefix` (`None` outside it).
fn relative(path: &Path, prefix: &str) -> Option<String> {
    let raw = path.to_string_lossy();
    let trimmed = raw.trim_start_matches("./").trim_start_matches('/');
    let rel = trimmed.strip_prefix(prefix)?;
    (!rel.is_empty()).then(|| rel.to_owned())
}
