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
pub mod verdict;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use axum::Router;
use paks_registry::auth::Identity;
use paks_registry::extension::{BoxFuture, Extension, ExtensionContext, ManifestRequest};
use paks_registry::names::RepoName;

pub use crate::error::CatalogError;
use crate::model::{Package, PackageSummary, RepositorySummary, SearchResults};
use crate::scan::Entry;

/// How `paks serve` runs the catalogue.
#[derive(Debug, Clone, Default)]
pub struct CatalogOptions {
    /// An image in this registry (`repo:tag`) that images composed on pull start from;
    /// none: from scratch.
    pub compose_base: Option<String>,
}

/// The catalogue of one registry (cheap to clone: shared state).
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    options: CatalogOptions,
    ctx: OnceLock<ExtensionContext>,
    /// Every repository, by name.
    repos: RwLock<BTreeMap<String, Entry>>,
}

impl Catalog {
    pub fn new(options: CatalogOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                ctx: OnceLock::new(),
                repos: RwLock::new(BTreeMap::new()),
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

    /// Reads every repository of the storage (at start).
    pub fn load_all(&self) {
        let Some(ctx) = self.context() else { return };
        let repos = match ctx.storage.list_repositories() {
            Ok(repos) => repos,
            Err(e) => {
                tracing::warn!(target: "paks::catalog", "cannot list the repositories: {e}");
                return;
            }
        };
        for repo in repos {
            self.refresh(&repo);
        }
    }

    /// Re-reads repository `repo`.
    pub fn refresh(&self, repo: &RepoName) {
        let Some(ctx) = self.context() else { return };
        let entry = match scan::scan_repository(ctx.storage.as_ref(), repo) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(target: "paks::catalog", "cannot read repository `{repo}`: {e}");
                return;
            }
        };
        let mut repos = self.inner.repos.write().expect("not poisoned");
        match entry {
            Some(entry) => repos.insert(repo.to_string(), entry),
            None => repos.remove(repo.as_str()),
        };
    }

    /// Whether `viewer` may pull repository `repo`.
    pub fn may_pull(&self, viewer: &Identity, repo: &str) -> bool {
        self.context()
            .is_none_or(|ctx| access::may_pull(&ctx.access, viewer, repo))
    }

    /// Packages whose name or summary contains `query` (case-insensitive), best first.
    pub fn search(&self, query: &str, viewer: &Identity, limit: usize) -> SearchResults {
        let needle = query.trim().to_lowercase();
        let repos = self.inner.repos.read().expect("not poisoned");
        let mut hits: Vec<(u8, PackageSummary)> = repos
            .values()
            .filter_map(|e| match e {
                Entry::Package(p) => Some(p),
                Entry::Image(_) => None,
            })
            .filter(|p| self.may_pull(viewer, &p.repository))
            .filter_map(|p| {
                let name = p.name.to_lowercase();
                let rank = if needle.is_empty() || name == needle {
                    0
                } else if name.starts_with(&needle) {
                    1
                } else if name.contains(&needle) {
                    2
                } else if p
                    .summary
                    .as_deref()
                    .is_some_and(|s| s.to_lowercase().contains(&needle))
                {
                    3
                } else {
                    return None;
                };
                Some((rank, summarize(p)))
            })
            .collect();
        hits.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.repository.cmp(&b.1.repository))
        });
        let total = hits.len();
        SearchResults {
            query: query.to_owned(),
            total,
            packages: hits.into_iter().take(limit).map(|(_, p)| p).collect(),
        }
    }

    /// Package `repository` in full, if `viewer` may see it.
    pub fn package(&self, repository: &str, viewer: &Identity) -> Option<Package> {
        if !self.may_pull(viewer, repository) {
            return None;
        }
        let repos = self.inner.repos.read().expect("not poisoned");
        let Some(Entry::Package(p)) = repos.get(repository) else {
            return None;
        };
        let mut package = (**p).clone();
        // Reverse dependencies: builds elsewhere pinned to a build of this package.
        let ids: std::collections::BTreeSet<&str> = p
            .versions
            .iter()
            .flat_map(|v| v.builds.iter().map(|b| b.id.as_str()))
            .collect();
        let mut reverse = std::collections::BTreeSet::new();
        for entry in repos.values() {
            let Entry::Package(other) = entry else {
                continue;
            };
            if other.repository == repository || !self.may_pull(viewer, &other.repository) {
                continue;
            }
            for v in &other.versions {
                if v.builds
                    .iter()
                    .any(|b| b.dependencies.iter().any(|d| ids.contains(d.id.as_str())))
                {
                    reverse.insert(model::PackageRef {
                        repository: other.repository.clone(),
                        name: other.name.clone(),
                        version: v.version.clone(),
                    });
                }
            }
        }
        package.reverse_dependencies = reverse.into_iter().collect();
        Some(package)
    }

    /// Every repository `viewer` may pull.
    pub fn repositories(&self, viewer: &Identity) -> Vec<RepositorySummary> {
        let repos = self.inner.repos.read().expect("not poisoned");
        repos
            .iter()
            .filter(|(name, _)| self.may_pull(viewer, name))
            .map(|(_, e)| e.summary())
            .collect()
    }
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
        let catalog = self.clone();
        std::thread::Builder::new()
            .name("paks-catalog-load".into())
            .spawn(move || catalog.load_all())
            .expect("a thread can be started");
        api::routes(self.clone()).merge(pages::routes(self.clone()))
    }

    fn changed(&self, repo: &RepoName) {
        let catalog = self.clone();
        let repo = repo.clone();
        // Off the request's thread: a rescan reads configs.
        std::thread::spawn(move || catalog.refresh(&repo));
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
