//! The distribution spec v1.1 client.
//!
//! One [`Client`] holds one HTTP connection pool, the token cache and a semaphore that
//! bounds concurrent blob transfers; clone it freely (it is an `Arc`).

mod auth;
mod extension_api;
mod fallback;
mod http;
mod manifests;
mod progress;
mod pull;
mod push;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::Semaphore;

use crate::credentials::Credentials;
use crate::error::{ErrorKind, OciError};

pub use manifests::{PutManifest, TagCondition};
pub use push::PushedBlob;

/// Registry manifests larger than this are refused (the spec asks registries and clients
/// to handle at least 4 MiB).
pub const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;

/// How a [`Client`] behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Registries (`host` or `host:port`) that may be used over plain HTTP. Loopback
    /// hosts (`localhost`, `127.0.0.0/8`, `::1`) always may; every other host needs TLS.
    pub insecure: Vec<String>,
    /// Blob transfers (pulls and pushes) running at once, over all callers of a client.
    pub concurrency: usize,
    pub user_agent: String,
    pub credentials: Credentials,
    /// Retries after the first attempt, for connection errors, 429, 502, 503 and 504, and
    /// for resuming an interrupted blob transfer (counted since the last progress).
    pub retries: u32,
    /// The first retry waits about this long; each next one twice as long (with jitter),
    /// at most 30 s. A 429's `Retry-After` takes precedence, up to `max_retry_wait`.
    pub retry_delay: Duration,
    /// The longest `Retry-After` honoured: a registry that asks for a longer wait gets an
    /// error at once instead of a process that sleeps for a day.
    pub max_retry_wait: Duration,
    /// Requests in one blob transfer, resumptions included: a registry that makes a
    /// little progress on every request cannot keep a download going forever.
    pub transfer_attempts: u32,
    /// How long one operation (a blob transfer, a manifest fetch) may take in all,
    /// retries and waits included: a server that trickles a byte at a time never trips
    /// the per-read `timeout`, but it trips this.
    pub transfer_deadline: Duration,
    /// Blobs smaller than this are pushed in one `PUT`; larger ones in `PATCH` chunks of
    /// this size.
    pub chunk_size: u64,
    /// How long to wait for a connection, and for each read from one: a stalled
    /// transfer fails (and is resumed) after this.
    pub timeout: Duration,
    /// fsync downloaded blobs before they appear. A cache whose readers verify every blob
    /// (the install tree's) can turn this off: a blob torn by a crash fails verification
    /// and is fetched again, and a batch of downloads is not 2 syncs per blob.
    pub durable_blobs: bool,
    /// Fixed addresses for host names, looked up in no DNS (as curl's `--resolve`): for a
    /// registry whose name the resolver does not know, and for tests on loopback.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Certificates (PEM) trusted besides the system's: a site's own certificate authority.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            concurrency: 4,
            user_agent: concat!("paks/", env!("CARGO_PKG_VERSION")).to_owned(),
            credentials: Credentials::default(),
            retries: 4,
            retry_delay: Duration::from_millis(500),
            max_retry_wait: Duration::from_mins(1),
            transfer_attempts: 20,
            transfer_deadline: Duration::from_hours(1),
            chunk_size: 16 * 1024 * 1024,
            timeout: Duration::from_mins(1),
            durable_blobs: true,
            resolve: Vec::new(),
            extra_roots: Vec::new(),
        }
    }
}

/// Mozilla's root certificates (the `webpki-root-certs` crate).
fn bundled_roots() -> Vec<reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

/// A client for OCI distribution registries.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Requests one client sends at once (until each has its response headers). Callers fan
/// out freely (a push of 384 packages starts 384 futures); without a bound each would open
/// its own connection, and registries cap connections per client (`paks serve`: 256),
/// refusing the rest. With blob transfers bounded by `concurrency` too, a client holds at
/// most about this many connections plus its transfers.
pub const REQUESTS_AT_ONCE: usize = 32;

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    transfers: Semaphore,
    /// Requests waiting for their response headers, over all callers of a client: see
    /// [`REQUESTS_AT_ONCE`].
    requests: Semaphore,
    /// The authentication scheme each registry asked for.
    challenges: Mutex<HashMap<String, auth::Challenge>>,
    /// Bearer tokens by (registry, scopes).
    tokens: Mutex<HashMap<(String, String), auth::Token>>,
    /// Per registry, whether a request has been made to it: see `Client::first_contact`.
    contacted: Mutex<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>,
    /// Manifests fetched by digest, by (registry, repository, digest): see
    /// [`Client::get_manifest`].
    manifests: Mutex<ManifestMemo>,
}

type ManifestMemo =
    HashMap<(String, String, paks_types::Digest), Arc<tokio::sync::OnceCell<crate::Manifest>>>;

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, OciError> {
        if config.concurrency == 0 {
            return Err(ErrorKind::Config("`concurrency` must be at least 1".into()).into());
        }
        if config.transfer_attempts == 0 {
            return Err(ErrorKind::Config("`transfer_attempts` must be at least 1".into()).into());
        }
        if config.transfer_deadline.is_zero() {
            return Err(ErrorKind::Config("`transfer_deadline` must not be zero".into()).into());
        }
        if config.chunk_size == 0 {
            return Err(ErrorKind::Config("`chunk_size` must be at least 1".into()).into());
        }
        let extra_roots = config
            .extra_roots
            .iter()
            .map(|pem| reqwest::Certificate::from_pem(pem))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ErrorKind::Config(format!("invalid extra root certificate: {e}")))?;
        let builder = || {
            let mut b = reqwest::Client::builder()
                // Redirects are followed by hand: each hop is checked against the plain-HTTP
                // rule, and credentials never cross to another host.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(&config.user_agent)
                .connect_timeout(config.timeout)
                .read_timeout(config.timeout)
                // HTTP/2 (offered by ALPN over TLS) carries every request of a client on
                // one connection; a window sized to the link, not hyper's fixed one, keeps
                // the blob downloads that share it at full speed.
                .http2_adaptive_window(true)
                .tls_certs_merge(extra_roots.iter().cloned());
            for (host, addr) in &config.resolve {
                b = b.resolve(host, *addr);
            }
            b
        };
        // The system's CA certificates; where there are none (a minimal container image),
        // Mozilla's, built in.
        let http = builder()
            .build()
            .or_else(|_| {
                builder()
                    .tls_certs_only(bundled_roots().into_iter().chain(extra_roots.clone()))
                    .build()
            })
            .map_err(|e| ErrorKind::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                transfers: Semaphore::new(config.concurrency),
                requests: Semaphore::new(REQUESTS_AT_ONCE),
                config,
                challenges: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                contacted: Mutex::new(HashMap::new()),
                manifests: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A place among the `concurrency` blob transfers, held until dropped.
    pub(crate) async fn transfer_permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.inner
            .transfers
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// Run one operation within `transfer_deadline`; past it, the operation is dropped
    /// (its temporary files with it) and the error says what did not finish.
    pub(crate) async fn bounded<T>(
        &self,
        what: impl FnOnce() -> String,
        operation: impl Future<Output = Result<T, OciError>>,
    ) -> Result<T, OciError> {
        let limit = self.inner.config.transfer_deadline;
        tokio::time::timeout(limit, operation)
            .await
            .unwrap_or_else(|_| {
                Err(ErrorKind::Deadline {
                    what: what(),
                    limit,
                    progress: None,
                }
                .into())
            })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The base URL of `registry`: `http://` for loopback and insecure hosts, else
    /// `https://`. `docker.io` is served by `registry-1.docker.io`.
    pub fn base_url(&self, registry: &str) -> Result<Url, OciError> {
        if !crate::reference::is_valid_registry(registry) {
            return Err(ErrorKind::InvalidReference {
                value: registry.to_owned(),
                reason: "not a registry `host[:port]`".into(),
            }
            .into());
        }
        let host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let plain = Url::parse(&format!("http://{host}/")).map_err(|e| {
            OciError::from(ErrorKind::InvalidReference {
                value: registry.to_owned(),
                reason: e.to_string(),
            })
        })?;
        if self.plain_http_allowed(&plain) {
            Ok(plain)
        } else {
            Ok(Url::parse(&format!("https://{host}/"))
                .expect("an https URL parses like the http one"))
        }
    }

    /// `/v2/...` on `registry`.
    fn url(&self, registry: &str, path: &str) -> Result<Url, OciError> {
        let base = self.base_url(registry)?;
        base.join(path).map_err(|e| {
            ErrorKind::InvalidReference {
                value: format!("{registry}{path}"),
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// Whether `url` may be fetched over plain HTTP: a loopback host, or one the
    /// configuration lists as insecure.
    fn plain_http_allowed(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        if is_loopback(url) {
            return true;
        }
        let host = host.to_ascii_lowercase();
        let with_port = url
            .port_or_known_default()
            .map(|p| format!("{host}:{p}"))
            .unwrap_or_default();
        self.inner.config.insecure.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            entry == host
                || entry == with_port
                || url.port().is_some_and(|p| entry == format!("{host}:{p}"))
        })
    }

    /// Refuse URLs this client must not contact: plain HTTP to a host that is neither
    /// loopback nor insecure, and schemes other than `http` and `https`.
    fn check_url(&self, url: &Url) -> Result<(), OciError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.plain_http_allowed(url) => Ok(()),
            "http" => Err(ErrorKind::PlainHttpRefused {
                host: host_port(url),
                url: url.to_string(),
            }
            .into()),
            other => Err(ErrorKind::PlainHttpRefused {
                host: format!("{other}://{}", host_port(url)),
                url: url.to_string(),
            }
            .into()),
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `host[:port]` of a URL, as written in it.
fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// Whether two URLs have the same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn pull_scope(name: &str) -> String {
    format!("repository:{name}:pull")
}

fn push_scope(name: &str) -> String {
    format!("repository:{name}:pull,push")
}

fn delete_scope(name: &str) -> String {
    format!("repository:{name}:delete")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(insecure: &[&str]) -> Client {
        Client::new(ClientConfig {
            insecure: insecure.iter().map(|s| (*s).to_owned()).collect(),
            ..ClientConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn schemes_follow_the_plain_http_rule() {
        let c = client(&["reg.lan:5000", "other.lan"]);
        let base = |r: &str| c.base_url(r).unwrap().to_string();
        assert_eq!(base("127.0.0.1:5000"), "http://127.0.0.1:5000/");
        assert_eq!(base("127.1.2.3"), "http://127.1.2.3/");
        assert_eq!(base("localhost:8080"), "http://localhost:8080/");
        assert_eq!(base("[::1]:5000"), "http://[::1]:5000/");
        assert_eq!(base("reg.lan:5000"), "http://reg.lan:5000/");
        assert_eq!(base("reg.lan:5001"), "https://reg.lan:5001/");
        assert_eq!(base("other.lan"), "http://other.lan/");
        assert_eq!(base("ghcr.io"), "https://ghcr.io/");
        assert_eq!(base("docker.io"), "https://registry-1.docker.io/");
        assert!(c.base_url("nohost").is_err());

        let e = c
            .check_url(&Url::parse("http://registry.example.invalid/v2/").unwrap())
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::PlainHttpRefused { .. }),
            "{e}"
        );
        assert_eq!(
            e.hint().unwrap(),
            "if `registry.example.invalid` is a trusted registry without TLS, use `--insecure registry.example.invalid`"
        );
        assert!(
            c.check_url(&Url::parse("ftp://127.0.0.1/").unwrap())
                .is_err()
        );
        assert!(
            c.check_url(&Url::parse("https://registry.example.invalid/").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn origins() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://a.io/v2/"),
            &u("https://A.io:443/x")
        ));
        assert!(!same_origin(&u("https://a.io/"), &u("http://a.io/")));
        assert!(!same_origin(
            &u("http://127.0.0.1:1/"),
            &u("http://localhost:1/")
        ));
        assert!(!same_origin(
            &u("http://127.0.0.1:1/"),
            &u("http://127.0.0.1:2/")
        ));
    }
}

#[cfg(test)]
mod send_tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Every operation's future is `Send`, so callers may spawn them.
    #[test]
    fn futures_are_send() {
        let c = Client::new(ClientConfig::default()).unwrap();
        let repo: crate::Repository = "r.example.com/x".parse().unwrap();
        let d = paks_types::Digest::sha256_of(b"");
        let p = std::path::Path::new("/nonexistent");
        let r = repo.reference_digest(&d);
        assert_send(&c.ping("r.example.com"));
        assert_send(&c.blob_size(&repo, &d));
        assert_send(&c.pull_blob(&repo, &d, None, p, &|_| {}));
        assert_send(&c.push_blob(&repo, &d, 0, p, None, &|_| {}));
        assert_send(&c.push_blob_bytes(&repo, b""));
        assert_send(&c.get_manifest(&r));
        assert_send(&c.head_manifest(&r));
        assert_send(&c.put_manifest(&r, crate::OCI_MANIFEST, b""));
        assert_send(&c.list_tags(&repo));
        assert_send(&c.catalog("r.example.com", Some(10), None));
        assert_send(&c.pull_blob_bytes(&repo, &d, 1));
        assert_send(&c.referrers(&repo, &d, None));
        assert_send(&c.add_referrer_fallback(&repo, &d, crate::Descriptor::new("x", d.clone(), 0)));
        assert_send(&c.delete_manifest(&r));
    }
}
