//! `docker-archive` tars, as `docker save` writes them since Docker 25: an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`) plus the `manifest.json` that
//! `docker load` and `podman load` read. Layers stay compressed; both loaders accept that.

use std::io::{self, Read, Write};
use std::path::Path;

use paks_oci::{ANNOTATION_REF_NAME, ImageIndex};
use serde_json::json;

use crate::ImageError;
use crate::compose::{Composed, LocalBlob};

/// Write `image` (its layers' bytes in `blobs`, in order) to `path`, atomically, naming
/// it `name` (`repo:tag`) when given. Returns the bytes written.
pub(crate) fn write(
    path: &Path,
    image: &Composed,
    blobs: &[LocalBlob],
    name: Option<&str>,
) -> Result<u64, ImageError> {
    let tmp = paks_types::fs::temp_sibling(path, "archive");
    let result = (|| {
        let file = fs_err::File::create(&tmp)?;
        let mut counted = Counted {
            inner: io::BufWriter::new(file),
            n: 0,
        };
        {
            let mut tar = tar::Builder::new(&mut counted);
            let blob_name = |d: &paks_types::Digest| format!("blobs/sha256/{}", d.hex());
            paks_archive::tar_append_dir(&mut tar, b"blobs/")?;
            paks_archive::tar_append_dir(&mut tar, b"blobs/sha256/")?;
            let mut layer_names = Vec::new();
            let mut written = std::collections::BTreeSet::new();
            for ((d, _), blob) in image.layers.iter().zip(blobs) {
                let name = blob_name(&d.digest);
                layer_names.push(name.clone());
                if !written.insert(name.clone()) {
                    continue;
                }
                match blob {
                    LocalBlob::File(p) => {
                        let f = fs_err::File::open(p)?;
                        let size = f.metadata()?.len();
                        append(&mut tar, &name, size, f)?;
                    }
                    LocalBlob::Bytes(b) => append(&mut tar, &name, b.len() as u64, b.as_slice())?,
                }
            }
            let config_digest = paks_types::Digest::sha256_of(&image.config);
            append(
                &mut tar,
                &blob_name(&config_digest),
                image.config.len() as u64,
                image.config.as_slice(),
            )?;
            append(
                &mut tar,
                &blob_name(&image.digest),
                image.manifest.len() as u64,
                image.manifest.as_slice(),
            )?;
            let mut descriptor = image.descriptor();
            if let Some(n) = name {
                descriptor
                    .annotations
                    .insert(ANNOTATION_REF_NAME.to_owned(), n.to_owned());
                descriptor
                    .annotations
                    .insert("io.containerd.image.name".to_owned(), n.to_owned());
            }
            let index = ImageIndex {
                manifests: vec![descriptor],
                ..ImageIndex::default()
            }
            .to_bytes();
            append(&mut tar, "index.json", index.len() as u64, index.as_slice())?;
            let manifest = serde_json::to_vec(&json!([{
                "Config": blob_name(&config_digest),
                "RepoTags": name.map(|n| vec![n.to_owned()]).unwrap_or_default(),
                "Layers": layer_names,
            }]))
            .expect("JSON serialises");
            append(
                &mut tar,
                "manifest.json",
                manifest.len() as u64,
                manifest.as_slice(),
            )?;
            let marker = br#"{"imageLayoutVersion":"1.0.0"}"#;
            append(&mut tar, "oci-layout", marker.len() as u64, &marker[..])?;
            tar.finish()?;
        }
        let n = counted.n;
        let file = counted
            .inner
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok::<_, ImageError>(n)
    })();
    match result {
        Ok(n) => {
            fs_err::rename(&tmp, path)?;
            paks_types::fs::fsync_parent(path)?;
            Ok(n)
        }
        Err(e) => {
            let _ = fs_err::remove_file(&tmp);
            Err(e)
        }
    }
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = paks_archive::tar_header(tar::EntryType::Regular, 0o644, size);
    tar.append_data(&mut header, name, data)
}

struct Counted<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
