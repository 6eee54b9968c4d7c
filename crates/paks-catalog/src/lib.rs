//! What `paks serve` knows about its packages, for people and programs: a web catalogue
//! (server-rendered pages), a JSON API described by an OpenAPI document, and images
//! composed on pull (`GET /v2/compose/<namespace>/<pkg>[/<pkg>…]/manifests/<tag>`).
//!
//! [`Catalog`] is a [`paks_registry::extension::Extension`]: the registry hands it the
//! storage at start, tells it which repositories changed, and asks it about the derived
//! `compose/…` repositories.
//!
//! - [`model`]: the data, as the API serves it.
//! - [`scan`]: one repository of the storage read into the model.
//! - [`access`]: who is asking, and what they may see.
//! - [`api`]: the JSON API and its OpenAPI document.
//! - [`pages`]: the HTML pages and their embedded assets.
//! - [`compose`]: images composed on pull.
//! - [`image`]: an image's layers mapped to packages ([`Catalog::image`]).
//! - [`verdict`]: whether an image runs on a host profile.

pub mod access;
pub mod api;
pub mod compose;
mod error;
pub mod image;
pub mod model;
pub mod pages;
pub mod scan;
#[cfg(test)]
mod tests;
pub mod verdict;

mod index;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use axum::Router;
use paks_registry::auth::Identity;
use paks_registry::extension::{BoxFuture, Extension, ExtensionContext, ManifestRequest};
use paks_registry::names::RepoName;

pub use crate::error::CatalogError;
use crate::index::State;
use crate::model::{Package, PackageSummary, RepositorySummary, SearchResults};

/// How often the catalogue looks for changes it was not told about (another process
/// writing the same storage: `paks serve gc`, a second server on the same root).
pub const WATCH_INTERVAL: Duration = Duration::from_secs(10);

/// How `paks serve` runs the catalogue.
#[derive(Debug, Clone, Default)]
pub struct CatalogOptions {
    /// An image in this registry (`repo:tag`) that images composed on pull start from;
    /// none: from scratch.
    pub compose_base: Option<String>,
    /// How often to look for changes another process wrote (a replica on the same
    /// bucket); none: [`WATCH_INTERVAL`].
    pub watch_interval: Option<Duration>,
}

/// The catalogue of one registry (cheap to clone: shared state).
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    options: CatalogOptions,
    ctx: OnceLock<ExtensionContext>,
    /// Every repository, with the indexes over them.
    state: RwLock<State>,
    /// Repositories the registry changed that are not re-read yet (held only to add or
    /// take: the registry's request never waits for a scan).
    pending: Mutex<Vec<RepoName>>,
    /// Held while pending repositories are re-read, so that a query after a change waits
    /// for a re-reading already under way (see [`Catalog::catch_up`]).
    catching_up: Mutex<()>,
    /// Whether the first reading of the storage is still under way.
    loading: AtomicBool,
    /// Images composed on pull (made at the first pull).
    composing: OnceLock<Arc<compose::Composing>>,
}

impl Catalog {
    pub fn new(options: CatalogOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                ctx: OnceLock::new(),
                state: RwLock::new(State::default()),
                pending: Mutex::new(Vec::new()),
                catching_up: Mutex::new(()),
                loading: AtomicBool::new(false),
                composing: OnceLock::new(),
            }),
        }
    }

    pub fn options(&self) -> &CatalogOptions {
        &self.inner.options
    }

    /// The storage and access control, once the server started.
    pub fn context(&self) -> Option<&ExtensionContext> {
        self.inner.ctx.get()
    }

    /// What composes images on pull, made at the first use.
    pub fn composing(&self) -> Result<Arc<compose::Composing>, paks_registry::api::ApiError> {
        if let Some(c) = self.inner.composing.get() {
            return Ok(c.clone());
        }
        let made = compose::Composing::new().map_err(|e| {
            paks_registry::api::ApiError::internal_with("cannot set up composing images", e)
        })?;
        Ok(self.inner.composing.get_or_init(|| Arc::new(made)).clone())
    }

    /// Starts the catalogue over `ctx` and reads the whole storage before returning (what
    /// [`Extension::start`] does in the background); for tools and tests.
    pub fn open(&self, ctx: ExtensionContext) {
        let _ = self.inner.ctx.set(ctx);
        self.inner.loading.store(true, Ordering::SeqCst);
        self.load_all();
    }

    /// Whether the first reading of the storage is still under way: until it ends,
    /// queries answer from the repositories read so far.
    pub fn is_loading(&self) -> bool {
        self.inner.loading.load(Ordering::SeqCst)
    }

    /// Reads every repository of the storage (at start), on a few threads. A repository
    /// re-read meanwhile (because it changed) keeps that newer reading.
    pub fn load_all(&self) {
        let Some(ctx) = self.context() else { return };
        self.inner.loading.store(true, Ordering::SeqCst);
        self.write().loading();
        let repos = match ctx.storage.list_repositories() {
            Ok(repos) => repos,
            Err(e) => {
                tracing::warn!(target: "paks::catalog", "cannot list the repositories: {e}");
                Vec::new()
            }
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(2, std::num::NonZero::get)
            .clamp(2, 8);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(repo) = repos.get(i) else { break };
                        match index::read(ctx.storage.as_ref(), repo) {
                            Ok(read) => self.write().load(repo, read),
                            Err(e) => unreadable(repo, &e),
                        }
                    }
                });
            }
        });
        self.write().loaded();
        self.inner.loading.store(false, Ordering::SeqCst);
    }

    /// Re-reads repository `repo` now.
    pub fn refresh(&self, repo: &RepoName) {
        let Some(ctx) = self.context() else { return };
        // On an error the last reading stays.
        match index::read(ctx.storage.as_ref(), repo) {
            Ok(read) => self.write().set(repo, read),
            Err(e) => unreadable(repo, &e),
        }
    }

    /// Re-reads the repositories the registry said changed and were not re-read yet.
    /// Every query calls it first: a client that pushed and then asks sees its push.
    pub fn catch_up(&self) {
        let _one_at_a_time = self.inner.catching_up.lock().expect("not poisoned");
        let mut repos = std::mem::take(&mut *self.inner.pending.lock().expect("not poisoned"));
        repos.sort_unstable();
        repos.dedup();
        for repo in &repos {
            self.refresh(repo);
        }
    }

    /// Compares what every repository's tags point at with the last reading, and re-reads
    /// the ones that differ (or appeared, or went): picks up what another process wrote.
    /// Runs every [`WATCH_INTERVAL`]; costs a listing and a tag read per tag, no manifest.
    pub fn check_storage(&self) {
        let Some(ctx) = self.context() else { return };
        let Ok(listed) = ctx.storage.list_repositories() else {
            return;
        };
        let mut stale: Vec<RepoName> = Vec::new();
        {
            let known = self.read();
            for repo in &listed {
                let now = scan::fingerprint(ctx.storage.as_ref(), repo).ok().flatten();
                if now.is_some() && known.fingerprint(repo.as_str()) != now {
                    stale.push(repo.clone());
                }
            }
            let listed: std::collections::HashSet<&str> =
                listed.iter().map(RepoName::as_str).collect();
            stale.extend(
                known
                    .names()
                    .filter(|name| !listed.contains(name))
                    .filter_map(|name| RepoName::parse(name).ok()),
            );
        }
        for repo in stale {
            self.refresh(&repo);
        }
    }

    /// Whether `viewer` may pull repository `repo`.
    pub fn may_pull(&self, viewer: &Identity, repo: &str) -> bool {
        // Without a users file everyone may: no name to parse per repository and query.
        self.context()
            .is_none_or(|ctx| ctx.access.is_open() || access::may_pull(&ctx.access, viewer, repo))
    }

    /// Packages whose name or summary contains `query` (case-insensitive), best first:
    /// the exact name, then names starting with it, then names containing it, then
    /// summaries containing it; by repository within each rank. At most `limit`.
    pub fn search(&self, query: &str, viewer: &Identity, limit: usize) -> SearchResults {
        self.catch_up();
        let (total, packages) = self
            .read()
            .search(query, limit, |repo| self.may_pull(viewer, repo));
        SearchResults {
            query: query.to_owned(),
            total,
            packages,
        }
    }

    /// Package `repository` in full, if `viewer` may see it: its dependencies resolved to
    /// the repositories holding the pinned builds, its reverse dependencies from the index.
    pub fn package(&self, repository: &str, viewer: &Identity) -> Option<Package> {
        if !self.may_pull(viewer, repository) {
            return None;
        }
        self.catch_up();
        self.read()
            .package(repository, |repo| self.may_pull(viewer, repo))
    }

    /// Every repository `viewer` may pull.
    pub fn repositories(&self, viewer: &Identity) -> Vec<RepositorySummary> {
        self.catch_up();
        self.read().repositories(|repo| self.may_pull(viewer, repo))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().expect("not poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().expect("not poisoned")
    }

    /// Checks the storage every `every` until the catalogue is dropped.
    fn watch(inner: &Weak<Inner>, every: Duration) {
        loop {
            std::thread::sleep(every);
            let Some(inner) = inner.upgrade() else { return };
            let catalog = Self { inner };
            if !catalog.is_loading() {
                catalog.check_storage();
            }
        }
    }
}

/// Logs that repository `repo` could not be read.
fn unreadable(repo: &RepoName, e: &paks_registry::storage::StorageError) {
    tracing::warn!(target: "paks::catalog", "cannot read repository `{repo}`: {e}");
}

/// The summary of a package.
pub fn summarize(p: &Package) -> PackageSummary {
    PackageSummary {
        repository: p.repository.clone(),
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        latest: p
            .versions
            .first()
            .map(|v| v.version.clone())
            .unwrap_or_default(),
        summary: p.summary.clone(),
        license: p.license.clone(),
        kind: p.kind,
        versions: p.versions.len(),
    }
}

impl Extension for Catalog {
    fn start(&self, ctx: ExtensionContext) -> Router {
        let _ = self.inner.ctx.set(ctx);
        // Answer queries from the start: the storage is read in the background.
        self.inner.loading.store(true, Ordering::SeqCst);
        self.write().loading();
        let catalog = self.clone();
        std::thread::Builder::new()
            .name("paks-catalog-load".into())
            .spawn(move || catalog.load_all())
            .expect("a thread can be started");
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.options.watch_interval.unwrap_or(WATCH_INTERVAL);
        std::thread::Builder::new()
            .name("paks-catalog-watch".into())
            .spawn(move || Self::watch(&weak, every))
            .expect("a thread can be started");
        api::routes(self.clone()).merge(pages::routes(self.clone()))
    }

    fn changed(&self, repo: &RepoName) {
        // Recorded at once (the next query re-reads it first), re-read off the request's
        // thread: a rescan reads configs.
        self.inner
            .pending
            .lock()
            .expect("not poisoned")
            .push(repo.clone());
        let catalog = self.clone();
        std::thread::spawn(move || catalog.catch_up());
    }

    fn derived_from(&self, repo: &RepoName) -> Option<Vec<RepoName>> {
        compose::sources(repo)
    }

    fn prepare_manifest(
        &self,
        request: ManifestRequest,
    ) -> BoxFuture<'_, Result<(), paks_registry::api::ApiError>> {
        Box::pin(compose::prepare(self.clone(), request))
    }
}
