//! Real `.deb` files from the Debian archive, fetched once with `apt-get download` into
//! `target/debs-cache/`. Shared with paks-archive's rootfs tests (included by path).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cached `.deb` of `name`, fetched with `apt-get download` when absent.
pub fn real_deb(name: &str) -> PathBuf {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debs-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let find = || {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let f = p.file_name().unwrap().to_string_lossy();
                f.starts_with(&format!("{name}_")) && f.ends_with(".deb")
            })
    };
    if let Some(p) = find() {
        return p;
    }
    let status = Command::new("apt-get")
        .args(["download", "-q", name])
        .current_dir(&cache)
        .status()
        .expect("apt-get runs");
    assert!(status.success(), "apt-get download {name}");
    find().expect("apt-get download wrote the .deb")
}
