//! A full disk is the machine's failure, not the archive's: exit 2, as the README says of
//! I/O failures (issue 13). Needs root, to mount a small tmpfs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, paks_bin, slow_pak, text};
use paks_testkit::PaksServe;

/// A tmpfs mounted at a directory, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", text(&out.stderr));
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn no_space_left_while_installing_exits_2() {
    let builder = Env::new();
    let pak = slow_pak(&builder, 3);
    let env = Env::new();
    let _disk = Tmpfs::mount(&env.root, "1m");
    let err = env.fails(&["install", &pak], 2);
    assert!(err.contains("No space left on device"), "{err}");
    // Nothing half-installed is left to look installed.
    assert_eq!(env.ok(&["list"]), "");
}

#[test]
fn no_space_left_while_downloading_exits_2() {
    let builder = Env::new();
    let pak = slow_pak(&builder, 3);
    let server = PaksServe::start(
        Path::new(paks_bin()),
        &builder.dir.path().join("registry-data"),
        &[],
    );
    builder.ok(&["push", &pak, &format!("{}/acme/slow", server.host())]);
    let env = Env::new();
    let _disk = Tmpfs::mount(&env.root, "1m");
    // The 3 MiB layer does not fit in the blob cache: the download itself fails.
    let err = env.fails(
        &["install", &format!("{}/acme/slow:1.0.0", server.host())],
        2,
    );
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(env.ok(&["list"]), "");
}
