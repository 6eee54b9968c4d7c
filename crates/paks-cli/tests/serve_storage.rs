//! `paks serve`'s storage under a real server: gc beside live pushes (blob HEAD,
//! cross-repository mount, upload, manifest PUT, deletes, and `paks serve gc --grace 0` in
//! a loop: every manifest the server acknowledged and nobody deleted must stay pullable with
//! all its blobs), leftovers of killed writers, a full disk, manifest validation.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Env, paks_bin, text};
use paks_testkit::PaksServe;
use paks_testkit::raw_http::{exchange, header};
use paks_types::Digest;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn location(head: &str) -> Option<String> {
    header(head, "location").map(str::to_owned)
}

/// Makes blob `bytes` present in `repo` as a client would: HEAD, else mount from `from`,
/// else upload. Returns false if the server refused.
fn ensure_blob(addr: SocketAddr, repo: &str, from: &str, bytes: &[u8]) -> bool {
    let digest = Digest::sha256_of(bytes);
    let (status, _, _) = exchange(
        addr,
        "HEAD",
        &format!("/v2/{repo}/blobs/{digest}"),
        &[],
        b"",
    );
    if status == 200 {
        return true;
    }
    let (status, head, _) = exchange(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"),
        &[],
        b"",
    );
    if status == 201 {
        return true;
    }
    if status != 202 {
        return false;
    }
    let Some(at) = location(&head) else {
        return false;
    };
    let sep = if at.contains('?') { '&' } else { '?' };
    let (status, _, _) = exchange(
        addr,
        "PUT",
        &format!("{at}{sep}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    status == 201
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": Digest::sha256_of(bytes).to_string(),
        "size": bytes.len(),
    })
}

/// A layer shared by many images in many repositories.
fn pool_layer(i: usize) -> Vec<u8> {
    format!("shared layer {i} ").repeat(64).into_bytes()
}

/// A manifest the server acknowledged: where, and what it holds.
struct Pushed {
    repo: String,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

/// Pushes one image of `layers` plus a config and a layer of its own to `repo:tag`.
fn push_image(
    addr: SocketAddr,
    repo: &str,
    from: &str,
    tag: &str,
    layers: &[Vec<u8>],
    own: &str,
) -> Option<Pushed> {
    let config =
        format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"x\":\"{own}\"}}").into_bytes();
    let own_layer = format!("own layer {own}").into_bytes();
    let mut blobs = vec![config.clone(), own_layer.clone()];
    blobs.extend(layers.iter().cloned());
    let layer_descs: Vec<_> = blobs[1..]
        .iter()
        .map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": layer_descs,
    }))
    .unwrap();
    // With grace 0, a collection that starts between a blob's upload and the manifest's
    // PUT may take the blob (nothing referenced it yet): the PUT is then refused with
    // MANIFEST_BLOB_UNKNOWN, and a client pushes again, as this one does, a few times.
    for _ in 0..PUSH_ATTEMPTS {
        for b in &blobs {
            if !ensure_blob(addr, repo, from, b) {
                return None;
            }
        }
        let (status, _, body) = exchange(
            addr,
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", OCI_MANIFEST)],
            &manifest,
        );
        if status == 201 {
            return Some(Pushed {
                repo: repo.to_owned(),
                manifest,
                blobs,
            });
        }
        if status != 404 || !text(&body).contains("MANIFEST_BLOB_UNKNOWN") {
            return None;
        }
    }
    None
}

/// Pushes of one image before a pusher gives up on it.
const PUSH_ATTEMPTS: usize = 10;

/// What is wrong with an acknowledged manifest now, if anything.
fn check(addr: SocketAddr, p: &Pushed) -> Option<String> {
    let digest = Digest::sha256_of(&p.manifest);
    let (status, _, body) = exchange(
        addr,
        "GET",
        &format!("/v2/{}/manifests/{digest}", p.repo),
        &[("Accept", OCI_MANIFEST)],
        b"",
    );
    if status != 200 || body != p.manifest {
        return Some(format!(
            "manifest {}@{digest}: {status} {}",
            p.repo,
            text(&body)
        ));
    }
    for b in &p.blobs {
        let d = Digest::sha256_of(b);
        let (status, _, body) =
            exchange(addr, "GET", &format!("/v2/{}/blobs/{d}", p.repo), &[], b"");
        if status != 200 || body != *b {
            return Some(format!(
                "blob {d} of manifest {}@{digest}: {status} {}",
                p.repo,
                text(&body)
            ));
        }
    }
    None
}

/// Pushes from `threads` threads and runs `paks serve gc --grace 0` in a loop for `run`;
/// returns (acknowledged and undeleted manifests, gc runs, failed gc runs with stderr).
fn push_beside_gc(
    addr: SocketAddr,
    root: &Path,
    threads: usize,
    run: Duration,
    max_pushes: usize,
) -> (Vec<Pushed>, usize, Vec<String>) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let repos = 8;
    let pushers: Vec<_> = (0..threads)
        .map(|t| {
            let (stop, started) = (stop.clone(), started.clone());
            std::thread::spawn(move || {
                let mut kept: Vec<Pushed> = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed)
                    && started.fetch_add(1, Ordering::Relaxed) < max_pushes
                {
                    n += 1;
                    let r = (t + n) % repos;
                    let repo = format!("gc/r{r}");
                    let from = format!("gc/r{}", (r + 1) % repos);
                    let layers: Vec<Vec<u8>> = (0..4)
                        .map(|k| pool_layer((t * 7 + n * 3 + k) % 24))
                        .collect();
                    let own = format!("{t}-{n}");
                    if let Some(p) =
                        push_image(addr, &repo, &from, &format!("t{t}-{n}"), &layers, &own)
                    {
                        kept.push(p);
                    }
                    // Every fourth push deletes an older manifest of this thread: garbage
                    // for the collector to sweep beside the pushes.
                    if n.is_multiple_of(4) && kept.len() > 2 {
                        let old = kept.remove(kept.len() / 2);
                        let d = Digest::sha256_of(&old.manifest);
                        let (status, head, _) = exchange(
                            addr,
                            "DELETE",
                            &format!("/v2/{}/manifests/{d}", old.repo),
                            &[],
                            b"",
                        );
                        assert_eq!(status, 202, "{head}");
                    }
                }
                kept
            })
        })
        .collect();
    let collector = {
        let stop = stop.clone();
        let root = root.to_owned();
        std::thread::spawn(move || {
            let (mut runs, mut failures) = (0, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let out = Env::new().run(&[
                    "serve",
                    "gc",
                    "--root",
                    root.to_str().unwrap(),
                    "--grace",
                    "0",
                    "--json",
                ]);
                runs += 1;
                // A breath between collections, so that pushes on a loaded machine still
                // finish between them (each collection may take what they uploaded).
                std::thread::sleep(Duration::from_millis(25));
                if !out.status.success() {
                    failures.push(text(&out.stderr));
                } else if !text(&out.stdout).contains("\"damaged\":[]") {
                    failures.push(text(&out.stdout));
                }
            }
            (runs, failures)
        })
    };
    let deadline = Instant::now() + run;
    while Instant::now() < deadline && started.load(Ordering::Relaxed) < max_pushes {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let kept = pushers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let (runs, failures) = collector.join().unwrap();
    (kept, runs, failures)
}

#[test]
fn gc_with_no_grace_beside_pushes_never_breaks_an_acknowledged_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let server = PaksServe::start(Path::new(paks_bin()), &root, &[]);
    let addr = server.addr();
    // `scripts/soak` runs this for longer; the defaults keep it to about 15 s.
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let secs = setting("PAKS_SOAK_SECS", 15);
    let pushes = usize::try_from(setting("PAKS_SOAK_PUSHES", 600)).unwrap();
    let threads = usize::try_from(setting("PAKS_SOAK_THREADS", 4)).unwrap();
    let (kept, runs, failures) =
        push_beside_gc(addr, &root, threads, Duration::from_secs(secs), pushes);
    eprintln!(
        "{} acknowledged, undeleted manifests checked after {runs} gc runs (grace 0) beside {threads} pushers for at most {secs} s",
        kept.len()
    );
    assert!(
        kept.len() >= 50,
        "only {} pushes were acknowledged",
        kept.len()
    );
    assert!(runs >= 5, "gc ran only {runs} times");
    let broken: Vec<String> = kept.iter().filter_map(|p| check(addr, p)).collect();
    assert!(
        broken.is_empty(),
        "{} of {} acknowledged manifests broke beside {runs} gc runs:\n{}",
        broken.len(),
        kept.len(),
        broken.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} gc runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let env = Env::new();
    let root_s = root.to_str().unwrap();
    env.ok(&["serve", "scrub", "--root", root_s]);
    env.ok(&["serve", "gc", "--root", root_s, "--grace", "0"]);
    let mut by_repo: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &kept {
        *by_repo.entry(&p.repo).or_default() += 1;
    }
    assert!(
        by_repo.len() > 1,
        "pushes went to several repositories: {by_repo:?}"
    );
}

/// Ages `path` (file or directory) by two hours.
fn age(path: &Path) {
    let old = std::time::SystemTime::now() - Duration::from_hours(2);
    std::fs::File::open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

#[test]
fn gc_removes_what_killed_writers_left_once_it_is_old_and_nothing_younger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let mut server = PaksServe::start(Path::new(paks_bin()), &root, &[]);
    let pool: Vec<Vec<u8>> = (0..2).map(pool_layer).collect();
    let pushed = push_image(server.addr(), "left/over", "left/other", "v1", &pool, "1").unwrap();
    server.kill9();

    // What a kill leaves, named as the server names its temporary files
    // (`paks_types::fs::temp_sibling`): a manifest blob and a tag being written, a session
    // directory being built and one being removed, a session whose data was committed.
    let blob_dir = root.join("blobs/sha256/ab");
    std::fs::create_dir_all(&blob_dir).unwrap();
    let tags = root.join("repos/left/over/_tags");
    let temp =
        |dir: &Path, name: &str, tag: &str| paks_types::fs::temp_sibling(&dir.join(name), tag);
    let blob_tmp = temp(&blob_dir, &"ab".repeat(32), "tmp");
    std::fs::write(&blob_tmp, b"half a manifest").unwrap();
    let tag_tmp = temp(&tags, "v2", "tmp");
    std::fs::write(&tag_tmp, b"sha256:").unwrap();
    let uploads = root.join("uploads");
    let new_session = temp(&uploads, "0b9e4a4e-8d1e-4b5e-9f0a-3c2d1e0f9a8b", "new");
    std::fs::create_dir(&new_session).unwrap();
    std::fs::write(new_session.join("repo"), "left/over").unwrap();
    let gone_session = temp(&uploads, "1b9e4a4e-8d1e-4b5e-9f0a-3c2d1e0f9a8b", "gone");
    std::fs::create_dir(&gone_session).unwrap();
    let committed = uploads.join("2b9e4a4e-8d1e-4b5e-9f0a-3c2d1e0f9a8b");
    std::fs::create_dir(&committed).unwrap();
    std::fs::write(committed.join("repo"), "left/over").unwrap();
    let old = [&blob_tmp, &tag_tmp, &new_session, &gone_session, &committed];
    for path in old {
        age(path);
    }
    // The same, fresh: a write in flight.
    let fresh_tmp = temp(&tags, "v3", "tmp");
    std::fs::write(&fresh_tmp, b"sha256:").unwrap();
    let fresh_session = uploads.join("3b9e4a4e-8d1e-4b5e-9f0a-3c2d1e0f9a8b");
    std::fs::create_dir(&fresh_session).unwrap();

    let env = Env::new();
    let root_s = root.to_str().unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["serve", "gc", "--root", root_s, "--dry-run", "--json"]))
            .unwrap();
    assert_eq!(
        report["leftovers_removed"].as_array().unwrap().len(),
        old.len(),
        "{report}"
    );
    assert!(old.iter().all(|p| p.exists()), "a dry run removes nothing");
    let out = env.run(&["serve", "gc", "--root", root_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("5 leftover files"),
        "{}",
        text(&out.stderr)
    );
    for path in old {
        assert!(!path.exists(), "{} is collected", path.display());
    }
    assert!(
        fresh_tmp.exists() && fresh_session.exists(),
        "young ones stay"
    );

    // The registry is whole and serves again.
    let server = PaksServe::start(Path::new(paks_bin()), &root, &[]);
    assert_eq!(check(server.addr(), &pushed), None);
    env.ok(&["serve", "scrub", "--root", root_s]);
}

/// A 2 MiB tmpfs at `dir`, unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount a 2 MiB tmpfs (needs root): {}",
            text(&out.stderr)
        );
        Self(dir.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_logged_with_its_path_and_answered_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("small");
    let disk = SmallDisk::mount(&root);
    let mut server = PaksServe::start(Path::new(paks_bin()), &root, &[]);
    let addr = server.addr();
    let big = pool_layer(7).repeat(3 * 1024 * 1024 / pool_layer(7).len() + 1);
    let (status, head, _) = exchange(addr, "POST", "/v2/full/disk/blobs/uploads/", &[], b"");
    assert_eq!(status, 202, "{head}");
    let at = location(&head).unwrap();
    let digest = Digest::sha256_of(&big);
    let (status, head, body) = exchange(
        addr,
        "PUT",
        &format!("{at}?digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        &big,
    );
    let body = text(&body);
    assert_eq!(status, 500, "{head}{body}");
    assert!(body.contains("\"INTERNAL\""), "{body}");
    assert!(body.contains("out of disk space"), "{body}");
    let root_s = root.to_str().unwrap();
    assert!(!body.contains(root_s), "the data path is not sent: {body}");
    server.stop();
    let log = server.stderr();
    assert!(
        log.contains(root_s) && log.contains("No space left on device"),
        "the log has the details: {log}"
    );
    drop(disk);
}

#[test]
fn manifests_whose_sizes_disagree_with_the_stored_blobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = PaksServe::start(Path::new(paks_bin()), &dir.path().join("data"), &[]);
    let addr = server.addr();
    let repo = "size/lies";
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let layer = pool_layer(3);
    for b in [&config, &layer] {
        assert!(ensure_blob(addr, repo, repo, b));
    }
    let manifest = |config_size: usize, layer_size: usize| {
        let mut c = descriptor("application/vnd.oci.image.config.v1+json", &config);
        c["size"] = config_size.into();
        let mut l = descriptor("application/vnd.oci.image.layer.v1.tar", &layer);
        l["size"] = layer_size.into();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": c,
            "layers": [l],
        }))
        .unwrap()
    };
    let put = |tag: &str, body: &[u8], media_type: &str| {
        let (status, _, body) = exchange(
            addr,
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", media_type)],
            body,
        );
        (status, text(&body))
    };
    let cases = [
        (
            manifest(config.len(), layer.len() + 1),
            Digest::sha256_of(&layer),
            layer.len() + 1,
            layer.len(),
        ),
        (
            manifest(config.len(), layer.len() - 1),
            Digest::sha256_of(&layer),
            layer.len() - 1,
            layer.len(),
        ),
        (
            manifest(1, layer.len()),
            Digest::sha256_of(&config),
            1,
            config.len(),
        ),
    ];
    for (body, digest, claimed, stored) in &cases {
        let (status, answer) = put("lie", body, OCI_MANIFEST);
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("MANIFEST_INVALID"), "{answer}");
        assert!(
            answer.contains(&digest.to_string())
                && answer.contains(&format!("{claimed} bytes"))
                && answer.contains(&format!("{stored}")),
            "{answer}"
        );
    }
    let (status, _, _) = exchange(addr, "GET", &format!("/v2/{repo}/manifests/lie"), &[], b"");
    assert_eq!(status, 404, "nothing was stored under the tag");

    let honest = manifest(config.len(), layer.len());
    assert_eq!(put("v1", &honest, OCI_MANIFEST).0, 201);
    // An index whose child's size is wrong.
    let mut child = descriptor(OCI_MANIFEST, &honest);
    child["size"] = (honest.len() + 5).into();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [child],
    }))
    .unwrap();
    let (status, answer) = put("multi", &index, "application/vnd.oci.image.index.v1+json");
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("MANIFEST_INVALID")
            && answer.contains(&Digest::sha256_of(&honest).to_string()),
        "{answer}"
    );
}

#[test]
fn scrub_names_broken_links_and_gc_keeps_working_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let server = PaksServe::start(Path::new(paks_bin()), &root, &[]);
    let addr = server.addr();
    let pool: Vec<Vec<u8>> = (0..2).map(pool_layer).collect();
    let damaged = push_image(addr, "broken/app", "broken/app", "v1", &pool, "1").unwrap();
    let whole = push_image(addr, "whole/app", "whole/app", "v1", &pool[..1], "2").unwrap();
    // What the unsound collector did: a manifest's bytes and a layer's bytes gone.
    let blob_file = |bytes: &[u8]| {
        let hex = Digest::sha256_of(bytes).hex().to_owned();
        root.join("blobs/sha256").join(&hex[..2]).join(hex)
    };
    std::fs::remove_file(blob_file(&damaged.manifest)).unwrap();
    let own_layer = &whole.blobs[1];
    std::fs::remove_file(blob_file(own_layer)).unwrap();

    let env = Env::new();
    let root_s = root.to_str().unwrap();
    let out = env.run(&["serve", "scrub", "--root", root_s]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    let manifest_digest = Digest::sha256_of(&damaged.manifest).to_string();
    let layer_digest = Digest::sha256_of(own_layer).to_string();
    assert!(
        listed.contains(&format!("broken/app\tbroken link: manifest `{manifest_digest}` is linked in `broken/app` but its blob")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "whole/app\tbroken link: manifest `{}` references `{layer_digest}`, which is missing",
            Digest::sha256_of(&whole.manifest)
        )),
        "{listed}"
    );
    // gc reports the damage and still collects: twice, so it does not wedge.
    for _ in 0..2 {
        let out = env.run(&["serve", "gc", "--root", root_s, "--grace", "0"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("warning: `broken/app` is damaged"),
            "{}",
            text(&out.stderr)
        );
    }
    // What the damaged manifest used is kept (it is unknown), so a push of the same bytes
    // repairs it.
    let again = push_image(addr, "broken/app", "broken/app", "v1", &pool, "1").unwrap();
    assert_eq!(check(addr, &again), None);
}
