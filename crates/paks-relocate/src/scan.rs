//! Build time: find the files that still name a store directory.

use std::io::{self, Cursor, Read};
use std::path::Path;

use memchr::memmem::Finder;
use paks_types::Relocation;
use walkdir::WalkDir;

use crate::RelocateError;
use crate::paths::entry_name;
use crate::search::{SCAN_CHUNK, TEXT_PROBE, contains_any};

/// Lists the regular files under `prefix` that contain any of `needles` (store directory
/// paths), as sorted, `/`-separated paths relative to `prefix`.
///
/// A file is text if its first 8 KiB hold no NUL byte and it is not ELF; text files may be
/// rewritten to any root, the others only in place. Symlinks are neither followed nor
/// listed: a symlink's target is part of the archive, not of any file. Empty needles are
/// ignored.
pub fn scan(prefix: &Path, needles: &[&str]) -> Result<Relocation, RelocateError> {
    let finders: Vec<Finder<'_>> = needles
        .iter()
        .filter(|needle| !needle.is_empty())
        .map(|needle| Finder::new(needle.as_bytes()))
        .collect();
    let mut relocation = Relocation::default();
    if finders.is_empty() {
        return Ok(relocation);
    }
    for entry in WalkDir::new(prefix).follow_links(false) {
        let entry = entry.map_err(|source| RelocateError::Walk {
            path: source.path().unwrap_or(prefix).to_path_buf(),
            source,
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let found = scan_file(path, &finders).map_err(|source| RelocateError::Scan {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(kind) = found {
            let name = entry_name(prefix, path)?;
            match kind {
                Kind::Text => relocation.text.push(name),
                Kind::Binary => relocation.binary.push(name),
            }
        }
    }
    relocation.text.sort();
    relocation.binary.sort();
    Ok(relocation)
}

enum Kind {
    Text,
    Binary,
}

/// Whether the file at `path` contains a needle, and which kind of file it is.
fn scan_file(path: &Path, finders: &[Finder<'_>]) -> io::Result<Option<Kind>> {
    let mut file = fs_err::File::open(path)?;
    let mut head = Vec::with_capacity(TEXT_PROBE);
    file.by_ref()
        .take(TEXT_PROBE as u64)
        .read_to_end(&mut head)?;
    let kind = if head.starts_with(b"\x7fELF") || memchr::memchr(0, &head).is_some() {
        Kind::Binary
    } else {
        Kind::Text
    };
    let found = contains_any(Cursor::new(head).chain(file), finders, SCAN_CHUNK)?;
    Ok(found.then_some(kind))
}
