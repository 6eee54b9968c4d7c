//! A small multi-platform image: an OCI image index over two platform manifests
//! (`linux/amd64` and `linux/arm64`), each with one uncompressed tar layer holding one
//! file. What `skopeo copy --all` pushes as a multi-arch tag, as Docker Hub's official
//! images are.

use std::path::Path;

use paks_types::Digest;
use serde_json::json;

use crate::busybox::{
    OCI_CONFIG, OCI_MANIFEST, descriptor, header, put_blob, tag_in_layout, to_vec,
};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Write (or add to) an OCI image layout in `dir` with, under `tag`, an image index of
/// two platform images (`linux/amd64`, `linux/arm64`) whose layers hold `/etc/release`
/// with `content` and the platform: different `content` gives different digests, the
/// same gives the same ones. Returns the index's digest.
pub fn multi_arch_layout(dir: &Path, tag: &str, content: &str) -> Digest {
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let text = format!("{content} {arch}\n");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Directory, 0o755);
        b.append_data(&mut h, "etc/", std::io::empty())
            .expect("tar in memory");
        let mut h = header(tar::EntryType::Regular, 0o644);
        h.set_size(text.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, "etc/release", text.as_bytes())
            .expect("tar in memory");
        let layer = b.into_inner().expect("tar in memory");
        let config = to_vec(&json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&layer).to_string()]},
        }));
        let manifest = to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": [descriptor(OCI_LAYER_TAR, &layer)],
        }));
        for blob in [&layer, &config, &manifest] {
            put_blob(dir, blob);
        }
        let mut entry = descriptor(OCI_MANIFEST, &manifest);
        entry["platform"] = json!({"os": "linux", "architecture": arch});
        manifests.push(entry);
    }
    let index = to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }));
    tag_in_layout(dir, tag, OCI_INDEX, &index)
}
