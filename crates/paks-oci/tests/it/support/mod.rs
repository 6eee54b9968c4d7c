//! Test harness: servers on 127.0.0.1 (a token service, a recording proxy, a
//! fault-injecting HTTP server), stopped when dropped; and small images to move around.
//! Debian's `docker-registry` comes from `paks-testkit`.

#![allow(dead_code)] // Not every test module uses every helper.

pub mod proxy;
pub mod server;
pub mod token;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use paks_oci::{
    Client, ClientConfig, Credentials, Descriptor, Digest, ImageManifest, OCI_CONFIG, OCI_MANIFEST,
};

/// A client for loopback registries, with quick retries.
pub fn client(credentials: Credentials) -> Client {
    client_with(ClientConfig {
        credentials,
        ..ClientConfig::default()
    })
}

pub fn client_with(config: ClientConfig) -> Client {
    Client::new(ClientConfig {
        retry_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        ..config
    })
    .unwrap()
}

/// `n` pseudo-random bytes (xorshift, seeded).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A progress callback and the total it saw.
pub fn progress_counter() -> (Arc<AtomicU64>, impl Fn(u64) + Send + Sync) {
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    (total, move |n| {
        t.fetch_add(n, Ordering::Relaxed);
    })
}

/// A small, valid, single-layer image: a gzip tar layer holding `hello.txt` (gzip, as
/// skopeo would otherwise compress it and change the digests).
pub struct TestImage {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub fn new(text: &str) -> Self {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, "hello.txt", text.as_bytes())
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let diff_id = Digest::sha256_of(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let layer = gz.finish().unwrap();
        let layer_digest = Digest::sha256_of(&layer);
        let config = serde_json::to_vec(&serde_json::json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "paks test"}],
        }))
        .unwrap();
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(OCI_CONFIG, Digest::sha256_of(&config), config.len() as u64),
            layers: vec![Descriptor::new(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                layer_digest,
                layer.len() as u64,
            )],
            subject: None,
            annotations: [("org.opencontainers.image.title".to_owned(), text.to_owned())].into(),
        }
        .to_bytes();
        Self {
            layer,
            config,
            manifest,
        }
    }

    pub fn manifest_digest(&self) -> Digest {
        Digest::sha256_of(&self.manifest)
    }

    /// Push the blobs and the manifest (by `tag`); returns the manifest digest.
    pub async fn push(&self, client: &Client, repo: &paks_oci::Repository, tag: &str) -> Digest {
        client.push_blob_bytes(repo, &self.config).await.unwrap();
        client.push_blob_bytes(repo, &self.layer).await.unwrap();
        client
            .put_manifest(&repo.reference_tag(tag), OCI_MANIFEST, &self.manifest)
            .await
            .unwrap()
    }
}

/// Names of the entries of `dir`.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
