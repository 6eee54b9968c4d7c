//! Synthetic registries for the benchmarks: thousands of packages written into the data
//! directory of `paks serve` straight through the registry's own storage code
//! (`FsStorage`: the blob uploads, manifest checks, links and tags a push makes), so that
//! the catalogue benchmark has 20,000 packages in a minute instead of an hour of pushes.
//!
//! Every package is `NS/<name>`: 1–5 versions, each an OCI index over 1–2 builds (a
//! baseline and an `x86_64_v3` build), every build a real package layer (gzip tar under
//! `opt/paks/store/<id>/`, 1–400 small files) with its config (the files listed in
//! `contents`) and manifest, tagged as `paks push` tags them; 0–4 dependencies on earlier
//! packages, pinned by id and manifest digest. The same options give the same bytes.
//!
//! [`index`] makes synthetic package indexes (no registry) for the index benchmark.

pub mod index;
pub mod synth;

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use paks_registry::storage::{FsStorage, Storage, StorageError};

use crate::synth::{Generator, Repository};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many packages.
    pub packages: usize,
    /// The seed of every random choice.
    pub seed: u64,
    /// The namespace of every repository (`bench`).
    pub namespace: String,
    /// Threads writing into the storage.
    pub writers: usize,
    /// Whether each package depends on exactly the one before it (one long chain, for
    /// tests of how deep a dependency walk may go) instead of 0–4 random earlier ones.
    pub chain: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            packages: 20_000,
            seed: 1,
            namespace: "bench".to_owned(),
            writers: 4,
            chain: false,
        }
    }
}

/// One package written.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Its repository (`bench/amber-river`).
    pub repository: String,
    /// Its newest version (the tag of that version's index).
    pub newest: String,
    /// How many packages its builds depend on.
    pub dependencies: usize,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Every package, in the order generated (a package depends only on earlier ones).
    pub packages: Vec<Generated>,
    pub versions: usize,
    pub builds: usize,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub manifests: u64,
    pub seconds: f64,
}

impl Summary {
    /// One JSON line, `"type": "summary"`, without the repository names.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "type": "summary",
            "packages": self.packages.len(),
            "versions": self.versions,
            "builds": self.builds,
            "blobs": self.blobs,
            "blob_bytes": self.blob_bytes,
            "manifests": self.manifests,
            "seconds": self.seconds,
        })
        .to_string()
    }
}

/// Counts of what was written, shared by the writer threads.
#[derive(Default)]
struct Totals {
    blobs: AtomicU64,
    blob_bytes: AtomicU64,
    manifests: AtomicU64,
}

/// Stores one repository: every blob as a client uploads it (session, write, commit with
/// the digest checked), then the manifests with their references checked and their tags.
fn store(storage: &FsStorage, repo: &Repository, totals: &Totals) -> Result<(), StorageError> {
    for blob in &repo.blobs {
        let id = storage.start_upload(&repo.repo)?;
        let mut writer = storage.upload_writer(&repo.repo, &id)?;
        writer
            .write_all(&blob.bytes)
            .map_err(|e| StorageError::io(format!("writing blob `{}`", blob.digest), e))?;
        writer.finish()?;
        storage.commit_upload(&repo.repo, &id, &blob.digest)?;
        totals.blobs.fetch_add(1, Ordering::Relaxed);
        totals
            .blob_bytes
            .fetch_add(blob.bytes.len() as u64, Ordering::Relaxed);
    }
    for m in &repo.manifests {
        let tags: Vec<&str> = m.tags.iter().map(String::as_str).collect();
        storage.put_manifest(&repo.repo, &m.digest, &m.stored, &m.refs, &tags)?;
        totals.manifests.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn writer(
    storage: &FsStorage,
    queue: &Mutex<Receiver<Repository>>,
    totals: &Totals,
) -> Result<(), String> {
    loop {
        let next = queue.lock().expect("not poisoned").recv();
        let Ok(repo) = next else { return Ok(()) };
        store(storage, &repo, totals).map_err(|e| format!("storing `{}`: {e}", repo.repo))?;
    }
}

/// Writes the packages `options` describes into the registry data directory `root`.
pub fn generate(root: &Path, options: &Options) -> Result<Summary, String> {
    let started = Instant::now();
    let storage =
        FsStorage::open(root).map_err(|e| format!("opening `{}`: {e}", root.display()))?;
    let totals = Totals::default();
    let (send, receive) = sync_channel::<Repository>(64);
    let queue = Arc::new(Mutex::new(receive));
    let mut names = Vec::with_capacity(options.packages);
    let (mut versions, mut builds) = (0, 0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.writers.max(1))
            .map(|_| scope.spawn(|| writer(&storage, &queue, &totals)))
            .collect();
        let mut generator = Generator::new(&options.namespace, options.seed);
        generator.chain = options.chain;
        for i in 0..options.packages {
            let repo = generator.package(i);
            names.push(Generated {
                repository: repo.repo.to_string(),
                newest: repo.newest.clone(),
                dependencies: repo.dependencies,
            });
            versions += repo.versions;
            builds += repo.builds;
            if send.send(repo).is_err() {
                break; // every writer failed; their errors say why
            }
        }
        drop(send);
        workers
            .into_iter()
            .map(|w| w.join().expect("a writer does not panic"))
            .collect::<Result<Vec<()>, String>>()
    })?;
    Ok(Summary {
        packages: names,
        versions,
        builds,
        blobs: totals.blobs.load(Ordering::Relaxed),
        blob_bytes: totals.blob_bytes.load(Ordering::Relaxed),
        manifests: totals.manifests.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
    })
}
