//! Upload sessions in the bucket, so that any replica may append to a session another one
//! opened and any replica may commit it:
//!
//! ```text
//! uploads/<uuid>/repo                  the repository the session belongs to (its marker)
//! uploads/<uuid>/data/<offset:020>     the bytes from <offset> on, one object per piece
//! ```
//!
//! A writer buffers up to [`PIECE`] bytes and stores them as one piece named by its offset,
//! so no object is ever read, modified and written back: appending is a plain put, on any
//! replica. The session's size is the sum of its pieces.
//!
//! Writers of one session are serialised within a process (a second one waits for the
//! first to finish or drop). Across replicas nothing can serialise them on a store without
//! conditional writes (Garage 2.5): two writers appending at the same offset through two
//! replicas store two pieces under one name and the last one wins. The OCI protocol makes a
//! client send its chunks in order, each after the previous one was acknowledged, so this
//! only happens to a misbehaving client, and it cannot produce a wrong blob: the commit
//! hashes what is stored and refuses it (`DigestMismatch`), or refuses pieces that do not
//! follow each other (`Corrupt`).
//!
//! Committing streams the pieces once: every byte goes through the hasher and, unless the
//! blob is already stored, into the blob object. A blob of at most [`PIECE`] bytes is put
//! whole once its digest checked out; a larger one goes up as a multipart upload in parts
//! of [`PIECE`] bytes, completed only once the digest checked out (aborted otherwise), so
//! the blob object never holds unverified bytes and memory stays at one part per commit.
//! Sessions committing the same digest at once each write verified, identical bytes.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};

use futures_util::StreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStoreExt as _, PutPayload};
use paks_types::Digest;

use super::objects::{all, delete, failed};
use super::{S3Storage, keys, run_on};
use crate::names::RepoName;
use crate::storage::{Result, StorageError, UploadId, UploadInfo, UploadWriter};
use paks_oci::StreamHasher;

/// The size of a stored piece of a session, and of a part of a multipart blob upload
/// (S3 wants parts of at least 5 MiB but the last).
pub(super) const PIECE: usize = 8 << 20;

/// Whether `id` is a hyphenated lower-case UUID, the only form `start_upload` hands out.
/// Checked before `id` goes anywhere near a key.
pub(super) fn valid_upload_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fn marker(id: &str) -> String {
    format!("{}repo", keys::upload(id))
}

fn pieces(id: &str) -> String {
    format!("{}data/", keys::upload(id))
}

/// The sessions of this process that have a writer or a commit running.
#[derive(Default)]
pub(super) struct Busy {
    ids: Mutex<HashSet<String>>,
    freed: Condvar,
}

impl Busy {
    /// Waits until no writer or commit of this process holds session `id`, then holds it.
    fn hold(self: &Arc<Self>, id: &str) -> Held {
        let mut ids = self.ids.lock().expect("poisoned");
        while ids.contains(id) {
            ids = self.freed.wait(ids).expect("poisoned");
        }
        ids.insert(id.to_owned());
        Held {
            busy: Arc::clone(self),
            id: id.to_owned(),
        }
    }
}

/// Session `id` held by this process until dropped.
struct Held {
    busy: Arc<Busy>,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.busy.ids.lock().expect("poisoned").remove(&self.id);
        self.busy.freed.notify_all();
    }
}

/// One stored piece of a session.
struct Piece {
    key: ObjectPath,
    offset: u64,
    size: u64,
}

impl S3Storage {
    /// Every object under `rel`, in key order.
    pub(super) fn list_sorted(&self, rel: &str) -> Result<Vec<ObjectMeta>> {
        let mut found = self.list_objects(rel)?;
        found.sort_unstable_by(|a, b| a.location.cmp(&b.location));
        Ok(found)
    }

    /// Deletes `keys`, several at a time.
    pub(super) fn delete_keys(&self, keys: Vec<ObjectPath>) -> Result<()> {
        let store = self.store();
        self.run(async move {
            all(keys.into_iter().map(|k| {
                let store = Arc::clone(&store);
                async move { delete(&*store, &k).await }
            }))
            .await?;
            Ok(())
        })
    }

    pub(super) fn start_upload_in(&self, repo: &RepoName) -> Result<UploadId> {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        self.put_object(&marker(&id), repo.as_str().as_bytes().to_vec())?;
        Ok(id)
    }

    /// Fails with `UploadUnknown` unless session `id` exists and belongs to `repo`.
    fn check_session(&self, repo: &RepoName, id: &str) -> Result<()> {
        if valid_upload_id(id)
            && self.get_object(&marker(id))?.as_deref() == Some(repo.as_str().as_bytes())
        {
            Ok(())
        } else {
            Err(StorageError::UploadUnknown(id.to_owned()))
        }
    }

    /// The pieces of session `id` in order; `Corrupt` if they do not follow each other.
    fn pieces_of(&self, id: &str) -> Result<(Vec<Piece>, u64)> {
        let mut out = Vec::new();
        let mut end = 0;
        for meta in self.list_sorted(&pieces(id))? {
            let offset = meta.location.filename().and_then(|o| o.parse::<u64>().ok());
            if offset != Some(end) {
                return Err(StorageError::Corrupt(format!(
                    "upload `{id}` has overlapping or missing pieces at `{}`",
                    meta.location
                )));
            }
            end += meta.size;
            out.push(Piece {
                offset: end - meta.size,
                size: meta.size,
                key: meta.location,
            });
        }
        Ok((out, end))
    }

    pub(super) fn upload_size_of(&self, repo: &RepoName, id: &str) -> Result<Option<u64>> {
        match self.check_session(repo, id) {
            Ok(()) => Ok(Some(self.pieces_of(id)?.1)),
            Err(StorageError::UploadUnknown(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn upload_writer_of(
        &self,
        repo: &RepoName,
        id: &str,
    ) -> Result<Box<dyn UploadWriter>> {
        self.check_session(repo, id)?;
        let held = self.busy.hold(id);
        // Checked again once held: a commit may have ended the session while we waited.
        self.check_session(repo, id)?;
        let (_, size) = self.pieces_of(id)?;
        Ok(Box::new(S3UploadWriter {
            store: self.store(),
            runtime: self.handle(),
            // `ObjectPath` drops a trailing `/`.
            pieces: self.key(&pieces(id)).to_string(),
            offset: size,
            buf: Vec::new(),
            _held: held,
        }))
    }

    pub(super) fn commit_upload_of(
        &self,
        repo: &RepoName,
        id: &str,
        expected: &Digest,
    ) -> Result<u64> {
        self.check_session(repo, id)?;
        let _held = self.busy.hold(id);
        self.check_session(repo, id)?;
        let (pieces, size) = match self.pieces_of(id) {
            Ok(found) => found,
            Err(e @ StorageError::Corrupt(_)) => {
                self.remove_session(id)?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // Before looking for the blob: a collection that has not deleted it yet now keeps it
        // (see `collect.rs`).
        self.touch(std::slice::from_ref(expected))?;
        let blob = keys::blob(expected);
        let target = match self.head_object(&blob)? {
            Some(_) => None,
            None => Some(self.key(&blob)),
        };
        let store = self.store();
        let want = expected.clone();
        let actual = self.run(stream_pieces(store, pieces, target, want))?;
        if actual != *expected {
            self.remove_session(id)?;
            return Err(StorageError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        self.put_object(&keys::blob_link(repo, expected), Vec::new())?;
        self.remove_session(id)?;
        Ok(size)
    }

    pub(super) fn cancel_upload_of(&self, repo: &RepoName, id: &str) -> Result<bool> {
        match self.check_session(repo, id) {
            Ok(()) => self.remove_session(id).map(|()| true),
            Err(StorageError::UploadUnknown(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes session `id`: the marker first, so the session is unknown from then on and a
    /// crash half-way leaves only pieces without a marker (leftovers).
    fn remove_session(&self, id: &str) -> Result<()> {
        self.delete_object(&marker(id))?;
        let rest = self.list_objects(&keys::upload(id))?;
        self.delete_keys(rest.into_iter().map(|m| m.location).collect())
    }

    pub(super) fn all_uploads(&self) -> Result<Vec<UploadInfo>> {
        // (id, size, last modified) of every session folder, in key order.
        let mut found: Vec<(String, u64, std::time::SystemTime)> = Vec::new();
        let uploads = self.key(keys::UPLOADS);
        for meta in self.list_sorted(keys::UPLOADS)? {
            let Some(mut parts) = meta.location.prefix_match(&uploads) else {
                continue;
            };
            let (Some(id), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (id, kind) = (id.as_ref(), kind.as_ref());
            if !valid_upload_id(id) {
                continue;
            }
            let size = if kind == "data" { meta.size } else { 0 };
            let modified = meta.last_modified.into();
            match found.last_mut() {
                Some(last) if last.0 == id => {
                    last.1 += size;
                    last.2 = last.2.max(modified);
                }
                _ => found.push((id.to_owned(), size, modified)),
            }
        }
        let mut sessions = Vec::new();
        for (id, size, modified) in found {
            // Pieces without a marker are leftovers, not sessions.
            let Some(owner) = self.get_object(&marker(&id))? else {
                continue;
            };
            let repo = RepoName::parse(&String::from_utf8_lossy(&owner)).map_err(|e| {
                StorageError::Corrupt(format!(
                    "`{}` does not hold a repository name: {e}",
                    marker(&id)
                ))
            })?;
            sessions.push(UploadInfo {
                repo,
                id,
                size,
                modified,
            });
        }
        Ok(sessions)
    }
}

/// Streams `pieces` through a hasher and, when `target` is given, into that object (see
/// the module docs). Returns the digest of what was read.
async fn stream_pieces(
    store: Arc<object_store::aws::AmazonS3>,
    pieces: Vec<Piece>,
    target: Option<ObjectPath>,
    expected: Digest,
) -> Result<Digest> {
    let mut hasher = StreamHasher::new(expected.algorithm());
    let mut part: Vec<u8> = Vec::new();
    let mut multipart = None;
    for p in pieces {
        debug_assert!(p.size > 0 || p.offset == 0);
        let mut stream = store
            .get(&p.key)
            .await
            .map_err(|e| failed("read", &p.key, e))?
            .into_stream();
        while let Some(bytes) = stream.next().await {
            let bytes = bytes.map_err(|e| failed("read", &p.key, e))?;
            hasher.update(&bytes);
            let Some(target) = &target else { continue };
            // Parts are cut at exactly `PIECE` bytes: the buffer never grows past one.
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = rest.len().min(PIECE - part.len());
                part.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                if part.len() < PIECE {
                    continue;
                }
                if multipart.is_none() {
                    multipart = Some(
                        store
                            .put_multipart(target)
                            .await
                            .map_err(|e| failed("start a multipart upload of", target, e))?,
                    );
                }
                let upload = multipart.as_mut().expect("started above");
                let full = std::mem::take(&mut part);
                upload
                    .put_part(PutPayload::from(full))
                    .await
                    .map_err(|e| failed("upload a part of", target, e))?;
            }
        }
    }
    let actual = hasher.finish();
    let Some(target) = target else {
        return Ok(actual);
    };
    match multipart {
        Some(mut upload) if actual != expected => {
            let _ = upload.abort().await;
        }
        Some(mut upload) => {
            if !part.is_empty() {
                upload
                    .put_part(PutPayload::from(part))
                    .await
                    .map_err(|e| failed("upload a part of", &target, e))?;
            }
            upload
                .complete()
                .await
                .map_err(|e| failed("complete the multipart upload of", &target, e))?;
        }
        None if actual != expected => {}
        None => {
            store
                .put(&target, PutPayload::from(part))
                .await
                .map_err(|e| failed("write", &target, e))?;
        }
    }
    Ok(actual)
}

/// Appends to one session, one piece per [`PIECE`] bytes or per `flush`/`finish`.
struct S3UploadWriter {
    store: Arc<object_store::aws::AmazonS3>,
    runtime: tokio::runtime::Handle,
    /// The key of the session's pieces' folder.
    pieces: String,
    /// Where the next piece starts.
    offset: u64,
    buf: Vec<u8>,
    _held: Held,
}

impl S3UploadWriter {
    /// Stores the buffered bytes as the next piece.
    fn store_piece(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let key = ObjectPath::from(format!("{}/{:020}", self.pieces, self.offset));
        let len = self.buf.len() as u64;
        let payload = PutPayload::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        let store = Arc::clone(&self.store);
        let k = key.clone();
        run_on(&self.runtime, async move { store.put(&k, payload).await })
            .ok_or_else(|| StorageError::io("write an upload", io::ErrorKind::Interrupted.into()))?
            .map_err(|e| failed("write", &key, e))?;
        self.offset += len;
        Ok(())
    }
}

fn to_io(e: StorageError) -> io::Error {
    io::Error::other(e)
}

impl Write for S3UploadWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(PIECE - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() >= PIECE {
            self.store_piece().map_err(to_io)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.store_piece().map_err(to_io)
    }
}

impl UploadWriter for S3UploadWriter {
    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.store_piece()?;
        Ok(self.offset)
    }
}

impl Drop for S3UploadWriter {
    fn drop(&mut self) {
        // What was written is kept, as the trait promises (and as the filesystem does).
        let _ = self.store_piece();
    }
}
