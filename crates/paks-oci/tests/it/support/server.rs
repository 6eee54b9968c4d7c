//! A tiny HTTP/1.1 server for fault tests, with exact control over what goes on the wire:
//! truncated bodies, dropped connections mid-upload, bodies without a length. One request
//! per connection (`Connection: close`). Binds `127.0.0.1:0`; stops when dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A request as received (header names lower-cased).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    /// Every value of query parameter `key`, decoded.
    pub fn query_all(&self, key: &str) -> Vec<String> {
        let Some((_, q)) = self.target.split_once('?') else {
            return Vec::new();
        };
        url::form_urlencoded::parse(q.as_bytes())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    pub fn query(&self, key: &str) -> Option<String> {
        self.query_all(key).into_iter().next()
    }
}

/// What the server does with a request.
pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The head (with the full `Content-Length`), then `cut` bytes of the body, then the
    /// connection is closed.
    Truncated {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        cut: usize,
    },
    /// A body without `Content-Length`, delimited by closing the connection.
    Unsized {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Drop,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Self::Full {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::with(
            status,
            &[("content-type", "application/json")],
            value.to_string(),
        )
    }
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A handler: `cut` sees the head and may ask to read only that many body bytes before
/// `handle` sees the (partial) request; `handle` answers.
pub struct Handler {
    pub cut: CutFn,
    pub handle: HandleFn,
}

pub type CutFn = Box<dyn Fn(&Request) -> Option<usize> + Send + Sync>;
pub type HandleFn = Box<dyn Fn(Request) -> BoxFuture<Reply> + Send + Sync>;

impl Handler {
    /// A handler from a synchronous function.
    pub fn sync(f: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            cut: Box::new(|_| None),
            handle: Box::new(move |r| {
                let reply = f(&r);
                Box::pin(async move { reply })
            }),
        }
    }
}

pub struct Server {
    pub addr: SocketAddr,
    /// Every request received, in order (bodies included).
    pub log: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let task = tokio::spawn({
            let log = log.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let (handler, log) = (handler.clone(), log.clone());
                    tokio::spawn(async move {
                        let _ = serve(stream, &handler, &log).await;
                    });
                }
            }
        });
        Self { addr, log, task }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// `(method, path)` of every request.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .map(|r| (r.method.clone(), r.path().to_owned()))
            .collect()
    }
}

async fn serve(
    stream: TcpStream,
    handler: &Handler,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    assert!(
        req.header("transfer-encoding").is_none(),
        "the test server reads only sized bodies"
    );
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cut = (handler.cut)(&req);
    let want = cut.map_or(len, |c| c.min(len));
    req.body = vec![0; want];
    reader.read_exact(&mut req.body).await?;
    log.lock().unwrap().push(req.clone());
    let head_only = req.method == "HEAD";
    let reply = (handler.handle)(req).await;
    if cut.is_some() {
        // Drop the connection with the rest of the upload unread: the client sees a reset.
        return Ok(());
    }
    let mut stream = reader.into_inner();
    let (status, headers, body, cut, sized) = match reply {
        Reply::Drop => return Ok(()),
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, body, None, true),
        Reply::Truncated {
            status,
            headers,
            body,
            cut,
        } => (status, headers, body, Some(cut), true),
        Reply::Unsized {
            status,
            headers,
            body,
        } => (status, headers, body, None, false),
    };
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut has_length = false;
    for (k, v) in &headers {
        has_length |= k.eq_ignore_ascii_case("content-length");
        let _ = write!(head, "{k}: {v}\r\n");
    }
    if sized && !has_length {
        let _ = write!(head, "content-length: {}\r\n", body.len());
    }
    head.push_str("connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        let end = cut.unwrap_or(body.len()).min(body.len());
        stream.write_all(&body[..end]).await?;
    }
    stream.flush().await?;
    stream.shutdown().await?;
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A blob served with optional `Range` support: the answer to `GET` of `data`.
pub fn serve_range(
    req: &Request,
    data: &[u8],
    honour_range: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let start = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok());
    match start {
        Some(s) if honour_range && s < data.len() => (
            206,
            vec![(
                "content-range".into(),
                format!("bytes {s}-{}/{}", data.len() - 1, data.len()),
            )],
            data[s..].to_vec(),
        ),
        _ => (200, Vec::new(), data.to_vec()),
    }
}

/// Counters by name, for handlers with state.
#[derive(Default, Clone)]
pub struct Counters(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counters {
    /// Increment `name`; returns the new count.
    pub fn bump(&self, name: &str) -> u64 {
        let mut m = self.0.lock().unwrap();
        let c = m.entry(name.to_owned()).or_default();
        *c += 1;
        *c
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}
