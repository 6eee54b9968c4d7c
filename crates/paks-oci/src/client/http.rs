//! One request, done right: authentication (answering a 401 once), retries with backoff
//! (connection errors, 429 with `Retry-After`, 502/503/504), redirects followed by hand
//! (each hop checked against the plain-HTTP rule; `Authorization` dropped when the host
//! changes), and registry error bodies turned into errors.

use std::hash::BuildHasher as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};
use serde::Deserialize;

use super::auth::{Challenge, parse_challenges};
use super::{Client, same_origin};
use crate::credentials::Login;
use crate::error::{ErrorKind, OciError};

/// A request body that can be built again for a retry.
#[derive(Clone)]
pub(super) enum Body {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`; `sent` counts the bytes handed to the
    /// connection (starting at `offset`), for progress.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
        sent: Option<Arc<AtomicU64>>,
    },
}

impl Body {
    fn build(&self) -> reqwest::Body {
        match self {
            Body::Empty => reqwest::Body::from(Bytes::new()),
            Body::Bytes(b) => reqwest::Body::from(b.clone()),
            Body::File {
                path,
                offset,
                len,
                sent,
            } => {
                if let Some(s) = sent {
                    s.store(*offset, Ordering::Relaxed);
                }
                file_stream(path.clone(), *offset, *len, sent.clone())
            }
        }
    }

    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

/// Stream `len` bytes of `path` from `offset`, in 256 KiB pieces.
fn file_stream(
    path: PathBuf,
    offset: u64,
    len: u64,
    sent: Option<Arc<AtomicU64>>,
) -> reqwest::Body {
    use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
    enum State {
        Start(PathBuf),
        Reading(tokio::fs::File, u64),
        Done,
    }
    let stream = futures_util::stream::try_unfold(State::Start(path), move |state| {
        let sent = sent.clone();
        async move {
            let (mut file, remaining) = match state {
                State::Done => return Ok(None),
                State::Reading(f, r) => (f, r),
                State::Start(path) => {
                    let mut f = tokio::fs::File::open(&path).await?;
                    f.seek(std::io::SeekFrom::Start(offset)).await?;
                    (f, len)
                }
            };
            if remaining == 0 {
                return Ok(None);
            }
            let want = usize::try_from(remaining.min(256 * 1024)).expect("256 KiB fits");
            let mut buf = vec![0u8; want];
            let mut filled = 0;
            while filled < want {
                let n = file.read(&mut buf[filled..]).await?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file became shorter while it was being uploaded",
                    ));
                }
                filled += n;
            }
            if let Some(s) = &sent {
                s.fetch_add(want as u64, Ordering::Relaxed);
            }
            let remaining = remaining - want as u64;
            let next = if remaining == 0 {
                State::Done
            } else {
                State::Reading(file, remaining)
            };
            Ok::<_, std::io::Error>(Some((Bytes::from(buf), next)))
        }
    });
    reqwest::Body::wrap_stream(stream)
}

pub(super) struct Req<'a> {
    /// What the caller is doing, for error messages (such as ``failed to pull blob `…` ``).
    pub what: &'a str,
    /// The registry whose authentication applies, or `None` for requests elsewhere
    /// (token services), which carry their own headers.
    pub registry: Option<&'a str>,
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
    /// The token scopes the request needs (`repository:<name>:pull`).
    pub scopes: &'a [String],
    /// Whether connection errors and 429/502/503/504 are retried here; callers that
    /// recover on their own (chunk uploads) say no.
    pub retry: bool,
}

/// A response with a status the caller has to interpret.
pub(super) struct Sent {
    pub resp: Response,
    /// The URL that answered (after redirects).
    pub url: Url,
    pub attempts: u32,
}

/// How long an error body is read for its message.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: Option<String>,
    message: Option<String>,
}

/// The registry's error `code` and `message` from a response body (JSON per the spec,
/// else the start of the text).
/// The body is read for at most [`ERROR_BODY_WAIT`]: a server that trickles its error
/// message does not hold the client.
pub(super) async fn error_details(resp: Response) -> (Option<String>, Option<String>) {
    let mut body = Vec::new();
    let mut resp = resp;
    let deadline = tokio::time::Instant::now() + ERROR_BODY_WAIT;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 * 1024 {
            break;
        }
    }
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(&body)
        && !parsed.errors.is_empty()
    {
        let codes: Vec<String> = parsed
            .errors
            .iter()
            .filter_map(|e| e.code.clone())
            .collect();
        let messages: Vec<String> = parsed
            .errors
            .iter()
            .filter_map(|e| e.message.clone())
            .filter(|m| !m.is_empty())
            .collect();
        return (
            (!codes.is_empty()).then(|| codes.join(", ")),
            (!messages.is_empty()).then(|| messages.join("; ")),
        );
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('{') || text.starts_with('<') {
        return (None, None);
    }
    let short: String = text.chars().take(200).collect();
    (None, Some(short))
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// `Retry-After: <seconds>` (an HTTP date is ignored: backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Client {
    /// The wait before retry number `n` (1-based): `retry_delay · 2^(n-1)`, at most 30 s,
    /// scaled by a random factor in [0.5, 1].
    pub(super) fn backoff(&self, n: u32) -> Duration {
        let base = self.inner.config.retry_delay;
        let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(16));
        let capped = exp.min(Duration::from_secs(30));
        let random = std::collections::hash_map::RandomState::new().hash_one(n);
        #[allow(clippy::cast_precision_loss)] // a jitter factor needs no precision.
        let factor = 0.5 + (random % 1000) as f64 / 2000.0;
        capped.mul_f64(factor)
    }

    /// Send a request: authenticate, retry, follow redirects. Returns the response for
    /// any status except 401/403 from the registry (an [`ErrorKind::Unauthorized`]) and
    /// retryable statuses that stayed so (an [`ErrorKind::Http`]).
    ///
    /// Retries and waits included, it ends within `transfer_deadline`.
    pub(super) async fn send(&self, req: Req<'_>) -> Result<Sent, OciError> {
        let what = req.what;
        // Boxed: every operation awaits this, and the state machine is large.
        self.bounded(|| what.to_owned(), Box::pin(self.send_unbounded(req)))
            .await
    }

    /// The first request to `registry` goes alone: it returns a guard the others wait
    /// for. A fan-out (an install's hundreds of manifests) then finds a connection to
    /// reuse: over HTTP/2, one carries them all (each would otherwise open its own before
    /// ALPN tells the pool that one is enough), and the first request's 401 has fetched
    /// the token they all use.
    async fn first_contact(&self, registry: &str) -> Option<tokio::sync::OwnedMutexGuard<bool>> {
        let gate = self
            .inner
            .contacted
            .lock()
            .expect("not poisoned")
            .entry(registry.to_owned())
            .or_default()
            .clone();
        let mut contacted = gate.lock_owned().await;
        if *contacted {
            return None;
        }
        *contacted = true;
        Some(contacted)
    }

    #[allow(clippy::too_many_lines)] // One state machine reads best in one piece.
    async fn send_unbounded(&self, req: Req<'_>) -> Result<Sent, OciError> {
        // Requests with a body (uploads) neither wait nor go first: one would hold the
        // others until its whole body was sent.
        let _first = match (req.registry, &req.body) {
            (Some(r), Body::Empty) => self.first_contact(r).await,
            _ => None,
        };
        let retries = if req.retry {
            self.inner.config.retries
        } else {
            0
        };
        let registry_base = match req.registry {
            Some(r) => Some(self.base_url(r)?),
            None => None,
        };
        let mut scopes = req.scopes.to_vec();
        let mut answered_challenge = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let auth = match req.registry {
                Some(r) => self.authorization(r, &scopes).await?,
                None => None,
            };
            let result = {
                let _permit = self
                    .inner
                    .requests
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                self.send_following(&req, auth.as_ref(), registry_base.as_ref())
                    .await?
            };
            let (resp, url) = match result {
                Ok(pair) => pair,
                Err(source) => {
                    // A name that does not resolve will not resolve a second later: the
                    // system resolver has already retried its servers.
                    if attempt <= retries && !crate::error::is_dns_failure(&source) {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(ErrorKind::Connection {
                        what: req.what.to_owned(),
                        method: req.method.to_string(),
                        url: req.url.to_string(),
                        attempts: attempt,
                        source,
                    }
                    .into());
                }
            };
            let status = resp.status();
            let from_registry = registry_base.as_ref().is_some_and(|b| same_origin(b, &url));
            if from_registry && status == StatusCode::UNAUTHORIZED && !answered_challenge {
                let registry = req.registry.expect("a registry request");
                if let Some(challenge) = parse_challenges(resp.headers()) {
                    let basic_without_creds = challenge == Challenge::Basic
                        && self
                            .login(registry, &scopes)
                            .as_ref()
                            .and_then(Login::basic)
                            .is_none();
                    if !basic_without_creds {
                        scopes = self.answer_challenge(registry, challenge, &scopes).await?;
                        answered_challenge = true;
                        attempt -= 1;
                        continue;
                    }
                }
            }
            if from_registry
                && (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
            {
                let registry = req.registry.expect("a registry request");
                let (code, message) = error_details(resp).await;
                return Err(ErrorKind::Unauthorized {
                    what: req.what.to_owned(),
                    registry: registry.to_owned(),
                    url: url.to_string(),
                    status: status.as_u16(),
                    code,
                    message,
                    had_credentials: self.login(registry, &scopes).is_some(),
                }
                .into());
            }
            if retryable(status) {
                if attempt <= retries {
                    let asked = (status == StatusCode::TOO_MANY_REQUESTS)
                        .then(|| retry_after(resp.headers()))
                        .flatten();
                    let max = self.inner.config.max_retry_wait;
                    let wait = match asked {
                        // Sleeping for as long as any server asks is a denial of service
                        // of the client: past the maximum, say so and stop.
                        Some(secs) if Duration::from_secs(secs) > max => {
                            return Err(ErrorKind::RetryAfterTooLong {
                                what: req.what.to_owned(),
                                url: url.to_string(),
                                requested: secs,
                                max,
                            }
                            .into());
                        }
                        Some(secs) => Duration::from_secs(secs),
                        None => self.backoff(attempt),
                    };
                    drop(resp);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(self
                    .status_error(
                        req.what,
                        &req.method,
                        Sent {
                            resp,
                            url,
                            attempts: attempt,
                        },
                    )
                    .await);
            }
            return Ok(Sent {
                resp,
                url,
                attempts: attempt,
            });
        }
    }

    /// One attempt: the request and its redirects. The outer error is a refusal (a hop
    /// to a forbidden URL); the inner one a connection failure.
    async fn send_following(
        &self,
        req: &Req<'_>,
        auth: Option<&HeaderValue>,
        registry_base: Option<&Url>,
    ) -> Result<Result<(Response, Url), reqwest::Error>, OciError> {
        let mut url = req.url.clone();
        let mut headers = req.headers.clone();
        let mut method = req.method.clone();
        let mut with_body = true;
        for _hop in 0..=10 {
            self.check_url(&url)?;
            let mut rb = self.inner.http.request(method.clone(), url.clone());
            let mut h = headers.clone();
            // Registry credentials go to the registry only, never to a redirect target
            // (blob storage) or an upload URL on another host.
            if let (Some(a), Some(base)) = (auth, registry_base)
                && same_origin(base, &url)
            {
                h.insert(header::AUTHORIZATION, a.clone());
            }
            if with_body && matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                if !h.contains_key(header::CONTENT_LENGTH) {
                    h.insert(header::CONTENT_LENGTH, HeaderValue::from(req.body.len()));
                }
                rb = rb.body(req.body.build());
            }
            rb = rb.headers(h);
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let status = resp.status();
            let follow = status.is_redirection()
                && status != StatusCode::NOT_MODIFIED
                && (matches!(req.method, Method::GET | Method::HEAD)
                    || matches!(status.as_u16(), 307 | 308));
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            match (follow, location) {
                (true, Some(loc)) => {
                    let next = url.join(&loc).map_err(|e| ErrorKind::Protocol {
                        what: req.what.to_owned(),
                        url: url.to_string(),
                        message: format!("invalid redirect `{loc}`: {e}"),
                    })?;
                    if !same_origin(&url, &next) {
                        // A header set by the caller (a token service's Basic
                        // credentials) must not follow either.
                        headers.remove(header::AUTHORIZATION);
                    }
                    if status == StatusCode::SEE_OTHER && method != Method::HEAD {
                        method = Method::GET;
                        with_body = false;
                    }
                    url = next;
                }
                _ => return Ok(Ok((resp, url))),
            }
        }
        Err(ErrorKind::Protocol {
            what: req.what.to_owned(),
            url: req.url.to_string(),
            message: "more than 10 redirects".into(),
        }
        .into())
    }

    /// The error for a response with an unexpected status.
    pub(super) async fn status_error(&self, what: &str, method: &Method, sent: Sent) -> OciError {
        let status = sent.resp.status().as_u16();
        let (code, message) = error_details(sent.resp).await;
        ErrorKind::Http {
            what: what.to_owned(),
            method: method.to_string(),
            url: sent.url.to_string(),
            status,
            code,
            message,
            attempts: sent.attempts,
        }
        .into()
    }

    /// Read a whole (small) body, refusing more than `limit` bytes.
    pub(super) async fn read_small(
        &self,
        what: &str,
        sent: Sent,
        limit: u64,
    ) -> Result<Vec<u8>, OciError> {
        let url = sent.url.to_string();
        let too_large = |size| {
            OciError::from(ErrorKind::Protocol {
                what: what.to_owned(),
                url: url.clone(),
                message: format!(
                    "the answer is larger than {limit} bytes{}",
                    match size {
                        Some(s) => format!(" ({s} bytes)"),
                        None => String::new(),
                    }
                ),
            })
        };
        read_capped(
            what,
            sent,
            limit,
            self.inner.config.transfer_deadline,
            too_large,
        )
        .await
    }
}

/// Read a body, refusing (by `Content-Length`, and while reading) more than `limit` bytes,
/// and giving up when it takes longer than `within`.
pub(super) async fn read_capped(
    what: &str,
    sent: Sent,
    limit: u64,
    within: Duration,
    too_large: impl Fn(Option<u64>) -> OciError,
) -> Result<Vec<u8>, OciError> {
    let declared = sent
        .resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > limit
    {
        return Err(too_large(Some(n)));
    }
    let mut resp = sent.resp;
    let mut body =
        Vec::with_capacity(usize::try_from(declared.unwrap_or(0).min(limit)).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let Ok(next) = tokio::time::timeout_at(deadline, resp.chunk()).await else {
            return Err(ErrorKind::Deadline {
                what: what.to_owned(),
                limit: within,
                progress: Some((body.len() as u64, declared)),
            }
            .into());
        };
        match next {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err(too_large(None));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(source) => {
                return Err(ErrorKind::Connection {
                    what: what.to_owned(),
                    method: "GET".into(),
                    url: sent.url.to_string(),
                    attempts: sent.attempts,
                    source,
                }
                .into());
            }
        }
    }
}

/// A header as a string.
pub(super) fn header_str<'r>(resp: &'r Response, name: &str) -> Option<&'r str> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The `Location` of a response, resolved against the URL that answered.
pub(super) fn location(what: &str, sent: &Sent) -> Result<Url, OciError> {
    let loc = header_str(&sent.resp, "location").ok_or_else(|| ErrorKind::Protocol {
        what: what.to_owned(),
        url: sent.url.to_string(),
        message: format!("{} without a `Location` header", sent.resp.status()),
    })?;
    sent.url.join(loc).map_err(|e| {
        ErrorKind::Protocol {
            what: what.to_owned(),
            url: sent.url.to_string(),
            message: format!("invalid `Location` `{loc}`: {e}"),
        }
        .into()
    })
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
pub(super) fn next_link(resp: &Response, base: &Url) -> Option<Url> {
    for value in resp.headers().get_all(header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let link = link.trim();
            let Some(inner) = link.strip_prefix('<') else {
                continue;
            };
            let Some((target, params)) = inner.split_once('>') else {
                continue;
            };
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if is_next {
                return base.join(target).ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = Client::new(super::super::ClientConfig {
            retry_delay: Duration::from_millis(100),
            ..Default::default()
        })
        .unwrap();
        for n in 1..=20 {
            let d = c.backoff(n);
            let full = Duration::from_millis(100)
                .saturating_mul(1 << (n - 1).min(16))
                .min(Duration::from_secs(30));
            assert!(d <= full && d >= full / 2, "{n}: {d:?}");
        }
    }

    #[test]
    fn retry_after_seconds_only() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(3));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("100000"));
        assert_eq!(retry_after(&h), Some(100_000));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
