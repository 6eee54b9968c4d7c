//! `oci-archive:` files (a tar of an OCI image layout, as skopeo writes them, and as a
//! `.pak` is): unpacked into a layout directory to read, packed from one to write.

use std::io::{self, Read, Write};
use std::path::Path;

use paks_types::{Digest, DigestAlgorithm};

use crate::error::{ErrorKind, OciError, io_err};
use crate::hash::StreamHasher;
use crate::layout::Layout;

/// `oci-layout` and `index.json` larger than this are refused.
const METADATA_LIMIT: u64 = 16 << 20;

fn archive_err(file: &Path, reason: impl Into<String>) -> OciError {
    ErrorKind::Layout {
        path: file.to_owned(),
        reason: reason.into(),
    }
    .into()
}

/// What an archive member is, if it is part of a layout: `oci-layout`, `index.json`, or
/// a blob whose name is its digest. Every other member is skipped, so that nothing but
/// these names, built here, is ever written.
enum Member {
    Marker,
    Index,
    Blob(Digest),
}

fn member(name: &str) -> Option<Member> {
    let name = name.trim_start_matches("./");
    match name {
        "oci-layout" => return Some(Member::Marker),
        "index.json" => return Some(Member::Index),
        _ => {}
    }
    let rest = name.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    format!("{algorithm}:{hex}").parse().ok().map(Member::Blob)
}

/// Unpack the OCI image layout in the tar `file` into the empty or missing directory
/// `dir`, verifying every blob's digest, and open it.
pub fn unpack_archive(file: &Path, dir: &Path) -> Result<Layout, OciError> {
    let reader = fs_open(file)?;
    let mut archive = tar::Archive::new(io::BufReader::new(reader));
    let read_err = io_err("failed to read the archive", file);
    for blobs in ["blobs/sha256", "blobs/sha512"] {
        let d = dir.join(blobs);
        std::fs::create_dir_all(&d).map_err(io_err("failed to create the directory", &d))?;
    }
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(io_err("failed to read the archive", file))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(kind) = member(&name) else { continue };
        let size = entry
            .header()
            .size()
            .map_err(io_err("failed to read the archive", file))?;
        let (dest, expected) = match &kind {
            Member::Marker | Member::Index if size > METADATA_LIMIT => {
                return Err(archive_err(
                    file,
                    format!("`{name}` is larger than {METADATA_LIMIT} bytes"),
                ));
            }
            Member::Marker => (dir.join("oci-layout"), None),
            Member::Index => (dir.join("index.json"), None),
            Member::Blob(d) => (
                dir.join("blobs").join(d.algorithm().as_str()).join(d.hex()),
                Some(d),
            ),
        };
        let mut out = std::fs::File::create(&dest).map_err(io_err("failed to create", &dest))?;
        let mut hasher = expected.map(|d| StreamHasher::new(d.algorithm()));
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(io_err("failed to read the archive", file))?;
            if n == 0 {
                break;
            }
            if let Some(h) = &mut hasher {
                h.update(&buf[..n]);
            }
            out.write_all(&buf[..n])
                .map_err(io_err("failed to write", &dest))?;
        }
        if let (Some(h), Some(expected)) = (hasher, expected) {
            let actual = h.finish();
            if &actual != expected {
                return Err(archive_err(
                    file,
                    format!("the blob `{name}` has digest `{actual}`"),
                ));
            }
        }
    }
    Layout::open(dir).map_err(|e| match e.kind() {
        ErrorKind::Layout { reason, .. } => archive_err(file, reason.clone()),
        _ => e,
    })
}

fn fs_open(file: &Path) -> Result<std::fs::File, OciError> {
    std::fs::File::open(file).map_err(io_err("failed to open", file))
}

/// Write the layout in `dir` as the tar `file`, atomically: `oci-layout`, `index.json`,
/// then the blobs in name order, with fixed owners, modes and times, so that the same
/// layout gives the same bytes.
pub fn pack_archive(dir: &Path, file: &Path) -> Result<(), OciError> {
    let mut names = vec!["oci-layout".to_owned(), "index.json".to_owned()];
    for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
        let blobs = dir.join("blobs").join(algorithm.as_str());
        let Ok(read) = std::fs::read_dir(&blobs) else {
            continue;
        };
        let mut hexes = Vec::new();
        for e in read {
            let e = e.map_err(io_err("failed to read the directory", &blobs))?;
            hexes.push(e.file_name().to_string_lossy().into_owned());
        }
        hexes.sort();
        names.extend(
            hexes
                .into_iter()
                .map(|h| format!("blobs/{}/{h}", algorithm.as_str())),
        );
    }
    // Errors inside are about the archive being written (a blob that vanished
    // included); they name it.
    paks_types::fs::write_atomic_with(file, |out| -> io::Result<()> {
        let mut tar = tar::Builder::new(io::BufWriter::new(out));
        for dir_name in ["blobs", "blobs/sha256", "blobs/sha512"] {
            if dir.join(dir_name).is_dir() {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut h, format!("{dir_name}/"), io::empty())?;
            }
        }
        for name in &names {
            let f = std::fs::File::open(dir.join(name))?;
            let mut h = header(tar::EntryType::Regular, 0o644, f.metadata()?.len());
            tar.append_data(&mut h, name, f)?;
        }
        tar.into_inner()?.flush()
    })
    .map_err(io_err("failed to write the archive", file))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks_a_layout_and_refuses_a_wrong_blob() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let layout = Layout::create(&src).unwrap();
        let digest = layout.write_blob_bytes(b"{}").unwrap();
        layout
            .add_manifest(
                crate::Descriptor::new(crate::OCI_MANIFEST, digest.clone(), 2),
                Some("v1"),
            )
            .unwrap();
        let file = tmp.path().join("a.tar");
        pack_archive(&src, &file).unwrap();
        let again = tmp.path().join("b.tar");
        pack_archive(&src, &again).unwrap();
        assert_eq!(
            std::fs::read(&file).unwrap(),
            std::fs::read(&again).unwrap()
        );

        let out = unpack_archive(&file, &tmp.path().join("out")).unwrap();
        assert_eq!(out.resolve("v1").unwrap().digest, digest);
        assert_eq!(out.read_blob(&digest).unwrap(), b"{}");

        // A blob whose content is not its name is refused.
        std::fs::write(src.join("blobs/sha256").join(digest.hex()), b"[]").unwrap();
        pack_archive(&src, &file).unwrap();
        let e = unpack_archive(&file, &tmp.path().join("bad")).unwrap_err();
        assert!(e.to_string().contains("has digest"), "{e}");
    }
}
