//! Upload sessions in the bucket (`storage/s3/upload.rs`) against a real Garage cluster:
//! several `S3Storage` values stand for several replicas sharing one bucket.

use std::io::Write as _;
use std::sync::Arc;

use paks_registry::names::RepoName;
use paks_registry::storage::{self, Storage, StorageError};
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
