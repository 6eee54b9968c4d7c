//! Reading one repository of the registry's storage into the catalogue's model.
//!
//! A repository is a package when its tags point at package builds (an image manifest
//! whose config has a `paks` field) or at indexes over them; anything else is an image.

use std::collections::BTreeMap;

use paks_oci::{Descriptor, ImageIndex, ImageManifest};
use paks_registry::names::RepoName;
use paks_registry::storage::{Storage, StorageError};
use paks_types::{Digest, ImageConfig};

use crate::model::{
    Attachments, Build, Dependency, Package, PackageVersion, Referrer, RepositoryKind,
    RepositorySummary, TestStatus,
};

/// Largest config blob read (package configs list their files; big but bounded).
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

/// What one repository is.
#[derive(Debug, Clone)]
pub enum Entry {
    Package(Box<Package>),
    Image(RepositorySummary),
}

impl Entry {
    pub fn summary(&self) -> RepositorySummary {
        match self {
            Self::Package(p) => RepositorySummary {
                name: p.repository.clone(),
                kind: RepositoryKind::Package,
                tags: p.versions.len(),
            },
            Self::Image(s) => s.clone(),
        }
    }
}

/// Reads repository `repo`; `None` when it no longer exists (or has no tags).
pub fn scan_repository(
    storage: &dyn Storage,
    repo: &RepoName,
) -> Result<Option<Entry>, StorageError> {
    let Some(tags) = storage.list_tags(repo)? else {
        return Ok(None);
    };
    if tags.is_empty() {
        return Ok(None);
    }
    let mut versions: Vec<(semver::Version, PackageVersion)> = Vec::new();
    let mut first: Option<ImageConfig> = None;
    let mut plain = 0usize;
    for tag in &tags {
        let Some(digest) = storage.resolve_tag(repo, tag)? else {
            continue;
        };
        let builds = read_builds(storage, repo, &digest)?;
        if builds.is_empty() {
            plain += 1;
            continue;
        }
        // Only the tag that names the version (not `latest`, not build tags) is a version.
        let meta = &builds[0].1.paks;
        if tag != &meta.version.to_string()
            && meta.origin.as_ref().is_none_or(|o| &o.version != tag)
        {
            continue;
        }
        let version = meta
            .origin
            .as_ref()
            .map_or_else(|| meta.version.to_string(), |o| o.version.clone());
        if first.as_ref().is_none_or(|f| f.paks.version < meta.version) {
            first = Some(builds[0].1.clone());
        }
        versions.push((
            meta.version.clone(),
            PackageVersion {
                version,
                tag: tag.clone(),
                digest,
                builds: builds.into_iter().map(|(b, _)| b).collect(),
            },
        ));
    }
    let Some(newest) = first else {
        return Ok(Some(Entry::Image(RepositorySummary {
            name: repo.to_string(),
            kind: RepositoryKind::Image,
            tags: tags.len().max(plain),
        })));
    };
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    let (namespace, name) = split_repository(repo.as_str());
    let meta = newest.paks;
    Ok(Some(Entry::Package(Box::new(Package {
        repository: repo.to_string(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        summary: meta.summary,
        license: meta.license,
        homepage: meta.homepage,
        kind: meta.kind,
        versions: versions.into_iter().map(|(_, v)| v).collect(),
        reverse_dependencies: Vec::new(),
    }))))
}

/// `acme/tools/hello` → (`acme/tools`, `hello`).
pub fn split_repository(repo: &str) -> (&str, &str) {
    repo.rsplit_once('/').unwrap_or(("", repo))
}

/// The package builds `digest` names: itself, or the children of an index.
fn read_builds(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Vec<(Build, ImageConfig)>, StorageError> {
    let Some(stored) = storage.get_manifest(repo, digest)? else {
        return Ok(Vec::new());
    };
    if let Ok(index) = serde_json::from_slice::<ImageIndex>(&stored.bytes)
        && !index.manifests.is_empty()
        && stored.media_type.contains("index")
    {
        let mut builds = Vec::new();
        for child in &index.manifests {
            if let Some(b) = read_build(storage, repo, &child.digest, Some(child))? {
                builds.push(b);
            }
        }
        return Ok(builds);
    }
    Ok(read_build(storage, repo, digest, None)?
        .into_iter()
        .collect())
}

fn read_build(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
    descriptor: Option<&Descriptor>,
) -> Result<Option<(Build, ImageConfig)>, StorageError> {
    let Some(stored) = storage.get_manifest(repo, digest)? else {
        return Ok(None);
    };
    let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&stored.bytes) else {
        return Ok(None);
    };
    if manifest.config.size > CONFIG_LIMIT || manifest.layers.len() != 1 {
        return Ok(None);
    }
    let Some(mut blob) = storage.open_blob(repo, &manifest.config.digest)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut blob.reader, &mut bytes)
        .map_err(|e| StorageError::io(format!("reading config `{}`", manifest.config.digest), e))?;
    let Ok(config) = serde_json::from_slice::<ImageConfig>(&bytes) else {
        return Ok(None);
    };
    let annotations = descriptor.map(|d| &d.annotations);
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).cloned();
    let meta = &config.paks;
    let build = Build {
        manifest: digest.clone(),
        id: meta.id.to_string(),
        platform: meta.platform.to_string(),
        target: annotation(paks_remote::format::ANNOTATION_TARGET),
        glibc: annotation(paks_remote::format::ANNOTATION_GLIBC),
        layer_size: manifest.layers[0].size,
        size: meta.size,
        files: meta.files,
        dependencies: meta
            .dependencies
            .iter()
            .map(|d| Dependency {
                name: d.name.to_string(),
                requirement: d.req.to_string(),
                version: d.id.version().to_string(),
                id: d.id.to_string(),
                manifest: d.digest.clone(),
                repository: None,
            })
            .collect(),
        attachments: attachments(storage, repo, digest)?,
    };
    Ok(Some((build, config)))
}

/// The referrers of `digest`, sorted into what they are.
fn attachments(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Attachments, StorageError> {
    let mut out = Attachments::default();
    for r in storage.referrers(repo, digest)? {
        let kind = r.artifact_type.clone().unwrap_or_default();
        if kind == paks_attest::SIGNATURE {
            out.signed = true;
        } else if kind.contains("spdx") || kind.contains("cyclonedx") {
            out.sbom = true;
        } else if kind.contains("in-toto") || kind.contains("provenance") {
            out.provenance = true;
        } else if kind == paks_attest::TEST_RESULTS {
            let passed = r
                .annotations
                .as_ref()
                .and_then(|a: &BTreeMap<String, String>| a.get("io.paks.test.passed"))
                .is_none_or(|v| v == "true");
            out.tests = Some(if passed {
                TestStatus::Passed
            } else {
                TestStatus::Failed
            });
        }
        out.referrers.push(Referrer {
            digest: r.digest,
            artifact_type: r.artifact_type,
            size: r.size,
        });
    }
    Ok(out)
}
