//! `paks serve` as a child process on `127.0.0.1:0`: started, its `Listening on URL` line
//! awaited on stderr, stopped with SIGTERM on drop (or killed with SIGKILL for crash
//! tests).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// How long `paks serve` may take to print `Listening on`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const LISTENING: &str = "Listening on ";

/// A running `paks serve`; stopped with SIGTERM on drop.
#[derive(Debug)]
pub struct PaksServe {
    child: Child,
    url: String,
    addr: SocketAddr,
    /// Everything the server printed on stderr so far (read by a thread until EOF).
    stderr: Arc<Mutex<String>>,
}

impl PaksServe {
    /// Run `BIN serve --root ROOT --listen 127.0.0.1:0 EXTRA_ARGS...` and wait (30 s at
    /// most) for its `Listening on URL` line.
    pub fn start(bin: &Path, root: &Path, extra_args: &[&str]) -> Self {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--root")
            .arg(root)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args);
        Self::from_command(command)
    }

    /// Run `BIN serve --storage STORAGE --listen 127.0.0.1:0 EXTRA_ARGS...` with `env` (the
    /// bucket's credentials) added to its environment. `root` is still passed as `--root`
    /// so that nothing lands in the working directory.
    pub fn start_storage(
        bin: &Path,
        root: &Path,
        storage: &str,
        env: &[(&str, String)],
        extra_args: &[&str],
    ) -> Self {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--root")
            .arg(root)
            .args(["--storage", storage, "--listen", "127.0.0.1:0"])
            .args(extra_args)
            .envs(env.iter().map(|(k, v)| (k, v)));
        Self::from_command(command)
    }

    /// [`PaksServe::start_storage`] on node `node` of `garage`, under key prefix `prefix`.
    pub fn start_garage(
        bin: &Path,
        root: &Path,
        garage: &crate::Garage,
        node: usize,
        prefix: &str,
        extra_args: &[&str],
    ) -> Self {
        Self::start_storage(
            bin,
            root,
            &garage.storage_url(node, prefix),
            &garage.credentials(),
            extra_args,
        )
    }

    /// Run `command` (a complete `paks serve ...` command line, e.g. with extra
    /// environment) and wait for its `Listening on URL` line. Stdout is discarded and
    /// stderr captured.
    pub fn from_command(mut command: Command) -> Self {
        let shown = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let log = stderr.clone();
        std::thread::spawn(move || read_stderr(pipe, &log, &tx));

        let deadline = Instant::now() + START_TIMEOUT;
        let url: String = match rx.recv_timeout(deadline - Instant::now()) {
            Ok(url) => url,
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{shown} printed no `{LISTENING}` line within {} s; stderr so far:\n{}",
                    START_TIMEOUT.as_secs(),
                    lock(&stderr)
                );
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Stderr closed: the server exited (or closed it, which is as bad).
                let _ = child.kill();
                let status = child.wait();
                // The reader has ended (it held the sender): the log is complete.
                panic!(
                    "{shown} exited ({status:?}) without a `{LISTENING}` line; stderr:\n{}",
                    lock(&stderr)
                );
            }
        };
        let addr = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|hostport| hostport.trim_end_matches('/').parse::<SocketAddr>().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{shown}: `{LISTENING}{url}` is not http(s)://IP:PORT; stderr:\n{}",
                    lock(&stderr)
                )
            });
        assert!(
            addr.ip().is_loopback(),
            "{shown} listens on {addr}, not on loopback"
        );
        Self {
            child,
            url: url.trim_end_matches('/').to_owned(),
            addr,
            stderr,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as a reference's registry part.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`, as printed (no trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process id, e.g. to read `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server has printed on stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// SIGKILL, as a crash would; returns once the process is gone.
    pub fn kill9(&mut self) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait for paks serve")
    }

    /// SIGTERM, then wait for it to exit; panics (after a SIGKILL) if it takes longer
    /// than 30 s. Returns its exit status: a clean stop is a success.
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate().unwrap_or_else(|| {
            panic!(
                "paks serve did not exit within {} s of SIGTERM; stderr:\n{}",
                STOP_TIMEOUT.as_secs(),
                self.stderr()
            )
        })
    }

    /// SIGTERM and wait; SIGKILL and None after [`STOP_TIMEOUT`].
    fn terminate(&mut self) -> Option<ExitStatus> {
        // Never signal a reaped (and possibly reused) pid: `try_wait` returns the saved
        // status of a child already waited for.
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let pid = Pid::from_raw(i32::try_from(self.child.id()).ok()?)?;
        let _ = kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for PaksServe {
    fn drop(&mut self) {
        // No panic here: a drop during a failing test's unwinding would abort.
        let _ = self.terminate();
    }
}

/// Append each stderr line to `log`; send the URL of the first `Listening on URL` line.
fn read_stderr(pipe: ChildStderr, log: &Mutex<String>, tx: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let mut sent = false;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        lock(log).push_str(&text);
        if !sent && let Some(at) = text.find(LISTENING) {
            // The URL ends where its characters do (a log format may quote it).
            let rest = &text[at + LISTENING.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || ":/.[]-".contains(c)))
                .unwrap_or(rest.len());
            let _ = tx.send(rest[..end].to_owned());
            sent = true;
        }
    }
}

fn lock(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
