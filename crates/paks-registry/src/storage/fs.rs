//! The filesystem storage.
//!
//! ```text
//! root/blobs/<alg>/<hex[0..2]>/<hex>              content, by digest, shared by all repositories
//! root/uploads/<uuid>/{data,repo}                 open sessions: the bytes so far, the repository
//! root/repos/<repo path>/_blobs/<alg>/<hex>       empty link: the blob is in this repository
//! root/repos/<repo path>/_manifests/<alg>/<hex>   link holding the manifest's media type
//! root/repos/<repo path>/_tags/<tag>              the digest the tag points at
//! root/repos/<repo path>/_referrers/<subject alg>/<subject hex>/<alg>-<hex>.json
//!                                                 a referrer's descriptor
//! root/gc.lock                                    flock: shared while a push checks and
//!                                                 links blobs, exclusive to delete one
//! root/gc.run.lock, root/gc-pins/                 a running collection (`fs/collect.rs`)
//! ```
//!
//! Every component of a repository name starts with `[a-z0-9]`, so the `_` entries never
//! collide with child repositories. Temporary files start with `.` and are skipped by every
//! listing. Blob bytes only ever appear under `blobs/` by rename, after their digest was
//! checked; a repository link is written after its blob, under the shared GC lock, and a
//! blob is touched (mtime) when a client is about to reference it, which is what the
//! garbage collector's grace period looks at (its safety rests on pins, not on mtimes).

mod collect;
pub(super) mod files;
mod upload;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use paks_types::fs::write_atomic;
use paks_types::{Digest, DigestAlgorithm, Sha256Hasher};

use super::{
    BlobInfo, BlobReader, Collection, Descriptor, Leftover, ManifestRefs, Result, Storage,
    StorageError, StoredManifest, UploadId, UploadInfo, UploadWriter,
};
use crate::names::{RepoName, valid_tag};
use files::{
    IoContext as _, create_link, digest_of, ensure_parent, exists, hash_reader, link_path,
    list_links, not_found_none, open_lock_file, read_dir_names, referrer_file_name,
    remove_if_exists, subject_of, touch, walk_repos,
};

pub(super) const ALGORITHMS: [DigestAlgorithm; 2] =
    [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512];

/// Read and hash in pieces this large.
const HASH_BUFFER: usize = 1 << 20;

/// Running sha256 of upload sessions, by id, so that committing does not re-read the data.
type Hashers = Arc<Mutex<HashMap<UploadId, Sha256Hasher>>>;

/// Registry data in a directory.
pub struct FsStorage {
    root: PathBuf,
    hashers: Hashers,
}

impl FsStorage {
    /// Opens (creating if needed) the registry data directory `root`.
    pub fn open(root: &Path) -> Result<Self> {
        for dir in ["blobs", "uploads", "repos"] {
            let dir = root.join(dir);
            fs::create_dir_all(&dir).at("create", &dir)?;
        }
        open_lock_file(&root.join("gc.lock"))?;
        Ok(Self {
            root: root.to_owned(),
            hashers: Arc::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    // ----- paths (every input is validated: names and tags by their grammar, digests by
    // their type, upload ids in `upload.rs`) -----

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        let mut p = self.root.join("blobs");
        p.push(digest.algorithm().as_str());
        p.push(&hex[..2]);
        p.push(hex);
        p
    }

    fn repo_dir(&self, repo: &RepoName) -> PathBuf {
        let mut p = self.root.join("repos");
        p.extend(repo.as_str().split('/'));
        p
    }

    fn blob_link(&self, repo: &RepoName, digest: &Digest) -> PathBuf {
        link_path(self.repo_dir(repo).join("_blobs"), digest)
    }

    fn manifest_link(&self, repo: &RepoName, digest: &Digest) -> PathBuf {
        link_path(self.repo_dir(repo).join("_manifests"), digest)
    }

    fn tags_dir(&self, repo: &RepoName) -> PathBuf {
        self.repo_dir(repo).join("_tags")
    }

    fn tag_path(&self, repo: &RepoName, tag: &str) -> Result<PathBuf> {
        // The grammar keeps a tag one path component, and never `.` or `..`.
        if !valid_tag(tag) {
            return Err(StorageError::io(
                format!("`{tag}` is not a valid tag"),
                io::ErrorKind::InvalidInput.into(),
            ));
        }
        Ok(self.tags_dir(repo).join(tag))
    }

    fn referrers_dir(&self, repo: &RepoName, subject: &Digest) -> PathBuf {
        link_path(self.repo_dir(repo).join("_referrers"), subject)
    }

    fn gc_lock(&self, exclusive: bool) -> Result<File> {
        let path = self.root.join("gc.lock");
        let file = open_lock_file(&path)?;
        if exclusive {
            file.lock().at("lock", &path)?;
        } else {
            file.lock_shared().at("lock", &path)?;
        }
        Ok(file)
    }

    /// Whether `repo` has a link to blob `digest` and the blob exists; touches it if so.
    /// Callers hold the shared GC lock, so the blob cannot go between the check and the touch.
    fn touch_linked_blob(&self, link: &Path, digest: &Digest) -> Result<bool> {
        if !exists(link)? {
            return Ok(false);
        }
        let blob = self.blob_path(digest);
        match touch(&blob) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::io(
                format!("failed to touch `{}`", blob.display()),
                e,
            )),
        }
    }

    fn blob_size_if_linked(&self, link: &Path, digest: &Digest) -> Result<Option<u64>> {
        let _gc = self.gc_lock(false)?;
        self.linked_blob_size(link, digest)
    }

    /// [`Self::blob_size_if_linked`] for callers that hold the shared GC lock.
    fn linked_blob_size(&self, link: &Path, digest: &Digest) -> Result<Option<u64>> {
        if !self.touch_linked_blob(link, digest)? {
            return Ok(None);
        }
        let blob = self.blob_path(digest);
        not_found_none(fs::metadata(&blob))
            .at("stat", &blob)
            .map(|m| m.map(|m| m.len()))
    }

    /// Stores `bytes` as blob `digest` (which they were checked to hash to), or touches it if
    /// it exists. Callers hold the shared GC lock.
    fn store_small_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let blob = self.blob_path(digest);
        match touch(&blob) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StorageError::io(
                    format!("failed to touch `{}`", blob.display()),
                    e,
                ));
            }
        }
        ensure_parent(&blob)?;
        write_atomic(&blob, bytes).at("write", &blob)
    }

    fn repo_exists(&self, repo: &RepoName) -> Result<bool> {
        let dir = self.repo_dir(repo);
        for entry in ["_manifests", "_blobs", "_tags"] {
            if exists(&dir.join(entry))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Removes the referrer entry of manifest `digest`, whose subject is `subject` if known
    /// (else every subject directory is searched).
    fn remove_referrer(
        &self,
        repo: &RepoName,
        digest: &Digest,
        subject: Option<&Digest>,
    ) -> Result<()> {
        let name = referrer_file_name(digest);
        if let Some(subject) = subject {
            let path = self.referrers_dir(repo, subject).join(&name);
            return remove_if_exists(&path).map(drop);
        }
        let base = self.repo_dir(repo).join("_referrers");
        for alg in ALGORITHMS {
            let alg_dir = base.join(alg.as_str());
            for subject_dir in read_dir_names(&alg_dir)? {
                remove_if_exists(&alg_dir.join(subject_dir).join(&name))?;
            }
        }
        Ok(())
    }
}

impl Storage for FsStorage {
    fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        self.blob_size_if_linked(&self.blob_link(repo, digest), digest)
    }

    fn open_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<BlobReader>> {
        if !exists(&self.blob_link(repo, digest))? {
            return Ok(None);
        }
        let blob = self.blob_path(digest);
        let Some(file) = not_found_none(File::open(&blob)).at("open", &blob)? else {
            return Ok(None);
        };
        let size = file.metadata().at("stat", &blob)?.len();
        Ok(Some(BlobReader {
            reader: Box::new(file),
            size,
        }))
    }

    fn mount_blob(&self, from: &RepoName, to: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let _gc = self.gc_lock(false)?;
        let Some(size) = self.linked_blob_size(&self.blob_link(from, digest), digest)? else {
            return Ok(None);
        };
        // Pinned and linked under the lock: a running collection keeps the blob, and never
        // deletes it (or its links) between here and the client's manifest.
        self.pin([digest])?;
        create_link(&self.blob_link(to, digest))?;
        Ok(Some(size))
    }

    fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        remove_if_exists(&self.blob_link(repo, digest))
    }

    fn start_upload(&self, repo: &RepoName) -> Result<UploadId> {
        self.start_session(repo)
    }

    fn upload_size(&self, repo: &RepoName, id: &str) -> Result<Option<u64>> {
        self.session_size(repo, id)
    }

    fn upload_writer(&self, repo: &RepoName, id: &str) -> Result<Box<dyn UploadWriter>> {
        Ok(Box::new(self.open_writer(repo, id)?))
    }

    fn commit_upload(&self, repo: &RepoName, id: &str, expected: &Digest) -> Result<u64> {
        self.commit_session(repo, id, expected)
    }

    fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<bool> {
        match self.session_dir(repo, id) {
            Ok(_) => self.remove_session(id),
            Err(StorageError::UploadUnknown(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn get_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<StoredManifest>> {
        let link = self.manifest_link(repo, digest);
        let Some(media_type) = not_found_none(fs::read_to_string(&link)).at("read", &link)? else {
            return Ok(None);
        };
        let blob = self.blob_path(digest);
        match not_found_none(fs::read(&blob)).at("read", &blob)? {
            Some(bytes) => Ok(Some(StoredManifest { media_type, bytes })),
            // Unlinked and collected while we read: gone, not damaged.
            None if !exists(&link)? => Ok(None),
            None => Err(StorageError::Corrupt(format!(
                "manifest `{digest}` is linked in `{repo}` but its blob `{}` is missing",
                blob.display()
            ))),
        }
    }

    fn put_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tags: &[&str],
    ) -> Result<()> {
        let actual = digest_of(digest.algorithm(), &manifest.bytes);
        if actual != *digest {
            return Err(StorageError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let tag_paths = tags
            .iter()
            .map(|t| self.tag_path(repo, t))
            .collect::<Result<Vec<_>>>()?;

        // Under the shared lock, a blob we have touched cannot be collected before the
        // manifest that references it is linked.
        let _gc = self.gc_lock(false)?;
        for blob in &refs.blobs {
            if !self.touch_linked_blob(&self.blob_link(repo, blob), blob)? {
                return Err(StorageError::BlobUnknown(blob.clone()));
            }
        }
        for child in &refs.manifests {
            if !self.touch_linked_blob(&self.manifest_link(repo, child), child)? {
                return Err(StorageError::ManifestUnknown(child.clone()));
            }
        }
        // Content is immutable by digest: a size checked now stays true.
        for (digest, declared) in &refs.sizes {
            let blob = self.blob_path(digest);
            let actual = fs::metadata(&blob).at("stat", &blob)?.len();
            if actual != *declared {
                return Err(StorageError::SizeMismatch {
                    digest: digest.clone(),
                    declared: *declared,
                    actual,
                });
            }
        }

        // Before anything is linked: a running collection that did not list this manifest
        // keeps what it needs.
        self.pin(
            refs.blobs
                .iter()
                .chain(&refs.manifests)
                .chain(std::iter::once(digest)),
        )?;
        self.store_small_blob(digest, &manifest.bytes)?;
        let link = self.manifest_link(repo, digest);
        ensure_parent(&link)?;
        write_atomic(&link, manifest.media_type.as_bytes()).at("write", &link)?;
        if let Some((subject, descriptor)) = &refs.subject {
            let path = self
                .referrers_dir(repo, subject)
                .join(referrer_file_name(digest));
            let json = serde_json::to_vec(descriptor).map_err(|e| {
                StorageError::io(format!("failed to encode `{}`", path.display()), e.into())
            })?;
            ensure_parent(&path)?;
            write_atomic(&path, &json).at("write", &path)?;
        }
        for path in tag_paths {
            ensure_parent(&path)?;
            write_atomic(&path, digest.to_string().as_bytes()).at("write", &path)?;
        }
        Ok(())
    }

    fn resolve_tag(&self, repo: &RepoName, tag: &str) -> Result<Option<Digest>> {
        let path = self.tag_path(repo, tag)?;
        let Some(text) = not_found_none(fs::read_to_string(&path)).at("read", &path)? else {
            return Ok(None);
        };
        text.trim().parse().map(Some).map_err(|e| {
            StorageError::Corrupt(format!(
                "tag file `{}` does not hold a digest: {e}",
                path.display()
            ))
        })
    }

    fn list_tags(&self, repo: &RepoName) -> Result<Option<Vec<String>>> {
        if !self.repo_exists(repo)? {
            return Ok(None);
        }
        let mut tags: Vec<String> = read_dir_names(&self.tags_dir(repo))?
            .into_iter()
            .filter(|t| valid_tag(t))
            .collect();
        tags.sort_unstable();
        Ok(Some(tags))
    }

    fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let link = self.manifest_link(repo, digest);
        if !exists(&link)? {
            return Ok(false);
        }
        let blob = self.blob_path(digest);
        let subject = not_found_none(fs::read(&blob))
            .at("read", &blob)?
            .and_then(|bytes| subject_of(&bytes));
        if !remove_if_exists(&link)? {
            return Ok(false);
        }
        let wanted = digest.to_string();
        let tags_dir = self.tags_dir(repo);
        for tag in read_dir_names(&tags_dir)? {
            if !valid_tag(&tag) {
                continue;
            }
            let path = tags_dir.join(&tag);
            if not_found_none(fs::read_to_string(&path))
                .at("read", &path)?
                .is_some_and(|t| t.trim() == wanted)
            {
                remove_if_exists(&path)?;
            }
        }
        self.remove_referrer(repo, digest, subject.as_ref())?;
        Ok(true)
    }

    fn delete_tag(&self, repo: &RepoName, tag: &str) -> Result<bool> {
        remove_if_exists(&self.tag_path(repo, tag)?)
    }

    fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Descriptor>> {
        let dir = self.referrers_dir(repo, subject);
        let mut names: Vec<String> = read_dir_names(&dir)?
            .into_iter()
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort_unstable();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(name);
            // Removed by a concurrent delete: skip it.
            let Some(bytes) = not_found_none(fs::read(&path)).at("read", &path)? else {
                continue;
            };
            out.push(serde_json::from_slice(&bytes).map_err(|e| {
                StorageError::Corrupt(format!(
                    "referrer entry `{}` is not a descriptor: {e}",
                    path.display()
                ))
            })?);
        }
        Ok(out)
    }

    fn list_repositories(&self) -> Result<Vec<RepoName>> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repos"), "", &mut out)?;
        out.sort_unstable();
        Ok(out)
    }

    fn list_manifests(&self, repo: &RepoName) -> Result<Vec<Digest>> {
        list_links(&self.repo_dir(repo).join("_manifests"))
    }

    fn list_blobs(&self) -> Result<Vec<BlobInfo>> {
        let base = self.root.join("blobs");
        let mut out = Vec::new();
        for alg in ALGORITHMS {
            let alg_dir = base.join(alg.as_str());
            for fan in read_dir_names(&alg_dir)? {
                let fan_dir = alg_dir.join(fan);
                for hex in read_dir_names(&fan_dir)? {
                    let Ok(digest) = format!("{}:{hex}", alg.as_str()).parse() else {
                        continue;
                    };
                    let path = fan_dir.join(&hex);
                    // Collected since the directory was read: skip it.
                    let Some(meta) = not_found_none(fs::metadata(&path)).at("stat", &path)? else {
                        continue;
                    };
                    out.push(BlobInfo {
                        digest,
                        size: meta.len(),
                        modified: meta.modified().at("read the mtime of", &path)?,
                    });
                }
            }
        }
        out.sort_unstable_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        self.list_sessions()
    }

    fn list_linked_blobs(&self, repo: &RepoName) -> Result<Vec<Digest>> {
        list_links(&self.repo_dir(repo).join("_blobs"))
    }

    fn begin_collection(&self) -> Result<Box<dyn Collection + '_>> {
        Ok(Box::new(self.begin()?))
    }

    fn find_leftovers(&self, before: SystemTime) -> Result<Vec<Leftover>> {
        FsStorage::find_leftovers(self, before)
    }

    fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        FsStorage::remove_leftover(self, leftover)
    }

    fn rehash_blob(&self, digest: &Digest) -> Result<Digest> {
        let blob = self.blob_path(digest);
        let file = File::open(&blob).at("open", &blob)?;
        hash_reader(file, digest.algorithm())
            .map(|(d, _)| d)
            .at("read", &blob)
    }
}
