//! The unpacked cache: `cache/unpacked/<id>`, where `paks remove` moves a prefix instead
//! of deleting it, so that installing the same id again (in this root) is one rename back,
//! not a decompression: what uv's cache does for re-installs, at the cost of nothing on the
//! first install. `paks gc` empties it.
//!
//! A prefix there is complete and relocated for this root (it was installed here), and as
//! trusted as the store itself: the same directory tree, the same owner. It is kept under
//! its id *and* the digest of the manifest it was installed from, and only an install of
//! that same manifest takes it back: an id alone is a claim any archive can make.

use std::io;
use std::path::{Path, PathBuf};

use paks_types::{Digest, PackageId};

use crate::Store;

impl Store {
    /// Where the unpacked copy of `id`, installed from `manifest`, is kept.
    pub fn unpacked(&self, id: &PackageId, manifest: &Digest) -> PathBuf {
        self.root.join("cache/unpacked").join(format!(
            "{id}@{}-{}",
            manifest.algorithm().as_str(),
            manifest.hex()
        ))
    }

    /// Moves the installed `prefix` of `id`, installed from `manifest`, into the unpacked
    /// cache (or deletes it when the cache has it already or cannot take it).
    pub(crate) fn keep_unpacked(
        &self,
        id: &PackageId,
        manifest: &Digest,
        prefix: &Path,
    ) -> io::Result<()> {
        let dest = self.unpacked(id, manifest);
        let parent = dest.parent().expect("under the cache");
        fs_err::create_dir_all(parent)?;
        if !dest.exists() {
            match fs_err::rename(prefix, &dest) {
                Ok(()) => return paks_types::fs::fsync_parent(&dest),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(_) => {} // another file system, say: delete it instead
            }
        }
        crate::gc::delete_prefix(prefix).map_err(|e| io::Error::other(e.to_string()))
    }

    /// Empties the unpacked cache; returns the ids it held.
    pub(crate) fn purge_unpacked(&self, dry_run: bool) -> io::Result<Vec<String>> {
        let dir = self.root.join("cache/unpacked");
        let mut purged = Vec::new();
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(purged),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            purged.push(format!(
                "cache/unpacked/{}",
                entry.file_name().to_string_lossy()
            ));
            if !dry_run {
                fs_err::remove_dir_all(entry.path())?;
            }
        }
        purged.sort();
        Ok(purged)
    }
}
