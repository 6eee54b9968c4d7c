//! Writing a directory tree as a deterministic, compressed tar layer.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use paks_types::{Digest, HashingWriter};
use walkdir::WalkDir;

use crate::ArchiveError;
use crate::path::{check_prefix, symlink_stays_inside};

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    /// gzip, `level` 0 to 9. Every OCI tool reads it.
    Gzip {
        level: u32,
    },
    /// zstd, `level` in zstd's range (1 to 22, or negative for the fast levels).
    Zstd {
        level: i32,
    },
}

impl Default for Compression {
    /// gzip at level 6, what `gzip` and Docker use, until measurements say otherwise.
    fn default() -> Self {
        Self::Gzip { level: 6 }
    }
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Self::None => MEDIA_TYPE_LAYER,
            Self::Gzip { .. } => MEDIA_TYPE_LAYER_GZIP,
            Self::Zstd { .. } => MEDIA_TYPE_LAYER_ZSTD,
        }
    }

    /// The compression of a layer media type (with the default level: a blob does not
    /// say which level wrote it), or `None` for a type that is not an OCI layer.
    pub fn from_layer_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            MEDIA_TYPE_LAYER => Some(Self::None),
            MEDIA_TYPE_LAYER_GZIP => Some(Self::default()),
            MEDIA_TYPE_LAYER_ZSTD => Some(Self::Zstd { level: 3 }),
            _ => None,
        }
    }
}

/// `application/vnd.oci.image.layer.v1.tar`
pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// `application/vnd.oci.image.layer.v1.tar+gzip`
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `application/vnd.oci.image.layer.v1.tar+zstd`
pub const MEDIA_TYPE_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// What [`write_layer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the compressed blob.
    pub digest: Digest,
    /// Bytes of the compressed blob.
    pub size: u64,
    /// sha256 of the uncompressed tar: the image config's `rootfs.diff_ids` entry.
    pub diff_id: Digest,
    /// Entries under the prefix (the prefix and its parents not counted): what
    /// extraction creates.
    pub entries: u64,
    /// Bytes of regular files, each hard-linked file counted once.
    pub unpacked_size: u64,
    /// The entries that are not directories (files, symlinks, hard links), relative to
    /// the prefix, in archive order (sorted): what a view links. `None` when a name is
    /// not UTF-8 (the list would be wrong).
    pub contents: Option<Vec<String>>,
}

/// Buffer in front of the hasher and compressor: tar writes 512-byte headers.
const WRITE_BUFFER: usize = 256 * 1024;

/// Write directory `src` as a deterministic tar whose paths are rooted at `prefix` (e.g.
/// `opt/paks/store/<id>`; relative, no trailing slash; empty for none), compressed as
/// asked, streamed into `out`.
///
/// The archive holds a directory entry for each parent of the prefix and the prefix
/// itself, then the tree sorted by path (compared component by component in byte order,
/// so a directory's contents follow it). Times, owners and names of owners are zero or
/// empty; modes are 0755 for directories, 0755 or 0644 for files (by whether any execute
/// bit is set) and 0777 for symlinks; hard-linked files are stored once and then as
/// links. GNU long-name headers appear only for paths and targets over 100 bytes.
///
/// Sockets, FIFOs and devices are refused, and so are symlinks that are absolute or leave
/// the tree (extraction would refuse them).
pub fn write_layer(
    src: &Path,
    prefix: &str,
    compression: Compression,
    out: impl Write,
) -> Result<LayerInfo, ArchiveError> {
    check_prefix(prefix)?;
    let write_err = |source| ArchiveError::Write { source };
    let mut builder = layer_builder(out, compression)?;
    let mut name = Vec::with_capacity(256);
    for (i, _) in prefix.match_indices('/') {
        name.clear();
        name.extend_from_slice(&prefix.as_bytes()[..=i]);
        append_dir(&mut builder, &name).map_err(write_err)?;
    }
    if !prefix.is_empty() {
        name.clear();
        name.extend_from_slice(prefix.as_bytes());
        name.push(b'/');
        append_dir(&mut builder, &name).map_err(write_err)?;
    }
    let mut tree = Tree {
        src,
        prefix,
        builder,
        name,
        first_links: HashMap::new(),
        entries: 0,
        unpacked_size: 0,
        contents: Some(Vec::new()),
    };
    let walk = WalkDir::new(src)
        .follow_links(false)
        .sort_by(|a, b| a.file_name().cmp(b.file_name()));
    for item in walk {
        let item = item.map_err(|source| ArchiveError::Walk {
            path: src.to_owned(),
            source,
        })?;
        if item.depth() == 0 {
            if !item.file_type().is_dir() {
                return Err(ArchiveError::io(
                    "archive",
                    src,
                    io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                ));
            }
            continue;
        }
        tree.append(&item)?;
    }
    let Tree {
        builder,
        entries,
        unpacked_size,
        contents,
        ..
    } = tree;
    let (diff_id, digest, size) = finish_layer(builder)?;
    Ok(LayerInfo {
        digest,
        size,
        diff_id,
        entries,
        unpacked_size,
        contents,
    })
}

/// The tar stream of a layer: buffered, hashed (the diff id), compressed, hashed again
/// (the digest and size).
pub(crate) type LayerStream<W> = BufWriter<HashingWriter<Encoder<HashingWriter<W>>>>;

/// A tar builder writing a layer into `out`, compressed as asked.
pub(crate) fn layer_builder<W: Write>(
    out: W,
    compression: Compression,
) -> Result<tar::Builder<LayerStream<W>>, ArchiveError> {
    let encoder = Encoder::new(HashingWriter::new(out), compression)?;
    let stream = BufWriter::with_capacity(WRITE_BUFFER, HashingWriter::new(encoder));
    Ok(tar::Builder::new(stream))
}

/// End the tar and the compression; returns the diff id, digest and size of the layer.
pub(crate) fn finish_layer<W: Write>(
    builder: tar::Builder<LayerStream<W>>,
) -> Result<(Digest, Digest, u64), ArchiveError> {
    let write_err = |source| ArchiveError::Write { source };
    let stream = builder.into_inner().map_err(write_err)?;
    let hashing = stream.into_inner().map_err(|e| write_err(e.into_error()))?;
    let (diff_id, _, encoder) = hashing.finish();
    let mut compressed = encoder.finish().map_err(write_err)?;
    compressed.flush().map_err(write_err)?;
    let (digest, size, _) = compressed.finish();
    Ok((diff_id, digest, size))
}

struct Tree<'a, W: Write> {
    src: &'a Path,
    prefix: &'a str,
    builder: tar::Builder<W>,
    /// The current entry's archive path.
    name: Vec<u8>,
    /// The archive path of the first file seen for each (device, inode) with links.
    first_links: HashMap<(u64, u64), Vec<u8>>,
    entries: u64,
    unpacked_size: u64,
    contents: Option<Vec<String>>,
}

impl<W: Write> Tree<'_, W> {
    fn append(&mut self, item: &walkdir::DirEntry) -> Result<(), ArchiveError> {
        let path = item.path();
        let rel = path
            .strip_prefix(self.src)
            .expect("walkdir yields paths under its root")
            .as_os_str()
            .as_bytes();
        self.name.clear();
        if !self.prefix.is_empty() {
            self.name.extend_from_slice(self.prefix.as_bytes());
            self.name.push(b'/');
        }
        self.name.extend_from_slice(rel);
        let write_err = |source| ArchiveError::Write { source };
        let kind = item.file_type();
        if !kind.is_dir() {
            match (&mut self.contents, std::str::from_utf8(rel)) {
                (Some(contents), Ok(rel)) => contents.push(rel.to_owned()),
                _ => self.contents = None,
            }
        }
        if kind.is_dir() {
            self.name.push(b'/');
            append_dir(&mut self.builder, &self.name).map_err(write_err)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| ArchiveError::io("read", path, e))?;
            let target = target.as_os_str().as_bytes();
            if !symlink_stays_inside(rel, target) {
                return Err(ArchiveError::SymlinkLeavesTree {
                    path: path.to_owned(),
                    target: PathBuf::from(OsStr::from_bytes(target)),
                });
            }
            let mut header = header(tar::EntryType::Symlink, 0o777, 0);
            append_symlink(&mut self.builder, &mut header, &self.name, target)
                .map_err(write_err)?;
        } else if kind.is_file() {
            let meta = item
                .metadata()
                .map_err(|e| ArchiveError::io("read metadata of", path, e.into()))?;
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.first_links.get(&key) {
                    let mut header = header(tar::EntryType::Link, 0o644, 0);
                    self.builder
                        .append_link(&mut header, as_path(&self.name), as_path(first))
                        .map_err(write_err)?;
                    self.entries += 1;
                    return Ok(());
                }
                self.first_links.insert(key, self.name.clone());
            }
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            self.append_file(path, mode, meta.len())?;
        } else {
            return Err(ArchiveError::SpecialFile {
                path: path.to_owned(),
            });
        }
        self.entries += 1;
        Ok(())
    }

    fn append_file(&mut self, path: &Path, mode: u32, size: u64) -> Result<(), ArchiveError> {
        let file = std::fs::File::open(path).map_err(|e| ArchiveError::io("open", path, e))?;
        let mut header = header(tar::EntryType::Regular, mode, size);
        let mut data = ExactReader {
            inner: file,
            left: size,
            failed: None,
        };
        let result = self
            .builder
            .append_data(&mut header, as_path(&self.name), &mut data);
        match (result, data.failed) {
            (Ok(()), _) => {}
            (Err(_), Some(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(ArchiveError::FileChanged {
                    path: path.to_owned(),
                });
            }
            (Err(_), Some(e)) => return Err(ArchiveError::io("read", path, e)),
            (Err(source), None) => return Err(ArchiveError::Write { source }),
        }
        self.unpacked_size += size;
        Ok(())
    }
}

/// Reads exactly `left` bytes, failing (and remembering why) if the file is shorter; a
/// file that grew is cut at the size its header announced.
struct ExactReader {
    inner: std::fs::File,
    left: u64,
    failed: Option<io::Error>,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.left).map_or(buf.len(), |left| left.min(buf.len()));
        let result = match self.inner.read(&mut buf[..want]) {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            other => other,
        };
        match result {
            Ok(n) => {
                self.left -= n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.failed = Some(e);
                Err(kind.into())
            }
        }
    }
}

pub(crate) fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// A tar header with everything that could vary between machines zeroed (mtime, owner).
pub fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Append a directory entry `name` (with its trailing `/`), mode 0755, times and owners zero.
pub fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &[u8]) -> io::Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755, 0);
    builder.append_data(&mut header, as_path(name), io::empty())
}

/// Append a symlink with its target byte for byte: the tar crate's `append_link` goes
/// through `Path::components`, which would drop `.` components and a trailing slash.
pub fn append_symlink<W: Write>(
    builder: &mut tar::Builder<W>,
    header: &mut tar::Header,
    name: &[u8],
    target: &[u8],
) -> io::Result<()> {
    let slot = &mut header.as_old_mut().linkname;
    if target.len() <= slot.len() {
        slot[..target.len()].copy_from_slice(target);
    } else {
        let mut long = tar::Header::new_gnu();
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        // GNU tar counts the terminating NUL.
        long.set_size(target.len() as u64 + 1);
        long.set_entry_type(tar::EntryType::GNULongLink);
        long.set_cksum();
        builder.append(&long, target.chain(&[0u8][..]))?;
    }
    builder.append_data(header, as_path(name), io::empty())
}

/// The layer compressor: deterministic output (a gzip header without name or time).
pub enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// Compress into `out` as `compression` says; refuses levels out of range.
    pub fn new(out: W, compression: Compression) -> Result<Self, ArchiveError> {
        let level_err = |level: i64, format| ArchiveError::CompressionLevel { format, level };
        Ok(match compression {
            Compression::None => Self::None(out),
            Compression::Gzip { level } => {
                if level > 9 {
                    return Err(level_err(level.into(), "gzip"));
                }
                // No file name and mtime 0: the header is the same on every machine.
                let builder = flate2::GzBuilder::new().mtime(0);
                Self::Gzip(builder.write(out, flate2::Compression::new(level)))
            }
            Compression::Zstd { level } => {
                if !zstd::compression_level_range().contains(&level) {
                    return Err(level_err(level.into(), "zstd"));
                }
                let mut encoder = zstd::stream::write::Encoder::new(out, level)
                    .map_err(|source| ArchiveError::Write { source })?;
                encoder
                    .include_checksum(true)
                    .map_err(|source| ArchiveError::Write { source })?;
                Self::Zstd(encoder)
            }
        })
    }

    /// Write the end of the stream; returns `out`.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Self::None(w) => Ok(w),
            Self::Gzip(e) => e.finish(),
            Self::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::None(w) => w.write(buf),
            Self::Gzip(e) => e.write(buf),
            Self::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::None(w) => w.flush(),
            Self::Gzip(e) => e.flush(),
            Self::Zstd(e) => e.flush(),
        }
    }
}
