//! Path checks: store directory arguments, and relocation entries from untrusted metadata.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use paks_types::Relocation;

use crate::RelocateError;

/// Checks a store directory argument and returns it without trailing slashes.
pub(crate) fn store_dir(value: &str) -> Result<&str, RelocateError> {
    let invalid = |reason| RelocateError::InvalidStore {
        value: value.to_owned(),
        reason,
    };
    if !value.starts_with('/') {
        return Err(invalid("it must be an absolute path"));
    }
    if value.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(invalid("it must not be the file system root"));
    }
    Ok(trimmed)
}

/// What follows `dir` in `path`, if `path` is `dir` itself or inside it: `""` or `/...`.
pub(crate) fn strip_dir<'a>(path: &'a [u8], dir: &[u8]) -> Option<&'a [u8]> {
    let rest = path.strip_prefix(dir)?;
    (rest.is_empty() || rest[0] == b'/').then_some(rest)
}

/// A relocation's files, checked, each once, as (entry, full path).
pub(crate) struct CheckedEntries {
    pub text: Vec<(String, PathBuf)>,
    pub binary: Vec<(String, PathBuf)>,
}

/// Checks every entry of `relocation` before anything is touched: the metadata comes from
/// the network, so each entry must be a plain relative path that names, without passing
/// through any symlink, an existing regular file inside `prefix`.
///
/// The checks look at the file system as it is now; they rely on nobody else writing to
/// `prefix`, which holds for the private temporary directory a package is extracted into.
pub(crate) fn check_entries(
    prefix: &Path,
    relocation: &Relocation,
) -> Result<CheckedEntries, RelocateError> {
    let text: BTreeSet<&str> = relocation.text.iter().map(String::as_str).collect();
    let binary: BTreeSet<&str> = relocation.binary.iter().map(String::as_str).collect();
    if let Some(both) = text.intersection(&binary).next() {
        return Err(unsafe_entry(both, "it is listed as both text and binary"));
    }
    let check_all = |set: BTreeSet<&str>| {
        set.into_iter()
            .map(|entry| Ok((entry.to_owned(), check_entry(prefix, entry)?)))
            .collect::<Result<Vec<_>, RelocateError>>()
    };
    Ok(CheckedEntries {
        text: check_all(text)?,
        binary: check_all(binary)?,
    })
}

fn unsafe_entry(entry: &str, reason: &'static str) -> RelocateError {
    RelocateError::UnsafeEntry {
        entry: entry.to_owned(),
        reason,
    }
}

/// Checks one relocation entry and returns its full path.
pub(crate) fn check_entry(prefix: &Path, entry: &str) -> Result<PathBuf, RelocateError> {
    if entry.is_empty() {
        return Err(unsafe_entry(entry, "it is empty"));
    }
    if entry.starts_with('/') {
        return Err(unsafe_entry(entry, "it is an absolute path"));
    }
    if entry.contains('\0') {
        return Err(unsafe_entry(entry, "it contains a NUL byte"));
    }
    let components: Vec<&str> = entry.split('/').collect();
    if components.iter().any(|c| matches!(*c, "" | "." | "..")) {
        return Err(unsafe_entry(
            entry,
            "it has an empty, `.` or `..` component",
        ));
    }
    let (file, dirs) = components
        .split_last()
        .expect("split yields one item at least");
    let metadata = |path: &Path| match fs_err::symlink_metadata(path) {
        Ok(meta) => Ok(meta),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Err(unsafe_entry(entry, "it does not exist"))
        }
        Err(source) => Err(RelocateError::Check {
            entry: entry.to_owned(),
            source,
        }),
    };
    let mut path = prefix.to_path_buf();
    for dir in dirs {
        path.push(dir);
        let meta = metadata(&path)?;
        if meta.file_type().is_symlink() {
            return Err(unsafe_entry(entry, "it goes through a symlink"));
        }
        if !meta.is_dir() {
            return Err(unsafe_entry(
                entry,
                "it goes through a file that is not a directory",
            ));
        }
    }
    path.push(file);
    let meta = metadata(&path)?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_entry(entry, "it is a symlink"));
    }
    if !meta.is_file() {
        return Err(unsafe_entry(entry, "it is not a regular file"));
    }
    Ok(path)
}

/// The path of `path` relative to `prefix`, `/`-separated, as the metadata lists it.
pub(crate) fn entry_name(prefix: &Path, path: &Path) -> Result<String, RelocateError> {
    let relative = path.strip_prefix(prefix).unwrap_or(path);
    relative
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| RelocateError::NonUtf8Path {
            path: path.to_path_buf(),
        })
}

/// `new_store` lengthened to `len` bytes by repeating the slash before its last component
/// (`/r/store` → `/r///////store`), which names the same directory.
///
/// The caller makes sure that `new_store` is not longer than `len`.
pub(crate) fn pad_store(new_store: &str, len: usize) -> Vec<u8> {
    let cut = new_store.rfind('/').expect("a store directory is absolute");
    let mut padded = Vec::with_capacity(len);
    padded.extend_from_slice(&new_store.as_bytes()[..cut]);
    padded.resize(len - (new_store.len() - cut), b'/');
    padded.extend_from_slice(&new_store.as_bytes()[cut..]);
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_dirs_are_absolute_and_trimmed() {
        assert_eq!(store_dir("/opt/paks/store/").unwrap(), "/opt/paks/store");
        assert_eq!(store_dir("/s").unwrap(), "/s");
        for bad in ["", "store", "/", "//", "/a\0b"] {
            assert!(store_dir(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn strip_dir_stops_at_component_boundaries() {
        assert_eq!(strip_dir(b"/s/x/lib", b"/s"), Some(&b"/x/lib"[..]));
        assert_eq!(strip_dir(b"/s", b"/s"), Some(&b""[..]));
        assert_eq!(strip_dir(b"/s2/x", b"/s"), None);
        assert_eq!(strip_dir(b"/t/x", b"/s"), None);
    }

    #[test]
    fn padding_keeps_the_last_component() {
        assert_eq!(pad_store("/r/store", 15), b"/r////////store");
        assert_eq!(pad_store("/store", 10), b"/////store");
        assert_eq!(pad_store("/opt/paks/store", 15), b"/opt/paks/store");
        assert_eq!(pad_store("/r/store", 15).len(), 15);
    }

    #[test]
    fn hostile_entries_are_refused_without_touching_the_disk() {
        let nowhere = Path::new("/nonexistent-paks-prefix");
        for (entry, reason) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("./a", "`.`"),
            ("a//b", "empty,"),
            ("a/", "empty,"),
            ("a\0b", "NUL"),
            ("bin/x", "does not exist"),
        ] {
            let err = check_entry(nowhere, entry).unwrap_err().to_string();
            assert!(err.contains(reason), "{entry:?}: {err}");
        }
    }
}
