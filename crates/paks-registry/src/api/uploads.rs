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

use super::{ApiError, AppState, Code, blocking, empty, parse_digest, query_get, query_pairs};
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
    let storage = state.storage.clone();
    let r = repo.clone();
    let id = blocking(move || storage.start_upload(&r)).await?;
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
        let storage = state.storage.clone();
        let (r, i) = (repo.clone(), id.clone());
        if blocking(move || storage.cancel_upload(&r, &i))
            .await
            .unwrap_or(false)
        {
            state.upload_ended(false);
        }
    }
    outcome.map(|()| created(&repo, &digest))
}

pub async fn status(state: &AppState, repo: RepoName, id: &str) -> Result<Response, ApiError> {
    let size = current_size(state, &repo, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, &repo, id, size))
}

async fn current_size(state: &AppState, repo: &RepoName, id: &str) -> Result<u64, ApiError> {
    let storage = state.storage.clone();
    let (r, i) = (repo.clone(), id.to_owned());
    blocking(move || storage.upload_size(&r, &i))
        .await?
        .ok_or_else(|| unknown_upload(id))
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
    check_content_range(state, &repo, id, request.headers()).await?;
    let size = write_body(state, &repo, id, request.into_body()).await?;
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
    if has_body {
        check_content_range(state, &repo, id, request.headers()).await?;
        write_body(state, &repo, id, request.into_body()).await?;
    }
    commit(state, &repo, id, &digest).await?;
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
        Err(_) => {}
    }
    result.map(|_| ())
}

pub async fn cancel(state: &AppState, repo: RepoName, id: &str) -> Result<Response, ApiError> {
    let storage = state.storage.clone();
    let (r, i) = (repo, id.to_owned());
    if blocking(move || storage.cancel_upload(&r, &i)).await? {
        state.upload_ended(false);
        Ok(empty(StatusCode::NO_CONTENT, &[]))
    } else {
        Err(unknown_upload(id))
    }
}

/// Appends a request body to an upload, writing on a blocking thread while the next
/// chunks arrive. Returns the session's new size. Bytes received before the body broke
/// off stay in the session, so the client can ask for its status and resume.
async fn write_body(
    state: &AppState,
    repo: &RepoName,
    id: &str,
    body: Body,
) -> Result<u64, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let storage = state.storage.clone();
    let (r, i) = (repo.clone(), id.to_owned());
    let writer = tokio::task::spawn_blocking(move || -> Result<u64, StorageError> {
        let mut w = storage.upload_writer(&r, &i)?;
        while let Some(chunk) = rx.blocking_recv() {
            w.write_all(&chunk)
                .map_err(|e| StorageError::io(format!("appending to upload `{i}`"), e))?;
        }
        w.finish()
    });
    let mut stream = body.into_data_stream();
    let mut broken = None;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(chunk) => {
                state.received(chunk.len() as u64);
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is below
                }
            }
            Err(e) => {
                broken = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let size = match writer.await {
        Ok(r) => r?,
        Err(e) => return Err(ApiError::internal(format!("an upload task failed: {e}"))),
    };
    if let Some(e) = broken {
        return Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!("the request body broke off after {size} bytes of upload `{id}`: {e}"),
        ));
    }
    Ok(size)
}
