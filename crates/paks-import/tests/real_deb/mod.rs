//! Real `.deb` files from the Debian archive, fetched once with `apt-get download` into
//! `target/debs-cache/`. Shared with paks-archive's rootfs tests (included by path).
//!
//! Tests run in parallel, in several processes, on a cold cache (CI starts from a clean
//! clone): two `apt-get download`s into one directory race each other, so each fetch runs in
//! a private directory and the `.deb` is renamed into the cache, which only ever holds
//! whole files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// Fetches made by this process, to name their private directories apart.
static FETCHES: AtomicU64 = AtomicU64::new(0);

/// The cached `.deb` of `name`, fetched with `apt-get download` when absent.
pub fn real_deb(name: &str) -> PathBuf {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debs-cache");
    std::fs::create_dir_all(&cache).unwrap();
    if let Some(p) = find_deb(&cache, name) {
        return p;
    }
    let private = cache.join(format!(
        ".fetch-{}-{}-{name}",
        std::process::id(),
        FETCHES.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&private).unwrap();
    let output = Command::new("apt-get")
        .args(["download", "-q", name])
        .current_dir(&private)
        .output()
        .expect("apt-get runs");
    assert!(
        output.status.success(),
        "apt-get download {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fetched = find_deb(&private, name).unwrap_or_else(|| {
        panic!(
            "apt-get download {name} wrote no {name}_*.deb in {}: {}",
            private.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let cached = cache.join(fetched.file_name().unwrap());
    std::fs::rename(&fetched, &cached).unwrap();
    std::fs::remove_dir_all(&private).unwrap();
    cached
}

fn find_deb(dir: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(&format!("{name}_")) && f.ends_with(".deb")
        })
}
