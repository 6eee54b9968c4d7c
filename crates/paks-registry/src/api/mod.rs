//! The HTTP API of the OCI distribution spec v1.1, over a [`Storage`].
//!
//! Repository names contain slashes, so routes under `/v2/` are matched from the end of
//! the path (`…/manifests/<reference>`, `…/blobs/uploads/<id>`), as the spec's grammar
//! allows: no name component can be a route word followed by a valid tail that changes the
//! meaning, because route words are matched only in their fixed positions.

mod blobs;
pub mod conditional;
mod discovery;
pub mod error;
mod manifests;
pub mod sessions;
pub mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paks_types::Digest;

#[doc(hidden)] // for the fuzz targets: request parsing without a server
pub use blobs::{RangeRequest, parse_range};
pub use error::{ApiError, Code};
#[doc(hidden)] // for the fuzz targets: what `PUT /manifests` checks, without a server
pub use manifests::inspect as inspect_manifest;

use crate::names::RepoName;
use crate::storage::{Storage, StorageError};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub limits: Arc<crate::limits::Limits>,
    /// The upload sessions this process has open.
    pub sessions: Arc<sessions::UploadSessions>,
    /// Serialises tag writes, so a conditional `PUT` checks and writes in one step.
    pub tag_locks: Arc<conditional::TagLocks>,
}

impl AppState {
    pub fn upload_started(&self) {
        self.metrics.upload_started();
    }
    pub fn upload_ended(&self, committed: bool) {
        self.metrics.upload_ended(committed);
    }
    pub fn received(&self, n: u64) {
        self.metrics.add_received(n);
    }
}

/// The largest manifest accepted (the spec asks registries to take at least 4 MiB).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// A request under `/v2/`, decoded from its path.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Base,
    Catalog,
    Tags(RepoName),
    Manifest(RepoName, String),
    Blob(RepoName, String),
    UploadStart(RepoName),
    Upload(RepoName, String),
    Referrers(RepoName, String),
}

impl Route {
    /// The metrics label of this route.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Catalog => "catalog",
            Self::Tags(_) => "tags",
            Self::Manifest(..) => "manifest",
            Self::Blob(..) => "blob",
            Self::UploadStart(_) | Self::Upload(..) => "upload",
            Self::Referrers(..) => "referrers",
        }
    }

    pub fn repo(&self) -> Option<&RepoName> {
        match self {
            Self::Base | Self::Catalog => None,
            Self::Tags(r)
            | Self::Manifest(r, _)
            | Self::Blob(r, _)
            | Self::UploadStart(r)
            | Self::Upload(r, _)
            | Self::Referrers(r, _) => Some(r),
        }
    }
}

/// Decodes a path. `None`: not an API path (`/v2` or below); `Some(Err)`: an API path
/// whose name breaks the grammar, or that names no route (404).
pub fn parse_route(path: &str) -> Option<Result<Route, ApiError>> {
    let rest = if path == "/v2" {
        ""
    } else {
        path.strip_prefix("/v2/")?
    };
    if rest.is_empty() {
        return Some(Ok(Route::Base));
    }
    if rest == "_catalog" {
        return Some(Ok(Route::Catalog));
    }
    let rest = percent_decode(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let name = |k: usize| -> Result<RepoName, ApiError> {
        let joined = segments[..n - k].join("/");
        RepoName::parse(&joined).map_err(|why| {
            ApiError::new(Code::NameInvalid, format!("invalid repository name: {why}"))
                .with_detail(serde_json::json!({ "name": joined }))
        })
    };
    let at = |i: usize| segments.get(n.wrapping_sub(i)).copied().unwrap_or("");
    let route = if n >= 3 && at(2) == "tags" && at(1) == "list" {
        name(2).map(Route::Tags)
    } else if n >= 4 && at(3) == "blobs" && at(2) == "uploads" {
        if at(1).is_empty() {
            name(3).map(Route::UploadStart)
        } else {
            name(3).map(|r| Route::Upload(r, at(1).to_owned()))
        }
    } else if n >= 3 && at(2) == "blobs" && at(1) == "uploads" {
        name(2).map(Route::UploadStart)
    } else if n >= 3 && at(2) == "manifests" {
        name(2).map(|r| Route::Manifest(r, at(1).to_owned()))
    } else if n >= 3 && at(2) == "blobs" {
        name(2).map(|r| Route::Blob(r, at(1).to_owned()))
    } else if n >= 3 && at(2) == "referrers" {
        name(2).map(|r| Route::Referrers(r, at(1).to_owned()))
    } else {
        Err(
            ApiError::new(Code::NameUnknown, format!("no API route at `{path}`"))
                .with_status(StatusCode::NOT_FOUND),
        )
    };
    Some(route)
}

/// Decodes `%XX` escapes (clients may escape the `:` of a digest).
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The query parameters of a request, decoded, in order (keys may repeat).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let plus = |s: &str| percent_decode(&s.replace('+', " "));
            (plus(k), plus(v))
        })
        .collect()
}

pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parses a digest from a URL, answering `DIGEST_INVALID` when malformed.
pub fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>().map_err(|e| {
        ApiError::new(
            Code::DigestInvalid,
            format!("`{s}` is not a valid digest: {e}"),
        )
        .with_detail(serde_json::json!({ "digest": s }))
    })
}

/// Runs a storage call on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format!("a storage task failed: {e}"))),
    }
}

/// Answers one API request (authorization already checked).
pub async fn handle(state: AppState, route: Route, request: Request) -> Response {
    let method = request.method().clone();
    let result = match (route, &method) {
        (Route::Base, &Method::GET | &Method::HEAD) => Ok(base()),
        (Route::Catalog, &Method::GET) => discovery::catalog(&state, request.uri()).await,
        (Route::Tags(repo), &Method::GET) => discovery::tags(&state, repo, request.uri()).await,
        (Route::Referrers(repo, d), &Method::GET) => {
            discovery::referrers(&state, repo, &d, request.uri()).await
        }
        (Route::Manifest(repo, r), &Method::GET) => manifests::get(&state, repo, &r, true).await,
        (Route::Manifest(repo, r), &Method::HEAD) => manifests::get(&state, repo, &r, false).await,
        (Route::Manifest(repo, r), &Method::PUT) => manifests::put(&state, repo, &r, request).await,
        (Route::Manifest(repo, r), &Method::DELETE) => manifests::delete(&state, repo, &r).await,
        (Route::Blob(repo, d), &Method::GET) => {
            blobs::get(&state, repo, &d, request.headers(), true).await
        }
        (Route::Blob(repo, d), &Method::HEAD) => {
            blobs::get(&state, repo, &d, request.headers(), false).await
        }
        (Route::Blob(repo, d), &Method::DELETE) => blobs::delete(&state, repo, &d).await,
        (Route::UploadStart(repo), &Method::POST) => uploads::start(&state, repo, request).await,
        (Route::Upload(repo, id), &Method::GET) => uploads::status(&state, repo, &id).await,
        (Route::Upload(repo, id), &Method::PATCH) => {
            uploads::patch(&state, repo, &id, request).await
        }
        (Route::Upload(repo, id), &Method::PUT) => uploads::put(&state, repo, &id, request).await,
        (Route::Upload(repo, id), &Method::DELETE) => uploads::cancel(&state, repo, &id).await,
        (_, m) => Err(ApiError::new(
            Code::Unsupported,
            format!("`{m}` is not supported on this path"),
        )),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn base() -> Response {
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{}",
    )
        .into_response();
    api_version(r.headers_mut());
    r
}

/// Sets `Docker-Distribution-API-Version`, which docker-era clients look for.
pub fn api_version(headers: &mut HeaderMap) {
    headers.insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
}

/// A header value from a string built by the server (never fails for our values).
pub fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// An empty response with a status and headers.
pub fn empty(status: StatusCode, headers: &[(&str, String)]) -> Response {
    let mut r = (status, Body::empty()).into_response();
    let h = r.headers_mut();
    for (k, v) in headers {
        if let Ok(name) = header::HeaderName::from_bytes(k.as_bytes()) {
            h.insert(name, hv(v));
        }
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// The handler mounted at `/v2` and `/v2/*`; kept generic-free for the router.
pub async fn entry(State(state): State<AppState>, request: Request) -> Response {
    match parse_route(request.uri().path()) {
        Some(Ok(route)) => handle(state, route, request).await,
        Some(Err(e)) => e.into_response(),
        None => ApiError::new(Code::NameUnknown, "not found")
            .with_status(StatusCode::NOT_FOUND)
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[test]
    fn routes_are_matched_from_the_end() {
        let r = |p: &str| parse_route(p).unwrap().unwrap();
        assert_eq!(r("/v2/"), Route::Base);
        assert_eq!(r("/v2/_catalog"), Route::Catalog);
        assert_eq!(r("/v2/a/b/tags/list"), Route::Tags(repo("a/b")));
        assert_eq!(
            r("/v2/a/manifests/x/manifests/v1"),
            Route::Manifest(repo("a/manifests/x"), "v1".into())
        );
        assert_eq!(r("/v2/a/blobs/uploads/"), Route::UploadStart(repo("a")));
        assert_eq!(r("/v2/a/blobs/uploads"), Route::UploadStart(repo("a")));
        assert_eq!(
            r("/v2/a/blobs/uploads/123"),
            Route::Upload(repo("a"), "123".into())
        );
        assert_eq!(
            r("/v2/a/blobs/sha256%3Aab"),
            Route::Blob(repo("a"), "sha256:ab".into())
        );
        assert_eq!(
            r("/v2/a/referrers/sha256:ab"),
            Route::Referrers(repo("a"), "sha256:ab".into())
        );
        assert!(parse_route("/static/x").is_none());
        let bad = parse_route("/v2/Bad/tags/list").unwrap().unwrap_err();
        assert_eq!(bad.code, Code::NameInvalid);
        let none = parse_route("/v2/a/whatever").unwrap().unwrap_err();
        assert_eq!(none.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn query_pairs_decode_and_repeat() {
        let q = query_pairs(Some("a=1&scope=x%3Ay&scope=z&n"));
        assert_eq!(q[1], ("scope".into(), "x:y".into()));
        assert_eq!(q.iter().filter(|(k, _)| k == "scope").count(), 2);
        assert_eq!(query_get(&q, "n"), Some(""));
    }
}
