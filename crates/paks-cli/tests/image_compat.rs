//! `paks inspect`, `paks compat` and `paks label` on a real image in a loopback registry
//! (`paks serve`), in an OCI layout, and read back by skopeo.

mod common;

use std::path::Path;

use common::{Env, paks_bin, text};
use paks_testkit::{PaksServe, busybox_layout, skopeo};

#[test]
fn compat_gives_opposite_verdicts_for_two_hosts_and_label_writes_the_config() {
    let env = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
    let layout = env.dir.path().join("layout");
    busybox_layout(&layout, "1");
    let image = format!("{}/acme/busybox:1", server.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{image}"),
    ]);

    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", &image, "--json"])).unwrap();
    assert_eq!(report["platform"], "linux/amd64", "{report}");
    assert!(
        report["binaries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["path"].as_str().unwrap().ends_with("bin/busybox")),
        "{report}"
    );
    // The same image from the OCI layout.
    let from_layout: serde_json::Value = serde_json::from_str(&env.ok(&[
        "inspect",
        &format!("oci:{}:1", layout.display()),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        from_layout["summary"]["binaries"],
        report["summary"]["binaries"]
    );

    // This host runs it; an arm64 host does not (exit 1, with the reason).
    let here = env.ok(&["compat", &image]);
    assert!(here.contains(": runs"), "{here}");
    let arm = env.dir.path().join("arm.json");
    std::fs::write(&arm, r#"{"arch": "arm64"}"#).unwrap();
    let out = env.run(&["compat", &image, "--host", arm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("will not run"), "{said}");
    assert!(said.contains("arm64"), "{said}");

    // Labels: computed, pushed into a new config, read back by skopeo.
    let labels: serde_json::Value =
        serde_json::from_str(&env.ok(&["label", &image, "--push", "--json"])).unwrap();
    let labels = labels.as_object().unwrap();
    assert!(!labels.is_empty());
    let config: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]))
    .unwrap();
    for (k, v) in labels {
        assert_eq!(&config["config"]["Labels"][k], v, "label {k}: {config}");
    }
    // The labelled image still runs here, and its layers are unchanged.
    env.ok(&["compat", &image]);
}
