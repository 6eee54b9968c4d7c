//! Blob downloads: existence checks, and verified, resumable pulls.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use paks_types::growing::{FailOnDrop, Growing};
use paks_types::{Digest, DigestAlgorithm};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use super::http::{Body, Req, header_str};
use super::progress::Progress;
use super::{Client, pull_scope};
use crate::error::{ErrorKind, OciError, io_err};
use crate::hash::StreamHasher;
use crate::reference::Repository;

/// The temporary file of a download. A private one is removed when dropped unless
/// committed: an error, a panic or a cancelled future leaves nothing behind. The shared
/// part file (`.<name>.part`, locked while in use) stays when the download stops, so that
/// the next process resumes from it; only content found wrong is removed.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Rename into place, durably if `durable`.
    async fn commit(mut self, dest: &Path, durable: bool) -> Result<(), OciError> {
        tokio::fs::rename(&self.path, dest)
            .await
            .map_err(io_err("failed to rename into place", dest))?;
        self.armed = false;
        if !durable {
            return Ok(());
        }
        paks_types::fs::fsync_parent(dest).map_err(io_err("failed to sync the directory of", dest))
    }
}

impl TempFile {
    /// Remove the file now (its content is wrong, or cannot be resumed).
    fn discard(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A download in progress: the temporary file, and the hash and length of what it holds.
struct Partial {
    out: tokio::io::BufWriter<tokio::fs::File>,
    path: PathBuf,
    hasher: StreamHasher,
    have: u64,
    /// The reader following this download, told of every megabyte written.
    growing: Option<Arc<Growing>>,
    /// Bytes `growing` was told of.
    published: u64,
}

/// How often a followed download flushes and tells its reader: often enough that the
/// extractor is never far behind, rarely enough to keep the writes large.
const PUBLISH_EVERY: u64 = 1024 * 1024;

impl Partial {
    /// The download's file beside `dest` (whose directory is created if need be): the
    /// part file `.<name>.part`, locked by this process, holding what a killed process
    /// downloaded before (re-hashed here, so the download resumes from its end); or, when
    /// another live process holds the part file, a private temporary.
    async fn open(
        dest: &Path,
        algorithm: DigestAlgorithm,
        size: Option<u64>,
        growing: Option<&Arc<Growing>>,
    ) -> Result<(TempFile, Self), OciError> {
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io_err("failed to create the directory", dir))?;
        }
        let part_path = part_file(dest);
        let shared = {
            let path = part_path.clone();
            tokio::task::spawn_blocking(move || resume_from(&path, algorithm, size))
                .await
                .expect("the resuming task does not panic")
                .map_err(io_err("failed to resume from", &part_path))?
        };
        let (tmp, file, hasher, have) = if let Some((file, hasher, have)) = shared {
            let tmp = TempFile {
                path: part_path,
                armed: false,
            };
            (tmp, tokio::fs::File::from_std(file), hasher, have)
        } else {
            let tmp = TempFile {
                path: paks_types::fs::temp_sibling(dest, paks_types::temp::BLOB_PART),
                armed: true,
            };
            let file = tokio::fs::File::create(&tmp.path)
                .await
                .map_err(io_err("failed to create", &tmp.path))?;
            (tmp, file, StreamHasher::new(algorithm), 0)
        };
        if let Some(g) = growing {
            g.open(&tmp.path, have);
        }
        let part = Self {
            out: tokio::io::BufWriter::with_capacity(1024 * 1024, file),
            path: tmp.path.clone(),
            hasher,
            have,
            growing: growing.cloned(),
            published: have,
        };
        Ok((tmp, part))
    }

    fn write_err(&self) -> impl FnOnce(std::io::Error) -> OciError {
        io_err("failed to write", &self.path)
    }

    /// Empty the file, to start again from the first byte.
    async fn restart(&mut self, algorithm: DigestAlgorithm) -> Result<(), OciError> {
        if let Some(g) = &self.growing {
            // Before the file is emptied: a reader must not take new bytes for old.
            g.restart();
            self.published = 0;
        }
        if self.have > 0 {
            self.out.flush().await.map_err(self.write_err())?;
            self.out
                .get_mut()
                .set_len(0)
                .await
                .map_err(self.write_err())?;
            let seek = self.out.get_mut().seek(std::io::SeekFrom::Start(0)).await;
            seek.map_err(self.write_err())?;
        }
        self.hasher = StreamHasher::new(algorithm);
        self.have = 0;
        Ok(())
    }

    /// Append a response body, hashing it; returns the connection error that ended it
    /// early, if one did. More than `size` bytes in all is an error.
    async fn stream(
        &mut self,
        mut resp: reqwest::Response,
        size: Option<u64>,
        progress: &mut Progress<'_>,
        what: &str,
        url: &str,
        received: &AtomicU64,
    ) -> Result<Option<reqwest::Error>, OciError> {
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(None),
                Err(e) => return Ok(Some(e)),
            };
            let total = self.have + chunk.len() as u64;
            if let Some(s) = size
                && total > s
            {
                return Err(ErrorKind::SizeMismatch {
                    what: what.to_owned(),
                    url: url.to_owned(),
                    expected: s,
                    actual: total,
                }
                .into());
            }
            self.hasher.update(&chunk);
            self.out.write_all(&chunk).await.map_err(self.write_err())?;
            self.have = total;
            received.store(total, Ordering::Relaxed);
            progress.reach(total);
            if let Some(g) = &self.growing
                && total - self.published >= PUBLISH_EVERY
            {
                // Flushed, and the file's writes complete (tokio's file writes in the
                // background until flushed), before the reader is told the bytes are there.
                self.out.flush().await.map_err(self.write_err())?;
                g.wrote(total);
                self.published = total;
            }
        }
    }

    /// Flush (and fsync if `durable`); the digest of the content.
    /// Flushes (and syncs, if `durable`) what was written; returns the digest of it and
    /// the open file, whose lock must be held until the file is renamed into place (else
    /// another download takes the part file in between and finds it gone).
    async fn finish(mut self, durable: bool) -> Result<(Digest, tokio::fs::File), OciError> {
        self.out.flush().await.map_err(self.write_err())?;
        if durable {
            self.out
                .get_mut()
                .sync_all()
                .await
                .map_err(self.write_err())?;
        }
        Ok((self.hasher.finish(), self.out.into_inner()))
    }
}

/// `.<name>.part` beside `dest`: where a download of `dest` keeps its bytes until verified.
fn part_file(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "blob".into(), |n| n.to_string_lossy());
    dest.with_file_name(format!(".{name}.{}", paks_types::temp::BLOB_PART))
}

/// Take the part file at `path` (creating it), unless a live process holds it (`None`):
/// the open file, positioned at its end, with the hash state and length of what it holds.
/// A part longer than `size` is emptied.
fn resume_from(
    path: &Path,
    algorithm: DigestAlgorithm,
    size: Option<u64>,
) -> std::io::Result<Option<(std::fs::File, StreamHasher, u64)>> {
    use std::io::{Read as _, Seek as _};
    let Some(mut file) = paks_types::temp::open_locked(path)? else {
        return Ok(None);
    };
    let mut hasher = StreamHasher::new(algorithm);
    let mut have = 0u64;
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        have += n as u64;
    }
    if size.is_some_and(|s| have > s) {
        file.set_len(0)?;
        file.rewind()?;
        return Ok(Some((file, StreamHasher::new(algorithm), 0)));
    }
    Ok(Some((file, hasher, have)))
}

/// `Range: bytes=<have>-` when there is something to resume from.
fn range_from(have: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if have > 0 {
        let range = format!("bytes={have}-");
        headers.insert(
            header::RANGE,
            HeaderValue::from_str(&range).expect("a valid header"),
        );
    }
    headers
}

/// The start of `Content-Range: bytes <start>-<end>/<size>`.
fn content_range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = header_str(resp, "content-range")?;
    let v = v.strip_prefix("bytes")?.trim_start();
    v.split('-').next()?.trim().parse().ok()
}

/// Whether `dest` already holds the blob: trusted when its size is `size` (the cache is
/// content-addressed and written only by verified renames), hashed when `size` is unknown.
async fn already_present(
    dest: &Path,
    digest: &Digest,
    size: Option<u64>,
) -> Result<bool, OciError> {
    let Ok(meta) = tokio::fs::metadata(dest).await else {
        return Ok(false);
    };
    if !meta.is_file() {
        return Ok(false);
    }
    match size {
        Some(s) => Ok(s == meta.len()),
        None => Ok(hash_file(dest, digest.algorithm()).await? == *digest),
    }
}

/// The hash of a local file, on a blocking thread.
async fn hash_file(path: &Path, algorithm: DigestAlgorithm) -> Result<Digest, OciError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&path).map_err(io_err("failed to read", &path))?;
        let mut h = StreamHasher::new(algorithm);
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(io_err("failed to read", &path))?;
            if n == 0 {
                return Ok(h.finish());
            }
            h.update(&buf[..n]);
        }
    })
    .await
    .expect("the hashing task does not panic")
}

impl Client {
    /// The size of blob `digest` in `repo`, or `None` if the repository lacks it (`HEAD`).
    pub async fn blob_size(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Option<u64>, OciError> {
        self.head_blob(repo, digest, &[pull_scope(&repo.name)])
            .await
    }

    pub(super) async fn head_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        scopes: &[String],
    ) -> Result<Option<u64>, OciError> {
        let what = format!("failed to check for blob `{digest}` in `{repo}`");
        let url = self.url(&repo.registry, &format!("/v2/{}/blobs/{digest}", repo.name))?;
        let sent = self
            .send(Req {
                what: &what,
                registry: Some(&repo.registry),
                method: Method::HEAD,
                url,
                headers: HeaderMap::new(),
                body: Body::Empty,
                scopes,
                retry: true,
            })
            .await?;
        match sent.resp.status() {
            StatusCode::OK => Ok(Some(
                header_str(&sent.resp, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&what, &Method::HEAD, sent).await),
        }
    }

    /// Fetch a small blob (a config, a package index) into memory, at most `limit` bytes,
    /// verified against `digest`.
    pub async fn pull_blob_bytes(
        &self,
        repo: &Repository,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, OciError> {
        let _permit = self.transfer_permit().await;
        let what = format!("failed to pull blob `{digest}` from `{repo}`");
        let url = self.url(&repo.registry, &format!("/v2/{}/blobs/{digest}", repo.name))?;
        let scopes = [pull_scope(&repo.name)];
        let mut attempt = 0;
        let (answered, bytes) = loop {
            attempt += 1;
            let sent = self
                .send(Req {
                    what: &what,
                    registry: Some(&repo.registry),
                    method: Method::GET,
                    url: url.clone(),
                    headers: HeaderMap::new(),
                    body: Body::Empty,
                    scopes: &scopes,
                    retry: true,
                })
                .await?;
            if sent.resp.status() != StatusCode::OK {
                return Err(self.status_error(&what, &Method::GET, sent).await);
            }
            let answered = sent.url.to_string();
            match self.read_small(&what, sent, limit).await {
                Ok(bytes) => break (answered, bytes),
                // A connection dropped mid-body: the whole request again.
                Err(e)
                    if matches!(e.kind(), ErrorKind::Connection { .. })
                        && attempt <= self.inner.config.retries =>
                {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let actual = StreamHasher::digest_of(digest.algorithm(), &bytes);
        if actual != *digest {
            return Err(ErrorKind::DigestMismatch {
                what,
                url: answered,
                expected: digest.clone(),
                actual,
            }
            .into());
        }
        Ok(bytes)
    }

    /// Download blob `digest` of `repo` to `dest`, verified.
    ///
    /// The bytes stream into a temporary file beside `dest`, hashed as they come; a
    /// dropped connection is resumed with `Range: bytes=N-` (keeping the hash state) when
    /// the registry answers 206, else the download restarts. Only verified content is
    /// renamed to `dest`; on a mismatch the temporary file is deleted and the error names
    /// both digests. `progress` gets the number of new bytes, summing to the size.
    ///
    /// An existing `dest` is trusted when its size is `size` (the blob cache is
    /// content-addressed and written only by verified renames); with `size` unknown it is
    /// hashed; a wrong one is replaced.
    pub async fn pull_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), OciError> {
        self.pull_blob_followed(repo, digest, size, dest, progress, None)
            .await
    }

    /// [`Client::pull_blob`], read while it downloads: `growing` is told of the bytes as
    /// they reach the file and of the verdict (see [`paks_types::growing`]), whatever
    /// happens, including this future being dropped.
    pub async fn pull_blob_growing(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
        growing: &Arc<Growing>,
    ) -> Result<(), OciError> {
        let _verdict = FailOnDrop(growing);
        let result = self
            .pull_blob_followed(repo, digest, size, dest, progress, Some(growing))
            .await;
        match &result {
            Ok(()) => match tokio::fs::metadata(dest).await {
                Ok(meta) => growing.finish(dest, meta.len()),
                Err(e) => growing.fail(format!("`{}`: {e}", dest.display())),
            },
            Err(e) => growing.fail(e.to_string()),
        }
        result
    }

    async fn pull_blob_followed(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
        growing: Option<&Arc<Growing>>,
    ) -> Result<(), OciError> {
        if already_present(dest, digest, size).await? {
            return Ok(());
        }
        let _permit = self.transfer_permit().await;
        let what = format!("failed to pull blob `{digest}` from `{repo}`");
        let received = AtomicU64::new(0);
        let limit = self.inner.config.transfer_deadline;
        let transfer = self.pull_blob_unbounded(
            repo, digest, size, dest, progress, &what, &received, growing,
        );
        match tokio::time::timeout(limit, transfer).await {
            Ok(result) => result,
            Err(_) => Err(ErrorKind::Deadline {
                what,
                limit,
                progress: Some((received.load(Ordering::Relaxed), size)),
            }
            .into()),
        }
    }

    /// [`Client::pull_blob`] without its deadline; `received` follows the bytes held.
    #[allow(clippy::too_many_arguments)] // The public call's, two for errors, and its follower.
    async fn pull_blob_unbounded(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
        what: &str,
        received: &AtomicU64,
        growing: Option<&Arc<Growing>>,
    ) -> Result<(), OciError> {
        let url = self.url(&repo.registry, &format!("/v2/{}/blobs/{digest}", repo.name))?;
        let (mut tmp, mut part) = Partial::open(dest, digest.algorithm(), size, growing).await?;
        let mut progress = Progress {
            callback: progress,
            reported: 0,
        };
        progress.reach(part.have);
        received.store(part.have, Ordering::Relaxed);
        let result = self
            .download(
                repo,
                digest,
                size,
                &url,
                &mut part,
                &mut progress,
                what,
                received,
            )
            .await;
        match result {
            Ok(()) => {}
            // Content that is known wrong is not resumed from.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::DigestMismatch { .. } | ErrorKind::SizeMismatch { .. }
                ) =>
            {
                tmp.discard();
                return Err(e);
            }
            Err(e) => {
                // Nothing to resume from: nothing to keep. Else what is buffered goes to
                // the part file for the next attempt (a cancelled download loses its
                // buffer, and the next one re-hashes what reached the file).
                if part.have == 0 || part.out.flush().await.is_err() {
                    tmp.discard();
                }
                return Err(e);
            }
        }
        let (actual, held) = part.finish(self.config().durable_blobs).await?;
        if actual != *digest {
            tmp.discard();
            return Err(ErrorKind::DigestMismatch {
                what: what.to_owned(),
                url: url.to_string(),
                expected: digest.clone(),
                actual,
            }
            .into());
        }
        let committed = tmp.commit(dest, self.config().durable_blobs).await;
        drop(held);
        committed
    }

    /// The requests of [`Client::pull_blob`], until `part` holds the whole blob.
    #[allow(clippy::too_many_arguments)] // One download's state, passed whole.
    async fn download(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        url: &reqwest::Url,
        part: &mut Partial,
        progress: &mut Progress<'_>,
        what: &str,
        received: &AtomicU64,
    ) -> Result<(), OciError> {
        let scopes = [pull_scope(&repo.name)];
        let config = &self.inner.config;
        // Requests made, and failed ones since the download last went further than ever
        // before: a server that restarts from zero and dies at the same byte (or ignores
        // `Range`) is not making progress however many bytes it sends.
        let (mut attempts, mut failures, mut furthest) = (0u32, 0u32, 0u64);
        loop {
            // A part file that holds as many bytes as the blob has: done if they are the
            // blob, else from the first byte (asking for the bytes past the end gets 416).
            if part.have > 0 && size == Some(part.have) {
                if part.hasher.clone().finish() == *digest {
                    return Ok(());
                }
                part.restart(digest.algorithm()).await?;
                received.store(0, Ordering::Relaxed);
            }
            attempts += 1;
            let sent = self
                .send(Req {
                    what,
                    registry: Some(&repo.registry),
                    method: Method::GET,
                    url: url.clone(),
                    headers: range_from(part.have),
                    body: Body::Empty,
                    scopes: &scopes,
                    retry: true,
                })
                .await?;
            let status = sent.resp.status();
            let answered = sent.url.to_string();
            let resumed = status == StatusCode::PARTIAL_CONTENT
                && part.have > 0
                && content_range_start(&sent.resp) == Some(part.have);
            if !resumed {
                if status == StatusCode::RANGE_NOT_SATISFIABLE && part.have > 0 && attempts == 1 {
                    // The part file is longer than the blob (no size to tell): start over.
                    part.restart(digest.algorithm()).await?;
                    received.store(0, Ordering::Relaxed);
                    continue;
                }
                if status != StatusCode::OK {
                    return Err(self.status_error(what, &Method::GET, sent).await);
                }
                // A full answer (the server ignored the range): from the first byte.
                part.restart(digest.algorithm()).await?;
                received.store(0, Ordering::Relaxed);
            }
            // A body announced shorter or longer than the descriptor can never verify.
            if let (Some(s), Some(announced)) = (size, sent.resp.content_length())
                && part.have + announced != s
            {
                return Err(ErrorKind::SizeMismatch {
                    what: what.to_owned(),
                    url: answered,
                    expected: s,
                    actual: part.have + announced,
                }
                .into());
            }
            let interruption = part
                .stream(sent.resp, size, progress, what, &answered, received)
                .await?;
            match (interruption, size) {
                (None, Some(s)) if part.have != s => {
                    // The server ended the body as complete, short of the declared size:
                    // asking again gets the same lie.
                    return Err(ErrorKind::SizeMismatch {
                        what: what.to_owned(),
                        url: answered,
                        expected: s,
                        actual: part.have,
                    }
                    .into());
                }
                (None, _) => break,
                (Some(source), _) => {
                    if part.have > furthest {
                        furthest = part.have;
                        failures = 0;
                    }
                    failures += 1;
                    if failures > config.retries || attempts >= config.transfer_attempts {
                        return Err(ErrorKind::Connection {
                            what: what.to_owned(),
                            method: "GET".into(),
                            url: answered,
                            attempts,
                            source,
                        }
                        .into());
                    }
                }
            }
            tokio::time::sleep(self.backoff(failures)).await;
        }
        Ok(())
    }
}
