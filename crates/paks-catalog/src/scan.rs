//! Reading one repository of the registry's storage into the catalogue's model.
//!
//! A repository is a package when its tags point at package builds (an image manifest
//! whose config has a `paks` field) or at indexes over them; anything else is an image.

use paks_oci::{Descriptor, ImageIndex, ImageManifest};
use paks_registry::names::RepoName;
use paks_registry::storage::{Storage, StorageError};
use paks_types::{Digest, ImageConfig, PackageId};

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
///
/// A version is a tag that names an index over builds whose `org.opencontainers.image.version`
/// annotation is the tag's version (`paks push` writes them), or a single build's manifest
/// tagged with its own version. Build tags (`<version>-<hash>`), `latest` and other
/// aliases of a version are not versions; only the version indexes' builds are read, so a
/// package costs one config read per build.
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
    let mut newest: Option<ImageConfig> = None;
    let mut singles = Vec::new();
    for tag in &tags {
        let Some(digest) = storage.resolve_tag(repo, tag)? else {
            continue;
        };
        let Some(stored) = storage.get_manifest(repo, &digest)? else {
            continue;
        };
        if !stored.media_type.contains("index") {
            singles.push((tag, digest));
            continue;
        }
        let Ok(index) = serde_json::from_slice::<ImageIndex>(&stored.bytes) else {
            continue;
        };
        let Some(version) = index
            .annotations
            .get(paks_remote::format::ANNOTATION_VERSION)
            .and_then(|v| semver::Version::parse(v).ok())
        else {
            continue;
        };
        if paks_remote::format::version_tag(&version) != *tag {
            continue; // `latest` or another alias of a version
        }
        let mut builds = Vec::new();
        for child in &index.manifests {
            if let Some(b) = read_build(storage, repo, &child.digest, Some(child))? {
                builds.push(b);
            }
        }
        push_version(&mut versions, &mut newest, tag, digest, builds);
    }
    // Single manifests: build tags of the versions read (skipped without a read), or a
    // build tagged with its own version.
    let build_tags: std::collections::HashSet<String> = versions
        .iter()
        .flat_map(|(_, v)| v.builds.iter())
        .filter_map(|b| b.id.parse::<PackageId>().ok())
        .map(|id| paks_remote::format::build_tag(&id))
        .collect();
    for (tag, digest) in singles {
        if build_tags.contains(tag.as_str()) {
            continue;
        }
        let Some(build) = read_build(storage, repo, &digest, None)? else {
            continue;
        };
        if paks_remote::format::version_tag(&build.1.paks.version) != *tag {
            continue;
        }
        push_version(&mut versions, &mut newest, tag, digest, vec![build]);
    }
    let Some(newest) = newest else {
        return Ok(Some(Entry::Image(RepositorySummary {
            name: repo.to_string(),
            kind: RepositoryKind::Image,
            tags: tags.len(),
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

/// Adds version `tag` with `builds` (none: not a version), keeping the newest config.
fn push_version(
    versions: &mut Vec<(semver::Version, PackageVersion)>,
    newest: &mut Option<ImageConfig>,
    tag: &str,
    digest: Digest,
    builds: Vec<(Build, ImageConfig)>,
) {
    let Some((_, config)) = builds.first() else {
        return;
    };
    let meta = &config.paks;
    // An imported package shows its distribution's version text.
    let version = meta
        .origin
        .as_ref()
        .map_or_else(|| meta.version.to_string(), |o| o.version.clone());
    let order = meta.version.clone();
    if newest.as_ref().is_none_or(|f| f.paks.version < order) {
        *newest = Some(config.clone());
    }
    versions.push((
        order,
        PackageVersion {
            version,
            tag: tag.to_owned(),
            digest,
            builds: builds.into_iter().map(|(b, _)| b).collect(),
        },
    ));
}

/// A cheap fingerprint of what `repo`'s tags point at (no manifest is read): a scan is
/// needed when it differs from the last scan's. `None` when the repository is gone.
pub fn fingerprint(storage: &dyn Storage, repo: &RepoName) -> Result<Option<u64>, StorageError> {
    use std::hash::{Hash, Hasher};
    let Some(tags) = storage.list_tags(repo)? else {
        return Ok(None);
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for tag in &tags {
        tag.hash(&mut hasher);
        storage
            .resolve_tag(repo, tag)?
            .map(|d| d.to_string())
            .hash(&mut hasher);
    }
    Ok(Some(hasher.finish()))
}

/// `acme/tools/hello` → (`acme/tools`, `hello`).
pub fn split_repository(repo: &str) -> (&str, &str) {
    repo.rsplit_once('/').unwrap_or(("", repo))
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
    let Some(bytes) = read_blob(
        storage,
        repo,
        &manifest.config.digest,
        manifest.config.size,
        CONFIG_LIMIT,
    )?
    else {
        return Ok(None);
    };
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

/// The referrers of `digest`, sorted into what they are (by the artifact types
/// `paks-attest` writes: see its module documentation).
fn attachments(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Attachments, StorageError> {
    let mut out = Attachments::default();
    // The newest test result (by its start time) decides the status.
    let mut newest_test: Option<(String, TestStatus)> = None;
    for r in storage.referrers(repo, digest)? {
        match r.artifact_type.as_deref().unwrap_or_default() {
            paks_attest::SIGNATURE => out.signed = true,
            paks_attest::SPDX_JSON | paks_attest::CYCLONEDX_JSON => out.sbom = true,
            paks_attest::IN_TOTO_JSON => out.provenance = true,
            paks_attest::TEST_RESULTS => {
                if let Some((started, status)) = test_result(storage, repo, &r.digest)?
                    && newest_test.as_ref().is_none_or(|(s, _)| *s <= started)
                {
                    newest_test = Some((started, status));
                }
            }
            _ => {}
        }
        out.referrers.push(Referrer {
            digest: r.digest,
            artifact_type: r.artifact_type,
            size: r.size,
        });
    }
    out.tests = newest_test.map(|(_, status)| status);
    Ok(out)
}

/// Largest test-results envelope read.
const ENVELOPE_LIMIT: u64 = paks_attest::dsse::MAX_ENVELOPE as u64;

/// The start time and outcome a test-results attachment (manifest `digest`) reports, read
/// from its document (not verified here: `paks verify` checks the signature with a key).
/// `None` when it is not a readable test-results document.
fn test_result(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Option<(String, TestStatus)>, StorageError> {
    let Some(stored) = storage.get_manifest(repo, digest)? else {
        return Ok(None);
    };
    let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&stored.bytes) else {
        return Ok(None);
    };
    let Some(layer) = manifest.layers.first() else {
        return Ok(None);
    };
    let Some(bytes) = read_blob(storage, repo, &layer.digest, layer.size, ENVELOPE_LIMIT)? else {
        return Ok(None);
    };
    let results = paks_attest::Envelope::parse(&bytes)
        .ok()
        .and_then(|envelope| envelope.payload_unverified().ok())
        .and_then(|payload| {
            paks_attest::Statement::parse(&payload, paks_attest::PAKS_TEST_RESULTS_V1).ok()
        })
        .and_then(|statement| {
            serde_json::from_value::<paks_attest::test_results::TestResults>(statement.predicate)
                .ok()
        });
    Ok(results.map(|r| {
        let status = match r.result {
            paks_attest::test_results::Verdict::Passed => TestStatus::Passed,
            paks_attest::test_results::Verdict::Failed => TestStatus::Failed,
        };
        (r.started, status)
    }))
}

/// Blob `digest` of `repo` (`size` bytes as its descriptor says), if it is at most `limit`.
fn read_blob(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
    size: u64,
    limit: u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    if size > limit {
        return Ok(None);
    }
    let Some(blob) = storage.open_blob(repo, digest)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(blob.reader, limit), &mut bytes)
        .map_err(|e| StorageError::io(format!("reading blob `{digest}`"), e))?;
    Ok(Some(bytes))
}
