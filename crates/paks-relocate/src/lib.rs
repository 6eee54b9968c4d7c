//! Moving a package prefix between install roots.
//!
//! Every package is built for one canonical place, `/opt/paks/store/<id>`, with each of its
//! dependencies at `/opt/paks/store/<dep-id>`: all store entries are siblings. A package
//! installed under `/opt/paks` is used exactly as it was built, byte for byte, so its layer
//! goes into container images unchanged. Under any other root, `<root>/store/<id>`, the
//! files that name the canonical store are rewritten while the package is installed. Three
//! techniques share the work.
//!
//! # Relative RUNPATHs, at build time
//!
//! [`fix_runpaths`] rewrites, in every ELF executable and shared object, each `DT_RUNPATH` or
//! `DT_RPATH` entry that points into a store into a path relative to `$ORIGIN`, the directory
//! the dynamic loader found the file in: `/opt/paks/store/<id>/lib` in `<id>/bin/hello`
//! becomes `$ORIGIN/../lib`, and a dependency's `/opt/paks/store/<dep-id>/lib` becomes
//! `$ORIGIN/../../<dep-id>/lib`. Because store entries are siblings under every root, these
//! paths hold wherever the store is, with no rewriting at install time. Entries in the
//! building user's own store (which may be anywhere) are treated as entries of the
//! canonical one; other entries are kept; duplicates are dropped; the tag is kept.
//!
//! The new search path is written over the old one in the dynamic string table, NUL-padded.
//! Nothing moves, so nothing else in the file has to change. That works because the build
//! links every package with its own absolute `<prefix>/lib` in its RUNPATH: about 60 bytes,
//! of which the relative form needs about 14, which leaves room for the other entries.
//! A file is left unchanged, and listed with the reason in [`RunpathReport::unchanged`],
//! when the new string is longer than the old one, or when another string of the dynamic
//! section (a `DT_NEEDED`, the `DT_SONAME`, a symbol or version name) shares bytes with it,
//! as linkers may merge a string into the tail of another.
//!
//! # A list of files that still name the store, at build time
//!
//! [`scan`] then lists the regular files that still contain a store path, streaming each
//! through a fast substring search. They go into the package metadata as
//! [`Relocation`]: text files (no NUL byte in the first 8 KiB, not ELF), such as
//! scripts, shebangs, `.pc` and `.la` files and configuration, and binary files, such as
//! ELF files with paths compiled into their data or debug information, or files whose
//! RUNPATH did not fit. [`canonicalize_text`] lets the build replace the building user's
//! store with the canonical one in the text files before packaging.
//!
//! # Rewriting at install time
//!
//! [`relocate`] runs on the prefix extracted into its temporary directory, before it is
//! renamed into the store. In text files, the store path is replaced by the new one,
//! whatever its length, through a temporary file that keeps the permissions. In binary
//! files it is replaced in place, keeping every offset and length, by the new store path
//! padded with slashes before its last component to the old length:
//! `/opt/paks/store` becomes `/r////////store`, which names the same directory. When the
//! root is the canonical one, nothing is read or written. The metadata is untrusted: every
//! entry must name an existing regular file inside the prefix without passing through a
//! symlink, or the whole relocation is refused before anything changes.
//!
//! # The loader's cache
//!
//! [`ldcache`] reads what glibc's `ldconfig` would record of a shared library (its soname
//! and flags) and writes `/etc/ld.so.cache` for a set of them, for images composed from
//! imported distribution packages, whose maintainer scripts paks does not run.
//!
//! # Limits
//!
//! - **Binary files cannot move to a longer store path.** `/opt/paks/store` is 15 bytes;
//!   `/home/alice/.local/share/paks/store` is not. Binary files that embed the store path
//!   (other than in a RUNPATH that fitted) are then left as they are and reported in
//!   [`RelocateReport::not_relocatable`]: they still refer to `/opt/paks/store`, and work
//!   only if they do not need that path at run time (debug information, a path that is
//!   only printed) or if `/opt/paks` also holds the package. A root of at most 9 bytes
//!   (`/opt/paks` or `/p`, `/srv/paks`) always works.
//! - An occurrence is a byte string equal to the old store directory and not followed by
//!   a letter, digit, `_`, `-` or `.`; it is not checked that what precedes it ends a name.
//!   Paths in compressed files (`.gz` manuals, `.jar`, zip archives), in other encodings
//!   (UTF-16), or protected by a checksum are not found or not fixed.
//! - The padded path has repeated slashes: the kernel and the C library treat it as the
//!   same path, but a program that compares paths as strings may not.
//! - A text file is one whose first 8 KiB hold no NUL byte. A binary file that passes
//!   that test is rewritten as text, which changes its length.
//! - `$ORIGIN` is resolved by the dynamic loader: for an executable from its real path,
//!   symlinks resolved; for a shared library, glibc (2.36, checked) uses the directory in
//!   which the library was found, without resolving a symlink to the file itself. A
//!   library loaded through a symlink in another directory (a view that links single
//!   files into a `lib` directory on `LD_LIBRARY_PATH`) then looks for its dependencies
//!   beside the symlink; views should link directories, or programs should find libraries
//!   through their own RUNPATH. Set-user-ID programs ignore `$ORIGIN`; packages have none.
//! - An ELF file hard-linked from two directories (git's `bin/git` and
//!   `libexec/git-core/git-*`) keeps its absolute RUNPATH: no one relative path holds
//!   from both. Like a RUNPATH without room, it is then rewritten at install time only
//!   under a store path no longer than the canonical one.
//! - Only ELF is handled (Linux); the RUNPATH rewrite needs no other tool (no `patchelf`)
//!   and never grows or moves a section.

mod error;
pub mod ldcache;
mod paths;
mod rewrite;
mod runpath;
mod scan;
mod search;

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub use error::RelocateError;
pub use ldcache::{CacheConfig, LibraryEntry, library, library_entry, link_library, write_cache};
pub use paks_types::Relocation;
pub use rewrite::{RelocateReport, canonicalize_text, relocate};
pub use runpath::{RunpathReport, fix_runpaths};
pub use scan::scan;
pub use search::SCAN_CHUNK;

/// Whether the file at `path` starts with the ELF magic number.
fn is_elf(path: &Path) -> io::Result<bool> {
    let mut magic = Vec::with_capacity(4);
    fs_err::File::open(path)?.take(4).read_to_end(&mut magic)?;
    Ok(magic == b"\x7fELF")
}

/// Runs `write` on the file at `path` opened for writing, making it writable by its owner
/// for the time being if it is not (packages often install read-only binaries).
fn writable<T>(path: &Path, write: impl FnOnce(&fs_err::File) -> io::Result<T>) -> io::Result<T> {
    match fs_err::OpenOptions::new().write(true).open(path) {
        Ok(file) => write(&file),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            let permissions = fs_err::metadata(path)?.permissions();
            let mode = permissions.mode();
            if mode & 0o200 != 0 {
                return Err(err);
            }
            fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o200))?;
            let result = fs_err::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|file| write(&file));
            fs_err::set_permissions(path, permissions)?;
            result
        }
        Err(err) => Err(err),
    }
}
