//! `Remote::copy` carries referrers: an image's SBOM and the signature of that SBOM go
//! from Debian's `docker-registry` (the `sha256-<hex>` tag fallback) into an OCI layout,
//! through an `oci-archive:`, and back into other repositories, by their digests; copying
//! again lists nothing twice.

use std::collections::BTreeMap;

use paks_oci::{
    Client, ClientConfig, Descriptor, Digest, EMPTY_JSON, ImageIndex, ImageManifest, Location,
    Manifest, OCI_MANIFEST, Reference, Repository, referrers_tag,
};
use paks_remote::{Remote, attach};
use paks_store::Store;
use paks_testkit::DockerRegistry;
use paks_types::NoReporter;

fn repo(host: &str, name: &str) -> Repository {
    Repository {
        registry: host.to_owned(),
        name: name.to_owned(),
    }
}

/// An image tagged `1.0` in `repo` (empty config, one layer), with an SBOM attached to
/// it and a signature attached to the SBOM: (image, SBOM, signature).
async fn image_with_attachments(
    client: &Client,
    repo: &Repository,
) -> (Descriptor, Descriptor, Descriptor) {
    client.push_blob_bytes(repo, EMPTY_JSON).await.unwrap();
    let body = b"the image's only layer";
    let layer = client.push_blob_bytes(repo, body).await.unwrap();
    let image = ImageManifest::artifact(
        "application/vnd.example.image",
        vec![Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar",
            layer,
            body.len() as u64,
        )],
        None,
        BTreeMap::new(),
    );
    let image = Manifest::new(OCI_MANIFEST, image.to_bytes());
    client
        .put_manifest(&repo.reference_tag("1.0"), OCI_MANIFEST, &image.bytes)
        .await
        .unwrap();
    let image = image.descriptor();
    let sbom = attach::attach(
        client,
        repo,
        &image,
        "application/spdx+json",
        "application/spdx+json",
        br#"{"spdxVersion":"SPDX-2.3"}"#,
        BTreeMap::new(),
    )
    .await
    .unwrap();
    let signature = attach::attach(
        client,
        repo,
        &sbom,
        "application/vnd.paks.signature.v1+json",
        "application/vnd.dsse.envelope.v1+json",
        b"signed",
        BTreeMap::new(),
    )
    .await
    .unwrap();
    (image, sbom, signature)
}

/// The digests `repo` lists as referrers of `subject`.
async fn referrer_digests(client: &Client, repo: &Repository, subject: &Digest) -> Vec<Digest> {
    attach::list(client, repo, subject, None)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.digest)
        .collect()
}

/// The entries of `repo`'s fallback index for `subject`.
async fn fallback_entries(client: &Client, repo: &Repository, subject: &Digest) -> usize {
    let m = client
        .get_manifest(&repo.reference_tag(&referrers_tag(subject)))
        .await
        .unwrap();
    serde_json::from_slice::<ImageIndex>(&m.bytes)
        .unwrap()
        .manifests
        .len()
}

/// Requires `repo` to list `sbom` as the only referrer of `image`, and `signature` as
/// the only one of `sbom`.
async fn assert_chain(
    client: &Client,
    repo: &Repository,
    (image, sbom, signature): (&Descriptor, &Descriptor, &Descriptor),
) {
    assert_eq!(
        referrer_digests(client, repo, &image.digest).await,
        vec![sbom.digest.clone()],
        "in {repo}"
    );
    assert_eq!(
        referrer_digests(client, repo, &sbom.digest).await,
        vec![signature.digest.clone()],
        "in {repo}"
    );
}

/// Copies, requiring the two referrers to be counted.
async fn copy(remote: &Remote<'_>, src: &Location, dst: &Location) {
    let report = remote.copy(src, dst, &NoReporter).await.unwrap();
    assert_eq!(report.referrers, 2, "{src} -> {dst}: {report:?}");
}

fn registry(reference: &str) -> Location {
    Location::Registry(reference.parse::<Reference>().unwrap())
}

#[tokio::test]
async fn referrers_travel_through_a_layout_and_an_archive_with_their_digests() {
    let reg = DockerRegistry::start();
    let client = Client::new(ClientConfig::default()).unwrap();
    let src = repo(reg.host(), "src/hello");
    let (image, sbom, signature) = image_with_attachments(&client, &src).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    let remote = Remote::new(client.clone(), &store);

    // Registry (tag fallback) → layout.
    let layout_dir = dir.path().join("layout");
    let layout = Location::Layout {
        dir: layout_dir.clone(),
        tag: None,
    };
    let report = remote
        .copy(
            &registry(&format!("{}/src/hello:1.0", reg.host())),
            &layout,
            &NoReporter,
        )
        .await
        .unwrap();
    assert_eq!(report.referrers, 2, "{report:?}");
    assert_eq!(report.manifests, 3, "{report:?}");
    let opened = paks_oci::layout::Layout::open(&layout_dir).unwrap();
    let of_image: Vec<Digest> = opened
        .referrers(&image.digest)
        .unwrap()
        .into_iter()
        .map(|d| d.digest)
        .collect();
    assert_eq!(of_image, vec![sbom.digest.clone()]);
    assert_eq!(
        opened.referrers(&sbom.digest).unwrap()[0].digest,
        signature.digest
    );

    // Layout → archive → registry.
    let archive = Location::OciArchive {
        file: dir.path().join("carry.tar"),
        tag: None,
    };
    copy(&remote, &layout, &archive).await;
    let dst_ns = registry(&format!("{}/dst", reg.host()));
    copy(&remote, &archive, &dst_ns).await;
    let dst = repo(reg.host(), "dst/hello");
    let chain = (&image, &sbom, &signature);
    assert_chain(&client, &dst, chain).await;
    let (_, layer) = attach::fetch(&client, &dst, &signature).await.unwrap();
    assert_eq!(layer, b"signed");

    // Copying again lists each referrer once.
    copy(&remote, &archive, &dst_ns).await;
    assert_eq!(fallback_entries(&client, &dst, &image.digest).await, 1);
    assert_eq!(fallback_entries(&client, &dst, &sbom.digest).await, 1);

    // One tag of a layout, to an exact name: its referrers follow it there.
    let one_tag = Location::Layout {
        dir: layout_dir.clone(),
        tag: Some("1.0".into()),
    };
    copy(
        &remote,
        &one_tag,
        &registry(&format!("{}/exact/img:2.0", reg.host())),
    )
    .await;
    assert_chain(&client, &repo(reg.host(), "exact/img"), chain).await;
}
