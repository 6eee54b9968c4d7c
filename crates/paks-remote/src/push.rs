//! `paks push`: builds (and what they depend on) into a namespace of a registry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use paks_oci::{PushedBlob, Reference, Repository};
use paks_store::{OpenedPak, open_pak};
use paks_types::{PackageId, Reporter};

use paks_oci::{Descriptor, ImageIndex, Platform as OciPlatform};

use crate::format;
use crate::{
    Remote, RemoteError, RemoteErrorKind, by_digest, by_tag, locations, namespace_of, package_repo,
};

/// What happened to one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Its manifest was new to the registry.
    Uploaded,
    /// The registry had it; tags and the version index were checked.
    Existed,
}

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// Each package, with the reference of its build (by digest).
    pub packages: Vec<(PackageId, Reference, Pushed)>,
    /// Blob bytes uploaded.
    pub uploaded_bytes: u64,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_existed: usize,
}

/// Where `paks push` puts archives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTarget {
    /// A repository or a namespace, guessed: the repository of the one archive pushed
    /// when its last component is the package's name (`…/acme/hello` for `hello`), else
    /// a namespace.
    Guess(Repository),
    /// A namespace: each package in `<namespace>/<name>`.
    Namespace(Repository),
    /// The repository of the archives pushed (builds of one package), whatever its name;
    /// their dependencies go to the namespace above it.
    Repository(Repository),
}

impl Remote<'_> {
    /// Push `paks` to `target`. Dependencies the registry lacks are pushed from archives
    /// beside the given ones; blobs the registry has are never uploaded again. With
    /// `tag`, the version index of the archives pushed (builds of one version) is also
    /// tagged `tag`, as it is after this push.
    pub async fn push(
        &self,
        paks: &[PathBuf],
        target: &PushTarget,
        tag: Option<&str>,
        reporter: &dyn Reporter,
    ) -> Result<PushReport, RemoteError> {
        let mut batch: BTreeMap<PackageId, OpenedPak> = BTreeMap::new();
        for path in paks {
            let pak = open_pak(path)?;
            batch.insert(pak.config.paks.id.clone(), pak);
        }
        let given: Vec<PackageId> = batch.keys().cloned().collect();
        // The one package (name and version) the archives are builds of, if they are.
        let one_version = {
            let mut versions = batch
                .values()
                .map(|p| (p.config.paks.name.clone(), p.config.paks.version.clone()));
            let first = versions.next();
            first.filter(|f| versions.all(|v| &v == f))
        };
        let needs_one = |what: &str, repo: &Repository| -> Result<(), RemoteError> {
            if one_version.is_none() {
                return Err(RemoteError::from(RemoteErrorKind::NotOneVersion {
                    what: what.to_owned(),
                    target: repo.to_string(),
                }));
            }
            Ok(())
        };
        let (ns, exact) = match target {
            PushTarget::Guess(repo) => match batch.values().next() {
                Some(only)
                    if batch.len() == 1
                        && repo.name.rsplit('/').next()
                            == Some(&format::repo_name(&only.config.paks.name)?) =>
                {
                    (namespace_of(repo), None)
                }
                _ => (repo.clone(), None),
            },
            PushTarget::Namespace(repo) => (repo.clone(), None),
            PushTarget::Repository(repo) => {
                needs_one("a repository", repo)?;
                (namespace_of(repo), Some(repo.clone()))
            }
        };
        if tag.is_some() {
            let repo = match target {
                PushTarget::Guess(r) | PushTarget::Namespace(r) | PushTarget::Repository(r) => r,
            };
            needs_one("a tag", repo)?;
        }
        let repo_of = |meta: &paks_types::PackageMeta| -> Result<Repository, RemoteError> {
            match &exact {
                Some(repo) if given.contains(&meta.id) => Ok(repo.clone()),
                _ => package_repo(&ns, &meta.name),
            }
        };
        self.add_missing_dependencies(&mut batch, &ns).await?;

        let total = batch.values().map(|p| p.reader.layer_descriptor().1).sum();
        reporter.plan("Pushing", batch.len() as u64, total);
        // Builds of one version share a version index: push those one after another.
        let mut groups: BTreeMap<(String, String), Vec<&OpenedPak>> = BTreeMap::new();
        for pak in batch.values() {
            let meta = &pak.config.paks;
            groups
                .entry((meta.name.to_string(), meta.version.to_string()))
                .or_default()
                .push(pak);
        }
        let results = futures_util::future::try_join_all(groups.into_values().map(|group| {
            let repo_of = &repo_of;
            async move {
                let mut out = Vec::new();
                for pak in group {
                    let repo = repo_of(&pak.config.paks)?;
                    out.push(self.push_one(pak, &repo, reporter).await?);
                }
                Ok::<_, RemoteError>(out)
            }
        }))
        .await?;
        if let (Some(tag), Some(first)) = (tag, given.first().and_then(|id| batch.get(id))) {
            let repo = repo_of(&first.config.paks)?;
            let version = by_tag(&repo, &format::version_tag(&first.config.paks.version));
            let index = self.client.get_manifest(&version).await?;
            self.client
                .put_manifest(&by_tag(&repo, tag), &index.media_type, &index.bytes)
                .await?;
        }
        let mut report = PushReport::default();
        for (id, reference, pushed, blobs) in results.into_iter().flatten() {
            for (blob, size) in blobs {
                match blob {
                    PushedBlob::Uploaded => {
                        report.blobs_uploaded += 1;
                        report.uploaded_bytes += size;
                    }
                    PushedBlob::Mounted => report.blobs_mounted += 1,
                    PushedBlob::Existed => report.blobs_existed += 1,
                }
            }
            report.packages.push((id, reference, pushed));
        }
        Ok(report)
    }

    /// Every dependency must be in the batch or in the registry; archives beside the
    /// given ones fill the gaps.
    async fn add_missing_dependencies(
        &self,
        batch: &mut BTreeMap<PackageId, OpenedPak>,
        ns: &Repository,
    ) -> Result<(), RemoteError> {
        let mut checked: BTreeSet<PackageId> = BTreeSet::new();
        loop {
            let mut wanted = Vec::new();
            for pak in batch.values() {
                for dep in &pak.config.paks.dependencies {
                    if !batch.contains_key(&dep.id) && checked.insert(dep.id.clone()) {
                        wanted.push((pak.config.paks.id.clone(), pak.path.clone(), dep.clone()));
                    }
                }
            }
            if wanted.is_empty() {
                return Ok(());
            }
            for (id, pak_path, dep) in wanted {
                let digest = dep.digest.clone().ok_or_else(|| {
                    RemoteError::from(RemoteErrorKind::UnpinnedDependency {
                        id: id.clone(),
                        dep: dep.id.clone(),
                    })
                })?;
                let repo = package_repo(ns, &dep.name)?;
                if self
                    .client
                    .head_manifest(&by_digest(&repo, &digest))
                    .await?
                    .is_some()
                {
                    continue;
                }
                let beside = beside(&pak_path, &dep.id);
                if !beside.is_file() {
                    return Err(RemoteError::from(RemoteErrorKind::DependencyNotFound {
                        id,
                        dep: dep.id,
                        namespace: format!("{}/{}", ns.registry, ns.name),
                        pak: pak_path.display().to_string(),
                    }));
                }
                let pak = open_pak(&beside)?;
                batch.insert(pak.config.paks.id.clone(), pak);
            }
        }
    }

    async fn push_one(
        &self,
        pak: &OpenedPak,
        repo: &Repository,
        reporter: &dyn Reporter,
    ) -> Result<(PackageId, Reference, Pushed, Vec<(PushedBlob, u64)>), RemoteError> {
        let meta = &pak.config.paks;
        let repo = repo.clone();
        let manifest_digest = pak.reader.manifest_digest().clone();
        let (layer_digest, layer_size, _) = pak.reader.layer_descriptor();
        let task = reporter.start(&format!("{}@{}", meta.name, meta.version), layer_size);
        let mut blobs = Vec::new();
        let exists = self
            .client
            .head_manifest(&by_digest(&repo, &manifest_digest))
            .await?
            .is_some();
        if !exists {
            let config = pak.reader.config_bytes()?;
            let config_digest = pak.reader.config_digest().clone();
            if self
                .client
                .blob_size(&repo, &config_digest)
                .await?
                .is_some()
            {
                blobs.push((PushedBlob::Existed, config.len() as u64));
            } else {
                self.client.push_blob_bytes(&repo, &config).await?;
                blobs.push((PushedBlob::Uploaded, config.len() as u64));
            }
            let layer_file = self.cached_layer(pak)?;
            let mount = locations::mount_source(self.store, &layer_digest, &repo);
            let progress = |n: u64| reporter.advance(task, n);
            let pushed = self
                .client
                .push_blob(
                    &repo,
                    &layer_digest,
                    layer_size,
                    &layer_file,
                    mount.as_ref(),
                    &progress,
                )
                .await?;
            blobs.push((pushed, layer_size));
        }
        locations::remember(self.store, &layer_digest, &repo);
        let stored = self
            .client
            .put_manifest(
                &by_tag(&repo, &format::build_tag(&meta.id)),
                format::MANIFEST,
                pak.reader.manifest_bytes(),
            )
            .await?;
        if stored != manifest_digest {
            return Err(RemoteError::from(RemoteErrorKind::DigestChanged {
                reference: format!("{repo}"),
                expected: manifest_digest,
                actual: stored,
            }));
        }
        self.update_version_index(&repo, pak).await?;
        reporter.finish(task);
        let pushed = if exists {
            Pushed::Existed
        } else {
            Pushed::Uploaded
        };
        Ok((
            meta.id.clone(),
            by_digest(&repo, &manifest_digest),
            pushed,
            blobs,
        ))
    }

    /// The version tag's index gains (or replaces, for the same platform and target) this
    /// build.
    async fn update_version_index(
        &self,
        repo: &Repository,
        pak: &OpenedPak,
    ) -> Result<(), RemoteError> {
        let meta = &pak.config.paks;
        let tag = by_tag(repo, &format::version_tag(&meta.version));
        let mut index = match self.client.head_manifest(&tag).await? {
            Some(_) => {
                let current = self.client.get_manifest(&tag).await?;
                serde_json::from_slice::<ImageIndex>(&current.bytes)
                    .ok()
                    .filter(|_| current.is_index())
                    .ok_or_else(|| {
                        RemoteError::from(RemoteErrorKind::NotAPackage {
                            reference: tag.to_string(),
                            reason: "the version tag is not an OCI image index".into(),
                        })
                    })?
            }
            None => format::version_index(&meta.name, &meta.version),
        };
        let mut build = Descriptor::new(
            format::MANIFEST,
            pak.reader.manifest_digest().clone(),
            pak.reader.manifest_bytes().len() as u64,
        );
        build.platform = Some(OciPlatform::from(&meta.platform));
        build.annotations =
            BTreeMap::from([(format::ANNOTATION_ID.to_owned(), meta.id.to_string())]);
        let manifest_annotations = pak.reader.annotations();
        for key in format::ENTRY_ANNOTATIONS {
            if let Some(value) = manifest_annotations.get(key) {
                build.annotations.insert(key.to_owned(), value.clone());
            }
        }
        if format::put_build(&mut index, build) {
            self.client
                .put_manifest(&tag, format::INDEX, &index.to_bytes())
                .await?;
        }
        Ok(())
    }

    /// The layer of `pak` as a file in the blob cache (copied out once, verified).
    fn cached_layer(&self, pak: &OpenedPak) -> Result<PathBuf, RemoteError> {
        let (digest, _, _) = pak.reader.layer_descriptor();
        let path = self.store.cache_blob(&digest);
        if path.is_file() {
            return Ok(path);
        }
        let mut layer = pak.reader.layer_reader()?;
        paks_types::fs::write_atomic_with(&path, |f| std::io::copy(&mut layer, f).map(drop))?;
        Ok(path)
    }
}

/// Where the archive of `id` would be, built beside `pak`.
fn beside(pak: &Path, id: &PackageId) -> PathBuf {
    let dir = pak.parent().unwrap_or(Path::new("."));
    dir.join(format!("{}-{}-{}.pak", id.name(), id.version(), id.hash()))
}
