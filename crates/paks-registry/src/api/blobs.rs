//! Blob reads (with ranges) and deletes.

use std::io::{Read, Seek, SeekFrom};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{ApiError, AppState, Code, api_version, blocking, empty, hv, parse_digest};
use crate::names::RepoName;

/// How much one read of a streamed blob takes.
const CHUNK: usize = 256 * 1024;

/// Answers up to this size are read whole rather than streamed (bigger ones would cost
/// their whole size in memory per client that does not read them).
const SMALL: u64 = CHUNK as u64;

/// A blob's answer: read whole, or a reader to stream from.
enum Whole {
    Yes(Vec<u8>),
    No(Box<dyn crate::storage::BlobRead>),
}

/// A `Range: bytes=…` request, resolved against the blob's size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range, or one this server answers with the whole blob (several ranges).
    Full,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// Cannot be satisfied (416).
    Unsatisfiable,
}

/// Resolves a `Range` header value against `size` (RFC 9110 §14.1.2).
pub fn parse_range(value: Option<&str>, size: u64) -> RangeRequest {
    let Some(value) = value else {
        return RangeRequest::Full;
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // a suffix: the last `b` bytes
        return match b.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(n) if size > 0 => RangeRequest::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            Ok(_) => RangeRequest::Unsatisfiable,
            Err(_) => RangeRequest::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeRequest::Full;
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            // A last position before the first: invalid, which RFC 9110 §14.2 answers
            // with 416 like an unsatisfiable one.
            Ok(_) => return RangeRequest::Unsatisfiable,
            Err(_) => return RangeRequest::Full,
        }
    };
    if start >= size {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Part { start, end }
    }
}

pub async fn get(
    state: &AppState,
    repo: RepoName,
    digest: &str,
    headers: &HeaderMap,
    with_body: bool,
) -> Result<Response, ApiError> {
    let digest = parse_digest(digest)?;
    let unknown = || {
        ApiError::new(
            Code::BlobUnknown,
            format!("blob `{digest}` is not in repository `{repo}`"),
        )
        .with_detail(serde_json::json!({ "digest": digest.to_string() }))
    };
    if !with_body {
        let storage = state.storage.clone();
        let (r, d) = (repo.clone(), digest.clone());
        let size = blocking(move || storage.blob_size(&r, &d))
            .await?
            .ok_or_else(unknown)?;
        let mut response = empty(
            StatusCode::OK,
            &[
                ("docker-content-digest", digest.to_string()),
                ("accept-ranges", "bytes".into()),
                ("content-type", "application/octet-stream".into()),
            ],
        );
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, hv(&size.to_string()));
        api_version(response.headers_mut());
        return Ok(response);
    }
    if let Some(redirect) = presigned(state, &repo, &digest).await? {
        return Ok(redirect);
    }
    let storage = state.storage.clone();
    let (r, d) = (repo.clone(), digest.clone());
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // One trip to the blocking pool opens the blob and, when the answer is small, reads it.
    let opened = blocking(move || {
        let Some(mut blob) = storage.open_blob(&r, &d)? else {
            return Ok(None);
        };
        let range = parse_range(range_header.as_deref(), blob.size);
        let (start, len) = match range {
            RangeRequest::Full => (0, blob.size),
            RangeRequest::Part { start, end } => (start, end - start + 1),
            RangeRequest::Unsatisfiable => {
                return Ok(Some((blob.size, range, Whole::No(blob.reader))));
            }
        };
        if len > SMALL {
            return Ok(Some((blob.size, range, Whole::No(blob.reader))));
        }
        let context = |e| crate::storage::StorageError::io(format!("reading blob `{d}`"), e);
        blob.reader.seek(SeekFrom::Start(start)).map_err(context)?;
        let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
        blob.reader.read_exact(&mut bytes).map_err(context)?;
        Ok(Some((blob.size, range, Whole::Yes(bytes))))
    })
    .await?
    .ok_or_else(unknown)?;
    let (size, range, content) = opened;
    let (status, start, len) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeRequest::Unsatisfiable => {
            return Err(ApiError::new(
                Code::BlobUnknown,
                format!("the range is outside blob `{digest}` of {size} bytes"),
            )
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            .with_header(header::CONTENT_RANGE, &format!("bytes */{size}")));
        }
    };
    let body = match content {
        Whole::Yes(bytes) => Body::from(bytes),
        Whole::No(reader) => stream_blob(reader, start, len),
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert(header::CONTENT_TYPE, hv("application/octet-stream"));
    h.insert("docker-content-digest", hv(&digest.to_string()));
    h.insert(header::ACCEPT_RANGES, hv("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            hv(&format!("bytes {start}-{}/{size}", start + len - 1)),
        );
    }
    api_version(h);
    Ok(response)
}

/// A redirect (307) to a URL the client may fetch blob `digest` from directly (`presign=`
/// in the storage URL), for a blob linked in `repo`; `None` when the storage offers none or
/// the blob is not linked (the usual path then answers). Ranges go to the URL too: object
/// stores honour them, so a resumed download never passes through the registry either.
async fn presigned(
    state: &AppState,
    repo: &RepoName,
    digest: &paks_types::Digest,
) -> Result<Option<Response>, ApiError> {
    let storage = state.storage.clone();
    let (r, d) = (repo.clone(), digest.clone());
    let url = blocking(move || {
        let Some(url) = storage.blob_url(&r, &d)? else {
            return Ok(None);
        };
        Ok(storage.blob_size(&r, &d)?.map(|_| url))
    })
    .await?;
    Ok(url.map(|url| {
        let mut response = empty(
            StatusCode::TEMPORARY_REDIRECT,
            &[
                ("location", url),
                ("docker-content-digest", digest.to_string()),
            ],
        );
        api_version(response.headers_mut());
        response
    }))
}

/// Streams `len` bytes from `start` of a blob. Each chunk is read by a short task on the
/// blocking pool when the connection asks for it, so a client that reads slowly (or not
/// at all) holds one chunk of memory and no thread.
fn stream_blob(reader: Box<dyn crate::storage::BlobRead>, start: u64, len: u64) -> Body {
    let chunks = futures_util::stream::try_unfold(
        (reader, Some(start), len),
        |(mut reader, seek, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            let (reader, buf) = tokio::task::spawn_blocking(move || {
                if let Some(start) = seek.filter(|s| *s > 0) {
                    reader.seek(SeekFrom::Start(start))?;
                }
                let mut buf = vec![0u8; want];
                let mut got = 0;
                while got < want {
                    match reader.read(&mut buf[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if got == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the blob is shorter than recorded",
                    ));
                }
                buf.truncate(got);
                Ok((reader, buf))
            })
            .await
            .map_err(std::io::Error::other)??;
            let left = left - buf.len() as u64;
            Ok::<_, std::io::Error>(Some((Bytes::from(buf), (reader, None, left))))
        },
    );
    Body::from_stream(chunks)
}

pub async fn delete(state: &AppState, repo: RepoName, digest: &str) -> Result<Response, ApiError> {
    let digest = parse_digest(digest)?;
    let storage = state.storage.clone();
    let (r, d) = (repo.clone(), digest.clone());
    if blocking(move || storage.delete_blob(&r, &d)).await? {
        Ok(empty(StatusCode::ACCEPTED, &[]))
    } else {
        Err(ApiError::new(
            Code::BlobUnknown,
            format!("blob `{digest}` is not in repository `{repo}`"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_rfc_9110_says() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(
            parse_range(Some("bytes=0-4"), 10),
            Part { start: 0, end: 4 }
        );
        assert_eq!(parse_range(Some("bytes=5-"), 10), Part { start: 5, end: 9 });
        assert_eq!(
            parse_range(Some("bytes=5-100"), 10),
            Part { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part { start: 7, end: 9 });
        assert_eq!(
            parse_range(Some("bytes=-30"), 10),
            Part { start: 0, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=500-0"), 10), Unsatisfiable);
    }
}
