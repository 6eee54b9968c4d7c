//! `paks serve` with real clients: skopeo copies images in and out, umoci unpacks what
//! skopeo pulled back, podman pulls and runs, and the paks client pushes and installs.
//! Also TLS with users and tokens, gc and scrub, and a kill -9 during 20 uploads.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Env, paks_bin, text};
use paks_testkit::raw_http::{exchange, header, parse_response};
use paks_testkit::{PaksServe, Podman, busybox_layout, run_ok, skopeo, umoci};
use paks_types::Digest;

fn serve(root: &Path, extra: &[&str]) -> PaksServe {
    PaksServe::start(Path::new(paks_bin()), root, extra)
}

/// A served registry holding the busybox image as `acme/busybox:1`.
fn with_busybox(dir: &Path) -> PaksServe {
    let server = serve(&dir.join("data"), &[]);
    let layout = dir.join("layout");
    busybox_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{}/acme/busybox:1", server.host()),
    ]);
    server
}

#[test]
fn skopeo_copies_in_and_out_and_umoci_unpacks_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_busybox(dir.path());
    let image = format!("docker://{}/acme/busybox:1", server.host());
    let inspected: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &image])).unwrap();
    assert_eq!(inspected["Os"], "linux");
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 1);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &image]);
    assert_eq!(
        inspected["Digest"],
        Digest::sha256_of(raw.as_bytes()).to_string(),
        "the served manifest hashes to its digest"
    );

    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:1", back.display()),
    ]);
    let bundle = dir.path().join("bundle");
    umoci(&[
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:1", back.display()),
        bundle.to_str().unwrap(),
    ]);
    let busybox = bundle.join("rootfs/bin/busybox");
    let out = run_ok(Command::new(&busybox).args(["echo", "unpacked"]));
    assert_eq!(text(&out.stdout), "unpacked\n");
    assert_eq!(
        std::fs::read(&busybox).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
}

#[test]
fn podman_pulls_and_runs_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_busybox(dir.path());
    let podman = Podman::new();
    let image = format!("{}/acme/busybox:1", server.host());
    podman.pull(&image, false);
    let out = podman.run(&image, &["/bin/busybox", "echo", "from paks serve"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from paks serve\n");
}

#[test]
fn the_paks_client_pushes_and_installs_through_paks_serve() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("data"), &[]);
    let builder = Env::new();
    builder.build("libgreet");
    let hello = builder.build("hello");
    let target = format!("{}/acme/hello", server.host());
    let pushed = builder.ok(&["push", hello.to_str().unwrap(), &target]);
    assert!(pushed.contains("/acme/libgreet@sha256:"), "{pushed}");
    // Pushing again moves nothing and still succeeds.
    builder.ok(&["push", hello.to_str().unwrap(), &target]);
    let user = Env::new();
    user.ok(&["install", &format!("{target}:1.0.0")]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
    // The tags the client wrote are listed by skopeo.
    let tags: serde_json::Value = serde_json::from_str(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]))
    .unwrap();
    assert!(
        tags["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "1.0.0"),
        "{tags}"
    );
}

/// A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem, and certs/ca.crt
/// for skopeo's `--cert-dir`).
fn certificate(dir: &Path) {
    common::self_signed_certificate(dir, "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1", &[]);
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    std::fs::copy(dir.join("cert.pem"), dir.join("certs/ca.crt")).unwrap();
}

#[test]
fn tls_users_and_tokens_with_skopeo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d);
    let hash = common::password_hash("s3cret");
    std::fs::write(
        d.join("users.toml"),
        format!(
            "[[users]]\nname = \"alice\"\npassword = \"{hash}\"\n[[users.access]]\nrepositories = [\"acme/*\"]\nactions = [\"pull\", \"push\"]\n"
        ),
    )
    .unwrap();
    let server = serve(
        &d.join("data"),
        &[
            "--tls-cert",
            d.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            d.join("key.pem").to_str().unwrap(),
            "--auth",
            d.join("users.toml").to_str().unwrap(),
        ],
    );
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let layout = d.join("layout");
    busybox_layout(&layout, "1");
    let certs = d.join("certs");
    let image = format!("docker://{}/acme/busybox:1", server.host());
    // Without credentials: refused.
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--dest-cert-dir"])
        .arg(&certs)
        .arg(format!("oci:{}:1", layout.display()))
        .arg(&image)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unauthorized")
            || text(&out.stderr).contains("authentication required"),
        "{}",
        text(&out.stderr)
    );
    // With them, over verified TLS, through the token flow.
    skopeo(&[
        "copy",
        "--dest-cert-dir",
        certs.to_str().unwrap(),
        "--dest-creds",
        "alice:s3cret",
        &format!("oci:{}:1", layout.display()),
        &image,
    ]);
    let inspected: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--cert-dir",
        certs.to_str().unwrap(),
        "--creds",
        "alice:s3cret",
        &image,
    ]))
    .unwrap();
    assert_eq!(inspected["Os"], "linux");
    // A wrong password is refused.
    let out = Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(&certs)
        .args(["--creds", "alice:wrong", &image])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

// ---------- raw HTTP, for the crash test ----------

/// Sends a request and returns (status, headers text, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    exchange(addr, method, path, &headers, body)
}

/// GET or HEAD of a blob: (status, body).
fn blob(addr: SocketAddr, method: &str, repo: &str, digest: &Digest) -> (u16, Vec<u8>) {
    let (status, _, body) = http(
        addr,
        method,
        &format!("/v2/{repo}/blobs/{digest}"),
        &[],
        b"",
    );
    (status, body)
}

fn open_session(addr: SocketAddr, repo: &str) -> String {
    let (status, head, _) = http(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(status, 202, "{head}");
    header(&head, "location").unwrap().to_owned()
}

/// Uploads `bytes` in one PUT, `pace` between 256 KiB pieces; `Some(status)` if answered.
fn put_blob(addr: SocketAddr, repo: &str, bytes: &[u8], pace: Duration) -> Option<u16> {
    let location = open_session(addr, repo);
    let digest = Digest::sha256_of(bytes);
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_mins(1))).ok()?;
    let head = format!(
        "PUT {location}?digest={digest} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    for piece in bytes.chunks(256 * 1024) {
        s.write_all(piece).ok()?;
        std::thread::sleep(pace);
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let (status, _, _) = parse_response(&raw);
    (status != 0).then_some(status)
}

fn blob_of(i: usize) -> Vec<u8> {
    // 4 MiB, different for each i, not compressible to nothing
    common::noise(4 * 1024 * 1024, i as u64)
}

#[test]
fn kill_9_during_20_uploads_loses_nothing_committed_and_exposes_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let mut server = serve(&root, &[]);
    let addr = server.addr();
    let blobs: Vec<Vec<u8>> = (0..20).map(blob_of).collect();
    // Half the uploads go fast and commit; half trickle, and are cut by the kill.
    let handles: Vec<_> = blobs
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, bytes)| {
            std::thread::spawn(move || {
                let pace = if i % 2 == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_millis(150)
                };
                put_blob(addr, "crash/test", &bytes, pace)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1200));
    server.kill9();
    let answers: Vec<Option<u16>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let committed: Vec<usize> = (0..20).filter(|&i| answers[i] == Some(201)).collect();
    let cut: Vec<usize> = (0..20).filter(|&i| answers[i].is_none()).collect();
    assert!(
        committed.len() >= 5,
        "some uploads committed before the kill: {answers:?}"
    );
    assert!(
        cut.len() >= 5,
        "some uploads were in flight at the kill: {answers:?}"
    );

    let server = serve(&root, &[]);
    let addr = server.addr();
    for &i in &committed {
        let digest = Digest::sha256_of(&blobs[i]);
        let (status, body) = blob(addr, "GET", "crash/test", &digest);
        assert_eq!(
            status, 200,
            "committed blob {i} is served after the restart"
        );
        assert_eq!(
            Digest::sha256_of(&body),
            digest,
            "committed blob {i} verifies"
        );
    }
    for &i in &cut {
        let digest = Digest::sha256_of(&blobs[i]);
        let (status, _) = blob(addr, "HEAD", "crash/test", &digest);
        assert_eq!(status, 404, "the cut upload {i} is not a blob");
    }
    // Every stored blob verifies.
    let scrub = Env::new().ok(&["serve", "scrub", "--root", root.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&scrub).unwrap();
    assert_eq!(report["corrupt"], serde_json::json!([]), "{report}");
    assert!(report["blobs_checked"].as_u64().unwrap() >= committed.len() as u64);
    // The cut uploads can be retried.
    for &i in &cut {
        assert_eq!(
            put_blob(addr, "crash/test", &blobs[i], Duration::ZERO),
            Some(201)
        );
        let digest = Digest::sha256_of(&blobs[i]);
        let (status, body) = blob(addr, "GET", "crash/test", &digest);
        assert_eq!(status, 200);
        assert_eq!(Digest::sha256_of(&body), digest);
    }
}

#[test]
fn gc_deletes_what_nothing_references_after_the_grace_period_and_scrub_finds_damage() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "1");
    let server = serve(&root, &[]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{}/acme/busybox:1", server.host()),
    ]);
    let addr = server.addr();
    let orphan = b"an orphan blob".to_vec();
    assert_eq!(
        put_blob(addr, "acme/busybox", &orphan, Duration::ZERO),
        Some(201)
    );
    let orphan_digest = Digest::sha256_of(&orphan);
    let env = Env::new();
    let root_s = root.to_str().unwrap();
    // Within the grace period nothing goes.
    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["serve", "gc", "--root", root_s, "--json"])).unwrap();
    assert_eq!(report["blobs_deleted"], serde_json::json!([]), "{report}");
    assert_eq!(report["blobs_in_grace"], 1, "{report}");
    // A dry run without grace names the orphan but deletes nothing.
    let report: serde_json::Value = serde_json::from_str(&env.ok(&[
        "serve",
        "gc",
        "--root",
        root_s,
        "--grace",
        "0",
        "--dry-run",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        report["blobs_deleted"][0][0],
        orphan_digest.to_string(),
        "{report}"
    );
    let (status, _) = blob(addr, "HEAD", "acme/busybox", &orphan_digest);
    assert_eq!(status, 200);
    // For real: the orphan goes, the image stays whole.
    env.ok(&["serve", "gc", "--root", root_s, "--grace", "0"]);
    let (status, _) = blob(addr, "HEAD", "acme/busybox", &orphan_digest);
    assert_eq!(status, 404);
    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/acme/busybox:1", server.host()),
        &format!("oci:{}:1", back.display()),
    ]);
    // Scrub: clean, then a damaged blob is found (exit 1).
    env.ok(&["serve", "scrub", "--root", root_s]);
    let victim = walkdir(&root.join("blobs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let out = env.fails(&["serve", "scrub", "--root", root_s], 1);
    assert!(out.contains("damaged"), "{out}");
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walkdir(&path));
        } else {
            files.push(path);
        }
    }
    files
}
