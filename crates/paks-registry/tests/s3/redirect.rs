//! Blob `GET`s answered with a redirect to a presigned URL (`presign=` in the storage URL):
//! skopeo follows it and fetches the bytes from elsewhere, and the registry sends none.
//!
//! The presigning storage here is the filesystem storage whose `blob_url` points at a
//! plain web server over its blob files: what is tested is the registry's side (the link
//! check, the 307, HEAD and ranges, what real clients do with it).

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use paks_registry::auth::AccessControl;
use paks_registry::names::RepoName;
use paks_registry::storage::{
    BlobInfo, BlobReader, Collection, Descriptor, FsStorage, Leftover, ManifestRefs, Result,
    Storage, StoredManifest, UploadId, UploadInfo, UploadWriter,
};
use paks_testkit::raw_http::{exchange, header};
use paks_testkit::{HttpServer, busybox_layout, skopeo};
use paks_types::Digest;

/// Filesystem storage that offers presigned-style URLs: `BASE/blobs/sha256/xx/HEX`.
struct Presigning {
    inner: FsStorage,
    base: String,
}

impl Storage for Presigning {
    fn blob_url(&self, _repo: &RepoName, digest: &Digest) -> Result<Option<String>> {
        let hex = digest.hex();
        Ok(Some(format!(
            "{}/blobs/{}/{}/{hex}",
            self.base,
            digest.algorithm().as_str(),
            &hex[..2]
        )))
    }
    fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        self.inner.blob_size(repo, digest)
    }
    fn open_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<BlobReader>> {
        self.inner.open_blob(repo, digest)
    }
    fn mount_blob(&self, from: &RepoName, to: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        self.inner.mount_blob(from, to, digest)
    }
    fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        self.inner.delete_blob(repo, digest)
    }
    fn start_upload(&self, repo: &RepoName) -> Result<UploadId> {
        self.inner.start_upload(repo)
    }
    fn upload_size(&self, repo: &RepoName, id: &str) -> Result<Option<u64>> {
        self.inner.upload_size(repo, id)
    }
    fn upload_writer(&self, repo: &RepoName, id: &str) -> Result<Box<dyn UploadWriter>> {
        self.inner.upload_writer(repo, id)
    }
    fn commit_upload(&self, repo: &RepoName, id: &str, expected: &Digest) -> Result<u64> {
        self.inner.commit_upload(repo, id, expected)
    }
    fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<bool> {
        self.inner.cancel_upload(repo, id)
    }
    fn get_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<StoredManifest>> {
        self.inner.get_manifest(repo, digest)
    }
    fn put_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tags: &[&str],
    ) -> Result<()> {
        self.inner.put_manifest(repo, digest, manifest, refs, tags)
    }
    fn resolve_tag(&self, repo: &RepoName, tag: &str) -> Result<Option<Digest>> {
        self.inner.resolve_tag(repo, tag)
    }
    fn list_tags(&self, repo: &RepoName) -> Result<Option<Vec<String>>> {
        self.inner.list_tags(repo)
    }
    fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        self.inner.delete_manifest(repo, digest)
    }
    fn delete_tag(&self, repo: &RepoName, tag: &str) -> Result<bool> {
        self.inner.delete_tag(repo, tag)
    }
    fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Descriptor>> {
        self.inner.referrers(repo, subject)
    }
    fn list_repositories(&self) -> Result<Vec<RepoName>> {
        self.inner.list_repositories()
    }
    fn list_manifests(&self, repo: &RepoName) -> Result<Vec<Digest>> {
        self.inner.list_manifests(repo)
    }
    fn list_blobs(&self) -> Result<Vec<BlobInfo>> {
        self.inner.list_blobs()
    }
    fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        self.inner.list_uploads()
    }
    fn list_linked_blobs(&self, repo: &RepoName) -> Result<Vec<Digest>> {
        self.inner.list_linked_blobs(repo)
    }
    fn begin_collection(&self) -> Result<Box<dyn Collection + '_>> {
        self.inner.begin_collection()
    }
    fn find_leftovers(&self, before: SystemTime) -> Result<Vec<Leftover>> {
        self.inner.find_leftovers(before)
    }
    fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        self.inner.remove_leftover(leftover)
    }
    fn rehash_blob(&self, digest: &Digest) -> Result<Digest> {
        self.inner.rehash_blob(digest)
    }
}

/// Serves `storage` on 127.0.0.1 from a runtime of its own; returns the address.
fn serve(storage: Arc<dyn Storage>) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = paks_registry::server::app(storage, Arc::new(AccessControl::open()), None, false);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    (addr, runtime)
}

/// `paks_registry_sent_bytes_total` of the registry at `addr`.
fn sent_bytes(addr: std::net::SocketAddr) -> u64 {
    let (_, _, body) = exchange(addr, "GET", "/metrics", &[], b"");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("paks_registry_sent_bytes_total "))
        .expect("the sent-bytes counter")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn blob_gets_redirect_to_the_presigned_url_and_skopeo_pulls_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let inner = FsStorage::open(&data).unwrap();
    let files = HttpServer::start(&data);
    let storage = Presigning {
        inner,
        base: files.url(),
    };
    let (addr, _runtime) = serve(Arc::new(storage));
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{addr}/acme/busybox:1"),
    ]);

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest: Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(manifest_digest.hex())).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let size = manifest["layers"][0]["size"].as_u64().unwrap();

    // GET: a 307 to the URL, with the digest and no body; a range goes there too.
    for range in [None, Some("bytes=0-9")] {
        let headers: Vec<(&str, &str)> = range.iter().map(|r| ("Range", *r)).collect();
        let (status, head, body) = exchange(
            addr,
            "GET",
            &format!("/v2/acme/busybox/blobs/{layer}"),
            &headers,
            b"",
        );
        assert_eq!(status, 307, "{head}");
        let location = header(&head, "location").unwrap();
        assert!(location.starts_with(&files.url()), "{location}");
        assert!(location.ends_with(layer.strip_prefix("sha256:").unwrap()));
        assert_eq!(header(&head, "docker-content-digest"), Some(layer));
        assert!(body.is_empty());
    }
    // HEAD is answered by the registry itself (size and digest, nothing to fetch).
    let (status, head, _) = exchange(
        addr,
        "HEAD",
        &format!("/v2/acme/busybox/blobs/{layer}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header(&head, "content-length"),
        Some(size.to_string().as_str())
    );
    // A blob not linked in the repository gets no URL, whatever the storage offers.
    let (status, head, _) = exchange(
        addr,
        "GET",
        &format!("/v2/acme/other/blobs/{layer}"),
        &[],
        b"",
    );
    assert_eq!(status, 404, "{head}");
    assert_eq!(header(&head, "location"), None);

    // skopeo pulls the image back, byte for byte, with no blob body sent by the registry.
    let before = sent_bytes(addr);
    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{addr}/acme/busybox:1"),
        &format!("oci:{}:1", back.display()),
    ]);
    let pulled = std::fs::read(Path::new(&back).join("blobs/sha256").join(&layer[7..])).unwrap();
    assert_eq!(pulled.len() as u64, size);
    let sent = sent_bytes(addr) - before;
    assert!(
        sent < size,
        "the registry sent {sent} bytes for a pull whose layer alone is {size}"
    );
}
