//! Several `paks serve` replicas as one registry: a token one replica issued is accepted by
//! another sharing its `--token-key`; bad key files are refused.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{paks_bin, text};
use paks_testkit::raw_http::exchange;
use paks_testkit::{PaksServe, busybox_layout, skopeo};

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
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    let pushed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        pushed["manifests"][0]["digest"]
    );

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
