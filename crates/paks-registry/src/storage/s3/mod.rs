//! The object-storage backend: a registry's data in a bucket reached over the S3 API
//! (`object_store`), so that several `paks serve` replicas can share it
//! (docs/scale-out.md).
//!
//! ```text
//! PREFIX/blobs/<alg>/<hex>                              content, by digest, for all repositories
//! PREFIX/repos/<repo>/_blobs/<alg>/<hex>                empty object: the blob is in the repository
//! PREFIX/repos/<repo>/_manifests/<alg>/<hex>            the manifest's media type
//! PREFIX/repos/<repo>/_tags/<tag>                       the digest the tag points at
//! PREFIX/repos/<repo>/_referrers/<alg>/<hex>/<alg>-<hex>.json   a referrer's descriptor
//! PREFIX/uploads/<id>/…                                 upload sessions (`upload.rs`)
//! PREFIX/gc/…                                           collections and touches (`collect.rs`)
//! PREFIX/probes/<uuid>                                  the conditional-write probe at open, removed
//! ```
//!
//! Every fact is its own object, so no write reads, modifies and writes back a shared
//! object: concurrent writers through any number of replicas never lose each other's
//! updates, even on stores without conditional writes (Garage 2.5 ignores `If-Match` and
//! `If-None-Match` on `PutObject`). Where the store honours them (a probe at open tells:
//! [`S3Storage::honours_conditional_writes`]), conditional tag writes are compare-and-swap
//! across replicas (`conditional.rs`); elsewhere (Garage) they are atomic only among the
//! writers of one process, and replicas racing on one tag's condition may both succeed.
//!
//! The [`Storage`] trait is blocking; `object_store` is async. Calls run on a small runtime
//! owned by the storage and the calling (blocking) thread waits for them, so the storage
//! works from tokio's blocking pool, from plain threads and from `paks serve gc` alike.

mod blobs;
mod collect;
mod conditional;
mod keys;
mod manifests;
mod objects;
mod reader;
mod upload;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer as _;
use paks_types::Digest;

use super::{
    BlobInfo, BlobReader, Collection, Descriptor, Leftover, ManifestRefs, Result, Storage,
    StorageError, StoredManifest, TagCondition, TagWrite, UploadId, UploadInfo, UploadWriter,
};
use crate::names::RepoName;

/// Where a registry's data lives in object storage, parsed from
/// `s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME&presign=SECONDS]`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Every key starts with this (no leading or trailing `/`; empty for none).
    pub prefix: String,
    /// The S3 endpoint (`http://127.0.0.1:3900` for a local Garage); AWS when absent.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Answer blob `GET`s with a redirect to a URL presigned for this long (opt-in).
    pub presign: Option<Duration>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("presign", &self.presign)
            .finish_non_exhaustive()
    }
}

/// The environment variables the credentials come from (the AWS tools' names).
pub const ACCESS_KEY_ENV: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";

/// A storage location that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("`{location}` is not a usable storage location: {reason}")]
pub struct S3ConfigError {
    pub location: String,
    pub reason: String,
}

impl S3Config {
    /// Parses `s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME&presign=SECONDS]`; the
    /// credentials come from `env` ([`ACCESS_KEY_ENV`], [`SECRET_KEY_ENV`]).
    pub fn parse(
        location: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, S3ConfigError> {
        let fail = |reason: &str| S3ConfigError {
            location: location.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = location
            .strip_prefix("s3://")
            .ok_or_else(|| fail("it does not start with `s3://`"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(fail("it names no bucket"));
        }
        let mut config = Self {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoint: None,
            region: "us-east-1".to_owned(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            presign: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "endpoint" => config.endpoint = Some(value.to_owned()),
                "region" => value.clone_into(&mut config.region),
                "presign" => {
                    let secs: u64 = value
                        .parse()
                        .map_err(|_| fail("`presign` takes a number of seconds"))?;
                    config.presign = Some(Duration::from_secs(secs));
                }
                other => {
                    return Err(fail(&format!(
                        "`{other}` is not one of `endpoint`, `region`, `presign`"
                    )));
                }
            }
        }
        config.access_key_id =
            env(ACCESS_KEY_ENV).ok_or_else(|| fail(&format!("`{ACCESS_KEY_ENV}` is not set")))?;
        config.secret_access_key =
            env(SECRET_KEY_ENV).ok_or_else(|| fail(&format!("`{SECRET_KEY_ENV}` is not set")))?;
        Ok(config)
    }
}

/// Registry data in an S3 bucket.
pub struct S3Storage {
    config: S3Config,
    store: Arc<AmazonS3>,
    /// Runs the store's futures; shut down in the background on drop (dropping a runtime
    /// inside another's async context would panic).
    runtime: Option<tokio::runtime::Runtime>,
    /// The upload sessions this process is writing or committing (`upload.rs`).
    busy: Arc<upload::Busy>,
    /// Whether the store honours conditional `PutObject`s (probed at open).
    conditional: bool,
}

impl S3Storage {
    /// Connects to the bucket (checking that it answers) with a runtime of its own.
    pub fn open(config: S3Config) -> Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                // Garage, MinIO and most self-hosted stores take path-style requests.
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| StorageError::io("configure the S3 client", std::io::Error::other(e)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("paks-s3")
            .enable_all()
            .build()
            .map_err(|e| StorageError::io("start the S3 client's runtime", e))?;
        let mut storage = Self {
            config,
            store: Arc::new(store),
            runtime: Some(runtime),
            busy: Arc::default(),
            conditional: false,
        };
        storage.check_reachable()?;
        let (store, probe) = (
            storage.store(),
            storage.key(&keys::probe(&uuid::Uuid::new_v4().to_string())),
        );
        storage.conditional =
            storage.run(async move { conditional::honours_conditions(&*store, &probe).await })?;
        tracing::info!(
            bucket = %storage.config.bucket,
            conditional_writes = storage.conditional,
            "{}",
            if storage.conditional {
                "the object store honours conditional writes: conditional tag writes are compare-and-swap across replicas"
            } else {
                "the object store ignores conditional writes: conditional tag writes are serialised per process only"
            }
        );
        Ok(storage)
    }

    /// Whether the store honours `If-Match` / `If-None-Match` on `PutObject` (probed when
    /// the storage opened), so that conditional tag writes hold across replicas.
    pub fn honours_conditional_writes(&self) -> bool {
        self.conditional
    }

    /// Fails unless the bucket answers (a missing key is an answer).
    fn check_reachable(&self) -> Result<()> {
        let store = self.store();
        let key = self.key("paks-registry");
        match self.run(async move { object_store::ObjectStoreExt::head(&*store, &key).await }) {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::io(
                format!("reach the bucket `{}`", self.config.bucket),
                std::io::Error::other(e),
            )),
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The object store (for the modules of this backend).
    fn store(&self) -> Arc<AmazonS3> {
        Arc::clone(&self.store)
    }

    /// The key `rel` under the configured prefix.
    fn key(&self, rel: &str) -> ObjectPath {
        key_in(&self.config.prefix, rel)
    }

    /// The storage's runtime, for readers that outlive a call.
    fn handle(&self) -> tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the storage")
            .handle()
            .clone()
    }

    /// Runs `future` on the storage's runtime and waits for it. Must not be called from an
    /// async context (the [`Storage`] contract: calls block).
    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        run_on(&self.runtime_handle(), future)
            .expect("the storage's runtime finishes what it starts")
    }

    /// A handle on the storage's runtime, for writers that outlive a call.
    fn runtime_handle(&self) -> tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the storage")
            .handle()
            .clone()
    }
}

/// Runs `future` on `runtime` and waits for it; `None` if the runtime shut down first.
fn run_on<F>(runtime: &tokio::runtime::Handle, future: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().ok()
}

/// The key `rel` under `prefix` (for futures that cannot borrow the storage).
fn key_in(prefix: &str, rel: &str) -> ObjectPath {
    if prefix.is_empty() {
        ObjectPath::from(rel)
    } else {
        ObjectPath::from(format!("{prefix}/{rel}"))
    }
}

impl Drop for S3Storage {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Storage for S3Storage {
    fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        self.blob_size_in(repo, digest)
    }

    fn open_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<BlobReader>> {
        self.open_blob_in(repo, digest)
    }

    fn mount_blob(&self, from: &RepoName, to: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        self.mount(from, to, digest)
    }

    fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        self.delete_object(&keys::blob_link(repo, digest))
    }

    fn start_upload(&self, repo: &RepoName) -> Result<UploadId> {
        self.start_upload_in(repo)
    }

    fn upload_size(&self, repo: &RepoName, id: &str) -> Result<Option<u64>> {
        self.upload_size_of(repo, id)
    }

    fn upload_writer(&self, repo: &RepoName, id: &str) -> Result<Box<dyn UploadWriter>> {
        self.upload_writer_of(repo, id)
    }

    fn commit_upload(&self, repo: &RepoName, id: &str, expected: &Digest) -> Result<u64> {
        self.commit_upload_of(repo, id, expected)
    }

    fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<bool> {
        self.cancel_upload_of(repo, id)
    }

    fn get_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<StoredManifest>> {
        self.manifest_in(repo, digest)
    }

    fn put_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tags: &[&str],
    ) -> Result<()> {
        self.put_manifest_in(repo, digest, manifest, refs, tags)
    }

    fn put_manifest_if(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tag: &str,
        condition: &TagCondition,
    ) -> Result<TagWrite> {
        if self.conditional {
            self.put_manifest_swapping(repo, digest, manifest, refs, tag, condition)
        } else {
            // The store ignores conditions: check, then write, under the API's per-process lock.
            super::check_then_put(self, repo, digest, manifest, refs, tag, condition)
        }
    }

    fn resolve_tag(&self, repo: &RepoName, tag: &str) -> Result<Option<Digest>> {
        self.tag_in(repo, tag)
    }

    fn list_tags(&self, repo: &RepoName) -> Result<Option<Vec<String>>> {
        self.tags_in(repo)
    }

    fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        self.delete_manifest_in(repo, digest)
    }

    fn delete_tag(&self, repo: &RepoName, tag: &str) -> Result<bool> {
        self.delete_tag_in(repo, tag)
    }

    fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Descriptor>> {
        self.referrers_of(repo, subject)
    }

    fn list_repositories(&self) -> Result<Vec<RepoName>> {
        self.repositories()
    }

    fn list_manifests(&self, repo: &RepoName) -> Result<Vec<Digest>> {
        self.links_under(&keys::manifest_links(repo))
    }

    fn list_blobs(&self) -> Result<Vec<BlobInfo>> {
        self.all_blobs()
    }

    fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        self.all_uploads()
    }

    fn list_linked_blobs(&self, repo: &RepoName) -> Result<Vec<Digest>> {
        self.links_under(&keys::blob_links(repo))
    }

    fn begin_collection(&self) -> Result<Box<dyn Collection + '_>> {
        Ok(self.begin())
    }

    fn find_leftovers(&self, before: SystemTime) -> Result<Vec<Leftover>> {
        self.leftovers(before)
    }

    fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        self.remove_left(leftover)
    }

    fn rehash_blob(&self, digest: &Digest) -> Result<Digest> {
        self.rehash(digest)
    }

    fn blob_url(&self, _repo: &RepoName, digest: &Digest) -> Result<Option<String>> {
        let Some(expires_in) = self.config.presign else {
            return Ok(None);
        };
        let (store, key) = (self.store(), self.key(&keys::blob(digest)));
        let url = self.run({
            let key = key.clone();
            async move {
                store
                    .signed_url(axum::http::Method::GET, &key, expires_in)
                    .await
            }
        });
        url.map(|u| Some(u.to_string()))
            .map_err(|e| objects::failed("presign a URL for", &key, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(
        clippy::unnecessary_wraps,
        reason = "the shape `S3Config::parse` takes"
    )]
    fn env(name: &str) -> Option<String> {
        Some(format!("value of {name}"))
    }

    #[test]
    fn a_location_names_bucket_prefix_endpoint_and_region() {
        let c = S3Config::parse(
            "s3://paks/site/a/?endpoint=http://127.0.0.1:3900&region=garage&presign=300",
            env,
        )
        .unwrap();
        assert_eq!(c.bucket, "paks");
        assert_eq!(c.prefix, "site/a");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(c.region, "garage");
        assert_eq!(c.presign, Some(Duration::from_mins(5)));
        assert_eq!(c.access_key_id, "value of AWS_ACCESS_KEY_ID");
        assert!(
            !format!("{c:?}").contains("AWS_SECRET"),
            "the secret is not shown"
        );
    }

    #[test]
    fn bad_locations_say_what_is_wrong() {
        let e = S3Config::parse("file:///x", env).unwrap_err();
        assert!(e.to_string().contains("`s3://`"), "{e}");
        let e = S3Config::parse("s3://b?colour=red", env).unwrap_err();
        assert!(e.to_string().contains("`colour`"), "{e}");
        let e = S3Config::parse("s3://b", |_| None).unwrap_err();
        assert!(e.to_string().contains(ACCESS_KEY_ENV), "{e}");
    }
}
