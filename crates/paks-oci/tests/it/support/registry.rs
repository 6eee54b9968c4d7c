//! Debian's `docker-registry` (distribution 2.8) as a child process on `127.0.0.1:PORT`,
//! with filesystem storage in a temporary directory and deletes enabled; killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the registry authenticates.
pub enum RegistryAuth {
    None,
    /// `auth.htpasswd` with one bcrypt user (made with `htpasswd -Bbn`).
    Htpasswd {
        user: String,
        password: String,
    },
    /// `auth.token`: tokens from `realm`, for `service`, signed by `issuer` with a key
    /// whose certificate is `root_cert_pem`.
    Token {
        realm: String,
        service: String,
        issuer: String,
        root_cert_pem: String,
    },
}

pub struct Registry {
    /// `127.0.0.1:PORT`
    pub host: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    pub async fn start(auth: RegistryAuth) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let auth_yaml = match &auth {
            RegistryAuth::None => String::new(),
            RegistryAuth::Htpasswd { user, password } => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("`htpasswd` must be installed (apt-get install -y apache2-utils)");
                assert!(out.status.success(), "htpasswd failed: {out:?}");
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: paks-test\n    path: {}\n",
                    path.display()
                )
            }
            RegistryAuth::Token {
                realm,
                service,
                issuer,
                root_cert_pem,
            } => {
                let path = dir.path().join("token-root.pem");
                std::fs::write(&path, root_cert_pem).unwrap();
                format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    path.display()
                )
            }
        };
        // The port is free when chosen but could be taken before the child binds it:
        // try a few.
        for _ in 0..5 {
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: paks-test-secret\n{auth_yaml}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("`docker-registry` must be installed (apt-get install -y docker-registry)");
            let mut child = child;
            if wait_ready(&mut child, &host, &dir.path().join("registry.log")).await {
                return Self { host, dir, child };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }
}

/// Wait until `GET /v2/` answers (200, or 401 with auth); false if the child exits.
async fn wait_ready(child: &mut Child, host: &str, log: &std::path::Path) -> bool {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if let Ok(r) = http.get(format!("http://{host}/v2/")).send().await
            && matches!(r.status().as_u16(), 200 | 401)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "docker-registry on {} not ready after 20 s: {}",
        host,
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
