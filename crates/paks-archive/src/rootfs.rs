//! Rootfs layers: a foreign package's data tar (a `.deb`'s `data.tar`, an `.apk`'s data
//! stream) rewritten entry by entry into a deterministic OCI layer rooted at `/`.
//!
//! Package layers ([`crate::write_layer`]) live under a store prefix and are extracted on
//! the host, so their symlinks must stay inside and their modes are capped. A rootfs layer
//! goes into an image as its distribution laid it out: symlinks may point anywhere
//! (`/bin/sh -> /bin/busybox`), and setuid/setgid/sticky bits are kept (`passwd`, `mount`
//! and `/tmp` need them). It is never extracted on the host by this crate; the names are
//! still checked, because an image runtime unpacks them.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use paks_types::Digest;

use crate::entries::EntryReader;
use crate::error::lossy;
use crate::extract::{
    entry_name, is_archive_root, read_trailing, rootfs_symlink_target, unwritable_entry,
};
use crate::layer::{Compression, append_symlink, as_path, finish_layer, header, layer_builder};
use crate::path::normalize;
use crate::{ArchiveError, pax_size::PaxSizes};

/// Bounds on what one data tar may put in a rootfs layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsLimits {
    /// Total bytes of regular files, as the headers claim them (checked before copying).
    pub max_unpacked: u64,
    /// Entries (extension headers not counted; they are bounded separately).
    pub max_entries: u64,
    /// Bytes of an entry's path or link target, after normalisation.
    pub max_path: usize,
}

impl Default for RootfsLimits {
    /// 64 GiB, a million entries, `PATH_MAX` (4096): far above any distribution package.
    fn default() -> Self {
        Self {
            max_unpacked: 64 << 30,
            max_entries: 1_000_000,
            max_path: 4096,
        }
    }
}

/// What [`write_layer_from_tar`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsLayer {
    /// sha256 of the compressed blob.
    pub digest: Digest,
    /// Bytes of the compressed blob.
    pub size: u64,
    /// sha256 of the uncompressed tar: the image config's `rootfs.diff_ids` entry.
    pub diff_id: Digest,
    /// Entries written (the archive root `./` is not one).
    pub entries: u64,
    /// Bytes of regular files (hard links not counted again).
    pub unpacked_size: u64,
    /// Paths (as written) whose setuid or setgid bit was dropped because the archive
    /// gave the file an owner other than root: with owners forced to root, the bit would
    /// grant root where the distribution granted, say, group `shadow`.
    pub dropped_setid: Vec<String>,
}

/// What an earlier entry of the layer was, for duplicates, parents and hard links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Dir,
    File { mode: u32 },
    Other,
}

/// Setuid and setgid.
const SETID: u32 = 0o6000;

/// What an entry written to a rootfs layer is, as an [`Observer`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File,
    Symlink,
    HardLink,
}

/// A regular file an [`Observer`] appends after the archive's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedFile {
    /// Relative to `/`, normalised (`etc/ssl/certs/ca-certificates.crt`).
    pub path: String,
    /// Permission bits (no setid: appended files are generated data).
    pub mode: u32,
    pub data: Vec<u8>,
}

/// Sees each entry as [`write_layer_observed`] writes it, may take a copy of a regular
/// file's bytes, and may append files at the end: what an importer needs to list a
/// package's contents, read its licence or libraries, and do natively what a maintainer
/// script would have done.
pub trait Observer {
    /// An entry about to be written: its normalised path (no trailing `/`), kind and, for
    /// a regular file, size. Return `true` to get the file's bytes through
    /// [`Observer::file`]; they are held in memory, so bound what you ask for by `size`.
    fn entry(&mut self, path: &[u8], kind: EntryKind, size: u64) -> bool;
    /// The bytes of a file [`Observer::entry`] asked for, once it is written.
    fn file(&mut self, path: &[u8], bytes: Vec<u8>);
    /// A symlink's target, byte for byte, after [`Observer::entry`] saw the link.
    fn symlink(&mut self, path: &[u8], target: &[u8]) {
        let _ = (path, target);
    }
    /// Files to write after the archive's last entry; missing parent directories are
    /// written too (mode 0755). Their paths follow the archive's rules (not seen before).
    fn append(&mut self) -> Vec<AppendedFile> {
        Vec::new()
    }
}

/// Observes nothing.
struct NoObserver;

impl Observer for NoObserver {
    fn entry(&mut self, _: &[u8], _: EntryKind, _: u64) -> bool {
        false
    }
    fn file(&mut self, _: &[u8], _: Vec<u8>) {}
}

/// Rewrite the plain (decompressed) tar `input` into a rootfs layer, compressed as asked,
/// streamed into `out`.
///
/// Entries keep the archive's order: a stream cannot be sorted without buffering it, and
/// the same input gives the same order, so the layer is still a function of its input.
/// Each entry is written afresh: names normalised (a leading `./` and `.` components
/// dropped, directories ending in `/`), times 0, owners 0 and owner names empty, modes
/// kept with their setuid/setgid/sticky bits (but see [`RootfsLayer::dropped_setid`]),
/// no PAX records (per-file checksums and xattrs are not carried), GNU long-name headers
/// only for names over 100 bytes. The archive root entry is skipped: the image's `/` is
/// not a package's to set.
///
/// Refused: absolute names (data tars spell paths `./x` or `x`; `/x` is a different,
/// suspicious archive), `..` components, NUL bytes, a path given twice (as dpkg refuses),
/// a path below an entry that is not a directory, hard links to anything but an earlier
/// regular file, device nodes and FIFOs, sparse and unknown entry types, a
/// setuid/setgid file writable by group or others (anyone in the container could replace
/// a program that runs as root), and anything over `limits`. Symlink targets are kept byte
/// for byte, absolute or not: inside an image rooted at `/` they resolve within it.
///
/// The input is read to its end, so a verifying reader underneath has checked its digest
/// when this returns `Ok`.
pub fn write_layer_from_tar(
    input: impl Read,
    compression: Compression,
    out: impl Write,
    limits: &RootfsLimits,
) -> Result<RootfsLayer, ArchiveError> {
    write_layer_observed(input, compression, out, limits, &mut NoObserver)
}

/// [`write_layer_from_tar`], telling `observer` about each entry and appending the files
/// it gives at the end.
pub fn write_layer_observed(
    input: impl Read,
    compression: Compression,
    out: impl Write,
    limits: &RootfsLimits,
    observer: &mut dyn Observer,
) -> Result<RootfsLayer, ArchiveError> {
    let mut w = Rewriter {
        observer,
        builder: layer_builder(out, compression)?,
        limits,
        seen: HashMap::new(),
        name: Vec::with_capacity(256),
        target: Vec::with_capacity(256),
        entries: 0,
        unpacked_size: 0,
        dropped_setid: Vec::new(),
    };
    let mut archive = tar::Archive::new(PaxSizes::new(input));
    let mut entries = archive.entries().map_err(ArchiveError::from_io)?.raw(true);
    let mut names = EntryReader::default();
    while let Some(mut entry) = names.next(&mut entries, limits.max_entries)? {
        w.entry(&mut entry, &names)?;
    }
    read_trailing(archive.into_inner())?;
    for file in w.observer.append() {
        w.append(file)?;
    }
    let Rewriter {
        builder,
        entries,
        unpacked_size,
        dropped_setid,
        ..
    } = w;
    let (diff_id, digest, size) = finish_layer(builder)?;
    Ok(RootfsLayer {
        digest,
        size,
        diff_id,
        entries,
        unpacked_size,
        dropped_setid,
    })
}

struct Rewriter<'a, W: Write> {
    observer: &'a mut dyn Observer,
    builder: tar::Builder<W>,
    limits: &'a RootfsLimits,
    /// Every path written so far (normalised, no trailing slash).
    seen: HashMap<Vec<u8>, Seen>,
    /// The current entry's normalised path, and its hard link's normalised target.
    name: Vec<u8>,
    target: Vec<u8>,
    entries: u64,
    unpacked_size: u64,
    dropped_setid: Vec<String>,
}

impl<W: Write> Rewriter<'_, W> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        names: &EntryReader,
    ) -> Result<(), ArchiveError> {
        let raw = &names.path[..];
        let header_in = entry.header();
        let kind = header_in.entry_type();
        let is_dir = entry_name(raw, kind, &mut self.name)?;
        if is_archive_root(raw, &self.name, is_dir)? {
            return Ok(());
        }
        self.check_len(&self.name)?;
        let mode = header_in.mode().map_err(ArchiveError::from_io)? & 0o7777;
        self.check_parents(raw)?;
        if self.seen.contains_key(&self.name) {
            return Err(ArchiveError::Duplicate { path: lossy(raw) });
        }
        let write_err = |source| ArchiveError::Write { source };
        let seen = if is_dir {
            self.observer.entry(&self.name, EntryKind::Directory, 0);
            self.name.push(b'/');
            let mut header = header(tar::EntryType::Directory, mode, 0);
            let result = self
                .builder
                .append_data(&mut header, as_path(&self.name), io::empty());
            self.name.pop();
            result.map_err(write_err)?;
            Seen::Dir
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let owners = (header_in.uid(), header_in.gid());
            let (Ok(uid), Ok(gid)) = owners else {
                return Err(ArchiveError::from_io(io::Error::other(format!(
                    "archive entry `{}` has a malformed owner",
                    lossy(raw)
                ))));
            };
            self.file(entry, raw, mode, uid != 0, gid != 0)?
        } else if kind.is_symlink() {
            let target = rootfs_symlink_target(raw, names)?;
            self.check_len(target)?;
            self.observer.entry(&self.name, EntryKind::Symlink, 0);
            self.observer.symlink(&self.name, target);
            let mut header = header(tar::EntryType::Symlink, 0o777, 0);
            append_symlink(&mut self.builder, &mut header, &self.name, target)
                .map_err(write_err)?;
            Seen::Other
        } else if kind.is_hard_link() {
            let bad = || ArchiveError::BadHardLink {
                path: lossy(raw),
                target: lossy(&names.link),
            };
            if !names.has_link {
                return Err(bad());
            }
            normalize(&names.link, &mut self.target).map_err(|_| bad())?;
            let Some(&Seen::File { mode }) = self.seen.get(&self.target) else {
                return Err(bad());
            };
            self.observer.entry(&self.name, EntryKind::HardLink, 0);
            let mut header = header(tar::EntryType::Link, mode, 0);
            self.builder
                .append_link(&mut header, as_path(&self.name), as_path(&self.target))
                .map_err(write_err)?;
            Seen::Other
        } else {
            return Err(unwritable_entry(raw, kind));
        };
        self.entries += 1;
        self.seen.insert(self.name.clone(), seen);
        Ok(())
    }

    /// Write a regular file entry; `other_user` and `other_group` say whether the archive
    /// gave it an owner other than root.
    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &[u8],
        mut mode: u32,
        other_user: bool,
        other_group: bool,
    ) -> Result<Seen, ArchiveError> {
        if (mode & 0o4000 != 0 && other_user) || (mode & 0o2000 != 0 && other_group) {
            mode &= !SETID;
            self.dropped_setid.push(lossy(&self.name));
        }
        if mode & SETID != 0 && mode & 0o022 != 0 {
            return Err(ArchiveError::WritableSetId {
                path: lossy(raw),
                mode,
            });
        }
        let size = entry.size();
        let total = self.unpacked_size.saturating_add(size);
        if total > self.limits.max_unpacked {
            return Err(ArchiveError::LimitExceeded {
                what: "unpacked bytes",
                limit: self.limits.max_unpacked,
            });
        }
        let wanted = self.observer.entry(&self.name, EntryKind::File, size);
        let mut header = header(tar::EntryType::Regular, mode, size);
        let mut data = Exact {
            inner: entry,
            left: size,
            copy: wanted.then(Vec::new),
        };
        self.builder
            .append_data(&mut header, as_path(&self.name), &mut data)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    ArchiveError::from_io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("archive ends inside `{}`", lossy(raw)),
                    ))
                } else {
                    ArchiveError::Write { source: e }
                }
            })?;
        self.unpacked_size = total;
        if let Some(bytes) = data.copy {
            self.observer.file(&self.name, bytes);
        }
        Ok(Seen::File { mode })
    }

    /// Write an observer's file after the archive's entries, with any missing parents.
    fn append(&mut self, file: AppendedFile) -> Result<(), ArchiveError> {
        normalize(file.path.as_bytes(), &mut self.name).map_err(|_| ArchiveError::InvalidPath {
            path: file.path.clone(),
            reason: "an appended file needs a relative, normalised path",
        })?;
        self.check_len(&self.name)?;
        self.check_parents(file.path.as_bytes())?;
        if self.name.is_empty() || self.seen.contains_key(&self.name) {
            return Err(ArchiveError::Duplicate { path: file.path });
        }
        let write_err = |source| ArchiveError::Write { source };
        let slashes: Vec<usize> = (0..self.name.len())
            .filter(|&i| self.name[i] == b'/')
            .collect();
        for i in slashes {
            if self.seen.contains_key(&self.name[..i]) {
                continue;
            }
            let mut dir = self.name[..=i].to_vec();
            let mut header = header(tar::EntryType::Directory, 0o755, 0);
            self.builder
                .append_data(&mut header, as_path(&dir), io::empty())
                .map_err(write_err)?;
            dir.pop();
            self.seen.insert(dir, Seen::Dir);
            self.entries += 1;
        }
        let size = file.data.len() as u64;
        let total = self.unpacked_size.saturating_add(size);
        if total > self.limits.max_unpacked {
            return Err(ArchiveError::LimitExceeded {
                what: "unpacked bytes",
                limit: self.limits.max_unpacked,
            });
        }
        let mode = file.mode & 0o777;
        let mut header = header(tar::EntryType::Regular, mode, size);
        self.builder
            .append_data(&mut header, as_path(&self.name), &file.data[..])
            .map_err(write_err)?;
        self.unpacked_size = total;
        self.entries += 1;
        self.seen.insert(self.name.clone(), Seen::File { mode });
        Ok(())
    }

    fn check_len(&self, bytes: &[u8]) -> Result<(), ArchiveError> {
        if bytes.len() > self.limits.max_path {
            return Err(ArchiveError::LimitExceeded {
                what: "bytes in a path or link target",
                limit: self.limits.max_path as u64,
            });
        }
        Ok(())
    }

    /// Every parent already written must be a directory: a file under a symlink would be
    /// placed wherever the runtime resolves the link, under a file nowhere.
    fn check_parents(&self, raw: &[u8]) -> Result<(), ArchiveError> {
        let slashes = self.name.iter().enumerate().filter(|&(_, &b)| b == b'/');
        for (i, _) in slashes {
            match self.seen.get(&self.name[..i]) {
                None | Some(Seen::Dir) => {}
                Some(_) => return Err(ArchiveError::ParentNotDirectory { path: lossy(raw) }),
            }
        }
        Ok(())
    }
}

/// Reads exactly `left` bytes of an entry, failing if the archive ends first: the tar
/// crate's builder pads whatever it got and would write a corrupt layer.
struct Exact<'e, R> {
    inner: &'e mut R,
    left: u64,
    /// A copy of the bytes, for an observer that asked for them.
    copy: Option<Vec<u8>>,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.left).map_or(buf.len(), |left| left.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if let Some(copy) = &mut self.copy {
            copy.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `usr/share/x`'s bytes and appends `etc/new/file`.
    #[derive(Default)]
    struct Recorder {
        seen: Vec<(String, EntryKind, u64)>,
        taken: Vec<(String, Vec<u8>)>,
        links: Vec<(String, String)>,
        append: Vec<AppendedFile>,
    }

    impl Observer for Recorder {
        fn entry(&mut self, path: &[u8], kind: EntryKind, size: u64) -> bool {
            let path = String::from_utf8(path.to_vec()).unwrap();
            let wanted = path == "usr/share/x";
            self.seen.push((path, kind, size));
            wanted
        }
        fn file(&mut self, path: &[u8], bytes: Vec<u8>) {
            self.taken.push((lossy(path), bytes));
        }
        fn symlink(&mut self, path: &[u8], target: &[u8]) {
            self.links.push((lossy(path), lossy(target)));
        }
        fn append(&mut self) -> Vec<AppendedFile> {
            std::mem::take(&mut self.append)
        }
    }

    fn data_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_uid(0);
        dir.set_gid(0);
        dir.set_size(0);
        b.append_data(&mut dir, "./usr/", io::empty()).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_uid(0);
        file.set_gid(0);
        file.set_mode(0o644);
        file.set_size(5);
        b.append_data(&mut file, "./usr/share/x", &b"hello"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_mode(0o777);
        link.set_uid(0);
        link.set_gid(0);
        link.set_size(0);
        b.append_link(&mut link, "./usr/y", "/usr/share/x").unwrap();
        b.into_inner().unwrap()
    }

    fn paths(layer: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(layer);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn observers_see_entries_take_bytes_and_append_files_with_parents() {
        let mut rec = Recorder {
            append: vec![AppendedFile {
                path: "etc/new/file".into(),
                mode: 0o4755,
                data: b"made\n".to_vec(),
            }],
            ..Recorder::default()
        };
        let mut out = Vec::new();
        let tar = data_tar();
        let layer = write_layer_observed(
            &tar[..],
            Compression::None,
            &mut out,
            &RootfsLimits::default(),
            &mut rec,
        )
        .unwrap();
        assert_eq!(
            rec.seen,
            [
                ("usr".into(), EntryKind::Directory, 0),
                ("usr/share/x".into(), EntryKind::File, 5),
                ("usr/y".into(), EntryKind::Symlink, 0),
            ]
        );
        assert_eq!(rec.taken, [("usr/share/x".into(), b"hello".to_vec())]);
        assert_eq!(rec.links, [("usr/y".into(), "/usr/share/x".into())]);
        assert_eq!(
            paths(&out),
            [
                "usr/",
                "usr/share/x",
                "usr/y",
                "etc/",
                "etc/new/",
                "etc/new/file"
            ]
        );
        assert_eq!(layer.entries, 6);
        assert_eq!(layer.unpacked_size, 10);
        // The appended file's mode has no setid bit.
        let mut a = tar::Archive::new(&out[..]);
        let last = a.entries().unwrap().last().unwrap().unwrap();
        assert_eq!(last.header().mode().unwrap(), 0o755);

        // An appended path already in the layer is refused.
        let mut dup = Recorder {
            append: vec![AppendedFile {
                path: "usr/share/x".into(),
                mode: 0o644,
                data: vec![],
            }],
            ..Recorder::default()
        };
        let err = write_layer_observed(
            &tar[..],
            Compression::None,
            io::sink(),
            &RootfsLimits::default(),
            &mut dup,
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Duplicate { .. }), "{err}");
    }
}
