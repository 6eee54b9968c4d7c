//! `paks pull` and `paks install REF`: resolve a reference to the build for this host and
//! its dependency closure (by digest), and download what the cache lacks, verified.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use paks_host::HostProfile;
use paks_oci::Client;
use paks_oci::{Descriptor, ImageIndex, ImageManifest, Manifest, Reference, Repository};
use paks_store::{Installable, LayerSource, parse_config};
use paks_types::growing::Growing;
use paks_types::{Digest, ImageConfig, PackageId, Platform, Reporter};

use crate::format;
use crate::{
    Remote, RemoteError, RemoteErrorKind, by_digest, by_tag, locations, namespace_of, package_repo,
};

/// What a closure walk has entered: manifests by digest, builds by id.
#[derive(Default)]
struct Walked {
    digests: BTreeSet<Digest>,
    ids: BTreeSet<paks_types::PackageId>,
}

/// What a pull found and fetched.
pub struct Pulled {
    /// The closure, dependencies first; the one asked for (last) is explicit.
    pub packages: Vec<Installable>,
    /// The reference of the chosen build, by digest.
    pub resolved: Reference,
    /// Layer bytes downloaded (the rest was cached or installed already).
    pub downloaded_bytes: u64,
    pub downloaded_blobs: usize,
}

/// The downloads behind a streamed pull ([`Remote::pull_streaming`]): the first failure,
/// once they all ended or one failed (the rest are then cancelled).
pub type Downloads = Pin<Box<dyn Future<Output = Result<(), RemoteError>> + Send + 'static>>;

/// One layer to download into the cache for a reader that follows it.
pub struct LayerDownload {
    pub repo: Repository,
    pub digest: Digest,
    pub size: u64,
    /// Its place in the blob cache.
    pub dest: PathBuf,
    pub growing: Arc<Growing>,
}

/// Download each layer into the cache, telling its reader (at most the client's
/// concurrency at once, in order, so the extractor's first layers come first). Every
/// reader gets a verdict, even when the returned future is dropped unstarted.
pub fn downloads(client: Client, jobs: Vec<LayerDownload>) -> Downloads {
    /// Gives every reader a verdict when the downloads are dropped, even unstarted.
    struct Verdicts(Vec<Arc<Growing>>);
    impl Drop for Verdicts {
        fn drop(&mut self) {
            for g in &self.0 {
                g.fail("the download was cancelled".into());
            }
        }
    }
    let verdicts = Verdicts(jobs.iter().map(|j| j.growing.clone()).collect());
    Box::pin(async move {
        let _verdicts = verdicts;
        futures_util::future::try_join_all(jobs.iter().map(|j| {
            client.pull_blob_growing(
                &j.repo,
                &j.digest,
                Some(j.size),
                &j.dest,
                &|_| {},
                &j.growing,
            )
        }))
        .await?;
        Ok(())
    })
}

/// One package build in a registry, as found while walking a closure: where it is, its
/// manifest's digest, its parsed config and its one layer.
#[derive(Debug, Clone)]
pub struct Found {
    pub repo: Repository,
    pub manifest: Digest,
    pub config: ImageConfig,
    pub layer: Descriptor,
    /// The manifest's annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Remote<'_> {
    /// The bytes of `config` (an image's config blob), fetched into the verified blob cache
    /// unless already there.
    pub(crate) async fn cached_config(
        &self,
        repo: &Repository,
        config: &Descriptor,
    ) -> Result<Vec<u8>, RemoteError> {
        let path = self.store.cache_blob(&config.digest);
        self.client
            .pull_blob(repo, &config.digest, Some(config.size), &path, &|_| {})
            .await?;
        Ok(fs_err::read(&path)?)
    }

    /// Resolve `reference` (a version tag, a build tag or a digest) to the build that runs
    /// best on `host`, walk its dependencies by digest, and download their layers.
    pub async fn pull(
        &self,
        reference: &Reference,
        host: &HostProfile,
        reporter: &dyn Reporter,
    ) -> Result<Pulled, RemoteError> {
        let mut pulled = self
            .pull_many(std::slice::from_ref(reference), host, reporter)
            .await?;
        Ok(pulled.pop().expect("one pull per reference"))
    }

    /// [`Remote::pull`] for several references at once: resolved concurrently, each layer
    /// downloaded once, under one progress display.
    pub async fn pull_many(
        &self,
        references: &[Reference],
        host: &HostProfile,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Pulled>, RemoteError> {
        let (resolved, wanted) = self.resolve_many(references, host).await?;
        let total: u64 = wanted.iter().map(|f| f.layer.size).sum();
        reporter.plan("Downloading", wanted.len() as u64, total);
        futures_util::future::try_join_all(wanted.iter().map(|f| async move {
            let meta = &f.config.paks;
            let task = reporter.start(&format!("{}@{}", meta.name, meta.version), f.layer.size);
            let progress = |n: u64| reporter.advance(task, n);
            let dest = self.store.cache_blob(&f.layer.digest);
            self.client
                .pull_blob(
                    &f.repo,
                    &f.layer.digest,
                    Some(f.layer.size),
                    &dest,
                    &progress,
                )
                .await?;
            reporter.finish(task);
            Ok::<_, RemoteError>(())
        }))
        .await?;
        let downloaded: BTreeSet<Digest> = wanted.iter().map(|f| f.layer.digest.clone()).collect();
        Ok(self.pulled(resolved, &downloaded, &BTreeMap::new()))
    }

    /// [`Remote::pull_many`] for an install that extracts while it downloads: returns as
    /// soon as the closures are resolved, with each layer not yet cached as a
    /// [`LayerSource::Growing`] and the downloads that feed them, to run (spawn) while the
    /// install reads. Every layer's reader gets a verdict, even if the downloads are
    /// dropped unstarted.
    pub async fn pull_streaming(
        &self,
        references: &[Reference],
        host: &HostProfile,
    ) -> Result<(Vec<Pulled>, Downloads), RemoteError> {
        let (resolved, wanted) = self.resolve_many(references, host).await?;
        let mut jobs: Vec<LayerDownload> = wanted
            .iter()
            .map(|f| LayerDownload {
                repo: f.repo.clone(),
                digest: f.layer.digest.clone(),
                size: f.layer.size,
                dest: self.store.cache_blob(&f.layer.digest),
                growing: Growing::new(),
            })
            .collect();
        // The largest first, as the install extracts them.
        jobs.sort_by_key(|j| std::cmp::Reverse(j.size));
        let growing: BTreeMap<Digest, Arc<Growing>> = jobs
            .iter()
            .map(|j| (j.digest.clone(), j.growing.clone()))
            .collect();
        let downloaded: BTreeSet<Digest> = growing.keys().cloned().collect();
        drop(wanted);
        let pulled = self.pulled(resolved, &downloaded, &growing);
        Ok((pulled, downloads(self.client.clone(), jobs)))
    }

    /// The closures of `references` for `host`, and the layers among them that are
    /// neither installed nor cached, each once.
    async fn resolve_many(
        &self,
        references: &[Reference],
        host: &HostProfile,
    ) -> Result<(Vec<(Reference, Vec<Found>)>, Vec<Found>), RemoteError> {
        let platform = host.platform();
        let resolved = futures_util::future::try_join_all(
            references
                .iter()
                .map(|r| self.resolve_for(r, &platform, host)),
        )
        .await?;
        let mut wanted = Vec::new();
        let mut seen_layers = BTreeSet::new();
        for f in resolved.iter().flat_map(|(_, found)| found) {
            locations::remember(self.store, &f.layer.digest, &f.repo);
            if seen_layers.insert(f.layer.digest.clone())
                && !self.store.is_installed_as(&f.config.paks.id, &f.manifest)?
                && !self.store.cache_blob(&f.layer.digest).is_file()
            {
                wanted.push(f.clone());
            }
        }
        Ok((resolved, wanted))
    }

    /// What each reference pulled: its closure as installables whose layers are in the
    /// cache, or still downloading where `growing` has them.
    fn pulled(
        &self,
        resolved: Vec<(Reference, Vec<Found>)>,
        downloaded: &BTreeSet<Digest>,
        growing: &BTreeMap<Digest, Arc<Growing>>,
    ) -> Vec<Pulled> {
        resolved
            .into_iter()
            .map(|(resolved, found)| {
                let last = found.len().saturating_sub(1);
                let downloaded_here: Vec<&Found> = found
                    .iter()
                    .filter(|f| downloaded.contains(&f.layer.digest))
                    .collect();
                Pulled {
                    downloaded_bytes: downloaded_here.iter().map(|f| f.layer.size).sum(),
                    downloaded_blobs: downloaded_here.len(),
                    packages: found
                        .iter()
                        .enumerate()
                        .map(|(i, f)| Installable {
                            source: by_digest(&f.repo, &f.manifest).to_string(),
                            manifest: f.manifest.clone(),
                            config: f.config.clone(),
                            layer: match growing.get(&f.layer.digest) {
                                Some(g) => LayerSource::Growing {
                                    growing: g.clone(),
                                    digest: f.layer.digest.clone(),
                                    size: f.layer.size,
                                    media_type: f.layer.media_type.clone(),
                                },
                                None => LayerSource::Blob {
                                    path: self.store.cache_blob(&f.layer.digest),
                                    digest: f.layer.digest.clone(),
                                    size: f.layer.size,
                                    media_type: f.layer.media_type.clone(),
                                },
                            },
                            annotations: f.annotations.clone(),
                            explicit: i == last,
                        })
                        .collect(),
                    resolved,
                }
            })
            .collect()
    }

    /// The build of `reference` for `platform` that runs best on `host` (see
    /// [`format::choose_build`]; `HostProfile::default()` when the CPU is unknown, as for
    /// an image) and its closure, dependencies first; only manifests and configs are read
    /// (configs land in the blob cache), never layers.
    pub async fn resolve_for(
        &self,
        reference: &Reference,
        platform: &Platform,
        host: &HostProfile,
    ) -> Result<(Reference, Vec<Found>), RemoteError> {
        let repo = reference.repo();
        let top = self.client.get_manifest(reference).await?;
        let (digest, manifest) = self
            .pick_build(reference, &repo, top, platform, host)
            .await?;
        let mut found = Vec::new();
        let mut seen = Walked::default();
        self.walk(&repo, &digest, manifest, &mut seen, &mut found)
            .await?;
        Ok((by_digest(&repo, &digest), found))
    }

    /// The closure of builds named by digest (`roots`), dependencies first, each once.
    pub async fn closure(&self, roots: &[(Repository, Digest)]) -> Result<Vec<Found>, RemoteError> {
        let mut found = Vec::new();
        let mut seen = Walked::default();
        for (repo, digest) in roots {
            if seen.digests.contains(digest) {
                continue;
            }
            let manifest = self.client.get_manifest(&by_digest(repo, digest)).await?;
            self.walk(repo, digest, manifest, &mut seen, &mut found)
                .await?;
        }
        Ok(found)
    }

    /// An index resolves to the build for `platform` that runs best on `host`; a manifest
    /// is the build.
    async fn pick_build(
        &self,
        reference: &Reference,
        repo: &Repository,
        top: Manifest,
        platform: &Platform,
        host: &HostProfile,
    ) -> Result<(Digest, Manifest), RemoteError> {
        if !top.is_index() {
            return Ok((top.digest.clone(), top));
        }
        let index: ImageIndex = serde_json::from_slice(&top.bytes).map_err(|e| {
            RemoteError::from(RemoteErrorKind::NotAPackage {
                reference: reference.to_string(),
                reason: format!("its index does not parse: {e}"),
            })
        })?;
        let Some(chosen) = format::choose_build(&index, platform, host) else {
            return Err(RemoteError::from(RemoteErrorKind::NoBuildForHost {
                reference: reference.to_string(),
                host: platform.clone(),
                available: index
                    .manifests
                    .iter()
                    .map(|d| format!("`{}`", format::entry_name(d)))
                    .collect(),
            }));
        };
        let manifest = self
            .client
            .get_manifest(&by_digest(repo, &chosen.digest))
            .await?;
        Ok((chosen.digest.clone(), manifest))
    }

    /// The manifest of build `dep` (a dependency of `id` pinned by id alone, inside a
    /// cycle) in `dep_repo`: the one its build tag names, a single manifest whose config
    /// carries that id.
    pub(crate) async fn build_by_id(
        &self,
        dep_repo: &Repository,
        id: &PackageId,
        dep: &PackageId,
    ) -> Result<Manifest, RemoteError> {
        let unpinned = || {
            RemoteError::from(RemoteErrorKind::UnpinnedDependency {
                id: id.clone(),
                dep: dep.clone(),
            })
        };
        let tag = by_tag(dep_repo, &format::build_tag(dep));
        let m = self
            .client
            .get_manifest(&tag)
            .await
            .map_err(|_| unpinned())?;
        if m.is_index() {
            return Err(unpinned());
        }
        let parsed: ImageManifest = serde_json::from_slice(&m.bytes).map_err(|_| unpinned())?;
        let config = self.cached_config(dep_repo, &parsed.config).await?;
        let config = parse_config(&config, &tag.to_string())?;
        if &config.paks.id != dep {
            return Err(unpinned());
        }
        Ok(m)
    }

    /// Depth first, dependencies before dependents, each digest once.
    ///
    /// A dependency without a digest is one inside a cycle (imported packages: `libc6`
    /// and `libgcc-s1` need each other, and no manifest can name the digest of one that
    /// names its own): it is the build already being walked with that id, or else the
    /// build its tag names, whose config must carry that id.
    async fn walk(
        &self,
        repo: &Repository,
        digest: &Digest,
        manifest: Manifest,
        seen: &mut Walked,
        found: &mut Vec<Found>,
    ) -> Result<(), RemoteError> {
        if !seen.digests.insert(digest.clone()) {
            return Ok(());
        }
        let reference = by_digest(repo, digest).to_string();
        let not_a_package = |reason: String| {
            RemoteError::from(RemoteErrorKind::NotAPackage {
                reference: reference.clone(),
                reason,
            })
        };
        let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| not_a_package(format!("its manifest does not parse: {e}")))?;
        let [layer] = parsed.layers.as_slice() else {
            return Err(not_a_package(format!(
                "it has {} layers, not 1",
                parsed.layers.len()
            )));
        };
        let config = parse_config(&self.cached_config(repo, &parsed.config).await?, &reference)?;
        seen.ids.insert(config.paks.id.clone());
        let ns = namespace_of(repo);
        for dep in &config.paks.dependencies {
            let dep_repo = package_repo(&ns, &dep.name)?;
            let (dep_digest, dep_manifest) = if let Some(d) = &dep.digest {
                if seen.digests.contains(d) {
                    continue;
                }
                let m = self.client.get_manifest(&by_digest(&dep_repo, d)).await?;
                (d.clone(), m)
            } else {
                if seen.ids.contains(&dep.id) {
                    continue;
                }
                let m = self
                    .build_by_id(&dep_repo, &config.paks.id, &dep.id)
                    .await?;
                if seen.digests.contains(&m.digest) {
                    continue;
                }
                (m.digest.clone(), m)
            };
            Box::pin(self.walk(&dep_repo, &dep_digest, dep_manifest, seen, found)).await?;
            if !seen.ids.contains(&dep.id) {
                // The tag named a build of another id.
                return Err(RemoteError::from(RemoteErrorKind::UnpinnedDependency {
                    id: config.paks.id.clone(),
                    dep: dep.id.clone(),
                }));
            }
        }
        found.push(Found {
            repo: repo.clone(),
            manifest: digest.clone(),
            config,
            layer: layer.clone(),
            annotations: parsed.annotations.clone(),
        });
        Ok(())
    }
}
