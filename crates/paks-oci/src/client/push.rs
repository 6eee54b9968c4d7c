//! Blob uploads: monolithic, chunked and resumable, or mounted from another repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use paks_types::Digest;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::http::{Body, Req, Sent, header_str, location};
use super::progress::{Progress, with_progress};
use super::{Client, pull_scope, push_scope};
use crate::error::{ErrorKind, OciError, io_err};
use crate::reference::Repository;

/// How [`Client::push_blob`] got a blob into the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedBlob {
    /// The repository had it already; nothing was sent.
    Existed,
    /// Mounted from another repository of the same registry; nothing was sent.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// The offset after `Range: 0-<end>` of an upload (distribution writes `0-0` for an
/// empty upload, which is taken as empty).
fn upload_offset(resp: &reqwest::Response) -> Option<u64> {
    let v = header_str(resp, "range")?;
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (start, end) = v.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    if start != 0 {
        return None;
    }
    Some(if end == 0 { 0 } else { end + 1 })
}

fn octet_stream() -> HeaderValue {
    HeaderValue::from_static("application/octet-stream")
}

/// A digest in a URL query.
fn with_digest(url: &Url, digest: &Digest) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    url
}

/// What a `HEAD` and mount attempt came to.
enum Mount {
    Done(PushedBlob),
    /// The bytes must be sent, into this session if the registry opened one.
    Upload(Option<Url>),
}

/// Where the bytes of a push come from.
enum Source {
    File(PathBuf),
    Bytes(Bytes),
}

impl Source {
    fn body(&self, offset: u64, len: u64, sent: &Arc<AtomicU64>) -> Body {
        match self {
            Source::File(path) => Body::File {
                path: path.clone(),
                offset,
                len,
                sent: Some(sent.clone()),
            },
            Source::Bytes(b) => {
                let start = usize::try_from(offset).expect("in-memory offsets fit usize");
                let end = usize::try_from(offset + len).expect("in-memory offsets fit usize");
                sent.store(offset + len, Ordering::Relaxed);
                Body::Bytes(b.slice(start..end))
            }
        }
    }
}

impl Client {
    /// Upload blob `digest` (`size` bytes, read from `src`) to `repo`, unless it is there.
    ///
    /// `HEAD` first (a blob is never sent twice); then, with `mount_from` on the same
    /// registry, a cross-repository mount (`POST ?mount=&from=`; a 202 opens the upload
    /// session instead). Blobs smaller than the chunk size go in one `PUT`; larger ones
    /// in `PATCH` chunks, and a chunk upload that fails asks the session where it stands
    /// (`GET`, 204 + `Range`) and resumes there, or starts a new session.
    pub async fn push_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        src: &Path,
        mount_from: Option<&Repository>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<PushedBlob, OciError> {
        let meta = tokio::fs::metadata(src)
            .await
            .map_err(io_err("failed to read", src))?;
        if meta.len() != size {
            return Err(ErrorKind::SizeMismatch {
                what: format!("failed to push blob `{digest}` to `{repo}`"),
                url: src.display().to_string(),
                expected: size,
                actual: meta.len(),
            }
            .into());
        }
        self.push(
            repo,
            digest,
            size,
            Source::File(src.to_owned()),
            mount_from,
            progress,
        )
        .await
    }

    /// Upload a small blob (a config) from memory; returns its sha256 digest.
    pub async fn push_blob_bytes(
        &self,
        repo: &Repository,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        let digest = Digest::sha256_of(bytes);
        self.push_bytes(repo, &digest, bytes).await?;
        Ok(digest)
    }

    /// Upload blob `digest` from memory unless `repo` has it; says which it was.
    pub async fn push_bytes(
        &self,
        repo: &Repository,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<PushedBlob, OciError> {
        self.push(
            repo,
            digest,
            bytes.len() as u64,
            Source::Bytes(Bytes::copy_from_slice(bytes)),
            None,
            &|_| {},
        )
        .await
    }

    /// Make blob `digest` present in `repo` without sending its bytes: it is there
    /// already (`HEAD`), or it is mounted from `mount_from` on the same registry. `None`
    /// when neither worked and the bytes must be pushed.
    pub async fn mount_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        mount_from: Option<&Repository>,
    ) -> Result<Option<PushedBlob>, OciError> {
        let mut scopes = vec![push_scope(&repo.name)];
        Ok(
            match self
                .try_mount(repo, digest, mount_from, &mut scopes)
                .await?
            {
                Mount::Done(how) => Some(how),
                // A session the registry opened instead expires unused.
                Mount::Upload(_) => None,
            },
        )
    }

    /// `HEAD`, then a cross-repository mount when `mount_from` is on the same registry.
    /// A mount the registry answers with an upload session (202) returns the session.
    async fn try_mount(
        &self,
        repo: &Repository,
        digest: &Digest,
        mount_from: Option<&Repository>,
        scopes: &mut Vec<String>,
    ) -> Result<Mount, OciError> {
        if self.head_blob(repo, digest, scopes).await?.is_some() {
            return Ok(Mount::Done(PushedBlob::Existed));
        }
        let Some(from) = mount_from.filter(|f| f.registry == repo.registry && f.name != repo.name)
        else {
            return Ok(Mount::Upload(None));
        };
        let what = format!("failed to mount blob `{digest}` into `{repo}`");
        scopes.push(pull_scope(&from.name));
        let mut url = self.url(&repo.registry, &format!("/v2/{}/blobs/uploads/", repo.name))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", &from.name);
        let sent = self.post_upload(&what, repo, url, scopes).await?;
        match sent.resp.status() {
            StatusCode::CREATED => Ok(Mount::Done(PushedBlob::Mounted)),
            StatusCode::ACCEPTED => Ok(Mount::Upload(Some(location(&what, &sent)?))),
            _ => Err(self.status_error(&what, &Method::POST, sent).await),
        }
    }

    async fn push(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        source: Source,
        mount_from: Option<&Repository>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<PushedBlob, OciError> {
        let _permit = self.transfer_permit().await;
        let what = || format!("failed to push blob `{digest}` to `{repo}`");
        self.bounded(
            what,
            Box::pin(self.push_unbounded(repo, digest, size, source, mount_from, progress)),
        )
        .await
    }

    /// [`Client::push`] without its deadline.
    async fn push_unbounded(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        source: Source,
        mount_from: Option<&Repository>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<PushedBlob, OciError> {
        let what = format!("failed to push blob `{digest}` to `{repo}`");
        let mut scopes = vec![push_scope(&repo.name)];
        let mut session = match self
            .try_mount(repo, digest, mount_from, &mut scopes)
            .await?
        {
            Mount::Done(how) => return Ok(how),
            Mount::Upload(session) => session,
        };
        let mut progress = Progress {
            callback: progress,
            reported: 0,
        };
        let sent_bytes = Arc::new(AtomicU64::new(0));
        let chunked = size >= self.inner.config.chunk_size;
        let mut restarts = 0u32;
        loop {
            let session_url = match session.take() {
                Some(s) => s,
                None => self.start_upload(&what, repo, &scopes).await?,
            };
            let result = if chunked {
                self.upload_chunks(
                    &what,
                    repo,
                    digest,
                    size,
                    &source,
                    session_url,
                    &scopes,
                    &sent_bytes,
                    &mut progress,
                )
                .await
            } else {
                self.upload_whole(
                    &what,
                    repo,
                    digest,
                    size,
                    &source,
                    &session_url,
                    &scopes,
                    &sent_bytes,
                    &mut progress,
                )
                .await
            };
            match result {
                Ok(()) => return Ok(PushedBlob::Uploaded),
                Err(e) if restartable(&e) && restarts < self.inner.config.retries => {
                    restarts += 1;
                    tokio::time::sleep(self.backoff(restarts)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `POST /v2/<name>/blobs/uploads/` → the session URL.
    async fn start_upload(
        &self,
        what: &str,
        repo: &Repository,
        scopes: &[String],
    ) -> Result<Url, OciError> {
        let url = self.url(&repo.registry, &format!("/v2/{}/blobs/uploads/", repo.name))?;
        let sent = self.post_upload(what, repo, url, scopes).await?;
        if sent.resp.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(what, &Method::POST, sent).await);
        }
        location(what, &sent)
    }

    async fn post_upload(
        &self,
        what: &str,
        repo: &Repository,
        url: Url,
        scopes: &[String],
    ) -> Result<Sent, OciError> {
        self.send(Req {
            what,
            registry: Some(&repo.registry),
            method: Method::POST,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            scopes,
            retry: true,
        })
        .await
    }

    /// `PUT <session>?digest=` with the whole blob.
    #[allow(clippy::too_many_arguments)]
    async fn upload_whole(
        &self,
        what: &str,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        source: &Source,
        session: &Url,
        scopes: &[String],
        sent_bytes: &Arc<AtomicU64>,
        progress: &mut Progress<'_>,
    ) -> Result<(), OciError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, octet_stream());
        let req = Req {
            what,
            registry: Some(&repo.registry),
            method: Method::PUT,
            url: with_digest(session, digest),
            headers,
            body: source.body(0, size, sent_bytes),
            scopes,
            // A failed PUT leaves the session in an unknown state: the caller starts a
            // new one.
            retry: false,
        };
        let sent = with_progress(self.send(req), sent_bytes, progress).await?;
        self.finish_upload(what, digest, sent).await
    }

    /// `PATCH` chunks, then `PUT <session>?digest=`.
    #[allow(clippy::too_many_arguments)]
    async fn upload_chunks(
        &self,
        what: &str,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        source: &Source,
        mut session: Url,
        scopes: &[String],
        sent_bytes: &Arc<AtomicU64>,
        progress: &mut Progress<'_>,
    ) -> Result<(), OciError> {
        let chunk = self.inner.config.chunk_size;
        let mut offset = 0u64;
        let mut failures = 0u32;
        while offset < size {
            let end = (offset + chunk).min(size);
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, octet_stream());
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("{offset}-{}", end - 1)).expect("a valid header"),
            );
            let req = Req {
                what,
                registry: Some(&repo.registry),
                method: Method::PATCH,
                url: session.clone(),
                headers,
                body: source.body(offset, end - offset, sent_bytes),
                scopes,
                retry: false,
            };
            let result = with_progress(self.send(req), sent_bytes, progress).await;
            match result {
                Ok(sent) if sent.resp.status() == StatusCode::ACCEPTED => {
                    session = location(what, &sent).unwrap_or(session);
                    offset = upload_offset(&sent.resp)
                        .filter(|&o| o > offset)
                        .unwrap_or(end);
                    failures = 0;
                    continue;
                }
                Ok(sent) if recoverable_status(sent.resp.status()) => {}
                Err(e) if restartable(&e) => {}
                Ok(sent) => return Err(self.status_error(what, &Method::PATCH, sent).await),
                Err(e) => return Err(e),
            }
            // The chunk failed: ask the session where it stands.
            failures += 1;
            if failures > self.inner.config.retries {
                return Err(ErrorKind::Protocol {
                    what: what.to_owned(),
                    url: session.to_string(),
                    message: format!("the chunk upload failed {failures} times at byte {offset}"),
                }
                .into());
            }
            tokio::time::sleep(self.backoff(failures)).await;
            let status = self
                .send(Req {
                    what,
                    registry: Some(&repo.registry),
                    method: Method::GET,
                    url: session.clone(),
                    headers: HeaderMap::new(),
                    body: Body::Empty,
                    scopes,
                    retry: true,
                })
                .await?;
            match (status.resp.status(), upload_offset(&status.resp)) {
                (StatusCode::NO_CONTENT | StatusCode::ACCEPTED, Some(at)) if at <= size => {
                    session = location(what, &status).unwrap_or(session);
                    offset = at;
                }
                // The session is gone or cannot say: a new session, from the start.
                _ => {
                    return Err(ErrorKind::Protocol {
                        what: what.to_owned(),
                        url: session.to_string(),
                        message: format!(
                            "the upload session cannot be resumed ({})",
                            status.resp.status()
                        ),
                    }
                    .into());
                }
            }
        }
        let sent = self
            .send(Req {
                what,
                registry: Some(&repo.registry),
                method: Method::PUT,
                url: with_digest(&session, digest),
                headers: HeaderMap::new(),
                body: Body::Empty,
                scopes,
                retry: true,
            })
            .await?;
        self.finish_upload(what, digest, sent).await
    }

    /// Check the answer to the closing `PUT`.
    async fn finish_upload(&self, what: &str, digest: &Digest, sent: Sent) -> Result<(), OciError> {
        if sent.resp.status() != StatusCode::CREATED {
            return Err(self.status_error(what, &Method::PUT, sent).await);
        }
        if let Some(stored) =
            header_str(&sent.resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
            && stored.algorithm() == digest.algorithm()
            && stored != *digest
        {
            return Err(ErrorKind::DigestMismatch {
                what: what.to_owned(),
                url: sent.url.to_string(),
                expected: digest.clone(),
                actual: stored,
            }
            .into());
        }
        Ok(())
    }
}

/// Statuses after which a chunk upload asks the session where it stands.
fn recoverable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 416 | 429 | 500 | 502 | 503 | 504)
}

/// Errors after which an upload is tried again with a new session.
fn restartable(e: &OciError) -> bool {
    match e.kind() {
        ErrorKind::Connection { .. } | ErrorKind::Protocol { .. } => true,
        ErrorKind::Http { status, .. } => matches!(status, 416 | 429 | 500 | 502 | 503 | 504),
        _ => false,
    }
}
