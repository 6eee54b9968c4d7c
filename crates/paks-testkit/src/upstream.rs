//! A project's upstream, on this machine: release tarballs `foo-1.0.tar.gz` and
//! `foo-1.1.tar.gz` served by `python3 -m http.server`, and git repositories with the
//! releases tagged (annotated `v1.0`/`v1.1` in one, lightweight `1.0`/`1.1` in the other):
//! what recipe bumps and release checks are tested against.

use std::path::{Path, PathBuf};
use std::process::Command;

use paks_types::Digest;

use crate::{HttpServer, run_ok, text};

/// A release of the fixture upstream.
#[derive(Debug, Clone)]
pub struct UpstreamRelease {
    /// `1.0`, `1.1`
    pub version: &'static str,
    /// The tarball's digest.
    pub sha256: Digest,
    /// The tarball's size in bytes.
    pub size: u64,
    /// The commit tagged for it (the same in both repositories).
    pub commit: String,
}

/// The running upstream; the server stops and the files go when dropped.
#[derive(Debug)]
pub struct Upstream {
    // Declared first: the server stops before its directory goes.
    server: HttpServer,
    dir: tempfile::TempDir,
    /// `1.0` and `1.1`, in order.
    pub releases: Vec<UpstreamRelease>,
}

impl Upstream {
    /// Makes the tarballs and repositories and starts serving.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let www = dir.path().join("www");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&www).expect("mkdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        let light = dir.path().join("light.git");
        git(&work, &["init", "--quiet", "--initial-branch=main", "."]);
        let mut releases = Vec::new();
        for version in ["1.0", "1.1"] {
            let tree = dir.path().join(format!("foo-{version}"));
            std::fs::create_dir_all(&tree).expect("mkdir");
            std::fs::write(tree.join("VERSION"), format!("{version}\n")).expect("write");
            let tarball = www.join(format!("foo-{version}.tar.gz"));
            run_ok(
                Command::new("tar")
                    .arg("-czf")
                    .arg(&tarball)
                    .arg("-C")
                    .arg(dir.path())
                    .arg(format!("foo-{version}")),
            );
            let bytes = std::fs::read(&tarball).expect("read the tarball");
            std::fs::write(work.join("VERSION"), format!("{version}\n")).expect("write");
            git(&work, &["add", "VERSION"]);
            git(&work, &["commit", "--quiet", "-m", version]);
            git(&work, &["tag", "-a", &format!("v{version}"), "-m", version]);
            let commit = git(&work, &["rev-parse", "HEAD"]);
            releases.push(UpstreamRelease {
                version,
                sha256: Digest::sha256_of(&bytes),
                size: bytes.len() as u64,
                commit,
            });
        }
        let work_str = work.to_string_lossy().into_owned();
        git(
            dir.path(),
            &["clone", "--quiet", "--bare", &work_str, "annotated.git"],
        );
        git(
            dir.path(),
            &[
                "clone",
                "--quiet",
                "--bare",
                "--no-tags",
                &work_str,
                "light.git",
            ],
        );
        for release in &releases {
            git(&light, &["tag", release.version, &release.commit]);
        }
        let server = HttpServer::start(&www);
        Self {
            server,
            dir,
            releases,
        }
    }

    /// `http://127.0.0.1:PORT/foo-VERSION.tar.gz`
    pub fn tarball_url(&self, version: &str) -> String {
        format!("{}/foo-{version}.tar.gz", self.server.url())
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The directory served over HTTP (add or break files in it).
    pub fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    /// `file://` URL of the repository with annotated tags `v1.0`, `v1.1`.
    pub fn annotated_git(&self) -> String {
        format!("file://{}", self.dir.path().join("annotated.git").display())
    }

    /// `file://` URL of the repository with lightweight tags `1.0`, `1.1`.
    pub fn lightweight_git(&self) -> String {
        format!("file://{}", self.dir.path().join("light.git").display())
    }

    /// The release `version` (`1.0` or `1.1`).
    ///
    /// # Panics
    /// For any other version.
    pub fn release(&self, version: &str) -> &UpstreamRelease {
        self.releases
            .iter()
            .find(|r| r.version == version)
            .unwrap_or_else(|| panic!("the fixture upstream has no release `{version}`"))
    }
}

/// `git ARGS` in `dir` with a fixed identity; its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = run_ok(
        Command::new("git")
            .args([
                "-c",
                "user.name=Upstream",
                "-c",
                "user.email=upstream@example.invalid",
                "-c",
                "tag.gpgSign=false",
                "-c",
                "commit.gpgSign=false",
            ])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null"),
    );
    text(&out.stdout).trim().to_owned()
}
