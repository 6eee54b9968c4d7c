//! Recipe sources: tarballs by URL (over real HTTP on loopback, and `file://`) and git
//! commits, each verified.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, text};
use paks_testkit::HttpServer;

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A tarball `hello-src-1.0.tar.gz` with one top directory holding `greeting.txt`.
fn tarball(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("hello-src-1.0");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("greeting.txt"), "Hello from a tarball!\n").unwrap();
    let tgz = dir.join("hello-src-1.0.tar.gz");
    let ok = Command::new("tar")
        .args(["-czf"])
        .arg(&tgz)
        .arg("-C")
        .arg(dir)
        .arg("hello-src-1.0")
        .status()
        .unwrap();
    assert!(ok.success());
    tgz
}

fn recipe(dir: &Path, source: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let toml = format!(
        "[package]\nname = \"fetched\"\nversion = \"1.0.0\"\n\n[[source]]\n{source}\n\n[build]\nscript = '''\nmkdir -p \"$PREFIX/share\"\ncp greeting.txt \"$PREFIX/share/\"\n'''\n"
    );
    std::fs::write(dir.join("paks.toml"), toml).unwrap();
}

fn installed_greeting(env: &Env) -> String {
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["info", "fetched", "--json"])).unwrap();
    std::fs::read_to_string(Path::new(info["prefix"].as_str().unwrap()).join("share/greeting.txt"))
        .unwrap()
}

#[test]
fn url_sources_over_http_are_verified_and_unpacked() {
    let files = tempfile::tempdir().unwrap();
    let tgz = tarball(files.path());
    let server = HttpServer::start(files.path());
    let url = format!("http://127.0.0.1:{}/hello-src-1.0.tar.gz", server.port());
    let env = Env::new();
    let dir = env.dir.path().join("recipe");
    recipe(
        &dir,
        &format!("url = \"{url}\"\nsha256 = \"{}\"", sha256(&tgz)),
    );
    env.build_dir(&dir);
    assert_eq!(installed_greeting(&env), "Hello from a tarball!\n");

    // A wrong checksum is refused, naming both digests, and nothing is built.
    let bad = Env::new();
    let dir = bad.dir.path().join("recipe");
    let wrong = "0".repeat(64);
    recipe(&dir, &format!("url = \"{url}\"\nsha256 = \"{wrong}\""));
    let err = bad.build_dir_fails(&dir);
    assert!(
        err.contains(&format!(
            "checksum mismatch for `{url}`: expected `sha256:{wrong}`, got `sha256:{}`",
            sha256(&tgz)
        )),
        "{err}"
    );
    assert!(bad.store_entries().is_empty());
    // A missing file is a download error naming the URL.
    let missing = format!("http://127.0.0.1:{}/nope.tar.gz", server.port());
    recipe(&dir, &format!("url = \"{missing}\"\nsha256 = \"{wrong}\""));
    let err = bad.build_dir_fails(&dir);
    assert!(
        err.contains(&format!("failed to download `{missing}`")),
        "{err}"
    );
}

#[test]
fn file_url_and_git_sources() {
    let files = tempfile::tempdir().unwrap();
    let tgz = tarball(files.path());
    let env = Env::new();
    let dir = env.dir.path().join("recipe");
    recipe(
        &dir,
        &format!(
            "url = \"file://{}\"\nsha256 = \"{}\"",
            tgz.display(),
            sha256(&tgz)
        ),
    );
    env.build_dir(&dir);
    assert_eq!(installed_greeting(&env), "Hello from a tarball!\n");

    // A git source at an exact commit.
    let repo = files.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("greeting.txt"), "Hello from git!\n").unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    let commit = git(&["rev-parse", "HEAD"]);
    std::fs::write(repo.join("greeting.txt"), "later\n").unwrap();
    git(&["commit", "-qam", "two"]);
    let env = Env::new();
    let dir = env.dir.path().join("recipe");
    recipe(
        &dir,
        &format!("git = \"file://{}\"\ncommit = \"{commit}\"", repo.display()),
    );
    env.build_dir(&dir);
    assert_eq!(installed_greeting(&env), "Hello from git!\n");
}
