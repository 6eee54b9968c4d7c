//! The filesystem side of garbage collection: the collection barrier, pins, sweeping, and
//! leftovers of killed writers.
//!
//! ```text
//! root/gc.run.lock      flock, exclusive for a whole collection: one collector at a time
//! root/gc-pins/<uuid>   present while a collection runs: what pushes kept meanwhile
//! ```
//!
//! The safety argument (also in docs/serve.md): every write that makes a blob needed
//! (`put_manifest`, `commit_upload`, `mount_blob`) checks and uses the blob under the shared
//! `gc.lock`, and, when `gc-pins/` exists, writes the digests it needs there before it lets
//! go. A collection creates `gc-pins/` under the exclusive lock (the barrier) and only then
//! lists manifests. So a push either finished before the barrier (its links are listed
//! and marked) or took the shared lock after it (it pinned what it needs); each blob is
//! deleted under the exclusive lock after re-reading the pins. Clocks play no part: the
//! grace period only spares unreferenced uploads, it is not what keeps a push safe.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use paks_types::Digest;

use super::FsStorage;
use super::files::{
    IoContext as _, not_found_none, open_lock_file, read_dir_names, remove_if_exists,
};
use crate::names::RepoName;
use crate::storage::{Collection, Leftover, Result};

impl FsStorage {
    fn pins_dir(&self) -> PathBuf {
        self.root.join("gc-pins")
    }

    /// Records that a push needs `digests`, if a collection is running. Callers hold the
    /// shared GC lock, so the collection reads this before it deletes anything.
    pub(super) fn pin<'a>(&self, digests: impl IntoIterator<Item = &'a Digest>) -> Result<()> {
        let dir = self.pins_dir();
        if !dir.is_dir() {
            return Ok(());
        }
        let mut text = String::new();
        for d in digests {
            text.push_str(&d.to_string());
            text.push('\n');
        }
        // No fsync: pins matter only to a collection running now, which dies with the
        // machine; a torn file (a killed pusher) acknowledged nothing.
        let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let mut file = match File::create_new(&path) {
            Ok(f) => f,
            // The collection ended meanwhile: nothing to pin against.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).at("create", &path),
        };
        file.write_all(text.as_bytes()).at("write", &path)
    }

    pub(super) fn begin(&self) -> Result<FsCollection<'_>> {
        let path = self.root.join("gc.run.lock");
        let run_lock = open_lock_file(&path)?;
        run_lock.lock().at("lock", &path)?;
        {
            // The barrier: no push is between its checks and its links while we hold this.
            let _gc = self.gc_lock(true)?;
            let dir = self.pins_dir();
            // Left by a collector that was killed.
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at("remove", &dir),
            }
            fs::create_dir(&dir).at("create", &dir)?;
        }
        Ok(FsCollection {
            storage: self,
            _run_lock: run_lock,
            pinned: HashSet::new(),
            read: HashSet::new(),
        })
    }

    /// Reads the pin files not read yet into `pinned`.
    fn read_pins(&self, read: &mut HashSet<String>, pinned: &mut HashSet<Digest>) -> Result<()> {
        let dir = self.pins_dir();
        for name in read_dir_names(&dir)? {
            if read.contains(&name) {
                continue;
            }
            let path = dir.join(&name);
            let Some(text) = not_found_none(fs::read_to_string(&path)).at("read", &path)? else {
                continue;
            };
            pinned.extend(text.lines().filter_map(|l| l.parse().ok()));
            read.insert(name);
        }
        Ok(())
    }

    /// Files and directories killed writers left behind, last modified before `before`.
    pub(super) fn find_leftovers(&self, before: SystemTime) -> Result<Vec<Leftover>> {
        let mut found = Vec::new();
        // Session directories being built or removed, and sessions that lost their data.
        let uploads = self.root.join("uploads");
        for entry in list_all(&uploads)? {
            let path = uploads.join(&entry);
            let stale = if entry.starts_with('.') {
                true
            } else {
                !path.join("data").exists()
            };
            if stale && older(&path, before)? {
                found.push(self.leftover(&path));
            }
        }
        // Temporary files of atomic writes: `.NAME.TAG-PID-N-NANOS`.
        let mut dirs = vec![self.root.join("blobs"), self.root.join("repos")];
        while let Some(dir) = dirs.pop() {
            let Some(entries) = not_found_none(fs::read_dir(&dir)).at("read", &dir)? else {
                continue;
            };
            for entry in entries {
                let entry = entry.at("read", &dir)?;
                let path = entry.path();
                // The entry's type comes with the listing: no stat per link file.
                if entry.file_type().at("stat", &path)?.is_dir() {
                    dirs.push(path);
                } else if entry.file_name().to_str().is_some_and(is_temp_name)
                    && older(&path, before)?
                {
                    found.push(self.leftover(&path));
                }
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    fn leftover(&self, path: &Path) -> Leftover {
        let size = fs::symlink_metadata(path).map_or(0, |m| if m.is_file() { m.len() } else { 0 });
        Leftover {
            path: path
                .strip_prefix(&self.root)
                .map_or_else(|_| path.to_path_buf(), Path::to_path_buf),
            size,
        }
    }

    pub(super) fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        let path = self.root.join(&leftover.path);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => match fs::remove_dir_all(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e).at("remove", &path),
            },
            Ok(_) => remove_if_exists(&path).map(drop),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).at("stat", &path),
        }
    }
}

/// Every name in `dir`, temporary ones included.
fn list_all(dir: &Path) -> Result<Vec<String>> {
    let Some(entries) = not_found_none(fs::read_dir(dir)).at("read", dir)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        if let Ok(name) = entry.at("read", dir)?.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// Whether `name` is what `paks_types::fs::temp_sibling` makes: `.NAME.TAG-...`.
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name[1..].contains('.') && name.contains('-')
}

fn older(path: &Path, before: SystemTime) -> Result<bool> {
    Ok(not_found_none(fs::symlink_metadata(path))
        .at("stat", path)?
        .and_then(|m| m.modified().ok())
        .is_some_and(|t| t < before))
}

/// A running collection: holds the run lock; ends (removing `gc-pins/`) on drop.
pub(super) struct FsCollection<'a> {
    storage: &'a FsStorage,
    _run_lock: File,
    pinned: HashSet<Digest>,
    /// Pin files already read.
    read: HashSet<String>,
}

impl Collection for FsCollection<'_> {
    fn remove_blob_if_unused(
        &mut self,
        digest: &Digest,
        unused_since: SystemTime,
        linked_in: &[RepoName],
    ) -> Result<bool> {
        let s = self.storage;
        let _gc = s.gc_lock(true)?;
        s.read_pins(&mut self.read, &mut self.pinned)?;
        if self.pinned.contains(digest) {
            return Ok(false);
        }
        let blob = s.blob_path(digest);
        let Some(meta) = not_found_none(fs::metadata(&blob)).at("stat", &blob)? else {
            return Ok(false);
        };
        if meta.modified().at("read the mtime of", &blob)? >= unused_since {
            return Ok(false);
        }
        if !remove_if_exists(&blob)? {
            return Ok(false);
        }
        // Still under the lock: a link is only made while its blob exists and is pinned.
        for repo in linked_in {
            remove_if_exists(&s.blob_link(repo, digest))?;
        }
        Ok(true)
    }

    fn remove_dangling_links(&mut self, digest: &Digest, linked_in: &[RepoName]) -> Result<usize> {
        let s = self.storage;
        let _gc = s.gc_lock(true)?;
        if s.blob_path(digest).exists() {
            return Ok(0);
        }
        let mut removed = 0;
        for repo in linked_in {
            if remove_if_exists(&s.blob_link(repo, digest))? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Drop for FsCollection<'_> {
    fn drop(&mut self) {
        // Under the exclusive lock, so no push is half-way through writing a pin.
        let Ok(_gc) = self.storage.gc_lock(true) else {
            return;
        };
        let _ = fs::remove_dir_all(self.storage.pins_dir());
    }
}
