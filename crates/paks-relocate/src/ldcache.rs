//! The loader's cache, `/etc/ld.so.cache`, written natively from library metadata.
//!
//! Debian runs `ldconfig` from a trigger after installing libraries; paks runs no
//! maintainer scripts, so it writes the cache itself, from [`Library`] records made at
//! import time by [`library_entry`]/[`library`], without unpacking any layer. The result
//! is the file glibc's `ldconfig` (2.32 and later, default `new` format) would write for
//! the same files: the tests compare it with the real `ldconfig`'s, byte for byte.
//!
//! What `ldconfig` does, and so what this module does:
//! - It looks at the regular files and symlinks of each search directory whose names
//!   contain `.so` and do not start with `.` ([`is_library_name`]). A file counts when it
//!   is an ELF shared object (`ET_DYN`, PIE executables included) with a dynamic section
//!   of its architecture; executables (`ET_EXEC`), objects, linker scripts and other
//!   files do not. The key is its `DT_SONAME`, or its file name when it has none.
//! - Flags: `FLAG_ELF_LIBC6` (3) with the architecture's bits; 32-bit x86 objects get
//!   `FLAG_ELF` (1) unless they need `libc.so.6`/`libm.so.6` or use `/lib/ld-linux.so.2`.
//! - The value is `<directory>/<soname>` (the link named by the soname, which the package
//!   ships), under the directory's name as the search path lists it.
//! - Symlinks count too: `libssl.so -> libssl.so.3` (from `-dev` packages) is listed under
//!   its own name; the importer records them with [`link_library`].
//! - A directory reached twice (merged `/usr`: `/lib` is `usr/lib`) is scanned once, under
//!   the name listed first. In one directory, one entry per soname (the file whose name
//!   sorts last in the loader's order wins). Across directories, every entry is kept and
//!   the first directory's comes first, which is the one the loader takes.
//! - Entries are sorted in the loader's binary-search order: sonames descending in
//!   `_dl_cache_libcmp` order (digit runs compared as numbers), then flags descending.
//! - The OS version and hwcap words are zero: glibc 2.36's `ldconfig` writes zero for
//!   libraries marked as needing an x86 ISA level (`x86-64-v3`) too (tested).
//!
//! Not handled: `glibc-hwcaps` subdirectories (none in Debian 12's packages), the legacy
//! `ld.so-1.7.0` format, and configuration read from the image's own `/etc/ld.so.conf.d` (the caller
//! passes the directories; [`CacheConfig::debian`] gives Debian's defaults).

use std::cmp::Ordering;
use std::collections::HashMap;

use goblin::elf::Elf;
use goblin::elf::header::{ELFCLASS64, ET_DYN};
use goblin::elf::header::{EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64};
use paks_types::Library;

/// An ELF object of no known C library (only 32-bit x86 objects that need neither
/// `libc.so.6` nor `libm.so.6` get this alone).
pub const FLAG_ELF: u32 = 0x0001;
/// An ELF object for glibc 2 (`libc.so.6`).
pub const FLAG_ELF_LIBC6: u32 = 0x0003;
/// 64-bit x86 (`(libc6,x86-64)` in `ldconfig -p`).
pub const FLAG_X8664_LIB64: u32 = 0x0300;
/// 64-bit s390.
pub const FLAG_S390_LIB64: u32 = 0x0400;
/// 64-bit PowerPC, either byte order.
pub const FLAG_POWERPC_LIB64: u32 = 0x0500;
/// x32, 32-bit pointers on x86-64.
pub const FLAG_X8664_LIBX32: u32 = 0x0800;
/// 32-bit ARM, hard-float ABI (Debian's `armhf`).
pub const FLAG_ARM_LIBHF: u32 = 0x0900;
/// 64-bit ARM.
pub const FLAG_AARCH64_LIB64: u32 = 0x0a00;
/// 32-bit ARM, soft-float ABI (Debian's `armel`).
pub const FLAG_ARM_LIBSF: u32 = 0x0b00;
/// RISC-V, soft-float ABI.
pub const FLAG_RISCV_FLOAT_ABI_SOFT: u32 = 0x0f00;
/// RISC-V, double-float ABI (Debian's `riscv64`).
pub const FLAG_RISCV_FLOAT_ABI_DOUBLE: u32 = 0x1000;

/// The magic and version that start the cache.
const MAGIC: &[u8; 20] = b"glibc-ld.so.cache1.1";
/// The header's size: magic, counts, flags, extension offset and reserved words.
const HEADER_LEN: usize = 48;
/// One entry: flags, key, value, OS version, hwcap.
const ENTRY_LEN: usize = 24;
/// The magic number of the extension directory after the string table.
const EXTENSION_MAGIC: u32 = 0xeaa4_2174;
/// The extension tag of the text naming the cache's writer.
const EXTENSION_GENERATOR: u32 = 0;

/// What the loader's cache records for one ELF file, from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryEntry {
    /// The `DT_SONAME`; when absent, `ldconfig` uses the file's name instead.
    pub soname: Option<String>,
    /// The cache flags `ldconfig` gives it (`0x0303` for an x86-64 library).
    pub flags: u32,
}

/// The cache's view of an ELF file: `Some` for a shared object `ldconfig` would list
/// (`ET_DYN` with a dynamic section and string table, of a known architecture; PIE
/// executables are `ET_DYN` and are listed too when their name has `.so`), `None` for
/// executables, objects, linker scripts and anything not ELF.
pub fn library_entry(bytes: &[u8]) -> Option<LibraryEntry> {
    if !bytes.starts_with(b"\x7fELF") {
        return None;
    }
    let elf = Elf::parse(bytes).ok()?;
    if elf.header.e_type != ET_DYN {
        return None;
    }
    // ldconfig reads the soname through the dynamic section's string table and skips
    // files without either.
    let dynamic = elf.dynamic.as_ref()?;
    if dynamic.info.strtab == 0 {
        return None;
    }
    let flags = machine_flags(&elf)?;
    Some(LibraryEntry {
        soname: elf.soname.map(str::to_owned),
        flags,
    })
}

/// The flags of an `ET_DYN` object as its architecture's `ldconfig` sets them, or `None`
/// for an architecture (or ABI) glibc does not list.
fn machine_flags(elf: &Elf<'_>) -> Option<u32> {
    let wide = elf.header.e_ident[goblin::elf::header::EI_CLASS] == ELFCLASS64;
    let e_flags = elf.header.e_flags;
    let flags = match elf.header.e_machine {
        EM_X86_64 if wide => FLAG_X8664_LIB64 | FLAG_ELF_LIBC6,
        EM_X86_64 => FLAG_X8664_LIBX32 | FLAG_ELF_LIBC6,
        EM_386 if !wide => generic_flags(elf),
        EM_AARCH64 if wide => FLAG_AARCH64_LIB64 | FLAG_ELF_LIBC6,
        EM_ARM if !wide => {
            const EF_ARM_EABIMASK: u32 = 0xff00_0000;
            const EF_ARM_EABI_VER5: u32 = 0x0500_0000;
            const EF_ARM_ABI_FLOAT_SOFT: u32 = 0x200;
            const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
            if e_flags & EF_ARM_EABIMASK != EF_ARM_EABI_VER5 {
                generic_flags(elf)
            } else if e_flags & EF_ARM_ABI_FLOAT_HARD != 0 {
                FLAG_ARM_LIBHF | FLAG_ELF_LIBC6
            } else if e_flags & EF_ARM_ABI_FLOAT_SOFT != 0 {
                FLAG_ARM_LIBSF | FLAG_ELF_LIBC6
            } else {
                // Unmarked objects suit both ABIs.
                FLAG_ELF_LIBC6
            }
        }
        EM_PPC64 if wide => FLAG_POWERPC_LIB64 | FLAG_ELF_LIBC6,
        EM_S390 if wide => FLAG_S390_LIB64 | FLAG_ELF_LIBC6,
        EM_RISCV => {
            const EF_RISCV_RVC: u32 = 0x1;
            const EF_RISCV_FLOAT_ABI: u32 = 0x6;
            const EF_RISCV_FLOAT_ABI_DOUBLE: u32 = 0x4;
            if e_flags & !(EF_RISCV_FLOAT_ABI | EF_RISCV_RVC) != 0 {
                return None;
            }
            match e_flags & EF_RISCV_FLOAT_ABI {
                0 => FLAG_RISCV_FLOAT_ABI_SOFT | FLAG_ELF_LIBC6,
                EF_RISCV_FLOAT_ABI_DOUBLE => FLAG_RISCV_FLOAT_ABI_DOUBLE | FLAG_ELF_LIBC6,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(flags)
}

/// The architecture-neutral rule: glibc 2 when the object needs its C or maths library
/// or uses its loader, else plain ELF.
fn generic_flags(elf: &Elf<'_>) -> u32 {
    let libc6 = elf
        .libraries
        .iter()
        .any(|needed| matches!(*needed, "libc.so.6" | "libm.so.6"))
        || elf.interpreter == Some("/lib/ld-linux.so.2");
    if libc6 { FLAG_ELF_LIBC6 } else { FLAG_ELF }
}

/// Whether `ldconfig` looks at a directory entry of this name: it has `.so` in it and
/// does not start with `.`.
pub fn is_library_name(file_name: &str) -> bool {
    !file_name.starts_with('.') && file_name.contains(".so")
}

/// The cache record of the file at `path` (relative to `/`) with contents `bytes`, as
/// `ldconfig` would make it were its directory searched: `None` when its name or
/// contents do not make it a library. The soname falls back to the file name.
pub fn library(path: &str, bytes: &[u8]) -> Option<Library> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if !is_library_name(name) {
        return None;
    }
    let entry = library_entry(bytes)?;
    Some(Library {
        soname: entry.soname.unwrap_or_else(|| name.to_owned()),
        path: path.to_owned(),
        flags: entry.flags,
    })
}

/// The cache record of a symlink at `link_path` (relative to `/`) to the library
/// `target`, as `ldconfig` makes it: a link named like the target's soname, or a
/// development link (`libssl.so` -> `libssl.so.3`: a name ending in `.so` that starts the
/// soname) is listed under its own name; any other link counts as a file with the
/// target's soname. `None` when the link's name is not a library's.
pub fn link_library(link_path: &str, target: &Library) -> Option<Library> {
    let name = link_path.rsplit('/').next().unwrap_or(link_path);
    if !is_library_name(name) {
        return None;
    }
    // ldconfig compares names case-sensitively, as the loader does.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    let own_name =
        name == target.soname || (name.ends_with(".so") && target.soname.starts_with(name));
    Some(Library {
        soname: if own_name { name } else { &target.soname }.to_owned(),
        path: link_path.to_owned(),
        flags: target.flags,
    })
}

/// Where the loader's cache looks, and how the file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The searched directories, absolute, in `ldconfig`'s order: `/etc/ld.so.conf`'s
    /// (with its includes, in file-name order), then the built-in ones.
    pub dirs: Vec<String>,
    /// The image's symlinks to directories, relative to `/` (`lib` → `usr/lib` on a
    /// merged `/usr`), so a directory listed under two names is searched once, as
    /// `ldconfig` notices by comparing inodes.
    pub links: Vec<(String, String)>,
    /// Whether the target is big-endian (s390x, ppc64): the file is in its byte order.
    pub big_endian: bool,
    /// The text the cache names as its writer (`ldconfig -p` shows it).
    pub generator: String,
}

impl CacheConfig {
    /// Debian's directories for an architecture (Go's names: `amd64`, `arm64`, `386`,
    /// `arm` (armhf), `ppc64le`, `s390x`, `riscv64`), as Debian 12's `libc-bin` and `libc6`
    /// configure them: `libc.conf`'s `/usr/local/lib` and the multiarch conf file's
    /// `/usr/local/lib/<triplet>`, `/lib/<triplet>`, `/usr/lib/<triplet>` in the order of
    /// their file names, then the built-in `/lib/<triplet>`, `/usr/lib/<triplet>`, `/lib`,
    /// `/usr/lib`. No directory links: for an image with merged-`/usr` links, say so with
    /// [`CacheConfig::merged_usr`], so that its libraries are cached under `/lib` as on a
    /// Debian system. (Without it, each library of a merged image is listed under the
    /// directory its package names, which works too; links claimed for an unmerged image
    /// would name missing files.)
    pub fn debian(architecture: &str) -> Option<Self> {
        let (triplet, big_endian) = match architecture {
            "amd64" => ("x86_64-linux-gnu", false),
            "arm64" => ("aarch64-linux-gnu", false),
            "386" => ("i386-linux-gnu", false),
            "arm" => ("arm-linux-gnueabihf", false),
            "ppc64le" => ("powerpc64le-linux-gnu", false),
            "s390x" => ("s390x-linux-gnu", true),
            "riscv64" => ("riscv64-linux-gnu", false),
            _ => return None,
        };
        let multiarch = [
            format!("/usr/local/lib/{triplet}"),
            format!("/lib/{triplet}"),
            format!("/usr/lib/{triplet}"),
        ];
        let libc = ["/usr/local/lib".to_owned()];
        // `/etc/ld.so.conf` includes `/etc/ld.so.conf.d/*.conf`, sorted by name:
        // `aarch64-linux-gnu.conf` comes before `libc.conf`, `x86_64-linux-gnu.conf` after.
        let mut dirs: Vec<String> = if format!("{triplet}.conf").as_str() < "libc.conf" {
            multiarch.iter().chain(&libc).cloned().collect()
        } else {
            libc.iter().chain(&multiarch).cloned().collect()
        };
        dirs.extend([
            format!("/lib/{triplet}"),
            format!("/usr/lib/{triplet}"),
            "/lib".to_owned(),
            "/usr/lib".to_owned(),
        ]);
        Some(Self {
            dirs,
            links: Vec::new(),
            big_endian,
            generator: format!("paks {}", env!("CARGO_PKG_VERSION")),
        })
    }

    /// The same, for an image whose `/bin`, `/sbin`, `/lib` and `/lib<qual>` are links to
    /// their `/usr` counterparts (merged `/usr`, Debian 12's default installation).
    #[must_use]
    pub fn merged_usr(mut self) -> Self {
        self.links = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]
            .into_iter()
            .map(|dir| (dir.to_owned(), format!("usr/{dir}")))
            .collect();
        self
    }
}

/// The bytes of `/etc/ld.so.cache` for these libraries under `config`: the glibc
/// `glibc-ld.so.cache1.1` format, as `ldconfig` writes it by default since glibc 2.32.
/// Libraries outside the searched directories are left out.
pub fn write_cache(libraries: &[Library], config: &CacheConfig) -> Vec<u8> {
    let entries = cache_entries(libraries, config);
    let mut strings = StringTable::default();
    for entry in &entries {
        strings.add(&entry.key);
        strings.add(&entry.value);
    }
    let table = strings.finalize();
    let strings_at = HEADER_LEN + entries.len() * ENTRY_LEN;
    let extension_at = (strings_at + table.bytes.len()).next_multiple_of(4);

    let mut out = Writer {
        bytes: Vec::with_capacity(extension_at + 32 + config.generator.len()),
        big_endian: config.big_endian,
    };
    out.bytes.extend_from_slice(MAGIC);
    out.u32(len32(entries.len()));
    out.u32(len32(table.bytes.len()));
    // The byte order of the file: 2 little-endian, 3 big-endian.
    out.bytes.push(if config.big_endian { 3 } else { 2 });
    out.bytes.extend_from_slice(&[0; 3]);
    out.u32(len32(extension_at));
    out.bytes.extend_from_slice(&[0; 12]);
    for entry in &entries {
        out.u32(entry.flags);
        out.u32(len32(strings_at + table.offsets[entry.key.as_str()]));
        out.u32(len32(strings_at + table.offsets[entry.value.as_str()]));
        out.u32(0);
        out.bytes.extend_from_slice(&[0; 8]);
    }
    out.bytes.extend_from_slice(&table.bytes);
    out.bytes.resize(extension_at, 0);
    // The extension directory, then its one section: the generator's text.
    out.u32(EXTENSION_MAGIC);
    out.u32(1);
    out.u32(EXTENSION_GENERATOR);
    out.u32(0);
    out.u32(len32(extension_at + 8 + 16));
    out.u32(len32(config.generator.len()));
    out.bytes.extend_from_slice(config.generator.as_bytes());
    out.bytes
}

/// An offset or count as the format's 32 bits; a cache of 4 GiB is not a real case.
fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("a loader cache under 4 GiB")
}

struct Writer {
    bytes: Vec<u8>,
    big_endian: bool,
}

impl Writer {
    fn u32(&mut self, n: u32) {
        let b = if self.big_endian {
            n.to_be_bytes()
        } else {
            n.to_le_bytes()
        };
        self.bytes.extend_from_slice(&b);
    }
}

/// One entry of the cache.
#[derive(Debug)]
struct Entry {
    key: String,
    value: String,
    flags: u32,
}

/// The entries `ldconfig` would make, in the file's order.
fn cache_entries(libraries: &[Library], config: &CacheConfig) -> Vec<Entry> {
    // Each searched directory once, under its first name, keyed by where it really is.
    let mut dirs: Vec<(String, String)> = Vec::new();
    for dir in &config.dirs {
        let listed = dir.trim_end_matches('/');
        let real = resolve(listed.trim_start_matches('/'), &config.links);
        if !dirs.iter().any(|(r, _)| *r == real) {
            dirs.push((real, listed.to_owned()));
        }
    }
    // Per directory, one library per soname: the file whose name sorts last wins.
    let mut chosen: Vec<HashMap<&str, &Library>> = vec![HashMap::new(); dirs.len()];
    for library in libraries {
        // Metadata comes from registries: a soname that is not one file name (or would
        // cut the string table short) is no entry.
        let soname = &library.soname;
        if soname.is_empty() || soname.contains(['/', '\0']) || library.path.contains('\0') {
            continue;
        }
        let (dir, name) = library.path.rsplit_once('/').unwrap_or(("", &library.path));
        let real = resolve(dir, &config.links);
        let Some(i) = dirs.iter().position(|(r, _)| *r == real) else {
            continue;
        };
        let slot = chosen[i].entry(library.soname.as_str()).or_insert(library);
        let current = slot.path.rsplit('/').next().unwrap_or(&slot.path);
        if libcmp(current, name) == Ordering::Less {
            *slot = library;
        }
    }
    let mut entries = Vec::new();
    for ((_, listed), libs) in dirs.iter().zip(chosen) {
        let mut libs: Vec<_> = libs.into_values().collect();
        // Within a directory, keys differ; this keeps equal-comparing ones deterministic.
        libs.sort_by(|a, b| a.soname.cmp(&b.soname));
        entries.extend(libs.into_iter().map(|l| Entry {
            key: l.soname.clone(),
            value: format!("{listed}/{}", l.soname),
            flags: l.flags,
        }));
    }
    // Stable: among equal keys and flags, the earlier directory's entry stays first.
    entries.sort_by(|a, b| libcmp(&b.key, &a.key).then(b.flags.cmp(&a.flags)));
    entries
}

/// `path` (relative to `/`) with the directory symlinks in `links` followed, for a bounded
/// number of steps (a loop of links is the image's problem, not a reason to hang).
fn resolve(path: &str, links: &[(String, String)]) -> String {
    let mut path = path.trim_matches('/').to_owned();
    for _ in 0..40 {
        let next = links.iter().find_map(|(link, target)| {
            let link = link.trim_matches('/');
            let rest = path.strip_prefix(link)?;
            (rest.is_empty() || rest.starts_with('/'))
                .then(|| format!("{}{rest}", target.trim_matches('/')))
        });
        match next {
            Some(next) => path = next,
            None => break,
        }
    }
    path
}

/// The loader's order of library names (`_dl_cache_libcmp`): runs of digits compare as
/// numbers and sort after any other byte; other bytes compare as (signed, as on x86)
/// characters.
pub fn libcmp(left: &str, right: &str) -> Ordering {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    let (mut at_left, mut at_right) = (0, 0);
    loop {
        let (Some(&l), Some(&r)) = (left.get(at_left), right.get(at_right)) else {
            return (left.len() - at_left).cmp(&(right.len() - at_right));
        };
        match (l.is_ascii_digit(), r.is_ascii_digit()) {
            (true, true) => {
                let (l_number, l_end) = number(left, at_left);
                let (r_number, r_end) = number(right, at_right);
                if l_number != r_number {
                    return l_number.cmp(&r_number);
                }
                (at_left, at_right) = (l_end, r_end);
            }
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            #[allow(clippy::cast_possible_wrap)]
            (false, false) if l != r => return (l as i8).cmp(&(r as i8)),
            (false, false) => (at_left, at_right) = (at_left + 1, at_right + 1),
        }
    }
}

/// The number of the digit run at `at`, and the index after it.
fn number(s: &[u8], at: usize) -> (u128, usize) {
    let end = s[at..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(s.len(), |n| at + n);
    let value = s[at..end].iter().fold(0u128, |v, d| {
        v.saturating_mul(10).saturating_add(u128::from(d - b'0'))
    });
    (value, end)
}

/// `ldconfig`'s string table: each string once, NUL-terminated, and a string that ends
/// another shares its bytes (`libc.so.6` inside `/lib/x86_64-linux-gnu/libc.so.6`).
#[derive(Default)]
struct StringTable<'a> {
    strings: Vec<&'a str>,
}

struct FinalTable<'a> {
    bytes: Vec<u8>,
    offsets: HashMap<&'a str, usize>,
}

impl<'a> StringTable<'a> {
    fn add(&mut self, s: &'a str) {
        self.strings.push(s);
    }

    /// Lays the strings out as glibc's does: sorted by their reversed bytes, descending,
    /// so a string follows the longer ones it ends; each either ends its predecessor or
    /// starts after it.
    fn finalize(mut self) -> FinalTable<'a> {
        self.strings.sort_unstable();
        self.strings.dedup();
        self.strings
            .sort_by(|a, b| b.bytes().rev().cmp(a.bytes().rev()));
        let mut offsets = HashMap::new();
        let mut bytes = Vec::new();
        let mut previous: Option<(&str, usize)> = None;
        for s in self.strings {
            let offset = match previous {
                Some((p, at)) if p.ends_with(s) => at + p.len() - s.len(),
                Some((p, at)) => at + p.len() + 1,
                None => 0,
            };
            if offset + s.len() + 1 > bytes.len() {
                bytes.extend_from_slice(s.as_bytes());
                bytes.push(0);
            }
            offsets.insert(s, offset);
            previous = Some((s, offset));
        }
        FinalTable { bytes, offsets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcmp_compares_numbers_as_numbers_and_after_letters() {
        assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Ordering::Greater);
        assert_eq!(libcmp("libfoo.so.1", "libfoo.so.1"), Ordering::Equal);
        assert_eq!(libcmp("libfoo.so", "libfoo.so.1"), Ordering::Less);
        assert_eq!(libcmp("lib2", "libc"), Ordering::Greater);
        assert_eq!(libcmp("libz.so.1", "libc.so.6"), Ordering::Greater);
    }

    #[test]
    fn string_table_shares_suffixes() {
        let mut t = StringTable::default();
        for s in ["libc.so.6", "/lib/libc.so.6", "libm.so.6", "/lib/libm.so.6"] {
            t.add(s);
        }
        let t = t.finalize();
        assert_eq!(t.bytes, b"/lib/libm.so.6\0/lib/libc.so.6\0");
        assert_eq!(t.offsets["libc.so.6"], 20);
        assert_eq!(t.offsets["libm.so.6"], 5);
    }

    #[test]
    fn resolve_follows_directory_links() {
        let links = vec![("lib".to_owned(), "usr/lib".to_owned())];
        assert_eq!(
            resolve("lib/x86_64-linux-gnu", &links),
            "usr/lib/x86_64-linux-gnu"
        );
        assert_eq!(resolve("lib64", &links), "lib64");
        assert_eq!(resolve("usr/lib", &links), "usr/lib");
    }

    fn lib(soname: &str, path: &str) -> Library {
        Library {
            soname: soname.to_owned(),
            path: path.to_owned(),
            flags: 0x0403,
        }
    }

    #[test]
    fn big_endian_targets_get_a_big_endian_file() {
        let mut config = CacheConfig::debian("s390x").unwrap();
        config.generator = "g".to_owned();
        let libs = [lib("libz.so.1", "usr/lib/s390x-linux-gnu/libz.so.1.2.13")];
        let cache = write_cache(&libs, &config);
        assert_eq!(&cache[20..24], &1u32.to_be_bytes(), "one entry");
        assert_eq!(cache[28], 3, "the big-endian flag");
        assert_eq!(&cache[48..52], &0x0403u32.to_be_bytes());
        let value = b"/usr/lib/s390x-linux-gnu/libz.so.1\0";
        assert!(cache.windows(value.len()).any(|w| w == value));
        let extension = u32::from_be_bytes(cache[32..36].try_into().unwrap()) as usize;
        assert_eq!(
            &cache[extension..extension + 4],
            &EXTENSION_MAGIC.to_be_bytes()
        );
        assert!(cache.ends_with(b"g"));
    }

    #[test]
    fn sonames_that_are_not_file_names_and_other_directories_are_left_out() {
        let config = CacheConfig::debian("amd64").unwrap();
        let libs = [
            lib("../libz.so.1", "usr/lib/x86_64-linux-gnu/libz.so.1"),
            lib("libz.so.1\0x", "usr/lib/x86_64-linux-gnu/libz.so.1"),
            lib("", "usr/lib/x86_64-linux-gnu/libz.so.1"),
            lib("libz.so.1", "opt/lib/libz.so.1"),
        ];
        let cache = write_cache(&libs, &config);
        assert_eq!(&cache[20..28], &[0; 8], "no entries, no strings");
    }

    #[test]
    fn debian_dirs_follow_conf_file_order() {
        let amd64 = CacheConfig::debian("amd64").unwrap();
        assert_eq!(amd64.dirs[0], "/usr/local/lib");
        assert_eq!(amd64.dirs[2], "/lib/x86_64-linux-gnu");
        let arm64 = CacheConfig::debian("arm64").unwrap();
        assert_eq!(arm64.dirs[0], "/usr/local/lib/aarch64-linux-gnu");
        assert_eq!(arm64.dirs[3], "/usr/local/lib");
        assert!(CacheConfig::debian("mips").is_none());
    }
}
