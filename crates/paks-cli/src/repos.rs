//! Package repositories: their configuration (`<root>/repos.toml`, then the user's
//! `config.toml`: see `config`), their signed indexes
//! (fetched, verified against keys and the last version seen, cached), search, and
//! turning a resolution into installable packages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use paks_index::{
    BuildEntry, Document, DocumentFetch, IndexSource, PublicKey, TrustPolicy, TrustState,
};
use paks_oci::Repository;
use paks_resolve::{Build, Candidate, Catalog, PinnedDep, Resolution};
use paks_store::{Installable, LayerSource, Store};
use paks_types::growing::Growing;
use paks_types::{PackageName, Reporter};
use serde::{Deserialize, Serialize};

use crate::Failure;
use crate::background::Background;
use crate::commands::Ctx;
use crate::commands::user_error;
use crate::shards::Accepted;

/// One configured repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoEntry {
    pub name: String,
    /// `oci://REGISTRY/NAMESPACE`, `https://HOST/PATH/`, `http://127.0.0.1:PORT/…` or `file:///DIR`.
    pub url: String,
    /// Public keys (`paks-ed25519 <base64>`) whose signature the index must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Accept an index without a trusted signature.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unsigned: bool,
    /// The evidence each build must carry before it is installed (see `trust`).
    #[serde(default, skip_serializing_if = "paks_attest::Require::is_empty")]
    pub require: paks_attest::Require,
    /// How many distinct `keys` must sign a sharded index's root (default 1; see
    /// `root_keys`); later roots set their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
}

/// `<root>/repos.toml`: the repositories, highest priority first.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    #[serde(default, rename = "repository")]
    pub repositories: Vec<RepoEntry>,
}

pub fn config_path(root: &Path) -> PathBuf {
    root.join("repos.toml")
}

fn state_dir(root: &Path) -> PathBuf {
    root.join("repos").join("trust")
}

fn cached_index(root: &Path, name: &str) -> PathBuf {
    root.join("repos").join(format!("{name}.index.json"))
}

impl RepoConfig {
    pub fn load(root: &Path) -> Result<Self, Failure> {
        let path = config_path(root);
        match fs_err::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                user_error(
                    format!("`{}` is not a valid repository configuration: {e}", path.display()),
                    Some("fix the file, or remove it and add the repositories again with `paks repo add`".into()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, root: &Path) -> Result<(), Failure> {
        let text = toml::to_string_pretty(self).map_err(|e| Failure {
            internal: true,
            ..Failure::from(e)
        })?;
        fs_err::create_dir_all(root)?;
        paks_types::fs::write_atomic(&config_path(root), text.as_bytes())?;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&RepoEntry> {
        self.repositories.iter().find(|r| r.name == name)
    }
}

impl RepoEntry {
    pub fn source(&self) -> Result<IndexSource, Failure> {
        self.url.parse::<IndexSource>().map_err(|e| Failure {
            hint: Some(
                "a repository URL is `oci://REGISTRY/NAMESPACE`, `https://HOST/PATH/` or `file:///DIR`"
                    .into(),
            ),
            ..index_failure(e)
        })
    }

    pub fn policy(&self) -> Result<TrustPolicy, Failure> {
        let keys = self
            .keys
            .iter()
            .map(|k| {
                PublicKey::parse(k).map_err(|e| Failure {
                    hint: Some(format!(
                        "the key of repository `{}` in repos.toml is not a paks public key",
                        self.name
                    )),
                    ..index_failure(e)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustPolicy {
            keys,
            allow_unsigned: self.allow_unsigned,
        })
    }
}

pub fn index_failure(e: paks_index::IndexError) -> Failure {
    let hint = e.hint();
    Failure {
        hint,
        ..Failure::from(e)
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(|e| trust_failure(name, e))`
pub fn trust_failure(repo: &str, e: paks_index::TrustError) -> Failure {
    let hint = Some(e.hint());
    Failure {
        error: format!("the index of repository `{repo}` is refused").into(),
        detail: Some(format!("  Caused by: {e}")),
        hint,
        internal: false,
    }
}

/// A verified index of one repository.
pub struct Loaded {
    pub entry: RepoEntry,
    pub source: IndexSource,
    /// A sharded repository's packages loaded so far (`crate::shards::fill`).
    pub index: paks_index::Index,
    /// A sharded repository's verified root.
    pub root: Option<paks_index::Root>,
}

/// Checks `document` for `entry` against its keys and the last version seen. A sharded
/// index's root is judged by the root rules (`paks_index::verify_root`: a threshold of the
/// trusted keys and of its own, no rollback, no reused version, not expired); the trusted
/// keys are the repository's configured ones until a root was accepted, then that root's.
fn check(
    root: &Path,
    entry: &RepoEntry,
    document: &Document,
) -> Result<(Accepted, TrustState, Option<paks_index::TrustedRoot>), Failure> {
    let policy = entry.policy()?;
    let state = TrustState::load(&state_dir(root), &entry.url)
        .map_err(|e| trust_failure(&entry.name, e))?;
    let now = SystemTime::now();
    let (accepted, trusted) = match document {
        Document::Index(signed) => (
            Accepted {
                index: paks_index::check(signed, &policy, &state, now)
                    .map_err(|e| trust_failure(&entry.name, e))?
                    .clone(),
                root: None,
            },
            None,
        ),
        Document::Root(signed) => {
            let initial = if policy.allow_unsigned {
                paks_index::TrustedRoot::unsigned()
            } else {
                let threshold = entry.threshold.unwrap_or(1);
                paks_index::TrustedRoot::new(policy.keys.clone(), threshold).ok_or_else(|| {
                    user_error(
                        format!(
                            "repository `{}` needs {threshold} signatures but trusts {} keys",
                            entry.name,
                            policy.keys.len()
                        ),
                        Some("fix `threshold` and `keys` in repos.toml, or add the repository again with `paks repo add --key … --threshold K`".into()),
                    )
                })?
            };
            let mut trusted = state.trusted_root(initial);
            let r = paks_index::verify_root(signed, &trusted, now)
                .map_err(|e| trust_failure(&entry.name, e))?;
            trusted
                .accept(r)
                .map_err(|e| trust_failure(&entry.name, e))?;
            (
                Accepted {
                    index: paks_index::index_view(r, std::collections::BTreeMap::new()),
                    root: Some(r.clone()),
                },
                Some(trusted),
            )
        }
    };
    Ok((accepted, state, trusted))
}

/// Verifies `document` for `entry`; on success records the version (and, for a root, the
/// keys and threshold the next root must satisfy) and caches the raw bytes.
fn accept(
    root: &Path,
    entry: &RepoEntry,
    document: &Document,
    raw: &[u8],
) -> Result<Accepted, Failure> {
    let (accepted, mut state, trusted) = check(root, entry, document)?;
    state
        .record(&accepted.index)
        .map_err(|e| trust_failure(&entry.name, e))?;
    if let Some(trusted) = &trusted {
        state
            .record_root(trusted)
            .map_err(|e| trust_failure(&entry.name, e))?;
    }
    let cache = cached_index(root, &entry.name);
    if let Some(parent) = cache.parent() {
        fs_err::create_dir_all(parent)?;
    }
    paks_types::fs::write_atomic(&cache, raw)?;
    Ok(accepted)
}

/// Fetches and verifies the index of `entry`: only a small request when the cached one
/// is still current (which is then verified again).
pub fn update_one(
    ctx: &Ctx,
    runtime: &tokio::runtime::Runtime,
    entry: &RepoEntry,
) -> Result<Accepted, Failure> {
    let source = entry.source()?;
    let client = crate::remote::client(ctx)?;
    let cache = cached_index(&ctx.root, &entry.name);
    let known = crate::shards::freshness(&ctx.root, &entry.name, &cache);
    let fetched = runtime
        .block_on(paks_index::fetch_document(&client, &source, known.as_ref()))
        .map_err(|e| Failure {
            error: format!("cannot fetch the index of repository `{}`", entry.name).into(),
            detail: Some(format!("  Caused by: {e}")),
            hint: crate::offline::hint(
                cached_index(&ctx.root, &entry.name).is_file(),
                &entry.name,
                &e,
            )
            .or_else(|| e.hint()),
            internal: false,
        })?;
    match fetched {
        DocumentFetch::Unchanged => cached(&ctx.root, entry)?.ok_or_else(|| {
            user_error(
                format!("the cached index of repository `{}` vanished", entry.name),
                Some("run the command again".into()),
            )
        }),
        DocumentFetch::Fetched {
            document,
            raw,
            freshness,
            ..
        } => {
            let accepted = accept(&ctx.root, entry, &document, &raw)?;
            crate::shards::save_freshness(&ctx.root, &entry.name, &freshness)?;
            Ok(accepted)
        }
    }
}

/// The verified cached index of `entry`, without the network (still checked: signature,
/// expiry, and not older than the last version seen).
fn cached(root: &Path, entry: &RepoEntry) -> Result<Option<Accepted>, Failure> {
    let path = cached_index(root, &entry.name);
    let raw = match fs_err::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let document =
        Document::from_slice(&raw, &path.display().to_string()).map_err(index_failure)?;
    Ok(Some(check(root, entry, &document)?.0))
}

/// The indexes of every configured repository, in priority order: fetched fresh unless
/// `offline`, in which case the cached, re-verified copies are used.
pub fn load_all(ctx: &Ctx, offline: bool) -> Result<Vec<Loaded>, Failure> {
    let repositories = crate::config::repositories(&ctx.config, &ctx.root)?;
    if repositories.is_empty() {
        return Err(user_error(
            "no package repositories are configured",
            Some("add one: `paks repo add NAME oci://REGISTRY/NAMESPACE` (or an https:// or file:// static repository)".into()),
        ));
    }
    let runtime = crate::remote::runtime()?;
    let mut loaded = Vec::new();
    for (entry, _) in repositories {
        let accepted = if offline {
            cached(&ctx.root, &entry)?.ok_or_else(|| {
                user_error(
                    format!("repository `{}` has no cached index", entry.name),
                    Some("run `paks repo update` while online first".into()),
                )
            })?
        } else {
            update_one(ctx, &runtime, &entry)?
        };
        loaded.push(Loaded {
            source: entry.source()?,
            entry,
            index: accepted.index,
            root: accepted.root,
        });
    }
    Ok(loaded)
}

/// [`load_all`], then the packages `names` and their dependencies, transitively, from
/// the sharded repositories (the only ones a schema-1 index does not hold whole).
pub fn load_for(ctx: &Ctx, offline: bool, names: &[PackageName]) -> Result<Vec<Loaded>, Failure> {
    let mut loaded = load_all(ctx, offline)?;
    crate::shards::fill(ctx, &mut loaded, names, offline, true)?;
    Ok(loaded)
}

/// The resolver's view of the loaded indexes.
pub struct IndexCatalog<'a>(pub &'a [Loaded]);

impl IndexCatalog<'_> {
    fn index(&self, repo: &str) -> Option<&Loaded> {
        self.0.iter().find(|l| l.entry.name == repo)
    }
}

fn to_build(b: &BuildEntry) -> Build {
    Build {
        id: b.id.clone(),
        digest: b.digest.clone(),
        platform: b.platform.clone(),
        target: b.target.clone(),
        glibc: b.glibc.clone(),
        dependencies: b
            .dependencies
            .iter()
            .map(|d| PinnedDep {
                name: d.name.clone(),
                version: d.id.version().clone(),
                id: d.id.clone(),
                digest: d.digest.clone(),
            })
            .collect(),
        size: b.size,
    }
}

impl Catalog for IndexCatalog<'_> {
    fn repositories(&self) -> Vec<String> {
        self.0.iter().map(|l| l.entry.name.clone()).collect()
    }

    fn candidates(&self, repo: &str, name: &PackageName) -> Vec<Candidate> {
        let Some(entry) = self.index(repo).and_then(|l| l.index.packages.get(name)) else {
            return Vec::new();
        };
        entry
            .versions
            .iter()
            .map(|(version, v)| Candidate {
                version: version.clone(),
                builds: v.builds.iter().map(to_build).collect(),
            })
            .collect()
    }

    fn names(&self, repo: &str) -> Vec<PackageName> {
        self.index(repo).map(Loaded::names).unwrap_or_default()
    }
}

/// The repository a resolved build was taken from, and its entry in that repository's
/// verified index.
pub fn listed<'a>(
    loaded: &'a [Loaded],
    r: &paks_resolve::Resolved,
) -> Result<(&'a Loaded, paks_index::FoundBuild<'a>), Failure> {
    let repo = loaded
        .iter()
        .find(|l| l.entry.name == r.repository)
        .expect("the resolver only names configured repositories");
    let found = repo
        .index
        .require_listed(&r.build.digest)
        .map_err(|e| trust_failure(&repo.entry.name, e))?;
    Ok((repo, found))
}

/// Where one resolved build comes from.
struct Fetch<'a> {
    loaded: &'a Loaded,
    entry: &'a BuildEntry,
    package_repo: String,
    explicit: bool,
}

/// Downloads what `resolution` needs into the cache (in parallel, one overall progress
/// display) and returns the packages to install. Every digest comes from a verified index.
pub fn installables(
    ctx: &Ctx,
    store: &Store,
    loaded: &[Loaded],
    resolution: &Resolution,
    offline: bool,
    background: Option<&mut Background>,
) -> Result<ToInstall, Failure> {
    let mut fetches = Vec::new();
    for r in &resolution.packages {
        let (repo, found) = listed(loaded, r)?;
        fetches.push(Fetch {
            loaded: repo,
            entry: found.build,
            package_repo: found.package.repository.clone(),
            explicit: r.explicit,
        });
    }
    fetch_all(ctx, store, &fetches, offline, background)
}

fn is_static(f: &Fetch<'_>) -> bool {
    !matches!(f.loaded.source, IndexSource::Oci(_))
}

fn pak_cache(store: &Store, f: &Fetch<'_>) -> PathBuf {
    // Indexes with another `file` are refused when parsed; the id's name is the fallback.
    let file = f
        .entry
        .file
        .clone()
        .filter(|n| paks_index::is_plain_file_name(n))
        .unwrap_or_else(|| paks_index::pak_file_name(&f.entry.id));
    store.cache_dir().join("paks").join(file)
}

fn is_cached(store: &Store, f: &Fetch<'_>) -> bool {
    if is_static(f) {
        pak_cache(store, f).is_file()
    } else {
        store.cache_blob(&f.entry.config.digest).is_file()
            && store.cache_blob(&f.entry.layer.digest).is_file()
    }
}

/// What to install, and how many of the resolved packages were installed already.
pub struct ToInstall {
    pub items: Vec<Installable>,
    pub already: usize,
}

fn fetch_all(
    ctx: &Ctx,
    store: &Store,
    fetches: &[Fetch<'_>],
    offline: bool,
    background: Option<&mut Background>,
) -> Result<ToInstall, Failure> {
    let mut todo = Vec::new();
    let mut already = 0;
    for f in fetches {
        // Only the build the index pins counts as installed: another under the same id
        // (an id is a claim any archive can make) is replaced.
        if store
            .is_installed_as(&f.entry.id, &f.entry.digest)
            .map_err(crate::commands::failure)?
        {
            already += 1;
        } else {
            todo.push(f);
        }
    }
    let candidates: Vec<crate::trust::Candidate<'_>> = todo
        .iter()
        .map(|f| crate::trust::Candidate {
            loaded: f.loaded,
            build: f.entry,
            package_repo: &f.package_repo,
        })
        .collect();
    crate::trust::enforce(ctx, &candidates, offline, "nothing was installed")?;
    let wanted: Vec<&Fetch<'_>> = todo
        .iter()
        .copied()
        .filter(|f| !is_cached(store, f))
        .collect();
    let mut growing = BTreeMap::new();
    if !wanted.is_empty() {
        if offline {
            let names: Vec<String> = wanted.iter().map(|f| format!("`{}`", f.entry.id)).collect();
            return Err(user_error(
                format!("offline, and the cache lacks {}", names.join(", ")),
                Some("run it once with the network to fill the cache".into()),
            ));
        }
        match background {
            // Registry layers download while the install reads them (configs and static
            // archives first: they are needed whole).
            Some(background) => {
                let (later, now): (Vec<&Fetch<'_>>, Vec<&Fetch<'_>>) =
                    wanted.iter().partition(|f| oci_repo(f).is_some());
                download(ctx, store, &now)?;
                growing = stream_layers(ctx, store, &later, background)?;
            }
            None => download(ctx, store, &wanted)?,
        }
    }
    let items = todo
        .into_iter()
        .map(|f| installable(store, f, &growing))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ToInstall { items, already })
}

/// The installable of `f`, from the cache, or read as it downloads where `growing` has
/// its layer.
fn installable(
    store: &Store,
    f: &Fetch<'_>,
    growing: &BTreeMap<paks_types::Digest, Arc<Growing>>,
) -> Result<Installable, Failure> {
    if is_static(f) {
        let path = pak_cache(store, f);
        let pak = paks_store::open_pak(&path).map_err(crate::commands::failure)?;
        if pak.reader.manifest_digest() != &f.entry.digest {
            return Err(user_error(
                format!(
                    "`{}` holds manifest `{}`, but the signed index lists `{}`",
                    path.display(),
                    pak.reader.manifest_digest(),
                    f.entry.digest
                ),
                Some("the repository's file does not match its index: tell its maintainer".into()),
            ));
        }
        return Ok(Installable::from_pak(pak, f.explicit));
    }
    let config_path = store.cache_blob(&f.entry.config.digest);
    let config = paks_store::parse_config(&fs_err::read(&config_path)?, &f.entry.id.to_string())
        .map_err(crate::commands::failure)?;
    if config.paks.id != f.entry.id {
        return Err(user_error(
            format!(
                "the config of `{}` names the package `{}`, but the signed index lists `{}`",
                source_of(f),
                config.paks.id,
                f.entry.id
            ),
            Some("the registry does not match its index: tell its maintainer".into()),
        ));
    }
    Ok(Installable {
        source: source_of(f),
        manifest: f.entry.digest.clone(),
        config,
        layer: match growing.get(&f.entry.layer.digest) {
            Some(g) => LayerSource::Growing {
                growing: Arc::clone(g),
                digest: f.entry.layer.digest.clone(),
                size: f.entry.layer.size,
                media_type: f.entry.layer.media_type.clone(),
            },
            None => LayerSource::Blob {
                path: store.cache_blob(&f.entry.layer.digest),
                digest: f.entry.layer.digest.clone(),
                size: f.entry.layer.size,
                media_type: f.entry.layer.media_type.clone(),
            },
        },
        annotations: std::collections::BTreeMap::default(),
        explicit: f.explicit,
    })
}

fn source_of(f: &Fetch<'_>) -> String {
    match &f.loaded.source {
        IndexSource::Oci(ns) => format!(
            "{}/{}/{}@{}",
            ns.registry, ns.name, f.package_repo, f.entry.digest
        ),
        other => format!("{other} {}", f.entry.file.as_deref().unwrap_or_default()),
    }
}

fn download(ctx: &Ctx, store: &Store, wanted: &[&Fetch<'_>]) -> Result<(), Failure> {
    let client = crate::remote::cache_client(ctx)?;
    let runtime = crate::remote::runtime()?;
    let reporter = &ctx.reporter;
    let total: u64 = wanted.iter().map(|f| f.entry.layer.size).sum();
    reporter.plan("Downloading", wanted.len() as u64, total);
    let limit = ctx.jobs.max(4);
    runtime.block_on(async {
        use futures_util::StreamExt as _;
        let results: Vec<Result<(), Failure>> =
            futures_util::stream::iter(wanted.iter().map(|f| {
                let client = &client;
                async move {
                    let label = format!("{}@{}", f.entry.id.name(), f.entry.id.version());
                    let task = reporter.start(&label, f.entry.layer.size);
                    let progress = |n: u64| reporter.advance(task, n);
                    let result = fetch_one(client, store, f, &progress).await;
                    reporter.finish(task);
                    result
                }
            }))
            .buffer_unordered(limit)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, Failure>>()
    })?;
    Ok(())
}

/// The configs of `wanted` (registry builds) now, and their layers in `background`, each
/// read by the install as it arrives: the readers, by layer digest.
fn stream_layers(
    ctx: &Ctx,
    store: &Store,
    wanted: &[&Fetch<'_>],
    background: &mut Background,
) -> Result<BTreeMap<paks_types::Digest, Arc<Growing>>, Failure> {
    let client = crate::remote::cache_client(ctx)?;
    let mut jobs = Vec::new();
    let mut growing = BTreeMap::new();
    for f in wanted {
        let repo = oci_repo(f).expect("registry builds only");
        let layer = &f.entry.layer;
        if growing.contains_key(&layer.digest) {
            continue;
        }
        let g = Growing::new();
        growing.insert(layer.digest.clone(), Arc::clone(&g));
        jobs.push(paks_remote::LayerDownload {
            repo,
            digest: layer.digest.clone(),
            size: layer.size,
            dest: store.cache_blob(&layer.digest),
            growing: g,
        });
    }
    // The largest first, as the install extracts them.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.size));
    background.runtime().block_on(async {
        futures_util::future::try_join_all(wanted.iter().map(|f| {
            let config = &f.entry.config;
            let repo = oci_repo(f).expect("registry builds only");
            let client = &client;
            async move {
                client
                    .pull_blob(
                        &repo,
                        &config.digest,
                        Some(config.size),
                        &store.cache_blob(&config.digest),
                        &|_| {},
                    )
                    .await
            }
        }))
        .await
        .map_err(crate::remote::oci_failure)
    })?;
    background.spawn(paks_remote::downloads(client, jobs));
    Ok(growing)
}

/// The repository of a build listed by a registry's index (`None` for static ones).
fn oci_repo(f: &Fetch<'_>) -> Option<Repository> {
    match &f.loaded.source {
        IndexSource::Oci(ns) => Some(Repository {
            registry: ns.registry.clone(),
            name: format!("{}/{}", ns.name, f.package_repo),
        }),
        _ => None,
    }
}

async fn fetch_one(
    client: &paks_oci::Client,
    store: &Store,
    f: &Fetch<'_>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(), Failure> {
    match &f.loaded.source {
        IndexSource::Oci(_) => {
            let repo = oci_repo(f).expect("a registry build");
            let config = (&f.entry.config.digest, f.entry.config.size);
            let layer = (&f.entry.layer.digest, f.entry.layer.size);
            client
                .pull_blob(
                    &repo,
                    config.0,
                    Some(config.1),
                    &store.cache_blob(config.0),
                    &|_| {},
                )
                .await
                .map_err(crate::remote::oci_failure)?;
            client
                .pull_blob(
                    &repo,
                    layer.0,
                    Some(layer.1),
                    &store.cache_blob(layer.0),
                    progress,
                )
                .await
                .map_err(crate::remote::oci_failure)?;
            Ok(())
        }
        source => {
            let file = f.entry.file.as_deref().unwrap_or_default();
            let location = source.file_location(file).ok_or_else(|| {
                user_error(
                    format!("the index lists no usable file for `{}`", f.entry.id),
                    Some("rebuild the static repository with `paks index export`".into()),
                )
            })?;
            let dest = pak_cache(store, f);
            if let Some(parent) = dest.parent() {
                fs_err::create_dir_all(parent)?;
            }
            if let IndexSource::File(_) = source {
                let bytes = fs_err::read(&location)?;
                progress(bytes.len() as u64);
                paks_types::fs::write_atomic(&dest, &bytes)?;
            } else {
                paks_index::download_file(client, &location, &dest, progress)
                    .await
                    .map_err(index_failure)?;
            }
            Ok(())
        }
    }
}

/// Names and versions of the packages each repository offers that match `term`.
pub fn search<'a>(
    loaded: &'a [Loaded],
    term: &str,
) -> Vec<(&'a str, &'a PackageName, &'a paks_index::PackageEntry)> {
    let term = term.to_lowercase();
    let mut hits = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for l in loaded {
        for (name, entry) in &l.index.packages {
            let matches = name.as_str().contains(&term)
                || entry
                    .summary
                    .as_deref()
                    .is_some_and(|s| s.to_lowercase().contains(&term));
            // A name is served by its highest-priority repository only.
            if matches && seen.insert(name.clone()) {
                hits.push((l.entry.name.as_str(), name, entry));
            }
        }
    }
    hits
}
