//! Several `paks serve` replicas as one registry: a token one replica issued is accepted by
//! another sharing its `--token-key`; bad key files are refused; nginx (running the config
//! of docs/scale-out.md) round robin over two replicas carries pushes, pulls, a chunked
//! upload whose requests alternate between them, and a `paks install`.
//!
//! The replicas share one data directory here; on a bucket they share it the same way
//! (`--storage s3://…`), which the S3 suites test once that backend is complete.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{paks_bin, text};
use paks_testkit::raw_http::exchange;
use paks_testkit::{PaksServe, busybox_layout, run_ok, skopeo};

/// A users file: `alice` (password `s3cret`) may pull and push `acme/*`.
fn users(dir: &Path) -> PathBuf {
    let hash = common::password_hash("s3cret");
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!(
            "[[users]]\nname = \"alice\"\npassword = \"{hash}\"\n[[users.access]]\nrepositories = [\"acme/*\"]\nactions = [\"pull\", \"push\"]\n"
        ),
    )
    .unwrap();
    path
}

/// `paks serve token-key > DIR/token.key`, readable by its owner only.
fn token_key(dir: &Path) -> PathBuf {
    let out = Command::new(paks_bin())
        .args(["serve", "token-key"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = dir.join("token.key");
    std::fs::write(&path, &out.stdout).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A bearer token from `server`'s token endpoint for alice, for `scope`.
fn token(server: &PaksServe, scope: &str) -> String {
    let basic = data_encoding::BASE64.encode(b"alice:s3cret");
    let (status, _, body) = exchange(
        server.addr(),
        "GET",
        &format!("/token?service=paks&scope={scope}"),
        &[("Authorization", &format!("Basic {basic}"))],
        b"",
    );
    assert_eq!(status, 200, "{}", text(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    answer["token"].as_str().unwrap().to_owned()
}

/// The digest of the first manifest of OCI layout `layout`.
fn manifest_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn a_token_from_one_replica_is_accepted_by_another_with_the_same_token_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (users, key) = (users(d), token_key(d));
    let data = d.join("data");
    let args = [
        "--auth",
        users.to_str().unwrap(),
        "--token-key",
        key.to_str().unwrap(),
    ];
    let a = PaksServe::start(Path::new(paks_bin()), &data, &args);
    let b = PaksServe::start(Path::new(paks_bin()), &data, &args);
    // A third replica without the key signs (and checks) with a random key of its own.
    let c = PaksServe::start(Path::new(paks_bin()), &data, &args[..2]);
    let layout = d.join("layout");
    busybox_layout(&layout, "1");

    // One token, from A, used to push through A and to pull through B.
    let token = token(&a, "repository:acme/busybox:pull,push");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-registry-token",
        &token,
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{}/acme/busybox:1", a.host()),
    ]);
    let back = d.join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-registry-token",
        &token,
        &format!("docker://{}/acme/busybox:1", b.host()),
        &format!("oci:{}:1", back.display()),
    ]);
    assert_eq!(manifest_digest(&back), manifest_digest(&layout));

    // C does not know A's key: the same token is refused there.
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", "--registry-token"])
        .arg(&token)
        .arg(format!("docker://{}/acme/busybox:1", c.host()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unauthorized")
            || text(&out.stderr).contains("authentication required"),
        "{}",
        text(&out.stderr)
    );
}

/// `paks serve --token-key FILE` that must fail before listening: its stderr, with the
/// temporary directory shown as `[TMP]`.
fn refused(dir: &Path, key: &Path) -> String {
    let out = Command::new(paks_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(dir.join("data"))
        .arg("--token-key")
        .arg(key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    text(&out.stderr).replace(dir.to_str().unwrap(), "[TMP]")
}

#[test]
fn a_short_or_world_readable_token_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let short = d.join("short.key");
    std::fs::write(&short, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    insta::assert_snapshot!(refused(d, &short), @r"
    error: the token key `[TMP]/short.key` holds 16 bytes; it needs at least 32
    hint: make one with `paks serve token-key > FILE && chmod 600 FILE`, and give every replica the same file
    ");

    let open = token_key(d);
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    insta::assert_snapshot!(refused(d, &open), @r"
    error: the token key `[TMP]/token.key` may be read by other users (mode `644`)
    hint: `chmod 600 [TMP]/token.key`
    ");
}

/// nginx on 127.0.0.1 running docs/scale-out/nginx.conf (the deployment document's own
/// config) with its ports replaced: `listen` on a free port, round robin over `replicas`.
struct Nginx {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Nginx {
    fn start(dir: &Path, replicas: &[&PaksServe]) -> Self {
        let config = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scale-out/nginx.conf"),
        )
        .unwrap();
        let port = paks_testkit::free_port();
        let mut config = config.replace(
            "listen 127.0.0.1:8080;",
            &format!("listen 127.0.0.1:{port};"),
        );
        for (i, replica) in replicas.iter().enumerate() {
            let placeholder = format!("server 127.0.0.1:500{};", i + 1);
            assert!(
                config.contains(&placeholder),
                "{placeholder} in the doc's config"
            );
            config = config.replace(&placeholder, &format!("server {};", replica.addr()));
        }
        std::fs::create_dir_all(dir.join("temp")).unwrap();
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"));
        // As root, nginx's workers would switch to `nobody`, who cannot write the temp dirs.
        if text(&run_ok(Command::new("id").arg("-u")).stdout).trim() == "0" {
            command.args(["-g", "daemon off; user root;"]);
        } else {
            command.args(["-g", "daemon off;"]);
        }
        let mut child = command.stdin(std::process::Stdio::null()).spawn().unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..200 {
            if exchange(addr, "GET", "/v2/", &[], b"").0 == 200 {
                return Self { child, addr };
            }
            assert!(child.try_wait().unwrap().is_none(), "nginx exited");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("nginx did not answer on {addr}");
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (a SIGKILL would leave them listening).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// How many access-log lines of `server` name `path` with `method`.
fn served(server: &PaksServe, method: &str, path: &str) -> usize {
    server
        .stderr()
        .lines()
        .filter(|l| l.contains(&format!("method={method}")) && l.contains(path))
        .count()
}

#[test]
fn nginx_round_robin_over_two_replicas_pushes_pulls_uploads_in_chunks_and_installs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let a = PaksServe::start(Path::new(paks_bin()), &data, &[]);
    let b = PaksServe::start(Path::new(paks_bin()), &data, &[]);
    let nginx = Nginx::start(&d.join("nginx"), &[&a, &b]);

    // skopeo pushes and pulls through nginx.
    let layout = d.join("layout");
    busybox_layout(&layout, "1");
    let image = format!("docker://{}/acme/busybox:1", nginx.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &image,
    ]);
    let back = d.join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:1", back.display()),
    ]);
    assert_eq!(manifest_digest(&back), manifest_digest(&layout));
    assert!(served(&a, "PUT", "/v2/acme/busybox/") > 0);
    assert!(served(&b, "PUT", "/v2/acme/busybox/") > 0);

    // One chunked upload, its requests alternating between the replicas.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = format!(
        "sha256:{}",
        data_encoding::HEXLOWER.encode(&<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    let (status, head, _) = exchange(
        nginx.addr,
        "POST",
        "/v2/acme/chunked/blobs/uploads/",
        &[],
        b"",
    );
    assert_eq!(status, 202, "{head}");
    let mut location = paks_testkit::raw_http::header(&head, "location")
        .unwrap()
        .to_owned();
    for (i, chunk) in bytes.chunks(100_000).enumerate() {
        let range = format!("{}-{}", i * 100_000, i * 100_000 + chunk.len() - 1);
        let (status, head, _) = exchange(
            nginx.addr,
            "PATCH",
            &location,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            chunk,
        );
        assert_eq!(status, 202, "{head}");
        location = paks_testkit::raw_http::header(&head, "location")
            .unwrap()
            .to_owned();
    }
    let separator = if location.contains('?') { '&' } else { '?' };
    let (status, head, _) = exchange(
        nginx.addr,
        "PUT",
        &format!("{location}{separator}digest={digest}"),
        &[],
        b"",
    );
    assert_eq!(status, 201, "{head}");
    for replica in [&a, &b] {
        assert!(
            served(replica, "PATCH", "/v2/acme/chunked/blobs/uploads/") > 0,
            "{}",
            replica.stderr()
        );
    }
    let (status, _, body) = exchange(
        nginx.addr,
        "GET",
        &format!("/v2/acme/chunked/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(body, bytes);

    // The paks client pushes a package and installs it through nginx.
    let builder = common::Env::new();
    builder.build("libgreet");
    let hello = builder.build("hello");
    let target = format!("{}/acme/hello", nginx.host());
    builder.ok(&["push", hello.to_str().unwrap(), &target]);
    let user = common::Env::new();
    user.ok(&["install", &format!("{target}:1.0.0")]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

/// The packages `server`'s catalogue finds for `q` (its JSON search API).
fn search(server: &PaksServe, q: &str) -> Vec<String> {
    let (status, _, body) = exchange(
        server.addr(),
        "GET",
        &format!("/api/v1/search?q={q}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", text(&body));
    let found: serde_json::Value = serde_json::from_slice(&body).unwrap();
    found["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["repository"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_push_through_one_replica_is_found_by_the_catalogue_of_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--catalog-refresh", "1"];
    let a = PaksServe::start(Path::new(paks_bin()), &data, &args);
    let b = PaksServe::start(Path::new(paks_bin()), &data, &args);
    assert!(search(&b, "hello").is_empty());
    let builder = common::Env::new();
    builder.build("libgreet");
    let hello = builder.build("hello");
    builder.ok(&[
        "push",
        hello.to_str().unwrap(),
        &format!("{}/acme/hello", a.host()),
    ]);
    // A knows at once; B finds it at its next storage check (every second here).
    assert!(search(&a, "hello").contains(&"acme/hello".to_owned()));
    let mut found = Vec::new();
    for _ in 0..600 {
        found = search(&b, "hello");
        if !found.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(found.contains(&"acme/hello".to_owned()), "{found:?}");
}
