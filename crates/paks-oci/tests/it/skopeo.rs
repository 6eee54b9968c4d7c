//! Interoperability with skopeo (and umoci as a strict layout validator): layouts written
//! here are copied by skopeo, and what this client pushes is what skopeo reads.

use paks_oci::layout::Layout;
use paks_oci::{Credentials, Descriptor, Digest, OCI_CONFIG, OCI_MANIFEST, Repository};
use paks_testkit::{DockerRegistry, skopeo, umoci};

use crate::support::{TestImage, client};

/// Write `image` into a layout, tagged `tag`.
fn write_layout(layout: &Layout, image: &TestImage, tag: &str) -> Digest {
    layout.write_blob_bytes(&image.config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    std::fs::write(&layer, &image.layer).unwrap();
    layout
        .write_blob_from(&Digest::sha256_of(&image.layer), &layer)
        .unwrap();
    let digest = layout.write_blob_bytes(&image.manifest).unwrap();
    layout
        .add_manifest(
            Descriptor::new(OCI_MANIFEST, digest.clone(), image.manifest.len() as u64),
            Some(tag),
        )
        .unwrap();
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_written_here_is_copied_by_skopeo_and_pulled_back() {
    let registry = DockerRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    let layout = Layout::create(&layout_dir).unwrap();
    let image = TestImage::new("from a layout");
    let digest = write_layout(&layout, &image, "1.0");

    // umoci checks digests, sizes and the config strictly.
    let image_arg = format!("{}:1.0", layout_dir.display());
    let stat = umoci(&["stat", "--image", &image_arg]);
    assert!(stat.contains("paks test"), "{stat}");

    let src = format!("oci:{}:1.0", layout_dir.display());
    let dest = format!("docker://{}/interop/fromlayout:1.0", registry.host());
    skopeo(&["copy", "--dest-tls-verify=false", &src, &dest]);

    let client = client(Credentials::none());
    let repo: Repository = format!("{}/interop/fromlayout", registry.host())
        .parse()
        .unwrap();
    let m = client
        .get_manifest(&repo.reference_tag("1.0"))
        .await
        .unwrap();
    assert_eq!(m.digest, digest, "skopeo kept the manifest byte for byte");
    assert_eq!(m.bytes, image.manifest);
    let pulled = dir.path().join("pulled-config");
    client
        .pull_blob(
            &repo,
            &Digest::sha256_of(&image.config),
            Some(image.config.len() as u64),
            &pulled,
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&pulled).unwrap(), image.config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_this_client_pushes_is_what_skopeo_reads() {
    let registry = DockerRegistry::start();
    let client = client(Credentials::none());
    let repo: Repository = format!("{}/interop/pushed", registry.host())
        .parse()
        .unwrap();
    let image = TestImage::new("pushed by paks");
    let digest = image.push(&client, &repo, "2.0").await;

    let reference = format!("docker://{}/interop/pushed:2.0", registry.host());
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &reference]);
    assert_eq!(raw.as_bytes(), image.manifest, "skopeo sees our bytes");
    let inspected = skopeo(&["inspect", "--tls-verify=false", &reference]);
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["Digest"], digest.to_string());

    // And into a layout by skopeo, read here.
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("copy");
    let dest = format!("oci:{}:2.0", layout_dir.display());
    skopeo(&["copy", "--src-tls-verify=false", &reference, &dest]);
    let layout = Layout::open(&layout_dir).unwrap();
    let entry = layout.resolve("2.0").unwrap();
    assert_eq!(entry.digest, digest);
    assert_eq!(entry.media_type, OCI_MANIFEST);
    let manifest: paks_oci::ImageManifest =
        serde_json::from_slice(&layout.read_blob(&digest).unwrap()).unwrap();
    assert_eq!(manifest.config.media_type, OCI_CONFIG);
    assert_eq!(
        layout.read_blob(&manifest.config.digest).unwrap(),
        image.config
    );
    assert!(layout.has_blob(&manifest.layers[0].digest));
}
