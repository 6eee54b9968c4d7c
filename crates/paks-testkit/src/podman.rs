//! podman with throw-away storage, as it works on these hosts (`shared/REAL-TOOLS.md`):
//! vfs storage, runc, cgroupfs, and never the default network (whose setup changes the
//! host's firewall rules).

use std::path::Path;
use std::process::{Command, Output};

use crate::{run, run_ok, text};

/// A podman whose images and containers live in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct Podman {
    dir: tempfile::TempDir,
    driver: &'static str,
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Podman {
    pub fn new() -> Self {
        Self::with_driver("vfs")
    }

    /// A podman on the overlay storage driver (root only). vfs stores every layer as a
    /// whole copy of the tree below it, so an image of 70 layers of a Debian closure costs
    /// gigabytes there; overlay stores each layer once.
    /// Its storage is in a new directory below `parent`, so that a caller who keeps
    /// fixtures in one directory can clean up after a run cut short ([`unmount_below`]).
    pub fn overlay_in(parent: &Path) -> Self {
        Self {
            // Short: podman refuses a runroot path over 50 characters.
            dir: tempfile::Builder::new()
                .prefix("pm")
                .rand_bytes(3)
                .tempdir_in(parent)
                .expect("create a temporary directory"),
            driver: "overlay",
        }
    }

    fn with_driver(driver: &'static str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("create a temporary directory"),
            driver,
        }
    }

    /// `podman` with this instance's storage and runtime options; add a subcommand.
    pub fn command(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--volumepath")
            .arg(d.join("volumes"))
            .arg("--network-config-dir")
            .arg(d.join("networks"))
            .args([
                "--storage-driver",
                self.driver,
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ])
            // Where image pulls stage their blobs (default /var/tmp).
            .env("TMPDIR", d);
        c
    }

    /// `podman pull IMAGE` (any transport podman knows: `127.0.0.1:PORT/repo:tag`,
    /// `oci:DIR:TAG`, `docker-archive:FILE`); plain HTTP when `tls_verify` is false.
    /// Returns the image id.
    pub fn pull(&self, image: &str, tls_verify: bool) -> String {
        let out = run_ok(self.command().args([
            "pull",
            "--quiet",
            &format!("--tls-verify={tls_verify}"),
            image,
        ]));
        text(&out.stdout).trim().to_owned()
    }

    /// `podman run --rm --network none IMAGE ARGS...` of an image already pulled or
    /// loaded (never pulls); returns its output whatever the status.
    pub fn run(&self, image: &str, args: &[&str]) -> Output {
        self.run_with(&[], image, args)
    }

    /// [`Podman::run`] with more `podman run` options (`--entrypoint sh`) before the image.
    pub fn run_with(&self, options: &[&str], image: &str, args: &[&str]) -> Output {
        run(self
            .command()
            .args([
                "run",
                "--rm",
                "--pull",
                "never",
                "--network",
                "none",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .args(options)
            .arg(image)
            .args(args))
    }

    /// `podman load -i TAR` (a docker-archive or oci-archive file); returns what podman
    /// printed (`Loaded image: NAME`).
    pub fn load(&self, tar: &Path) -> String {
        let out = run_ok(self.command().arg("load").arg("-i").arg(tar));
        text(&out.stdout)
    }
}

impl Drop for Podman {
    /// Unmounts what the overlay driver may have left mounted below the storage (its
    /// `overlay` directory is a mount while podman uses it), so that the directory can go.
    fn drop(&mut self) {
        unmount_below(self.dir.path());
    }
}

/// Unmounts every mount below `dir`, deepest first (what podman's overlay driver leaves
/// mounted in its storage); errors are ignored.
pub fn unmount_below(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let dir = dir.to_string_lossy().into_owned();
    let mut below: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&dir))
        .collect();
    below.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in below {
        let _ = Command::new("umount").arg(m).output();
    }
}
