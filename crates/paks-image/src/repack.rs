//! New layer blobs from package layers: a package layer recompressed (gzip for runtimes
//! that read nothing else), or several merged into one combined layer when an image is
//! over its layer budget. Inputs are blobs verified by digest; outputs are written beside
//! them in the blob cache, atomically, and are deterministic.

use std::collections::BTreeSet;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use paks_types::{Digest, HashingWriter};

use crate::ImageError;
use crate::spec::LayerCompression;

/// A layer written by [`repack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub path: PathBuf,
}

/// What goes into a repacked layer.
#[derive(Debug, Clone, Copy)]
pub enum Members<'a> {
    /// One layer, its tar kept byte for byte (the diff id must stay `diff_id`).
    One { blob: &'a Path, diff_id: &'a Digest },
    /// Several layers' entries in one tar, each shared directory once.
    Merge(&'a [MergeMember]),
}

/// One layer merged into a combined layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeMember {
    pub blob: PathBuf,
    /// A rootfs package's layer (any path without `..`), not a store package's (only
    /// under `opt/paks/store/`).
    pub rootfs: bool,
    /// Paths (relative, no trailing `/`) left out: files a later package replaces, which
    /// must not come back because this layer lands after that package's.
    pub skip: BTreeSet<String>,
}

#[cfg(test)]
impl MergeMember {
    /// A store package's layer, whole.
    pub fn store(blob: PathBuf) -> Self {
        Self {
            blob,
            rootfs: false,
            skip: BTreeSet::new(),
        }
    }
}

/// Write `members` as one layer compressed with `compression`, into the directory
/// `dir` as `dir/<hex of its digest>` (the blob cache's naming).
pub fn repack(
    members: Members<'_>,
    compression: LayerCompression,
    dir: &Path,
) -> Result<Packed, ImageError> {
    let tmp = paks_types::fs::temp_sibling(&dir.join("repack"), "layer");
    let written = (|| {
        let file = fs_err::File::create(&tmp)?;
        let compressed = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, file));
        let mut encoder = paks_archive::Encoder::new(compressed, compression.archive())?;
        let mut tar = HashingWriter::new(&mut encoder);
        match members {
            Members::One { blob, .. } => {
                io::copy(&mut open(blob)?, &mut tar)?;
            }
            Members::Merge(blobs) => {
                let mut seen = BTreeSet::new();
                for member in blobs {
                    copy_entries(&mut open(&member.blob)?, &mut tar, &mut seen, member).map_err(
                        |e| {
                            ImageError::Io(io::Error::new(
                                e.kind(),
                                format!(
                                    "failed to merge the layer `{}`: {e}",
                                    member.blob.display()
                                ),
                            ))
                        },
                    )?;
                }
                tar.write_all(&[0u8; 1024])?;
            }
        }
        let (diff_id, _, _) = tar.finish();
        if let Members::One {
            blob,
            diff_id: expected,
        } = members
            && &diff_id != expected
        {
            return Err(ImageError::DiffIdMismatch {
                blob: blob.to_owned(),
                expected: expected.clone(),
                actual: diff_id,
            });
        }
        let compressed = encoder.finish()?;
        let (digest, size, buffered) = compressed.finish();
        let file = buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok::<_, ImageError>((digest, size, diff_id))
    })();
    let (digest, size, diff_id) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = fs_err::remove_file(&tmp);
            return Err(e);
        }
    };
    let path = dir.join(digest.hex());
    fs_err::rename(&tmp, &path)?;
    Ok(Packed {
        digest,
        size,
        diff_id,
        path,
    })
}

fn open(blob: &Path) -> Result<impl Read, ImageError> {
    let file = BufReader::with_capacity(256 * 1024, fs_err::File::open(blob)?);
    Ok(paks_archive::decompress(file)?)
}

/// Extension records (long names, pax headers) kept with the entry they describe; more
/// than this in front of one entry is refused.
const EXTENSION_LIMIT: usize = 1024 * 1024;

/// Copy the entries of one tar stream to `out`, without its end-of-archive blocks, without
/// directory entries whose name `seen` already has (the `opt/`, `opt/paks/`,
/// `opt/paks/store/` that every package layer starts with, a rootfs package's `usr/`),
/// and without the paths `member.skip` names.
fn copy_entries(
    input: &mut impl Read,
    out: &mut impl Write,
    seen: &mut BTreeSet<Vec<u8>>,
    member: &MergeMember,
) -> io::Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    let mut block = [0u8; 512];
    loop {
        if !read_block(input, &mut block)? || block.iter().all(|&b| b == 0) {
            if !pending.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the archive ends inside an entry's extension headers",
                ));
            }
            return Ok(());
        }
        let header = tar::Header::from_byte_slice(&block);
        let size = header.entry_size()?;
        let padded = size.div_ceil(512) * 512;
        let kind = header.entry_type();
        if kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
        {
            let total = pending.len() as u64 + 512 + padded;
            if total > EXTENSION_LIMIT as u64 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "extension headers over 1 MiB",
                ));
            }
            pending.extend_from_slice(&block);
            let start = pending.len();
            pending.resize(start + usize::try_from(padded).expect("bounded above"), 0);
            input.read_exact(&mut pending[start..])?;
            continue;
        }
        let path = extension(&pending, b'L', b"path").unwrap_or_else(|| header.path_bytes().into());
        let allowed = if member.rootfs {
            !path.starts_with(b"/") && !path.split(|&b| b == b'/').any(|c| c == b"..")
        } else {
            inside_store(&path)
        };
        if !allowed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the entry `{}` is not inside `{}`",
                    String::from_utf8_lossy(&path),
                    if member.rootfs {
                        "/"
                    } else {
                        "opt/paks/store/"
                    }
                ),
            ));
        }
        let skipped = |p: &[u8]| {
            std::str::from_utf8(p).is_ok_and(|p| member.skip.contains(p.trim_end_matches('/')))
        };
        let drop = (kind.is_dir() && size == 0 && !seen.insert(path.clone()))
            || (!kind.is_dir() && skipped(&path));
        if drop {
            pending.clear();
            io::copy(&mut input.by_ref().take(padded), &mut io::sink())?;
            continue;
        }
        if kind.is_hard_link() {
            let target = extension(&pending, b'K', b"linkpath")
                .or_else(|| header.link_name_bytes().map(Into::into))
                .unwrap_or_default();
            if skipped(&target) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "`{}` is a hard link to `{}`, which a later package replaces",
                        String::from_utf8_lossy(&path),
                        String::from_utf8_lossy(&target)
                    ),
                ));
            }
        }
        out.write_all(&pending)?;
        pending.clear();
        out.write_all(&block)?;
        let copied = io::copy(&mut input.by_ref().take(padded), out)?;
        if copied != padded {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// The name a GNU long-name record of type `gnu` (`L` for the path, `K` for the link)
/// or a PAX `key` record in the extension blocks `pending` gives, the last one winning.
fn extension(pending: &[u8], gnu: u8, key: &[u8]) -> Option<Vec<u8>> {
    let mut found = None;
    let mut at = 0;
    while at + 512 <= pending.len() {
        let header = tar::Header::from_byte_slice(&pending[at..at + 512]);
        let size = usize::try_from(header.entry_size().ok()?).ok()?;
        let data = pending.get(at + 512..at + 512 + size)?;
        let kind = header.entry_type().as_byte();
        if kind == gnu {
            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
            found = Some(data[..end].to_vec());
        } else if kind == b'x' {
            for ext in tar::PaxExtensions::new(data).flatten() {
                if ext.key_bytes() == key {
                    found = Some(ext.value_bytes().to_vec());
                }
            }
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    found
}

/// Whether a package layer's entry name is one of the store's parents or under the store,
/// without `..`.
fn inside_store(path: &[u8]) -> bool {
    const PARENTS: [&[u8]; 3] = [b"opt/", b"opt/paks/", b"opt/paks/store/"];
    PARENTS.contains(&path)
        || (path.starts_with(b"opt/paks/store/") && !path.split(|&b| b == b'/').any(|c| c == b".."))
}

/// Read one 512-byte block; `false` at a clean end of stream.
fn read_block(input: &mut impl Read, block: &mut [u8; 512]) -> io::Result<bool> {
    let mut got = 0;
    while got < block.len() {
        match input.read(&mut block[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package-like layer: the shared parents, then a prefix with one file (and a long
    /// name, to carry a GNU extension record).
    fn layer(dir: &Path, id: &str, compression: paks_archive::Compression) -> (PathBuf, Digest) {
        let src = dir.join(format!("src-{id}"));
        let long = "d".repeat(120);
        std::fs::create_dir_all(src.join("bin").join(&long)).unwrap();
        std::fs::write(src.join("bin/tool"), id).unwrap();
        std::fs::write(src.join("bin").join(&long).join("f"), "long").unwrap();
        let path = dir.join(format!("{id}.layer"));
        let info = paks_archive::write_layer(
            &src,
            &format!("opt/paks/store/{id}"),
            compression,
            std::fs::File::create(&path).unwrap(),
        )
        .unwrap();
        (path, info.diff_id)
    }

    fn names(path: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(
            paks_archive::decompress(std::fs::File::open(path).unwrap()).unwrap(),
        );
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn recompressing_keeps_the_tar_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (zst, diff_id) = layer(
            dir.path(),
            "a",
            paks_archive::Compression::Zstd { level: 3 },
        );
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let p = repack(
            Members::One {
                blob: &zst,
                diff_id: &diff_id,
            },
            LayerCompression::Gzip,
            &out,
        )
        .unwrap();
        assert_eq!(p.diff_id, diff_id);
        let bytes = std::fs::read(&p.path).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
        assert_eq!(Digest::sha256_of(&bytes), p.digest);
        assert_eq!(p.size, bytes.len() as u64);
        let again = repack(
            Members::One {
                blob: &zst,
                diff_id: &diff_id,
            },
            LayerCompression::Gzip,
            &out,
        )
        .unwrap();
        assert_eq!(again, p);
        // A wrong diff id is caught.
        let wrong = Digest::sha256_of(b"x");
        let e = repack(
            Members::One {
                blob: &zst,
                diff_id: &wrong,
            },
            LayerCompression::Gzip,
            &out,
        )
        .unwrap_err();
        assert!(e.to_string().contains("diff id"), "{e}");
    }

    #[test]
    fn merging_refuses_entries_outside_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = paks_archive::tar_header(tar::EntryType::Regular, 0o644, 1);
        b.append_data(&mut h, "etc/passwd", &b"x"[..]).unwrap();
        let bad = dir.path().join("bad.tar");
        std::fs::write(&bad, b.into_inner().unwrap()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let e = repack(
            Members::Merge(&[MergeMember::store(bad)]),
            LayerCompression::Gzip,
            &out,
        )
        .unwrap_err();
        assert!(e.to_string().contains("`etc/passwd` is not inside"), "{e}");
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[test]
    fn merging_keeps_every_entry_and_each_shared_directory_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = layer(dir.path(), "a", paks_archive::Compression::default());
        let (b, _) = layer(
            dir.path(),
            "b",
            paks_archive::Compression::Zstd { level: 3 },
        );
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let members = [MergeMember::store(a.clone()), MergeMember::store(b.clone())];
        let p = repack(Members::Merge(&members), LayerCompression::Gzip, &out).unwrap();
        let merged = names(&p.path);
        let mut expected = names(&a);
        expected.extend(names(&b).into_iter().skip(3));
        assert_eq!(merged, expected);
        assert_eq!(
            merged.iter().filter(|n| *n == "opt/paks/store/").count(),
            1,
            "{merged:?}"
        );
        // The merged tar extracts with paks' own hostile-archive extractor.
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        paks_archive::extract_layer(
            std::fs::File::open(&p.path).unwrap(),
            &root,
            "opt/paks/store",
            &paks_archive::Limits::default(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("b/bin/tool")).unwrap(),
            "b"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("a/bin").join("d".repeat(120)).join("f")).unwrap(),
            "long"
        );
        let again = repack(Members::Merge(&members), LayerCompression::Gzip, &out).unwrap();
        assert_eq!(again.digest, p.digest);
    }
}
