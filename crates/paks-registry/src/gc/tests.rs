//! Collection and scrub over a real `FsStorage` in a temporary directory.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::*;
use crate::storage::{FsStorage, ManifestRefs, StoredManifest};

const HOURS_AGO: Duration = Duration::from_hours(2);

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

fn blob(s: &FsStorage, r: &RepoName, bytes: &[u8]) -> Digest {
    let id = s.start_upload(r).unwrap();
    let mut w = s.upload_writer(r, &id).unwrap();
    w.write_all(bytes).unwrap();
    w.finish().unwrap();
    let d = Digest::sha256_of(bytes);
    s.commit_upload(r, &id, &d).unwrap();
    d
}

fn blob_path(s: &FsStorage, d: &Digest) -> PathBuf {
    let hex = d.hex();
    s.root()
        .join("blobs")
        .join(d.algorithm().as_str())
        .join(&hex[..2])
        .join(hex)
}

fn age(path: &Path, by: Duration) {
    File::open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

fn age_all_blobs(s: &FsStorage) {
    for b in s.list_blobs().unwrap() {
        age(&blob_path(s, &b.digest), HOURS_AGO);
    }
}

fn put(
    s: &FsStorage,
    r: &RepoName,
    json: &serde_json::Value,
    refs: &ManifestRefs,
    tag: Option<&str>,
) -> Digest {
    let m = StoredManifest {
        media_type: json["mediaType"]
            .as_str()
            .unwrap_or("application/json")
            .into(),
        bytes: serde_json::to_vec(json).unwrap(),
    };
    let d = Digest::sha256_of(&m.bytes);
    s.put_manifest(r, &d, &m, refs, tag.as_slice()).unwrap();
    d
}

fn image(
    s: &FsStorage,
    r: &RepoName,
    config: &Digest,
    layers: &[&Digest],
    tag: Option<&str>,
) -> Digest {
    let desc = |d: &Digest| serde_json::json!({"mediaType": "application/octet-stream", "digest": d.to_string(), "size": 1});
    let json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc(config),
        "layers": layers.iter().map(|d| desc(d)).collect::<Vec<_>>(),
        "annotations": {"x": "y"},
    });
    let refs = ManifestRefs {
        blobs: std::iter::once(config)
            .chain(layers.iter().copied())
            .cloned()
            .collect(),
        ..ManifestRefs::default()
    };
    put(s, r, &json, &refs, tag)
}

/// A repository with a tagged image, plus an unreferenced blob, all old.
struct Fixture {
    _dir: tempfile::TempDir,
    s: FsStorage,
    r: RepoName,
    kept: Vec<Digest>,
    orphan: Digest,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let r = repo("acme/app");
    let config = blob(&s, &r, b"{}");
    let layer = blob(&s, &r, b"layer bytes");
    let manifest = image(&s, &r, &config, &[&layer], Some("v1"));
    let orphan = blob(&s, &r, b"never referenced");
    age_all_blobs(&s);
    Fixture {
        _dir: dir,
        s,
        r,
        kept: vec![config, layer, manifest],
        orphan,
    }
}

#[test]
fn referenced_blobs_stay_and_old_garbage_goes() {
    let f = fixture();
    let fresh = blob(&f.s, &f.r, b"just uploaded, manifest coming");
    let report = collect(&f.s, &GcOptions::default()).unwrap();
    assert_eq!(report.blobs_deleted, [(f.orphan.clone(), 16)]);
    assert_eq!(report.bytes_freed, 16);
    assert_eq!(report.blobs_kept, 3);
    assert_eq!(report.blobs_in_grace, 1);
    assert!(!report.dry_run);
    assert!(f.s.open_blob(&f.r, &f.orphan).unwrap().is_none());
    assert_eq!(f.s.blob_size(&f.r, &fresh).unwrap(), Some(30));
    for d in &f.kept {
        assert_eq!(f.s.rehash_blob(d).unwrap(), *d);
    }
    // A second run finds nothing more.
    let again = collect(&f.s, &GcOptions::default()).unwrap();
    assert!(again.blobs_deleted.is_empty());
    assert_eq!(again.blobs_kept, 3);
}

#[test]
fn dry_run_deletes_nothing() {
    let f = fixture();
    let before = f.s.list_blobs().unwrap().len();
    let stale = f.s.start_upload(&f.r).unwrap();
    age(
        &f.s.root().join("uploads").join(&stale).join("data"),
        Duration::from_hours(48),
    );
    let options = GcOptions {
        dry_run: true,
        ..GcOptions::default()
    };
    let report = collect(&f.s, &options).unwrap();
    assert!(report.dry_run);
    assert_eq!(report.blobs_deleted, [(f.orphan.clone(), 16)]);
    assert_eq!(report.uploads_purged, 1);
    assert_eq!(f.s.list_blobs().unwrap().len(), before);
    assert_eq!(f.s.upload_size(&f.r, &stale).unwrap(), Some(0));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["blobs_deleted"][0][0], f.orphan.to_string());
}

#[test]
fn stale_uploads_are_purged() {
    let f = fixture();
    let stale = f.s.start_upload(&f.r).unwrap();
    let active = f.s.start_upload(&f.r).unwrap();
    age(
        &f.s.root().join("uploads").join(&stale).join("data"),
        Duration::from_hours(48),
    );
    let report = collect(&f.s, &GcOptions::default()).unwrap();
    assert_eq!(report.uploads_purged, 1);
    assert_eq!(f.s.upload_size(&f.r, &stale).unwrap(), None);
    assert_eq!(f.s.upload_size(&f.r, &active).unwrap(), Some(0));
}

#[test]
fn deleting_a_manifest_frees_what_only_it_referenced() {
    let f = fixture();
    let shared_layer = &f.kept[1];
    let other = repo("acme/other");
    f.s.mount_blob(&f.r, &other, &f.kept[0]).unwrap();
    f.s.mount_blob(&f.r, &other, shared_layer).unwrap();
    let own = blob(&f.s, &other, b"own layer");
    let doomed = image(&f.s, &other, &f.kept[0], &[shared_layer, &own], None);
    age_all_blobs(&f.s);
    assert!(f.s.delete_manifest(&other, &doomed).unwrap());
    let report = collect(&f.s, &GcOptions::default()).unwrap();
    let mut deleted: Vec<Digest> = report.blobs_deleted.into_iter().map(|(d, _)| d).collect();
    deleted.sort();
    let mut want = vec![f.orphan.clone(), own, doomed];
    want.sort();
    assert_eq!(deleted, want);
    assert_eq!(report.blobs_kept, 3);
    assert_eq!(f.s.rehash_blob(shared_layer).unwrap(), *shared_layer);
}

#[test]
fn indexes_keep_their_children_and_referrers_keep_their_blobs() {
    let f = fixture();
    let child_config = blob(&f.s, &f.r, b"{\"arch\":\"arm64\"}");
    let child = image(&f.s, &f.r, &child_config, &[], None);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f.kept[2].to_string(), "size": 1},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child.to_string(), "size": 1},
        ],
    });
    let refs = ManifestRefs {
        manifests: vec![f.kept[2].clone(), child.clone()],
        ..ManifestRefs::default()
    };
    let index = put(&f.s, &f.r, &index, &refs, Some("multi"));
    age_all_blobs(&f.s);
    let report = collect(&f.s, &GcOptions::default()).unwrap();
    assert_eq!(report.blobs_deleted, [(f.orphan.clone(), 16)]);
    assert_eq!(report.blobs_kept, 6);
    for d in [&child_config, &child, &index] {
        assert_eq!(f.s.rehash_blob(d).unwrap(), *d);
    }
}

#[test]
fn damage_is_reported_and_its_repository_kept_while_the_rest_is_collected() {
    let f = fixture();
    let garbage = b"{ this is not json".to_vec();
    let bad = Digest::sha256_of(&garbage);
    let m = StoredManifest {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        bytes: garbage,
    };
    f.s.put_manifest(&f.r, &bad, &m, &ManifestRefs::default(), &[])
        .unwrap();
    // Another repository: its manifest's bytes are lost, and it has garbage of its own.
    let other = repo("acme/other");
    let config = blob(&f.s, &other, b"{\"other\":1}");
    let lost = image(&f.s, &other, &config, &[], Some("v1"));
    std::fs::remove_file(blob_path(&f.s, &lost)).unwrap();
    let third = repo("acme/third");
    let garbage_blob = blob(&f.s, &third, b"third's garbage");
    age_all_blobs(&f.s);

    let report = collect(&f.s, &GcOptions::default()).unwrap();
    assert_eq!(report.damaged.len(), 2, "{:?}", report.damaged);
    assert!(
        report.damaged[0].problem.contains(&bad.to_string()),
        "{:?}",
        report.damaged
    );
    assert_eq!(report.damaged[1].repo, "acme/other");
    assert!(
        report.damaged[1].problem.contains(&lost.to_string()),
        "{:?}",
        report.damaged
    );
    assert_eq!(
        report.blobs_deleted,
        [(garbage_blob, 15)],
        "damaged repositories keep every blob; others are collected"
    );
    assert_eq!(f.s.rehash_blob(&f.orphan).unwrap(), f.orphan);
    assert_eq!(f.s.rehash_blob(&config).unwrap(), config);
    // A second run does the same: damage never wedges the collection.
    let again = collect(&f.s, &GcOptions::default()).unwrap();
    assert_eq!(again.damaged.len(), 2);
    assert!(again.blobs_deleted.is_empty());
}

#[test]
fn scrub_checks_links() {
    let f = fixture();
    let clean = scrub(&f.s).unwrap();
    assert!(clean.is_clean(), "{clean:?}");
    assert_eq!(clean.manifests_checked, 1);
    // The layer's bytes go (as an unsound collection did it), and a tag points nowhere.
    let layer = &f.kept[1];
    std::fs::remove_file(blob_path(&f.s, layer)).unwrap();
    let other = repo("acme/other");
    let config = blob(&f.s, &other, b"{\"other\":1}");
    let lost = image(&f.s, &other, &config, &[], Some("v1"));
    std::fs::remove_file(blob_path(&f.s, &lost)).unwrap();
    let dangling = Digest::sha256_of(b"never pushed");
    std::fs::write(
        f.s.root().join("repos/acme/app/_tags/dangling"),
        dangling.to_string(),
    )
    .unwrap();

    let report = scrub(&f.s).unwrap();
    assert!(!report.is_clean());
    let problems: Vec<String> = report
        .damaged
        .iter()
        .map(|d| format!("{}: {}", d.repo, d.problem))
        .collect();
    let want = [
        format!(
            "acme/app: manifest `{}` references `{layer}`, which is missing",
            f.kept[2]
        ),
        format!(
            "acme/app: tag `dangling` points at manifest `{dangling}`, which is not linked in the repository"
        ),
        format!("acme/app: blob `{layer}` is linked but its bytes are missing"),
    ];
    for w in &want {
        assert!(problems.contains(w), "{w} not in {problems:#?}");
    }
    assert!(
        problems.iter().any(|p| p.starts_with("acme/other: ")
            && p.contains(&lost.to_string())
            && p.contains("missing")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[test]
fn scrub_finds_corrupt_and_unreadable_blobs() {
    let f = fixture();
    let clean = scrub(&f.s).unwrap();
    assert!(clean.is_clean(), "{clean:?}");
    assert_eq!(clean.blobs_checked, 4);

    let layer = &f.kept[1];
    std::fs::write(blob_path(&f.s, layer), b"flipped bits").unwrap();
    let unreadable = &f.orphan;
    let path = blob_path(&f.s, unreadable);
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();

    let report = scrub(&f.s).unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].digest, *layer);
    assert_eq!(report.corrupt[0].actual, Digest::sha256_of(b"flipped bits"));
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].digest, *unreadable);
    assert!(
        report.unreadable[0]
            .error
            .contains(&path.display().to_string()),
        "{:?}",
        report.unreadable
    );
    assert_eq!(report.blobs_checked, 3);
}
