//! Upload sessions in the bucket (`storage/s3/upload.rs`) against a real Garage cluster:
//! several `S3Storage` values stand for several replicas sharing one bucket.

use std::io::Write as _;
use std::sync::Arc;

use paks_registry::names::RepoName;
use std::time::Duration;

use paks_registry::gc::{self, GcOptions};
use paks_registry::storage::{self, ManifestRefs, Storage, StorageError, StoredManifest};
use paks_testkit::Garage;
use paks_types::{Digest, Sha256Hasher};

use super::location;

const MIB: usize = 1 << 20;

/// The storage of replica `node` under `prefix`.
pub fn replica(garage: &Garage, node: usize, prefix: &str) -> Arc<dyn Storage> {
    storage::open(&location(garage, node, prefix)).expect("the bucket answers")
}

pub fn repo(name: &str) -> RepoName {
    RepoName::parse(name).expect("a valid repository name")
}

/// `len` bytes that differ from block to block (so a misplaced piece changes the digest).
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251).to_le_bytes()[0] ^ seed ^ (i / MIB).to_le_bytes()[0])
        .collect()
}

#[test]
fn a_session_opened_on_one_replica_is_appended_to_and_committed_on_another() {
    let garage = Garage::start();
    let (a, b) = (replica(&garage, 0, "up1"), replica(&garage, 1, "up1"));
    let r = repo("team/app");
    let first = pattern(1, 3 * MIB);
    let second = pattern(2, 10 * MIB + 17);

    let id = a.start_upload(&r).unwrap();
    assert_eq!(b.upload_size(&r, &id).unwrap(), Some(0));
    let mut w = a.upload_writer(&r, &id).unwrap();
    w.write_all(&first).unwrap();
    assert_eq!(w.finish().unwrap(), first.len() as u64);
    // Resumed on the other replica, which sees the size so far.
    assert_eq!(b.upload_size(&r, &id).unwrap(), Some(first.len() as u64));
    let mut w = b.upload_writer(&r, &id).unwrap();
    w.write_all(&second).unwrap();
    // Dropped without `finish`: what was written is kept.
    drop(w);
    let total = (first.len() + second.len()) as u64;
    assert_eq!(a.upload_size(&r, &id).unwrap(), Some(total));
    let listed = a.list_uploads().unwrap();
    assert!(
        listed
            .iter()
            .any(|u| u.id == id && u.repo == r && u.size == total),
        "{listed:?}"
    );
    // Not the session of another repository.
    assert_eq!(a.upload_size(&repo("other"), &id).unwrap(), None);

    let mut all = first.clone();
    all.extend_from_slice(&second);
    let digest = Digest::sha256_of(&all);
    assert_eq!(a.commit_upload(&r, &id, &digest).unwrap(), total);
    assert_eq!(b.upload_size(&r, &id).unwrap(), None, "the session is gone");
    assert!(b.list_uploads().unwrap().is_empty());
    assert_eq!(b.rehash_blob(&digest).unwrap(), digest, "the stored bytes");
    assert!(!b.cancel_upload(&r, &id).unwrap());
}

#[test]
fn a_digest_mismatch_is_refused_and_ends_the_session() {
    let garage = Garage::start();
    let s = replica(&garage, 0, "up2");
    let r = repo("app");
    let bytes = pattern(3, 100_000);
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(&bytes).unwrap();
    w.finish().unwrap();
    let claimed = Digest::sha256_of(b"something else");
    match s.commit_upload(&r, &id, &claimed) {
        Err(StorageError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, Digest::sha256_of(&bytes));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert_eq!(s.upload_size(&r, &id).unwrap(), None);
    let gone = s.rehash_blob(&claimed).unwrap_err();
    assert!(
        matches!(&gone, StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "no blob was written: {gone:?}"
    );
    // The same for a blob large enough to go up in parts: the upload is aborted.
    let big = pattern(4, 20 * MIB);
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(&big).unwrap();
    w.finish().unwrap();
    assert!(matches!(
        s.commit_upload(&r, &id, &claimed),
        Err(StorageError::DigestMismatch { .. })
    ));
    assert!(s.rehash_blob(&claimed).is_err(), "no blob was written");
}

#[test]
fn sha512_uploads_are_checked_with_sha512() {
    let garage = Garage::start();
    let s = replica(&garage, 2, "up3");
    let r = repo("app");
    let bytes = pattern(5, 9 * MIB);
    let digest = Digest::sha512_of(&bytes);
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(&bytes).unwrap();
    w.finish().unwrap();
    assert_eq!(
        s.commit_upload(&r, &id, &digest).unwrap(),
        bytes.len() as u64
    );
    assert_eq!(s.rehash_blob(&digest).unwrap(), digest);
}

#[test]
fn ids_that_are_not_sessions_are_unknown() {
    let garage = Garage::start();
    let s = replica(&garage, 0, "up4");
    let r = repo("app");
    for id in [
        "../../blobs",
        "0d8f3e0c-0000-4000-8000-00000000000G",
        "0d8f3e0c-0000-4000-8000-000000000000",
    ] {
        assert_eq!(s.upload_size(&r, id).unwrap(), None, "{id}");
        assert!(
            matches!(s.upload_writer(&r, id), Err(StorageError::UploadUnknown(_))),
            "{id}"
        );
        assert!(!s.cancel_upload(&r, id).unwrap(), "{id}");
    }
    let id = s.start_upload(&r).unwrap();
    assert!(s.cancel_upload(&r, &id).unwrap());
    assert_eq!(s.upload_size(&r, &id).unwrap(), None);
}

#[test]
fn thirty_sessions_commit_one_digest_at_once() {
    let garage = Garage::start();
    let replicas: Vec<_> = (0..3).map(|n| replica(&garage, n, "up5")).collect();
    let r = repo("app");
    let bytes = Arc::new(pattern(6, MIB + 3));
    let digest = Digest::sha256_of(&bytes);
    let sessions: Vec<_> = (0..30)
        .map(|i| {
            let s = &replicas[i % 3];
            let id = s.start_upload(&r).unwrap();
            let mut w = s.upload_writer(&r, &id).unwrap();
            w.write_all(&bytes).unwrap();
            w.finish().unwrap();
            (Arc::clone(&replicas[(i + 1) % 3]), id)
        })
        .collect();
    let threads: Vec<_> = sessions
        .into_iter()
        .map(|(s, id)| {
            let (r, digest) = (r.clone(), digest.clone());
            std::thread::spawn(move || s.commit_upload(&r, &id, &digest))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), bytes.len() as u64);
    }
    assert_eq!(replicas[0].rehash_blob(&digest).unwrap(), digest);
    assert!(replicas[0].list_uploads().unwrap().is_empty());
}

/// The peak resident set size of this process, in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

const CHILD_URL: &str = "PAKS_TEST_S3_UPLOAD_URL";

#[test]
fn a_100_mib_upload_does_not_take_100_mib_of_memory() {
    // Measured in a process of its own: the other tests of this binary run in parallel and
    // would raise the peak.
    if let Ok(url) = std::env::var(CHILD_URL) {
        return upload_100_mib(&url);
    }
    let garage = Garage::start();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "uploads::a_100_mib_upload_does_not_take_100_mib_of_memory",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, garage.storage_url(1, "up6"))
        .envs(garage.credentials())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{stderr}"
    );
}

fn upload_100_mib(url: &str) {
    let config = storage::S3Config::parse(url, |k| std::env::var(k).ok()).unwrap();
    let s = storage::open(&storage::Location::S3(config)).unwrap();
    let r = repo("big");
    let block = pattern(7, MIB);
    let mut hasher = Sha256Hasher::default();
    let before = peak_rss();
    let id = s.start_upload(&r).unwrap();
    // Several PATCHes, as a chunked client sends them.
    for _ in 0..4 {
        let mut w = s.upload_writer(&r, &id).unwrap();
        for _ in 0..25 {
            w.write_all(&block).unwrap();
            hasher.update(&block);
        }
        w.finish().unwrap();
    }
    let digest = hasher.finish();
    assert_eq!(s.commit_upload(&r, &id, &digest).unwrap(), 100 * MIB as u64);
    let grown = peak_rss().saturating_sub(before);
    eprintln!("the peak RSS grew by {} MiB", grown / MIB);
    assert!(
        grown < 64 * MIB,
        "the peak RSS grew by {} MiB for a 100 MiB upload",
        grown / MIB
    );
    assert_eq!(s.rehash_blob(&digest).unwrap(), digest);
}

// ----- garbage collection with several replicas -----

/// Uploads `bytes` through `storage` in one session and commits it as its sha256.
fn push_blob(storage: &dyn Storage, repo: &RepoName, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256_of(bytes);
    let id = storage.start_upload(repo).unwrap();
    let mut w = storage.upload_writer(repo, &id).unwrap();
    w.write_all(bytes).unwrap();
    w.finish().unwrap();
    assert_eq!(
        storage.commit_upload(repo, &id, &digest).unwrap(),
        bytes.len() as u64
    );
    digest
}

/// Stores an image manifest whose config and layers are `blobs` (digest, size).
fn put_image(
    storage: &dyn Storage,
    repo: &RepoName,
    blobs: &[(Digest, u64)],
    tag: &str,
) -> Result<Digest, StorageError> {
    let desc = |(d, size): &(Digest, u64)| serde_json::json!({ "mediaType": "application/octet-stream", "digest": d, "size": size });
    let json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(&blobs[0]),
        "layers": blobs[1..].iter().map(desc).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&json).unwrap();
    let digest = Digest::sha256_of(&bytes);
    let refs = ManifestRefs {
        blobs: blobs.iter().map(|(d, _)| d.clone()).collect(),
        sizes: blobs.to_vec(),
        ..ManifestRefs::default()
    };
    let stored = StoredManifest {
        media_type: OCI_MANIFEST.to_owned(),
        bytes,
    };
    storage
        .put_manifest(repo, &digest, &stored, &refs, &[tag])
        .map(|()| digest)
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn gc_options(grace: Duration) -> GcOptions {
    GcOptions {
        grace,
        ..GcOptions::default()
    }
}

fn present(storage: &dyn Storage, digest: &Digest) -> bool {
    storage.rehash_blob(digest).is_ok()
}

#[test]
fn a_collection_deletes_only_what_is_unreferenced_and_past_its_grace() {
    let garage = Garage::start();
    let (a, b) = (replica(&garage, 0, "gc1"), replica(&garage, 1, "gc1"));
    let r = repo("app");
    let config = push_blob(&*a, &r, b"{\"config\":1}");
    let layer = push_blob(&*b, &r, &pattern(8, 1000));
    let loose = push_blob(&*b, &r, b"pushed, never referenced");
    let touched = push_blob(&*a, &r, b"referenced again later");
    put_image(
        &*b,
        &r,
        &[(config.clone(), 12), (layer.clone(), 1000)],
        "v1",
    )
    .unwrap();

    // Within the grace period nothing goes.
    let report = gc::collect(&*a, &gc_options(Duration::from_hours(1))).unwrap();
    assert!(report.blobs_deleted.is_empty(), "{report:?}");
    assert_eq!(report.blobs_in_grace, 2, "{report:?}");

    // Past it, the unreferenced blob goes, unless a push touched it since (a HEAD of it
    // through another replica, as a client about to reference it sends).
    std::thread::sleep(Duration::from_secs(5));
    assert!(b.blob_size(&r, &touched).unwrap().is_some());
    let report = gc::collect(&*a, &gc_options(Duration::from_secs(2))).unwrap();
    let deleted: Vec<_> = report.blobs_deleted.iter().map(|(d, _)| d).collect();
    assert_eq!(deleted, [&loose], "{report:?}");
    assert!(!present(&*b, &loose));
    assert_eq!(b.blob_size(&r, &loose).unwrap(), None, "its link went too");
    for kept in [&config, &layer, &touched] {
        assert!(present(&*b, kept), "{kept}");
    }
}

#[test]
fn pushes_through_another_replica_during_collections_lose_nothing_they_were_told_is_stored() {
    let garage = Garage::start();
    let (collector, pusher) = (replica(&garage, 0, "gc2"), replica(&garage, 1, "gc2"));
    let r = repo("busy");
    // Blobs that no manifest references and that are older than the grace period: the
    // ones a collection may delete, and the ones these pushes reference again.
    let old: Vec<Digest> = (0..16u8)
        .map(|i| push_blob(&*pusher, &r, &[i; 100]))
        .collect();
    std::thread::sleep(Duration::from_secs(3));

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc_thread = {
        let (collector, stop) = (Arc::clone(&collector), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || runs == 0 {
                gc::collect(&*collector, &gc_options(Duration::from_secs(1))).unwrap();
                runs += 1;
            }
            runs
        })
    };
    let pushers: Vec<_> = (0..8)
        .map(|t| {
            let (s, r, old) = (Arc::clone(&pusher), r.clone(), old.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..4 {
                    let fresh = push_blob(&*s, &r, format!("thread {t} push {i}").as_bytes());
                    let blobs = [(fresh, 15), (old[(t * 2 + i) % 16].clone(), 100)];
                    match put_image(&*s, &r, &blobs, &format!("t{t}-{i}")) {
                        Ok(_) => acknowledged.push(blobs),
                        // The old blob was collected before this push touched it.
                        Err(StorageError::BlobUnknown(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for p in pushers {
        acknowledged.extend(p.join().unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(gc_thread.join().unwrap() >= 1);
    // One more collection after the pushes: what they referenced is marked now.
    gc::collect(&*collector, &gc_options(Duration::ZERO)).unwrap();
    assert!(!acknowledged.is_empty(), "some pushes got through");
    for blobs in &acknowledged {
        for (d, _) in blobs {
            assert!(
                present(&*collector, d),
                "{d} of an acknowledged push {blobs:?} old? {}",
                old.contains(d)
            );
            assert!(pusher.blob_size(&r, d).unwrap().is_some(), "{d} is linked");
        }
    }
}
