//! What `paks serve` checks on `PUT /v2/<name>/manifests/<ref>`, on any body and
//! content type: refuse or list the references, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paks_types::Digest;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the Content-Type: none, the OCI types, or Docker's.
    let (kind, body) = data.split_first().unwrap_or((&0, data));
    let content_type = match kind % 5 {
        0 => None,
        1 => Some("application/vnd.oci.image.manifest.v1+json"),
        2 => Some("application/vnd.oci.image.index.v1+json"),
        3 => Some("application/vnd.docker.distribution.manifest.v2+json"),
        _ => Some("application/vnd.docker.distribution.manifest.list.v2+json"),
    };
    let digest = Digest::sha256_of(body);
    let _ = paks_registry::api::inspect_manifest(body, content_type, &digest);
});
