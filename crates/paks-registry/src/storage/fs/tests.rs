use std::io::{Read as _, Write as _};
use std::sync::Arc;

use super::*;

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

fn storage() -> (tempfile::TempDir, FsStorage) {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    (dir, s)
}

/// Uploads `bytes` in one session and commits them as their sha256.
fn push_blob(s: &FsStorage, r: &RepoName, bytes: &[u8]) -> Digest {
    let id = s.start_upload(r).unwrap();
    let mut w = s.upload_writer(r, &id).unwrap();
    w.write_all(bytes).unwrap();
    assert_eq!(w.finish().unwrap(), bytes.len() as u64);
    let d = Digest::sha256_of(bytes);
    assert_eq!(s.commit_upload(r, &id, &d).unwrap(), bytes.len() as u64);
    d
}

fn read_blob(s: &FsStorage, r: &RepoName, d: &Digest) -> Vec<u8> {
    let mut b = s.open_blob(r, d).unwrap().expect("blob is linked");
    let mut out = Vec::new();
    b.reader.read_to_end(&mut out).unwrap();
    assert_eq!(out.len() as u64, b.size);
    out
}

fn manifest(config: &Digest, layers: &[&Digest], subject: Option<&Digest>) -> StoredManifest {
    let layers: Vec<_> = layers
        .iter()
        .map(|d| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": 1}))
        .collect();
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 1},
        "layers": layers,
    });
    if let Some(s) = subject {
        m["subject"] = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": s.to_string(), "size": 1});
    }
    StoredManifest {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        bytes: serde_json::to_vec(&m).unwrap(),
    }
}

/// Stores a manifest over `config` and `layers` (already linked), returning its digest.
fn push_manifest(
    s: &FsStorage,
    r: &RepoName,
    config: &Digest,
    layers: &[&Digest],
    subject: Option<&Digest>,
    tag: Option<&str>,
) -> Digest {
    let m = manifest(config, layers, subject);
    let d = Digest::sha256_of(&m.bytes);
    let refs = ManifestRefs {
        blobs: std::iter::once(config)
            .chain(layers.iter().copied())
            .cloned()
            .collect(),
        manifests: vec![],
        sizes: vec![],
        subject: subject.map(|s| {
            (
                s.clone(),
                Descriptor {
                    media_type: m.media_type.clone(),
                    digest: d.clone(),
                    size: m.bytes.len() as u64,
                    artifact_type: Some("application/example".into()),
                    annotations: None,
                },
            )
        }),
    };
    s.put_manifest(r, &d, &m, &refs, tag.as_slice()).unwrap();
    d
}

#[test]
fn upload_commit_and_read_back() {
    let (dir, s) = storage();
    let r = repo("acme/hello");
    let d = push_blob(&s, &r, b"hello world");
    assert_eq!(read_blob(&s, &r, &d), b"hello world");
    assert_eq!(s.blob_size(&r, &d).unwrap(), Some(11));
    assert!(
        s.blob_size(&repo("other"), &d).unwrap().is_none(),
        "not linked elsewhere"
    );
    assert!(
        dir.path()
            .join("blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex())
            .is_file()
    );
    assert!(s.list_uploads().unwrap().is_empty(), "the session is gone");
    assert_eq!(s.rehash_blob(&d).unwrap(), d);
}

#[test]
fn digest_mismatch_removes_the_session_and_exposes_nothing() {
    let (_dir, s) = storage();
    let r = repo("a");
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"actual bytes").unwrap();
    w.finish().unwrap();
    let claimed = Digest::sha256_of(b"other bytes");
    match s.commit_upload(&r, &id, &claimed) {
        Err(StorageError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, Digest::sha256_of(b"actual bytes"));
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert_eq!(s.upload_size(&r, &id).unwrap(), None);
    assert!(s.list_blobs().unwrap().is_empty());
    assert!(s.open_blob(&r, &claimed).unwrap().is_none());
    assert!(
        s.open_blob(&r, &Digest::sha256_of(b"actual bytes"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn chunked_appends_across_writers() {
    let (_dir, s) = storage();
    let r = repo("a");
    let id = s.start_upload(&r).unwrap();
    let mut all = Vec::new();
    for i in 0..5u8 {
        let chunk = vec![i; 100_000 + usize::from(i)];
        let mut w = s.upload_writer(&r, &id).unwrap();
        w.write_all(&chunk).unwrap();
        all.extend_from_slice(&chunk);
        assert_eq!(w.finish().unwrap(), all.len() as u64);
        assert_eq!(s.upload_size(&r, &id).unwrap(), Some(all.len() as u64));
    }
    // A writer dropped without finish keeps what it wrote.
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"tail").unwrap();
    drop(w);
    all.extend_from_slice(b"tail");
    let d = Digest::sha256_of(&all);
    assert_eq!(s.commit_upload(&r, &id, &d).unwrap(), all.len() as u64);
    assert_eq!(read_blob(&s, &r, &d), all);
}

#[test]
fn concurrent_writers_of_one_session_are_serialised() {
    let (_dir, s) = storage();
    let s = Arc::new(s);
    let r = repo("a");
    let id = s.start_upload(&r).unwrap();
    let threads: Vec<_> = (0..4u8)
        .map(|i| {
            let (s, r, id) = (s.clone(), r.clone(), id.clone());
            std::thread::spawn(move || {
                let mut w = s.upload_writer(&r, &id).unwrap();
                for _ in 0..50 {
                    w.write_all(&[i; 10_000]).unwrap();
                }
                w.finish().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let id2 = id.clone();
    let size = s.upload_size(&r, &id2).unwrap().unwrap();
    assert_eq!(size, 4 * 50 * 10_000);
    // Each writer's bytes are one contiguous run.
    let data = fs::read(s.root().join("uploads").join(&id).join("data")).unwrap();
    for run in data.chunks(500_000) {
        assert!(run.iter().all(|&b| b == run[0]), "interleaved writers");
    }
    let d = Digest::sha256_of(&data);
    assert_eq!(s.commit_upload(&r, &id, &d).unwrap(), size);
}

#[test]
fn commit_after_restart_rehashes() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo("a");
    let id = {
        let s = FsStorage::open(dir.path()).unwrap();
        let id = s.start_upload(&r).unwrap();
        let mut w = s.upload_writer(&r, &id).unwrap();
        w.write_all(b"before restart ").unwrap();
        w.finish().unwrap();
        id
    };
    let s = FsStorage::open(dir.path()).unwrap();
    assert_eq!(s.upload_size(&r, &id).unwrap(), Some(15));
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"and after").unwrap();
    assert_eq!(w.finish().unwrap(), 24);
    let wrong = Digest::sha256_of(b"before restart ");
    assert!(matches!(
        s.commit_upload(&r, &id, &wrong),
        Err(StorageError::DigestMismatch { .. })
    ));

    // And a good one.
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"x").unwrap();
    w.finish().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let d = Digest::sha256_of(b"x");
    assert_eq!(s.commit_upload(&r, &id, &d).unwrap(), 1);
    assert_eq!(read_blob(&s, &r, &d), b"x");
}

#[test]
fn sha512_commit() {
    let (dir, s) = storage();
    let r = repo("a");
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"sha512 content").unwrap();
    w.finish().unwrap();
    let d = Digest::sha512_of(b"sha512 content");
    assert_eq!(s.commit_upload(&r, &id, &d).unwrap(), 14);
    assert_eq!(read_blob(&s, &r, &d), b"sha512 content");
    assert!(
        dir.path()
            .join("blobs/sha512")
            .join(&d.hex()[..2])
            .join(d.hex())
            .is_file()
    );
    assert_eq!(s.rehash_blob(&d).unwrap(), d);

    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"other").unwrap();
    w.finish().unwrap();
    assert!(matches!(
        s.commit_upload(&r, &id, &d),
        Err(StorageError::DigestMismatch { .. })
    ));
}

#[test]
fn concurrent_commits_of_one_blob_all_succeed() {
    let (_dir, s) = storage();
    let s = Arc::new(s);
    let data: Arc<Vec<u8>> = Arc::new((0..3_000_000u32).map(|i| (i % 251) as u8).collect());
    let d = Digest::sha256_of(&data);
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (s, data, d, barrier) = (s.clone(), data.clone(), d.clone(), barrier.clone());
            std::thread::spawn(move || {
                let r = repo(&format!("r{i}"));
                let id = s.start_upload(&r).unwrap();
                let mut w = s.upload_writer(&r, &id).unwrap();
                w.write_all(&data).unwrap();
                w.finish().unwrap();
                barrier.wait();
                s.commit_upload(&r, &id, &d).unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), data.len() as u64);
    }
    assert_eq!(s.rehash_blob(&d).unwrap(), d);
    for i in 0..16 {
        assert_eq!(
            s.blob_size(&repo(&format!("r{i}")), &d).unwrap(),
            Some(data.len() as u64)
        );
    }
    assert_eq!(s.list_blobs().unwrap().len(), 1);
    assert!(s.list_uploads().unwrap().is_empty());
}

#[test]
fn concurrent_tagging_leaves_one_valid_digest() {
    let (_dir, s) = storage();
    let s = Arc::new(s);
    let r = repo("a");
    let config = push_blob(&s, &r, b"{}");
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (s, r, config) = (s.clone(), r.clone(), config.clone());
            std::thread::spawn(move || {
                let layer = push_blob(&s, &r, format!("layer {i}").as_bytes());
                push_manifest(&s, &r, &config, &[&layer], None, Some("latest"))
            })
        })
        .collect();
    let pushed: Vec<Digest> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let tagged = s.resolve_tag(&r, "latest").unwrap().unwrap();
    assert!(pushed.contains(&tagged));
    assert_eq!(s.list_tags(&r).unwrap().unwrap(), ["latest"]);
    assert!(s.get_manifest(&r, &tagged).unwrap().is_some());
    let tags_dir = s.tags_dir(&r);
    assert_eq!(
        fs::read_dir(tags_dir).unwrap().count(),
        1,
        "no temp files left"
    );
}

#[test]
fn put_manifest_with_a_missing_blob_links_nothing() {
    let (_dir, s) = storage();
    let r = repo("a");
    let config = push_blob(&s, &r, b"{}");
    let missing = Digest::sha256_of(b"never uploaded");
    let stored = manifest(&config, &[&missing], None);
    let d = Digest::sha256_of(&stored.bytes);
    let refs = ManifestRefs {
        blobs: vec![config.clone(), missing.clone()],
        ..ManifestRefs::default()
    };
    match s.put_manifest(&r, &d, &stored, &refs, &["v1"]) {
        Err(StorageError::BlobUnknown(unknown)) => assert_eq!(unknown, missing),
        other => panic!("expected BlobUnknown, got {other:?}"),
    }
    assert!(s.get_manifest(&r, &d).unwrap().is_none());
    assert!(s.resolve_tag(&r, "v1").unwrap().is_none());
    assert!(s.list_manifests(&r).unwrap().is_empty());

    // A blob linked in another repository only is unknown here too.
    let elsewhere = push_blob(&s, &repo("b"), b"layer");
    let refs = ManifestRefs {
        blobs: vec![elsewhere.clone()],
        ..ManifestRefs::default()
    };
    let stored = manifest(&config, &[&elsewhere], None);
    let d = Digest::sha256_of(&stored.bytes);
    assert!(matches!(
        s.put_manifest(&r, &d, &stored, &refs, &[]),
        Err(StorageError::BlobUnknown(_))
    ));

    // An index child that is not here.
    let refs = ManifestRefs {
        manifests: vec![missing.clone()],
        ..ManifestRefs::default()
    };
    assert!(matches!(
        s.put_manifest(&r, &d, &stored, &refs, &[]),
        Err(StorageError::ManifestUnknown(child)) if child == missing
    ));

    // Bytes that do not hash to the digest.
    let refs = ManifestRefs::default();
    assert!(matches!(
        s.put_manifest(&r, &missing, &stored, &refs, &[]),
        Err(StorageError::DigestMismatch { .. })
    ));
}

#[test]
fn manifests_tags_and_deletion() {
    let (_dir, s) = storage();
    let r = repo("a");
    let config = push_blob(&s, &r, b"{}");
    let layer = push_blob(&s, &r, b"layer");
    assert_eq!(s.list_tags(&r).unwrap().unwrap(), Vec::<String>::new());
    assert_eq!(s.list_tags(&repo("nope")).unwrap(), None);

    let d = push_manifest(&s, &r, &config, &[&layer], None, Some("v1"));
    s.put_manifest(
        &r,
        &d,
        &s.get_manifest(&r, &d).unwrap().unwrap(),
        &ManifestRefs::default(),
        &["latest"],
    )
    .unwrap();
    let other = push_manifest(&s, &r, &config, &[], None, Some("B-other"));
    assert_eq!(
        s.list_tags(&r).unwrap().unwrap(),
        ["B-other", "latest", "v1"]
    );
    let got = s.get_manifest(&r, &d).unwrap().unwrap();
    assert_eq!(got.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(Digest::sha256_of(&got.bytes), d);
    assert!(s.get_manifest(&repo("b"), &d).unwrap().is_none());

    assert!(s.delete_manifest(&r, &d).unwrap());
    assert!(!s.delete_manifest(&r, &d).unwrap());
    assert!(s.get_manifest(&r, &d).unwrap().is_none());
    assert_eq!(s.list_tags(&r).unwrap().unwrap(), ["B-other"]);
    assert_eq!(s.list_manifests(&r).unwrap(), std::slice::from_ref(&other));

    assert!(s.delete_tag(&r, "B-other").unwrap());
    assert!(!s.delete_tag(&r, "B-other").unwrap());
    assert!(
        s.get_manifest(&r, &other).unwrap().is_some(),
        "the manifest stays"
    );

    assert!(s.delete_blob(&r, &layer).unwrap());
    assert!(!s.delete_blob(&r, &layer).unwrap());
    assert!(s.open_blob(&r, &layer).unwrap().is_none());
}

#[test]
fn referrers_are_recorded_and_removed() {
    let (_dir, s) = storage();
    let r = repo("a");
    let config = push_blob(&s, &r, b"{}");
    let subject = push_manifest(&s, &r, &config, &[], None, Some("v1"));
    assert!(s.referrers(&r, &subject).unwrap().is_empty());
    let sig = push_manifest(&s, &r, &config, &[], Some(&subject), None);
    let layer = push_blob(&s, &r, b"sbom");
    let sbom = push_manifest(&s, &r, &config, &[&layer], Some(&subject), None);

    let listed = s.referrers(&r, &subject).unwrap();
    let mut want = vec![sig.clone(), sbom.clone()];
    want.sort();
    assert_eq!(
        listed.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(),
        want
    );
    assert_eq!(
        listed[0].artifact_type.as_deref(),
        Some("application/example")
    );
    assert!(s.referrers(&repo("b"), &subject).unwrap().is_empty());

    assert!(s.delete_manifest(&r, &sig).unwrap());
    let listed = s.referrers(&r, &subject).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest, sbom);

    // Without the manifest's bytes, the entry is still found and removed.
    fs::remove_file(s.blob_path(&sbom)).unwrap();
    assert!(s.delete_manifest(&r, &sbom).unwrap());
    assert!(s.referrers(&r, &subject).unwrap().is_empty());
}

#[test]
fn nested_repositories_are_listed() {
    let (_dir, s) = storage();
    for name in ["a/b", "a", "z", "a/b/c", "m/n"] {
        push_blob(&s, &repo(name), name.as_bytes());
    }
    let listed: Vec<String> = s
        .list_repositories()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, ["a", "a/b", "a/b/c", "m/n", "z"]);
    assert_eq!(
        s.list_tags(&repo("m")).unwrap(),
        None,
        "a parent directory is not a repository"
    );
    assert_eq!(s.list_tags(&repo("a")).unwrap(), Some(vec![]));
}

#[test]
fn mounts_link_across_repositories() {
    let (_dir, s) = storage();
    let d = push_blob(&s, &repo("a"), b"shared");
    assert_eq!(s.mount_blob(&repo("x"), &repo("b"), &d).unwrap(), None);
    assert!(s.open_blob(&repo("b"), &d).unwrap().is_none());
    assert_eq!(s.mount_blob(&repo("a"), &repo("b"), &d).unwrap(), Some(6));
    assert_eq!(read_blob(&s, &repo("b"), &d), b"shared");
}

#[test]
fn upload_ids_are_checked() {
    let (dir, s) = storage();
    let r = repo("a");
    let id = s.start_upload(&r).unwrap();
    assert!(valid_id_shape(&id), "{id}");
    // Outside the root, a file the attacker would like to reach.
    fs::create_dir_all(dir.path().join("x")).unwrap();
    fs::write(dir.path().join("x/repo"), "a").unwrap();
    fs::write(dir.path().join("x/data"), "").unwrap();
    for bad in [
        "../x",
        "../../etc/passwd",
        "..",
        "",
        "x",
        &id.to_uppercase(),
        &format!("{id}/"),
        &format!("../uploads/{id}"),
        "00000000-0000-0000-0000-00000000000/",
    ] {
        assert!(
            matches!(
                s.upload_writer(&r, bad),
                Err(StorageError::UploadUnknown(_))
            ),
            "{bad}"
        );
        assert!(
            matches!(
                s.commit_upload(&r, bad, &Digest::sha256_of(b"")),
                Err(StorageError::UploadUnknown(_))
            ),
            "{bad}"
        );
        assert_eq!(s.upload_size(&r, bad).unwrap(), None, "{bad}");
        assert!(!s.cancel_upload(&r, bad).unwrap(), "{bad}");
    }
    assert!(dir.path().join("x/data").exists());
    // Another repository's session is unknown too.
    let other = repo("b");
    assert!(matches!(
        s.upload_writer(&other, &id),
        Err(StorageError::UploadUnknown(_))
    ));
    assert_eq!(s.upload_size(&other, &id).unwrap(), None);
    assert!(!s.cancel_upload(&other, &id).unwrap());
    assert_eq!(s.upload_size(&r, &id).unwrap(), Some(0));
    assert!(s.cancel_upload(&r, &id).unwrap());
    assert!(!s.cancel_upload(&r, &id).unwrap());
    assert!(matches!(
        s.upload_writer(&r, &id),
        Err(StorageError::UploadUnknown(_))
    ));
}

fn valid_id_shape(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

#[test]
fn stale_blobs_are_removed_only_when_untouched() {
    let (_dir, s) = storage();
    let r = repo("a");
    let d = push_blob(&s, &r, b"old");
    let past = SystemTime::now() - std::time::Duration::from_hours(2);
    File::open(s.blob_path(&d))
        .unwrap()
        .set_modified(past)
        .unwrap();
    let cutoff = SystemTime::now() - std::time::Duration::from_hours(1);
    let mut c = s.begin_collection().unwrap();
    let linked = [r.clone()];
    // A client asking for it touches it: kept.
    assert_eq!(s.blob_size(&r, &d).unwrap(), Some(3));
    assert!(!c.remove_blob_if_unused(&d, cutoff, &linked).unwrap());
    File::open(s.blob_path(&d))
        .unwrap()
        .set_modified(past)
        .unwrap();
    assert!(c.remove_blob_if_unused(&d, cutoff, &linked).unwrap());
    assert!(!c.remove_blob_if_unused(&d, cutoff, &linked).unwrap());
    drop(c);
    assert!(
        s.list_linked_blobs(&r).unwrap().is_empty(),
        "its link went with it"
    );
    assert_eq!(
        s.blob_size(&r, &d).unwrap(),
        None,
        "a dangling link is not a blob"
    );
}

#[test]
fn rehash_finds_corruption() {
    let (_dir, s) = storage();
    let d = push_blob(&s, &repo("a"), b"good bytes");
    fs::write(s.blob_path(&d), b"bad bytes").unwrap();
    assert_eq!(s.rehash_blob(&d).unwrap(), Digest::sha256_of(b"bad bytes"));
    let err = s.rehash_blob(&Digest::sha256_of(b"absent")).unwrap_err();
    assert!(err.to_string().contains("failed to open `"), "{err}");
}

#[test]
fn commit_uses_the_running_hash_without_rereading() {
    let (_dir, s) = storage();
    let r = repo("a");
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"written").unwrap();
    w.finish().unwrap();
    // Swap the bytes behind the storage's back (same length): a commit that re-read the
    // file would see them; one that trusts the running hash does not.
    let data = s.root().join("uploads").join(&id).join("data");
    fs::write(&data, b"swapped").unwrap();
    let d = Digest::sha256_of(b"written");
    assert_eq!(s.commit_upload(&r, &id, &d).unwrap(), 7);

    // Bytes appended by someone else (another process) make the running hash stale: the
    // commit re-hashes and catches the mismatch.
    let id = s.start_upload(&r).unwrap();
    let mut w = s.upload_writer(&r, &id).unwrap();
    w.write_all(b"abc").unwrap();
    w.finish().unwrap();
    let data = s.root().join("uploads").join(&id).join("data");
    fs::OpenOptions::new()
        .append(true)
        .open(&data)
        .unwrap()
        .write_all(b"def")
        .unwrap();
    assert!(matches!(
        s.commit_upload(&r, &id, &Digest::sha256_of(b"abc")),
        Err(StorageError::DigestMismatch { .. })
    ));
}

#[test]
fn what_a_push_needs_during_a_collection_is_pinned_whatever_the_clocks_say() {
    let (_dir, s) = storage();
    let r = repo("a");
    let layer = push_blob(&s, &r, b"layer");
    let mounted = push_blob(&s, &repo("b"), b"mounted");
    // Every blob counts as untouched, as if the clock had jumped.
    let future = SystemTime::now() + std::time::Duration::from_hours(1);
    let mut c = s.begin_collection().unwrap();
    let m = StoredManifest {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        bytes: b"{\"layers\":[]}".to_vec(),
    };
    let md = Digest::sha256_of(&m.bytes);
    let refs = ManifestRefs {
        blobs: vec![layer.clone()],
        ..ManifestRefs::default()
    };
    s.put_manifest(&r, &md, &m, &refs, &[]).unwrap();
    assert_eq!(s.mount_blob(&repo("b"), &r, &mounted).unwrap(), Some(7));
    let uploaded = push_blob(&s, &r, b"uploaded meanwhile");
    for d in [&layer, &md, &mounted, &uploaded] {
        assert!(
            !c.remove_blob_if_unused(d, future, std::slice::from_ref(&r))
                .unwrap(),
            "{d} is pinned"
        );
    }
    drop(c);
    assert!(
        !s.root().join("gc-pins").exists(),
        "pins end with the collection"
    );
    // A later collection starts from no pins.
    let mut c = s.begin_collection().unwrap();
    assert!(
        c.remove_blob_if_unused(&uploaded, future, std::slice::from_ref(&r))
            .unwrap()
    );
}
