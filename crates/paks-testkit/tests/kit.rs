//! The harnesses themselves, against the real tools: a registry that answers, a busybox
//! image that umoci unpacks and podman runs (pulled from a registry and loaded from an
//! archive), and `PaksServe` driving a stand-in for `paks serve`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use paks_testkit::{DockerRegistry, PaksServe, Podman, busybox_layout, skopeo, text, umoci};

/// The status line of `GET /v2/`.
fn v2_status(host: &str) -> String {
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap().to_owned()
}

#[test]
fn docker_registry_answers_with_and_without_auth() {
    let open = DockerRegistry::start();
    assert!(open.host().starts_with("127.0.0.1:"));
    assert_eq!(v2_status(open.host()), "HTTP/1.1 200 OK");
    let closed = DockerRegistry::start_with_user("alice", "s3cret");
    assert_eq!(v2_status(closed.host()), "HTTP/1.1 401 Unauthorized");
    assert_ne!(open.port(), closed.port());
}

#[test]
fn busybox_layout_is_deterministic_and_umoci_unpacks_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = busybox_layout(&dir.path().join("a"), "1");
    let b = busybox_layout(&dir.path().join("b"), "1");
    assert_eq!(a, b);
    // A second tag in the same layout is added beside the first.
    assert_eq!(busybox_layout(&dir.path().join("a"), "2"), a);
    let index = std::fs::read_to_string(dir.path().join("a/index.json")).unwrap();
    assert_eq!(index.matches(&a.to_string()).count(), 2, "{index}");

    let image = format!("{}:2", dir.path().join("a").display());
    let bundle = dir.path().join("bundle");
    let rootless: &[&str] = if rustix::process::geteuid().is_root() {
        &[]
    } else {
        &["--rootless"]
    };
    let bundle_arg = bundle.to_str().unwrap();
    umoci(&[&["unpack"], rootless, &["--image", &image, bundle_arg]].concat());
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let mode = std::fs::metadata(rootfs.join("bin/busybox"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn podman_runs_busybox_pulled_from_a_registry_and_loaded_from_an_archive() {
    let registry = DockerRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let digest = busybox_layout(&layout, "latest");
    let reference = format!("{}/test/busybox:latest", registry.host());
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}:latest", layout.display()),
        &format!("docker://{reference}"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert_eq!(paks_types::Digest::sha256_of(raw.as_bytes()), digest);

    let podman = Podman::new();
    podman.pull(&reference, false);
    let out = podman.run(&reference, &["busybox", "echo", "hi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    // The image's own command is the shell.
    let out = podman.run(&reference, &["sh", "-c", "echo $((6 * 7))"]);
    assert_eq!(text(&out.stdout), "42\n", "{}", text(&out.stderr));

    let archive = dir.path().join("busybox.tar");
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:latest", layout.display()),
        &format!("docker-archive:{}:loaded/busybox:1", archive.display()),
    ]);
    let other = Podman::new();
    let loaded = other.load(&archive);
    assert!(loaded.contains("loaded/busybox:1"), "{loaded}");
    let out = other.run("loaded/busybox:1", &["echo", "from an archive"]);
    assert_eq!(
        text(&out.stdout),
        "from an archive\n",
        "{}",
        text(&out.stderr)
    );
}

/// A stand-in for `paks serve`: prints its arguments and a `Listening on` line (or not),
/// records SIGTERM in the root directory, and runs until stopped.
fn fake_server(dir: &Path, listening: &str) -> std::path::PathBuf {
    let script = dir.join("fake-paks");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             echo \"args: $*\" >&2\n\
             trap 'echo term > \"$3/stopped\"; exit 0' TERM\n\
             {listening}\n\
             while :; do sleep 0.02; done\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn paks_serve_reads_the_address_and_stops_with_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_server(
        dir.path(),
        "echo 'INFO Listening on http://127.0.0.1:4321' >&2",
    );
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut server = PaksServe::start(&bin, &root, &["--static", "/x"]);
    assert_eq!(server.addr().to_string(), "127.0.0.1:4321");
    assert_eq!(server.host(), "127.0.0.1:4321");
    assert_eq!(server.url(), "http://127.0.0.1:4321");
    let args = format!(
        "args: serve --root {} --listen 127.0.0.1:0 --static /x\n",
        root.display()
    );
    assert!(server.stderr().starts_with(&args), "{}", server.stderr());
    assert!(server.stop().success());
    assert_eq!(
        std::fs::read_to_string(root.join("stopped")).unwrap(),
        "term\n"
    );

    // Dropping stops it the same way.
    std::fs::remove_file(root.join("stopped")).unwrap();
    drop(PaksServe::start(&bin, &root, &[]));
    assert!(root.join("stopped").exists());
}

#[test]
fn paks_serve_kill9_is_not_a_sigterm_and_a_quoted_url_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_server(
        dir.path(),
        r#"echo '{"message":"Listening on https://127.0.0.1:443/"}' >&2"#,
    );
    let mut server = PaksServe::start(&bin, dir.path(), &[]);
    assert_eq!(server.url(), "https://127.0.0.1:443");
    let status = server.kill9();
    assert!(!status.success());
    drop(server);
    assert!(!dir.path().join("stopped").exists());
}

#[test]
#[should_panic(expected = "without a `Listening on ` line; stderr:\nargs: serve")]
fn paks_serve_that_exits_early_panics_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_server(dir.path(), "echo 'error: no such flag' >&2; exit 2");
    PaksServe::start(&bin, dir.path(), &[]);
}
