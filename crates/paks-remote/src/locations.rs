//! Where blobs were last seen: `<cache>/locations/<hex>` lists `registry/repository` lines,
//! so that a push to another repository of the same registry can mount instead of upload.

use std::path::PathBuf;

use paks_oci::Repository;
use paks_store::Store;
use paks_types::Digest;

fn file(store: &Store, digest: &Digest) -> PathBuf {
    store.cache_dir().join("locations").join(digest.hex())
}

/// Remember that `repo` holds `digest`.
pub fn remember(store: &Store, digest: &Digest, repo: &Repository) {
    let path = file(store, digest);
    let line = format!("{}/{}", repo.registry, repo.name);
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    if lines.contains(&line) {
        return;
    }
    lines.push(line);
    // Best effort: a lost location only costs an upload. So no fsync (two per blob, 768
    // for a 384-package install): the rename keeps the file whole, and the install's
    // `syncfs` at its commit (or the kernel's writeback, for a cache on another file
    // system) makes it durable.
    let _ = fs_err::create_dir_all(path.parent().expect("has a parent"));
    let _ = paks_types::fs::replace_atomic(&path, (lines.join("\n") + "\n").as_bytes());
}

/// Another repository of `repo`'s registry known to hold `digest`.
pub fn mount_source(store: &Store, digest: &Digest, repo: &Repository) -> Option<Repository> {
    let text = std::fs::read_to_string(file(store, digest)).ok()?;
    text.lines().find_map(|line| {
        let (registry, name) = line.split_once('/')?;
        (registry == repo.registry && name != repo.name).then(|| Repository {
            registry: registry.to_owned(),
            name: name.to_owned(),
        })
    })
}
