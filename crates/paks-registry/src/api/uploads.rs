//! Blob uploads: POST (session, monolithic `?digest=`, `?mount=&from=`), PATCH, PUT,
//! status and cancel.

use std::io::Write;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use paks_types::Digest;

use super::sessions::SessionGuard;
use super::{ApiError, AppState, Code, blocking, empty, parse_digest, query_get, query_pairs};
use crate::listen::ClientAddr;
use crate::names::RepoName;
use crate::storage::StorageError;

/// Set by the server on a POST when the client may read the `from` repository of a mount.
#[derive(Debug, Clone, Copy)]
pub struct MountAllowed(pub bool);

fn location(repo: &RepoName, id: &str) -> String {
    format!("/v2/{repo}/blobs/uploads/{id}")
}

/// `Range: 0-<last byte>`; distribution writes `0-0` for an empty upload, and so do we.
fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session_response(status: StatusCode, repo: &RepoName, id: &str, size: u64) -> Response {
    empty(
        status,
        &[
            ("location", location(repo, id)),
            ("range", range_header(size)),
            ("docker-upload-uuid", id.to_owned()),
        ],
    )
}

fn created(repo: &RepoName, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{repo}/blobs/{digest}")),
            ("docker-content-digest", digest.to_string()),
        ],
    )
}

pub async fn start(
    state: &AppState,
    repo: RepoName,
    request: Request,
) -> Result<Response, ApiError> {
    let query = query_pairs(request.uri().query());
    if let Some(mount) = query_get(&query, "mount") {
        let digest = parse_digest(mount)?;
        let allowed = request
            .extensions()
            .get::<MountAllowed>()
            .is_none_or(|m| m.0);
        if let Some(from) = query_get(&query, "from")
            && allowed
        {
            let from = RepoName::parse(from).map_err(|why| {
                ApiError::new(
                    Code::NameInvalid,
                    format!("invalid `from` repository: {why}"),
                )
            })?;
            let storage = state.storage.clone();
            let (f, r, d) = (from, repo.clone(), digest.clone());
            if blocking(move || storage.mount_blob(&f, &r, &d))
                .await?
                .is_some()
            {
                return Ok(created(&repo, &digest));
            }
        }
        // The source lacks it (or may not be read): open a session, as the spec says.
    }
    let digest = query_get(&query, "digest").map(parse_digest).transpose()?;
    let reservation = state.sessions.admit(ClientAddr::ip_of(&request))?;
    let storage = state.storage.clone();
    let r = repo.clone();
    let id = blocking(move || storage.start_upload(&r)).await?;
    reservation.opened(&id);
    state.upload_started();
    let Some(digest) = digest else {
        return Ok(session_response(StatusCode::ACCEPTED, &repo, &id, 0));
    };
    // Monolithic: the body is the whole blob.
    let outcome = async {
        write_body(state, &repo, &id, request.into_body()).await?;
        commit(state, &repo, &id, &digest).await
    }
    .await;
    if outcome.is_err() {
        remove_session(state, &repo, &id).await;
    }
    outcome.map(|()| created(&repo, &digest))
}

/// Removes session `id` after a failed monolithic upload or when it expired.
pub(crate) async fn remove_session(state: &AppState, repo: &RepoName, id: &str) {
    let storage = state.storage.clone();
    let (r, i) = (repo.clone(), id.to_owned());
    if blocking(move || storage.cancel_upload(&r, &i))
        .await
        .unwrap_or(false)
    {
        state.upload_ended(false);
    }
    state.sessions.closed(id);
}

pub async fn status(state: &AppState, repo: RepoName, id: &str) -> Result<Response, ApiError> {
    let size = current_size(state, &repo, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, &repo, id, size))
}

async fn current_size(state: &AppState, repo: &RepoName, id: &str) -> Result<u64, ApiError> {
    let storage = state.storage.clone();
    let (r, i) = (repo.clone(), id.to_owned());
    let size = blocking(move || storage.upload_size(&r, &i)).await?;
    size.ok_or_else(|| {
        state.sessions.closed(id);
        unknown_upload(id)
    })
}

fn unknown_upload(id: &str) -> ApiError {
    ApiError::new(Code::BlobUploadUnknown, format!("upload `{id}` is unknown"))
}

/// Checks a chunk's `Content-Range: <start>-<end>` against the session's size: a chunk
/// must start where the upload ends (416 otherwise, the session unchanged).
async fn check_content_range(
    state: &AppState,
    repo: &RepoName,
    id: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        // Without Content-Range the session must still exist.
        current_size(state, repo, id).await?;
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let spec = text.strip_prefix("bytes ").unwrap_or(text);
    let spec = spec.split('/').next().unwrap_or(spec);
    let parsed = spec
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    let Some((start, end)) = parsed.filter(|(s, e)| e >= s) else {
        return Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!("`Content-Range: {text}` is not `<start>-<end>`"),
        ));
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len != end - start + 1
    {
        return Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!(
                "`Content-Range: {text}` covers {} bytes but the body has {len}",
                end - start + 1
            ),
        ));
    }
    let size = current_size(state, repo, id).await?;
    if start != size {
        return Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!("the chunk starts at byte {start}, but upload `{id}` has {size} bytes"),
        )
        .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
        .with_header(header::RANGE, &range_header(size))
        .with_header(header::LOCATION, &location(repo, id)));
    }
    Ok(())
}

pub async fn patch(
    state: &AppState,
    repo: RepoName,
    id: &str,
    request: Request,
) -> Result<Response, ApiError> {
    // The range is checked under the session's lock, so no other writer moves its end.
    current_size(state, &repo, id).await?;
    let guard = state
        .sessions
        .lock(id, state.limits.body_idle_timeout)
        .await?;
    check_content_range(state, &repo, id, request.headers()).await?;
    let size = write_locked(state, &repo, id, request.into_body(), &guard).await?;
    Ok(session_response(StatusCode::ACCEPTED, &repo, id, size))
}

pub async fn put(
    state: &AppState,
    repo: RepoName,
    id: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let query = query_pairs(request.uri().query());
    let digest = query_get(&query, "digest")
        .ok_or_else(|| {
            ApiError::new(
                Code::DigestInvalid,
                "closing an upload needs `?digest=<digest>` in the URL",
            )
        })
        .and_then(parse_digest)?;
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v != "0");
    current_size(state, &repo, id).await?;
    let guard = state
        .sessions
        .lock(id, state.limits.body_idle_timeout)
        .await?;
    if has_body {
        check_content_range(state, &repo, id, request.headers()).await?;
        write_locked(state, &repo, id, request.into_body(), &guard).await?;
    }
    commit(state, &repo, id, &digest).await?;
    drop(guard);
    Ok(created(&repo, &digest))
}

async fn commit(
    state: &AppState,
    repo: &RepoName,
    id: &str,
    digest: &Digest,
) -> Result<(), ApiError> {
    let storage = state.storage.clone();
    let (r, i, d) = (repo.clone(), id.to_owned(), digest.clone());
    let result = blocking(move || storage.commit_upload(&r, &i, &d)).await;
    match &result {
        Ok(_) => state.upload_ended(true),
        // commit_upload removes the session on a mismatch
        Err(e) if e.code == Code::DigestInvalid => state.upload_ended(false),
        Err(e) if e.code != Code::BlobUploadUnknown => return result.map(|_| ()),
        Err(_) => {}
    }
    state.sessions.closed(id);
    result.map(|_| ())
}

pub async fn cancel(state: &AppState, repo: RepoName, id: &str) -> Result<Response, ApiError> {
    let storage = state.storage.clone();
    let (r, i) = (repo, id.to_owned());
    let existed = blocking(move || storage.cancel_upload(&r, &i)).await?;
    state.sessions.closed(id);
    if existed {
        state.upload_ended(false);
        Ok(empty(StatusCode::NO_CONTENT, &[]))
    } else {
        Err(unknown_upload(id))
    }
}

/// How many received bytes are gathered before one write on the blocking pool.
const WRITE_BATCH: usize = 256 * 1024;

/// Appends a request body to a session this request has just opened (so nobody else
/// writes to it).
async fn write_body(
    state: &AppState,
    repo: &RepoName,
    id: &str,
    body: Body,
) -> Result<u64, ApiError> {
    let guard = state
        .sessions
        .lock(id, state.limits.body_idle_timeout)
        .await?;
    write_locked(state, repo, id, body, &guard).await
}

/// Appends a request body to an upload whose lock the caller holds. The body is read
/// asynchronously; each batch of up to [`WRITE_BATCH`] bytes is written by a short task
/// on the blocking pool, so a slow or stalled client holds no thread. Returns the
/// session's new size. Bytes received before the body broke off (or stalled past the
/// idle timeout) stay in the session, so the client can ask for its status and resume.
async fn write_locked(
    state: &AppState,
    repo: &RepoName,
    id: &str,
    body: Body,
    _lock: &SessionGuard,
) -> Result<u64, ApiError> {
    let storage = state.storage.clone();
    let (r, i) = (repo.clone(), id.to_owned());
    let mut writer = blocking(move || storage.upload_writer(&r, &i)).await?;
    let mut stream = body.into_data_stream();
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0;
    let mut broken = None;
    let mut failed = None;
    loop {
        let next = stream.next().await;
        let ended = match next {
            Some(Ok(chunk)) => {
                state.received(chunk.len() as u64);
                batched += chunk.len();
                batch.push(chunk);
                false
            }
            Some(Err(e)) => {
                broken = Some(e);
                true
            }
            None => true,
        };
        if batched >= WRITE_BATCH || (ended && batched > 0) {
            let chunks = std::mem::take(&mut batch);
            batched = 0;
            let i = id.to_owned();
            let written = tokio::task::spawn_blocking(move || {
                let result = chunks.iter().try_for_each(|c| writer.write_all(c));
                (
                    writer,
                    result.map_err(|e| StorageError::io(format!("appending to upload `{i}`"), e)),
                )
            })
            .await;
            match written {
                Ok((w, Ok(()))) => writer = w,
                Ok((w, Err(e))) => {
                    writer = w;
                    failed = Some(ApiError::from(e));
                    break;
                }
                Err(e) => return Err(ApiError::internal(format!("an upload task failed: {e}"))),
            }
        }
        if ended {
            break;
        }
    }
    let size = blocking(move || writer.finish()).await?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(e) = broken {
        return Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!("the request body broke off after {size} bytes of upload `{id}`: {e}"),
        ));
    }
    Ok(size)
}
