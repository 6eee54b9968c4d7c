//! The S3 backend's blobs, manifests, tags, referrers, listings, conditional tag writes and
//! presigned URLs, against a real Garage cluster. Blobs are seeded by writing the
//! documented layout (`blobs/<alg>/<hex>` and a repository link) straight into the bucket,
//! the way a committed upload leaves them.

use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, Weak};

use futures_util::TryStreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use paks_registry::names::RepoName;
use paks_registry::storage::{
    self, Descriptor, Location, ManifestRefs, S3Config, S3Storage, Storage, StorageError,
    StoredManifest, TagCondition, TagWrite,
};
use paks_testkit::Garage;
use paks_types::Digest;

use super::location;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One cluster shared by the tests that run at the same time (each under its own prefix);
/// it stops when the last of them ends.
fn cluster() -> Arc<Garage> {
    static SHARED: Mutex<Weak<Garage>> = Mutex::new(Weak::new());
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(garage) = shared.upgrade() {
        return garage;
    }
    let garage = Arc::new(Garage::start());
    *shared = Arc::downgrade(&garage);
    garage
}

fn config(garage: &Garage, node: usize, prefix: &str) -> S3Config {
    match location(garage, node, prefix) {
        Location::S3(c) => c,
        Location::Dir(_) => unreachable!("an s3:// location"),
    }
}

fn open(garage: &Garage, node: usize, prefix: &str) -> Arc<dyn Storage> {
    storage::open(&location(garage, node, prefix)).expect("the bucket answers")
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

/// A plain client of the cluster's bucket, to write and list objects directly.
fn raw_store(garage: &Garage) -> AmazonS3 {
    let c = config(garage, 0, "");
    AmazonS3Builder::new()
        .with_bucket_name(&c.bucket)
        .with_region(&c.region)
        .with_access_key_id(&c.access_key_id)
        .with_secret_access_key(&c.secret_access_key)
        .with_endpoint(c.endpoint.as_deref().unwrap())
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap()
}

/// Writes `bytes` as a blob linked in `repos`, as a committed upload leaves it.
fn seed_blob(garage: &Garage, prefix: &str, repos: &[&str], bytes: &[u8]) -> Digest {
    let digest = Digest::sha256_of(bytes);
    let store = raw_store(garage);
    let hex = digest.hex();
    let mut writes = vec![(format!("{prefix}/blobs/sha256/{hex}"), bytes.to_vec())];
    for r in repos {
        writes.push((
            format!("{prefix}/repos/{r}/_blobs/sha256/{hex}"),
            Vec::new(),
        ));
    }
    runtime().block_on(async {
        for (key, bytes) in writes {
            store.put(&key.as_str().into(), bytes.into()).await.unwrap();
        }
    });
    digest
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An image manifest naming `config` and `layers` (with their sizes), maybe a `subject`.
fn manifest(
    config: (&Digest, u64),
    layers: &[(&Digest, u64)],
    subject: Option<(&Digest, u64)>,
) -> (Digest, StoredManifest, ManifestRefs) {
    let desc = |(d, size): (&Digest, u64)| serde_json::json!({ "mediaType": "application/octet-stream", "digest": d, "size": size });
    let mut json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(config),
        "layers": layers.iter().copied().map(desc).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        json["subject"] = desc(s);
    }
    let bytes = serde_json::to_vec(&json).unwrap();
    let digest = Digest::sha256_of(&bytes);
    let mut refs = ManifestRefs {
        blobs: std::iter::once(config.0)
            .chain(layers.iter().map(|(d, _)| *d))
            .cloned()
            .collect(),
        sizes: std::iter::once(config)
            .chain(layers.iter().copied())
            .map(|(d, s)| (d.clone(), s))
            .collect(),
        ..ManifestRefs::default()
    };
    if let Some((s, _)) = subject {
        refs.subject = Some((
            s.clone(),
            Descriptor {
                media_type: OCI_MANIFEST.to_owned(),
                digest: digest.clone(),
                size: bytes.len() as u64,
                artifact_type: Some("application/example".to_owned()),
                annotations: None,
            },
        ));
    }
    let stored = StoredManifest {
        media_type: OCI_MANIFEST.to_owned(),
        bytes,
    };
    (digest, stored, refs)
}

/// A config blob seeded in `repos`, and a manifest of it with no layers.
fn small_image(
    garage: &Garage,
    prefix: &str,
    repos: &[&str],
    seed: &str,
) -> (Digest, StoredManifest, ManifestRefs) {
    let config = seed_blob(garage, prefix, repos, seed.as_bytes());
    manifest((&config, seed.len() as u64), &[], None)
}

#[test]
fn blobs_are_sized_read_in_ranges_mounted_listed_and_unlinked() {
    let garage = cluster();
    let prefix = "core-blobs";
    let s = open(&garage, 0, prefix);
    // 20 MiB, not a multiple of the reader's 8 MiB pieces, no two pieces alike.
    let size: usize = (20 << 20) + 12_345;
    let bytes: Vec<u8> = (0..size)
        .map(|i| u8::try_from((i * 7 + i / 8191) % 251).unwrap())
        .collect();
    let digest = seed_blob(&garage, prefix, &["big/a"], &bytes);
    let (a, b) = (repo("big/a"), repo("big/b"));

    assert_eq!(s.blob_size(&a, &digest).unwrap(), Some(size as u64));
    assert_eq!(s.blob_size(&b, &digest).unwrap(), None, "not linked in b");
    assert!(s.open_blob(&b, &digest).unwrap().is_none());

    let mut blob = s.open_blob(&a, &digest).unwrap().expect("linked in a");
    assert_eq!(blob.size, size as u64);
    let mut all = Vec::new();
    blob.reader.read_to_end(&mut all).unwrap();
    assert!(all == bytes, "the whole blob reads back");
    // A range across the first piece boundary, one near the end, and one from the end.
    for start in [(8 << 20) - 3, size - 100] {
        blob.reader.seek(SeekFrom::Start(start as u64)).unwrap();
        let mut part = [0u8; 10];
        blob.reader.read_exact(&mut part).unwrap();
        assert_eq!(part, bytes[start..start + 10], "the range at {start}");
    }
    blob.reader.seek(SeekFrom::End(-5)).unwrap();
    let mut tail = Vec::new();
    blob.reader.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, bytes[size - 5..]);

    assert_eq!(s.mount_blob(&b, &repo("big/c"), &digest).unwrap(), None);
    assert_eq!(s.mount_blob(&a, &b, &digest).unwrap(), Some(size as u64));
    assert_eq!(s.blob_size(&b, &digest).unwrap(), Some(size as u64));
    assert_eq!(s.list_linked_blobs(&b).unwrap(), vec![digest.clone()]);
    let listed = s.list_blobs().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((&listed[0].digest, listed[0].size), (&digest, size as u64));

    assert!(s.delete_blob(&b, &digest).unwrap());
    assert!(!s.delete_blob(&b, &digest).unwrap(), "already unlinked");
    assert_eq!(s.blob_size(&b, &digest).unwrap(), None);
    assert_eq!(
        s.blob_size(&a, &digest).unwrap(),
        Some(size as u64),
        "a keeps it"
    );
    assert!(s.list_linked_blobs(&b).unwrap().is_empty());
}

#[test]
fn manifests_tags_and_referrers_are_stored_listed_and_deleted() {
    let garage = cluster();
    let prefix = "core-manifests";
    let storage = open(&garage, 0, prefix);
    let r = repo("app");
    let config = seed_blob(&garage, prefix, &["app"], b"{\"config\":1}");
    let layer = seed_blob(&garage, prefix, &["app"], b"layer bytes");
    let (digest, stored, refs) = manifest((&config, 12), &[(&layer, 11)], None);

    assert_eq!(
        storage.list_tags(&r).unwrap(),
        Some(vec![]),
        "blobs make it exist"
    );
    assert_eq!(storage.list_tags(&repo("nothing")).unwrap(), None);
    storage
        .put_manifest(&r, &digest, &stored, &refs, &["v2", "latest", "a1"])
        .unwrap();
    let got = storage.get_manifest(&r, &digest).unwrap().expect("stored");
    assert_eq!(
        (got.media_type.as_str(), got.bytes),
        (OCI_MANIFEST, stored.bytes.clone())
    );
    assert!(
        storage
            .get_manifest(&repo("other"), &digest)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        storage.resolve_tag(&r, "latest").unwrap(),
        Some(digest.clone())
    );
    assert_eq!(storage.resolve_tag(&r, "nope").unwrap(), None);
    assert_eq!(
        storage.list_tags(&r).unwrap(),
        Some(vec!["a1".to_owned(), "latest".to_owned(), "v2".to_owned()])
    );
    assert_eq!(storage.list_manifests(&r).unwrap(), vec![digest.clone()]);
    // The manifest's bytes are a blob of their own.
    assert!(
        storage
            .list_blobs()
            .unwrap()
            .iter()
            .any(|b| b.digest == digest)
    );

    // Two referrers of the manifest, listed in a stable order with their descriptors.
    let mut referrers = Vec::new();
    for seed in ["sig one", "sig two"] {
        let sig_config = seed_blob(&garage, prefix, &["app"], seed.as_bytes());
        let (d, m, refs) = manifest(
            (&sig_config, 7),
            &[],
            Some((&digest, stored.bytes.len() as u64)),
        );
        storage.put_manifest(&r, &d, &m, &refs, &[]).unwrap();
        referrers.push(refs.subject.unwrap().1);
    }
    referrers.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert_eq!(storage.referrers(&r, &digest).unwrap(), referrers);
    assert!(storage.referrers(&r, &config).unwrap().is_empty());

    // A tag goes alone; the manifest stays.
    assert!(storage.delete_tag(&r, "a1").unwrap());
    assert!(!storage.delete_tag(&r, "a1").unwrap());
    assert!(storage.get_manifest(&r, &digest).unwrap().is_some());
    // A referrer goes from its subject's list with its manifest.
    assert!(storage.delete_manifest(&r, &referrers[0].digest).unwrap());
    assert_eq!(storage.referrers(&r, &digest).unwrap(), referrers[1..]);
    // The manifest goes with every tag naming it.
    assert!(storage.delete_manifest(&r, &digest).unwrap());
    assert!(!storage.delete_manifest(&r, &digest).unwrap());
    assert!(storage.get_manifest(&r, &digest).unwrap().is_none());
    assert_eq!(storage.list_tags(&r).unwrap(), Some(vec![]));
    assert_eq!(
        storage.list_manifests(&r).unwrap(),
        vec![referrers[1].digest.clone()]
    );
}

#[test]
fn a_manifest_with_missing_refs_or_wrong_sizes_is_refused_and_tags_nothing() {
    let garage = cluster();
    let prefix = "core-refused";
    let storage = open(&garage, 1, prefix);
    let r = repo("app");
    let config = seed_blob(&garage, prefix, &["app"], b"config");
    let elsewhere = seed_blob(&garage, prefix, &["other"], b"in another repository");

    let (d, m, refs) = manifest((&config, 6), &[(&elsewhere, 21)], None);
    let err = storage.put_manifest(&r, &d, &m, &refs, &["t"]).unwrap_err();
    assert!(
        matches!(&err, StorageError::BlobUnknown(blob) if *blob == elsewhere),
        "{err}"
    );

    let (d, m, mut refs) = manifest((&config, 6), &[], None);
    refs.manifests.push(Digest::sha256_of(b"no such manifest"));
    let err = storage.put_manifest(&r, &d, &m, &refs, &["t"]).unwrap_err();
    assert!(matches!(err, StorageError::ManifestUnknown(_)), "{err}");

    let (d, m, refs) = manifest((&config, 5), &[], None);
    let err = storage.put_manifest(&r, &d, &m, &refs, &["t"]).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::SizeMismatch {
                declared: 5,
                actual: 6,
                ..
            }
        ),
        "{err}"
    );

    let (_, m, refs) = manifest((&config, 6), &[], None);
    let err = storage
        .put_manifest(&r, &Digest::sha256_of(b"other"), &m, &refs, &["t"])
        .unwrap_err();
    assert!(matches!(err, StorageError::DigestMismatch { .. }), "{err}");

    let err = storage
        .put_manifest(&r, &d, &m, &refs, &["bad/tag"])
        .unwrap_err();
    assert!(err.to_string().contains("`bad/tag`"), "{err}");

    assert_eq!(storage.resolve_tag(&r, "t").unwrap(), None);
    assert!(storage.list_manifests(&r).unwrap().is_empty());
}

#[test]
fn repositories_are_found_at_any_depth_by_their_manifests_or_blob_links() {
    let garage = cluster();
    let prefix = "core-repos";
    let s = open(&garage, 2, prefix);
    assert!(s.list_repositories().unwrap().is_empty());
    seed_blob(&garage, prefix, &["lib/only-blobs", "zed"], b"x");
    let (d, m, refs) = small_image(&garage, prefix, &["a", "a/b", "c/d/e"], "cfg");
    for name in ["a", "a/b", "c/d/e"] {
        s.put_manifest(&repo(name), &d, &m, &refs, &["t"]).unwrap();
    }
    let names: Vec<String> = s
        .list_repositories()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["a", "a/b", "c/d/e", "lib/only-blobs", "zed"]);
    assert_eq!(
        s.list_tags(&repo("c/d")).unwrap(),
        None,
        "a path, not a repository"
    );
}

#[test]
fn storages_on_different_nodes_see_each_others_writes_at_once() {
    let garage = cluster();
    let prefix = "core-replicas";
    let (one, two, three) = (
        open(&garage, 0, prefix),
        open(&garage, 1, prefix),
        open(&garage, 2, prefix),
    );
    let r = repo("shared");
    let (first, m1, refs1) = small_image(&garage, prefix, &["shared"], "first");
    let (second, m2, refs2) = small_image(&garage, prefix, &["shared"], "second");

    one.put_manifest(&r, &first, &m1, &refs1, &["latest"])
        .unwrap();
    assert_eq!(two.resolve_tag(&r, "latest").unwrap(), Some(first.clone()));
    assert_eq!(
        two.get_manifest(&r, &first).unwrap().unwrap().bytes,
        m1.bytes
    );
    three
        .put_manifest(&r, &second, &m2, &refs2, &["latest"])
        .unwrap();
    assert_eq!(one.resolve_tag(&r, "latest").unwrap(), Some(second.clone()));
    assert!(
        two.mount_blob(&r, &repo("copy"), &refs1.blobs[0])
            .unwrap()
            .is_some()
    );
    assert_eq!(three.list_linked_blobs(&repo("copy")).unwrap(), refs1.blobs);
    assert!(one.delete_manifest(&r, &second).unwrap());
    assert_eq!(two.resolve_tag(&r, "latest").unwrap(), None);
    assert_eq!(three.list_manifests(&r).unwrap(), vec![first]);
}

#[test]
fn sixteen_writers_of_one_repository_through_three_nodes_lose_nothing() {
    let garage = cluster();
    let prefix = "core-writers";
    let storages: Vec<_> = (0..3).map(|n| open(&garage, n, prefix)).collect();
    let r = repo("busy");
    let (subject, m, refs) = small_image(&garage, prefix, &["busy"], "subject");
    storages[0]
        .put_manifest(&r, &subject, &m, &refs, &[])
        .unwrap();
    let config = seed_blob(&garage, prefix, &["busy"], b"signature");
    let size = m.bytes.len() as u64;

    std::thread::scope(|scope| {
        for i in 0..16 {
            let s = &storages[i % 3];
            let (r, config, subject) = (&r, &config, &subject);
            scope.spawn(move || {
                // Each writer's manifest differs by a layer of its own size.
                let (d, m, mut refs) = manifest((config, 9), &[], Some((subject, size)));
                let mut json: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
                json["annotations"] = serde_json::json!({ "writer": i.to_string() });
                let bytes = serde_json::to_vec(&json).unwrap();
                let d2 = Digest::sha256_of(&bytes);
                let (_, mut descriptor) = refs.subject.take().unwrap();
                descriptor.digest = d2.clone();
                descriptor.size = bytes.len() as u64;
                refs.subject = Some((subject.clone(), descriptor));
                let m = StoredManifest { bytes, ..m };
                assert_ne!(d, d2);
                s.put_manifest(r, &d2, &m, &refs, &[&format!("w{i:02}")])
                    .unwrap();
            });
        }
    });
    let tags = storages[1].list_tags(&r).unwrap().unwrap();
    let expected: Vec<String> = (0..16).map(|i| format!("w{i:02}")).collect();
    assert_eq!(tags, expected);
    assert_eq!(storages[2].referrers(&r, &subject).unwrap().len(), 16);
    assert_eq!(storages[0].list_manifests(&r).unwrap().len(), 17);
}

#[test]
fn garage_ignores_conditional_writes_so_the_check_then_write_fallback_is_used() {
    let garage = cluster();
    let prefix = "core-conditional";
    let s = S3Storage::open(config(&garage, 0, prefix)).unwrap();
    assert!(
        !s.honours_conditional_writes(),
        "Garage 2.5 ignores If-None-Match on PutObject"
    );
    let r = repo("app");
    let (first, m1, refs1) = small_image(&garage, prefix, &["app"], "one");
    let (second, m2, refs2) = small_image(&garage, prefix, &["app"], "two");
    let absent = TagCondition::Absent;
    assert_eq!(
        s.put_manifest_if(&r, &first, &m1, &refs1, "t", &absent)
            .unwrap(),
        TagWrite::Written
    );
    assert_eq!(
        s.put_manifest_if(&r, &second, &m2, &refs2, "t", &absent)
            .unwrap(),
        TagWrite::Refused {
            current: Some(first.clone())
        }
    );
    let wrong = TagCondition::Matches(second.clone());
    assert_eq!(
        s.put_manifest_if(&r, &second, &m2, &refs2, "t", &wrong)
            .unwrap(),
        TagWrite::Refused {
            current: Some(first.clone())
        }
    );
    let right = TagCondition::Matches(first);
    assert_eq!(
        s.put_manifest_if(&r, &second, &m2, &refs2, "t", &right)
            .unwrap(),
        TagWrite::Written
    );
    assert_eq!(s.resolve_tag(&r, "t").unwrap(), Some(second));
    // The probe leaves nothing behind.
    let store = raw_store(&garage);
    let left: Vec<_> = runtime()
        .block_on(
            store
                .list(Some(&format!("{prefix}/probes").as_str().into()))
                .try_collect(),
        )
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_presigned_url_serves_the_blob_and_none_is_made_unless_asked() {
    let garage = cluster();
    let prefix = "core-presign";
    let bytes = b"presigned blob bytes".repeat(1000);
    let digest = seed_blob(&garage, prefix, &["app"], &bytes);
    let r = repo("app");
    assert_eq!(
        open(&garage, 0, prefix).blob_url(&r, &digest).unwrap(),
        None
    );

    let mut c = config(&garage, 1, prefix);
    c.presign = Some(std::time::Duration::from_mins(5));
    let s = S3Storage::open(c).unwrap();
    let url = s.blob_url(&r, &digest).unwrap().expect("presign is set");
    assert!(url.starts_with(&garage.endpoint(1)), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let (status, body) = runtime().block_on(async {
        let response = reqwest::get(&url).await.unwrap();
        (response.status(), response.bytes().await.unwrap())
    });
    assert_eq!(status, 200);
    assert!(body == bytes, "the URL serves the blob's bytes");
    // A tampered signature is refused by the store.
    let tampered = url.replace("X-Amz-Expires=300", "X-Amz-Expires=301");
    let status = runtime().block_on(async { reqwest::get(&tampered).await.unwrap().status() });
    assert_eq!(status, 403);
}
