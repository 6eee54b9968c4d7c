//! The download cache: what was fetched to install, build or push, by content.
//!
//! ```text
//! <cache>/blobs/sha256/<hex>   registry blobs (configs, layers), verified before they land
//! <cache>/paks/<file>.pak      archives of static repositories
//! <cache>/sources/<hex>        recipe sources, by sha256
//! <cache>/locations/<hex>      where a blob was last seen (for cross-repository mounts)
//! <cache>/cache.lock           shared by every process using the cache; exclusive to prune
//! ```
//! One cache may serve many install roots (the CLI's default is one per user): nothing in
//! it is renamed or hard-linked into a store, only read, so it may live on another file
//! system than the roots it serves. What *is* renamed into a store (the unpacked cache of
//! removed prefixes) stays in the root, at `<root>/cache/unpacked`.
//!
//! Every entry is written beside its place and renamed when verified, so a reader sees a
//! complete file or none. Deleting entries is the only thing that needs a lock: a process
//! that uses the cache holds `cache.lock` shared for as long as it runs, and
//! [`Cache::prune`] takes it exclusively, so an entry is never deleted between its
//! download and its install by another process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use paks_types::Digest;

use crate::lock::{Lock, Mode};
use crate::{Store, StoreError};

/// The kinds of entries a cache holds, as `paks cache info` reports them (`debs`: the
/// `.deb` files `paks import deb NAME` fetched with apt).
pub const KINDS: [&str; 5] = ["blobs", "paks", "sources", "debs", "locations"];

/// A download cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    lock_timeout: Duration,
}

/// Entries and bytes of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub entries: u64,
    pub bytes: u64,
}

/// What prune keeps: entries used within `max_age`, and then, newest first, no more
/// than `max_size` bytes in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunePolicy {
    /// Delete entries not used for longer than this (`None`: any age is kept).
    pub max_age: Option<Duration>,
    /// Delete the least recently used entries until the cache holds at most this many
    /// bytes (`None`: no bound).
    pub max_size: Option<u64>,
}

/// What prune deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Paths relative to the cache directory.
    pub removed: Vec<String>,
    pub freed: u64,
    /// What the cache holds afterwards.
    pub kept: Usage,
    pub dry_run: bool,
}

/// One file in the cache.
struct Entry {
    path: PathBuf,
    bytes: u64,
    /// The later of its modification and access times: when it was last written or read.
    used: SystemTime,
}

impl Cache {
    /// Opens (creating if needed) the cache at `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let dir = std::path::absolute(dir)?;
        fs_err::create_dir_all(dir.join("blobs/sha256"))?;
        Ok(Self {
            dir,
            lock_timeout: crate::lock::timeout_from_env(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `digest` is kept.
    pub fn blob(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    fn lock(&self, mode: Mode) -> Result<Lock, StoreError> {
        Lock::take(&self.dir.join("cache.lock"), mode, self.lock_timeout)
    }

    /// Every entry of `kind`, without temporaries (hidden files: `gc` takes care of those).
    fn entries(&self, kind: &str) -> Result<Vec<Entry>, StoreError> {
        let mut found = Vec::new();
        let top = self.dir.join(kind);
        // Blobs are one level deeper, under their algorithm.
        let dirs = if kind == "blobs" {
            read_dir(&top)?
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        } else {
            vec![top]
        };
        for dir in dirs {
            for e in read_dir(&dir)? {
                let e = e?;
                if e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let used = [meta.modified(), meta.accessed()]
                    .into_iter()
                    .filter_map(Result::ok)
                    .max()
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                found.push(Entry {
                    path: e.path(),
                    bytes: meta.len(),
                    used,
                });
            }
        }
        Ok(found)
    }

    /// Entries and bytes per kind (in the order of [`KINDS`]).
    pub fn usage(&self) -> Result<Vec<(&'static str, Usage)>, StoreError> {
        KINDS
            .iter()
            .map(|kind| {
                let entries = self.entries(kind)?;
                Ok((
                    *kind,
                    Usage {
                        entries: entries.len() as u64,
                        bytes: entries.iter().map(|e| e.bytes).sum(),
                    },
                ))
            })
            .collect()
    }

    /// Deletes what `policy` does not keep. Waits (up to the lock timeout) until no other
    /// process uses the cache, and holds it meanwhile.
    pub fn prune(&self, policy: &PrunePolicy, dry_run: bool) -> Result<PruneReport, StoreError> {
        let _lock = self.lock(Mode::Exclusive)?;
        let mut all = Vec::new();
        for kind in KINDS {
            all.extend(self.entries(kind)?);
        }
        // Newest first: the size bound keeps the most recently used.
        all.sort_by(|a, b| b.used.cmp(&a.used).then_with(|| a.path.cmp(&b.path)));
        let now = SystemTime::now();
        let mut report = PruneReport {
            dry_run,
            ..PruneReport::default()
        };
        // Once the bound is reached, everything older goes too (least recently used first
        // out, not whatever still fits).
        let mut full = false;
        for e in all {
            let age = now.duration_since(e.used).unwrap_or_default();
            let too_old = policy.max_age.is_some_and(|max| age >= max);
            full |= policy
                .max_size
                .is_some_and(|max| report.kept.bytes + e.bytes > max);
            if too_old || full {
                if !dry_run {
                    match fs_err::remove_file(&e.path) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(err) => return Err(err.into()),
                    }
                }
                report.freed += e.bytes;
                report.removed.push(self.relative(&e.path));
            } else {
                report.kept.entries += 1;
                report.kept.bytes += e.bytes;
            }
        }
        report.removed.sort();
        Ok(report)
    }

    /// Deletes everything in the cache: every entry and every temporary (no process
    /// uses the cache meanwhile, so none is being written).
    pub fn clean(&self, dry_run: bool) -> Result<PruneReport, StoreError> {
        let _lock = self.lock(Mode::Exclusive)?;
        let mut report = PruneReport {
            dry_run,
            ..PruneReport::default()
        };
        for kind in KINDS {
            let top = self.dir.join(kind);
            for path in files_under(&top)? {
                report.freed += fs_err::symlink_metadata(&path).map_or(0, |m| m.len());
                report.removed.push(self.relative(&path));
                if !dry_run {
                    fs_err::remove_file(&path)?;
                }
            }
        }
        report.removed.sort();
        Ok(report)
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// The entries of `dir`; none when it does not exist.
fn read_dir(
    dir: &Path,
) -> Result<impl Iterator<Item = std::io::Result<fs_err::DirEntry>>, StoreError> {
    match fs_err::read_dir(dir) {
        Ok(rd) => Ok(Some(rd).into_iter().flatten()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None.into_iter().flatten()),
        Err(e) => Err(e.into()),
    }
}

/// Every file (not directory) under `dir`, hidden ones too.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                todo.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    Ok(files)
}

impl Store {
    /// This store, downloading into `cache` instead of `<root>/cache`, and holding the
    /// cache's lock shared while it (or a clone) lives, so that no prune deletes what
    /// this process fetched before it installs it.
    pub fn using_cache(mut self, cache: &Cache) -> Result<Self, StoreError> {
        let lock = cache.lock(Mode::Shared)?;
        self.cache = cache.dir().to_path_buf();
        self.cache_lock = Some(Arc::new(lock));
        Ok(self)
    }

    /// This store with its download cache at `dir`, without taking its lock (for `gc`,
    /// which prunes the cache next and must not hold it shared itself).
    #[must_use]
    pub fn with_cache_dir(mut self, dir: &Path) -> Self {
        self.cache = dir.to_path_buf();
        self
    }

    /// The download cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest_within_the_size_bound_and_skips_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let blobs = dir.path().join("blobs/sha256");
        for (name, len) in [("a", 10), ("b", 20), (".b.part", 5)] {
            std::fs::write(blobs.join(name), vec![0; len]).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("sources")).unwrap();
        std::fs::write(dir.path().join("sources/c"), vec![0; 30]).unwrap();
        let now = SystemTime::now();
        for (path, age) in [
            (blobs.join("a"), 3600),
            (blobs.join("b"), 100),
            (dir.path().join("sources/c"), 10),
        ] {
            let t = now - Duration::from_secs(age);
            let f = std::fs::File::options().write(true).open(path).unwrap();
            f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
                .unwrap();
        }
        let usage = cache.usage().unwrap();
        assert_eq!(
            usage[0],
            (
                "blobs",
                Usage {
                    entries: 2,
                    bytes: 30
                }
            )
        );
        let by_age = PrunePolicy {
            max_age: Some(Duration::from_mins(30)),
            max_size: None,
        };
        let r = cache.prune(&by_age, true).unwrap();
        assert_eq!(r.removed, ["blobs/sha256/a"]);
        assert!(blobs.join("a").exists(), "a dry run deletes nothing");
        let by_size = PrunePolicy {
            max_age: None,
            max_size: Some(35),
        };
        let r = cache.prune(&by_size, false).unwrap();
        assert_eq!(r.removed, ["blobs/sha256/a", "blobs/sha256/b"], "{r:?}");
        assert_eq!(r.kept.bytes, 30);
        assert!(blobs.join(".b.part").exists());
        let r = cache.clean(false).unwrap();
        assert_eq!(r.removed, ["blobs/sha256/.b.part", "sources/c"]);
    }
}
