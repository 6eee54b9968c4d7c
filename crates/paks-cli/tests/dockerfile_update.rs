//! `paks dockerfile update`: each `FROM` moved to the newest compatible tag and pinned to
//! the digest of its image index, the final stage's `org.opencontainers.image.base.*`
//! labels rewritten, every other byte kept; against `paks serve` and Debian's
//! `docker-registry` holding multi-arch images pushed with skopeo, and built with buildah.

mod common;

use std::path::Path;

use common::{Env, text};
use paks_types::Digest;
use serde_json::{Value, json};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const NAME: &str = "org.opencontainers.image.base.name";
const DIGEST: &str = "org.opencontainers.image.base.digest";

/// The tags of `acme/python` in the test registries: each a distinct two-platform index.
const TAGS: &[&str] = &[
    "3.12-slim",
    "3.13-slim",
    "3.14-slim",
    "4.0-slim",
    "3.12.1-slim",
    "3.12.3-slim",
    "3.13.0-slim",
    "3.12-alpine3.19",
    "3.13-alpine3.19",
    "3.13-alpine3.20",
    "3.15.0rc1-slim",
    "latest",
];

/// A registry holding `acme/python` at every tag of [`TAGS`], and the index digest of each.
struct Images {
    host: String,
    digests: std::collections::HashMap<&'static str, String>,
}

impl Images {
    /// Push every tag of [`TAGS`] to the registry at `host` with `skopeo copy --all`.
    fn push(host: &str) -> Self {
        let layout = tempfile::tempdir().unwrap();
        let mut digests = std::collections::HashMap::new();
        for tag in TAGS {
            let digest = multiarch_layout(layout.path(), tag);
            paks_testkit::skopeo(&[
                "copy",
                "--all",
                "--dest-tls-verify=false",
                &format!("oci:{}:{tag}", layout.path().display()),
                &format!("docker://{host}/acme/python:{tag}"),
            ]);
            digests.insert(*tag, digest.to_string());
        }
        Self {
            host: host.to_owned(),
            digests,
        }
    }

    /// `HOST/acme/python`.
    fn repo(&self) -> String {
        format!("{}/acme/python", self.host)
    }

    /// `HOST/acme/python:TAG`.
    fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repo())
    }

    /// `HOST/acme/python:TAG@sha256:…`, pinned to the tag's index.
    fn pinned(&self, tag: &str) -> String {
        format!("{}@{}", self.image(tag), self.digest(tag))
    }

    fn digest(&self, tag: &str) -> &str {
        &self.digests[tag]
    }
}

/// Add to the OCI layout in `dir`, under `tag`, an image index over two manifests of the
/// static busybox image: the host's platform (runnable) and the other of amd64/arm64
/// (the same layer, a config naming that architecture). The index is annotated with its
/// tag, so that each tag has its own digest. Returns the index's digest.
fn multiarch_layout(dir: &Path, tag: &str) -> Digest {
    let host = paks_testkit::busybox_layout(dir, &format!("{tag}-host"));
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
    };
    let put = |bytes: &[u8]| {
        let digest = Digest::sha256_of(bytes);
        std::fs::write(dir.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
        digest
    };
    let host_manifest = blob(&host.to_string());
    let manifest: Value = serde_json::from_slice(&host_manifest).unwrap();
    let mut config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let host_arch = config["architecture"].as_str().unwrap().to_owned();
    let other_arch = if host_arch == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    config["architecture"] = other_arch.into();
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = put(&config);
    let mut other = manifest.clone();
    other["config"] =
        json!({"mediaType": CONFIG, "digest": config_digest.to_string(), "size": config.len()});
    let other = serde_json::to_vec(&other).unwrap();
    let other_digest = put(&other);
    let entry = |digest: &Digest, size: usize, arch: &str| {
        json!({"mediaType": MANIFEST, "digest": digest.to_string(), "size": size,
               "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            entry(&host, host_manifest.len(), &host_arch),
            entry(&other_digest, other.len(), other_arch),
        ],
        "annotations": {"org.example.tag": tag},
    }))
    .unwrap();
    let digest = put(&index);
    let index_json = dir.join("index.json");
    let mut layout: Value = serde_json::from_slice(&std::fs::read(&index_json).unwrap()).unwrap();
    layout["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": INDEX,
        "digest": digest.to_string(),
        "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }));
    std::fs::write(&index_json, serde_json::to_vec(&layout).unwrap()).unwrap();
    digest
}
