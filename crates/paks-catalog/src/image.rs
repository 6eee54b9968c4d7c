//! An image of the registry as the catalogue shows it: its layers (with the packages they
//! are), its config labels, and the platforms of its index.
//!
//! Read from the storage on request (images are not kept in the catalogue): one manifest,
//! one config, no layer bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use paks_oci::{Descriptor, ImageIndex, ImageManifest, Platform};
use paks_registry::auth::Identity;
use paks_registry::names::RepoName;
use paks_registry::storage::Storage;
use paks_types::Digest;

use crate::Catalog;
use crate::error::CatalogError;
use crate::error::CatalogError as E;
use crate::model::{Image, Layer, PackageRef};

/// Largest image config read (a package's config lists its files: big, but bounded).
pub const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

/// The layer annotation naming the package a layer is (`paks image build`, `paks push`).
pub const ANNOTATION_PACKAGE: &str = "io.paks.package.id";
/// The layer annotation listing the packages merged into one layer (space-separated).
pub const ANNOTATION_PACKAGES_MERGED: &str = "io.paks.package.ids";

/// The platform an index is read for when the caller names none.
const DEFAULT_PLATFORM: (&str, &str) = ("linux", "amd64");

impl Catalog {
    /// Image `reference` (a tag or a digest) of `repository`, if `viewer` may pull it and
    /// it exists; an index is read for linux/amd64 (else its first platform).
    pub fn image(
        &self,
        repository: &str,
        reference: &str,
        viewer: &Identity,
    ) -> Result<Option<Image>, CatalogError> {
        self.image_for(repository, reference, viewer, None)
    }

    /// [`Catalog::image`], choosing from an index the platform `platform` names
    /// (`linux/arm64`, `linux/amd64/v3`: os, architecture, optional variant); without a
    /// variant, a build without one is preferred. Falls back as [`Catalog::image`] does
    /// when the index has no such platform.
    pub fn image_for(
        &self,
        repository: &str,
        reference: &str,
        viewer: &Identity,
        platform: Option<&str>,
    ) -> Result<Option<Image>, CatalogError> {
        if !self.may_pull(viewer, repository) {
            return Ok(None);
        }
        let Ok(repo) = RepoName::parse(repository) else {
            return Ok(None);
        };
        // A reference that is neither a tag nor a digest names no image: the asker's
        // mistake, not a storage failure (the image page answered 500 for `?ref=a b`).
        if paks_registry::names::Reference::parse(reference).is_err() {
            return Ok(None);
        }
        let ctx = self.context().ok_or(E::NotStarted)?;
        let storage = ctx.storage.as_ref();
        let digest = match reference.parse::<Digest>() {
            Ok(d) => d,
            Err(_) => match storage.resolve_tag(&repo, reference)? {
                Some(d) => d,
                None => return Ok(None),
            },
        };
        let Some(stored) = storage.get_manifest(&repo, &digest)? else {
            return Ok(None);
        };
        let damaged = |what: &Digest, reason: String| E::Damaged {
            repository: repository.to_owned(),
            what: format!("manifest {what}"),
            reason,
        };
        let (digest, bytes, platforms) = if is_index(&stored.media_type, &stored.bytes) {
            let index: ImageIndex = serde_json::from_slice(&stored.bytes)
                .map_err(|e| damaged(&digest, e.to_string()))?;
            let children: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|d| d.platform.as_ref().is_none_or(|p| p.os != "unknown"))
                .collect();
            let Some(chosen) = choose(&children, platform) else {
                return Ok(None);
            };
            let others = children
                .iter()
                .filter(|d| d.digest != chosen.digest)
                .filter_map(|d| d.platform.as_ref().map(platform_text))
                .collect();
            let Some(child) = storage.get_manifest(&repo, &chosen.digest)? else {
                return Ok(None);
            };
            (chosen.digest.clone(), child.bytes, others)
        } else {
            (digest, stored.bytes, Vec::new())
        };
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| damaged(&digest, e.to_string()))?;
        let config = read_config(storage, &repo, &manifest.config)?;
        let labels = labels(&config);
        let listed = labels
            .get(paks_types::IMAGE_PACKAGES_KEY)
            .or_else(|| manifest.annotations.get(paks_types::IMAGE_PACKAGES_KEY));
        let layers = self.layers(&manifest.layers, listed.map(String::as_str), viewer);
        Ok(Some(Image {
            repository: repository.to_owned(),
            reference: reference.to_owned(),
            digest,
            platform: config_platform(&config),
            layers,
            labels,
            platforms,
        }))
    }

    /// The layers, each mapped to the package(s) it is, where the viewer may see them.
    fn layers(&self, layers: &[Descriptor], listed: Option<&str>, viewer: &Identity) -> Vec<Layer> {
        let mut ids: Vec<Vec<&str>> = layers
            .iter()
            .map(|d| {
                if let Some(id) = d.annotations.get(ANNOTATION_PACKAGE) {
                    vec![id.as_str()]
                } else if let Some(ids) = d.annotations.get(ANNOTATION_PACKAGES_MERGED) {
                    ids.split_whitespace().collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        // Without layer annotations, the image's list of packages (in layer order) names
        // its top layers, one package each: below them is the base.
        if ids.iter().all(Vec::is_empty)
            && let Some(listed) = listed
        {
            let listed: Vec<&str> = listed.split_whitespace().collect();
            if !listed.is_empty() && listed.len() <= ids.len() {
                let skip = ids.len() - listed.len();
                for (slot, id) in ids.iter_mut().skip(skip).zip(listed) {
                    *slot = vec![id];
                }
            }
        }
        let refs = self.package_refs(&ids.iter().flatten().copied().collect(), viewer);
        layers
            .iter()
            .zip(ids)
            .map(|(d, ids)| {
                let mut found: Vec<PackageRef> =
                    ids.iter().filter_map(|id| refs.get(*id).cloned()).collect();
                let (package, packages) = if ids.len() == 1 {
                    (found.pop(), Vec::new())
                } else {
                    (None, found)
                };
                Layer {
                    digest: d.digest.clone(),
                    size: d.size,
                    media_type: d.media_type.clone(),
                    package,
                    packages,
                }
            })
            .collect()
    }

    /// The packages (in repositories `viewer` may pull) with builds of package ids `ids`.
    fn package_refs(&self, ids: &BTreeSet<&str>, viewer: &Identity) -> HashMap<String, PackageRef> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return out;
        }
        self.catch_up();
        let state = self.inner.state.read().expect("not poisoned");
        for id in ids {
            if let Some(r) = state.package_ref(id, |repo| self.may_pull(viewer, repo)) {
                out.insert((*id).to_owned(), r);
            }
        }
        out
    }
}

/// Whether a stored manifest is an index.
fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    if media_type.contains("index") || media_type.contains("manifest.list") {
        return true;
    }
    // A manifest pushed without a media type: an index has `manifests`, not `layers`.
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v.get("manifests").is_some() && v.get("layers").is_none())
}

/// The child of an index for `wanted` (`os/arch[/variant]`), else linux/amd64, else the
/// first.
fn choose<'a>(children: &[&'a Descriptor], wanted: Option<&str>) -> Option<&'a Descriptor> {
    let matching = |os: &str, arch: &str, variant: Option<&str>| {
        let fits = |d: &&&Descriptor| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == os
                    && p.architecture == arch
                    && (variant.is_none() || p.variant.as_deref() == variant)
            })
        };
        // Without a variant asked for, the generic build (no variant) first.
        children
            .iter()
            .filter(fits)
            .min_by_key(|d| {
                variant.is_none() && d.platform.as_ref().is_some_and(|p| p.variant.is_some())
            })
            .copied()
    };
    wanted
        .and_then(|w| {
            let mut parts = w.split('/');
            let (os, arch) = (parts.next()?, parts.next()?);
            matching(os, arch, parts.next())
        })
        .or_else(|| matching(DEFAULT_PLATFORM.0, DEFAULT_PLATFORM.1, None))
        .or_else(|| children.first().copied())
}

/// `linux/amd64` or `linux/arm64/v8`.
pub fn platform_text(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The config blob of a manifest, parsed (bounded by [`CONFIG_LIMIT`]).
pub(crate) fn read_config(
    storage: &dyn Storage,
    repo: &RepoName,
    config: &Descriptor,
) -> Result<serde_json::Value, CatalogError> {
    if config.size > CONFIG_LIMIT {
        return Err(E::TooLarge {
            what: format!("config {}", config.digest),
            size: config.size,
            limit: CONFIG_LIMIT,
        });
    }
    let Some(blob) = storage.open_blob(repo, &config.digest)? else {
        return Err(E::Damaged {
            repository: repo.to_string(),
            what: format!("config {}", config.digest),
            reason: "the blob is missing".into(),
        });
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(blob.reader, CONFIG_LIMIT),
        &mut bytes,
    )
    .map_err(|e| {
        paks_registry::storage::StorageError::io(format!("reading config `{}`", config.digest), e)
    })?;
    // An artifact's config may be anything (`{}` or not JSON at all): no labels then.
    Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// The string labels of an image config.
fn labels(config: &serde_json::Value) -> BTreeMap<String, String> {
    config
        .get("config")
        .and_then(|c| c.get("Labels"))
        .and_then(serde_json::Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The platform an image config states (`linux/amd64`); empty when it states none.
fn config_platform(config: &serde_json::Value) -> String {
    let s = |k: &str| {
        config
            .get(k)
            .and_then(serde_json::Value::as_str)
            .filter(|x| !x.is_empty())
    };
    match (s("os"), s("architecture"), s("variant")) {
        (Some(os), Some(arch), Some(v)) => format!("{os}/{arch}/{v}"),
        (Some(os), Some(arch), None) => format!("{os}/{arch}"),
        _ => String::new(),
    }
}
