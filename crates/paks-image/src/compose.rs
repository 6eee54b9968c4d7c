//! One image per platform from a base and a package closure, and where it goes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use paks_oci::{
    Client, Descriptor, ImageIndex, ImageManifest, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, PushedBlob,
    Reference, Repository,
};
use paks_remote::Found;
use paks_store::Store;
use paks_types::{Digest, PackageId, Platform, Reporter};
use serde_json::{Value, json};

use crate::conflicts::Replaced;
use crate::plan::{PlanItem, plan};
use crate::repack::{Members, MergeMember, repack};
use crate::rootfs::{DEFAULT_PATH, is_rootfs};
use crate::spec::{ImageSpec, LayerCompression};
use crate::view::{self, ViewPackage};
use crate::{CREATED, ImageError, PACKAGES_KEY};

/// Image configs larger than this are refused.
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// A base image for one platform, as fetched.
#[derive(Debug, Clone)]
pub struct Base {
    /// As the user named it.
    pub name: String,
    pub repo: Repository,
    /// The platform manifest's digest.
    pub digest: Digest,
    pub layers: Vec<Descriptor>,
    /// Its config JSON.
    pub config: Value,
}

/// The packages of one platform's image.
#[derive(Debug, Clone)]
pub struct PlatformInput {
    pub platform: Platform,
    /// The closure, dependencies first, each build once.
    pub packages: Vec<Found>,
    /// Manifest digests of the packages asked for (the rest are dependencies).
    pub explicit: BTreeSet<Digest>,
    pub base: Option<Base>,
}

/// Where one layer's bytes are.
#[derive(Debug, Clone)]
pub enum LayerSource {
    /// In a registry repository (a package's, or the base image's).
    Remote(Repository),
    /// A file in the blob cache (a recompressed or merged layer).
    Local(PathBuf),
    /// In memory (the view layer).
    Bytes(Vec<u8>),
}

/// One platform's image, composed.
#[derive(Debug, Clone)]
pub struct Composed {
    pub platform: Platform,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub digest: Digest,
    /// The manifest's layers with where their bytes are.
    pub layers: Vec<(Descriptor, LayerSource)>,
    /// Package ids in layer order.
    pub packages: Vec<PackageId>,
    /// Packages that share the combined layer (over the budget).
    pub merged: Vec<PackageId>,
    /// Layer bytes written here (recompressed or merged layers; the view).
    pub repacked_bytes: u64,
    /// Paths two packages provide in the view (the first is kept).
    pub conflicts: Vec<String>,
    /// Paths of rootfs packages that a later package replaces (`Replaces`).
    pub replaced: Vec<Replaced>,
}

impl Composed {
    pub fn descriptor(&self) -> Descriptor {
        let mut d = Descriptor::new(
            OCI_MANIFEST,
            self.digest.clone(),
            self.manifest.len() as u64,
        );
        d.platform = Some((&self.platform).into());
        d
    }
}

/// Where a composed image goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// Pushed (blobs mounted where they can be), tagged.
    Registry(Reference),
    /// An OCI image layout directory, tagged.
    Layout { dir: PathBuf, tag: String },
    /// A `docker-archive` tar (`docker load`, `podman load`) naming `name` (`repo:tag`).
    DockerArchive { path: PathBuf, name: Option<String> },
}

/// What an output moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Layer and config bytes sent to the registry (or written to the file).
    pub uploaded_bytes: u64,
    pub uploaded: usize,
    pub mounted: usize,
    pub existed: usize,
    /// Bytes downloaded to get there (layers the target could not mount).
    pub downloaded_bytes: u64,
    /// The digest the target names: the image's manifest, or the index over platforms.
    pub digest: Option<Digest>,
}

/// Blobs a composer can read without the network: a registry composing images from its
/// own storage (`paks serve`, images composed on pull) hands its blobs over this way.
pub trait BlobSource: Send + Sync {
    /// Writes blob `digest` of `repo` to `dest` (atomically, verified), or returns
    /// `Ok(false)` when this source does not hold it (then the client fetches it).
    fn copy_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        dest: &Path,
    ) -> Result<bool, ImageError>;
}

/// Composes images with a registry client and a store (whose blob cache holds configs,
/// and layers that had to be read).
pub struct Composer<'a> {
    pub client: Client,
    pub store: &'a Store,
    pub reporter: &'a dyn Reporter,
    /// Consulted before the client for every layer read (none: the client reads all).
    pub local: Option<std::sync::Arc<dyn BlobSource>>,
}

impl Composer<'_> {
    /// Fetch base image `name` (`None`, or `scratch`, for none) for `platform`.
    pub async fn base(&self, name: &str, platform: &Platform) -> Result<Base, ImageError> {
        let reference: Reference = name.parse()?;
        let repo = reference.repo();
        let bad = |reason: String| ImageError::Base {
            reference: name.to_owned(),
            reason,
        };
        let mut manifest = self.client.get_manifest(&reference).await?;
        if manifest.is_index() {
            let chosen = base_platform(name, &manifest.bytes, platform)?;
            manifest = self
                .client
                .get_manifest(&reference.with_digest(&chosen))
                .await?;
        }
        if manifest.is_index() {
            return Err(bad("its index names another index".into()));
        }
        let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| bad(format!("its manifest does not parse: {e}")))?;
        let config = self
            .client
            .pull_blob_bytes(&repo, &parsed.config.digest, CONFIG_LIMIT)
            .await?;
        base_of(name, repo, manifest.digest, parsed, &config, platform)
    }

    /// Compose `input`'s image as `spec` says.
    #[allow(clippy::too_many_lines)] // one linear recipe: base, packages, merged, view, config
    pub async fn compose(
        &self,
        spec: &ImageSpec,
        input: &PlatformInput,
    ) -> Result<Composed, ImageError> {
        // Rootfs packages first, in their own order (which the conflict check needs), then
        // store packages as walked (dependencies first).
        let (order, replaced) = arrange(&input.packages)?;
        let packages: Vec<&Found> = order.iter().map(|&i| &input.packages[i]).collect();
        let packages = packages.as_slice();
        let has_rootfs = packages.iter().any(|f| is_rootfs(&f.config.paks));
        let has_store = packages.iter().any(|f| !is_rootfs(&f.config.paks));
        let has_view = has_store || !has_rootfs;
        let base_layers = input.base.as_ref().map_or(0, |b| b.layers.len());
        // Base layers, package layers, the view, the system layer.
        let available = spec
            .layer_budget
            .checked_sub(base_layers + usize::from(has_view) + usize::from(has_rootfs))
            .filter(|n| *n >= 1)
            .ok_or(ImageError::NoRoom {
                base: base_layers,
                budget: spec.layer_budget,
            })?;
        let ids: BTreeSet<&PackageId> = packages.iter().map(|f| &f.config.paks.id).collect();
        let mut dependents: BTreeMap<&PackageId, usize> = BTreeMap::new();
        for f in packages {
            for d in &f.config.paks.dependencies {
                if ids.contains(&d.id) {
                    *dependents.entry(&d.id).or_default() += 1;
                }
            }
        }
        let items: Vec<PlanItem> = packages
            .iter()
            .map(|f| PlanItem {
                id: f.config.paks.id.to_string(),
                size: f.layer.size,
                dependents: dependents.get(&f.config.paks.id).copied().unwrap_or(0),
            })
            .collect();
        let layer_plan = plan(&items, available);

        let mut layers: Vec<(Descriptor, LayerSource)> = Vec::new();
        let mut diff_ids: Vec<Value> = Vec::new();
        let mut history: Vec<Value> = Vec::new();
        if let Some(base) = &input.base {
            for (d, id) in base.layers.iter().zip(
                base.config["rootfs"]["diff_ids"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            ) {
                layers.push((d.clone(), LayerSource::Remote(base.repo.clone())));
                diff_ids.push(id.clone());
            }
            if let Some(h) = base.config["history"].as_array() {
                history.extend(h.iter().cloned());
            }
        }
        let wanted = spec.compression;
        let mut repacked_bytes = 0;
        let cache_dir = self.cache_dir();
        for &i in &layer_plan.singles {
            let f = packages[i];
            let diff_id = package_diff_id(f)?;
            let meta = &f.config.paks;
            if LayerCompression::from_media_type(&f.layer.media_type) == Some(wanted) {
                let mut d =
                    Descriptor::new(wanted.media_type(), f.layer.digest.clone(), f.layer.size);
                d.annotations
                    .insert("io.paks.package.id".into(), meta.id.to_string());
                layers.push((d, LayerSource::Remote(f.repo.clone())));
            } else {
                let blob = self.fetch_layer(f).await?;
                let packed = blocking({
                    let (dir, diff_id) = (cache_dir.clone(), diff_id.clone());
                    move || {
                        repack(
                            Members::One {
                                blob: &blob,
                                diff_id: &diff_id,
                            },
                            wanted,
                            &dir,
                        )
                    }
                })
                .await?;
                repacked_bytes += packed.size;
                let mut d = Descriptor::new(wanted.media_type(), packed.digest, packed.size);
                d.annotations
                    .insert("io.paks.package.id".into(), meta.id.to_string());
                layers.push((d, LayerSource::Local(packed.path)));
            }
            diff_ids.push(json!(diff_id.to_string()));
            history.push(json!({
                "created": CREATED,
                "created_by": format!("paks image build: {} {}", meta.name, meta.version),
                "comment": meta.id.to_string(),
            }));
        }
        let merged: Vec<PackageId> = layer_plan
            .merged
            .iter()
            .map(|&i| packages[i].config.paks.id.clone())
            .collect();
        if !layer_plan.merged.is_empty() {
            // The members' layers, downloaded at once (the client bounds the transfers).
            let blobs = futures_util::future::try_join_all(
                layer_plan
                    .merged
                    .iter()
                    .map(|&i| self.fetch_layer(packages[i])),
            )
            .await?;
            let members: Vec<MergeMember> = layer_plan
                .merged
                .iter()
                .zip(blobs)
                .map(|(&i, blob)| {
                    let meta = &packages[i].config.paks;
                    MergeMember {
                        blob,
                        rootfs: is_rootfs(meta),
                        skip: replaced
                            .iter()
                            .filter(|r| r.loser == meta.id)
                            .map(|r| r.path.clone())
                            .collect(),
                    }
                })
                .collect();
            let packed = blocking({
                let dir = cache_dir.clone();
                move || repack(Members::Merge(&members), wanted, &dir)
            })
            .await?;
            repacked_bytes += packed.size;
            let names: Vec<String> = layer_plan
                .merged
                .iter()
                .map(|&i| {
                    format!(
                        "{} {}",
                        packages[i].config.paks.name, packages[i].config.paks.version
                    )
                })
                .collect();
            let mut d = Descriptor::new(wanted.media_type(), packed.digest, packed.size);
            d.annotations.insert(
                "io.paks.package.ids".into(),
                merged
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            layers.push((d, LayerSource::Local(packed.path)));
            diff_ids.push(json!(packed.diff_id.to_string()));
            history.push(json!({
                "created": CREATED,
                "created_by": format!("paks image build: {} (merged to stay within {} layers)", names.join(", "), spec.layer_budget),
                "comment": merged.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            }));
        }

        // Only store packages are in the view; an image of rootfs packages alone has none.
        let store_packages: Vec<&Found> = packages
            .iter()
            .copied()
            .filter(|f| !is_rootfs(&f.config.paks))
            .collect();
        let (env, conflicts) = if has_view {
            let (view_layer, view_diff_id, view) = self
                .view_layer(&store_packages, &input.explicit, wanted)
                .await?;
            repacked_bytes += view_layer.0.size;
            layers.push(view_layer);
            diff_ids.push(json!(view_diff_id.to_string()));
            history.push(json!({
                "created": CREATED,
                "created_by": "paks image build: view /opt/paks/view and /etc/profile.d/paks.sh",
            }));
            (view.env, view.conflicts)
        } else {
            (paks_store::EnvSet::default(), Vec::new())
        };

        // What maintainer scripts would have done, for rootfs packages.
        let mut run_as = None;
        if has_rootfs {
            let metas: Vec<&paks_types::PackageMeta> = packages
                .iter()
                .map(|f| &f.config.paks)
                .filter(|m| is_rootfs(m))
                .collect();
            let ld_cache = crate::system::loader_cache(&metas, &input.platform.architecture);
            let system = crate::system::build(&metas, &spec.accounts, ld_cache);
            let diff_id = Digest::sha256_of(&system.tar);
            let blob = compress(&system.tar, wanted)?;
            let d = Descriptor::new(
                wanted.media_type(),
                Digest::sha256_of(&blob),
                blob.len() as u64,
            );
            repacked_bytes += d.size;
            layers.push((d, LayerSource::Bytes(blob)));
            diff_ids.push(json!(diff_id.to_string()));
            history.push(json!({
                "created": CREATED,
                "created_by": "paks image build: system layer (accounts, alternatives, loader cache)",
            }));
            run_as = system.user;
        }

        let package_ids: Vec<PackageId> = layer_plan
            .singles
            .iter()
            .chain(&layer_plan.merged)
            .map(|&i| packages[i].config.paks.id.clone())
            .collect();
        let ids_value = package_ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let mut config = image_config(spec, input, &env, &diff_ids, &history, &ids_value);
        if let Some(user) = run_as {
            config["config"]["User"] = json!(user);
        }
        let config = serde_json::to_vec(&config).expect("JSON serialises");
        let mut annotations = BTreeMap::from([
            (ANNOTATION_CREATED.to_owned(), CREATED.to_owned()),
            (PACKAGES_KEY.to_owned(), ids_value),
        ]);
        if let Some(base) = &input.base {
            annotations.insert(ANNOTATION_BASE_NAME.to_owned(), base.name.clone());
            annotations.insert(ANNOTATION_BASE_DIGEST.to_owned(), base.digest.to_string());
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config: Descriptor::new(OCI_CONFIG, Digest::sha256_of(&config), config.len() as u64),
            layers: layers.iter().map(|(d, _)| d.clone()).collect(),
            subject: None,
            annotations,
        }
        .to_bytes();
        Ok(Composed {
            platform: input.platform.clone(),
            digest: Digest::sha256_of(&manifest),
            config,
            manifest,
            layers,
            packages: package_ids,
            merged,
            repacked_bytes,
            conflicts,
            replaced,
        })
    }

    /// The view layer, from the packages' listed contents (or their layers, for builds
    /// that do not list them).
    async fn view_layer(
        &self,
        packages: &[&Found],
        explicit: &BTreeSet<Digest>,
        wanted: LayerCompression,
    ) -> Result<((Descriptor, LayerSource), Digest, view::View), ImageError> {
        let mut contents: Vec<Vec<String>> = Vec::with_capacity(packages.len());
        for f in packages {
            contents.push(
                if f.config.paks.contents.is_empty() && f.config.paks.files > 0 {
                    let blob = self.fetch_layer(f).await?;
                    let id = f.config.paks.id.clone();
                    blocking(move || list_contents(&blob, &id)).await?
                } else {
                    f.config.paks.contents.clone()
                },
            );
        }
        let view_packages: Vec<ViewPackage<'_>> = packages
            .iter()
            .zip(&contents)
            .map(|(f, c)| ViewPackage {
                id: &f.config.paks.id,
                contents: c,
                env: &f.config.paks.env,
                explicit: explicit.contains(&f.manifest),
            })
            .collect();
        let view = view::build(&view_packages)?;
        let diff_id = Digest::sha256_of(&view.tar);
        let blob = compress(&view.tar, wanted)?;
        let d = Descriptor::new(
            wanted.media_type(),
            Digest::sha256_of(&blob),
            blob.len() as u64,
        );
        Ok(((d, LayerSource::Bytes(blob)), diff_id, view))
    }

    fn cache_dir(&self) -> PathBuf {
        let probe = self.store.cache_blob(&Digest::sha256_of(b""));
        probe
            .parent()
            .expect("blobs live in a directory")
            .to_owned()
    }

    /// A package's layer in the blob cache, downloaded (verified) when missing.
    async fn fetch_layer(&self, f: &Found) -> Result<PathBuf, ImageError> {
        Ok(self.fetch(&f.repo, &f.layer).await?.0)
    }

    /// Blob `d` of `repo` in the blob cache, downloaded (verified) when missing; with
    /// the bytes downloaded (0 when it was cached).
    async fn fetch(&self, repo: &Repository, d: &Descriptor) -> Result<(PathBuf, u64), ImageError> {
        let dest = self.store.cache_blob(&d.digest);
        let cached = dest.is_file();
        if !cached && let Some(local) = &self.local {
            let (local, repo, digest, path) =
                (local.clone(), repo.clone(), d.digest.clone(), dest.clone());
            if blocking(move || local.copy_blob(&repo, &digest, &path)).await? {
                return Ok((dest, 0));
            }
        }
        let downloaded = if cached { 0 } else { d.size };
        self.client
            .pull_blob(repo, &d.digest, Some(d.size), &dest, &|_| {})
            .await?;
        Ok((dest, downloaded))
    }

    /// Send `images` where `output` says: one image, or (for several platforms) an index
    /// over them.
    pub async fn output(
        &self,
        images: &[Composed],
        output: &Output,
    ) -> Result<PushStats, ImageError> {
        match output {
            Output::Registry(target) => self.push(images, target).await,
            Output::Layout { dir, tag } => self.write_layout(images, dir, tag).await,
            Output::DockerArchive { path, name } => {
                let [image] = images else {
                    return Err(ImageError::ArchiveOnePlatform(images.len()));
                };
                let image_layers = image.layers.len();
                let mut blobs = Vec::new();
                let mut stats = PushStats::default();
                for (d, source) in &image.layers {
                    blobs.push(self.local(d, source, &mut stats).await?);
                }
                let path = path.clone();
                let name = name.clone();
                let image = image.clone();
                let digest = image.digest.clone();
                stats.uploaded_bytes = blocking(move || {
                    crate::docker_archive::write(&path, &image, &blobs, name.as_deref())
                })
                .await?;
                stats.uploaded = image_layers;
                stats.digest = Some(digest);
                Ok(stats)
            }
        }
    }

    /// A layer's bytes as a local file or in memory.
    pub(crate) async fn local(
        &self,
        d: &Descriptor,
        source: &LayerSource,
        stats: &mut PushStats,
    ) -> Result<LocalBlob, ImageError> {
        Ok(match source {
            LayerSource::Remote(repo) => {
                let (dest, downloaded) = self.fetch(repo, d).await?;
                stats.downloaded_bytes += downloaded;
                LocalBlob::File(dest)
            }
            LayerSource::Local(path) => LocalBlob::File(path.clone()),
            LayerSource::Bytes(b) => LocalBlob::Bytes(b.clone()),
        })
    }

    #[allow(clippy::too_many_lines)] // blobs, configs, manifests, index: in that order
    async fn push(&self, images: &[Composed], target: &Reference) -> Result<PushStats, ImageError> {
        let repo = target.repo();
        let uploaded = AtomicU64::new(0);
        let downloaded = AtomicU64::new(0);
        let counts = std::sync::Mutex::new((0usize, 0usize, 0usize));
        // Each blob once, however many platforms list it.
        let mut blobs: BTreeMap<&Digest, (&Descriptor, &LayerSource)> = BTreeMap::new();
        for image in images {
            for (d, s) in &image.layers {
                blobs.entry(&d.digest).or_insert((d, s));
            }
        }
        let total: u64 = blobs.values().map(|(d, _)| d.size).sum();
        self.reporter.plan("Composing", blobs.len() as u64, total);
        let count = |how: PushedBlob| {
            let mut c = counts.lock().expect("not poisoned");
            match how {
                PushedBlob::Uploaded => c.0 += 1,
                PushedBlob::Mounted => c.1 += 1,
                PushedBlob::Existed => c.2 += 1,
            }
        };
        futures_util::future::try_join_all(blobs.values().map(|(d, source)| {
            let (repo, uploaded, downloaded, count) = (&repo, &uploaded, &downloaded, &count);
            async move {
                let task = self.reporter.start(&short(&d.digest), d.size);
                let progress = |n: u64| self.reporter.advance(task, n);
                let how = match source {
                    LayerSource::Remote(from) => {
                        if let Some(how) =
                            self.client.mount_blob(repo, &d.digest, Some(from)).await?
                        {
                            how
                        } else {
                            // Another registry: the bytes move through the cache.
                            let (dest, bytes) = self.fetch(from, d).await?;
                            downloaded.fetch_add(bytes, Ordering::Relaxed);
                            self.client
                                .push_blob(repo, &d.digest, d.size, &dest, None, &progress)
                                .await?
                        }
                    }
                    LayerSource::Local(path) => {
                        self.client
                            .push_blob(repo, &d.digest, d.size, path, None, &progress)
                            .await?
                    }
                    LayerSource::Bytes(bytes) => {
                        self.client.push_bytes(repo, &d.digest, bytes).await?
                    }
                };
                if how == PushedBlob::Uploaded {
                    uploaded.fetch_add(d.size, Ordering::Relaxed);
                }
                count(how);
                self.reporter.finish(task);
                Ok::<_, ImageError>(())
            }
        }))
        .await?;
        let mut config_bytes = 0;
        for image in images {
            let digest = Digest::sha256_of(&image.config);
            if self
                .client
                .push_bytes(&repo, &digest, &image.config)
                .await?
                == PushedBlob::Uploaded
            {
                config_bytes += image.config.len() as u64;
            }
        }
        let digest = if let [image] = images {
            self.client
                .put_manifest(target, OCI_MANIFEST, &image.manifest)
                .await?
        } else {
            for image in images {
                self.client
                    .put_manifest(
                        &repo.reference_digest(&image.digest),
                        OCI_MANIFEST,
                        &image.manifest,
                    )
                    .await?;
            }
            let index = index_of(images);
            self.client.put_manifest(target, OCI_INDEX, &index).await?
        };
        let (up, mounted, existed) = *counts.lock().expect("not poisoned");
        Ok(PushStats {
            uploaded_bytes: uploaded.load(Ordering::Relaxed) + config_bytes,
            uploaded: up,
            mounted,
            existed,
            downloaded_bytes: downloaded.load(Ordering::Relaxed),
            digest: Some(digest),
        })
    }

    async fn write_layout(
        &self,
        images: &[Composed],
        dir: &Path,
        tag: &str,
    ) -> Result<PushStats, ImageError> {
        let layout = if dir.join("oci-layout").is_file() {
            paks_oci::layout::Layout::open(dir)?
        } else {
            paks_oci::layout::Layout::create(dir)?
        };
        let mut stats = PushStats::default();
        for image in images {
            for (d, source) in &image.layers {
                if layout.has_blob(&d.digest) {
                    stats.existed += 1;
                    continue;
                }
                match self.local(d, source, &mut stats).await? {
                    LocalBlob::File(path) => {
                        layout.write_blob_from(&d.digest, &path)?;
                    }
                    LocalBlob::Bytes(b) => {
                        layout.write_blob_bytes(&b)?;
                    }
                }
                stats.uploaded += 1;
                stats.uploaded_bytes += d.size;
            }
            layout.write_blob_bytes(&image.config)?;
            layout.write_blob_bytes(&image.manifest)?;
        }
        let (descriptor, digest) = if let [image] = images {
            (image.descriptor(), image.digest.clone())
        } else {
            let index = index_of(images);
            let digest = layout.write_blob_bytes(&index)?;
            (
                Descriptor::new(OCI_INDEX, digest.clone(), index.len() as u64),
                digest,
            )
        };
        layout.add_manifest(descriptor, Some(tag))?;
        stats.digest = Some(digest);
        Ok(stats)
    }
}

/// The digest of the image for `platform` in base image `name`'s index (`index`).
pub fn base_platform(name: &str, index: &[u8], platform: &Platform) -> Result<Digest, ImageError> {
    let bad = |reason: String| ImageError::Base {
        reference: name.to_owned(),
        reason,
    };
    let index: ImageIndex =
        serde_json::from_slice(index).map_err(|e| bad(format!("its index does not parse: {e}")))?;
    let chosen = index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| matches(p, platform)))
        .ok_or_else(|| {
            bad(format!(
                "it has no image for `{platform}` (it has {})",
                index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref())
                    .map(|p| format!("`{}`", paks_remote::format::platform_name(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    Ok(chosen.digest.clone())
}

/// Base image `name` for `platform` from its manifest (`digest`, `parsed`) and config
/// bytes, checked: its platform, layer types paks can reuse, a diff id per layer.
pub fn base_of(
    name: &str,
    repo: Repository,
    digest: Digest,
    parsed: ImageManifest,
    config: &[u8],
    platform: &Platform,
) -> Result<Base, ImageError> {
    let bad = |reason: String| ImageError::Base {
        reference: name.to_owned(),
        reason,
    };
    let config: Value =
        serde_json::from_slice(config).map_err(|e| bad(format!("its config is not JSON: {e}")))?;
    let arch = config["architecture"].as_str().unwrap_or_default();
    let os = config["os"].as_str().unwrap_or_default();
    if arch != platform.architecture || os != platform.os {
        return Err(bad(format!("it is for `{os}/{arch}`, not `{platform}`")));
    }
    let mut layers = Vec::with_capacity(parsed.layers.len());
    for layer in parsed.layers {
        let media_type = oci_layer_type(&layer.media_type).ok_or_else(|| {
            bad(format!(
                "its layer `{}` has the type `{}`, which is not a layer paks can reuse",
                layer.digest, layer.media_type
            ))
        })?;
        let mut d = Descriptor::new(media_type, layer.digest, layer.size);
        d.annotations = layer.annotations;
        layers.push(d);
    }
    let diff_ids = config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    if diff_ids != layers.len() {
        return Err(bad(format!(
            "its config lists {diff_ids} diff ids for {} layers",
            layers.len()
        )));
    }
    Ok(Base {
        name: name.to_owned(),
        repo,
        digest,
        layers,
        config,
    })
}

/// A layer's bytes, locally.
pub(crate) enum LocalBlob {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// Run blocking work (hashing, compressing) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ImageError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("image work does not panic")
}

/// The layer order of `packages`: rootfs packages first in [`crate::rootfs::order`], then
/// store packages as given; with the paths later rootfs packages replace. A file conflict
/// between rootfs packages is an error.
pub fn arrange(packages: &[Found]) -> Result<(Vec<usize>, Vec<Replaced>), ImageError> {
    let rootfs: Vec<usize> = (0..packages.len())
        .filter(|&i| is_rootfs(&packages[i].config.paks))
        .collect();
    let metas: Vec<&paks_types::PackageMeta> =
        rootfs.iter().map(|&i| &packages[i].config.paks).collect();
    let ordered = crate::rootfs::order(&metas);
    let in_order: Vec<&paks_types::PackageMeta> = ordered.iter().map(|&k| metas[k]).collect();
    let replaced = crate::conflicts::check(&in_order)?;
    let mut order: Vec<usize> = ordered.into_iter().map(|k| rootfs[k]).collect();
    order.extend((0..packages.len()).filter(|&i| !is_rootfs(&packages[i].config.paks)));
    Ok((order, replaced))
}

/// The index over several platforms' images (sorted by platform).
pub fn index_of(images: &[Composed]) -> Vec<u8> {
    let mut manifests: Vec<Descriptor> = images.iter().map(Composed::descriptor).collect();
    manifests.sort_by_key(|d| {
        d.platform
            .as_ref()
            .map(paks_remote::format::platform_name)
            .unwrap_or_default()
    });
    let mut annotations = BTreeMap::from([(ANNOTATION_CREATED.to_owned(), CREATED.to_owned())]);
    if let Some(first) = images.first()
        && let Ok(m) = serde_json::from_slice::<ImageManifest>(&first.manifest)
        && let Some(base) = m.annotations.get(ANNOTATION_BASE_NAME)
    {
        annotations.insert(ANNOTATION_BASE_NAME.to_owned(), base.clone());
    }
    ImageIndex {
        manifests,
        annotations,
        ..ImageIndex::default()
    }
    .to_bytes()
}

pub(crate) fn short(d: &Digest) -> String {
    d.hex()[..12].to_owned()
}

fn matches(p: &paks_oci::Platform, platform: &Platform) -> bool {
    p.os == platform.os
        && p.architecture == platform.architecture
        && (platform.variant.is_none() || p.variant == platform.variant)
}

/// The OCI media type for a base image's layer (Docker's names mapped), or `None` for
/// foreign or unknown layers.
fn oci_layer_type(media_type: &str) -> Option<&'static str> {
    match media_type {
        paks_archive::MEDIA_TYPE_LAYER_GZIP
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            Some(paks_archive::MEDIA_TYPE_LAYER_GZIP)
        }
        paks_archive::MEDIA_TYPE_LAYER_ZSTD
        | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
            Some(paks_archive::MEDIA_TYPE_LAYER_ZSTD)
        }
        paks_archive::MEDIA_TYPE_LAYER | "application/vnd.docker.image.rootfs.diff.tar" => {
            Some(paks_archive::MEDIA_TYPE_LAYER)
        }
        _ => None,
    }
}

fn package_diff_id(f: &Found) -> Result<Digest, ImageError> {
    match f.config.rootfs.diff_ids.as_slice() {
        [d] => Ok(d.clone()),
        other => Err(ImageError::NotAPackage {
            id: f.config.paks.id.clone(),
            reason: format!("its config lists {} diff ids, not 1", other.len()),
        }),
    }
}

fn compress(tar: &[u8], compression: LayerCompression) -> Result<Vec<u8>, ImageError> {
    let mut encoder = paks_archive::Encoder::new(Vec::new(), compression.archive())?;
    encoder.write_all(tar)?;
    Ok(encoder.finish()?)
}

/// The non-directory entries under `opt/paks/store/<id>/` of a package layer.
fn list_contents(blob: &Path, id: &PackageId) -> Result<Vec<String>, ImageError> {
    let prefix = format!("opt/paks/store/{id}/");
    let file = std::io::BufReader::new(fs_err::File::open(blob)?);
    let mut archive = tar::Archive::new(paks_archive::decompress(file)?);
    let mut out = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let path = entry.path_bytes();
        let Some(rel) = std::str::from_utf8(&path)
            .ok()
            .and_then(|p| p.strip_prefix(&prefix))
        else {
            return Err(ImageError::NotAPackage {
                id: id.clone(),
                reason: format!(
                    "its layer has `{}` outside `{prefix}` or not in UTF-8",
                    String::from_utf8_lossy(&path)
                ),
            });
        };
        out.push(rel.to_owned());
    }
    Ok(out)
}

/// The image config: the base's settings, the packages' environment, the spec's settings.
fn image_config(
    spec: &ImageSpec,
    input: &PlatformInput,
    env: &paks_store::EnvSet,
    diff_ids: &[Value],
    history: &[Value],
    packages: &str,
) -> Value {
    let base_cfg = input
        .base
        .as_ref()
        .and_then(|b| b.config.get("config"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut cfg = base_cfg;
    // Env: the base's entries in their order, updated; new names after, sorted.
    let mut entries: Vec<(String, String)> = cfg
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // From scratch, rootfs packages find their programs where their distribution puts them.
    if input.base.is_none()
        && input.packages.iter().any(|f| is_rootfs(&f.config.paks))
        && !entries.iter().any(|(k, _)| k == "PATH")
    {
        entries.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    let current: BTreeMap<String, String> = entries.iter().cloned().collect();
    let mut updates: Vec<(String, String)> = env
        .resolve(|name| current.get(name).map(Into::into))
        .into_iter()
        .map(|(k, v)| (k, v.to_string_lossy().into_owned()))
        .collect();
    updates.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (k, v) in updates {
        match entries.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => entries.push((k, v)),
        }
    }
    cfg.insert(
        "Env".into(),
        json!(
            entries
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        ),
    );
    if let Some(ep) = &spec.entrypoint {
        cfg.insert("Entrypoint".into(), json!(ep));
        // As in a Dockerfile: a new entrypoint drops the base's command.
        cfg.remove("Cmd");
    }
    if let Some(cmd) = &spec.cmd {
        cfg.insert("Cmd".into(), json!(cmd));
    }
    if let Some(w) = &spec.workdir {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &spec.user {
        cfg.insert("User".into(), json!(u));
    }
    let mut labels = cfg
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in needs_labels(input, &labels) {
        labels.insert(k, json!(v));
    }
    for (k, v) in &spec.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert(PACKAGES_KEY.into(), json!(packages));
    cfg.insert("Labels".into(), Value::Object(labels));

    let mut config = json!({
        "created": CREATED,
        "architecture": input.platform.architecture,
        "os": input.platform.os,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    if let Some(v) = &input.platform.variant {
        config["variant"] = json!(v);
    }
    config
}

/// The labels `paks inspect` would compute (`docs/labels.md`), from what the packages'
/// configs say their binaries need (`paks.needs`, found when they were built), combined
/// with the base's labels of the same names: the highest glibc, GLIBCXX and x86-64 level
/// any needs, the MPI ABI and CUDA linked. Packages built before `paks.needs` add nothing.
fn needs_labels(
    input: &PlatformInput,
    base: &serde_json::Map<String, Value>,
) -> BTreeMap<String, String> {
    use paks_inspect::{
        LABEL_GLIBC, LABEL_GLIBC_REQUIRED, LABEL_GLIBCXX_REQUIRED, LABEL_GPU, LABEL_ISA_LEVEL,
        LABEL_ISA_LEVEL_SOURCE, LABEL_MPI,
    };
    let base_label = |k: &str| base.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut glibc = base_label(LABEL_GLIBC_REQUIRED);
    let mut glibcxx = base_label(LABEL_GLIBCXX_REQUIRED);
    let mut isa = base_label(LABEL_ISA_LEVEL).zip(base_label(LABEL_ISA_LEVEL_SOURCE));
    let mut mpi = base_label(LABEL_MPI);
    let mut gpu = base_label(LABEL_GPU);
    let higher = |new: &Option<String>, old: &mut Option<String>| {
        if let Some(n) = new
            && old.as_ref().is_none_or(|o| version_key(n) > version_key(o))
        {
            *old = Some(n.clone());
        }
    };
    for f in &input.packages {
        let needs = &f.config.paks.needs;
        higher(&needs.glibc, &mut glibc);
        higher(&needs.glibcxx, &mut glibcxx);
        if let (Some(level), Some(source)) = (&needs.isa_level, &needs.isa_source) {
            let rank = |l: &str| paks_inspect::IsaLevel::parse(l);
            if isa.as_ref().is_none_or(|(old, _)| rank(level) > rank(old)) {
                isa = Some((level.clone(), source.clone()));
            }
        }
        if mpi.is_none() {
            mpi.clone_from(&needs.mpi);
        }
        // `cuda:12.2` over `cuda:11.8` over `cuda` (no version known).
        higher(&needs.gpu, &mut gpu);
    }
    let mut labels = BTreeMap::new();
    if let Some(g) = glibc {
        labels.insert(LABEL_GLIBC.to_owned(), g.clone());
        labels.insert(LABEL_GLIBC_REQUIRED.to_owned(), g);
    }
    if let Some(g) = glibcxx {
        labels.insert(LABEL_GLIBCXX_REQUIRED.to_owned(), g);
    }
    if let Some((level, source)) = isa {
        labels.insert(LABEL_ISA_LEVEL.to_owned(), level);
        labels.insert(LABEL_ISA_LEVEL_SOURCE.to_owned(), source);
    }
    if let Some(m) = mpi {
        labels.insert(LABEL_MPI.to_owned(), m);
    }
    if let Some(g) = gpu {
        labels.insert(LABEL_GPU.to_owned(), g);
    }
    labels
}

/// `2.34` → `[2, 34]`, for comparing dotted versions (`cuda:12.2` compares as `12.2`).
fn version_key(v: &str) -> Vec<u64> {
    v.trim_start_matches("cuda:")
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}
