//! Build time: turn RUNPATH/RPATH entries that point into the store into `$ORIGIN`-relative
//! ones, in place in each ELF file's dynamic string table.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fs_err::os::unix::fs::FileExt;
use goblin::elf::Elf;
use goblin::elf::dynamic::{
    DT_AUDIT, DT_CONFIG, DT_DEPAUDIT, DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ,
    DT_STRTAB,
};
use goblin::elf::program_header::PT_LOAD;
use paks_types::CANONICAL_STORE;
use walkdir::WalkDir;

use crate::paths::{store_dir, strip_dir};
use crate::{RelocateError, is_elf, writable};

/// Filter tags of the ELF gABI that name a shared object, which goblin does not define.
const DT_AUXILIARY: u64 = 0x7fff_fffd;
const DT_FILTER: u64 = 0x7fff_ffff;

/// What [`fix_runpaths`](crate::fix_runpaths) did, per ELF file, as prefix-relative paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunpathReport {
    /// Files whose store entries are now `$ORIGIN`-relative.
    pub rewritten: Vec<String>,
    /// ELF files with store entries that were left as they are, with the reason. Their
    /// store paths stay absolute, so a later [`scan`](crate::scan) lists them as binary
    /// files for install-time rewriting.
    pub unchanged: Vec<(String, String)>,
}

/// Rewrites, in every ELF file under `prefix`, each `DT_RUNPATH` and `DT_RPATH` entry inside
/// one of `store_dirs` into a path relative to `$ORIGIN`, the directory of the file.
///
/// `own_store_path` is where the prefix lives at build time, `<store dir>/<id>` for one of
/// `store_dirs` or for [`CANONICAL_STORE`]: a file `<prefix>/bin/x` is taken to be at
/// `<store>/<id>/bin/x`, and an entry `<store dir>/<dep-id>/lib` becomes
/// `$ORIGIN/../../<dep-id>/lib`, for every store directory alike. Entries outside the
/// stores are kept, duplicates are dropped, and the tag stays what it was.
///
/// The new string is written over the old one and must fit in its bytes; a file where it
/// does not, where another dynamic string shares those bytes, or which is hard-linked
/// from another directory (no one relative path would hold from both), is left unchanged
/// and listed in [`RunpathReport::unchanged`]. Symlinks are not followed.
pub fn fix_runpaths(
    prefix: &Path,
    own_store_path: &str,
    store_dirs: &[&str],
) -> Result<RunpathReport, RelocateError> {
    let mut dirs = store_dirs
        .iter()
        .map(|dir| {
            let dir = store_dir(dir)?;
            if dir.contains(':') {
                return Err(RelocateError::InvalidStore {
                    value: dir.to_owned(),
                    reason: "a RUNPATH entry cannot contain `:`",
                });
            }
            Ok(dir.as_bytes())
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The longest match wins when one store directory is inside another.
    dirs.sort_by_key(|dir| std::cmp::Reverse(dir.len()));
    let own = own_location(own_store_path, &dirs)?;

    let files = regular_files(prefix, &own)?;
    // An inode linked from two directories cannot have one `$ORIGIN`-relative RUNPATH
    // that holds from both (git links `bin/git` as `libexec/git-core/git-*`).
    let mut dirs_of_inode: HashMap<(u64, u64), Vec<&File>> = HashMap::new();
    for file in &files {
        if let Some(inode) = file.shared_inode {
            dirs_of_inode.entry(inode).or_default().push(file);
        }
    }
    let mut report = RunpathReport::default();
    for file in &files {
        let elsewhere = file
            .shared_inode
            .and_then(|inode| {
                dirs_of_inode[&inode]
                    .iter()
                    .find(|f| f.origin != file.origin)
            })
            .map(|other| other.name.as_str());
        let outcome = fix_file(&file.path, &file.origin, &dirs, elsewhere).map_err(|source| {
            RelocateError::Runpath {
                path: file.path.clone(),
                source,
            }
        })?;
        match outcome {
            Outcome::Nothing => {}
            Outcome::Rewritten => report.rewritten.push(file.name.clone()),
            Outcome::Unchanged(reason) => report.unchanged.push((file.name.clone(), reason)),
        }
    }
    Ok(report)
}

/// A regular file of the prefix.
struct File {
    path: PathBuf,
    /// The prefix-relative path, for the report.
    name: String,
    /// Its directory's components below the store directory.
    origin: Vec<Vec<u8>>,
    /// Device and inode, if the file has other hard links.
    shared_inode: Option<(u64, u64)>,
}

/// The regular files under `prefix`, in a stable order, without following symlinks.
fn regular_files(prefix: &Path, own: &[Vec<u8>]) -> Result<Vec<File>, RelocateError> {
    let mut files = Vec::new();
    for entry in WalkDir::new(prefix).follow_links(false).sort_by_file_name() {
        let walk_error = |source: walkdir::Error| RelocateError::Walk {
            path: source.path().unwrap_or(prefix).to_path_buf(),
            source,
        };
        let entry = entry.map_err(walk_error)?;
        if !entry.file_type().is_file() {
            continue;
        }
        let meta = entry.metadata().map_err(walk_error)?;
        let path = entry.into_path();
        let relative = path.strip_prefix(prefix).unwrap_or(&path);
        let mut origin = own.to_vec();
        if let Some(parent) = relative.parent() {
            origin.extend(parent.iter().map(|c| c.as_bytes().to_vec()));
        }
        files.push(File {
            name: relative.to_string_lossy().into_owned(),
            origin,
            shared_inode: (meta.nlink() > 1).then(|| (meta.dev(), meta.ino())),
            path,
        });
    }
    Ok(files)
}

/// The components of the package's own store path below its store directory.
fn own_location(own_store_path: &str, dirs: &[&[u8]]) -> Result<Vec<Vec<u8>>, RelocateError> {
    let invalid = || RelocateError::OwnStorePath {
        value: own_store_path.to_owned(),
    };
    let own = own_store_path.trim_end_matches('/').as_bytes();
    let rest = dirs
        .iter()
        .copied()
        .chain([CANONICAL_STORE.as_bytes()])
        .find_map(|dir| strip_dir(own, dir))
        .ok_or_else(invalid)?;
    let components: Vec<Vec<u8>> = rest
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if components.is_empty() || components.iter().any(|c| c == b"." || c == b"..") {
        return Err(invalid());
    }
    Ok(components)
}

enum Outcome {
    /// Not an ELF file, or nothing in the store to rewrite.
    Nothing,
    Rewritten,
    Unchanged(String),
}

/// One string of the dynamic string table that will be overwritten.
struct Patch {
    /// Offset in the string table.
    offset: usize,
    /// Length of the old string, without its NUL.
    len: usize,
    /// The new string, at most `len` bytes.
    new: Vec<u8>,
}

/// Fixes one file; `linked_elsewhere` names a hard link to it in another directory.
fn fix_file(
    path: &Path,
    origin: &[Vec<u8>],
    dirs: &[&[u8]],
    linked_elsewhere: Option<&str>,
) -> std::io::Result<Outcome> {
    if !is_elf(path)? {
        return Ok(Outcome::Nothing);
    }
    let bytes = fs_err::read(path)?;
    let plan = match plan_patches(&bytes, origin, dirs) {
        Ok(None) => return Ok(Outcome::Nothing),
        Ok(Some(plan)) => plan,
        Err(reason) => return Ok(Outcome::Unchanged(reason)),
    };
    if let Some(other) = linked_elsewhere {
        return Ok(Outcome::Unchanged(format!(
            "it is also hard-linked as `{other}`, in another directory, where the same \
             `$ORIGIN`-relative RUNPATH would not hold"
        )));
    }
    writable(path, |file| {
        for patch in &plan.patches {
            let mut bytes = patch.new.clone();
            bytes.resize(patch.len, 0);
            file.write_all_at(&bytes, plan.strtab + patch.offset as u64)?;
        }
        Ok(())
    })?;
    Ok(Outcome::Rewritten)
}

/// Where and what to write in one ELF file.
struct Plan {
    /// File offset of the dynamic string table.
    strtab: u64,
    patches: Vec<Patch>,
}

/// Works out the patches for one ELF file: `Ok(None)` when there is nothing to do, `Err`
/// with the reason when the file must stay as it is.
fn plan_patches(bytes: &[u8], origin: &[Vec<u8>], dirs: &[&[u8]]) -> Result<Option<Plan>, String> {
    let elf = Elf::parse(bytes).map_err(|err| format!("cannot parse the ELF file: {err}"))?;
    let Some(dynamic) = &elf.dynamic else {
        return Ok(None);
    };
    let tag_value = |tag| {
        dynamic
            .dyns
            .iter()
            .find(|d| d.d_tag == tag)
            .map(|d| d.d_val)
    };
    let paths: Vec<(u64, usize)> = dynamic
        .dyns
        .iter()
        .filter(|d| d.d_tag == DT_RUNPATH || d.d_tag == DT_RPATH)
        .map(|d| (d.d_tag, to_usize(d.d_val)))
        .collect();
    if paths.is_empty() {
        return Ok(None);
    }
    let (Some(strtab_addr), Some(strsz)) = (tag_value(DT_STRTAB), tag_value(DT_STRSZ)) else {
        return Err("the dynamic section has no DT_STRTAB or DT_STRSZ".to_owned());
    };
    let strtab_offset = vaddr_to_offset(&elf, strtab_addr, strsz).ok_or_else(|| {
        format!("the dynamic string table at address {strtab_addr:#x} is not in a PT_LOAD segment")
    })?;
    let start = to_usize(strtab_offset);
    let strtab = bytes
        .get(start..start.saturating_add(to_usize(strsz)))
        .ok_or("the dynamic string table extends past the end of the file")?;

    let mut patches: Vec<Patch> = Vec::new();
    for &(tag, offset) in &paths {
        if patches.iter().any(|p| p.offset == offset) {
            continue; // DT_RPATH and DT_RUNPATH may name the same string.
        }
        let old = c_str(strtab, offset).ok_or_else(|| {
            format!(
                "the {} string at offset {offset} is malformed",
                tag_name(tag)
            )
        })?;
        let Some(new) = relative_runpath(old, origin, dirs) else {
            continue;
        };
        if new.len() > old.len() {
            return Err(format!(
                "the new {} `{}` ({} bytes) does not fit in the old `{}` ({} bytes)",
                tag_name(tag),
                String::from_utf8_lossy(&new),
                new.len(),
                String::from_utf8_lossy(old),
                old.len()
            ));
        }
        patches.push(Patch {
            offset,
            len: old.len(),
            new,
        });
    }
    if patches.is_empty() {
        return Ok(None);
    }
    for (kind, offset) in string_refs(&elf, &paths) {
        let Some(other) = c_str(strtab, offset) else {
            continue; // not in this table: cannot share its bytes
        };
        let other_end = offset + other.len();
        for patch in &patches {
            let same_path = offset == patch.offset && (kind == "DT_RUNPATH" || kind == "DT_RPATH");
            let overlaps = offset <= patch.offset + patch.len && patch.offset <= other_end;
            if overlaps && !same_path {
                return Err(format!(
                    "the {kind} string at offset {offset} shares bytes with the RUNPATH at offset {}",
                    patch.offset
                ));
            }
        }
    }
    Ok(Some(Plan {
        strtab: strtab_offset,
        patches,
    }))
}

/// Every other string of the dynamic string table that the file refers to, by kind.
fn string_refs(elf: &Elf<'_>, paths: &[(u64, usize)]) -> Vec<(&'static str, usize)> {
    let mut refs: Vec<(&'static str, usize)> = paths
        .iter()
        .map(|&(tag, offset)| (tag_name(tag), offset))
        .collect();
    if let Some(dynamic) = &elf.dynamic {
        for d in &dynamic.dyns {
            let kind = match d.d_tag {
                DT_NEEDED => "DT_NEEDED",
                DT_SONAME => "DT_SONAME",
                DT_AUXILIARY => "DT_AUXILIARY",
                DT_FILTER => "DT_FILTER",
                DT_CONFIG => "DT_CONFIG",
                DT_DEPAUDIT => "DT_DEPAUDIT",
                DT_AUDIT => "DT_AUDIT",
                _ => continue,
            };
            refs.push((kind, to_usize(d.d_val)));
        }
    }
    refs.extend(elf.dynsyms.iter().map(|sym| ("symbol name", sym.st_name)));
    if let Some(verneed) = &elf.verneed {
        for need in verneed {
            refs.push(("version file name", need.vn_file));
            refs.extend(need.iter().map(|aux| ("version name", aux.vna_name)));
        }
    }
    if let Some(verdef) = &elf.verdef {
        for def in verdef {
            refs.extend(def.iter().map(|aux| ("version name", aux.vda_name)));
        }
    }
    refs
}

fn tag_name(tag: u64) -> &'static str {
    if tag == DT_RPATH {
        "DT_RPATH"
    } else {
        "DT_RUNPATH"
    }
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The file offset of the `len` bytes at virtual address `addr`, through the `PT_LOAD`
/// segment that holds them in the file.
fn vaddr_to_offset(elf: &Elf<'_>, addr: u64, len: u64) -> Option<u64> {
    elf.program_headers
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD)
        .find(|ph| {
            addr >= ph.p_vaddr
                && addr
                    .checked_add(len)
                    .is_some_and(|end| end <= ph.p_vaddr.saturating_add(ph.p_filesz))
        })
        .and_then(|ph| ph.p_offset.checked_add(addr - ph.p_vaddr))
}

/// The NUL-terminated string at `offset` in `table`, without its NUL.
fn c_str(table: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = table.get(offset..)?;
    let len = memchr::memchr(0, rest)?;
    Some(&rest[..len])
}

/// `old`, a `:`-separated search path, with each entry inside one of `dirs` made relative
/// to `$ORIGIN` = `origin` (components below the store directory), and duplicates
/// dropped; `None` if no entry is inside a store directory.
pub(crate) fn relative_runpath(old: &[u8], origin: &[Vec<u8>], dirs: &[&[u8]]) -> Option<Vec<u8>> {
    let mut changed = false;
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for entry in old.split(|&b| b == b':') {
        let new = match dirs.iter().find_map(|dir| strip_dir(entry, dir)) {
            Some(rest) => match relative_to(origin, rest) {
                Some(relative) => {
                    changed = true;
                    relative
                }
                None => entry.to_vec(),
            },
            None => entry.to_vec(),
        };
        if !entries.contains(&new) {
            entries.push(new);
        }
    }
    changed.then(|| entries.join(&b':'))
}

/// `$ORIGIN/...` naming `target` (a path below the store directory, `""` or `/...`) from
/// the directory `origin`. `None` if `target` climbs out of the store with `..`.
fn relative_to(origin: &[Vec<u8>], target: &[u8]) -> Option<Vec<u8>> {
    let target: Vec<&[u8]> = target
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    let mut depth = 0usize;
    for component in &target {
        depth = if *component == b".." {
            depth.checked_sub(1)?
        } else {
            depth + 1
        };
    }
    // Share only leading plain components: `..` is kept as written, since it is resolved
    // against the real directories, symlinks included, as the absolute path was.
    let common = origin
        .iter()
        .zip(&target)
        .take_while(|(o, t)| o.as_slice() == **t && **t != b"..")
        .count();
    let mut out = b"$ORIGIN".to_vec();
    for _ in common..origin.len() {
        out.extend_from_slice(b"/..");
    }
    for component in &target[common..] {
        out.push(b'/');
        out.extend_from_slice(component);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(old: &str, origin: &[&str], dirs: &[&str]) -> Option<String> {
        let origin: Vec<Vec<u8>> = origin.iter().map(|c| c.as_bytes().to_vec()).collect();
        let dirs: Vec<&[u8]> = dirs.iter().map(|d| d.as_bytes()).collect();
        relative_runpath(old.as_bytes(), &origin, &dirs).map(|v| String::from_utf8(v).unwrap())
    }

    const S: &str = "/opt/paks/store";
    const L: &str = "/home/u/.local/share/paks/store";

    #[test]
    fn own_prefix_and_dependencies() {
        let old = format!("{S}/B/lib:{L}/A/lib");
        assert_eq!(
            rel(&old, &["B", "bin"], &[L, S]).unwrap(),
            "$ORIGIN/../lib:$ORIGIN/../../A/lib"
        );
        assert_eq!(
            rel(&format!("{S}/B/lib"), &["B", "lib"], &[S]).unwrap(),
            "$ORIGIN"
        );
        assert_eq!(
            rel(&format!("{S}/B/lib/"), &["B", "lib", "plugins", "x"], &[S]).unwrap(),
            "$ORIGIN/../.."
        );
        assert_eq!(
            rel(&format!("{S}/B/lib/sub"), &["B", "lib"], &[S]).unwrap(),
            "$ORIGIN/sub"
        );
        assert_eq!(rel(S, &["B", "bin"], &[S]).unwrap(), "$ORIGIN/../..");
    }

    #[test]
    fn keeps_foreign_entries_and_drops_duplicates() {
        let old = format!("/usr/lib:{S}/B/lib:$ORIGIN/../lib:{L}/B/lib:/usr/lib:{S}2/x");
        assert_eq!(
            rel(&old, &["B", "bin"], &[S, L]).unwrap(),
            format!("/usr/lib:$ORIGIN/../lib:{S}2/x")
        );
        assert_eq!(rel("/usr/lib:$ORIGIN", &["B"], &[S]), None);
    }

    #[test]
    fn dot_dot_is_kept_and_may_not_leave_the_store() {
        assert_eq!(
            rel(&format!("{S}/B/lib/../lib64"), &["B", "bin"], &[S]).unwrap(),
            "$ORIGIN/../lib/../lib64"
        );
        assert_eq!(
            rel(&format!("{S}/B/./lib"), &["B", "bin"], &[S]).unwrap(),
            "$ORIGIN/../lib"
        );
        assert_eq!(rel(&format!("{S}/../lib"), &["B", "bin"], &[S]), None);
    }

    #[test]
    fn own_location_accepts_any_store_and_the_canonical_one() {
        let dirs: Vec<&[u8]> = vec![L.as_bytes()];
        assert_eq!(
            own_location(&format!("{L}/id/"), &dirs).unwrap(),
            [b"id".to_vec()]
        );
        assert_eq!(
            own_location(&format!("{S}/id"), &dirs).unwrap(),
            [b"id".to_vec()]
        );
        assert!(own_location("/elsewhere/id", &dirs).is_err());
        assert!(own_location(S, &dirs).is_err());
        assert!(own_location(&format!("{S}/.."), &dirs).is_err());
    }
}
