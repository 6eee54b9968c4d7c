//! Rewriting listed files: text files to any store path, binary files in place.

use std::io::{BufWriter, Write};
use std::path::Path;

use fs_err::os::unix::fs::FileExt;
use paks_types::Relocation;

use crate::paths::{check_entries, pad_store, store_dir};
use crate::search::{SCAN_CHUNK, match_offsets, replace_all};
use crate::{RelocateError, writable};

/// What [`relocate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelocateReport {
    /// Text files in which the store path was replaced.
    pub text_rewritten: usize,
    /// Binary files in which the store path was replaced in place.
    pub binary_rewritten: usize,
    /// Binary files left as they are because the new store path is longer than the old
    /// one: they still name the old store, so the package may not work under this root.
    pub not_relocatable: Vec<String>,
}

/// Moves a prefix, extracted at `prefix`, from the store directory `old_store` (the
/// canonical `/opt/paks/store`) to `new_store` (`<root>/store`).
///
/// Every listed text file has each occurrence of `old_store` replaced by `new_store`,
/// through a temporary file renamed over it, with its permissions kept. Every listed binary
/// file has it replaced in place by `new_store` padded with slashes to the same length,
/// provided `new_store` is not longer; otherwise the file is left untouched and reported in
/// [`RelocateReport::not_relocatable`]. An occurrence counts only where it is not followed
/// by a character that would continue the name (`/opt/paks/store2` is left alone).
///
/// If the two store directories are the same, nothing at all is read or written. Else every
/// entry is checked first, and a relocation naming anything but an existing regular file
/// inside `prefix`, reached without symlinks, is refused before any file is changed.
///
/// Files are not synced: the caller syncs the whole prefix before renaming it into place.
pub fn relocate(
    prefix: &Path,
    relocation: &Relocation,
    old_store: &str,
    new_store: &str,
) -> Result<RelocateReport, RelocateError> {
    let old = store_dir(old_store)?;
    let new = store_dir(new_store)?;
    let mut report = RelocateReport::default();
    if old == new {
        return Ok(report);
    }
    let entries = check_entries(prefix, relocation)?;
    for (_, path) in &entries.text {
        if rewrite_text(path, old.as_bytes(), new.as_bytes())? {
            report.text_rewritten += 1;
        }
    }
    if new.len() > old.len() {
        report.not_relocatable = entries.binary.into_iter().map(|(entry, _)| entry).collect();
        return Ok(report);
    }
    let padded = pad_store(new, old.len());
    for (_, path) in &entries.binary {
        if rewrite_binary(path, old.as_bytes(), &padded)? {
            report.binary_rewritten += 1;
        }
    }
    Ok(report)
}

/// Replaces `from_store` with `to_store` in the text files of `relocation`, whatever their
/// lengths: the build uses it to make files that name the building user's store name the
/// canonical one instead. Binary files are not touched; entries are checked as by
/// [`relocate`].
pub fn canonicalize_text(
    prefix: &Path,
    relocation: &Relocation,
    from_store: &str,
    to_store: &str,
) -> Result<(), RelocateError> {
    let from = store_dir(from_store)?;
    let to = store_dir(to_store)?;
    if from == to {
        return Ok(());
    }
    let entries = check_entries(
        prefix,
        &Relocation {
            text: relocation.text.clone(),
            binary: Vec::new(),
        },
    )?;
    for (_, path) in &entries.text {
        rewrite_text(path, from.as_bytes(), to.as_bytes())?;
    }
    Ok(())
}

/// Rewrites a text file through a temporary file in its directory; `false` if `old` does
/// not occur, in which case the file is left as it was.
fn rewrite_text(path: &Path, old: &[u8], new: &[u8]) -> Result<bool, RelocateError> {
    let fail = |source| RelocateError::Rewrite {
        path: path.to_path_buf(),
        source,
    };
    let permissions = fs_err::metadata(path).map_err(fail)?.permissions();
    let source = fs_err::File::open(path).map_err(fail)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".paks-relocate-")
        .tempfile_in(dir)
        .map_err(fail)?;
    let mut out = BufWriter::new(temp.as_file_mut());
    let count = replace_all(source, &mut out, old, new, SCAN_CHUNK).map_err(fail)?;
    out.flush().map_err(fail)?;
    drop(out);
    if count == 0 {
        return Ok(false);
    }
    fs_err::set_permissions(temp.path(), permissions).map_err(fail)?;
    temp.persist(path).map_err(|err| fail(err.error))?;
    Ok(true)
}

/// Overwrites each occurrence of `old` in a binary file with `padded`, of the same length;
/// `false` if there is none.
fn rewrite_binary(path: &Path, old: &[u8], padded: &[u8]) -> Result<bool, RelocateError> {
    debug_assert_eq!(old.len(), padded.len());
    let fail = |source| RelocateError::Rewrite {
        path: path.to_path_buf(),
        source,
    };
    let offsets = fs_err::File::open(path)
        .and_then(|file| match_offsets(file, old, SCAN_CHUNK))
        .map_err(fail)?;
    if offsets.is_empty() {
        return Ok(false);
    }
    writable(path, |file| {
        offsets
            .iter()
            .try_for_each(|&offset| file.write_all_at(padded, offset))
    })
    .map_err(fail)?;
    Ok(true)
}
