//! Garage (crates.io `garage`, an S3-compatible distributed object store) as a cluster of
//! child processes on `127.0.0.1`: each node with its own RPC, S3 and admin ports and its
//! own directories, replication factor 3 (so a write needs two nodes of three), one bucket
//! and one key. Killed on drop. `scripts/deps` builds the binary into the cache.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// The version `scripts/deps` installs.
pub const GARAGE_VERSION: &str = "2.5.0";

/// The bucket every cluster has.
pub const GARAGE_BUCKET: &str = "paks";

/// The garage binary: `$PAKS_GARAGE`, else the one `scripts/deps` built into the cache.
pub fn garage_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PAKS_GARAGE") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("PAKS_GARAGE_CACHE").map_or_else(
        || {
            std::env::var_os("XDG_CACHE_HOME").map_or_else(
                || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"),
                PathBuf::from,
            )
        },
        PathBuf::from,
    );
    let path = cache
        .join("paks-garage")
        .join(GARAGE_VERSION)
        .join("bin/garage");
    assert!(
        path.is_file(),
        "garage is not at `{}`: run scripts/deps (it builds it once)",
        path.display()
    );
    path
}

/// One node of a [`Garage`] cluster.
#[derive(Debug)]
pub struct GarageNode {
    child: Option<Child>,
    config: PathBuf,
    s3_port: u16,
    rpc_port: u16,
}

impl GarageNode {
    /// `http://127.0.0.1:PORT` of this node's S3 API.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A running Garage cluster; every node is killed on drop.
#[derive(Debug)]
pub struct Garage {
    nodes: Vec<GarageNode>,
    key_id: String,
    secret: String,
    dir: tempfile::TempDir,
}

impl Garage {
    /// A cluster of three nodes (replication factor 3), with bucket [`GARAGE_BUCKET`].
    pub fn start() -> Self {
        Self::start_nodes(3)
    }

    /// A cluster of `count` nodes (1 or 3), replication factor `count`.
    pub fn start_nodes(count: usize) -> Self {
        assert!(count == 1 || count == 3, "1 or 3 nodes, not {count}");
        let binary = garage_binary();
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let secret_hex: String = random_hex(32);
        let mut nodes = Vec::new();
        for i in 0..count {
            let node_dir = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(node_dir.join("meta")).expect("create the node's directory");
            std::fs::create_dir_all(node_dir.join("data")).expect("create the node's directory");
            let (rpc_port, s3_port, admin_port) = (free_port(), free_port(), free_port());
            let config = node_dir.join("garage.toml");
            let mut text = String::new();
            let _ = write!(
                text,
                "metadata_dir = \"{meta}\"\n\
                 data_dir = \"{data}\"\n\
                 db_engine = \"lmdb\"\n\
                 replication_factor = {count}\n\
                 consistency_mode = \"consistent\"\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
                 rpc_secret = \"{secret_hex}\"\n\
                 [s3_api]\n\
                 s3_region = \"garage\"\n\
                 api_bind_addr = \"127.0.0.1:{s3_port}\"\n\
                 [admin]\n\
                 api_bind_addr = \"127.0.0.1:{admin_port}\"\n",
                meta = node_dir.join("meta").display(),
                data = node_dir.join("data").display(),
            );
            std::fs::write(&config, text).expect("write the node's config");
            let mut node = GarageNode {
                child: None,
                config,
                s3_port,
                rpc_port,
            };
            node.spawn(&binary);
            nodes.push(node);
        }
        let cluster = Self {
            nodes,
            key_id: format!("GK{}", random_hex(12)),
            secret: random_hex(32),
            dir,
        };
        cluster.set_up(&binary);
        cluster
    }

    /// One cluster for the whole test binary, started on first use and never restarted
    /// or killed by tests (give each test its own key prefix). A statically held value is
    /// never dropped, so a watcher process kills the nodes and removes their directory
    /// when this process exits, however it exits: it waits for EOF on a pipe whose only
    /// writer is this process.
    pub fn shared() -> &'static Self {
        static SHARED: std::sync::OnceLock<(Garage, Child)> = std::sync::OnceLock::new();
        &SHARED
            .get_or_init(|| {
                let cluster = Self::start();
                let pids: Vec<String> = cluster
                    .nodes
                    .iter()
                    .filter_map(|n| n.child.as_ref().map(|c| c.id().to_string()))
                    .collect();
                let script = format!(
                    "read -r _; kill -9 {} 2>/dev/null; sleep 1; rm -rf '{}'",
                    pids.join(" "),
                    cluster.dir().display()
                );
                // Rust opens the pipe close-on-exec: no other child holds its write end.
                let watcher = Command::new("sh")
                    .args(["-c", &script])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start the shared cluster's watcher (`sh`)");
                // Held (with its stdin) until this process exits.
                (cluster, watcher)
            })
            .0
    }

    /// Connects the nodes, gives each a role, makes the key and the bucket.
    fn set_up(&self, binary: &Path) {
        let first = &self.nodes[0];
        let mut ids = Vec::new();
        for node in &self.nodes {
            let id = retry("`garage node id`", || {
                garage(binary, &node.config, &["node", "id", "-q"])
            });
            ids.push(id.trim().to_owned());
        }
        for id in &ids[1..] {
            retry("`garage node connect`", || {
                garage(binary, &first.config, &["node", "connect", id])
            });
        }
        for id in &ids {
            let short = id.split('@').next().expect("an id").to_owned();
            retry("`garage layout assign`", || {
                garage(
                    binary,
                    &first.config,
                    &["layout", "assign", "-z", "dc1", "-c", "1G", &short],
                )
            });
        }
        retry("`garage layout apply`", || {
            garage(
                binary,
                &first.config,
                &["layout", "apply", "--version", "1"],
            )
        });
        retry("`garage key import`", || {
            garage(
                binary,
                &first.config,
                &["key", "import", &self.key_id, &self.secret, "--yes"],
            )
        });
        retry("`garage bucket create`", || {
            garage(binary, &first.config, &["bucket", "create", GARAGE_BUCKET]).or_else(|e| {
                if e.contains("already exists") {
                    Ok(String::new())
                } else {
                    Err(e)
                }
            })
        });
        retry("`garage bucket allow`", || {
            garage(
                binary,
                &first.config,
                &[
                    "bucket",
                    "allow",
                    "--read",
                    "--write",
                    "--owner",
                    GARAGE_BUCKET,
                    "--key",
                    &self.key_id,
                ],
            )
        });
    }

    pub fn nodes(&self) -> &[GarageNode] {
        &self.nodes
    }

    /// The S3 endpoint of node `i`.
    pub fn endpoint(&self, i: usize) -> String {
        self.nodes[i].endpoint()
    }

    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` of the cluster's key.
    pub fn credentials(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }

    /// `s3://paks/PREFIX?endpoint=…&region=garage` for node `i`, as `paks serve --storage`
    /// takes it.
    pub fn storage_url(&self, i: usize, prefix: &str) -> String {
        format!(
            "s3://{GARAGE_BUCKET}/{prefix}?endpoint={}&region=garage",
            self.endpoint(i)
        )
    }

    /// Kills node `i` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its data (after [`Garage::kill`]).
    pub fn restart(&mut self, i: usize) {
        let binary = garage_binary();
        self.nodes[i].spawn(&binary);
    }

    /// The cluster's directory (each node's config, data and log under `node<i>/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl GarageNode {
    fn spawn(&mut self, binary: &Path) {
        let log = self.config.with_file_name("garage.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the node's log");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start `{}`: {e}", binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.rpc_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "garage did not listen on 127.0.0.1:{} within 30 s; log: {}",
                self.rpc_port,
                std::fs::read_to_string(self.config.with_file_name("garage.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// Runs `garage -c CONFIG ARGS…`; its stdout, or its stderr as the error.
fn garage(binary: &Path, config: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("-c")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| format!("start `{}`: {e}", binary.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Retries `f` for up to 30 s (the nodes need a moment to find each other).
fn retry(what: &str, mut f: impl FnMut() -> Result<String, String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match f() {
            Ok(out) => return out,
            Err(e) if Instant::now() > deadline => panic!("{what} failed: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `bytes` random bytes in lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rustix::rand::getrandom(&mut raw, rustix::rand::GetRandomFlags::empty())
        .expect("read random bytes");
    raw.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
