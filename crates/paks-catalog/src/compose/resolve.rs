//! What a `compose/…` request names, read from the registry's storage: each package's
//! version (the newest, or the one the tag pins), its build per platform, and the closure
//! of their pinned dependencies, as `paks image build` would resolve them over the network.

use std::collections::{BTreeMap, BTreeSet};

use paks_host::HostProfile;
use paks_oci::{Descriptor, ImageIndex, ImageManifest, Repository};
use paks_registry::api::{ApiError, Code};
use paks_registry::names::RepoName;
use paks_registry::storage::Storage;
use paks_remote::Found;
use paks_remote::format::{build_tag, choose_build, platform_name, repo_name, version_tag};
use paks_types::{Digest, ImageConfig, PackageId, Platform};

/// Separates the positions of a tag that pins versions (`1.0.0__latest`): no version tag
/// holds two underscores (a version tag writes `+` as one `_`).
pub const PIN_SEPARATOR: &str = "__";
/// A position (or the whole tag) asking for the newest version.
pub const LATEST: &str = "latest";

/// Largest config blob read.
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

/// The registry name written into the inputs' repositories: the blobs are read from the
/// storage, never through it.
pub const STORAGE_REGISTRY: &str = "storage.invalid";

/// A version's builds: platform → the best build's manifest digest.
type Builds = BTreeMap<Platform, Digest>;

/// One requested package, at the version the tag asks for.
#[derive(Debug, Clone)]
pub struct Root {
    pub repo: RepoName,
    /// The version tag chosen.
    pub tag: String,
    /// Its builds: platform → build manifest digest (the best build of each platform).
    pub builds: BTreeMap<Platform, Digest>,
}

/// The versions `tag` asks of `packages` (in path order): `latest` for every package's
/// newest, or one position per package separated by [`PIN_SEPARATOR`], each a version tag
/// or `latest`.
pub fn positions(tag: &str, packages: &[RepoName]) -> Result<Vec<String>, ApiError> {
    if tag == LATEST {
        return Ok(vec![LATEST.to_owned(); packages.len()]);
    }
    let parts: Vec<&str> = tag.split(PIN_SEPARATOR).collect();
    if parts.len() != packages.len() || parts.iter().any(|p| p.is_empty()) {
        return Err(ApiError::new(
            Code::ManifestUnknown,
            format!(
                "tag `{tag}` must be `latest` or one version per package in path order, joined by `{PIN_SEPARATOR}` ({} here: {}), each a version or `latest`",
                packages.len(),
                packages
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(parts.into_iter().map(str::to_owned).collect())
}

/// A storage failure, as the client's answer.
pub fn storage_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal_with("the registry's storage failed", e)
}

/// The manifest bytes of `digest` in `repo`.
fn manifest(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Option<Vec<u8>>, ApiError> {
    Ok(storage
        .get_manifest(repo, digest)
        .map_err(storage_error)?
        .map(|m| m.bytes))
}

/// The bytes of blob `digest` in `repo` (at most `limit`).
pub fn blob_bytes(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
    limit: u64,
) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(mut blob) = storage.open_blob(repo, digest).map_err(storage_error)? else {
        return Ok(None);
    };
    if blob.size > limit {
        return Err(ApiError::internal_with(
            "a blob is too large",
            format!("`{digest}` has {} bytes", blob.size),
        ));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut blob.reader, &mut bytes).map_err(storage_error)?;
    Ok(Some(bytes))
}

/// A package build: its manifest and config, or `None` when `bytes` is not one.
fn build_of(
    storage: &dyn Storage,
    repo: &RepoName,
    bytes: &[u8],
) -> Result<Option<(ImageManifest, ImageConfig)>, ApiError> {
    let Ok(parsed) = serde_json::from_slice::<ImageManifest>(bytes) else {
        return Ok(None);
    };
    if parsed.layers.len() != 1 {
        return Ok(None);
    }
    let Some(config) = blob_bytes(storage, repo, &parsed.config.digest, CONFIG_LIMIT)? else {
        return Ok(None);
    };
    Ok(paks_store::parse_config(&config, repo.as_str())
        .ok()
        .map(|c| (parsed, c)))
}

/// What a version tag points at: its builds by platform (`None`: not a package version).
/// `tag` must be the version's own tag (not a build tag, not `latest`).
fn version_builds(
    storage: &dyn Storage,
    repo: &RepoName,
    tag: &str,
) -> Result<Option<BTreeMap<Platform, Digest>>, ApiError> {
    let Some(digest) = storage.resolve_tag(repo, tag).map_err(storage_error)? else {
        return Ok(None);
    };
    let Some(bytes) = manifest(storage, repo, &digest)? else {
        return Ok(None);
    };
    let names_version = |config: &ImageConfig| {
        let meta = &config.paks;
        version_tag(&meta.version) == tag
            || meta.version.to_string() == tag
            || meta.origin.as_ref().is_some_and(|o| o.version == tag)
    };
    if let Ok(index) = serde_json::from_slice::<ImageIndex>(&bytes)
        && bytes_are_index(&bytes)
    {
        let mut builds = BTreeMap::new();
        let cpu = HostProfile::default();
        let platforms: BTreeSet<Platform> = index
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .filter_map(|p| platform_name(p).parse().ok())
            .collect();
        let mut first = true;
        for platform in platforms {
            // The best build as `paks image build` picks it: no target beyond the baseline
            // unless only that exists.
            let chosen =
                choose_build(&index, &platform, &cpu).or_else(|| only_platform(&index, &platform));
            let Some(chosen) = chosen else { continue };
            if first {
                let Some(child) = manifest(storage, repo, &chosen.digest)? else {
                    return Ok(None);
                };
                match build_of(storage, repo, &child)? {
                    Some((_, config)) if names_version(&config) => {}
                    _ => return Ok(None),
                }
                first = false;
            }
            builds.insert(platform, chosen.digest.clone());
        }
        return Ok((!builds.is_empty()).then_some(builds));
    }
    match build_of(storage, repo, &bytes)? {
        Some((_, config)) if names_version(&config) => Ok(Some(BTreeMap::from([(
            config.paks.platform.clone(),
            digest,
        )]))),
        _ => Ok(None),
    }
}

fn bytes_are_index(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v.get("manifests").is_some_and(serde_json::Value::is_array))
}

/// The first build of `platform` in `index`, whatever its target (when no baseline exists).
fn only_platform<'i>(index: &'i ImageIndex, platform: &Platform) -> Option<&'i Descriptor> {
    index.manifests.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| paks_remote::format::runs_on(p, platform))
    })
}

/// The version tags of `repo`, newest first (semver order; tags that do not parse as a
/// version last, in reverse lexical order), each with its builds.
fn versions(
    storage: &dyn Storage,
    repo: &RepoName,
    tags: &[String],
    stop_at_first: bool,
) -> Result<Vec<(String, Builds)>, ApiError> {
    let mut ordered: Vec<(Option<semver::Version>, &String)> = tags
        .iter()
        .filter(|t| t.as_str() != LATEST)
        .map(|t| (semver::Version::parse(&t.replace('_', "+")).ok(), t))
        .collect();
    ordered.sort_by(|a, b| b.cmp(a));
    let mut out = Vec::new();
    for (_, tag) in ordered {
        if let Some(builds) = version_builds(storage, repo, tag)? {
            out.push((tag.clone(), builds));
            if stop_at_first {
                break;
            }
        }
    }
    Ok(out)
}

/// Package `repo` at `position` (`latest` or a version tag).
pub fn root(storage: &dyn Storage, repo: &RepoName, position: &str) -> Result<Root, ApiError> {
    let tags = storage
        .list_tags(repo)
        .map_err(storage_error)?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                Code::NameUnknown,
                format!("there is no package `{repo}` in this registry"),
            )
        })?;
    if position != LATEST
        && tags.iter().any(|t| t == position)
        && let Some(builds) = version_builds(storage, repo, position)?
    {
        return Ok(Root {
            repo: repo.clone(),
            tag: position.to_owned(),
            builds,
        });
    }
    let found = versions(storage, repo, &tags, position == LATEST)?;
    if position == LATEST {
        let Some((tag, builds)) = found.into_iter().next() else {
            return Err(ApiError::new(
                Code::NameUnknown,
                format!("`{repo}` holds no package version"),
            ));
        };
        return Ok(Root {
            repo: repo.clone(),
            tag,
            builds,
        });
    }
    Err(ApiError::new(
        Code::ManifestUnknown,
        format!(
            "`{repo}` has no version `{position}`; it has {}",
            if found.is_empty() {
                "none".to_owned()
            } else {
                found
                    .iter()
                    .map(|(t, _)| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    ))
}

/// The platforms every root has a build for; an error naming who has what when none.
pub fn common_platforms(roots: &[Root]) -> Result<Vec<Platform>, ApiError> {
    let mut common: Option<BTreeSet<Platform>> = None;
    for r in roots {
        let here: BTreeSet<Platform> = r.builds.keys().cloned().collect();
        common = Some(match common {
            None => here,
            Some(c) => c.intersection(&here).cloned().collect(),
        });
    }
    let common: Vec<Platform> = common.unwrap_or_default().into_iter().collect();
    if common.is_empty() {
        return Err(ApiError::new(
            Code::ManifestUnknown,
            format!(
                "no platform has a build of every package: {}",
                roots
                    .iter()
                    .map(|r| format!(
                        "`{}` {} has {}",
                        r.repo,
                        r.tag,
                        r.builds
                            .keys()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    Ok(common)
}

/// The closure of `roots` (builds by digest in their repositories), dependencies first,
/// each build once; dependencies are found in the repository of their name in the same
/// namespace, else in any repository of that name.
pub fn closure(
    storage: &dyn Storage,
    roots: &[(RepoName, Digest)],
) -> Result<Vec<Found>, ApiError> {
    let mut walk = Walk {
        storage,
        digests: BTreeSet::new(),
        ids: BTreeSet::new(),
        found: Vec::new(),
        elsewhere: None,
    };
    for (repo, digest) in roots {
        walk.visit(repo, digest)?;
    }
    Ok(walk.found)
}

/// The most builds one composition holds (a real image needs far fewer; each is a layer).
pub const MAX_CLOSURE: usize = 1000;

/// A build being walked: its dependencies from `next` on are still to visit.
struct Visit {
    repo: RepoName,
    digest: Digest,
    parsed: ImageManifest,
    config: ImageConfig,
    next: usize,
}

struct Walk<'s> {
    storage: &'s dyn Storage,
    digests: BTreeSet<Digest>,
    ids: BTreeSet<PackageId>,
    found: Vec<Found>,
    /// Every repository of the registry, listed once when a dependency is not beside its
    /// dependent.
    elsewhere: Option<Vec<RepoName>>,
}

impl Walk<'_> {
    /// Walks from `digest` with a stack of its own, not by recursion: a chain of thousands
    /// of packages (each needing the one before) overflowed the thread's stack, which
    /// aborts the whole server. Each build's dependencies are found before it.
    fn visit(&mut self, repo: &RepoName, digest: &Digest) -> Result<(), ApiError> {
        let mut stack: Vec<Visit> = Vec::new();
        stack.extend(self.enter(repo, digest)?);
        while let Some(top) = stack.last_mut() {
            let Some(dep) = top.config.paks.dependencies.get(top.next).cloned() else {
                let done = stack.pop().expect("the loop holds a top");
                self.found.push(Found {
                    repo: Repository {
                        registry: STORAGE_REGISTRY.to_owned(),
                        name: done.repo.to_string(),
                    },
                    manifest: done.digest,
                    config: done.config,
                    layer: done.parsed.layers[0].clone(),
                    annotations: done.parsed.annotations,
                });
                continue;
            };
            top.next += 1;
            let namespace = top
                .repo
                .as_str()
                .rsplit_once('/')
                .map_or("", |(ns, _)| ns)
                .to_owned();
            let dependent = top.config.paks.id.clone();
            let name = repo_name(&dep.name)
                .map_err(|e| ApiError::new(Code::ManifestUnknown, e.to_string()))?;
            let (dep_repo, dep_digest) = match &dep.digest {
                Some(d) if self.digests.contains(d) => continue,
                Some(d) => (
                    self.locate(&namespace, &name, d, &dependent, &dep.id)?,
                    d.clone(),
                ),
                None => {
                    if self.ids.contains(&dep.id) {
                        continue;
                    }
                    self.by_id(&namespace, &name, &dependent, &dep.id)?
                }
            };
            stack.extend(self.enter(&dep_repo, &dep_digest)?);
        }
        Ok(())
    }

    /// Build `digest` of `repo`, read, if it was not visited before; refused when the
    /// closure grows past [`MAX_CLOSURE`] builds.
    fn enter(&mut self, repo: &RepoName, digest: &Digest) -> Result<Option<Visit>, ApiError> {
        if !self.digests.insert(digest.clone()) {
            return Ok(None);
        }
        if self.digests.len() > MAX_CLOSURE {
            return Err(ApiError::new(
                Code::ManifestUnknown,
                format!(
                    "`{repo}` and the packages it needs are more than {MAX_CLOSURE} builds; \
                     an image of them is not composed here"
                ),
            ));
        }
        let not_a_package = || {
            ApiError::new(
                Code::ManifestUnknown,
                format!("`{repo}@{digest}` is not a paks package build"),
            )
        };
        let bytes = manifest(self.storage, repo, digest)?.ok_or_else(not_a_package)?;
        let (parsed, config) = build_of(self.storage, repo, &bytes)?.ok_or_else(not_a_package)?;
        self.ids.insert(config.paks.id.clone());
        Ok(Some(Visit {
            repo: repo.clone(),
            digest: digest.clone(),
            parsed,
            config,
            next: 0,
        }))
    }

    /// The repository holding manifest `digest` of package repository name `name`.
    fn locate(
        &mut self,
        namespace: &str,
        name: &str,
        digest: &Digest,
        id: &PackageId,
        dep: &PackageId,
    ) -> Result<RepoName, ApiError> {
        for repo in self.candidates(namespace, name)? {
            if self
                .storage
                .get_manifest(&repo, digest)
                .map_err(storage_error)?
                .is_some()
            {
                return Ok(repo);
            }
        }
        Err(missing(id, dep, namespace))
    }

    /// A dependency pinned by id alone (inside a cycle): the build its build tag names.
    fn by_id(
        &mut self,
        namespace: &str,
        name: &str,
        id: &PackageId,
        dep: &PackageId,
    ) -> Result<(RepoName, Digest), ApiError> {
        let tag = build_tag(dep);
        for repo in self.candidates(namespace, name)? {
            let Some(digest) = self
                .storage
                .resolve_tag(&repo, &tag)
                .map_err(storage_error)?
            else {
                continue;
            };
            if let Some(bytes) = manifest(self.storage, &repo, &digest)?
                && let Some((_, config)) = build_of(self.storage, &repo, &bytes)?
                && &config.paks.id == dep
            {
                return Ok((repo, digest));
            }
        }
        Err(missing(id, dep, namespace))
    }

    /// `<namespace>/<name>` first, then every other repository named `name`.
    fn candidates(&mut self, namespace: &str, name: &str) -> Result<Vec<RepoName>, ApiError> {
        let beside = if namespace.is_empty() {
            name.to_owned()
        } else {
            format!("{namespace}/{name}")
        };
        let mut out: Vec<RepoName> = RepoName::parse(&beside).into_iter().collect();
        if self.elsewhere.is_none() {
            self.elsewhere = Some(self.storage.list_repositories().map_err(storage_error)?);
        }
        out.extend(
            self.elsewhere
                .iter()
                .flatten()
                .filter(|r| {
                    r.as_str() != beside
                        && r.as_str().rsplit('/').next() == Some(name)
                        && !r.as_str().starts_with("compose/")
                })
                .cloned(),
        );
        Ok(out)
    }
}

fn missing(id: &PackageId, dep: &PackageId, namespace: &str) -> ApiError {
    ApiError::new(
        Code::ManifestUnknown,
        format!(
            "`{id}` needs `{dep}`, which is neither in `{namespace}` nor elsewhere in this registry"
        ),
    )
}
