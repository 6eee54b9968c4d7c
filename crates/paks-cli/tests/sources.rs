//! Recipe sources: tarballs by URL (over real HTTP on loopback, and `file://`) and git
//! commits, each verified.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Env, text};
use paks_testkit::{HostileServer, HttpServer, trickle, write_head};

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

/// The `[[source]]` keys of a `file://` tarball, with its digest.
fn file_source(tgz: &Path) -> String {
    format!(
        "url = \"file://{}\"\nsha256 = \"{}\"",
        tgz.display(),
        sha256(tgz)
    )
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
    recipe(&dir, &file_source(&tgz));
    env.build_dir(&dir);
    assert_eq!(installed_greeting(&env), "Hello from a tarball!\n");

    // A git source at an exact commit.
    let repo = files.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("greeting.txt"), "Hello from git!\n").unwrap();
    let git = |args: &[&str]| common::git(&repo, args);
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

/// Hidden files in the source cache: temporaries of downloads in progress or killed.
fn cache_temps(env: &Env) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(env.root.join("cache/sources")) else {
        return Vec::new();
    };
    rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// `paks build DIR` with `var=value` in its environment, which must fail with exit code 1;
/// returns stderr.
fn build_fails_with(env: &Env, dir: &Path, var: &str, value: &str) -> String {
    let out = env
        .cmd()
        .env(var, value)
        .args(["build", dir.to_str().unwrap(), "--out"])
        .arg(&env.out)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

/// A server whose every answer is an endless body (no `Content-Length`; bounded at 256 MiB
/// or 60 s so that a broken client cannot fill the disk).
fn endless_server() -> HostileServer {
    HostileServer::start(|_, s| {
        write_head(s, 200, &[])?;
        trickle(
            s,
            &vec![0u8; 64 * 1024],
            Duration::ZERO,
            256 << 20,
            Duration::from_mins(1),
        )
    })
}

#[test]
fn an_endless_source_stops_at_the_limit_and_leaves_no_temp_file() {
    let server = endless_server();
    let url = format!("{}/endless.tar.gz", server.url());
    let env = Env::new();
    let dir = env.dir.path().join("recipe");
    recipe(
        &dir,
        &format!("url = \"{url}\"\nsha256 = \"{}\"", "0".repeat(64)),
    );
    let err = build_fails_with(&env, &dir, "PAKS_MAX_SOURCE_SIZE", "1048576");
    assert!(
        err.contains(&format!(
            "`{url}` sent more than 1048576 bytes, the limit for a source"
        )),
        "{err}"
    );
    assert!(err.contains("PAKS_MAX_SOURCE_SIZE"), "{err}");
    assert!(cache_temps(&env).is_empty(), "{:?}", cache_temps(&env));

    // A declared size is the limit of that source.
    recipe(
        &dir,
        &format!(
            "url = \"{url}\"\nsha256 = \"{}\"\nsize = 1000",
            "0".repeat(64)
        ),
    );
    let err = env.build_dir_fails(&dir);
    assert!(
        err.contains(&format!(
            "`{url}` sent more than 1000 bytes, the size the recipe declares"
        )),
        "{err}"
    );
    assert!(cache_temps(&env).is_empty(), "{:?}", cache_temps(&env));
}

#[test]
fn a_stalled_source_download_times_out() {
    // 100 bytes of a declared megabyte, then silence (for at most 60 s).
    let server = HostileServer::start(|_, s| {
        write_head(s, 200, &[("content-length", "1000000".into())])?;
        s.write_all(&[0u8; 100])?;
        s.flush()?;
        std::thread::sleep(Duration::from_mins(1));
        Ok(())
    });
    let url = format!("{}/stall.tar.gz", server.url());
    let env = Env::new();
    let dir = env.dir.path().join("recipe");
    recipe(
        &dir,
        &format!("url = \"{url}\"\nsha256 = \"{}\"", "0".repeat(64)),
    );
    let err = build_fails_with(&env, &dir, "PAKS_SOURCE_STALL_TIMEOUT", "1");
    assert!(
        err.contains(&format!("failed to download `{url}`")),
        "{err}"
    );
    assert!(err.contains("no data for 1 s"), "{err}");
    assert!(err.contains("PAKS_SOURCE_STALL_TIMEOUT"), "{err}");
    assert!(cache_temps(&env).is_empty(), "{:?}", cache_temps(&env));
}

#[test]
fn a_killed_fetch_leaves_a_temp_file_that_the_next_fetch_removes() {
    // A slow source: 64 KiB every 50 ms, for at most 60 s.
    let server = HostileServer::start(|_, s| {
        write_head(s, 200, &[])?;
        trickle(
            s,
            &vec![0u8; 64 * 1024],
            Duration::from_millis(50),
            256 << 20,
            Duration::from_mins(1),
        )
    });
    let url = format!("{}/slow.tar.gz", server.url());
    let env = Env::new();
    let dir = env.dir.path().join("recipe");
    recipe(
        &dir,
        &format!("url = \"{url}\"\nsha256 = \"{}\"", "0".repeat(64)),
    );
    let mut child = env
        .cmd()
        .args(["build", dir.to_str().unwrap(), "--out"])
        .arg(&env.out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until the download is under way, then kill it.
    let started = std::time::Instant::now();
    while cache_temps(&env).is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let left = cache_temps(&env);
    assert_eq!(left.len(), 1, "the killed download's temp file: {left:?}");

    // The next fetch (here one that fails fast) removes what the dead one left.
    let small = Env {
        dir: tempfile::tempdir().unwrap(),
        root: env.root.clone(),
        out: env.out.clone(),
    };
    build_fails_with(&small, &dir, "PAKS_MAX_SOURCE_SIZE", "1000");
    assert!(cache_temps(&env).is_empty(), "{:?}", cache_temps(&env));
}

#[test]
fn a_source_tarball_with_a_device_node_or_fifo_is_refused() {
    let files = tempfile::tempdir().unwrap();
    let src = files.path().join("evil-1.0");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("greeting.txt"), "hi\n").unwrap();
    for (name, args) in [
        ("fifo", vec!["-m", "600", "PATH", "p"]),
        ("null", vec!["-m", "666", "PATH", "c", "1", "3"]),
    ] {
        let path = src.join(name);
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("PATH", path.to_str().unwrap()))
            .collect();
        let out = Command::new("mknod").args(&args).output().unwrap();
        assert!(out.status.success(), "mknod: {}", text(&out.stderr));
        let tgz = files.path().join(format!("{name}.tar.gz"));
        let ok = Command::new("tar")
            .arg("-czf")
            .arg(&tgz)
            .arg("-C")
            .arg(files.path())
            .args(["evil-1.0/greeting.txt", &format!("evil-1.0/{name}")])
            .status()
            .unwrap();
        assert!(ok.success());
        let env = Env::new();
        let dir = env.dir.path().join("recipe");
        recipe(&dir, &file_source(&tgz));
        let err = env.build_dir_fails(&dir);
        assert!(
            err.contains(&format!("`evil-1.0/{name}`")) && err.contains("device or FIFO"),
            "{err}"
        );
        assert!(env.store_entries().is_empty());
    }
}
