//! Building an index: from a registry namespace (incrementally, over a previous index),
//! or from a directory of `.pak` files.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt as _, TryStreamExt as _};
use paks_oci::{Client, ImageIndex, ImageManifest, MANIFEST_LIMIT, OCI_MANIFEST, Repository};
use paks_remote::format;
use paks_types::{Digest, ImageConfig, PackageName, Version};

use crate::error::{IndexError, io_err};
use crate::schema::{
    ANNOTATION_GLIBC, ANNOTATION_TARGET, BlobEntry, BuildEntry, INDEX_REPOSITORY, Index,
    LayerEntry, PackageEntry, VersionEntry, pak_file_name,
};
use crate::time::Timestamp;

/// How long a new index stays valid unless told otherwise: 30 days.
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_hours(30 * 24);

/// When the index is built and how long it stays valid.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub now: SystemTime,
    pub expires_in: Duration,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            now: SystemTime::now(),
            expires_in: DEFAULT_EXPIRES_IN,
        }
    }
}

/// What building an index read and what it reused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Package repositories found under the namespace (or `.pak` files read).
    pub repositories: usize,
    /// Version tags found.
    pub versions: usize,
    /// Version indexes fetched (new or changed since the previous index).
    pub versions_read: usize,
    /// Versions whose index digest was unchanged: taken from the previous index.
    pub versions_reused: usize,
    /// Builds whose manifest and config were fetched.
    pub builds_read: usize,
    /// Builds taken from the previous index by manifest digest.
    pub builds_reused: usize,
    /// What was left out, and why.
    pub skipped: Vec<Skipped>,
}

/// Something left out of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// A reference (`registry/repo:tag`, `…@digest`) or a file.
    pub what: String,
    pub reason: String,
}

impl BuildReport {
    fn add(&mut self, other: Self) {
        self.repositories += other.repositories;
        self.versions += other.versions;
        self.versions_read += other.versions_read;
        self.versions_reused += other.versions_reused;
        self.builds_read += other.builds_read;
        self.builds_reused += other.builds_reused;
        self.skipped.extend(other.skipped);
    }

    fn skip(&mut self, what: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            what: what.into(),
            reason: reason.into(),
        });
    }
}

/// The source string of a registry namespace: `oci://REGISTRY/NAMESPACE`.
pub fn oci_source(namespace: &Repository) -> String {
    if namespace.name.is_empty() {
        format!("oci://{}", namespace.registry)
    } else {
        format!("oci://{}/{}", namespace.registry, namespace.name)
    }
}

/// The version a tag names, if it is a version tag: the version with `+` written `_`
/// (`format::version_tag`), and not a build tag (`<version-tag>-<32-character id hash>`).
/// Referrers fallback tags (`sha256-…`) and other tags are not versions.
pub fn version_of_tag(tag: &str) -> Option<Version> {
    let version = parse_version_tag(tag)?;
    let is_build_tag = tag.rsplit_once('-').is_some_and(|(prefix, hash)| {
        hash.len() == 32
            && hash
                .chars()
                .all(|c| "0123456789abcdfghijklmnpqrsvwxyz".contains(c))
            && parse_version_tag(prefix).is_some()
    });
    (!is_build_tag).then_some(version)
}

fn parse_version_tag(tag: &str) -> Option<Version> {
    let version = Version::parse(&tag.replace('_', "+")).ok()?;
    (format::version_tag(&version) == tag).then_some(version)
}

/// The package repositories of a namespace: its direct children, less the index's own.
fn package_repositories(namespace: &Repository, all: Vec<String>) -> Vec<String> {
    all.into_iter()
        .filter_map(|name| {
            let rest = if namespace.name.is_empty() {
                name.as_str()
            } else {
                name.strip_prefix(&namespace.name)?.strip_prefix('/')?
            };
            (!rest.is_empty() && !rest.contains('/') && rest != INDEX_REPOSITORY)
                .then(|| rest.to_owned())
        })
        .collect()
}

/// Build the index of `namespace` (a registry and a namespace path, as in
/// `paks_remote`): every package repository under it (from the catalog), every version
/// tag, every build of each version. With `previous`, versions whose index digest is
/// unchanged are taken from it without being read again, and so are builds it lists by
/// manifest digest; the new index's version is the previous one's plus one (else 1).
pub async fn build_index(
    client: &Client,
    namespace: &Repository,
    previous: Option<&Index>,
    options: &BuildOptions,
) -> Result<(Index, BuildReport), IndexError> {
    let all = client.catalog(&namespace.registry, None, None).await?;
    let repos = package_repositories(namespace, all);
    let previous_builds: HashMap<&Digest, &BuildEntry> = previous
        .map(|p| p.builds().map(|b| (&b.build.digest, b.build)).collect())
        .unwrap_or_default();
    let previous_packages: HashMap<&str, (&PackageName, &PackageEntry)> = previous
        .map(|p| {
            p.packages
                .iter()
                .map(|(name, entry)| (entry.repository.as_str(), (name, entry)))
                .collect()
        })
        .unwrap_or_default();
    let context = Context {
        client,
        namespace,
        previous_builds: &previous_builds,
    };
    let results: Vec<(Option<(PackageName, PackageEntry)>, BuildReport)> =
        futures_util::stream::iter(repos.iter().map(|repo| {
            let context = &context;
            let previous = previous_packages.get(repo.as_str()).copied();
            async move { context.package(repo, previous).await }
        }))
        .buffered(client.config().concurrency)
        .try_collect()
        .await?;
    let mut report = BuildReport::default();
    let mut packages = BTreeMap::new();
    for (package, part) in results {
        report.add(part);
        if let Some((name, entry)) = package {
            if packages.contains_key(&name) {
                report.skip(
                    format!("{}/{}", namespace, entry.repository),
                    format!("another repository already holds package `{name}`"),
                );
                continue;
            }
            packages.insert(name, entry);
        }
    }
    report.repositories = repos.len();
    let generated = Timestamp::from_system_time(options.now);
    let mut index = Index::new(
        oci_source(namespace),
        previous.map_or(1, |p| p.version + 1),
        generated.clone(),
        generated.plus(options.expires_in),
    );
    index.packages = packages;
    Ok((index, report))
}

struct Context<'a> {
    client: &'a Client,
    namespace: &'a Repository,
    previous_builds: &'a HashMap<&'a Digest, &'a BuildEntry>,
}

/// The description of a package, from one of its builds.
struct About {
    name: PackageName,
    summary: Option<String>,
    license: Option<String>,
    homepage: Option<String>,
}

impl About {
    fn previous(name: &PackageName, entry: &PackageEntry) -> Self {
        Self {
            name: name.clone(),
            summary: entry.summary.clone(),
            license: entry.license.clone(),
            homepage: entry.homepage.clone(),
        }
    }
}

impl Context<'_> {
    /// Index one package repository: its version tags, each version's builds.
    async fn package(
        &self,
        repo_name: &str,
        previous: Option<(&PackageName, &PackageEntry)>,
    ) -> Result<(Option<(PackageName, PackageEntry)>, BuildReport), IndexError> {
        let mut report = BuildReport::default();
        let repo = Repository {
            registry: self.namespace.registry.clone(),
            name: if self.namespace.name.is_empty() {
                repo_name.to_owned()
            } else {
                format!("{}/{repo_name}", self.namespace.name)
            },
        };
        let tags = match self.client.list_tags(&repo).await {
            Ok(tags) => tags,
            // Listed by the catalog but gone (deleted meanwhile), or empty.
            Err(e) if e.is_not_found() => {
                report.skip(repo.to_string(), "the repository has no tags");
                return Ok((None, report));
            }
            Err(e) => return Err(e.into()),
        };
        let mut versions: Vec<(Version, String)> = tags
            .into_iter()
            .filter_map(|tag| version_of_tag(&tag).map(|v| (v, tag)))
            .collect();
        versions.sort();
        report.versions = versions.len();
        let mut entries = BTreeMap::new();
        // The description comes from the newest version that has one.
        let mut about: Option<(Version, About)> = None;
        for (version, tag) in versions {
            let reference = repo.reference_tag(&tag);
            let reused = previous.and_then(|(name, p)| {
                let v = p.versions.get(&version)?;
                Some((name, p, v, v.digest.clone()?))
            });
            if let Some((name, p, entry, digest)) = reused
                && let Some((current, _, _)) = self.client.head_manifest(&reference).await?
                && current == digest
            {
                report.versions_reused += 1;
                report.builds_reused += entry.builds.len();
                entries.insert(version.clone(), entry.clone());
                about = Some((version, About::previous(name, p)));
                continue;
            }
            let Some((entry, found)) = self
                .version(&repo, &version, &reference, &mut report)
                .await?
            else {
                continue;
            };
            if let Some(found) = found
                && about.as_ref().is_none_or(|(v, _)| *v <= version)
            {
                about = Some((version.clone(), found));
            }
            entries.insert(version, entry);
        }
        // Versions whose builds were all reused by digest describe nothing new: the
        // previous entry does, or at least the builds' ids name the package.
        let about = match (about, previous) {
            (Some((_, about)), _) => about,
            (None, Some((name, p))) => About::previous(name, p),
            (None, None) => match entries.values().flat_map(|e| &e.builds).next() {
                Some(b) => About {
                    name: b.id.name().clone(),
                    summary: None,
                    license: None,
                    homepage: None,
                },
                None => return Ok((None, report)),
            },
        };
        // Builds reused by digest may belong to another name only if the registry was
        // rewritten; keep the index consistent.
        for (version, entry) in &mut entries {
            entry.builds.retain(|b| {
                let ok = b.id.name() == &about.name && b.id.version() == version;
                if !ok {
                    report.skip(
                        format!("{repo}@{}", b.digest),
                        format!(
                            "it is `{}`, not a build of `{}` {version}",
                            b.id, about.name
                        ),
                    );
                }
                ok
            });
        }
        entries.retain(|_, e| !e.builds.is_empty());
        let entry = PackageEntry {
            repository: repo_name.to_owned(),
            summary: about.summary,
            license: about.license,
            homepage: about.homepage,
            versions: entries,
        };
        Ok((Some((about.name, entry)), report))
    }

    /// Read one version's image index and the builds it lists that are not in the
    /// previous index. `None` (and a note in the report) when it yields no build; with
    /// the entry, the description from its first build read, if any.
    async fn version(
        &self,
        repo: &Repository,
        version: &Version,
        reference: &paks_oci::Reference,
        report: &mut BuildReport,
    ) -> Result<Option<(VersionEntry, Option<About>)>, IndexError> {
        let manifest = match self.client.get_manifest(reference).await {
            Ok(m) => m,
            Err(e) if e.is_not_found() => {
                report.skip(reference.to_string(), "the tag disappeared while indexing");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        report.versions_read += 1;
        if !manifest.is_index() {
            report.skip(
                reference.to_string(),
                format!("it holds a `{}`, not an image index", manifest.media_type),
            );
            return Ok(None);
        }
        let Ok(oci_index) = serde_json::from_slice::<ImageIndex>(&manifest.bytes) else {
            report.skip(reference.to_string(), "its image index does not parse");
            return Ok(None);
        };
        let mut builds = Vec::new();
        let mut about = None;
        for descriptor in &oci_index.manifests {
            if let Some(previous) = self.previous_builds.get(&descriptor.digest) {
                report.builds_reused += 1;
                builds.push((*previous).clone());
            } else if let Some((build, found)) =
                self.build(repo, version, descriptor, report).await?
            {
                report.builds_read += 1;
                about.get_or_insert(found);
                builds.push(build);
            }
        }
        if builds.is_empty() {
            report.skip(reference.to_string(), "no usable builds");
            return Ok(None);
        }
        builds.sort_by(|a, b| {
            (&a.platform, &a.target, &a.digest).cmp(&(&b.platform, &b.target, &b.digest))
        });
        let entry = VersionEntry {
            digest: Some(manifest.digest),
            builds,
        };
        Ok(Some((entry, about)))
    }

    /// One build of a version, from its manifest and config; `None` (and a note in the
    /// report) when it is not a paks build of that version.
    async fn build(
        &self,
        repo: &Repository,
        version: &Version,
        descriptor: &paks_oci::Descriptor,
        report: &mut BuildReport,
    ) -> Result<Option<(BuildEntry, About)>, IndexError> {
        let reference = repo.reference_digest(&descriptor.digest);
        let what = reference.to_string();
        if descriptor.media_type != OCI_MANIFEST {
            report.skip(what, format!("it is a `{}`", descriptor.media_type));
            return Ok(None);
        }
        let manifest = self.client.get_manifest(&reference).await?;
        let Ok(parsed) = serde_json::from_slice::<ImageManifest>(&manifest.bytes) else {
            report.skip(what, "its manifest does not parse");
            return Ok(None);
        };
        let [layer] = parsed.layers.as_slice() else {
            report.skip(
                what,
                format!("it has {} layers, not 1", parsed.layers.len()),
            );
            return Ok(None);
        };
        let config_bytes = self
            .client
            .pull_blob_bytes(repo, &parsed.config.digest, MANIFEST_LIMIT)
            .await?;
        let config = match paks_store::parse_config(&config_bytes, &what) {
            Ok(c) => c,
            Err(e) => {
                report.skip(what, format!("{e}"));
                return Ok(None);
            }
        };
        if config.paks.version != *version {
            report.skip(
                what,
                format!(
                    "it is version {}, listed under {version}",
                    config.paks.version
                ),
            );
            return Ok(None);
        }
        let annotation = |key: &str| {
            descriptor
                .annotations
                .get(key)
                .or_else(|| parsed.annotations.get(key))
                .cloned()
        };
        let entry = build_entry(
            &config,
            descriptor.digest.clone(),
            BlobEntry {
                digest: parsed.config.digest.clone(),
                size: parsed.config.size,
            },
            LayerEntry {
                digest: layer.digest.clone(),
                size: layer.size,
                media_type: layer.media_type.clone(),
            },
            annotation(ANNOTATION_TARGET),
            annotation(ANNOTATION_GLIBC).as_deref(),
            pak_file_name(&config.paks.id),
        );
        Ok(Some((entry, about(&config))))
    }
}

fn about(config: &ImageConfig) -> About {
    About {
        name: config.paks.name.clone(),
        summary: config.paks.summary.clone(),
        license: config.paks.license.clone(),
        homepage: config.paks.homepage.clone(),
    }
}

fn build_entry(
    config: &ImageConfig,
    digest: Digest,
    config_blob: BlobEntry,
    layer: LayerEntry,
    target: Option<String>,
    glibc: Option<&str>,
    file: String,
) -> BuildEntry {
    let meta = &config.paks;
    BuildEntry {
        id: meta.id.clone(),
        digest,
        platform: meta.platform.clone(),
        target: target.filter(|t| !t.is_empty()),
        glibc: glibc.and_then(parse_glibc),
        config: config_blob,
        layer,
        size: meta.size,
        files: meta.files,
        dependencies: meta.dependencies.clone(),
        file: Some(file),
        kind: meta.kind,
        distribution_version: meta.origin.as_ref().map(|o| o.version.clone()),
    }
}

/// A glibc version as semver: `2.36` is `2.36.0`.
fn parse_glibc(text: &str) -> Option<Version> {
    let text = text.trim();
    Version::parse(text)
        .ok()
        .or_else(|| Version::parse(&format!("{text}.0")).ok())
}

/// Build the index of a directory of `.pak` files (a static repository built locally):
/// each build's `file` is its file name there, and versions have no OCI index digest.
/// `source` names the repository in the index. Blocking: reads every archive's metadata.
pub fn build_from_paks(
    dir: &Path,
    source: &str,
    previous: Option<&Index>,
    options: &BuildOptions,
) -> Result<(Index, BuildReport), IndexError> {
    let mut report = BuildReport::default();
    let mut files: Vec<_> = fs_err::read_dir(dir)
        .map_err(io_err("read", dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pak") && p.is_file())
        .collect();
    files.sort();
    let mut packages: BTreeMap<PackageName, PackageEntry> = BTreeMap::new();
    for path in files {
        report.repositories += 1;
        let file_name = path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
        let Some(file_name) = file_name.filter(|n| crate::schema::is_plain_file_name(n)) else {
            report.skip(path.display().to_string(), "its file name is not UTF-8");
            continue;
        };
        let pak = match paks_store::open_pak(&path) {
            Ok(p) => p,
            Err(e) => {
                report.skip(path.display().to_string(), e.to_string());
                continue;
            }
        };
        let config_size = pak.reader.config_bytes().map_err(IndexError::from)?.len() as u64;
        let (layer_digest, layer_size, media_type) = pak.reader.layer_descriptor();
        let annotations = pak.reader.annotations();
        let meta = &pak.config.paks;
        let entry = build_entry(
            &pak.config,
            pak.reader.manifest_digest().clone(),
            BlobEntry {
                digest: pak.reader.config_digest().clone(),
                size: config_size,
            },
            LayerEntry {
                digest: layer_digest,
                size: layer_size,
                media_type,
            },
            annotations.get(ANNOTATION_TARGET).cloned(),
            annotations.get(ANNOTATION_GLIBC).map(String::as_str),
            file_name,
        );
        report.builds_read += 1;
        let repository = match format::repo_name(&meta.name) {
            Ok(r) => r,
            Err(_) => meta.name.to_string(),
        };
        let package = packages
            .entry(meta.name.clone())
            .or_insert_with(|| PackageEntry {
                repository,
                summary: None,
                license: None,
                homepage: None,
                versions: BTreeMap::new(),
            });
        if package
            .versions
            .last_key_value()
            .is_none_or(|(v, _)| *v <= meta.version)
        {
            package.summary.clone_from(&meta.summary);
            package.license.clone_from(&meta.license);
            package.homepage.clone_from(&meta.homepage);
        }
        let version = package
            .versions
            .entry(meta.version.clone())
            .or_insert_with(|| VersionEntry {
                digest: None,
                builds: Vec::new(),
            });
        if version.builds.iter().any(|b| b.digest == entry.digest) {
            report.skip(
                path.display().to_string(),
                "the same build is in another file",
            );
            continue;
        }
        version.builds.push(entry);
        version.builds.sort_by(|a, b| {
            (&a.platform, &a.target, &a.digest).cmp(&(&b.platform, &b.target, &b.digest))
        });
    }
    report.versions = packages.values().map(|p| p.versions.len()).sum();
    let generated = Timestamp::from_system_time(options.now);
    let mut index = Index::new(
        source,
        previous.map_or(1, |p| p.version + 1),
        generated.clone(),
        generated.plus(options.expires_in),
    );
    index.packages = packages;
    Ok((index, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tags_are_told_from_build_and_referrer_tags() {
        let hash = paks_types::id_hash(b"x");
        for (tag, version) in [
            ("1.0.0", Some("1.0.0")),
            ("1.2.3-rc.1", Some("1.2.3-rc.1")),
            ("1.2.3-rc.1_build.5", Some("1.2.3-rc.1+build.5")),
            (&format!("1.0.0-{hash}"), None),
            (&format!("1.2.3-rc.1-{hash}"), None),
            (&format!("sha256-{}", "a".repeat(64)), None),
            ("latest", None),
            ("1.0", None),
            ("01.0.0", None),
            ("1.0.0+x", None),
        ] {
            assert_eq!(
                version_of_tag(tag),
                version.map(|v| Version::parse(v).unwrap()),
                "{tag}"
            );
        }
    }

    #[test]
    fn package_repositories_are_direct_children_but_the_index() {
        let ns = Repository {
            registry: "r".into(),
            name: "acme".into(),
        };
        let all = [
            "acme/hello",
            "acme/paks-index",
            "acme/team/x",
            "acmex/y",
            "other/z",
            "acme",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(package_repositories(&ns, all.clone()), ["hello"]);
        let root = Repository {
            registry: "r".into(),
            name: String::new(),
        };
        assert_eq!(package_repositories(&root, all), ["acme"]);
        assert_eq!(oci_source(&ns), "oci://r/acme");
        assert_eq!(oci_source(&root), "oci://r");
    }

    #[test]
    fn glibc_versions() {
        assert_eq!(parse_glibc("2.36"), Some(Version::new(2, 36, 0)));
        assert_eq!(parse_glibc("2.36.1"), Some(Version::new(2, 36, 1)));
        assert_eq!(parse_glibc("two"), None);
    }
}
