//! The unpacked cache: `cache/unpacked/<id>`, a hard-linked copy of each prefix this root
//! installed, so that installing it again (after `paks remove`, in a fresh environment, or
//! after the store was emptied) is a tree of hard links, not a decompression, as uv's cache
//! makes re-installs a matter of links.
//!
//! The copy shares inodes with the prefix: nothing in paks writes into an installed prefix,
//! and the relocation it holds is this root's. It is as trusted as the store itself (the
//! same directory tree, the same owner); a prefix linked from it is synced and renamed into
//! place exactly as an extracted one is.

use std::io;
use std::path::{Path, PathBuf};

use paks_types::PackageId;

use crate::Store;

impl Store {
    /// Where the unpacked copy of `id` is kept.
    pub fn unpacked(&self, id: &PackageId) -> PathBuf {
        self.root.join("cache/unpacked").join(id.to_string())
    }

    /// Keeps a hard-linked copy of the installed `prefix` of `id`; best effort (a cache on
    /// another file system, or any error, just means the next install extracts again).
    pub(crate) fn remember_unpacked(&self, id: &PackageId, prefix: &Path) -> io::Result<()> {
        let dest = self.unpacked(id);
        if dest.exists() {
            return Ok(());
        }
        let parent = dest.parent().expect("under the cache");
        fs_err::create_dir_all(parent)?;
        let tmp = paks_types::fs::temp_sibling(&dest, "link");
        fs_err::create_dir(&tmp)?;
        let result = link_tree(prefix, &tmp).and_then(|()| fs_err::rename(&tmp, &dest));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }
}

/// Recreates the tree `src` under the existing directory `dst` with hard links for files,
/// new symlinks with the same targets, and directories with the same modes.
pub(crate) fn link_tree(src: &Path, dst: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for entry in fs_err::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            fs_err::create_dir(&to)?;
            link_tree(&from, &to)?;
            let mode = entry.metadata()?.permissions().mode();
            fs_err::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs_err::read_link(&from)?, &to)?;
        } else {
            fs_err::hard_link(&from, &to)?;
        }
    }
    Ok(())
}
