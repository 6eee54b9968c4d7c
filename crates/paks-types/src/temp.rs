//! Temporary files that tell whether their writer is alive: each is held under an
//! exclusive `flock` by the process writing it, so that whoever finds one unlocked knows
//! it is left over from a killed process (a lock dies with its holder, whatever the pid
//! namespace), and can remove it (or resume from it).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::fs::temp_sibling;

/// The tag of blob download part files: `.<hex>.part`, or `.<hex>.part-…` for a private one.
pub const BLOB_PART: &str = "part";
/// The tag of source download temporaries: `.<hex>.download-…`.
pub const SOURCE_DOWNLOAD: &str = "download";
/// The tag of temporaries not yet locked (see [`create_locked`]); left over after a minute.
pub const STAGING: &str = "staging";

/// Create a temporary file beside `path` (named by [`temp_sibling`] with `tag`) that is
/// already locked when it appears under that name: it is created and locked under a
/// staging name first, then renamed, so [`remove_unlocked`] never takes a file a live
/// process has just created.
pub fn create_locked(path: &Path, tag: &str) -> io::Result<(File, PathBuf)> {
    let staging = temp_sibling(path, STAGING);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&staging)?;
    let renamed = file.lock().and_then(|()| {
        let tmp = temp_sibling(path, tag);
        std::fs::rename(&staging, &tmp).map(|()| tmp)
    });
    match renamed {
        Ok(tmp) => Ok((file, tmp)),
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            Err(e)
        }
    }
}

/// Open `path` (creating it) and lock it exclusively without waiting; `None` when a live
/// process holds it.
pub fn open_locked(path: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    // The holder may have renamed the file away (a finished download becomes the blob)
    // between our open and our lock: then what we locked is no longer at `path`, and
    // writing to it would change the renamed file. Treat it as held.
    if still_at(&file, path)? {
        Ok(Some(file))
    } else {
        Ok(None)
    }
}

/// Whether `file` is (still) the file at `path`.
fn still_at(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let held = file.metadata()?;
    Ok(match std::fs::symlink_metadata(path) {
        Ok(now) => now.dev() == held.dev() && now.ino() == held.ino(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

/// Whether `name` is a temporary made with `tag`: `.<name>.<tag>` or `.<name>.<tag>-…`.
fn is_temp(name: &str, tag: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let marker = format!(".{tag}");
    rest.match_indices(&marker).any(|(i, _)| {
        let after = &rest[i + marker.len()..];
        after.is_empty() || after.starts_with('-')
    })
}

/// Remove the temporaries in `dir` made with one of `tags` that no process holds locked
/// and that were last modified at least `min_age` ago (a staging file is unlocked for an
/// instant; an age of a few seconds covers it). Returns the paths removed and their
/// sizes. A missing `dir` has none.
pub fn remove_unlocked(
    dir: &Path,
    tags: &[&str],
    min_age: Duration,
) -> io::Result<Vec<(PathBuf, u64)>> {
    find_unlocked(dir, tags, min_age, true)
}

/// What [`remove_unlocked`] would remove, or (`remove`) removes.
pub fn find_unlocked(
    dir: &Path,
    tags: &[&str],
    min_age: Duration,
    remove: bool,
) -> io::Result<Vec<(PathBuf, u64)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !tags.iter().any(|t| is_temp(name, t)) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age < min_age {
            continue;
        }
        let file = match OpenOptions::new().read(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => return Err(e),
        }
        if !remove {
            removed.push((path, meta.len()));
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push((path, meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_file_renamed_away_is_not_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join(".blob.part");
        let opened = open_locked(&part).unwrap().unwrap();
        assert!(still_at(&opened, &part).unwrap());
        // The download finished: its part file became the blob.
        std::fs::rename(&part, dir.path().join("blob")).unwrap();
        assert!(!still_at(&opened, &part).unwrap());
        // A new part file at the path is another file.
        std::fs::write(&part, b"").unwrap();
        assert!(!still_at(&opened, &part).unwrap());
    }

    #[test]
    fn names() {
        assert!(is_temp(".abc.download-12-0-ff", "download"));
        assert!(is_temp(".abc.part", "part"));
        assert!(!is_temp("abc.download-1", "download"));
        assert!(!is_temp(".abc.partial", "part"));
        assert!(!is_temp(".abc.download", "part"));
    }

    #[test]
    fn only_unlocked_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("blob");
        let (held, held_path) = create_locked(&target, "download").unwrap();
        let (dead, dead_path) = create_locked(&target, "download").unwrap();
        drop(dead); // As a killed writer's lock goes.
        std::fs::write(dir.path().join("blob"), b"kept").unwrap();
        std::fs::write(dir.path().join(".other.tmp-1"), b"kept").unwrap();
        let removed = remove_unlocked(dir.path(), &["download"], Duration::ZERO).unwrap();
        assert_eq!(removed, [(dead_path, 0)]);
        assert!(held_path.exists());
        assert!(dir.path().join("blob").exists());
        assert!(dir.path().join(".other.tmp-1").exists());
        // Too young to judge: kept.
        drop(held);
        let removed = remove_unlocked(dir.path(), &["download"], Duration::from_hours(1)).unwrap();
        assert!(removed.is_empty());
        assert!(held_path.exists());
        // A held lock is seen by a second open as well.
        let part = dir.path().join(".blob.part");
        let first = open_locked(&part).unwrap();
        assert!(first.is_some());
        assert!(open_locked(&part).unwrap().is_none());
    }
}
