//! The JSON API under `/api/v1/`, and its OpenAPI document at `/api/v1/openapi.json`.
//!
//! Every handler asks [`access::viewer`] who is asking and answers only about repositories
//! that viewer may pull: a repository the viewer may not see is as unknown as one that does
//! not exist (404), so names do not leak. Errors are JSON `{"error", "hint"}` with the
//! status that says what went wrong.

pub mod openapi;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use paks_registry::auth::Identity;
use serde::{Deserialize, Serialize};

use crate::{Catalog, access};

/// The default number of search results.
pub const DEFAULT_LIMIT: usize = 50;
/// The most search results one request may ask for.
pub const MAX_LIMIT: usize = 500;
/// The largest `POST /api/v1/verdict` body: a host profile is a few KiB.
pub const MAX_VERDICT_BODY: usize = 1024 * 1024;

/// The API's routes.
pub fn routes(catalog: Catalog) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_document))
        .route("/api/v1/search", get(search))
        .route("/api/v1/repositories", get(repositories))
        .route("/api/v1/packages/{*repository}", get(package))
        .route("/api/v1/images/{*repository}", get(image))
        .route(
            "/api/v1/verdict",
            post(verdict).layer(DefaultBodyLimit::max(MAX_VERDICT_BODY)),
        )
        // Anything else under the API (an empty repository name included) is a JSON 404,
        // not the registry's plain one.
        .route("/api/v1", any(unknown_route))
        .route("/api/v1/", any(unknown_route))
        .route("/api/v1/{*rest}", any(unknown_route))
        .with_state(catalog)
}

/// An error as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
    /// What the caller can do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A failed request: its status and the JSON error.
struct Failure {
    status: StatusCode,
    body: ApiError,
    /// The `WWW-Authenticate` challenge of a 401.
    challenge: Option<HeaderValue>,
}

impl Failure {
    fn new(status: StatusCode, error: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            status,
            body: ApiError {
                error: error.into(),
                hint: hint.map(str::to_owned),
            },
            challenge: None,
        }
    }

    fn not_found(what: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("no {what} `{name}` is visible here"),
            Some("`GET /api/v1/search?q=NAME` lists the packages you may see; log in to see more"),
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(challenge) = self.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Who is asking; a refused viewer gets `access::viewer`'s 401, as JSON.
async fn viewer(catalog: &Catalog, headers: &HeaderMap) -> Result<Identity, Failure> {
    let Some(ctx) = catalog.context() else {
        return Ok(Identity::Anonymous);
    };
    let refusal = match access::viewer(&ctx.access, headers) {
        Ok(identity) => return Ok(identity),
        Err(refusal) => refusal,
    };
    let (parts, body) = refusal.into_parts();
    // The refusal's body is a short message built in memory.
    let message = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let mut failure = Failure::new(
        parts.status,
        if message.is_empty() {
            "authentication required".to_owned()
        } else {
            message
        },
        Some("pass the registry's credentials (Basic, or a bearer token from `/token`)"),
    );
    failure.challenge = parts.headers.get(header::WWW_AUTHENTICATE).cloned();
    Err(failure)
}

/// `value` as a 200 JSON answer with an `ETag` (its content's digest), or a 304 when the
/// client holds that content already. `no-cache`: packages change on every push, so a
/// client revalidates, which costs it one small answer; `private` and `Vary`: what a
/// viewer sees depends on who they are.
fn json_answer<T: Serialize>(request: &HeaderMap, value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("the model serialises");
    let digest = paks_types::Digest::sha256_of(&body);
    let etag = format!("\"{}\"", &digest.hex()[..32]);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a header value"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    response
}

/// The query of `GET /api/v1/search`.
#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<usize>,
}

async fn search(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let viewer = viewer(&catalog, &headers).await?;
    let Query(query) = query.map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("bad search query: {}", e.body_text()),
            Some("ask `/api/v1/search?q=TERM&limit=N` (N from 1 to 500)"),
        )
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("limit `{limit}` is out of range"),
            Some("a limit is from 1 to 500"),
        ));
    }
    let results = catalog.search(&query.q, &viewer, limit);
    Ok(json_answer(&headers, &results))
}

async fn repositories(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let viewer = viewer(&catalog, &headers).await?;
    Ok(json_answer(&headers, &catalog.repositories(&viewer)))
}

async fn package(
    State(catalog): State<Catalog>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let viewer = viewer(&catalog, &headers).await?;
    let repository = repository_path(path)?;
    let repository = repository.trim_end_matches('/');
    let package = catalog
        .package(repository, &viewer)
        .ok_or_else(|| Failure::not_found("package", repository))?;
    Ok(json_answer(&headers, &package))
}

/// The repository a route's path names; one that does not decode (`%FF`, not UTF-8) is a
/// JSON 400 like every other API error, not the router's plain-text one.
fn repository_path(path: Result<Path<String>, PathRejection>) -> Result<String, Failure> {
    path.map(|Path(repository)| repository).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("the repository in the path is not valid: {}", e.body_text()),
            Some("a repository is `NAMESPACE/NAME` in lowercase ASCII"),
        )
    })
}

/// The query of `GET /api/v1/images/REPO`.
#[derive(Debug, Deserialize)]
struct ImageQuery {
    #[serde(rename = "ref", default = "latest")]
    reference: String,
}

fn latest() -> String {
    "latest".to_owned()
}

async fn image(
    State(catalog): State<Catalog>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<ImageQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let viewer = viewer(&catalog, &headers).await?;
    let repository = repository_path(path)?;
    let Query(query) = query.map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("bad image query: {}", e.body_text()),
            Some("ask `/api/v1/images/REPO?ref=TAG`"),
        )
    })?;
    let repository = repository.trim_end_matches('/');
    let image = find_image(&catalog, repository, &query.reference, &viewer).await?;
    Ok(json_answer(&headers, &image))
}

/// The body of `POST /api/v1/verdict`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictRequest {
    /// The image's repository.
    pub repository: String,
    /// Its tag or digest (default `latest`).
    #[serde(rename = "ref", default = "latest")]
    pub reference: String,
    /// The host profile, as `paks host --json` prints it.
    pub host: serde_json::Value,
}

async fn verdict(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let viewer = viewer(&catalog, &headers).await?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the verdict request is not `application/json`",
            Some("send `Content-Type: application/json`"),
        ));
    }
    let body = body.map_err(|e| {
        let status = e.status();
        Failure::new(
            status,
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the verdict request is over {MAX_VERDICT_BODY} bytes")
            } else {
                format!("cannot read the verdict request: {}", e.body_text())
            },
            Some("send `{\"repository\": …, \"ref\": …, \"host\": <paks host --json>}`"),
        )
    })?;
    let request: VerdictRequest = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("the verdict request is not valid: {e}"),
            Some("send `{\"repository\": …, \"ref\": …, \"host\": <paks host --json>}`"),
        )
    })?;
    let verdict = judge(&catalog, request, &viewer).await?;
    Ok(json_answer(&headers, &verdict))
}

/// Any other path under `/api/v1/`.
async fn unknown_route() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "no such API route",
        Some("`GET /api/v1/openapi.json` describes the API"),
    )
}

async fn openapi_document() -> Response {
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        openapi::DOCUMENT,
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Image `repository:reference` as `viewer` may see it (read off the async threads: it
/// reads the storage).
async fn find_image(
    catalog: &Catalog,
    repository: &str,
    reference: &str,
    viewer: &Identity,
) -> Result<crate::model::Image, Failure> {
    // A malformed reference is the asker's mistake, not a storage failure.
    if let Err(reason) = paks_registry::names::Reference::parse(reference) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("`{reference}` is not a tag or digest: {reason}"),
            Some("a reference is a tag (`1.0.0`) or a digest (`sha256:…`)"),
        ));
    }
    let (c, repo, r, v) = (
        catalog.clone(),
        repository.to_owned(),
        reference.to_owned(),
        viewer.clone(),
    );
    let image = tokio::task::spawn_blocking(move || c.image(&repo, &r, &v))
        .await
        .expect("reading an image does not panic")
        .map_err(|e| catalog_failure(&e))?;
    image.ok_or_else(|| Failure::not_found("image", &format!("{repository}:{reference}")))
}

/// The verdict of `request`'s host profile on its image.
async fn judge(
    catalog: &Catalog,
    request: VerdictRequest,
    viewer: &Identity,
) -> Result<crate::model::Verdict, Failure> {
    let host =
        crate::verdict::parse_host(&request.host.to_string()).map_err(|e| catalog_failure(&e))?;
    let image = find_image(catalog, &request.repository, &request.reference, viewer).await?;
    crate::verdict::check_async(catalog.clone(), image, host)
        .await
        .map_err(|e| catalog_failure(&e))
}

/// A failure to read or judge an image: the asker's (400) or the server's (500).
fn catalog_failure(e: &crate::CatalogError) -> Failure {
    if e.is_bad_request() {
        return Failure::new(
            StatusCode::BAD_REQUEST,
            e.to_string(),
            Some("send the host profile `paks host --json` prints"),
        );
    }
    tracing::warn!(target: "paks::catalog", "{e}");
    Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None)
}
