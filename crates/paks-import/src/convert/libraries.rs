//! The loader-cache entry of a shared library in a rootfs layer.

use paks_types::Library;

/// The `ld.so.cache` entry of the ELF file `bytes` at `path`, or `None` when it is not a
/// shared library the cache would list.
///
/// Not read yet: the ELF reading (soname and cache flags) belongs to
/// `paks_relocate::ldcache`, which this will call; until then no library is recorded.
pub fn library(path: &str, bytes: &[u8]) -> Option<Library> {
    let _ = (path, bytes);
    None
}
