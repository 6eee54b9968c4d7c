//! The overlapped install (issue 20): `paks install REF…` extracts each layer while it
//! downloads (the download hashes it once; the extractor follows the growing file), and
//! keeps the invariants the two-phase install had: a blob whose bytes turn out wrong
//! leaves nothing installed and nothing in the cache; a kill in the middle loses nothing
//! that was installed and leaves nothing that looks installed.
//!
//! The packages are real (built by `paks build`, pushed to Debian's `docker-registry`); a
//! slow server on 127.0.0.1 then serves their bytes (64 KiB every 50 ms), so the overlap
//! can be watched from outside: extracted files appear while the layer's part file is
//! still short.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Env, noise, serve_blobs, text};
use paks_testkit::DockerRegistry;

/// A package `name` holding `len` bytes that do not compress (seeded by `seed`).
fn noisy_pak(builder: &Env, name: &str, len: usize, seed: u64) -> (String, Vec<u8>) {
    let dir = builder.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = noise(len, seed);
    std::fs::write(dir.join("noise.bin"), &bytes).unwrap();
    std::fs::write(
        dir.join("paks.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\n[build]\nscript = '''\nmkdir -p \"$PREFIX/share\"\ncp noise.bin \"$PREFIX/share/noise\"\n'''\n[[source]]\npath = \"noise.bin\"\n"
        ),
    )
    .unwrap();
    let out = builder.out.to_str().unwrap();
    let pak = builder.ok(&["build", dir.to_str().unwrap(), "--out", out, "--no-install"]);
    (pak.trim().to_owned(), bytes)
}

/// Packages pushed to a real registry, then their blobs by hex digest (manifests too),
/// and for each package its manifest's and its layer's hex digests.
struct Published {
    blobs: HashMap<String, Vec<u8>>,
    manifests: Vec<String>,
    layers: Vec<String>,
}

fn publish(builder: &Env, paks: &[&str]) -> Published {
    let registry = DockerRegistry::start();
    let mut published = Published {
        blobs: HashMap::new(),
        manifests: Vec::new(),
        layers: Vec::new(),
    };
    for (i, pak) in paks.iter().enumerate() {
        let pushed = builder.ok(&["push", pak, &format!("{}/acme/p{i}", registry.host())]);
        let manifest = pushed
            .lines()
            .find_map(|l| l.split_once("@sha256:"))
            .map(|(_, hex)| hex.trim().to_owned())
            .unwrap();
        let read = |hex: &str| std::fs::read(registry.blob_file(hex)).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&read(&manifest)).unwrap();
        let hex_of = |v: &serde_json::Value| {
            v["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
                .to_owned()
        };
        let (config, layer) = (hex_of(&doc["config"]), hex_of(&doc["layers"][0]));
        for hex in [&manifest, &config, &layer] {
            published.blobs.insert(hex.clone(), read(hex));
        }
        published.manifests.push(manifest);
        published.layers.push(layer);
    }
    published
}

/// `paks install` references of the published packages `which`, served by `host`.
fn references(host: &str, published: &Published, which: &[usize]) -> Vec<String> {
    which
        .iter()
        .map(|&i| format!("{host}/acme/p{i}@sha256:{}", published.manifests[i]))
        .collect()
}

/// Regular files with content anywhere under the store's install temporaries.
fn extracted_while_installing(env: &Env) -> bool {
    fn has_file(dir: &Path) -> bool {
        std::fs::read_dir(dir).into_iter().flatten().any(|e| {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            (meta.is_file() && meta.len() > 0) || (meta.is_dir() && has_file(&e.path()))
        })
    }
    std::fs::read_dir(env.store())
        .into_iter()
        .flatten()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().contains(".install-"))
        .any(|e| has_file(&e.path()))
}

fn cache_blobs(env: &Env) -> PathBuf {
    env.root.join("cache/blobs/sha256")
}

/// The length of the part file of `hex` in the cache, if there is one.
fn part_len(env: &Env, hex: &str) -> Option<u64> {
    std::fs::read_dir(cache_blobs(env))
        .ok()?
        .map(|e| e.unwrap())
        .find(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.contains(hex) && name != hex
        })
        .map(|e| e.metadata().unwrap().len())
}

/// Start `paks install refs…` and wait until files are extracted while the layer `hex`
/// (of `len` bytes) is still downloading; returns the child and whether it was seen.
fn start_and_watch_overlap(
    env: &Env,
    refs: &[String],
    hex: &str,
    len: usize,
) -> (std::process::Child, bool) {
    let mut args = vec!["install".to_owned()];
    args.extend(refs.iter().cloned());
    let child = env
        .cmd()
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut seen = false;
    while started.elapsed() < Duration::from_mins(1) {
        if extracted_while_installing(env)
            && part_len(env, hex).is_some_and(|n| n > 0 && n < len as u64)
        {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, seen)
}

/// Every finished blob in the cache hashes to its name (nothing unverified was renamed in).
fn assert_cache_verified(env: &Env) {
    for e in std::fs::read_dir(cache_blobs(env)).into_iter().flatten() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap();
        let out = std::process::Command::new("sha256sum")
            .arg(e.path())
            .output()
            .unwrap();
        let sum = text(&out.stdout);
        assert!(
            sum.starts_with(&name),
            "cache blob `{name}` ({} bytes) hashes to {sum}",
            bytes.len()
        );
    }
}

fn installed(env: &Env) -> Vec<String> {
    let out = env.ok(&["list", "--json"]);
    let mut names: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn a_layer_is_extracted_while_it_downloads_and_a_corrupt_one_leaves_nothing() {
    let builder = Env::new();
    let (pak, bytes) = noisy_pak(&builder, "bulky", 3 << 20, 1);
    let published = publish(&builder, &[&pak]);
    let layer = published.layers[0].clone();
    let good = published.blobs[&layer].clone();

    // The registry sends the layer with one byte changed past its middle.
    let mut blobs = published.blobs.clone();
    let mut bad = good.clone();
    let middle = bad.len() / 2 + 1000;
    bad[middle] ^= 0x55;
    blobs.insert(layer.clone(), bad);
    let slow = Arc::new(AtomicBool::new(true));
    let server = serve_blobs(blobs, slow.clone());
    let refs = references(&server.host(), &published, &[0]);

    let user = Env::new();
    let (child, overlapped) = start_and_watch_overlap(&user, &refs, &layer, good.len());
    let out = child.wait_with_output().unwrap();
    assert!(
        overlapped,
        "no file was extracted while the layer downloaded"
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("sha256:{layer}")), "{stderr}");
    // Nothing installed, nothing half-extracted left in the store, nothing in the cache.
    assert!(installed(&user).is_empty());
    assert_eq!(user.store_entries(), Vec::<String>::new());
    assert!(!cache_blobs(&user).join(&layer).exists());
    assert_eq!(part_len(&user, &layer), None);
    assert_cache_verified(&user);

    // The registry fixed: the same install succeeds, with the right bytes.
    let server = serve_blobs(published.blobs.clone(), Arc::new(AtomicBool::new(false)));
    let refs = references(&server.host(), &published, &[0]);
    let mut args = vec!["install"];
    args.extend(refs.iter().map(String::as_str));
    user.ok(&args);
    assert_eq!(installed(&user), ["\"bulky\""]);
    let prefix = user.store().join(&user.store_entries()[0]);
    assert_eq!(std::fs::read(prefix.join("share/noise")).unwrap(), bytes);
    assert_eq!(
        std::fs::read(cache_blobs(&user).join(&layer)).unwrap(),
        good
    );
}

#[test]
fn a_kill_during_the_overlap_loses_nothing() {
    let builder = Env::new();
    let (first, first_bytes) = noisy_pak(&builder, "first", 100_000, 2);
    let (big_a, a_bytes) = noisy_pak(&builder, "big-a", 3 << 20, 3);
    let (big_b, b_bytes) = noisy_pak(&builder, "big-b", 2 << 20, 4);
    let published = publish(&builder, &[&first, &big_a, &big_b]);
    let slow = Arc::new(AtomicBool::new(false));
    let server = serve_blobs(published.blobs.clone(), slow.clone());

    // One package installed before.
    let user = Env::new();
    let mut args = vec!["install".to_owned()];
    args.extend(references(&server.host(), &published, &[0]));
    user.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(installed(&user), ["\"first\""]);
    let store_before = user.store_entries();

    // The next install killed while it extracts what is still downloading.
    slow.store(true, Ordering::SeqCst);
    let refs = references(&server.host(), &published, &[1, 2]);
    let layer = &published.layers[1];
    let (mut child, overlapped) = start_and_watch_overlap(&user, &refs, layer, a_bytes.len());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        overlapped,
        "no file was extracted while the layer downloaded"
    );

    // What was installed is intact; what was not is not installed; the cache holds only
    // verified blobs (and part files, to resume from).
    assert_eq!(installed(&user), ["\"first\""]);
    let prefixes: Vec<String> = user
        .store_entries()
        .into_iter()
        .filter(|e| !e.starts_with('.'))
        .collect();
    assert_eq!(prefixes, store_before);
    let first_prefix = user.store().join(&store_before[0]);
    assert_eq!(
        std::fs::read(first_prefix.join("share/noise")).unwrap(),
        first_bytes
    );
    assert_cache_verified(&user);

    // Run again: everything installs, from where the downloads stopped.
    slow.store(false, Ordering::SeqCst);
    let mut args = vec!["install".to_owned()];
    args.extend(refs.iter().cloned());
    user.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(installed(&user), ["\"big-a\"", "\"big-b\"", "\"first\""]);
    for (name, bytes) in [("big-a", &a_bytes), ("big-b", &b_bytes)] {
        let entry = user
            .store_entries()
            .into_iter()
            .find(|e| !e.starts_with('.') && e.contains(name))
            .unwrap();
        assert_eq!(
            &std::fs::read(user.store().join(entry).join("share/noise")).unwrap(),
            bytes
        );
    }
    assert_cache_verified(&user);
    // gc clears what the killed install left (its temporaries), and keeps the packages.
    user.ok(&["gc"]);
    assert!(
        user.store_entries()
            .iter()
            .all(|e| !e.contains(".install-")),
        "{:?}",
        user.store_entries()
    );
}
