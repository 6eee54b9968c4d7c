//! A server on its own runtime (with a small blocking-thread cap, so that exhausting it
//! takes few sockets) and a raw HTTP/1.1 client over std sockets.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use paks_registry::server::{self, ServeConfig};
use paks_types::Digest;
use tempfile::TempDir;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A running server; stopped (and its runtime shut down) on drop.
pub struct Server {
    pub addr: SocketAddr,
    dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Server {
    /// Starts a server whose runtime has at most `blocking_threads` blocking threads.
    pub fn start(blocking_threads: usize, configure: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServeConfig {
            storage: paks_registry::storage::Location::Dir(dir.path().join("data")),
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            auth: None,
            static_dir: None,
            limits: paks_registry::limits::Limits::default(),
            extension: None,
            token_key: None,
        };
        configure(&mut config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(blocking_threads)
                .enable_all()
                .build()
                .unwrap();
            let result = runtime.block_on(server::run(
                config,
                move |addr, _| ready_tx.send(addr).unwrap(),
                async {
                    let _ = stopped.await;
                },
            ));
            if let Err(e) = result {
                eprintln!("the server failed: {e}");
            }
            // Stalled blocking tasks must not keep the test waiting.
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server starts");
        Self {
            addr,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The registry's data directory.
    pub fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Opens a connection and sends a request head (and `body`, if any), without reading.
    pub fn send_head(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> TcpStream {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        stream
    }

    /// One request on a new connection, answered within `patience`; `None` if it was not.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        patience: Duration,
    ) -> Option<Answer> {
        let len = body.len().to_string();
        let mut all: Vec<(&str, &str)> = vec![("Connection", "close"), ("Content-Length", &len)];
        all.extend_from_slice(headers);
        let mut stream = self.send_head(method, path, &all, body);
        let raw = read_all(&mut stream, patience)?;
        Answer::parse(&raw)
    }

    /// Like [`Server::request`], with a generous patience, and the answer required.
    #[track_caller]
    pub fn must(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        self.request(method, path, headers, body, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{method} {path} was not answered within 30 s"))
    }

    /// Uploads a blob monolithically into `repo`.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::sha256_of(bytes);
        let a = self.must(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(a.status, 201, "{}", a.text());
        digest
    }

    /// Opens an upload session; returns its location.
    pub fn start_upload(&self, repo: &str) -> String {
        let a = self.must("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
        assert_eq!(a.status, 202, "{}", a.text());
        a.header("location").expect("a Location").to_owned()
    }

    /// Pushes a one-layer image manifest tagged `tag`; returns the manifest's bytes.
    pub fn push_image(&self, repo: &str, tag: &str) -> Vec<u8> {
        let config = self.push_blob(repo, b"{}");
        let layer = self.push_blob(repo, b"a layer");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.to_string(), "size": 7}],
        }))
        .unwrap();
        let a = self.must(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", OCI_MANIFEST)],
            &manifest,
        );
        assert_eq!(a.status, 201, "{}", a.text());
        manifest
    }
}

/// Reads from `stream` until the server closes it (or fails it); `None` if the server
/// neither sent nor closed anything for `patience`.
pub fn read_all(stream: &mut TcpStream, patience: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(raw),
        }
    }
}

/// How many bytes the server sent before it closed `stream`; see [`read_all`].
pub fn drain(stream: &mut TcpStream, patience: Duration) -> Option<usize> {
    read_all(stream, patience).map(|raw| raw.len())
}

/// `n` bytes of a repeating, not all-equal pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

/// A response, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    fn parse(raw: &[u8]) -> Option<Self> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Some(Self {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
