//! Images composed on pull: `paks serve` answers `compose/<namespace>/<pkg>[/<pkg>…]:<tag>`
//! with an image of those packages and their dependencies, composed from its own storage.
//! Checked with skopeo (layers, labels, digests), podman (pull and run), umoci (unpack,
//! then `chroot`), raw HTTP (errors, `Accept`, writes refused) and `--auth`.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, chroot_run, paks_bin, password_hash, text};
use paks_testkit::{PaksServe, Podman, busybox_glibc_layout, skopeo};
use serde_json::Value;

/// libgreet, hello (which needs libgreet) and hello-script pushed to `acme/`, and a
/// busybox + glibc image at `base/busybox:1` (the base images compose on).
struct Fixture {
    env: Env,
    data: PathBuf,
    server: PaksServe,
}

const BASE: [&str; 2] = ["--compose-base", "base/busybox:1"];

impl Fixture {
    fn new(extra: &[&str]) -> Self {
        let env = Env::new();
        let data = env.dir.path().join("data");
        let mut args = BASE.to_vec();
        args.extend_from_slice(extra);
        let server = PaksServe::start(Path::new(paks_bin()), &data, &args);
        env.build("libgreet");
        let hello = env.build("hello");
        let script = env.build("hello-script");
        let host = server.host();
        for (pak, repo) in [(&hello, "acme/hello"), (&script, "acme/hello-script")] {
            env.ok(&["push", pak.to_str().unwrap(), &format!("{host}/{repo}")]);
        }
        let layout = env.dir.path().join("base");
        busybox_glibc_layout(&layout, "1");
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:1", layout.display()),
            &format!("docker://{host}/base/busybox:1"),
        ]);
        Self { env, data, server }
    }

    fn image(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.server.host())
    }

    /// The manifest skopeo reads for `path`, and its digest.
    fn manifest(&self, path: &str) -> (Value, String) {
        let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &self.image(path)]);
        let digest = format!(
            "sha256:{}",
            paks_types::Digest::sha256_of(raw.as_bytes()).hex()
        );
        (serde_json::from_str(&raw).unwrap(), digest)
    }

    fn config(&self, path: &str) -> Value {
        serde_json::from_str(&skopeo(&[
            "inspect",
            "--config",
            "--tls-verify=false",
            &self.image(path),
        ]))
        .unwrap()
    }

    /// Restarts the server on the same data, with `extra` arguments.
    fn restart(&mut self, extra: &[&str]) {
        self.server.stop();
        let mut args = BASE.to_vec();
        args.extend_from_slice(extra);
        self.server = PaksServe::start(Path::new(paks_bin()), &self.data, &args);
    }
}

/// One HTTP/1.1 request to `addr`; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.extend([*k, ": ", v, "\r\n"]);
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = text(&response);
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

const ACCEPT_ALL: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";

/// The package ids an image's config lists, in layer order.
fn packages(config: &Value) -> Vec<String> {
    config["config"]["Labels"]["io.paks.packages"]
        .as_str()
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_pull_composes_the_packages_with_their_dependencies_on_the_base() {
    let mut f = Fixture::new(&[]);
    let (manifest, digest) = f.manifest("compose/acme/hello:latest");
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "one platform: the image itself, {manifest}"
    );
    let config = f.config("compose/acme/hello:latest");
    let ids = packages(&config);
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids[0].ends_with("-libgreet-1.0.0"),
        "dependency first: {ids:?}"
    );
    assert!(ids[1].ends_with("-hello-1.0.0"), "{ids:?}");
    // The base's layer, a layer per package (the packages' own blobs), the view.
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4, "{manifest}");
    assert!(
        layers
            .iter()
            .all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"),
        "{manifest}"
    );
    assert_eq!(
        layers[2]["annotations"]["io.paks.package.id"], ids[1],
        "{manifest}"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        "base/busybox:1"
    );

    // The same request, the same digest: again, by a pinned tag, and after a restart.
    assert_eq!(f.manifest("compose/acme/hello:latest").1, digest);
    assert_eq!(f.manifest("compose/acme/hello:1.0.0").1, digest);
    f.restart(&[]);
    assert_eq!(f.manifest("compose/acme/hello:latest").1, digest);
    // By digest, once composed.
    assert_eq!(
        f.manifest(&format!("compose/acme/hello@{digest}")).1,
        digest
    );

    // podman pulls it and runs a package's binary, found through the view.
    let podman = Podman::new();
    let reference = format!("{}/compose/acme/hello:latest", f.server.host());
    podman.pull(&reference, false);
    let out = podman.run(&reference, &["hello", "podman"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, podman!\n");

    // Two packages in one image; skopeo copies it out, umoci unpacks it (gzip layers).
    let both = "compose/acme/hello/hello-script:latest";
    let ids = packages(&f.config(both));
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids[2].ends_with("-hello-script-0.2.0"), "{ids:?}");
    assert_eq!(
        f.manifest("compose/acme/hello/hello-script:1.0.0__latest")
            .1,
        f.manifest(both).1,
        "a pinned position and `latest` name the same versions"
    );
    let layout = f.env.dir.path().join("copied");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &f.image(both),
        &format!("oci:{}:both", layout.display()),
    ]);
    assert_eq!(
        chroot_run(&layout, "both", &["hello", "umoci"]),
        "Hello, umoci!\n"
    );
    assert_eq!(
        chroot_run(&layout, "both", &["hello-script"]),
        "Hello from a script!\n"
    );
}

#[test]
fn errors_name_what_is_missing_and_writes_are_refused() {
    let f = Fixture::new(&[]);
    let addr = f.server.addr();
    let get = |path: &str| {
        http(
            addr,
            "GET",
            &format!("/v2/{path}"),
            &[("Accept", ACCEPT_ALL)],
        )
    };
    let (status, body) = get("compose/acme/nothere/manifests/latest");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("NAME_UNKNOWN") && body.contains("`acme/nothere`"),
        "{body}"
    );

    let (status, body) = get("compose/acme/hello/manifests/9.9.9");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("MANIFEST_UNKNOWN")
            && body.contains("no version `9.9.9`")
            && body.contains("`1.0.0`"),
        "the versions there are listed: {body}"
    );

    let (status, body) = get("compose/acme/hello/hello-script/manifests/1.0.0");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("MANIFEST_UNKNOWN") && body.contains("one version per package"),
        "{body}"
    );

    // Not composed yet: a digest is not composed on demand.
    let (status, body) = get(&format!(
        "compose/acme/hello/manifests/sha256:{}",
        "0".repeat(64)
    ));
    assert_eq!(status, 404, "{body}");

    // A client that reads no index gets the host's image.
    let (status, body) = http(
        addr,
        "GET",
        "/v2/compose/acme/hello/manifests/latest",
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
    );
    assert_eq!(status, 200, "{body}");
    let manifest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 4, "{body}");

    // Read-only.
    let (status, body) = http(addr, "PUT", "/v2/compose/acme/hello/manifests/mine", &[]);
    assert_eq!(status, 405, "{body}");
    assert!(
        body.contains("DENIED") && body.contains("cannot be written"),
        "{body}"
    );
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!(
            "docker://{}/compose/acme/hello:latest",
            f.server.host()
        ))
        .arg(format!(
            "docker://{}/compose/acme/hello:mine",
            f.server.host()
        ))
        .args(["--src-tls-verify=false"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a push to compose/ is refused");
}

#[test]
fn a_newer_version_moves_latest_and_the_old_image_stays_pullable_by_digest() {
    let f = Fixture::new(&[]);
    let (_, old) = f.manifest("compose/acme/hello:latest");
    // A newer hello: the example with its version raised.
    let recipe = f.env.dir.path().join("hello-2");
    copy_dir(&common::examples().join("hello"), &recipe);
    let toml = recipe.join("paks.toml");
    let text_now = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text_now.replacen("version = \"1.0.0\"", "version = \"1.1.0\"", 1),
    )
    .unwrap();
    let pak = f.env.build_dir(&recipe);
    f.env.ok(&[
        "push",
        pak.trim(),
        &format!("{}/acme/hello", f.server.host()),
    ]);
    let (_, new) = f.manifest("compose/acme/hello:latest");
    assert_ne!(new, old, "`latest` composes the newer version");
    let ids = packages(&f.config("compose/acme/hello:latest"));
    assert!(ids[1].ends_with("-hello-1.1.0"), "{ids:?}");
    assert_eq!(f.manifest("compose/acme/hello:1.0.0").1, old);
    assert_eq!(
        f.manifest(&format!("compose/acme/hello@{old}")).1,
        old,
        "the old image is still there"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn with_auth_a_composed_image_needs_pull_on_every_package() {
    let mut f = Fixture::new(&[]);
    let hash = password_hash("s3cret");
    let users = f.env.dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nname = \"alice\"\npassword = \"{hash}\"\n[[users.access]]\nrepositories = [\"acme/hello\"]\nactions = [\"pull\"]\n\n[[users]]\nname = \"bob\"\npassword = \"{hash}\"\n[[users.access]]\nrepositories = [\"acme/*\"]\nactions = [\"pull\"]\n"
        ),
    )
    .unwrap();
    f.restart(&["--auth", users.to_str().unwrap()]);
    let inspect = |creds: Option<&str>, path: &str| {
        let mut c = Command::new("skopeo");
        c.args(["inspect", "--raw", "--tls-verify=false"]);
        if let Some(creds) = creds {
            c.args(["--creds", creds]);
        }
        c.arg(f.image(path)).output().unwrap()
    };
    let both = "compose/acme/hello/hello-script:latest";
    // Anonymous: nothing. alice may pull acme/hello only: not the pair.
    let out = inspect(None, both);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let out = inspect(Some("alice:s3cret"), both);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let said = text(&out.stderr);
    assert!(
        said.contains("denied")
            || said.contains("unauthorized")
            || said.contains("authentication required"),
        "{said}"
    );
    // alice may pull acme/hello, but its dependency lives in acme/libgreet, which she may
    // not pull: the composition would hand her its layer, so it is refused, naming it.
    let out = inspect(Some("alice:s3cret"), "compose/acme/hello:latest");
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let said = text(&out.stderr);
    assert!(said.contains("acme/libgreet"), "{said}");
    // Through the token flow, bob (acme/*) gets the pair.
    let out = inspect(Some("bob:s3cret"), both);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        5,
        "{manifest}"
    );
    // podman with bob's credentials pulls it too.
    let podman = Podman::new();
    let reference = format!("{}/{both}", f.server.host());
    let out = podman
        .command()
        .args([
            "pull",
            "--tls-verify=false",
            "--creds",
            "bob:s3cret",
            &reference,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
