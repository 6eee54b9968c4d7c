//! Debian's `docker-registry` (CNCF distribution 2.8) as a child process on
//! `127.0.0.1:PORT`, with filesystem storage in a temporary directory and deletes enabled;
//! killed on drop.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, run_ok};

/// How the registry authenticates.
#[derive(Debug, Clone, Default)]
pub enum RegistryAuth {
    /// Anyone may pull and push.
    #[default]
    None,
    /// `auth.htpasswd` with one bcrypt user (made with `htpasswd -Bbn`).
    Htpasswd { user: String, password: String },
    /// `auth.token`: tokens from `realm`, for `service`, signed by `issuer` with a key
    /// whose certificate is `root_cert_pem`.
    Token {
        realm: String,
        service: String,
        issuer: String,
        root_cert_pem: String,
    },
}

/// A running `docker-registry serve`; killed on drop.
#[derive(Debug)]
pub struct DockerRegistry {
    child: Child,
    host: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl DockerRegistry {
    /// Without auth.
    pub fn start() -> Self {
        Self::start_with(&RegistryAuth::None)
    }

    /// With basic auth for `user`:`password`.
    pub fn start_with_user(user: &str, password: &str) -> Self {
        Self::start_with(&RegistryAuth::Htpasswd {
            user: user.into(),
            password: password.into(),
        })
    }

    /// Start on a free port and wait until `GET /v2/` answers (200, or 401 with auth).
    pub fn start_with(auth: &RegistryAuth) -> Self {
        let mut dir = tempfile::tempdir().expect("create a temporary directory");
        let auth_yaml = auth_yaml(auth, dir.path());
        let log_path = dir.path().join("registry.log");
        // The port is free when chosen but could be taken before the child binds it: a
        // child that exits is retried on another port.
        for _ in 0..5 {
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: paks-test-secret\n{auth_yaml}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write config.yml");
            let log = std::fs::File::create(&log_path).expect("create registry.log");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run `docker-registry` ({e}): is it installed? `scripts/deps` installs it"
                    )
                });
            let mut registry = Self {
                child,
                host,
                port,
                dir,
            };
            if registry.wait_ready() {
                return registry;
            }
            // Drop kills it and would delete the directory: keep the directory.
            let _ = registry.child.kill();
            let _ = registry.child.wait();
            dir = registry.take_dir();
        }
        panic!(
            "docker-registry exited at start five times: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    /// `127.0.0.1:PORT`, as a reference's registry part.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// The temporary directory: `config.yml`, `registry.log`, `data/` (the storage root).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry's own log (errors only).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Where the registry keeps the sha256 blob `hex` (filesystem driver layout).
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The process id, e.g. to read `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// False if the child exits first; panics after 20 s.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self
                .child
                .try_wait()
                .expect("wait for docker-registry")
                .is_some()
            {
                return false;
            }
            if matches!(v2_status(self.port), Some(200 | 401)) {
                return true;
            }
            assert!(
                Instant::now() <= deadline,
                "docker-registry on {} not ready after 20 s: {}",
                self.host,
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The temporary directory, leaving an empty one behind (for a retry).
    fn take_dir(&mut self) -> tempfile::TempDir {
        let empty = tempfile::tempdir().expect("create a temporary directory");
        std::mem::replace(&mut self.dir, empty)
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `auth:` section for `auth`, writing its files into `dir`.
fn auth_yaml(auth: &RegistryAuth, dir: &Path) -> String {
    let mut yaml = String::new();
    match auth {
        RegistryAuth::None => {}
        RegistryAuth::Htpasswd { user, password } => {
            let out = run_ok(Command::new("htpasswd").args(["-Bbn", user, password]));
            let path = dir.join("htpasswd");
            std::fs::write(&path, out.stdout).expect("write htpasswd");
            let _ = write!(
                yaml,
                "auth:\n  htpasswd:\n    realm: paks-test\n    path: {}\n",
                path.display()
            );
        }
        RegistryAuth::Token {
            realm,
            service,
            issuer,
            root_cert_pem,
        } => {
            let path = dir.join("token-root.pem");
            std::fs::write(&path, root_cert_pem).expect("write token-root.pem");
            let _ = write!(
                yaml,
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                path.display()
            );
        }
    }
    yaml
}

/// The status of `GET /v2/` on `127.0.0.1:port`, if it answers.
pub(crate) fn v2_status(port: u16) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request =
        format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
