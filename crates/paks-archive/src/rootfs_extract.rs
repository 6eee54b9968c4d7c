//! Extraction of image layers into the root of a tree (a sysroot), layer after layer, as
//! a container runtime unpacks an image.
//!
//! Unlike [`crate::extract_layer`], which fills an empty store prefix on the host, this
//! writes a tree that is meant to be chrooted into: absolute symlink targets are kept
//! (they resolve inside the tree when it runs), setuid and setgid bits are kept when
//! running as root, later layers replace what earlier ones wrote, and OCI whiteouts
//! (`.wh.NAME`, `.wh..wh..opq`) remove it.
//!
//! **Symlinks are resolved inside the root, never followed by the kernel.** A layer may put
//! `bin/cat` under a `bin -> usr/bin` an earlier layer made (Debian's usrmerge), so refusing
//! such paths would refuse real images. Each parent directory is instead opened one
//! component at a time with `O_NOFOLLOW | O_DIRECTORY` relative to the directory fd above
//! it; where a component is a symlink, its target is read and walked from the root (if
//! absolute) or from the directory it is in, and `..` never climbs above the root — what
//! `openat2(RESOLVE_IN_ROOT)` does, without needing Linux 5.6 or a seccomp policy that
//! allows it. The last component of an entry is never resolved: it is replaced (a symlink
//! there is removed, not written through).

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::AtomicU64;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::decode::Decoder;
use crate::dirfd::DIR_FLAGS;
use crate::entries::EntryReader;
use crate::error::lossy;
use crate::extract::{
    COPY_BUFFER, FileSink, TAR_BUFFER, create_error, entry_name, is_archive_root, read_trailing,
    rootfs_symlink_target, unwritable_entry,
};
use crate::path::normalize;
use crate::{ArchiveError, ExtractStats, Limits};

/// The prefix of a whiteout file's name: `.wh.NAME` removes `NAME` of earlier layers.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name of an opaque-directory marker: its directory keeps only this layer's entries.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// Symlinks followed while resolving one path (the kernel's own limit).
const MAX_SYMLINKS: u32 = 40;
const SETID: u32 = 0o6000;

/// How to extract into a root.
#[derive(Debug, Clone)]
pub struct RootfsOptions {
    pub limits: Limits,
    /// Keep setuid/setgid bits and make owners root (0:0). Without it (a caller that is
    /// not root cannot give files to root), files belong to the caller and setid bits
    /// are dropped and reported.
    pub privileged: bool,
}

impl Default for RootfsOptions {
    /// Default limits; privileged when the effective user is root.
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            privileged: rustix::process::geteuid().is_root(),
        }
    }
}

/// What one layer's extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootfsStats {
    /// Entries created (whiteouts not counted) and bytes of regular files written.
    pub extracted: ExtractStats,
    /// Whiteouts and opaque markers applied.
    pub whiteouts: u64,
    /// Paths (normalised, as the layer names them) whose setuid/setgid bit was dropped
    /// because the extraction was not privileged.
    pub dropped_setid: Vec<String>,
}

/// Extract one layer stream (gzip, zstd or plain tar, detected by magic bytes) on top of
/// the tree at `root`, an existing directory (empty for the first layer).
///
/// Entries replace what is at their path (a directory over a directory only updates its
/// mode); parents are resolved inside `root` (see the module docs); whiteouts remove
/// what earlier layers wrote. Refused as in [`crate::extract_layer`]: absolute names,
/// `..` components, NUL bytes, devices, FIFOs and unknown types, hard links to anything
/// but a regular file this layer wrote, and anything over the limits. Directories keep at
/// least `0o700` when not privileged, so later layers can write into them and the caller
/// can remove the tree.
///
/// With `diff_id`, the decompressed stream must hash to it. The input is read to its end.
/// On error the tree is partial; nothing outside `root` has been touched.
pub fn extract_rootfs_layer(
    reader: impl Read,
    root: &Path,
    options: &RootfsOptions,
    diff_id: Option<&paks_types::Digest>,
) -> Result<RootfsStats, ArchiveError> {
    let root_fd = rustix::fs::open(root, DIR_FLAGS, Mode::empty())
        .map_err(|e| ArchiveError::io("open", root, e.into()))?;
    let consumed = AtomicU64::new(0);
    let decoder = Decoder::detect(reader, &consumed).map_err(ArchiveError::from_io)?;
    let mut hashing = paks_types::HashingReader::new(decoder);
    let mut x = Layer {
        root: Root {
            fd: root_fd,
            cache: None,
        },
        options,
        consumed: &consumed,
        created: HashSet::new(),
        files: HashSet::new(),
        norm: Vec::with_capacity(256),
        buf: vec![0; COPY_BUFFER],
        stats: RootfsStats::default(),
    };
    {
        let input = BufReader::with_capacity(TAR_BUFFER, &mut hashing);
        let mut archive = tar::Archive::new(crate::pax_size::PaxSizes::new(input));
        let mut entries = archive.entries().map_err(ArchiveError::from_io)?.raw(true);
        let mut names = EntryReader::default();
        while let Some(mut entry) = names.next(&mut entries, options.limits.max_entries)? {
            x.entry(&mut entry, &names)?;
        }
        read_trailing(archive.into_inner())?;
    }
    let (actual, _, _) = hashing.finish();
    if let Some(expected) = diff_id
        && *expected != actual
    {
        return Err(ArchiveError::DigestMismatch {
            what: "the layer's uncompressed tar (its diff id)",
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(x.stats)
}

/// The root's fd, and the last parent directory resolved (entries mostly share theirs).
struct Root {
    fd: OwnedFd,
    /// `(path as the layer spells it, fd)`; dropped whenever anything is removed, since
    /// only a removal can change what an existing path resolves to.
    cache: Option<(Vec<u8>, OwnedFd)>,
}

impl Root {
    /// The directory `path` (normalised; empty for the root) resolves to inside the root,
    /// created (mode 0755) where missing.
    fn dir(&mut self, path: &[u8], raw: &[u8]) -> Result<BorrowedFd<'_>, ArchiveError> {
        if path.is_empty() {
            return Ok(self.fd.as_fd());
        }
        if self.cache.as_ref().is_none_or(|(p, _)| p != path) {
            let fd = resolve_in_root(self.fd.as_fd(), path, raw)?;
            self.cache = Some((path.to_vec(), fd));
        }
        Ok(self.cache.as_ref().expect("just set").1.as_fd())
    }
}

/// Walk `path` from `root` one component at a time, never letting the kernel follow a
/// symlink: symlinks are read and their targets walked here, `/` meaning `root` and `..`
/// stopping at it. Missing directories are created.
fn resolve_in_root(root: BorrowedFd<'_>, path: &[u8], raw: &[u8]) -> Result<OwnedFd, ArchiveError> {
    let io_err = |e: Errno| ArchiveError::Create {
        path: lossy(raw),
        source: e.into(),
    };
    // Components still to walk, the next one last.
    let mut pending: Vec<Vec<u8>> = path
        .split(|&b| b == b'/')
        .rev()
        .map(<[u8]>::to_vec)
        .collect();
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    let mut created = false;
    while let Some(c) = pending.pop() {
        match &c[..] {
            b"" | b"." => continue,
            b".." => {
                stack.pop();
                continue;
            }
            _ => {}
        }
        let base = stack.last().map_or(root, AsFd::as_fd);
        match rustix::fs::openat(base, &c[..], DIR_FLAGS, Mode::empty()) {
            Ok(fd) => {
                stack.push(fd);
                created = false;
            }
            Err(Errno::NOENT) if !created => {
                match rustix::fs::mkdirat(base, &c[..], Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io_err(e)),
                }
                // The process umask may have narrowed the mode; the directory was just
                // made here, in a tree only this extraction writes.
                rustix::fs::chmodat(base, &c[..], Mode::from_raw_mode(0o755), AtFlags::empty())
                    .map_err(io_err)?;
                created = true;
                pending.push(c);
            }
            // With O_NOFOLLOW | O_DIRECTORY a symlink fails with ELOOP or ENOTDIR.
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let is_link = rustix::fs::statat(base, &c[..], AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
                if !is_link {
                    return Err(ArchiveError::ParentNotDirectory { path: lossy(raw) });
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ArchiveError::InvalidPath {
                        path: lossy(raw),
                        reason: "its parents go through more than 40 symlinks",
                    });
                }
                let target = rustix::fs::readlinkat(base, &c[..], Vec::new()).map_err(io_err)?;
                let target = target.as_bytes();
                if target.first() == Some(&b'/') {
                    stack.clear();
                }
                pending.extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
                created = false;
            }
            Err(e) => return Err(io_err(e)),
        }
    }
    match stack.pop() {
        Some(fd) => Ok(fd),
        // Everything walked back up to the root.
        None => rustix::fs::openat(root, ".", DIR_FLAGS, Mode::empty()).map_err(io_err),
    }
}

/// One layer's extraction.
struct Layer<'a> {
    root: Root,
    options: &'a RootfsOptions,
    consumed: &'a AtomicU64,
    /// Paths this layer wrote (normalised): whiteouts and opaque markers spare them.
    created: HashSet<Vec<u8>>,
    /// The regular files among them: the only hard link targets allowed.
    files: HashSet<Vec<u8>>,
    norm: Vec<u8>,
    buf: Vec<u8>,
    stats: RootfsStats,
}

impl Layer<'_> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        names: &EntryReader,
    ) -> Result<(), ArchiveError> {
        let raw = &names.path[..];
        let kind = entry.header().entry_type();
        let is_dir = entry_name(raw, kind, &mut self.norm)?;
        if is_archive_root(raw, &self.norm, is_dir)? {
            return Ok(());
        }
        let norm = std::mem::take(&mut self.norm);
        let result = self.place(entry, names, &norm, is_dir);
        self.norm = norm;
        result
    }

    fn place<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        names: &EntryReader,
        norm: &[u8],
        is_dir: bool,
    ) -> Result<(), ArchiveError> {
        let raw = &names.path[..];
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().map_err(ArchiveError::from_io)? & 0o7777;
        let (parent, name) = match norm.iter().rposition(|&b| b == b'/') {
            Some(i) => (&norm[..i], &norm[i + 1..]),
            None => (&norm[..0], norm),
        };
        if name == OPAQUE_MARKER {
            return self.opaque(parent, raw);
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(parent, hidden, raw);
        }
        let privileged = self.options.privileged;
        if is_dir {
            let mode = if privileged { mode } else { mode | 0o700 };
            let dir = self.root.dir(parent, raw)?;
            let is_dir = stat_type(dir, name) == Some(FileType::Directory);
            let mut removed = false;
            if !is_dir {
                removed = remove_at(dir, name, raw)?;
                rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))
                    .map_err(|e| create_error(raw, e))?;
            }
            let fd = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| create_error(raw, e))?;
            self.finish_mode(&fd, mode, raw)?;
            if removed {
                self.root.cache = None;
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            self.file(entry, parent, name, mode, raw)?;
        } else if kind.is_symlink() {
            let target = rootfs_symlink_target(raw, names)?;
            let dir = self.root.dir(parent, raw)?;
            let removed = remove_at(dir, name, raw)?;
            rustix::fs::symlinkat(target, dir, name).map_err(|e| create_error(raw, e))?;
            if removed {
                self.root.cache = None;
            }
        } else if kind.is_hard_link() {
            self.hard_link(names, parent, name)?;
        } else {
            return Err(unwritable_entry(raw, kind));
        }
        self.stats.extracted.entries += 1;
        self.created.insert(norm.to_vec());
        if kind.is_file() || kind == tar::EntryType::Continuous {
            self.files.insert(norm.to_vec());
        } else {
            self.files.remove(norm);
        }
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &[u8],
        name: &[u8],
        mut mode: u32,
        raw: &[u8],
    ) -> Result<(), ArchiveError> {
        let size = entry.size();
        let limits = &self.options.limits;
        if self.stats.extracted.unpacked_size.saturating_add(size) > limits.max_unpacked {
            return Err(ArchiveError::LimitExceeded {
                what: "unpacked bytes",
                limit: limits.max_unpacked,
            });
        }
        if !self.options.privileged && mode & SETID != 0 {
            mode &= !SETID;
            self.stats.dropped_setid.push(lossy(&join(parent, name)));
        }
        let dir = self.root.dir(parent, raw)?;
        let removed = remove_at(dir, name, raw)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| create_error(raw, e))?;
        if removed {
            self.root.cache = None;
        }
        let mut sink = FileSink {
            file: std::fs::File::from(fd),
            buf: &mut self.buf,
            stats: &mut self.stats.extracted,
            limits,
            consumed: self.consumed,
        };
        sink.copy(entry, size, raw)?;
        let file = sink.file;
        // Owner first, then mode: a chown clears setid bits, and writing would too.
        self.finish_mode(&file, mode, raw)
    }

    /// Owners root (when privileged) and the mode, exactly.
    fn finish_mode(&self, fd: &impl AsFd, mode: u32, raw: &[u8]) -> Result<(), ArchiveError> {
        if self.options.privileged {
            rustix::fs::fchown(fd, Some(rustix::fs::Uid::ROOT), Some(rustix::fs::Gid::ROOT))
                .map_err(|e| create_error(raw, e))?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(|e| create_error(raw, e))
    }

    /// Link `parent/name` to the entry's target, a regular file this layer wrote.
    fn hard_link(
        &mut self,
        names: &EntryReader,
        parent: &[u8],
        name: &[u8],
    ) -> Result<(), ArchiveError> {
        let raw = &names.path[..];
        let bad = || ArchiveError::BadHardLink {
            path: lossy(raw),
            target: lossy(&names.link),
        };
        let mut target = Vec::new();
        if !names.has_link || normalize(&names.link, &mut target).is_err() {
            return Err(bad());
        }
        if !self.files.contains(&target) {
            return Err(bad());
        }
        let (target_dir, target_name) = match target.iter().rposition(|&b| b == b'/') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (&target[..0], &target[..]),
        };
        let from = self
            .root
            .dir(target_dir, raw)?
            .try_clone_to_owned()
            .map_err(|e| ArchiveError::Create {
                path: lossy(raw),
                source: e,
            })?;
        if stat_type(from.as_fd(), target_name) != Some(FileType::RegularFile) {
            return Err(bad());
        }
        if (parent, name) == (target_dir, target_name) {
            return Ok(());
        }
        let dir = self.root.dir(parent, raw)?;
        let removed = remove_at(dir, name, raw)?;
        // No AT_SYMLINK_FOLLOW: the target itself is linked, never what it points to.
        rustix::fs::linkat(&from, target_name, dir, name, AtFlags::empty())
            .map_err(|e| create_error(raw, e))?;
        if removed {
            self.root.cache = None;
        }
        Ok(())
    }

    /// `parent/.wh.hidden`: remove `hidden` as earlier layers left it.
    fn whiteout(&mut self, parent: &[u8], hidden: &[u8], raw: &[u8]) -> Result<(), ArchiveError> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(ArchiveError::InvalidPath {
                path: lossy(raw),
                reason: "a whiteout must name an entry",
            });
        }
        self.stats.whiteouts += 1;
        if self.created.contains(&join(parent, hidden)) {
            return Ok(());
        }
        let dir = self.root.dir(parent, raw)?;
        if remove_at(dir, hidden, raw)? {
            self.root.cache = None;
        }
        Ok(())
    }

    /// `parent/.wh..wh..opq`: the directory keeps only what this layer put in it.
    fn opaque(&mut self, parent: &[u8], raw: &[u8]) -> Result<(), ArchiveError> {
        self.stats.whiteouts += 1;
        let dir = self.root.dir(parent, raw)?;
        let dir = rustix::fs::openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| create_error(raw, e))?;
        let mut doomed = Vec::new();
        for name in list(&dir, raw)? {
            if !self.created.contains(&join(parent, &name)) {
                doomed.push(name);
            }
        }
        for name in doomed {
            remove_at(dir.as_fd(), &name, raw)?;
        }
        self.root.cache = None;
        Ok(())
    }
}

/// `parent/name`, or `name` at the root.
fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = parent.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn stat_type(dir: BorrowedFd<'_>, name: &[u8]) -> Option<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|st| FileType::from_raw_mode(st.st_mode))
}

/// The names in directory `dir` (not `.` and `..`).
fn list(dir: &OwnedFd, raw: &[u8]) -> Result<Vec<Vec<u8>>, ArchiveError> {
    let io_err = |e: Errno| ArchiveError::Create {
        path: lossy(raw),
        source: e.into(),
    };
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

/// Remove `name` in `dir` whatever it is (a directory with everything in it; a symlink
/// itself, never what it points to). Whether something was there.
fn remove_at(dir: BorrowedFd<'_>, name: &[u8], raw: &[u8]) -> Result<bool, ArchiveError> {
    let io_err = |e: Errno| ArchiveError::Create {
        path: lossy(raw),
        source: e.into(),
    };
    match stat_type(dir, name) {
        None => Ok(false),
        Some(FileType::Directory) => {
            let sub = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(io_err)?;
            for child in list(&sub, raw)? {
                remove_at(sub.as_fd(), &child, raw)?;
            }
            rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).map_err(io_err)?;
            Ok(true)
        }
        Some(_) => {
            rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(io_err)?;
            Ok(true)
        }
    }
}
