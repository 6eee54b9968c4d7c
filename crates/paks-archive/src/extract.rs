//! Extraction of layer streams into a directory. Archives are hostile: see
//! [`extract_layer`] for the rules, and `dirfd` for how the kernel enforces them.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::ArchiveError;
use crate::decode::Decoder;
use crate::dirfd::{DirStack, OpenError, Resolver};
use crate::entries::EntryReader;
use crate::error::lossy;
use crate::path::{PathProblem, Place, check_prefix, normalize, place, symlink_stays_inside};
use crate::pipe;

/// Bounds on what one archive may make extraction do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of regular files.
    pub max_unpacked: u64,
    /// Entries in the archive (the GNU and PAX extension headers that describe an entry
    /// are part of it, and limited separately).
    pub max_entries: u64,
    /// Unpacked bytes per compressed byte consumed; checked once more than
    /// [`RATIO_FLOOR`] bytes are unpacked, so small archives of zeros are fine.
    pub max_ratio: u64,
}

/// Unpacked bytes below which the compression ratio is not checked.
pub const RATIO_FLOOR: u64 = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_unpacked: 64 << 30,
            max_entries: 1_000_000,
            max_ratio: 1000,
        }
    }
}

/// What an extraction created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Entries created under the destination (the prefix and its parents not counted).
    pub entries: u64,
    /// Bytes of regular files written.
    pub unpacked_size: u64,
}

/// Bytes of decompressed data allowed after the tar end marker (GNU tar pads to 10 KiB).
const MAX_TRAILING: u64 = 1 << 20;
/// Read and write chunk for file data.
pub(crate) const COPY_BUFFER: usize = 256 * 1024;
/// Buffer between the decoder and the tar parser (which reads headers 512 bytes at a time)
/// when there is no worker thread and so no channel of chunks in between.
pub(crate) const TAR_BUFFER: usize = 64 * 1024;

/// Extract a layer stream (gzip, zstd or plain tar, detected by magic bytes) into `dest`,
/// an existing empty directory.
///
/// Entries must lie under `prefix` (e.g. `opt/paks/store/<id>`), which is stripped; the
/// directory entries of the prefix and its parents are skipped, anything else outside it
/// is an error. Unsafe entries are refused, never skipped: absolute paths, `..`, symlinks
/// leaving `dest`, hard links to anything but a regular file extracted before, paths
/// through symlinks, devices and FIFOs, and entries replacing earlier ones. Modes keep at
/// most `0o755` (directories always keep `0o700` so the tree stays the owner's to
/// remove); owners and times are not restored.
///
/// The input is read to its end, so a [`paks_types::VerifyingReader`] passed in (or by
/// `&mut`) has checked its digest by the time this returns `Ok`. On error `dest` holds a
/// partial tree, and nothing outside it has been touched; the caller removes it. Nothing
/// is fsynced: the caller syncs the filesystem once.
pub fn extract_layer(
    reader: impl Read,
    dest: &Path,
    prefix: &str,
    limits: &Limits,
) -> Result<ExtractStats, ArchiveError> {
    extract_with(reader, dest, prefix, limits, Resolver::detect(), None)
}

/// [`extract_layer`], and the decompressed tar stream must hash to `diff_id` (the image
/// config's `rootfs.diff_ids` entry for the layer): checked as the stream is read, so a
/// layer that lies about its diff id fails before the caller commits anything.
pub fn extract_layer_verified(
    reader: impl Read,
    dest: &Path,
    prefix: &str,
    limits: &Limits,
    diff_id: &paks_types::Digest,
) -> Result<ExtractStats, ArchiveError> {
    extract_with(
        reader,
        dest,
        prefix,
        limits,
        Resolver::detect(),
        Some(diff_id),
    )
}

pub(crate) fn extract_with(
    reader: impl Read,
    dest: &Path,
    prefix: &str,
    limits: &Limits,
    resolver: Resolver,
    diff_id: Option<&paks_types::Digest>,
) -> Result<ExtractStats, ArchiveError> {
    check_prefix(prefix)?;
    let mut listing =
        std::fs::read_dir(dest).map_err(|e| ArchiveError::io("read directory", dest, e))?;
    if listing.next().is_some() {
        return Err(ArchiveError::DestNotEmpty {
            path: dest.to_owned(),
        });
    }
    let consumed = AtomicU64::new(0);
    let decoder = Decoder::detect(reader, &consumed).map_err(ArchiveError::from_io)?;
    // Hashing the decompressed stream costs one sha256 pass on the decoding thread, which
    // runs beside the extracting one.
    let mut decoder = paks_types::HashingReader::new(decoder);
    let job = Job {
        dest,
        prefix: prefix.as_bytes(),
        limits,
        consumed: &consumed,
        resolver,
    };
    let stats = std::thread::scope(|scope| {
        let (pump, chunks) = pipe::channel();
        let worker = std::thread::Builder::new()
            .name("paks-extract".into())
            .spawn_scoped(scope, move || job.run(chunks));
        let Ok(worker) = worker else {
            // No thread to be had: do both here.
            return job.run(BufReader::with_capacity(TAR_BUFFER, &mut decoder));
        };
        let pumped = pump.run(&mut decoder);
        let extracted = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A failing input (a digest mismatch found at its end, say) explains whatever the
        // extraction made of the data it did get.
        pumped.map_err(ArchiveError::from_io)?;
        extracted
    })?;
    // On success the tar stream was read to its end (`Job::run` reads past the end marker
    // until the pump hangs up), so the hash covers all of it.
    let (actual, _, _) = decoder.finish();
    if let Some(expected) = diff_id
        && *expected != actual
    {
        return Err(ArchiveError::DigestMismatch {
            what: "the layer's uncompressed tar (its diff id)",
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(stats)
}

/// One extraction, minus the input.
#[derive(Clone, Copy)]
struct Job<'a> {
    dest: &'a Path,
    prefix: &'a [u8],
    limits: &'a Limits,
    /// Compressed bytes the decoder has consumed.
    consumed: &'a AtomicU64,
    resolver: Resolver,
}

impl Job<'_> {
    /// Extract the decompressed tar `input`, then read it to its end.
    fn run(self, input: impl Read) -> Result<ExtractStats, ArchiveError> {
        let root = rustix::fs::open(
            self.dest,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ArchiveError::io("open", self.dest, e.into()))?;
        let mut archive = tar::Archive::new(crate::pax_size::PaxSizes::new(input));
        let mut entries = archive.entries().map_err(ArchiveError::from_io)?.raw(true);
        let mut x = Extractor {
            dirs: DirStack::new(root, self.resolver),
            prefix: self.prefix,
            limits: self.limits,
            consumed: self.consumed,
            umask: current_umask(),
            norm: Vec::with_capacity(256),
            target: Vec::new(),
            buf: vec![0; COPY_BUFFER],
            stats: ExtractStats::default(),
        };
        let mut names = EntryReader::default();
        while let Some(mut entry) = names.next(&mut entries, self.limits.max_entries)? {
            x.entry(&mut entry, &names)?;
        }
        read_trailing(archive.into_inner())?;
        Ok(x.stats)
    }
}

/// Read the input past the tar end marker to its end, so that a verifying reader
/// underneath sees all of it; at most [`MAX_TRAILING`] bytes may follow the marker.
pub(crate) fn read_trailing(rest: impl Read) -> Result<(), ArchiveError> {
    let mut rest = rest.take(MAX_TRAILING + 1);
    let trailing = io::copy(&mut rest, &mut io::sink()).map_err(ArchiveError::from_io)?;
    if trailing > MAX_TRAILING {
        return Err(ArchiveError::LimitExceeded {
            what: "bytes of data after the end of the archive",
            limit: MAX_TRAILING,
        });
    }
    Ok(())
}

struct Extractor<'a> {
    dirs: DirStack,
    prefix: &'a [u8],
    limits: &'a Limits,
    consumed: &'a AtomicU64,
    /// The process umask, to know when the kernel narrowed a mode we asked for; `None`
    /// when unknown (then modes are always set explicitly).
    umask: Option<u32>,
    /// The current entry's normalised path.
    norm: Vec<u8>,
    /// The current hard link's normalised target.
    target: Vec<u8>,
    buf: Vec<u8>,
    stats: ExtractStats,
}

impl Extractor<'_> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        names: &EntryReader,
    ) -> Result<(), ArchiveError> {
        let raw = &names.path[..];
        let header = entry.header();
        let kind = header.entry_type();
        let is_dir = entry_name(raw, kind, &mut self.norm)?;
        let start = match place(&self.norm, self.prefix) {
            Place::Inside(start) => start,
            Place::Ancestor if is_dir => return Ok(()),
            Place::Ancestor | Place::Outside => {
                return Err(ArchiveError::OutsidePrefix {
                    path: lossy(raw),
                    prefix: lossy(self.prefix),
                });
            }
        };
        let mode = header.mode().map_err(ArchiveError::from_io)?;
        self.stats.entries += 1;
        let rel = &self.norm[start..];
        let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        if is_dir {
            let mode = (mode & 0o755) | 0o700;
            let dir = open_parent(&mut self.dirs, parent, raw)?;
            make_dir(dir, name, mode, self.umask, raw)
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.size();
            let total = self.stats.unpacked_size.saturating_add(size);
            if total > self.limits.max_unpacked {
                return Err(ArchiveError::LimitExceeded {
                    what: "unpacked bytes",
                    limit: self.limits.max_unpacked,
                });
            }
            let dir = open_parent(&mut self.dirs, parent, raw)?;
            let file = create_file(dir, name, mode & 0o755, self.umask, raw)?;
            let mut sink = FileSink {
                file,
                buf: &mut self.buf,
                stats: &mut self.stats,
                limits: self.limits,
                consumed: self.consumed,
            };
            sink.copy(entry, size, raw)
        } else if kind.is_symlink() {
            let target = &names.link[..];
            if !names.has_link || !symlink_stays_inside(rel, target) {
                return Err(ArchiveError::SymlinkEscapes {
                    path: lossy(raw),
                    target: lossy(target),
                });
            }
            let dir = open_parent(&mut self.dirs, parent, raw)?;
            rustix::fs::symlinkat(target, dir, name).map_err(|e| create_error(raw, e))
        } else if kind.is_hard_link() {
            let to = (&mut self.dirs, &mut self.target, self.prefix);
            hard_link(to, names, parent, name)
        } else {
            Err(unwritable_entry(raw, kind))
        }
    }
}

/// Link `parent/name` to the entry's link target, which must be a regular file extracted
/// before. `to` is the directory cache, a buffer for the target, and the prefix.
fn hard_link(
    to: (&mut DirStack, &mut Vec<u8>, &[u8]),
    names: &EntryReader,
    parent: &[u8],
    name: &[u8],
) -> Result<(), ArchiveError> {
    let (dirs, target_buf, prefix) = to;
    let raw = &names.path[..];
    let bad = || ArchiveError::BadHardLink {
        path: lossy(raw),
        target: lossy(&names.link),
    };
    if !names.has_link {
        return Err(bad());
    }
    normalize(&names.link, target_buf).map_err(|_| bad())?;
    let Place::Inside(start) = place(target_buf, prefix) else {
        return Err(bad());
    };
    let target = &target_buf[start..];
    let (target_dir, target_name) = match target.iter().rposition(|&b| b == b'/') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (&target[..0], target),
    };
    // `dest` started empty, so a regular file there is one this archive extracted.
    // Anything else is refused: a hard link to a symlink would move the link to
    // another directory, where its relative target means something else.
    let from = dirs
        .get(target_dir, false)
        .map_err(|_| bad())?
        .try_clone_to_owned()
        .map_err(|e| ArchiveError::Create {
            path: lossy(raw),
            source: e,
        })?;
    let is_file = rustix::fs::statat(&from, target_name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile);
    if !is_file {
        return Err(bad());
    }
    let dir = open_parent(dirs, parent, raw)?;
    rustix::fs::linkat(&from, target_name, dir, name, AtFlags::empty())
        .map_err(|e| create_error(raw, e))
}

/// Where file data goes, with the limits checked as it flows.
pub(crate) struct FileSink<'a> {
    pub file: File,
    pub buf: &'a mut [u8],
    pub stats: &'a mut ExtractStats,
    pub limits: &'a Limits,
    pub consumed: &'a AtomicU64,
}

impl FileSink<'_> {
    pub fn copy(
        &mut self,
        data: &mut impl Read,
        size: u64,
        raw: &[u8],
    ) -> Result<(), ArchiveError> {
        let mut written = 0;
        while written < size {
            let want = usize::try_from(size - written)
                .map_or(self.buf.len(), |left| left.min(self.buf.len()));
            let n = match data.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ArchiveError::from_io(e)),
            };
            self.file
                .write_all(&self.buf[..n])
                .map_err(|source| ArchiveError::Create {
                    path: lossy(raw),
                    source,
                })?;
            written += n as u64;
            self.stats.unpacked_size += n as u64;
            let unpacked = self.stats.unpacked_size;
            let compressed = self.consumed.load(Ordering::Relaxed);
            if unpacked > RATIO_FLOOR && unpacked > compressed.saturating_mul(self.limits.max_ratio)
            {
                return Err(ArchiveError::RatioExceeded {
                    limit: self.limits.max_ratio,
                    unpacked,
                    compressed,
                });
            }
        }
        if written < size {
            return Err(ArchiveError::from_io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("archive ends inside `{}`", lossy(raw)),
            )));
        }
        Ok(())
    }
}

fn open_parent<'d>(
    dirs: &'d mut DirStack,
    parent: &[u8],
    raw: &[u8],
) -> Result<BorrowedFd<'d>, ArchiveError> {
    dirs.get(parent, true).map_err(|e| match e {
        OpenError::ThroughSymlink => ArchiveError::ThroughSymlink { path: lossy(raw) },
        OpenError::NotDirectory => ArchiveError::ParentNotDirectory { path: lossy(raw) },
        OpenError::NotFound => ArchiveError::Create {
            path: lossy(raw),
            source: io::ErrorKind::NotFound.into(),
        },
        OpenError::Io(source) => ArchiveError::Create {
            path: lossy(raw),
            source,
        },
    })
}

fn make_dir(
    dir: BorrowedFd<'_>,
    name: &[u8],
    mode: u32,
    umask: Option<u32>,
    raw: &[u8],
) -> Result<(), ArchiveError> {
    let fix_mode = match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) => umask.is_none_or(|u| mode & u != 0),
        // A directory listed twice (or created as a parent first) replaces nothing.
        Err(Errno::EXIST)
            if rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory) =>
        {
            true
        }
        Err(e) => return Err(create_error(raw, e)),
    };
    if fix_mode {
        rustix::fs::chmodat(dir, name, Mode::from_raw_mode(mode), AtFlags::empty())
            .map_err(|e| create_error(raw, e))?;
    }
    Ok(())
}

fn create_file(
    dir: BorrowedFd<'_>,
    name: &[u8],
    mode: u32,
    umask: Option<u32>,
    raw: &[u8],
) -> Result<File, ArchiveError> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode))
        .map_err(|e| create_error(raw, e))?;
    if umask.is_none_or(|u| mode & u != 0) {
        rustix::fs::fchmod(fd.as_fd(), Mode::from_raw_mode(mode))
            .map_err(|e| create_error(raw, e))?;
    }
    Ok(File::from(fd))
}

/// The error for an entry of a type no layer may hold: devices and FIFOs by name, the
/// rest (sparse files, unknown types) by their type byte.
pub(crate) fn unwritable_entry(raw: &[u8], kind: tar::EntryType) -> ArchiveError {
    let special = match kind {
        tar::EntryType::Char => Some("character device"),
        tar::EntryType::Block => Some("block device"),
        tar::EntryType::Fifo => Some("FIFO"),
        _ => None,
    };
    match special {
        Some(kind) => ArchiveError::SpecialEntry {
            path: lossy(raw),
            kind,
        },
        None => ArchiveError::UnsupportedEntry {
            path: lossy(raw),
            kind: format!("type `{}`", kind.as_byte().escape_ascii()),
        },
    }
}

pub(crate) fn create_error(raw: &[u8], e: Errno) -> ArchiveError {
    if e == Errno::EXIST {
        ArchiveError::Duplicate { path: lossy(raw) }
    } else {
        ArchiveError::Create {
            path: lossy(raw),
            source: e.into(),
        }
    }
}

/// Normalise an entry's raw path into `out`; returns whether the entry is a directory.
pub(crate) fn entry_name(
    raw: &[u8],
    kind: tar::EntryType,
    out: &mut Vec<u8>,
) -> Result<bool, ArchiveError> {
    normalize(raw, out).map_err(|p| path_error(raw, p))?;
    // Pre-POSIX archives mark directories with a trailing slash on a regular entry.
    Ok(kind.is_dir() || (kind.is_file() && raw.last() == Some(&b'/')))
}

/// Whether the normalised entry `norm` is the archive root (`./`), which layers rooted at
/// `/` skip (a tree's root is not a layer's to set); a root that is not a directory is
/// refused.
pub(crate) fn is_archive_root(raw: &[u8], norm: &[u8], is_dir: bool) -> Result<bool, ArchiveError> {
    match (norm.is_empty(), is_dir) {
        (false, _) => Ok(false),
        (true, true) => Ok(true),
        (true, false) => Err(ArchiveError::InvalidPath {
            path: lossy(raw),
            reason: "only a directory can be the root",
        }),
    }
}

/// The symlink target of an entry of a layer rooted at `/`: any target, absolute or not,
/// but present and without NUL bytes.
pub(crate) fn rootfs_symlink_target<'n>(
    raw: &[u8],
    names: &'n EntryReader,
) -> Result<&'n [u8], ArchiveError> {
    let target = &names.link[..];
    if !names.has_link || target.is_empty() || target.contains(&0) {
        return Err(ArchiveError::InvalidPath {
            path: lossy(raw),
            reason: "a symlink needs a target without NUL bytes",
        });
    }
    Ok(target)
}

fn path_error(raw: &[u8], problem: PathProblem) -> ArchiveError {
    match problem {
        PathProblem::Absolute => ArchiveError::AbsolutePath { path: lossy(raw) },
        PathProblem::Parent => ArchiveError::LeavesDestination { path: lossy(raw) },
        PathProblem::Nul => ArchiveError::InvalidPath {
            path: lossy(raw),
            reason: "it contains a NUL byte",
        },
    }
}

/// The process umask, from `/proc/self/status` (reading it with `umask(2)` would change
/// it for other threads for a moment).
fn current_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
