//! The one way `paks-update` talks to the network: one request per host at a time, a
//! timeout per request, a bound on every body, one retry where a retry is likely to help
//! (the connection failed, or the host said 429 or 503), and the update cache
//! ([`crate::cache`]) for whole upstream lists.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::sync::Semaphore;

use crate::cache::{Cache, Key};

/// The longest `Retry-After` honoured before the one retry: a host that asks for more is
/// reported as failing rather than holding a whole run up.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// The wait before retrying a failed connection, or a 429/503 without `Retry-After`.
const RETRY_WAIT: Duration = Duration::from_millis(500);

/// How long connecting may take, within [`FetchOptions::timeout`]: a host that does not
/// answer at all should not cost the whole request timeout twice.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How polite and how patient a [`Fetcher`] is.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// How long one request may take in all.
    pub timeout: Duration,
    /// The largest body read (a listing, a JSON document).
    pub max_body: u64,
    /// How many requests may go to one host at once.
    pub per_host: usize,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_body: 16 << 20,
            per_host: 1,
        }
    }
}

/// Failures to fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{url}` is not a URL paks can fetch (expected http, https or file)")]
    BadUrl { url: String },
    #[error("failed to fetch `{url}`")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{url}` answered {status}")]
    Status { url: String, status: u16 },
    #[error("`{url}` is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("`{url}` took longer than {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("failed to read `{url}`")]
    File {
        url: String,
        #[source]
        source: std::io::Error,
    },
}

/// An HTTP client that takes turns per host.
pub struct Fetcher {
    client: reqwest::Client,
    options: FetchOptions,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    cache: Cache,
    /// The registry client `oci-tags` lists tags with: the caller's (with its credentials
    /// and insecure registries), else one made on first use.
    registry: std::sync::OnceLock<paks_oci::Client>,
}

impl Fetcher {
    /// A fetcher with `options`.
    ///
    /// # Panics
    /// If the TLS backend cannot be set up (no usable root certificates).
    pub fn new(options: FetchOptions) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("paks/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(options.timeout))
            .build()
            .expect("the HTTP client builds");
        Self {
            client,
            options,
            hosts: Mutex::new(HashMap::new()),
            cache: Cache::in_memory(),
            registry: std::sync::OnceLock::new(),
        }
    }

    /// This fetcher, listing registry tags with `client`.
    #[must_use]
    pub fn with_registry_client(self, client: paks_oci::Client) -> Self {
        let _ = self.registry.set(client);
        self
    }

    /// The registry client: the one given, else the default configuration with the
    /// user's stored credentials and this fetcher's timeout.
    pub fn registry_client(&self) -> Result<&paks_oci::Client, paks_oci::OciError> {
        if let Some(client) = self.registry.get() {
            return Ok(client);
        }
        let client = paks_oci::Client::new(paks_oci::ClientConfig {
            credentials: paks_oci::Credentials::load(),
            timeout: self.options.timeout,
            transfer_deadline: self.options.timeout,
            ..paks_oci::ClientConfig::default()
        })?;
        Ok(self.registry.get_or_init(|| client))
    }

    /// This fetcher keeping upstream lists in `cache` (by default: shared within the run
    /// only, nothing stored).
    #[must_use]
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    /// The upstream list under `key`: from the cache where it has it, else `fetch`'s
    /// (which reaches the network through this fetcher), then kept. See [`Cache`].
    ///
    /// # Errors
    /// `fetch`'s.
    pub async fn cached<T, E, Fut>(&self, key: &Key, fetch: impl FnOnce() -> Fut) -> Result<T, E>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        Fut: Future<Output = Result<T, E>>,
    {
        self.cache.get_or_fetch(key, fetch).await
    }

    /// The options in effect.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// Runs `work` in `host`'s turn: at most [`FetchOptions::per_host`] such futures run
    /// at once per host. Everything that reaches a host (HTTP here, `git ls-remote`, a
    /// registry's tag list) goes through this. A host is an authority, `name:port` (see
    /// [`authority`]): two servers on one machine are two hosts.
    pub async fn in_turn<T>(&self, host: &str, work: impl Future<Output = T>) -> T {
        let semaphore = {
            let mut hosts = self
                .hosts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(
                hosts
                    .entry(host.to_ascii_lowercase())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.options.per_host.max(1)))),
            )
        };
        let _permit = semaphore
            .acquire()
            .await
            .expect("the semaphore is never closed");
        work.await
    }

    /// The body at `url` (http, https or file), at most [`FetchOptions::max_body`] bytes.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl { url: url.into() })?;
        match parsed.scheme() {
            "file" => {
                let path = parsed
                    .to_file_path()
                    .map_err(|()| FetchError::BadUrl { url: url.into() })?;
                let io = |source| FetchError::File {
                    url: url.into(),
                    source,
                };
                // Read no further than the limit: a recipe may name a file that never
                // ends (`/dev/zero`, a FIFO), which a whole read would take all memory on.
                let file = tokio::fs::File::open(&path).await.map_err(io)?;
                let mut bytes = Vec::new();
                file.take(self.options.max_body.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(io)?;
                self.bounded(url, bytes.len() as u64)?;
                Ok(bytes)
            }
            "http" | "https" => {
                let host = authority(&parsed);
                self.in_turn(&host, self.http_get(url, parsed)).await
            }
            _ => Err(FetchError::BadUrl { url: url.into() }),
        }
    }

    /// The body at `url` as text (invalid UTF-8 replaced).
    pub async fn get_text(&self, url: &str) -> Result<String, FetchError> {
        Ok(String::from_utf8_lossy(&self.get(url).await?).into_owned())
    }

    async fn http_get(&self, url: &str, parsed: reqwest::Url) -> Result<Vec<u8>, FetchError> {
        let http = |source: reqwest::Error| {
            if source.is_timeout() {
                FetchError::Timeout {
                    url: url.into(),
                    seconds: self.options.timeout.as_secs(),
                }
            } else {
                FetchError::Http {
                    url: url.into(),
                    source,
                }
            }
        };
        let mut retried = false;
        let mut response = loop {
            let wait = match self.client.get(parsed.clone()).send().await {
                Ok(response) if response.status().is_success() => break response,
                Ok(response) => {
                    let status = response.status().as_u16();
                    let wait = matches!(status, 429 | 503)
                        .then(|| retry_after(&response))
                        .flatten();
                    match wait {
                        Some(wait) if !retried => wait,
                        _ => {
                            return Err(FetchError::Status {
                                url: url.into(),
                                status,
                            });
                        }
                    }
                }
                // Refused or reset: a restarting server, a dropped connection.
                Err(e) if e.is_connect() && !retried => RETRY_WAIT,
                Err(e) => return Err(http(e)),
            };
            retried = true;
            // Still in this host's turn: the host asked the others to wait too.
            tokio::time::sleep(wait).await;
        };
        if let Some(length) = response.content_length() {
            self.bounded(url, length)?;
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            body.extend_from_slice(&chunk);
            self.bounded(url, body.len() as u64)?;
        }
        Ok(body)
    }

    fn bounded(&self, url: &str, len: u64) -> Result<(), FetchError> {
        if len > self.options.max_body {
            return Err(FetchError::TooLarge {
                url: url.into(),
                limit: self.options.max_body,
            });
        }
        Ok(())
    }
}

/// How long a 429 or 503 response asks to wait: its `Retry-After` in seconds (a date is
/// taken as the default wait); `None` when that is longer than [`MAX_RETRY_WAIT`].
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let header = response.headers().get(reqwest::header::RETRY_AFTER);
    let wait = header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(RETRY_WAIT, Duration::from_secs);
    (wait <= MAX_RETRY_WAIT).then_some(wait)
}

/// The key hosts take turns by: `name:port`, lower-cased, the port made explicit.
pub fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}
