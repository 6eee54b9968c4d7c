//! An image of several uncompressed tar layers, each holding the files it is given: for
//! tests that push many blobs of chosen sizes (a registry's chunked and multipart paths).

use std::path::Path;

use paks_types::Digest;
use serde_json::json;

use crate::busybox::{
    OCI_CONFIG, OCI_MANIFEST, descriptor, header, put_blob, tag_in_layout, to_vec,
};

const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Write (or add to) an OCI image layout in `dir` with, under `tag`, a linux image of one
/// uncompressed tar layer per entry of `layers`, each holding its `(path, content)` files
/// (mode 0644, parent directories not included: give them as paths ending in `/` with
/// empty content). umoci unpacks it. Returns the manifest's digest.
pub fn layered_layout(dir: &Path, tag: &str, layers: &[&[(&str, &[u8])]]) -> Digest {
    let mut blobs = Vec::new();
    for files in layers {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in *files {
            let mut h = if path.ends_with('/') {
                header(tar::EntryType::Directory, 0o755)
            } else {
                header(tar::EntryType::Regular, 0o644)
            };
            h.set_size(content.len() as u64);
            h.set_cksum();
            b.append_data(&mut h, path, *content)
                .expect("tar in memory");
        }
        blobs.push(b.into_inner().expect("tar in memory"));
    }
    let config = to_vec(&json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": blobs.iter().map(|l| Digest::sha256_of(l).to_string()).collect::<Vec<_>>(),
        },
    }));
    let manifest = to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": blobs.iter().map(|l| descriptor(OCI_LAYER_TAR, l)).collect::<Vec<_>>(),
    }));
    for blob in blobs.iter().chain([&config]) {
        put_blob(dir, blob);
    }
    tag_in_layout(dir, tag, OCI_MANIFEST, &manifest)
}
