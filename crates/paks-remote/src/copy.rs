//! `paks copy SRC DST`: packages between registries, and to or from OCI image layout
//! directories (`oci:DIR[:TAG]`) for air-gapped transfer: carry the directory, import it
//! on the other side. A copy takes the whole version (every platform's build) and every
//! dependency's build, by digest, and every manifest's referrers (signatures, SBOMs,
//! provenance, test results; referrers of referrers too), byte for byte so their digests
//! stay the same: from the referrers API or the `sha256-<hex>` tag fallback, into a
//! layout as untagged `index.json` entries, into a registry with the tag fallback where
//! the registry does not list them itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use paks_oci::layout::Layout;
use paks_oci::{Descriptor, ImageIndex, ImageManifest, Manifest, Reference, Repository};
use paks_types::{Digest, Reporter};

use crate::format;

mod referrers;
use crate::{Remote, RemoteError, RemoteErrorKind, by_digest, by_tag, namespace_of, package_repo};

/// One side of a copy: a registry reference (a package's version or any image; as a
/// destination, a namespace or a repository), `oci:DIR[:TAG]`, or
/// `oci-archive:FILE[:TAG]`. paks-oci's one parser; `docker-archive:` is refused here.
pub type Endpoint = paks_oci::Location;

/// What a copy moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Manifests and indexes written (referrers included), with their names
    /// (`repo-name:tag`).
    pub manifests: usize,
    /// Of those, referrers: manifests with a `subject` (signatures, SBOMs, ...).
    pub referrers: usize,
    pub names: Vec<String>,
    pub blobs_copied: usize,
    pub blobs_skipped: usize,
    pub bytes_copied: u64,
}

/// A manifest to visit: its repository, repository name, digest and tags.
type Queued = (Repository, String, Digest, Vec<String>);

/// A manifest or index to copy, where it comes from, and what it is called.
struct Node {
    source: Source,
    repo_name: String,
    digest: Digest,
    media_type: String,
    bytes: Vec<u8>,
    tags: Vec<String>,
    blobs: Vec<(Digest, u64)>,
    /// Whether this is a paks package build (its config has the `paks` field).
    package: bool,
    /// For a referrer: the manifest it refers to.
    subject: Option<Digest>,
}

impl Node {
    fn manifest(&self) -> Manifest {
        Manifest {
            digest: self.digest.clone(),
            media_type: self.media_type.clone(),
            bytes: self.bytes.clone(),
        }
    }
}

#[derive(Clone)]
enum Source {
    Registry(Repository),
    Layout,
}

impl Remote<'_> {
    pub async fn copy(
        &self,
        src: &Endpoint,
        dst: &Endpoint,
        reporter: &dyn Reporter,
    ) -> Result<CopyReport, RemoteError> {
        // An `oci-archive:` is a layout in a tar: unpacked into the store's cache to read,
        // written as a layout beside the file and packed over it (atomically) at the end.
        let src_dir = match src {
            Endpoint::OciArchive { file, tag } => {
                let dir = scratch_dir(&self.store.root().join("cache"))?;
                paks_oci::unpack_archive(file, dir.path())?;
                let layout = Endpoint::Layout {
                    dir: dir.path().to_owned(),
                    tag: tag.clone(),
                };
                Some((dir, layout))
            }
            _ => None,
        };
        let src = src_dir.as_ref().map_or(src, |(_, layout)| layout);
        let (dst_dir, archive) = match dst {
            Endpoint::OciArchive { file, tag } => {
                let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
                let dir = scratch_dir(parent.unwrap_or(Path::new(".")))?;
                let layout = Endpoint::Layout {
                    dir: dir.path().to_owned(),
                    tag: tag.clone(),
                };
                (Some((dir, layout)), Some(file))
            }
            _ => (None, None),
        };
        let dst = dst_dir.as_ref().map_or(dst, |(_, layout)| layout);
        let report = self.copy_between(src, dst, reporter).await?;
        if let (Some((dir, _)), Some(file)) = (&dst_dir, archive) {
            paks_oci::pack_archive(dir.path(), file)?;
        }
        Ok(report)
    }

    async fn copy_between(
        &self,
        src: &Endpoint,
        dst: &Endpoint,
        reporter: &dyn Reporter,
    ) -> Result<CopyReport, RemoteError> {
        let (mut nodes, layout_src) = match src {
            Endpoint::Registry(reference) => (self.collect_registry(reference).await?, None),
            Endpoint::Layout { dir, tag } => {
                let layout = Layout::open(dir)?;
                (collect_layout(&layout, tag.as_deref())?, Some(layout))
            }
            Endpoint::OciArchive { .. } | Endpoint::DockerArchive { .. } => {
                return Err(RemoteError::from(RemoteErrorKind::UnsupportedEndpoint(
                    src.to_string(),
                )));
            }
        };
        // A destination with a tag names exactly where an image goes (as skopeo's
        // `copy`): the image the source named gets that tag, in that repository.
        let exact = match dst {
            Endpoint::Registry(r) => r.tag.is_some() || r.digest.is_some(),
            Endpoint::Layout { tag, .. } => tag.is_some(),
            _ => false,
        };
        if exact {
            if nodes.iter().any(|n| n.package) {
                return Err(RemoteError::from(RemoteErrorKind::TargetHasTag(
                    dst.to_string(),
                )));
            }
            let tag = match dst {
                Endpoint::Registry(r) => r.tag.clone(),
                Endpoint::Layout { tag, .. } => tag.clone(),
                _ => None,
            };
            for node in &mut nodes {
                node.repo_name.clear();
                if !node.tags.is_empty() {
                    node.tags = tag.iter().cloned().collect();
                }
            }
        }
        let total = nodes.iter().flat_map(|n| n.blobs.iter().map(|b| b.1)).sum();
        reporter.plan("Copying", nodes.len() as u64, total);
        let mut report = CopyReport::default();
        match dst {
            Endpoint::Layout { dir, .. } => {
                let layout = if dir.join("oci-layout").is_file() {
                    Layout::open(dir)?
                } else {
                    Layout::create(dir)?
                };
                for node in &nodes {
                    self.node_to_layout(node, layout_src.as_ref(), &layout, &mut report, reporter)
                        .await?;
                }
            }
            Endpoint::Registry(target) => {
                if target.digest.is_some() {
                    return Err(RemoteError::from(RemoteErrorKind::TargetHasTag(
                        target.to_string(),
                    )));
                }
                for node in &nodes {
                    self.node_to_registry(
                        node,
                        layout_src.as_ref(),
                        &target.repo(),
                        &mut report,
                        reporter,
                    )
                    .await?;
                }
            }
            Endpoint::OciArchive { .. } | Endpoint::DockerArchive { .. } => {
                return Err(RemoteError::from(RemoteErrorKind::UnsupportedEndpoint(
                    dst.to_string(),
                )));
            }
        }
        Ok(report)
    }

    /// The reference's manifest or index, every manifest under it, and for packages
    /// every dependency.
    async fn collect_registry(&self, reference: &Reference) -> Result<Vec<Node>, RemoteError> {
        let repo = reference.repo();
        let ns = namespace_of(&repo);
        let repo_name = repo
            .name
            .rsplit('/')
            .next()
            .unwrap_or(&repo.name)
            .to_owned();
        let top = self.client.get_manifest(reference).await?;
        let tags: Vec<String> = reference.tag.iter().cloned().collect();
        let mut nodes = Vec::new();
        let mut queue: Vec<Queued> = vec![(repo, repo_name, top.digest.clone(), tags)];
        let mut seen = BTreeSet::new();
        while let Some((repo, repo_name, digest, mut tags)) = queue.pop() {
            if !seen.insert(digest.clone()) {
                continue;
            }
            let here = by_digest(&repo, &digest);
            let manifest = if digest == top.digest {
                top.clone()
            } else {
                self.client.get_manifest(&here).await?
            };
            let (blobs, package) = if manifest.is_index() {
                let index: ImageIndex = serde_json::from_slice(&manifest.bytes).map_err(|e| {
                    RemoteError::from(RemoteErrorKind::NotAPackage {
                        reference: here.to_string(),
                        reason: format!("its index does not parse: {e}"),
                    })
                })?;
                for child in &index.manifests {
                    queue.push((
                        repo.clone(),
                        repo_name.clone(),
                        child.digest.clone(),
                        vec![],
                    ));
                }
                (vec![], false)
            } else {
                self.manifest_blobs(&manifest, &repo, &here, &ns, &mut tags, &mut queue)
                    .await?
            };
            nodes.push(Node {
                source: Source::Registry(repo),
                repo_name,
                digest,
                media_type: manifest.media_type,
                bytes: manifest.bytes,
                tags,
                blobs,
                package,
                subject: None,
            });
        }
        // Children before the indexes that name them.
        nodes.reverse();
        self.collect_registry_referrers(&mut nodes, &mut seen)
            .await?;
        Ok(nodes)
    }

    /// A manifest's blobs and whether it is a package's; for a package, its build tag is
    /// added to `tags` and its dependencies to `queue`.
    async fn manifest_blobs(
        &self,
        manifest: &paks_oci::Manifest,
        repo: &Repository,
        here: &Reference,
        ns: &Repository,
        tags: &mut Vec<String>,
        queue: &mut Vec<Queued>,
    ) -> Result<(Vec<(Digest, u64)>, bool), RemoteError> {
        let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes).map_err(|e| {
            RemoteError::from(RemoteErrorKind::NotAPackage {
                reference: here.to_string(),
                reason: format!("its manifest does not parse: {e}"),
            })
        })?;
        let config_bytes = self.cached_config(repo, &parsed.config).await?;
        // Any image copies as it is; a package also brings its build tag and its
        // dependencies.
        let package = serde_json::from_slice::<serde_json::Value>(&config_bytes)
            .is_ok_and(|v| v.get("paks").is_some());
        if package {
            let config = paks_store::parse_config(&config_bytes, &here.to_string())?;
            tags.push(format::build_tag(&config.paks.id));
            for dep in &config.paks.dependencies {
                let dep_repo = package_repo(ns, &dep.name)?;
                // Inside a dependency cycle (imported packages) a build is pinned by id
                // alone: its build tag names it.
                let digest = match &dep.digest {
                    Some(d) => d.clone(),
                    None => {
                        self.build_by_id(&dep_repo, &config.paks.id, &dep.id)
                            .await?
                            .digest
                    }
                };
                queue.push((dep_repo, format::repo_name(&dep.name)?, digest, vec![]));
            }
        }
        Ok((blobs_of(&parsed), package))
    }

    async fn fetch_blob_to(
        &self,
        node: &Node,
        blob: &(Digest, u64),
        layout_src: Option<&Layout>,
        dest: &std::path::Path,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), RemoteError> {
        match &node.source {
            Source::Registry(repo) => {
                self.client
                    .pull_blob(repo, &blob.0, Some(blob.1), dest, progress)
                    .await?;
            }
            Source::Layout => {
                let layout = layout_src.expect("nodes from a layout are copied with it");
                if !dest.is_file() {
                    fs_err::copy(layout.blob_path(&blob.0), dest)?;
                }
            }
        }
        Ok(())
    }

    async fn node_to_layout(
        &self,
        node: &Node,
        layout_src: Option<&Layout>,
        layout: &Layout,
        report: &mut CopyReport,
        reporter: &dyn Reporter,
    ) -> Result<(), RemoteError> {
        let task = reporter.start(&node.repo_name, node.blobs.iter().map(|b| b.1).sum());
        for blob in &node.blobs {
            if layout.has_blob(&blob.0) {
                report.blobs_skipped += 1;
                continue;
            }
            let tmp = self.store.cache_blob(&blob.0);
            let progress = |n: u64| reporter.advance(task, n);
            self.fetch_blob_to(node, blob, layout_src, &tmp, &progress)
                .await?;
            layout.write_blob_from(&blob.0, &tmp)?;
            report.blobs_copied += 1;
            report.bytes_copied += blob.1;
        }
        if node.subject.is_some() {
            layout.add_referrer(&node.manifest())?;
            report.referrers += 1;
            report.manifests += 1;
            reporter.finish(task);
            return Ok(());
        }
        layout.write_blob_bytes(&node.bytes)?;
        let descriptor = Descriptor::new(
            &node.media_type,
            node.digest.clone(),
            node.bytes.len() as u64,
        );
        if node.tags.is_empty() {
            layout.add_manifest(descriptor.clone(), None)?;
        }
        for tag in &node.tags {
            let name = ref_name(&node.repo_name, tag);
            layout.add_manifest(descriptor.clone(), Some(&name))?;
            report.names.push(name);
        }
        report.manifests += 1;
        reporter.finish(task);
        Ok(())
    }

    async fn node_to_registry(
        &self,
        node: &Node,
        layout_src: Option<&Layout>,
        ns: &Repository,
        report: &mut CopyReport,
        reporter: &dyn Reporter,
    ) -> Result<(), RemoteError> {
        let repo = Repository {
            registry: ns.registry.clone(),
            // No repository name of its own: the destination is the repository.
            name: if ns.name.is_empty() || node.repo_name.is_empty() {
                if node.repo_name.is_empty() {
                    ns.name.clone()
                } else {
                    node.repo_name.clone()
                }
            } else {
                format!("{}/{}", ns.name, node.repo_name)
            },
        };
        let task = reporter.start(&node.repo_name, node.blobs.iter().map(|b| b.1).sum());
        for blob in &node.blobs {
            if self.client.blob_size(&repo, &blob.0).await?.is_some() {
                report.blobs_skipped += 1;
                continue;
            }
            let progress = |n: u64| reporter.advance(task, n);
            // Within one registry, a mount moves no bytes.
            let mount = match &node.source {
                Source::Registry(src) if src.registry == repo.registry => Some(src.clone()),
                _ => None,
            };
            let path = if let (Source::Layout, Some(layout)) = (&node.source, layout_src) {
                layout.blob_path(&blob.0)
            } else {
                self.store.cache_blob(&blob.0)
            };
            if mount.is_none() {
                self.fetch_blob_to(node, blob, layout_src, &path, &|_| {})
                    .await?;
            }
            let pushed = match self
                .client
                .push_blob(&repo, &blob.0, blob.1, &path, mount.as_ref(), &progress)
                .await
            {
                Ok(pushed) => pushed,
                // A registry may refuse the mount and ask for the bytes: fetch and upload.
                Err(_) if mount.is_some() => {
                    self.fetch_blob_to(node, blob, layout_src, &path, &|_| {})
                        .await?;
                    self.client
                        .push_blob(&repo, &blob.0, blob.1, &path, None, &progress)
                        .await?
                }
                Err(e) => return Err(e.into()),
            };
            match pushed {
                paks_oci::PushedBlob::Mounted | paks_oci::PushedBlob::Existed => {
                    report.blobs_skipped += 1;
                }
                paks_oci::PushedBlob::Uploaded => {
                    report.blobs_copied += 1;
                    report.bytes_copied += blob.1;
                }
            }
        }
        let stored = self
            .client
            .put_manifest(
                &by_digest(&repo, &node.digest),
                &node.media_type,
                &node.bytes,
            )
            .await?;
        if stored != node.digest {
            return Err(RemoteError::from(RemoteErrorKind::DigestChanged {
                reference: repo.to_string(),
                expected: node.digest.clone(),
                actual: stored,
            }));
        }
        if let Some(subject) = &node.subject {
            self.list_referrer(&repo, subject, &node.manifest()).await?;
            report.referrers += 1;
        }
        for tag in &node.tags {
            self.client
                .put_manifest(&by_tag(&repo, tag), &node.media_type, &node.bytes)
                .await?;
            report.names.push(if node.repo_name.is_empty() {
                format!("{repo}:{tag}")
            } else {
                format!("{}:{tag}", node.repo_name)
            });
        }
        report.manifests += 1;
        reporter.finish(task);
        Ok(())
    }
}

/// Every name in a layout (or the one asked for), with the blobs of each manifest;
/// indexes come after their children; then the referrers of them all.
fn collect_layout(layout: &Layout, only: Option<&str>) -> Result<Vec<Node>, RemoteError> {
    let mut by_digest: BTreeMap<Digest, Node> = BTreeMap::new();
    let mut order = Vec::new();
    for descriptor in layout.manifests() {
        let Some(name) = descriptor.ref_name() else {
            continue;
        };
        // `repo:tag` as paks writes, or a bare tag as skopeo and umoci write.
        let (repo_name, tag) = name.rsplit_once(':').unwrap_or(("", name));
        if only.is_some_and(|t| t != tag && t != name) {
            continue;
        }
        let digest = descriptor.digest.clone();
        if let Some(node) = by_digest.get_mut(&digest) {
            node.tags.push(tag.to_owned());
            continue;
        }
        let bytes = fs_err::read(layout.blob_path(&digest))?;
        let media_type = descriptor.media_type.clone();
        let mut blobs = Vec::new();
        let mut package = None;
        if media_type == format::INDEX || media_type == format::DOCKER_MANIFEST_LIST {
            let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| {
                RemoteError::from(RemoteErrorKind::NotAPackage {
                    reference: name.to_owned(),
                    reason: e.to_string(),
                })
            })?;
            for child in index.manifests {
                if !by_digest.contains_key(&child.digest) {
                    let child_bytes = fs_err::read(layout.blob_path(&child.digest))?;
                    let parsed: ImageManifest =
                        serde_json::from_slice(&child_bytes).map_err(|e| {
                            RemoteError::from(RemoteErrorKind::NotAPackage {
                                reference: name.to_owned(),
                                reason: e.to_string(),
                            })
                        })?;
                    let child_blobs = blobs_of(&parsed);
                    let package = package_of(layout, &parsed);
                    order.push(child.digest.clone());
                    by_digest.insert(
                        child.digest.clone(),
                        Node {
                            source: Source::Layout,
                            repo_name: layout_repo_name(repo_name, package.as_ref()),
                            digest: child.digest,
                            media_type: child.media_type,
                            bytes: child_bytes,
                            tags: vec![],
                            blobs: child_blobs,
                            package: package.is_some(),
                            subject: None,
                        },
                    );
                }
            }
        } else {
            let parsed: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
                RemoteError::from(RemoteErrorKind::NotAPackage {
                    reference: name.to_owned(),
                    reason: e.to_string(),
                })
            })?;
            blobs = blobs_of(&parsed);
            package = package_of(layout, &parsed);
        }
        order.push(digest.clone());
        by_digest.insert(
            digest.clone(),
            Node {
                source: Source::Layout,
                repo_name: layout_repo_name(repo_name, package.as_ref()),
                digest,
                media_type,
                bytes,
                tags: vec![tag.to_owned()],
                blobs,
                package: package.is_some(),
                subject: None,
            },
        );
    }
    let mut nodes: Vec<Node> = order
        .into_iter()
        .filter_map(|d| by_digest.remove(&d))
        .collect();
    referrers::collect_layout_referrers(layout, &mut nodes)?;
    Ok(nodes)
}

/// For a paks package's manifest (its config has the `paks` field): the repository name
/// of the package (empty if its name does not map to one); `None` for other images.
fn package_of(layout: &Layout, manifest: &ImageManifest) -> Option<String> {
    let config: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&manifest.config.digest).ok()?).ok()?;
    let paks = config.get("paks")?;
    Some(
        paks.get("name")
            .and_then(|n| n.as_str()?.parse::<paks_types::PackageName>().ok())
            .and_then(|n| format::repo_name(&n).ok())
            .unwrap_or_default(),
    )
}

/// The repository name a layout entry goes to: the one in its ref name, else (a bare
/// tag, as in a `.pak`) the package's.
fn layout_repo_name(named: &str, package: Option<&String>) -> String {
    if named.is_empty() {
        package.cloned().unwrap_or_default()
    } else {
        named.to_owned()
    }
}

/// A manifest's blobs: its config, then its layers.
fn blobs_of(manifest: &ImageManifest) -> Vec<(Digest, u64)> {
    let mut blobs = vec![(manifest.config.digest.clone(), manifest.config.size)];
    blobs.extend(manifest.layers.iter().map(|l| (l.digest.clone(), l.size)));
    blobs
}

/// `repo:tag`, or the bare tag when the image has no repository name of its own.
fn ref_name(repo_name: &str, tag: &str) -> String {
    if repo_name.is_empty() {
        tag.to_owned()
    } else {
        format!("{repo_name}:{tag}")
    }
}

/// A temporary directory in `parent` (created if missing), removed when dropped.
fn scratch_dir(parent: &Path) -> Result<tempfile::TempDir, RemoteError> {
    fs_err::create_dir_all(parent)?;
    Ok(tempfile::Builder::new()
        .prefix(".paks-copy-")
        .tempdir_in(parent)?)
}
