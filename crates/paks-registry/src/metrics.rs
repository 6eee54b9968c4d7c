//! Prometheus metrics in the text exposition format 0.0.4, served at `/metrics`.
//!
//! Every label takes its values from a fixed set (routes, methods, status codes, spec error
//! codes, each with a catch-all), so the number of series stays bounded whatever clients
//! send, and every counter is an atomic in a fixed array: recording takes no lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::http::Method;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a request was for: the `route` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/<name>/blobs/<digest>`
    Blob,
    /// `/v2/<name>/blobs/uploads/…`
    Upload,
    /// `/v2/<name>/manifests/<reference>`
    Manifest,
    /// `/v2/<name>/tags/list`
    Tags,
    /// `/v2/<name>/referrers/<digest>`
    Referrers,
    /// `/v2/_catalog`
    Catalog,
    /// `/token`
    Token,
    /// `/metrics`
    Metrics,
    /// The static `index.yaml` repository.
    Static,
    Other,
}

impl Route {
    pub const ALL: [Self; 11] = [
        Self::Base,
        Self::Blob,
        Self::Upload,
        Self::Manifest,
        Self::Tags,
        Self::Referrers,
        Self::Catalog,
        Self::Token,
        Self::Metrics,
        Self::Static,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Blob => "blob",
            Self::Upload => "upload",
            Self::Manifest => "manifest",
            Self::Tags => "tags",
            Self::Referrers => "referrers",
            Self::Catalog => "catalog",
            Self::Token => "token",
            Self::Metrics => "metrics",
            Self::Static => "static",
            Self::Other => "other",
        }
    }

    /// The route of a distribution API path; anything else is [`Route::Other`] (the
    /// caller knows where it serves static files).
    pub fn of_path(path: &str) -> Self {
        match path {
            "/v2" | "/v2/" => return Self::Base,
            "/v2/_catalog" => return Self::Catalog,
            "/token" => return Self::Token,
            "/metrics" => return Self::Metrics,
            _ => {}
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Self::Other;
        };
        // The name may hold `/` and even a `blobs` component: look at the last segments.
        let mut segments = rest.rsplit('/');
        let (last, prev, prev2) = (segments.next(), segments.next(), segments.next());
        match (prev2, prev, last) {
            (_, Some("tags"), Some("list")) => Self::Tags,
            (Some("blobs"), Some("uploads"), _) | (_, Some("blobs"), Some("uploads")) => {
                Self::Upload
            }
            (_, Some("blobs"), _) => Self::Blob,
            (_, Some("manifests"), _) => Self::Manifest,
            (_, Some("referrers"), _) => Self::Referrers,
            _ => Self::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OTHER"];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::PUT => 2,
        Method::POST => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        _ => 6,
    }
}

/// The status codes a registry answers with; anything else counts as `other`.
const CODES: [u16; 29] = [
    200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 406, 409, 411, 412,
    413, 415, 416, 422, 429, 500, 501, 502, 503, 504,
];
const CODE_SLOTS: usize = CODES.len() + 1;

fn code_index(status: u16) -> usize {
    CODES
        .iter()
        .position(|&c| c == status)
        .unwrap_or(CODES.len())
}

/// The spec's error codes (and `INTERNAL`); anything else counts as `OTHER`.
const ERROR_CODES: [&str; 17] = [
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
    "RANGE_INVALID",
    "INTERNAL",
    "OTHER",
];

/// Upper bounds of the duration histogram's buckets, in seconds (`+Inf` is implicit).
const BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

const ROUTES: usize = Route::ALL.len();

#[derive(Default)]
struct Histogram {
    /// Per bucket, not cumulative; the last slot is above every bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[slot].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }
}

/// The registry's counters; share one in an `Arc`.
pub struct Metrics {
    /// `[route][method][code]`
    requests: Box<[[[AtomicU64; CODE_SLOTS]; METHODS.len()]; ROUTES]>,
    durations: [Histogram; ROUTES],
    received: AtomicU64,
    sent: AtomicU64,
    errors: [AtomicU64; ERROR_CODES.len()],
    upload_sessions: AtomicI64,
    uploads_committed: AtomicU64,
    connections: AtomicU64,
    /// Requests by HTTP version: see [`VERSIONS`].
    versions: [AtomicU64; VERSIONS.len()],
}

/// The `version` label of `paks_registry_http_version_requests_total`; the last is the
/// catch-all.
const VERSIONS: [&str; 4] = ["1.0", "1.1", "2", "other"];

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))
            })),
            durations: std::array::from_fn(|_| Histogram::default()),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            upload_sessions: AtomicI64::new(0),
            uploads_committed: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            versions: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Counts one answered request and observes how long it took.
    pub fn record_request(&self, method: &Method, route: Route, status: u16, elapsed: Duration) {
        self.requests[route.index()][method_index(method)][code_index(status)]
            .fetch_add(1, Relaxed);
        self.durations[route.index()].observe(elapsed);
    }

    /// Counts one TCP connection accepted (refused ones included).
    pub fn connection_accepted(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// Counts one request by the HTTP version it came in: whether clients reuse
    /// connections and negotiate HTTP/2 shows here.
    pub fn record_version(&self, version: axum::http::Version) {
        let slot = match version {
            axum::http::Version::HTTP_10 => 0,
            axum::http::Version::HTTP_11 => 1,
            axum::http::Version::HTTP_2 => 2,
            _ => VERSIONS.len() - 1,
        };
        self.versions[slot].fetch_add(1, Relaxed);
    }

    /// Counts request body bytes received.
    pub fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Relaxed);
    }

    /// Counts response body bytes sent.
    pub fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Relaxed);
    }

    /// Counts an error answer by its spec code (`BLOB_UNKNOWN`, …).
    pub fn record_error(&self, code: &str) {
        let slot = ERROR_CODES
            .iter()
            .position(|&c| c == code)
            .unwrap_or(ERROR_CODES.len() - 1);
        self.errors[slot].fetch_add(1, Relaxed);
    }

    /// An upload session was opened.
    pub fn upload_started(&self) {
        self.upload_sessions.fetch_add(1, Relaxed);
    }

    /// An upload session ended: committed, or cancelled (or expired).
    pub fn upload_ended(&self, committed: bool) {
        self.upload_sessions.fetch_sub(1, Relaxed);
        if committed {
            self.uploads_committed.fetch_add(1, Relaxed);
        }
    }

    /// The metrics in the text exposition format; serve with [`CONTENT_TYPE`].
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.render_requests(&mut out);
        self.render_durations(&mut out);
        self.render_totals(&mut out);
        out
    }

    fn render_requests(&self, out: &mut String) {
        header(
            out,
            "paks_registry_http_requests_total",
            "HTTP requests answered, by method, route and status code.",
            "counter",
        );
        for route in Route::ALL {
            for (m, method) in METHODS.iter().enumerate() {
                for (c, counter) in self.requests[route.index()][m].iter().enumerate() {
                    let n = counter.load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let code = CODES
                        .get(c)
                        .map_or_else(|| "other".to_owned(), u16::to_string);
                    let _ = writeln!(
                        out,
                        "paks_registry_http_requests_total{{method=\"{method}\",route=\"{}\",code=\"{code}\"}} {n}",
                        route.as_str()
                    );
                }
            }
        }
    }

    fn render_durations(&self, out: &mut String) {
        let name = "paks_registry_http_request_duration_seconds";
        header(
            out,
            name,
            "How long requests took to answer, by route.",
            "histogram",
        );
        for route in Route::ALL {
            let h = &self.durations[route.index()];
            let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Relaxed)).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let route = route.as_str();
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            #[allow(clippy::cast_precision_loss)] // microseconds stay exact below 2^53.
            let sum = h.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {total}");
        }
    }

    fn render_totals(&self, out: &mut String) {
        for (name, help, value) in [
            (
                "paks_registry_received_bytes_total",
                "Request body bytes received.",
                &self.received,
            ),
            (
                "paks_registry_sent_bytes_total",
                "Response body bytes sent.",
                &self.sent,
            ),
        ] {
            header(out, name, help, "counter");
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }

        header(
            out,
            "paks_registry_errors_total",
            "Error answers, by the distribution spec's error code.",
            "counter",
        );
        for (code, counter) in ERROR_CODES.iter().zip(&self.errors) {
            let n = counter.load(Relaxed);
            if n > 0 {
                let _ = writeln!(out, "paks_registry_errors_total{{code=\"{code}\"}} {n}");
            }
        }

        header(
            out,
            "paks_registry_upload_sessions",
            "Blob upload sessions open now.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "paks_registry_upload_sessions {}",
            self.upload_sessions.load(Relaxed)
        );
        header(
            out,
            "paks_registry_uploads_committed_total",
            "Blob uploads completed.",
            "counter",
        );
        let _ = writeln!(
            out,
            "paks_registry_uploads_committed_total {}",
            self.uploads_committed.load(Relaxed)
        );
        header(
            out,
            "paks_registry_connections_accepted_total",
            "TCP connections accepted (before TLS and the per-client bound).",
            "counter",
        );
        let _ = writeln!(
            out,
            "paks_registry_connections_accepted_total {}",
            self.connections.load(Relaxed)
        );
        let name = "paks_registry_http_version_requests_total";
        header(out, name, "HTTP requests, by HTTP version.", "counter");
        for (version, counter) in VERSIONS.iter().zip(&self.versions) {
            let n = counter.load(Relaxed);
            if n > 0 {
                let _ = writeln!(out, "{name}{{version=\"{version}\"}} {n}");
            }
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every line against the exposition format: comments are `# HELP`/`# TYPE`
    /// naming a metric, samples are `name{labels} value` with a declared family.
    fn check_exposition(text: &str) {
        assert!(text.ends_with('\n'), "the text ends with a newline");
        let mut declared: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                let mut words = rest.splitn(3, ' ');
                let (kw, name, tail) = (
                    words.next().unwrap(),
                    words.next().unwrap(),
                    words.next().unwrap(),
                );
                assert!(valid_name(name), "{line}");
                match kw {
                    "HELP" => assert!(!tail.is_empty()),
                    "TYPE" => {
                        assert!(["counter", "gauge", "histogram"].contains(&tail), "{line}");
                        declared.push((name.to_owned(), tail.to_owned()));
                    }
                    _ => panic!("unexpected comment: {line}"),
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect(line);
            assert!(
                value == "+Inf" || value.parse::<f64>().is_ok(),
                "bad value: {line}"
            );
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, Some(labels.strip_suffix('}').expect(line))),
                None => (series, None),
            };
            assert!(valid_name(name), "{line}");
            for pair in labels.into_iter().flat_map(|l| l.split(',')) {
                let (key, v) = pair.split_once('=').expect(line);
                assert!(valid_name(key), "{line}");
                assert!(
                    v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                    "{line}"
                );
            }
            let (family, kind) = declared.last().expect("a sample after its TYPE");
            let ok = if kind == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(family.as_str()))
            } else {
                name == family
            };
            assert!(ok, "sample `{name}` outside its family `{family}`");
        }
    }

    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    #[test]
    fn renders_what_was_recorded() {
        let m = Metrics::default();
        m.record_request(&Method::GET, Route::Blob, 200, Duration::from_millis(7));
        m.record_request(&Method::GET, Route::Blob, 200, Duration::from_millis(300));
        m.record_request(&Method::PUT, Route::Manifest, 201, Duration::from_secs(100));
        m.record_request(
            &Method::from_bytes(b"BREW").unwrap(),
            Route::Other,
            418,
            Duration::ZERO,
        );
        m.add_received(1000);
        m.add_sent(20);
        m.add_sent(22);
        m.record_error("BLOB_UNKNOWN");
        m.record_error("BLOB_UNKNOWN");
        m.record_error("something made up");
        m.upload_started();
        m.upload_started();
        m.upload_started();
        m.upload_ended(true);
        m.upload_ended(false);
        m.connection_accepted();
        m.connection_accepted();
        m.record_version(axum::http::Version::HTTP_11);
        m.record_version(axum::http::Version::HTTP_2);
        m.record_version(axum::http::Version::HTTP_2);

        let text = m.render();
        check_exposition(&text);
        for line in [
            r#"paks_registry_http_requests_total{method="GET",route="blob",code="200"} 2"#,
            r#"paks_registry_http_requests_total{method="PUT",route="manifest",code="201"} 1"#,
            r#"paks_registry_http_requests_total{method="OTHER",route="other",code="other"} 1"#,
            r#"paks_registry_http_request_duration_seconds_bucket{route="blob",le="0.005"} 0"#,
            r#"paks_registry_http_request_duration_seconds_bucket{route="blob",le="0.01"} 1"#,
            r#"paks_registry_http_request_duration_seconds_bucket{route="blob",le="0.25"} 1"#,
            r#"paks_registry_http_request_duration_seconds_bucket{route="blob",le="0.5"} 2"#,
            r#"paks_registry_http_request_duration_seconds_bucket{route="blob",le="+Inf"} 2"#,
            r#"paks_registry_http_request_duration_seconds_sum{route="blob"} 0.307"#,
            r#"paks_registry_http_request_duration_seconds_count{route="blob"} 2"#,
            r#"paks_registry_http_request_duration_seconds_bucket{route="manifest",le="60"} 0"#,
            r#"paks_registry_http_request_duration_seconds_bucket{route="manifest",le="+Inf"} 1"#,
            "paks_registry_received_bytes_total 1000",
            "paks_registry_sent_bytes_total 42",
            r#"paks_registry_errors_total{code="BLOB_UNKNOWN"} 2"#,
            r#"paks_registry_errors_total{code="OTHER"} 1"#,
            "paks_registry_upload_sessions 1",
            "paks_registry_uploads_committed_total 1",
            "paks_registry_connections_accepted_total 2",
            r#"paks_registry_http_version_requests_total{version="1.1"} 1"#,
            r#"paks_registry_http_version_requests_total{version="2"} 2"#,
            "# TYPE paks_registry_http_request_duration_seconds histogram",
            "# TYPE paks_registry_upload_sessions gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in:\n{text}"
            );
        }
        // Nothing recorded, nothing rendered: no zero series for every label combination.
        assert!(!text.contains(r#"route="tags""#), "{text}");
    }

    #[test]
    fn empty_metrics_are_valid_exposition() {
        let text = Metrics::default().render();
        check_exposition(&text);
        assert!(text.contains("paks_registry_upload_sessions 0\n"));
    }

    #[test]
    fn routes_of_paths() {
        for (path, route) in [
            ("/v2/", Route::Base),
            ("/v2", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            ("/v2/a/b/blobs/sha256:00", Route::Blob),
            ("/v2/a/blobs/uploads/", Route::Upload),
            ("/v2/a/blobs/uploads/1234", Route::Upload),
            ("/v2/a/manifests/latest", Route::Manifest),
            ("/v2/a/tags/list", Route::Tags),
            ("/v2/a/referrers/sha256:00", Route::Referrers),
            ("/token", Route::Token),
            ("/metrics", Route::Metrics),
            ("/favicon.ico", Route::Other),
            ("/v2/a/blobs/manifests/latest", Route::Manifest),
            ("/v2/a/blobs/blobs/uploads/", Route::Upload),
            ("/v2/a/blobs/uploads", Route::Upload),
            ("/v2/a/nothing", Route::Other),
        ] {
            assert_eq!(Route::of_path(path), route, "{path}");
        }
    }
}
