//! Installing `.pak` archives: verify, extract beside the target, relocate, sync, rename,
//! record.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use paks_archive::{Limits, PakReader, extract_layer_verified};
use paks_types::growing::{Growing, GrowingReader};
use paks_types::{
    CANONICAL_STORE, Digest, ImageConfig, META_SCHEMA, PackageDep, PackageId, Platform, Reporter,
    VerifyingReader,
};

use crate::lock::Mode;
use crate::{Record, Store, StoreError, StoreErrorKind};

/// One archive to install.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    pub pak: PathBuf,
    /// Asked for by the user (a gc root), not only pulled in as a dependency.
    pub explicit: bool,
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Extracted and recorded now.
    Installed {
        id: PackageId,
        files: u64,
        bytes: u64,
    },
    /// Was installed already; nothing was written (but an explicit mark).
    AlreadyInstalled { id: PackageId },
}

impl InstallOutcome {
    pub fn id(&self) -> &PackageId {
        match self {
            Self::Installed { id, .. } | Self::AlreadyInstalled { id } => id,
        }
    }
}

/// An opened archive and its parsed metadata.
pub struct OpenedPak {
    pub path: PathBuf,
    pub reader: PakReader,
    pub config: ImageConfig,
}

/// Open a `.pak` and read its metadata, checking the schema version.
pub fn open_pak(path: &Path) -> Result<OpenedPak, StoreError> {
    let archive_err = |source| {
        StoreError::from(StoreErrorKind::Archive {
            path: path.to_path_buf(),
            source,
        })
    };
    let reader = PakReader::open(path).map_err(archive_err)?;
    let bytes = reader.config_bytes().map_err(archive_err)?;
    let config = parse_config(&bytes, &path.display().to_string())?;
    Ok(OpenedPak {
        path: path.to_path_buf(),
        reader,
        config,
    })
}

/// Parse a package config (from `what`, a path or a reference, for messages), refusing a
/// newer metadata schema by name rather than as "invalid", and metadata that breaks the
/// rules recipes follow ([`paks_types::PackageMeta::validate`]).
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfig, StoreError> {
    let newer = |found: u64| {
        StoreError::from(StoreErrorKind::NewerSchema {
            what: what.to_owned(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: META_SCHEMA,
        })
    };
    let config: ImageConfig = serde_json::from_slice(bytes).map_err(|source| {
        let schema = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/paks/schema")
                    .and_then(serde_json::Value::as_u64)
            });
        match schema {
            Some(found) if found > u64::from(META_SCHEMA) => newer(found),
            _ => StoreError::from(StoreErrorKind::BadConfig {
                what: what.to_owned(),
                source,
            }),
        }
    })?;
    if config.paks.schema > META_SCHEMA {
        return Err(newer(u64::from(config.paks.schema)));
    }
    // Every config that arrives passes here (`.pak`, registry, mirror, index build): what
    // no recipe could have written is refused before any of it is used or printed.
    config
        .paks
        .validate()
        .map_err(|source| StoreErrorKind::UnsafeMeta {
            what: what.to_owned(),
            source,
        })?;
    Ok(config)
}

/// Where a package's layer is.
pub enum LayerSource {
    /// Inside a `.pak` file.
    Pak(PakReader),
    /// A blob file, such as one in the download cache; verified again as it is read.
    Blob {
        path: PathBuf,
        digest: Digest,
        size: u64,
        /// The media type its manifest gives it.
        media_type: String,
    },
    /// A blob still downloading into the cache, read as it grows: its download hashes it
    /// once, as it arrives, and the reader ends only on the download's verified verdict.
    Growing {
        growing: Arc<Growing>,
        digest: Digest,
        size: u64,
        media_type: String,
    },
}

/// A package ready to install: its metadata, and where its layer is.
pub struct Installable {
    /// Where it comes from (a path or a reference), for the record and messages.
    pub source: String,
    /// The digest of its manifest.
    pub manifest: Digest,
    pub config: ImageConfig,
    pub layer: LayerSource,
    /// The manifest's annotations (empty where the manifest was not read); those that
    /// name the package must agree with its config.
    pub annotations: BTreeMap<String, String>,
    /// Asked for by the user (a gc root), not only pulled in as a dependency.
    pub explicit: bool,
}

impl Installable {
    pub fn from_pak(pak: OpenedPak, explicit: bool) -> Self {
        Self {
            source: pak.path.display().to_string(),
            manifest: pak.reader.manifest_digest().clone(),
            config: pak.config,
            annotations: pak.reader.annotations().clone(),
            layer: LayerSource::Pak(pak.reader),
            explicit,
        }
    }

    fn id(&self) -> &PackageId {
        &self.config.paks.id
    }

    pub(crate) fn layer_media_type(&self) -> String {
        match &self.layer {
            LayerSource::Pak(reader) => reader.layer_descriptor().2,
            LayerSource::Blob { media_type, .. } | LayerSource::Growing { media_type, .. } => {
                media_type.clone()
            }
        }
    }

    fn layer_size(&self) -> u64 {
        match &self.layer {
            LayerSource::Pak(reader) => reader.layer_descriptor().1,
            LayerSource::Blob { size, .. } | LayerSource::Growing { size, .. } => *size,
        }
    }

    /// The layer's compressed bytes, verified against its digest at end of stream.
    fn open_layer(&self) -> Result<Box<dyn VerifiedRead + '_>, StoreError> {
        Ok(match &self.layer {
            LayerSource::Pak(reader) => Box::new(reader.layer_reader().map_err(|source| {
                StoreError::from(StoreErrorKind::Archive {
                    path: PathBuf::from(&self.source),
                    source,
                })
            })?),
            LayerSource::Blob {
                path, digest, size, ..
            } => Box::new(VerifyingReader::new(
                fs_err::File::open(path)?,
                digest.clone(),
                *size,
            )),
            LayerSource::Growing { growing, .. } => Box::new(growing.reader()),
        })
    }

    /// After a growing layer's download started over under its reader: the finished
    /// blob, from its first byte, verified again as it is read.
    fn reopen_finished(&self) -> Result<Option<Box<dyn VerifiedRead + '_>>, StoreError> {
        let LayerSource::Growing {
            growing,
            digest,
            size,
            ..
        } = &self.layer
        else {
            return Ok(None);
        };
        let path = growing.wait().map_err(|why| {
            StoreError::from(StoreErrorKind::Extract {
                id: self.id().clone(),
                source: paks_archive::ArchiveError::from_io(io::Error::other(why)),
            })
        })?;
        Ok(Some(Box::new(VerifyingReader::new(
            fs_err::File::open(path)?,
            digest.clone(),
            *size,
        ))))
    }
}

/// A stream that knows whether it was read to a verified end.
trait VerifiedRead: Read {
    fn is_verified(&self) -> bool;

    /// Whether it failed because its source started over (read it again from the start).
    fn started_over(&self) -> bool {
        false
    }
}

impl VerifiedRead for GrowingReader {
    fn is_verified(&self) -> bool {
        GrowingReader::is_verified(self)
    }

    fn started_over(&self) -> bool {
        self.was_restarted()
    }
}

impl<R: Read> VerifiedRead for VerifyingReader<R> {
    fn is_verified(&self) -> bool {
        VerifyingReader::is_verified(self)
    }
}

impl Store {
    /// Install `.pak` archives: see [`Store::install`].
    pub fn install_paks(
        &self,
        requests: &[InstallRequest],
        jobs: usize,
        reporter: &dyn Reporter,
    ) -> Result<Vec<InstallOutcome>, StoreError> {
        let mut items = Vec::new();
        for r in requests {
            items.push(Installable::from_pak(open_pak(&r.pak)?, r.explicit));
        }
        self.install(items, jobs, reporter)
    }

    /// Install packages, each after the ones it depends on, up to `jobs` at a time.
    /// Dependencies must be installed already or be in the same batch.
    pub fn install(
        &self,
        mut paks: Vec<Installable>,
        jobs: usize,
        reporter: &dyn Reporter,
    ) -> Result<Vec<InstallOutcome>, StoreError> {
        // The same package twice: install once, explicitly if either asks.
        let mut seen: BTreeMap<PackageId, bool> = BTreeMap::new();
        for p in &paks {
            *seen.entry(p.id().clone()).or_default() |= p.explicit;
        }
        let mut kept = BTreeSet::new();
        paks.retain(|p| kept.insert(p.id().clone()));
        for p in &mut paks {
            p.explicit = seen[p.id()];
        }
        let host = Platform::host();
        let in_batch: BTreeSet<PackageId> = paks.iter().map(|p| p.id().clone()).collect();
        for pak in &paks {
            // Before the checks of a store layer, which a rootfs layer would fail with a
            // less helpful message.
            let meta = &pak.config.paks;
            if !meta.kind.is_store() {
                return Err(StoreError::from(StoreErrorKind::RootfsPackage {
                    id: meta.id.clone(),
                    version: meta
                        .origin
                        .as_ref()
                        .map_or_else(|| meta.version.to_string(), |o| o.version.clone()),
                }));
            }
            crate::verify::check(pak)?;
            if !meta.platform.runs_on(&host) {
                return Err(StoreError::from(StoreErrorKind::WrongPlatform {
                    id: meta.id.clone(),
                    package: meta.platform.clone(),
                    host,
                }));
            }
        }
        // Every lock this install needs, taken at once in the global order and held to the
        // end: its packages exclusive, the installed dependencies it builds on shared (so
        // that a `paks remove` cannot take one away between levels), and the store lock
        // shared (so that gc does not collect a dependency installed by an earlier level).
        let mut wanted: BTreeMap<PackageId, Mode> = in_batch
            .iter()
            .map(|id| (id.clone(), Mode::Exclusive))
            .collect();
        for pak in &paks {
            for dep in &pak.config.paks.dependencies {
                wanted.entry(dep.id.clone()).or_insert(Mode::Shared);
            }
        }
        let _locks = self.lock_ids(Mode::Shared, &wanted)?;
        self.check_dependencies(&paks)?;
        let total = paks.iter().map(Installable::layer_size).sum();
        reporter.plan("Installing", paks.len() as u64, total);
        // Every package is extracted in one pool, the largest layers first (the longest
        // ones then do not trail at the end); nothing is committed until all are ready, so
        // a failure anywhere installs nothing, and the commits go dependencies first.
        let commit_order: Vec<usize> = levels(&paks.iter().map(|p| &p.config).collect::<Vec<_>>())
            .into_iter()
            .flatten()
            .collect();
        let mut work: Vec<usize> = (0..paks.len()).collect();
        work.sort_by_key(|&i| std::cmp::Reverse(paks[i].layer_size()));
        let outcomes = Mutex::new(BTreeMap::new());
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<StoreError>> = Mutex::new(None);
        let prepared: Mutex<BTreeMap<usize, Box<Prepared>>> = Mutex::new(BTreeMap::new());
        std::thread::scope(|s| {
            for _ in 0..jobs.clamp(1, work.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&index) = work.get(i) else { break };
                        if failure.lock().expect("not poisoned").is_some() {
                            break;
                        }
                        match self.prepare(&paks[index], &in_batch, reporter) {
                            Ok(Step::Done(outcome)) => {
                                outcomes
                                    .lock()
                                    .expect("not poisoned")
                                    .insert(index, outcome);
                            }
                            Ok(Step::Prepared(p)) => {
                                prepared.lock().expect("not poisoned").insert(index, p);
                            }
                            Err(e) => {
                                failure.lock().expect("not poisoned").get_or_insert(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("not poisoned") {
            return Err(e);
        }
        let mut prepared = prepared.into_inner().expect("not poisoned");
        let in_order: Vec<(usize, Box<Prepared>)> = commit_order
            .into_iter()
            .filter_map(|i| prepared.remove(&i).map(|p| (i, p)))
            .collect();
        for (index, outcome) in self.commit(in_order)? {
            outcomes
                .lock()
                .expect("not poisoned")
                .insert(index, outcome);
        }
        Ok(outcomes
            .into_inner()
            .expect("not poisoned")
            .into_values()
            .collect())
    }

    /// Each package's dependencies are installed or in the batch, and are the builds it
    /// pins where it pins one.
    fn check_dependencies(&self, paks: &[Installable]) -> Result<(), StoreError> {
        let manifests: BTreeMap<&PackageId, &Digest> =
            paks.iter().map(|p| (p.id(), &p.manifest)).collect();
        for pak in paks {
            let meta = &pak.config.paks;
            for dep in &meta.dependencies {
                match manifests.get(&dep.id) {
                    // In the batch: it must be the build the package pins, as installed
                    // ones must.
                    Some(&manifest) => match &dep.digest {
                        Some(pinned) if pinned != manifest => {
                            return Err(StoreError::from(StoreErrorKind::DependencyMismatch {
                                id: meta.id.clone(),
                                dep: dep.id.clone(),
                                pinned: pinned.clone(),
                                installed: manifest.clone(),
                            }));
                        }
                        _ => {}
                    },
                    None => self.check_dependency(&meta.id, dep)?,
                }
            }
        }
        Ok(())
    }

    /// `dep` of `id` is installed, and from the manifest `id` was built against where the
    /// package pins one: a build of the dependency with the same id but other content
    /// (a forged archive claiming the id) is not what the package was made with.
    fn check_dependency(&self, id: &PackageId, dep: &PackageDep) -> Result<(), StoreError> {
        let Some(record) = self.record(&dep.id)? else {
            return Err(StoreError::from(StoreErrorKind::MissingDependency {
                id: id.clone(),
                dep: dep.id.clone(),
            }));
        };
        match &dep.digest {
            Some(pinned) if *pinned != record.manifest => {
                Err(StoreError::from(StoreErrorKind::DependencyMismatch {
                    id: id.clone(),
                    dep: dep.id.clone(),
                    pinned: pinned.clone(),
                    installed: record.manifest,
                }))
            }
            _ => Ok(()),
        }
    }

    /// The first half of an install, run in parallel under the locks `install` holds:
    /// either finds it done (installed already from the same manifest, or its prefix
    /// renamed back from the unpacked cache) or extracts and relocates it into a temporary
    /// directory beside its prefix.
    ///
    /// An id is only a claim (any archive can make it), so what is installed under an id
    /// is never taken for the package being installed unless it came from the same
    /// manifest digest: another build under the id is replaced, and the user told.
    fn prepare(
        &self,
        pak: &Installable,
        in_batch: &BTreeSet<PackageId>,
        reporter: &dyn Reporter,
    ) -> Result<Step, StoreError> {
        let mut explicit = pak.explicit;
        let meta = &pak.config.paks;
        let id = &meta.id;
        // Those of the batch are committed with it, dependencies first.
        for dep in meta
            .dependencies
            .iter()
            .filter(|d| !in_batch.contains(&d.id))
        {
            self.check_dependency(id, dep)?;
        }
        let prefix = self.prefix(id);
        let mut replaces = false;
        if let Some(mut record) = self.record(id)? {
            if record.manifest == pak.manifest {
                if explicit && !record.explicit {
                    record.explicit = true;
                    self.write_record(&record)?;
                }
                return Ok(Step::Done(InstallOutcome::AlreadyInstalled {
                    id: id.clone(),
                }));
            }
            reporter.warn(&format!(
                "`{id}` is installed from `{}` (manifest `{}`), not from `{}` (manifest `{}`): replacing it with the build asked for",
                record.source, record.manifest, pak.source, pak.manifest
            ));
            explicit |= record.explicit;
            replaces = true;
        } else if prefix.exists() {
            // A prefix without a record (a kill between its rename and its record, or
            // between a removal's two steps) is of an unknown build: never adopted.
            replaces = true;
        }
        let tmp = if !replaces && self.link_from_unpacked(id, &pak.manifest, &prefix, reporter)? {
            None
        } else {
            Some(self.extract_prefix(pak, &prefix, reporter)?)
        };
        let installed_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Step::Prepared(Box::new(Prepared {
            tmp,
            prefix,
            record: Record {
                explicit,
                installed_at,
                manifest: pak.manifest.clone(),
                source: pak.source.clone(),
                meta: meta.clone(),
            },
            replaces,
        })))
    }

    /// The second half, once for the whole batch: one `syncfs` makes every extracted tree
    /// durable, the trees are renamed into the store, the records are written beside their
    /// place, one more `syncfs`, the records renamed into place (in `prepared`'s order:
    /// dependencies first), and a last `syncfs`. A record therefore never exists before
    /// its prefix is complete and durable, at three syncs per install instead of four per
    /// package.
    fn commit(
        &self,
        prepared: Vec<(usize, Box<Prepared>)>,
    ) -> Result<Vec<(usize, InstallOutcome)>, StoreError> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let syncfs = |path: &Path| -> Result<(), StoreError> {
            let dir = fs_err::File::open(path)?;
            rustix::fs::syncfs(&dir).map_err(io::Error::from)?;
            Ok(())
        };
        let store_dir = self.store_dir();
        syncfs(&store_dir)?;
        for (_, p) in &prepared {
            if let Some(tmp) = &p.tmp {
                if p.replaces {
                    // The old tree lands where the new one was, removed when `tmp` drops.
                    exchange(&tmp.0, &p.prefix)?;
                } else {
                    fs_err::rename(&tmp.0, &p.prefix)?;
                }
            }
        }
        let mut pending = Vec::new();
        for (_, p) in &prepared {
            pending.push(self.stage_record(&p.record)?);
        }
        syncfs(&store_dir)?;
        for (staged, path) in &pending {
            fs_err::rename(staged, path)?;
        }
        syncfs(&store_dir)?;
        Ok(prepared
            .into_iter()
            .map(|(index, mut p)| {
                if let Some(tmp) = p.tmp.take()
                    && !p.replaces
                {
                    tmp.disarm();
                }
                let meta = &p.record.meta;
                (
                    index,
                    InstallOutcome::Installed {
                        id: meta.id.clone(),
                        files: meta.files,
                        bytes: meta.size,
                    },
                )
            })
            .collect())
    }

    /// Extracts and relocates `pak` into a temporary directory beside `prefix`.
    fn extract_prefix(
        &self,
        pak: &Installable,
        prefix: &Path,
        reporter: &dyn Reporter,
    ) -> Result<TempDir, StoreError> {
        let meta = &pak.config.paks;
        let id = &meta.id;
        let mut tmp = TempDir::create(paks_types::fs::temp_sibling(prefix, "install"))?;
        let task = reporter.start(&format!("{}@{}", meta.name, meta.version), pak.layer_size());
        let mut layer = pak.open_layer()?;
        if let Err(e) = unpack(pak, &mut *layer, &tmp.0, reporter, task) {
            // A download that started over under its reader: what was extracted mixed two
            // attempts, so it goes, and the finished blob is extracted from the start.
            let again = if layer.started_over() {
                pak.reopen_finished()?
            } else {
                None
            };
            let Some(mut again) = again else {
                return Err(e);
            };
            drop(tmp);
            tmp = TempDir::create(paks_types::fs::temp_sibling(prefix, "install"))?;
            unpack(pak, &mut *again, &tmp.0, reporter, task)?;
        }
        reporter.finish(task);
        let new_store = self.store_dir();
        if !self.is_canonical() {
            let report = paks_relocate::relocate(
                &tmp.0,
                &meta.relocation,
                CANONICAL_STORE,
                &new_store.to_string_lossy(),
            )
            .map_err(|source| {
                StoreError::from(StoreErrorKind::Relocate {
                    id: id.clone(),
                    root: self.root.clone(),
                    source,
                })
            })?;
            if !report.not_relocatable.is_empty() {
                reporter.warn(&format!(
                    "`{id}` has {} binary file(s) that embed `{CANONICAL_STORE}` and cannot be rewritten for the longer root `{}`: {}; they keep referring to the canonical path",
                    report.not_relocatable.len(),
                    self.root.display(),
                    report.not_relocatable.join(", ")
                ));
            }
        }
        Ok(tmp)
    }

    /// Installs `id` from its unpacked copy when there is one: one rename back into the
    /// store. Returns whether it did.
    fn link_from_unpacked(
        &self,
        id: &PackageId,
        manifest: &Digest,
        prefix: &Path,
        reporter: &dyn Reporter,
    ) -> Result<bool, StoreError> {
        let cached = self.unpacked(id, manifest);
        if !cached.is_dir() {
            return Ok(false);
        }
        if let Err(e) = fs_err::rename(&cached, prefix) {
            reporter.info(&format!(
                "extracting `{id}` again: its unpacked copy failed: {e}"
            ));
            return Ok(false);
        }
        paks_types::fs::fsync_parent(prefix)?;
        Ok(true)
    }
}

/// Extract `layer` (the layer of `pak`, read to its verified end) into `dir`.
fn unpack(
    pak: &Installable,
    layer: &mut dyn VerifiedRead,
    dir: &Path,
    reporter: &dyn Reporter,
    task: usize,
) -> Result<(), StoreError> {
    let meta = &pak.config.paks;
    let id = &meta.id;
    let extract_err = |source| {
        StoreError::from(StoreErrorKind::Extract {
            id: id.clone(),
            source,
        })
    };
    let mut progress = Progress {
        inner: &mut *layer,
        reporter,
        task,
    };
    let limits = Limits {
        max_unpacked: crate::verify::unpacked_limit(meta.size).min(Limits::default().max_unpacked),
        ..Limits::default()
    };
    extract_layer_verified(
        &mut progress,
        dir,
        &format!("{}/{id}", CANONICAL_STORE.trim_start_matches('/')),
        &limits,
        &pak.config.rootfs.diff_ids[0],
    )
    .map_err(|source| match source {
        paks_archive::ArchiveError::LimitExceeded {
            what: "unpacked bytes",
            limit,
        } => StoreError::from(StoreErrorKind::Oversized {
            id: id.clone(),
            claimed: meta.size,
            limit,
        }),
        source => extract_err(source),
    })?;
    // Read to the end: the digest is only checked there, and nothing unverified may be
    // renamed into the store.
    io::copy(&mut progress, &mut io::sink())
        .map_err(|e| extract_err(paks_archive::ArchiveError::from_io(e)))?;
    if !layer.is_verified() {
        return Err(extract_err(paks_archive::ArchiveError::from_io(
            io::Error::other("the layer was not read to its end"),
        )));
    }
    Ok(())
}

/// Order archives into levels: each level depends only on earlier levels or on what is
/// installed. Within a level, order is the input order.
fn levels(configs: &[&ImageConfig]) -> Vec<Vec<usize>> {
    let index: BTreeMap<&PackageId, usize> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.paks.id, i))
        .collect();
    let mut level = vec![usize::MAX; configs.len()];
    for i in 0..configs.len() {
        depth(i, configs, &index, &mut level, 0);
    }
    let mut out: Vec<Vec<usize>> =
        vec![Vec::new(); level.iter().copied().max().map_or(0, |m| m + 1)];
    for (i, l) in level.into_iter().enumerate() {
        out[l].push(i);
    }
    out
}

/// The level of archive `i`: one more than its deepest dependency in the batch.
fn depth(
    i: usize,
    configs: &[&ImageConfig],
    index: &BTreeMap<&PackageId, usize>,
    level: &mut [usize],
    guard: usize,
) -> usize {
    if level[i] != usize::MAX {
        return level[i];
    }
    if guard > configs.len() {
        return 0; // a cycle: ids are hashes of their inputs, so only a forged archive has one
    }
    let d = configs[i]
        .paks
        .dependencies
        .iter()
        .filter_map(|dep| index.get(&dep.id))
        .map(|&j| depth(j, configs, index, level, guard + 1) + 1)
        .max()
        .unwrap_or(0);
    level[i] = d;
    d
}

/// What `prepare` decided.
enum Step {
    Done(InstallOutcome),
    Prepared(Box<Prepared>),
}

/// A package ready to commit: its tree (none if the prefix is in place already) and its
/// record.
struct Prepared {
    tmp: Option<TempDir>,
    prefix: PathBuf,
    record: Record,
    /// Whether the tree replaces one at `prefix` (another build under the id).
    replaces: bool,
}

/// Swap the trees at `new` and `prefix` in one step (`renameat2(RENAME_EXCHANGE)`), so
/// that `prefix` is never missing; where the filesystem cannot, move the old one aside
/// first.
fn exchange(new: &Path, prefix: &Path) -> Result<(), StoreError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, new, CWD, prefix, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            crate::gc::delete_prefix(prefix)?;
            fs_err::rename(new, prefix)?;
            // What `new` names now is removed by its owner; keep it a directory.
            fs_err::create_dir(new)?;
            Ok(())
        }
        Err(rustix::io::Errno::NOENT) => Ok(fs_err::rename(new, prefix)?),
        Err(e) => Err(io::Error::from(e).into()),
    }
}

/// A directory removed on drop unless disarmed.
struct TempDir(PathBuf);

impl TempDir {
    fn create(path: PathBuf) -> io::Result<Self> {
        fs_err::create_dir(&path)?;
        Ok(Self(path))
    }

    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Progress<'a, R> {
    inner: R,
    reporter: &'a dyn Reporter,
    task: usize,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.reporter.advance(self.task, n as u64);
        Ok(n)
    }
}
