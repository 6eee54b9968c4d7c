//! Where a registry keeps its data: the [`Storage`] trait and its filesystem implementation.
//!
//! Storage calls block (they do file IO); the HTTP layer runs them on tokio's blocking pool.
//! Every method that writes is atomic: a reader sees the old state or the new one, a crash
//! leaves one of the two, and a blob is visible only after its digest and size were checked.
//!
//! Blobs (layers, configs and manifests alike) are stored once, by digest, for the whole
//! registry; a repository *links* the blobs and manifests pushed to it, so a client can only
//! read what was pushed (or mounted) into the repository it asks.

mod fs;
mod s3;

use std::io::{Read, Seek, Write};
use std::time::SystemTime;

use paks_types::Digest;
use serde::{Deserialize, Serialize};

pub use fs::FsStorage;
pub use s3::{ACCESS_KEY_ENV, S3Config, S3ConfigError, S3Storage, SECRET_KEY_ENV};

/// Where a registry's data lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A directory ([`FsStorage`]).
    Dir(std::path::PathBuf),
    /// A bucket over the S3 API ([`S3Storage`]), shareable by several replicas.
    S3(S3Config),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::S3(c) if c.prefix.is_empty() => write!(f, "s3://{}", c.bucket),
            Self::S3(c) => write!(f, "s3://{}/{}", c.bucket, c.prefix),
        }
    }
}

/// Opens the storage at `location` (a directory is created if missing).
pub fn open(location: &Location) -> Result<std::sync::Arc<dyn Storage>> {
    Ok(match location {
        Location::Dir(dir) => std::sync::Arc::new(FsStorage::open(dir)?),
        Location::S3(config) => std::sync::Arc::new(S3Storage::open(config.clone())?),
    })
}

use crate::names::RepoName;

/// A random upload session id (a UUID v4 in its hyphenated lower-case form).
pub type UploadId = String;

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The uploaded content does not hash to the digest the client gave.
    #[error("the upload's digest is `{actual}`, not `{expected}`")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// No upload session with this id in this repository.
    #[error("upload `{0}` is unknown")]
    UploadUnknown(UploadId),
    /// A manifest references a blob that is not in the repository.
    #[error("blob `{0}` is not in the repository")]
    BlobUnknown(Digest),
    /// An index references a manifest that is not in the repository.
    #[error("manifest `{0}` is not in the repository")]
    ManifestUnknown(Digest),
    /// A manifest declares a size for a blob or manifest that differs from the stored one.
    #[error("the manifest says `{digest}` has {declared} bytes, but the stored one has {actual}")]
    SizeMismatch {
        digest: Digest,
        declared: u64,
        actual: u64,
    },
    /// Stored data is damaged (unreadable metadata, a blob whose bytes do not match).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

impl StorageError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A readable, seekable blob (range requests seek).
pub trait BlobRead: Read + Seek + Send {}
impl<T: Read + Seek + Send> BlobRead for T {}

/// An open blob and its size.
pub struct BlobReader {
    pub reader: Box<dyn BlobRead>,
    pub size: u64,
}

/// Appends to an upload session. Dropping it without [`UploadWriter::finish`] keeps what
/// was written and flushed so far.
pub trait UploadWriter: Write + Send {
    /// Makes the appended bytes durable and returns the session's new total size.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// A stored manifest: its exact bytes and the media type it was pushed with.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What a manifest being stored points at; storage checks that these exist.
#[derive(Debug, Clone, Default)]
pub struct ManifestRefs {
    /// Blobs (config, layers) that must be linked in the repository.
    pub blobs: Vec<Digest>,
    /// Manifests (children of an index) that must be linked in the repository.
    pub manifests: Vec<Digest>,
    /// The manifest's `subject`, and the descriptor to list among the subject's referrers.
    pub subject: Option<(Digest, Descriptor)>,
    /// The sizes the manifest's descriptors declare for `blobs` and `manifests`; a stored
    /// blob of another size is refused (`SizeMismatch`).
    pub sizes: Vec<(Digest, u64)>,
}

/// An OCI content descriptor, as the referrers API lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// REQUIRED. The media type of the referenced content.
    pub media_type: String,
    /// REQUIRED. The digest of the referenced content.
    pub digest: Digest,
    /// REQUIRED. The size in bytes of the referenced content.
    pub size: u64,
    /// OPTIONAL. The artifact type (a manifest's `artifactType`, else its config's media type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// OPTIONAL. The referenced manifest's annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// What a conditional tag write requires of the tag (`If-Match` / `If-None-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCondition {
    /// The tag names this manifest.
    Matches(Digest),
    /// The tag exists.
    Exists,
    /// The tag does not exist.
    Absent,
}

impl TagCondition {
    /// Whether a tag now naming `current` meets the condition.
    pub fn holds(&self, current: Option<&Digest>) -> bool {
        match self {
            Self::Matches(d) => current == Some(d),
            Self::Exists => current.is_some(),
            Self::Absent => current.is_none(),
        }
    }
}

/// How a conditional tag write ([`Storage::put_manifest_if`]) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagWrite {
    /// The tag now names the manifest.
    Written,
    /// The condition did not hold: the tag names `current` (`None`: it does not exist).
    Refused { current: Option<Digest> },
}

/// [`Storage::put_manifest_if`] by reading the tag, checking `condition`, then writing:
/// one step only for writers serialised by the caller.
fn check_then_put(
    storage: &(impl Storage + ?Sized),
    repo: &RepoName,
    digest: &Digest,
    manifest: &StoredManifest,
    refs: &ManifestRefs,
    tag: &str,
    condition: &TagCondition,
) -> Result<TagWrite> {
    let current = storage.resolve_tag(repo, tag)?;
    if !condition.holds(current.as_ref()) {
        return Ok(TagWrite::Refused { current });
    }
    storage.put_manifest(repo, digest, manifest, refs, &[tag])?;
    Ok(TagWrite::Written)
}

/// One stored blob, for garbage collection and scrubbing.
#[derive(Debug, Clone)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
    /// When the blob was last written or touched (uploaded, mounted, referenced by a push).
    pub modified: SystemTime,
}

/// One upload session, for purging stale ones.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub repo: RepoName,
    pub id: UploadId,
    pub size: u64,
    pub modified: SystemTime,
}

/// A running garbage collection (from [`Storage::begin_collection`]).
///
/// Contract: a push that makes a blob needed (a manifest referencing it, an upload or mount
/// of it) and started after `begin_collection` returned is visible to
/// [`Collection::remove_blob_if_unused`], which then keeps the blob; a push that finished
/// before is visible to the mark phase (its manifest is listed).
pub trait Collection {
    /// Deletes blob `digest` for good, with its links in `linked_in`, unless a push
    /// needed it since the collection began or it was touched since `unused_since`.
    /// Returns whether it was deleted.
    fn remove_blob_if_unused(
        &mut self,
        digest: &Digest,
        unused_since: SystemTime,
        linked_in: &[RepoName],
    ) -> Result<bool>;

    /// Removes the links of blob `digest` in `linked_in` if its bytes are (still) gone.
    /// Returns how many went.
    fn remove_dangling_links(&mut self, digest: &Digest, linked_in: &[RepoName]) -> Result<usize>;
}

/// Something a killed writer left behind (a temporary file, a half-built or half-removed
/// upload session).
#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    /// Relative to the storage's root.
    pub path: std::path::PathBuf,
    /// Bytes, if it is a file.
    pub size: u64,
}

/// A registry's data. Implementations must be safe to share between threads and between
/// processes on the same data (the server and `paks serve gc` may run at once).
pub trait Storage: Send + Sync + 'static {
    // ----- blobs -----

    /// The size of blob `digest` if it is linked in `repo`. Touches the blob, so a garbage
    /// collection running now keeps it for a client that is about to reference it.
    fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Opens blob `digest` if it is linked in `repo`.
    fn open_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<BlobReader>>;

    /// Links blob `digest` into `to` if it is linked in `from` (a cross-repository mount).
    /// Returns the blob's size, or `None` when `from` does not have it.
    fn mount_blob(&self, from: &RepoName, to: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Unlinks blob `digest` from `repo`; the bytes go at the next garbage collection.
    /// Returns whether it was linked.
    fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    // ----- uploads -----

    /// Opens a new upload session in `repo`.
    fn start_upload(&self, repo: &RepoName) -> Result<UploadId>;

    /// The number of bytes received by session `id` of `repo`, or `None` if unknown.
    fn upload_size(&self, repo: &RepoName, id: &str) -> Result<Option<u64>>;

    /// Appends to session `id`. Writers of one session are serialised: a second writer
    /// waits for the first to finish or drop. Fails with `UploadUnknown`.
    fn upload_writer(&self, repo: &RepoName, id: &str) -> Result<Box<dyn UploadWriter>>;

    /// Ends session `id`: checks that the content hashes to `expected` (sha256 or sha512),
    /// makes it the blob `expected` (many sessions may commit the same digest at once; all
    /// succeed, none exposes a partial blob), links it in `repo`, and removes the session.
    /// On a digest mismatch the session is removed too. Returns the blob's size.
    fn commit_upload(&self, repo: &RepoName, id: &str, expected: &Digest) -> Result<u64>;

    /// Removes session `id`; returns whether it existed.
    fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<bool>;

    // ----- manifests and tags -----

    /// Manifest `digest` if it is linked in `repo`.
    fn get_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<StoredManifest>>;

    /// Stores a manifest whose bytes hash to `digest`, after checking that `refs` exist
    /// (`BlobUnknown`/`ManifestUnknown` otherwise), links it in `repo`, records it as a
    /// referrer of its subject, and points each of `tags` at it. Safe against a concurrent
    /// garbage collection (see [`Collection`]).
    fn put_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tags: &[&str],
    ) -> Result<()>;

    /// [`Storage::put_manifest`] with one tag, which is pointed at the manifest only if it
    /// meets `condition` at the moment of the write. When refused, the manifest may be
    /// stored untagged. The default checks, then writes: one step only for writers that
    /// hold the caller's lock (the API serialises the tag writes of its process); a backend
    /// shared by several processes overrides it with a compare-and-swap.
    fn put_manifest_if(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tag: &str,
        condition: &TagCondition,
    ) -> Result<TagWrite> {
        check_then_put(self, repo, digest, manifest, refs, tag, condition)
    }

    /// The digest `tag` points at in `repo`.
    fn resolve_tag(&self, repo: &RepoName, tag: &str) -> Result<Option<Digest>>;

    /// The tags of `repo`, sorted lexically; `None` if the repository does not exist.
    fn list_tags(&self, repo: &RepoName) -> Result<Option<Vec<String>>>;

    /// Unlinks manifest `digest` from `repo`, with every tag pointing at it and its
    /// referrer entry. Returns whether it was linked.
    fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Removes `tag` from `repo` (the manifest stays). Returns whether it existed.
    fn delete_tag(&self, repo: &RepoName, tag: &str) -> Result<bool>;

    /// The manifests of `repo` whose subject is `subject`, in a stable order.
    fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Descriptor>>;

    /// Every repository holding at least one manifest or blob link, sorted.
    fn list_repositories(&self) -> Result<Vec<RepoName>>;

    // ----- maintenance -----

    /// The manifests linked in `repo`.
    fn list_manifests(&self, repo: &RepoName) -> Result<Vec<Digest>>;

    /// Every stored blob.
    fn list_blobs(&self) -> Result<Vec<BlobInfo>>;

    /// Every open upload session.
    fn list_uploads(&self) -> Result<Vec<UploadInfo>>;

    /// The blobs linked in `repo` (whether or not their bytes still exist).
    fn list_linked_blobs(&self, repo: &RepoName) -> Result<Vec<Digest>>;

    /// Starts a garbage collection: waits for any other collection to end, then sets up the
    /// barrier after which every push records what it needs (see [`Collection`]). Mark
    /// only after this returns; the collection ends when the value is dropped.
    fn begin_collection(&self) -> Result<Box<dyn Collection + '_>>;

    /// Temporary files and session directories that killed writers left behind, last
    /// modified before `before`.
    fn find_leftovers(&self, before: SystemTime) -> Result<Vec<Leftover>>;

    /// Removes a leftover that [`Storage::find_leftovers`] found.
    fn remove_leftover(&self, leftover: &Leftover) -> Result<()>;

    /// Re-reads blob `digest` and returns the digest of the bytes actually stored.
    fn rehash_blob(&self, digest: &Digest) -> Result<Digest>;

    // ----- object storage -----

    /// A URL the client may fetch blob `digest` of `repo` from directly (a presigned
    /// object-store URL), when the storage offers them and was asked to; `None` serves the
    /// bytes through the registry. Called on every blob `GET` before the registry checks
    /// that the blob is linked in `repo` (it hands the URL out only if so), so it should be
    /// cheap and free of effects, as presigning is.
    fn blob_url(&self, repo: &RepoName, digest: &Digest) -> Result<Option<String>> {
        let _ = (repo, digest);
        Ok(None)
    }
}
