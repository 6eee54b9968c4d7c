//! A hostile HTTP/1.1 server on 127.0.0.1 for fault tests: each connection's request head
//! is parsed and logged, then a test-written handler writes whatever it likes to the
//! socket (a lie about a size, a body that never ends, a stall, a `Retry-After` of a day).
//! One request per connection; one thread per connection; stopped when dropped.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The head of a request as received (header names lower-cased).
#[derive(Debug, Clone)]
pub struct HostileRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl HostileRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }
}

type Handler = dyn Fn(&HostileRequest, &mut TcpStream) -> std::io::Result<()> + Send + Sync;

/// A running hostile server; stops accepting when dropped (handlers still running end on
/// their own: they must bound their loops, as tests must).
pub struct HostileServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<HostileRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostileServer {
    /// Serve on a free loopback port; `handler` answers each request by writing to the
    /// socket (the request body, if any, is left unread).
    pub fn start(
        handler: impl Fn(&HostileRequest, &mut TcpStream) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = std::thread::spawn({
            let (log, stop) = (log.clone(), stop.clone());
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let (log, handler) = (log.clone(), handler.clone());
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                        let Some(req) = read_head(&mut stream) else {
                            return;
                        };
                        log.lock().expect("the log lock").push(req.clone());
                        let _ = handler(&req, &mut stream);
                        let _ = stream.flush();
                    });
                }
            }
        });
        Self {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request head received, in order.
    pub fn requests(&self) -> Vec<HostileRequest> {
        self.log.lock().expect("the log lock").clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_head(stream: &mut TcpStream) -> Option<HostileRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Some(HostileRequest {
        method,
        target,
        headers,
    })
}

/// Write a response head: status line, the given headers, `connection: close`.
pub fn write_head(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} Status\r\n");
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())
}

/// Write `chunk` every `every` until `total` bytes or `limit` time have gone (a bounded
/// "endless" or trickling body); stops early when the client goes away.
pub fn trickle(
    stream: &mut TcpStream,
    chunk: &[u8],
    every: Duration,
    total: u64,
    limit: Duration,
) -> std::io::Result<()> {
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total && start.elapsed() < limit {
        stream.write_all(chunk)?;
        sent += chunk.len() as u64;
        if !every.is_zero() {
            std::thread::sleep(every);
        }
    }
    Ok(())
}
