//! Packages in a real OCI registry (Debian's docker-registry, distribution 2.8): push,
//! install by reference, third-party tools reading what paks wrote and paks reading what
//! they wrote, copies through OCI layouts, auth, and a corrupted blob.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use common::{Env, text};
use paks_testkit::{DockerRegistry, skopeo};

/// Build libgreet and hello; returns (libgreet.pak, hello.pak).
fn built(env: &Env) -> (String, String) {
    let lib = env.build("libgreet").display().to_string();
    let hello = env.build("hello").display().to_string();
    (lib, hello)
}

fn hash_of(pak: &str) -> String {
    pak.rsplit('-')
        .next()
        .unwrap()
        .trim_end_matches(".pak")
        .to_owned()
}

#[test]
fn push_then_install_by_reference_and_skopeo_reads_it() {
    let registry = DockerRegistry::start();
    let builder = Env::new();
    let (_, hello) = built(&builder);
    let target = format!("{}/acme/hello", registry.host());
    let pushed = builder.ok(&["push", &hello, &target]);
    // The dependency came along, found beside the archive.
    assert!(pushed.contains("/acme/libgreet@sha256:"), "{pushed}");
    let hello_ref = pushed
        .lines()
        .find(|l| l.contains("/acme/hello@"))
        .unwrap()
        .to_owned();

    // A third-party tool sees a valid OCI index over the builds of the version...
    let index: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}:1.0.0"),
    ]))
    .unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(index["manifests"][0]["platform"]["os"], "linux");
    assert!(
        index["manifests"][0]["annotations"]["io.paks.package.id"]
            .as_str()
            .unwrap()
            .ends_with("-hello-1.0.0")
    );
    // ...and copies a build out as an image.
    let layout = builder.dir.path().join("layout");
    let build_tag = format!("1.0.0-{}", hash_of(&hello));
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{target}:{build_tag}"),
        &format!("oci:{}:x", layout.display()),
    ]);
    assert!(layout.join("index.json").is_file());

    // Install by version (the build for this host), with its dependency by digest.
    let user = Env::new();
    user.ok(&["install", &format!("{target}:1.0.0")]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
    let info: serde_json::Value =
        serde_json::from_str(&user.ok(&["info", "libgreet", "--json"])).unwrap();
    assert_eq!(info["explicit"], false, "dependencies are not gc roots");
    // And by digest, into another root.
    let other = Env::new();
    other.ok(&["install", &hello_ref]);
    assert_eq!(
        other.ok(&["run", "hello", "--", "hello"]),
        "Hello, world!\n"
    );
}

#[test]
fn pushing_again_uploads_nothing_and_another_namespace_mounts() {
    let registry = DockerRegistry::start();
    let builder = Env::new();
    let (lib, hello) = built(&builder);
    let first = builder.run(&["push", &lib, &hello, &format!("{}/acme", registry.host())]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let again = builder.run(&["push", &lib, &hello, &format!("{}/acme", registry.host())]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("(0 B uploaded in 0 blobs, 0 mounted"),
        "{}",
        text(&again.stderr)
    );
    let elsewhere = builder.run(&["push", &hello, &format!("{}/team/hello", registry.host())]);
    assert!(elsewhere.status.success(), "{}", text(&elsewhere.stderr));
    assert!(
        text(&elsewhere.stderr).contains("2 mounted"),
        "layers move by mount: {}",
        text(&elsewhere.stderr)
    );
    let user = Env::new();
    user.ok(&["install", &format!("{}/team/hello:1.0.0", registry.host())]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

#[test]
fn a_package_skopeo_copied_from_an_oci_layout_installs() {
    let registry = DockerRegistry::start();
    let builder = Env::new();
    let (lib, hello) = built(&builder);
    // The .pak files are OCI archives; skopeo unpacks each into an OCI layout directory,
    // then copies it from there into the registry.
    for (pak, name) in [(&lib, "libgreet"), (&hello, "hello")] {
        let layout = format!(
            "oci:{}:{name}",
            builder.dir.path().join(format!("layout-{name}")).display()
        );
        skopeo(&["copy", &format!("oci-archive:{pak}"), &layout]);
        let dest = format!(
            "docker://{}/acme/{name}:1.0.0-{}",
            registry.host(),
            hash_of(pak)
        );
        skopeo(&["copy", "--dest-tls-verify=false", &layout, &dest]);
    }
    let user = Env::new();
    user.ok(&[
        "install",
        &format!("{}/acme/hello:1.0.0-{}", registry.host(), hash_of(&hello)),
    ]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

#[test]
fn copy_through_an_oci_layout_to_another_registry() {
    let source = DockerRegistry::start();
    let dest = DockerRegistry::start();
    let builder = Env::new();
    let (_, hello) = built(&builder);
    builder.ok(&["push", &hello, &format!("{}/acme/hello", source.host())]);
    let layout = builder.dir.path().join("carry");
    let names = builder.ok(&[
        "copy",
        &format!("{}/acme/hello:1.0.0", source.host()),
        &format!("oci:{}", layout.display()),
    ]);
    assert!(names.contains("hello:1.0.0\n"), "{names}");
    assert!(names.contains("libgreet:1.0.0-"), "{names}");
    // skopeo reads the layout.
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &format!("oci:{}:hello:1.0.0", layout.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() || text(&out.stderr).contains("unsupported"),
        "{}",
        text(&out.stderr)
    );
    // The other side imports it, and installs from its own registry.
    let importer = Env::new();
    importer.ok(&[
        "copy",
        &format!("oci:{}", layout.display()),
        &format!("{}/mirror", dest.host()),
    ]);
    let user = Env::new();
    user.ok(&["install", &format!("{}/mirror/hello:1.0.0", dest.host())]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

#[test]
fn copy_between_registries_and_within_one() {
    let source = DockerRegistry::start();
    let dest = DockerRegistry::start();
    let builder = Env::new();
    let (_, hello) = built(&builder);
    builder.ok(&["push", &hello, &format!("{}/acme/hello", source.host())]);
    // Across registries: the bytes move.
    let out = builder.run(&[
        "copy",
        "--json",
        &format!("{}/acme/hello:1.0.0", source.host()),
        &format!("{}/other", dest.host()),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["blobs_copied"], 4,
        "two configs and two layers: {report}"
    );
    // Within one registry: mounts, no bytes.
    let out = builder.run(&[
        "copy",
        "--json",
        &format!("{}/acme/hello:1.0.0", source.host()),
        &format!("{}/team", source.host()),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["bytes_copied"], 0, "{report}");
    for reference in [
        format!("{}/other/hello:1.0.0", dest.host()),
        format!("{}/team/hello:1.0.0", source.host()),
    ] {
        let user = Env::new();
        user.ok(&["install", &reference]);
        assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
    }
}

#[test]
fn basic_auth_with_login_and_docker_config() {
    let registry = DockerRegistry::start_with_user("alice", "s3cret");
    let builder = Env::new();
    let (_, hello) = built(&builder);
    let config = tempfile::tempdir().unwrap();
    let target = format!("{}/acme/hello", registry.host());
    let push = |env: &Env| {
        env.cmd()
            .args(["push", &hello, &target])
            .env("XDG_CONFIG_HOME", config.path())
            .env("HOME", config.path())
            .output()
            .unwrap()
    };
    let denied = push(&builder);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied.stderr));
    assert!(
        text(&denied.stderr).contains("paks login"),
        "{}",
        text(&denied.stderr)
    );

    let mut login = builder
        .cmd()
        .args(["login", registry.host(), "-u", "alice", "--password-stdin"])
        .env("XDG_CONFIG_HOME", config.path())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let auth_file = config.path().join("paks/auth.json");
    assert_eq!(
        std::fs::metadata(&auth_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pushed = push(&builder);
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));

    // Credentials from ~/.docker/config.json work too.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".docker")).unwrap();
    let auth = "YWxpY2U6czNjcmV0"; // base64("alice:s3cret")
    std::fs::write(
        home.path().join(".docker/config.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            registry.host()
        ),
    )
    .unwrap();
    let user = Env::new();
    let out = user
        .cmd()
        .args(["install", &format!("{target}:1.0.0")])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("none"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

#[test]
fn a_corrupted_blob_in_the_registry_is_refused_and_nothing_is_installed() {
    let registry = DockerRegistry::start();
    let builder = Env::new();
    let (_, hello) = built(&builder);
    builder.ok(&["push", &hello, &format!("{}/acme/hello", registry.host())]);
    // Flip a byte of hello's layer in the registry's own storage.
    let manifest: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!(
            "docker://{}/acme/hello:1.0.0-{}",
            registry.host(),
            hash_of(&hello)
        ),
    ]))
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let file = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();

    let user = Env::new();
    let err = user.fails(
        &["install", &format!("{}/acme/hello:1.0.0", registry.host())],
        1,
    );
    assert!(
        err.contains(&format!("sha256:{layer}")) && err.to_lowercase().contains("digest"),
        "{err}"
    );
    assert!(
        user.store_entries().is_empty(),
        "{:?}",
        user.store_entries()
    );
    assert!(
        !user.root.join("cache/blobs/sha256").join(&layer).exists(),
        "nothing unverified reaches the cache"
    );
}
