//! Round trips against Debian's `docker-registry` (distribution 2.8), unauthenticated.

use std::sync::atomic::Ordering;

use paks_oci::{
    Credentials, Descriptor, Digest, ImageIndex, ImageManifest, Manifest, OCI_EMPTY, OCI_INDEX,
    OCI_MANIFEST, Platform, PushedBlob, Reference, Repository, referrers_tag,
};
use paks_testkit::DockerRegistry;

use crate::support::{
    TestImage, client, client_with, entries, progress_counter, proxy, random_bytes,
};

fn repo(host: &str, name: &str) -> Repository {
    format!("{host}/{name}").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_blob_is_pushed_whole_then_skipped_and_pulled_verified() {
    let registry = DockerRegistry::start();
    let proxy = proxy::start(registry.host()).await;
    let client = client(Credentials::none());
    client.ping(&proxy.host()).await.unwrap();
    let repo = repo(&proxy.host(), "paks/small");
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(100_000, 1);
    let digest = Digest::sha256_of(&data);
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();

    assert_eq!(client.blob_size(&repo, &digest).await.unwrap(), None);
    let (sent, progress) = progress_counter();
    let pushed = client
        .push_blob(&repo, &digest, data.len() as u64, &src, None, &progress)
        .await
        .unwrap();
    assert_eq!(pushed, PushedBlob::Uploaded);
    assert_eq!(sent.load(Ordering::Relaxed), data.len() as u64);
    let calls: Vec<String> = proxy.calls().into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        calls,
        ["GET", "HEAD", "HEAD", "POST", "PUT"],
        "monolithic: POST then one PUT"
    );
    let put = proxy.requests().pop().unwrap();
    assert_eq!(put.header("content-type"), Some("application/octet-stream"));
    assert_eq!(put.query("digest"), Some(digest.to_string()));
    assert_eq!(put.body, data);

    // A second push only asks.
    let before = proxy.requests().len();
    let pushed = client
        .push_blob(&repo, &digest, data.len() as u64, &src, None, &|_| {})
        .await
        .unwrap();
    assert_eq!(pushed, PushedBlob::Existed);
    let after: Vec<(String, String)> = proxy.calls().split_off(before);
    assert_eq!(
        after,
        [("HEAD".to_owned(), format!("/v2/paks/small/blobs/{digest}"))]
    );
    assert_eq!(
        client.blob_size(&repo, &digest).await.unwrap(),
        Some(data.len() as u64)
    );

    let dest = dir.path().join("cache/blobs/x");
    let (got, progress) = progress_counter();
    client
        .pull_blob(&repo, &digest, Some(data.len() as u64), &dest, &progress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(got.load(Ordering::Relaxed), data.len() as u64);
    assert_eq!(
        entries(dest.parent().unwrap()),
        ["x"],
        "no temp file is left"
    );
    // Present with the right size: no request at all.
    let before = proxy.requests().len();
    client
        .pull_blob(&repo, &digest, Some(data.len() as u64), &dest, &|_| {})
        .await
        .unwrap();
    assert_eq!(proxy.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_blob_goes_in_chunks_and_comes_back_intact() {
    let registry = DockerRegistry::start();
    let proxy = proxy::start(registry.host()).await;
    let client = client(Credentials::none());
    let repo = repo(&proxy.host(), "paks/large");
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(40 * 1024 * 1024, 2);
    let digest = Digest::sha256_of(&data);
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();

    let (sent, progress) = progress_counter();
    let pushed = client
        .push_blob(&repo, &digest, data.len() as u64, &src, None, &progress)
        .await
        .unwrap();
    assert_eq!(pushed, PushedBlob::Uploaded);
    assert_eq!(sent.load(Ordering::Relaxed), data.len() as u64);
    let patches: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    let ranges: Vec<_> = patches
        .iter()
        .map(|r| r.header("content-range").unwrap().to_owned())
        .collect();
    let mib = 1024 * 1024;
    assert_eq!(
        ranges,
        [
            format!("0-{}", 16 * mib - 1),
            format!("{}-{}", 16 * mib, 32 * mib - 1),
            format!("{}-{}", 32 * mib, 40 * mib - 1)
        ]
    );
    assert!(
        patches
            .iter()
            .all(|r| r.header("content-type") == Some("application/octet-stream"))
    );
    let put = proxy
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PUT")
        .unwrap();
    assert!(put.body.is_empty());
    assert_eq!(put.query("digest"), Some(digest.to_string()));

    let dest = dir.path().join("pulled");
    let (got, progress) = progress_counter();
    client
        .pull_blob(&repo, &digest, Some(data.len() as u64), &dest, &progress)
        .await
        .unwrap();
    assert_eq!(got.load(Ordering::Relaxed), data.len() as u64);
    assert_eq!(Digest::sha256_of(&std::fs::read(&dest).unwrap()), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount() {
    let registry = DockerRegistry::start();
    let proxy = proxy::start(registry.host()).await;
    let client = client(Credentials::none());
    let (a, b, c) = (
        repo(&proxy.host(), "ns/a"),
        repo(&proxy.host(), "ns/b"),
        repo(&proxy.host(), "ns/c"),
    );
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(5000, 3);
    let digest = Digest::sha256_of(&data);
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();
    let size = data.len() as u64;
    client
        .push_blob(&a, &digest, size, &src, None, &|_| {})
        .await
        .unwrap();

    let before = proxy.requests().len();
    assert_eq!(
        client
            .push_blob(&b, &digest, size, &src, Some(&a), &|_| {})
            .await
            .unwrap(),
        PushedBlob::Mounted
    );
    let after = proxy.requests().split_off(before);
    assert_eq!(after.len(), 2, "HEAD, then the mount");
    assert_eq!(after[1].method, "POST");
    assert_eq!(after[1].query("mount"), Some(digest.to_string()));
    assert_eq!(after[1].query("from"), Some("ns/a".to_owned()));
    assert_eq!(client.blob_size(&b, &digest).await.unwrap(), Some(size));

    // Mounting from a repository without the blob: the 202 session is used to upload.
    let other = random_bytes(3000, 4);
    let other_digest = Digest::sha256_of(&other);
    std::fs::write(&src, &other).unwrap();
    let before = proxy.requests().len();
    assert_eq!(
        client
            .push_blob(
                &c,
                &other_digest,
                other.len() as u64,
                &src,
                Some(&a),
                &|_| {}
            )
            .await
            .unwrap(),
        PushedBlob::Uploaded
    );
    let methods: Vec<String> = proxy
        .requests()
        .split_off(before)
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(methods, ["HEAD", "POST", "PUT"]);
    assert_eq!(
        client.blob_size(&c, &other_digest).await.unwrap(),
        Some(other.len() as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_by_tag_and_digest() {
    let registry = DockerRegistry::start();
    let client = client(Credentials::none());
    let repo = repo(registry.host(), "paks/hello");
    let image = TestImage::new("hello");
    let digest = image.push(&client, &repo, "1.0").await;
    assert_eq!(digest, image.manifest_digest());

    let by_tag = client
        .get_manifest(&repo.reference_tag("1.0"))
        .await
        .unwrap();
    assert_eq!(
        by_tag,
        Manifest {
            digest: digest.clone(),
            media_type: OCI_MANIFEST.into(),
            bytes: image.manifest.clone()
        }
    );
    let by_digest = client
        .get_manifest(&repo.reference_digest(&digest))
        .await
        .unwrap();
    assert_eq!(by_digest, by_tag);
    let parsed: ImageManifest = serde_json::from_slice(&by_digest.bytes).unwrap();
    assert_eq!(parsed.layers[0].size, image.layer.len() as u64);
    assert_eq!(
        client
            .head_manifest(&repo.reference_tag("1.0"))
            .await
            .unwrap(),
        Some((
            digest.clone(),
            image.manifest.len() as u64,
            OCI_MANIFEST.to_owned()
        ))
    );
    assert_eq!(
        client
            .head_manifest(&repo.reference_tag("nope"))
            .await
            .unwrap(),
        None
    );
    let e = client
        .get_manifest(&repo.reference_tag("nope"))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.registry_code(), Some("MANIFEST_UNKNOWN"));
    assert!(
        e.to_string()
            .contains(&format!("`{}/paks/hello:nope`", registry.host())),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_tags_and_deletes() {
    let registry = DockerRegistry::start();
    let client = client(Credentials::none());
    let repo = repo(registry.host(), "paks/hello");
    let image = TestImage::new("hello");
    let digest = image.push(&client, &repo, "1.0").await;
    let by_tag = client
        .get_manifest(&repo.reference_tag("1.0"))
        .await
        .unwrap();
    assert_eq!(by_tag.digest, digest);

    // An index over it, by tag and by digest.
    let mut entry = by_tag.descriptor();
    entry.platform = Some(Platform::from(
        &"linux/amd64".parse::<paks_types::Platform>().unwrap(),
    ));
    let index = ImageIndex {
        manifests: vec![entry],
        annotations: [(
            "org.opencontainers.image.version".to_owned(),
            "1.0".to_owned(),
        )]
        .into(),
        ..ImageIndex::default()
    };
    let index_bytes = index.to_bytes();
    let index_digest = Digest::sha256_of(&index_bytes);
    let pinned: Reference = format!("{}/paks/hello@{index_digest}", registry.host())
        .parse()
        .unwrap();
    assert_eq!(
        client
            .put_manifest(&pinned, OCI_INDEX, &index_bytes)
            .await
            .unwrap(),
        index_digest
    );
    assert_eq!(
        client
            .put_manifest(&repo.reference_tag("latest"), OCI_INDEX, &index_bytes)
            .await
            .unwrap(),
        index_digest
    );
    let got = client
        .get_manifest(&repo.reference_tag("latest"))
        .await
        .unwrap();
    assert_eq!(
        (got.media_type.as_str(), &got.bytes),
        (OCI_INDEX, &index_bytes)
    );
    assert!(got.is_index());
    let parsed: ImageIndex = serde_json::from_slice(&got.bytes).unwrap();
    assert_eq!(parsed, index);

    // A digest that does not match the bytes is refused before sending.
    let wrong = repo.reference_digest(&Digest::sha256_of(b"other"));
    let e = client
        .put_manifest(&wrong, OCI_INDEX, &index_bytes)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("is not the digest of the manifest"),
        "{e}"
    );

    let mut tags = client.list_tags(&repo).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["1.0", "latest"]);
    let e = client
        .list_tags(&format!("{}/paks/none", registry.host()).parse().unwrap())
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // Distribution deletes by digest, and refuses by tag.
    client
        .delete_manifest(&repo.reference_digest(&index_digest))
        .await
        .unwrap();
    let e = client
        .get_manifest(&repo.reference_tag("latest"))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = client
        .delete_manifest(&repo.reference_tag("1.0"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    client
        .get_manifest(&repo.reference_tag("1.0"))
        .await
        .unwrap();
}

/// An artifact manifest referring to `subject`.
fn referrer(subject: &Manifest, artifact_type: &str, note: &str) -> Vec<u8> {
    ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: Some(artifact_type.into()),
        config: Descriptor::new(OCI_EMPTY, Digest::sha256_of(b"{}"), 2),
        layers: vec![Descriptor::new(
            "text/plain",
            Digest::sha256_of(note.as_bytes()),
            note.len() as u64,
        )],
        subject: Some(subject.descriptor()),
        annotations: [("org.example.note".to_owned(), note.to_owned())].into(),
    }
    .to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_through_the_tag_fallback_with_artifact_type_filter() {
    let registry = DockerRegistry::start();
    let client = client_with(paks_oci::ClientConfig::default());
    let repo = repo(registry.host(), "paks/signed");
    let image = TestImage::new("signed");
    let subject_digest = image.push(&client, &repo, "1.0").await;
    let subject = client
        .get_manifest(&repo.reference_digest(&subject_digest))
        .await
        .unwrap();
    assert!(
        client
            .referrers(&repo, &subject_digest, None)
            .await
            .unwrap()
            .is_empty()
    );

    client.push_blob_bytes(&repo, b"{}").await.unwrap();
    let mut descriptors = Vec::new();
    for (kind, note) in [
        ("application/vnd.example.sbom", "sbom"),
        ("application/vnd.example.sig", "sig"),
    ] {
        client
            .push_blob_bytes(&repo, note.as_bytes())
            .await
            .unwrap();
        let bytes = referrer(&subject, kind, note);
        let digest = client
            .put_manifest(
                &repo.reference_digest(&Digest::sha256_of(&bytes)),
                OCI_MANIFEST,
                &bytes,
            )
            .await
            .unwrap();
        let d = Manifest {
            digest,
            media_type: OCI_MANIFEST.into(),
            bytes,
        }
        .referrer_descriptor()
        .unwrap();
        client
            .add_referrer_fallback(&repo, &subject_digest, d.clone())
            .await
            .unwrap();
        // Idempotent.
        client
            .add_referrer_fallback(&repo, &subject_digest, d.clone())
            .await
            .unwrap();
        descriptors.push(d);
    }
    let all = client
        .referrers(&repo, &subject_digest, None)
        .await
        .unwrap();
    assert_eq!(all, descriptors);
    let sboms = client
        .referrers(&repo, &subject_digest, Some("application/vnd.example.sbom"))
        .await
        .unwrap();
    assert_eq!(sboms, descriptors[..1]);
    assert_eq!(sboms[0].annotations["org.example.note"], "sbom");
    assert!(
        client
            .referrers(&repo, &subject_digest, Some("application/none"))
            .await
            .unwrap()
            .is_empty()
    );
    // The tag holds a plain OCI index.
    let tag = client
        .get_manifest(&repo.reference_tag(&referrers_tag(&subject_digest)))
        .await
        .unwrap();
    assert_eq!(tag.media_type, OCI_INDEX);
    let index: ImageIndex = serde_json::from_slice(&tag.bytes).unwrap();
    assert_eq!(index.manifests.len(), 2);

    // A tag that holds something else is left alone.
    let other = Digest::sha256_of(b"no such subject");
    client
        .put_manifest(
            &repo.reference_tag(&referrers_tag(&other)),
            OCI_MANIFEST,
            &image.manifest,
        )
        .await
        .unwrap();
    let e = client
        .add_referrer_fallback(&repo, &other, descriptors[0].clone())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not an image index"), "{e}");
    assert!(
        client
            .referrers(&repo, &other, None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A part file that already holds the whole blob (its writer was stopped between the last
/// byte and the rename, or a second download locked the file just after the first renamed
/// it): the download finishes from it, rather than asking for the bytes after the end
/// (which a registry answers 416, and which failed the download).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_file_holding_the_whole_blob_finishes_the_download() {
    let registry = DockerRegistry::start();
    let client = client(Credentials::none());
    let repo = repo(registry.host(), "paks/whole-part");
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(1188, 3);
    let digest = Digest::sha256_of(&data);
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();
    client
        .push_blob(&repo, &digest, data.len() as u64, &src, None, &|_| {})
        .await
        .unwrap();
    let dest = dir.path().join("cache").join("blob");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let part = dir.path().join("cache").join(".blob.part");
    // The whole blob, and then the whole blob with its last byte wrong.
    for (content, what) in [
        (data.clone(), "right"),
        (
            {
                let mut d = data.clone();
                *d.last_mut().unwrap() ^= 0xff;
                d
            },
            "wrong",
        ),
    ] {
        let _ = std::fs::remove_file(&dest);
        std::fs::write(&part, &content).unwrap();
        client
            .pull_blob(&repo, &digest, Some(data.len() as u64), &dest, &|_| {})
            .await
            .unwrap_or_else(|e| panic!("with the {what} bytes in the part file: {e:?}"));
        assert_eq!(std::fs::read(&dest).unwrap(), data, "{what}");
    }
}

/// Many downloads of one blob to one destination at once, in one process (an image's
/// packages sharing a layer): every one succeeds and the blob is intact. The part file was
/// unlocked before it was renamed into the blob, so a second download could take it in
/// between, find it complete, and fail renaming a file that had gone (`bench/catalogue`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_downloads_of_one_blob_all_succeed() {
    let registry = DockerRegistry::start();
    let client = client(Credentials::none());
    let repo = repo(registry.host(), "paks/shared");
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(1188, 4);
    let digest = Digest::sha256_of(&data);
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();
    client
        .push_blob(&repo, &digest, data.len() as u64, &src, None, &|_| {})
        .await
        .unwrap();
    for round in 0..100 {
        let dest = dir.path().join(format!("cache-{round}")).join("blob");
        let pulls = (0..8).map(|_| {
            let (client, repo, digest, dest) =
                (client.clone(), repo.clone(), digest.clone(), dest.clone());
            tokio::spawn(async move {
                client
                    .pull_blob(&repo, &digest, Some(1188), &dest, &|_| {})
                    .await
            })
        });
        for pull in futures_util::future::join_all(pulls).await {
            pull.unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        }
        assert_eq!(std::fs::read(&dest).unwrap(), data, "round {round}");
    }
}
