//! A server on 127.0.0.1:0 over a temporary data directory (or a bucket of a Garage
//! cluster: the test binary's `BACKEND` says which), and a client for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use paks_registry::auth::AccessControl;
use paks_registry::storage::{FsStorage, Location, S3Config, Storage};
use paks_types::Digest;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use tempfile::TempDir;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

pub struct Server {
    pub base: String,
    pub dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a spec error: the status and the code in a `{"errors":[…]}` body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        let errors = body["errors"].as_array().expect("an `errors` array");
        assert_eq!(errors[0]["code"], code, "{body}");
        assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    /// Asserts a status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

/// The storage the scenarios of a test binary run on: each binary's `main.rs` sets
/// `const BACKEND`, so the same scenarios run on every backend without a copy.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code, reason = "each test binary constructs one variant")]
pub enum Backend {
    /// [`FsStorage`] in the server's temporary directory.
    Dir,
    /// `S3Storage` on the binary's shared Garage cluster (`Garage::shared`), under a key
    /// prefix named after the server's temporary directory (so a server started again on
    /// the same directory finds the same data, and no two servers share any).
    Garage,
}

/// The storage for a server whose temporary directory is `dir`.
fn open_storage(dir: &Path) -> Arc<dyn Storage> {
    match crate::BACKEND {
        Backend::Dir => Arc::new(FsStorage::open(dir).unwrap()),
        Backend::Garage => {
            let garage = paks_testkit::Garage::shared();
            let name = dir.file_name().unwrap().to_string_lossy();
            let prefix = format!("spec-{}", name.trim_start_matches('.'));
            let creds = garage.credentials();
            let config = S3Config::parse(&garage.storage_url(0, &prefix), |name| {
                creds
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            })
            .unwrap();
            paks_registry::storage::open(&Location::S3(config)).unwrap()
        }
    }
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(AccessControl::open(), None).await
    }

    pub async fn start_with(access: AccessControl, static_dir: Option<PathBuf>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, access, static_dir).await
    }

    pub async fn start_in(
        dir: TempDir,
        access: AccessControl,
        static_dir: Option<PathBuf>,
    ) -> Self {
        let storage = open_storage(dir.path());
        let app = paks_registry::server::app(storage, Arc::new(access), static_dir, false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            dir,
            stop: Some(stop),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut req = self.http.request(method, self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.unwrap();
        Answer {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn head(&self, path: &str) -> Answer {
        self.send(Method::HEAD, path, &[], None).await
    }

    /// Opens an upload session and returns its Location.
    pub async fn start_upload(&self, repo: &str) -> String {
        let a = self
            .send(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                None,
            )
            .await;
        a.assert_status(202);
        a.header("location").expect("a Location").to_owned()
    }

    /// Pushes a blob with POST then PUT; returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::sha256_of(bytes);
        let location = self.start_upload(repo).await;
        let a = self
            .send(
                Method::PUT,
                &with_query(&location, &format!("digest={digest}")),
                &[("content-type", "application/octet-stream")],
                Some(bytes.to_vec()),
            )
            .await;
        a.assert_status(201);
        digest
    }

    /// Asserts a `201 Created` for blob `digest` of `repo` (Location, digest header), and
    /// that the blob now reads back as `bytes`.
    pub async fn assert_blob_created(&self, a: &Answer, repo: &str, digest: &Digest, bytes: &[u8]) {
        a.assert_status(201);
        let location = format!("/v2/{repo}/blobs/{digest}");
        assert_eq!(a.header("location"), Some(location.as_str()));
        assert_eq!(
            a.header("docker-content-digest"),
            Some(digest.to_string().as_str())
        );
        assert_eq!(self.get(&location).await.body, bytes);
    }

    /// Pushes a manifest; returns the response.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Answer {
        self.send(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            Some(bytes.to_vec()),
        )
        .await
    }

    /// Pushes an image (empty config + one layer holding `content`) under `tag`;
    /// returns the manifest's bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, content: &[u8]) -> (Vec<u8>, Digest) {
        let config = self.push_blob(repo, b"{}").await;
        let layer = self.push_blob(repo, content).await;
        let manifest = image_manifest(&config, &[(&layer, content.len())], None, None);
        let a = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        a.assert_status(201);
        let digest = Digest::sha256_of(&manifest);
        (manifest, digest)
    }
}

/// Appends a query to a Location that may already have one.
pub fn with_query(location: &str, query: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}{query}")
}

/// An OCI image manifest over the empty config.
pub fn image_manifest(
    config: &Digest,
    layers: &[(&Digest, usize)],
    subject: Option<(&Digest, usize)>,
    artifact_type: Option<&str>,
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": EMPTY_CONFIG, "digest": config.to_string(), "size": 2},
        "layers": layers.iter().map(|(d, n)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": n
        })).collect::<Vec<_>>(),
    });
    if let Some((d, n)) = subject {
        m["subject"] =
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": n});
    }
    if let Some(t) = artifact_type {
        m["artifactType"] = serde_json::json!(t);
    }
    serde_json::to_vec(&m).unwrap()
}
