//! The hardened layer extractor on any bytes (plain, gzip or zstd by magic): it may refuse,
//! but must not panic, and must never write outside its destination.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use paks_archive::{Limits, extract_layer};

/// A directory per process holding only `dest`: anything else in it after a run escaped.
fn jail() -> &'static PathBuf {
    static JAIL: OnceLock<PathBuf> = OnceLock::new();
    JAIL.get_or_init(|| tempfile::tempdir().expect("a temp dir").keep())
}

fuzz_target!(|data: &[u8]| {
    let jail = jail();
    let dest = jail.join("dest");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir(&dest).expect("create dest");
    let limits = Limits {
        max_unpacked: 4 << 20,
        max_entries: 2_000,
        max_ratio: 1_000,
    };
    let _ = extract_layer(data, &dest, "opt/paks/store/x", &limits);
    let names: Vec<_> = std::fs::read_dir(jail)
        .expect("read the jail")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["dest"], "an entry escaped the destination");
    // Directories keep `0o700`, so the next run's `remove_dir_all` can clear the tree.
});
