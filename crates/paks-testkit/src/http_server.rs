//! `python3 -m http.server` on 127.0.0.1, serving a directory: the plain static web server
//! that static package repositories and recipe source URLs are tested against.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::free_port;

/// A running `python3 -m http.server`; killed on drop.
#[derive(Debug)]
pub struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    /// Serve `dir` on a free loopback port (retrying another port if one is taken).
    pub fn start(dir: &Path) -> Self {
        Self::start_with_log(dir, None)
    }

    /// Serve `dir`, writing the server's request log (one `"GET /path HTTP/1.1" 200 -`
    /// line per request) to `log`: what tests count requests in.
    pub fn start_logged(dir: &Path, log: &Path) -> Self {
        Self::start_with_log(dir, Some(log))
    }

    fn start_with_log(dir: &Path, log: Option<&Path>) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let stderr = log.map_or_else(Stdio::null, |path| {
                Stdio::from(std::fs::File::create(path).expect("the log file can be created"))
            });
            let mut child = Command::new("python3")
                .args(["-u", "-m", "http.server", "--bind", "127.0.0.1"])
                .arg(port.to_string())
                .arg("--directory")
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("python3 runs (`scripts/deps` installs it)");
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { child, port };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("python3 -m http.server did not start");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
