//! End to end against a real registry (Debian's `docker-registry`): an image holding a
//! v3 binary compiled here is pushed with skopeo, inspected, judged for two hosts, labelled,
//! and the labels read back with skopeo.

use std::collections::BTreeMap;

use paks_inspect::{
    ImageSource, IsaLevel, IsaSource, Status, compat, computed_labels, inspect, label,
};
use paks_oci::layout::Layout;
use paks_oci::{Client, ClientConfig, ImageManifest, Reference};
use paks_testkit::{DockerRegistry, skopeo};

use crate::images::write_image;
use crate::support::{Entry, config, fixtures, glibc_layer, gzip, host, layer, read};

#[tokio::test]
async fn inspect_judge_and_label_in_a_registry() {
    let f = fixtures();
    let registry = DockerRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let m = write_image(
        &layout,
        &config(&[("org.opencontainers.image.title", "v3 demo")], &[]),
        &[
            gzip(&glibc_layer()),
            gzip(&layer(&[
                Entry::Dir("usr/bin"),
                Entry::File("usr/bin/fast", read(&f.v3)),
            ])),
        ],
        BTreeMap::new(),
    );
    layout.add_manifest(m, Some("v1")).unwrap();
    let image = format!("{}/inspect/demo:v1", registry.host());
    skopeo(&[
        "copy".to_owned(),
        "--dest-tls-verify=false".to_owned(),
        format!("oci:{}:v1", dir.path().display()),
        format!("docker://{image}"),
    ]);

    let client = Client::new(ClientConfig::default()).unwrap();
    let source: ImageSource = image.parse().unwrap();
    let report = inspect(&client, &source).await.unwrap();
    assert_eq!(report.source, image);
    assert_eq!(report.binaries.len(), 3, "{:?}", report.binaries);
    let isa = report.summary.isa.clone().unwrap();
    assert_eq!(
        (isa.level, isa.source, isa.binary.as_deref()),
        (IsaLevel::V3, IsaSource::Estimated, Some("/usr/bin/fast"))
    );
    assert!(
        report.summary.missing.is_empty(),
        "{:?}",
        report.summary.missing
    );

    // Opposite verdicts for a v3 and a v2 host.
    assert_eq!(compat(&report, &host("x86_64_v3")).status, Status::Runs);
    let v = compat(&report, &host("x86_64_v2"));
    assert_eq!(v.status, Status::WillNotRun);
    assert!(
        v.reasons[0]
            .message
            .contains("`/usr/bin/fast` needs x86-64-v3 (estimated)"),
        "{v:?}"
    );

    // Label it: the tag moves to a new manifest with the same layers.
    let labels = computed_labels(&report);
    assert_eq!(labels["io.paks.isa-level"], "x86-64-v3");
    let reference: Reference = image.parse().unwrap();
    let old = client.get_manifest(&reference).await.unwrap();
    let new_ref = label(&client, &reference, &labels).await.unwrap();
    let new_digest = new_ref.digest.clone().unwrap();
    assert_ne!(new_digest, old.digest);
    assert_eq!(new_ref.tag.as_deref(), Some("v1"));
    let moved = client.get_manifest(&reference).await.unwrap();
    assert_eq!(moved.digest, new_digest);
    let layers = |bytes: &[u8]| {
        serde_json::from_slice::<ImageManifest>(bytes)
            .unwrap()
            .layers
    };
    assert_eq!(layers(&moved.bytes), layers(&old.bytes));

    let out = skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    let config: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got = &config["config"]["Labels"];
    assert_eq!(got["io.paks.isa-level"], "x86-64-v3");
    assert_eq!(got["io.paks.isa-level-source"], "estimated");
    assert_eq!(got["org.supercontainers.glibc"], "2.34");
    assert_eq!(got["io.paks.glibc.required"], "2.34");
    assert_eq!(got["io.paks.glibc.provided"], "2.36");
    assert_eq!(
        got["org.opencontainers.image.title"], "v3 demo",
        "existing labels are kept"
    );
    assert!(got.get("org.supercontainers.mpi").is_none());

    // Inspecting again sees the labels and the new digest.
    let again = inspect(&client, &source).await.unwrap();
    assert_eq!(again.manifest_digest, Some(new_digest.to_string()));
    assert_eq!(again.labels["io.paks.isa-level"], "x86-64-v3");
    assert_eq!(again.binaries, report.binaries);
}
