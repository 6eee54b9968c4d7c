//! The catalogue's view of images (`Catalog::image`: layers mapped to packages) and its
//! compatibility verdict (`paks_catalog::verdict`), over what a real `paks serve` holds:
//! packages built and pushed with `paks`, images composed with `paks image build`, a plain
//! busybox copied with skopeo; host profiles made by editing `paks host --json`.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, catalog_over, paks_bin};
use paks_catalog::model::{Image, VerdictBasis, VerdictStatus};
use paks_catalog::{Catalog, verdict};
use paks_registry::auth::Identity;
use paks_testkit::{PaksServe, busybox_glibc_layout, busybox_layout, skopeo};
use serde_json::{Value, json};

/// paks serve holding libgreet, hello and hello-script in `acme/`, the images `acme/app:1`
/// (hello and hello-script on a busybox + glibc base) and `acme/app:v4` (the same, labelled
/// as needing x86-64-v4), and a plain busybox at `acme/busybox:1`.
struct Fixture {
    env: Env,
    data: PathBuf,
    _server: PaksServe,
}

impl Fixture {
    fn new() -> Self {
        let env = Env::new();
        let data = env.dir.path().join("data");
        let server = PaksServe::start(Path::new(paks_bin()), &data, &[]);
        let host = server.host();
        env.build("libgreet");
        for example in ["hello", "hello-script"] {
            let pak = env.build(example);
            env.ok(&[
                "push",
                pak.to_str().unwrap(),
                &format!("{host}/acme/{example}"),
            ]);
        }
        for (name, layout, tag) in [
            ("base", "base/busybox", "1"),
            ("plain", "acme/busybox", "1"),
        ] {
            let dir = env.dir.path().join(name);
            if name == "base" {
                busybox_glibc_layout(&dir, "1");
            } else {
                busybox_layout(&dir, "1");
            }
            skopeo(&[
                "copy",
                "--dest-tls-verify=false",
                &format!("oci:{}:1", dir.display()),
                &format!("docker://{host}/{layout}:{tag}"),
            ]);
        }
        for (tag, extra) in [("1", None), ("v4", Some("io.paks.isa-level=x86-64-v4"))] {
            let app = format!("{host}/acme/app:{tag}");
            let mut args = vec![
                "image".to_owned(),
                "build".to_owned(),
                format!("{host}/acme/hello:1.0.0"),
                format!("{host}/acme/hello-script:0.2.0"),
                "--from".to_owned(),
                format!("{host}/base/busybox:1"),
                "--tag".to_owned(),
                app,
            ];
            if let Some(label) = extra {
                args.extend(["--label".to_owned(), label.to_owned()]);
            }
            env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        }
        Self {
            env,
            data,
            _server: server,
        }
    }

    /// `paks host --json`, edited by `edit`, as the catalogue parses it.
    fn host(&self, edit: impl FnOnce(&mut Value)) -> paks_host::HostProfile {
        let mut profile: Value = serde_json::from_str(&self.env.ok(&["host", "--json"])).unwrap();
        edit(&mut profile);
        verdict::parse_host(&profile.to_string()).unwrap()
    }
}

fn image(catalog: &Catalog, repo: &str, reference: &str) -> Image {
    catalog
        .image(repo, reference, &Identity::Anonymous)
        .unwrap()
        .unwrap_or_else(|| panic!("no image {repo}:{reference}"))
}

/// The repositories of the packages each layer is (`-` for none).
fn layer_packages(image: &Image) -> Vec<String> {
    image
        .layers
        .iter()
        .map(|l| {
            l.package.as_ref().map_or_else(
                || "-".to_owned(),
                |p| format!("{} {}", p.repository, p.version),
            )
        })
        .collect()
}

#[test]
#[allow(clippy::too_many_lines)] // one registry, every kind of image and verdict in turn
fn images_map_layers_to_packages_and_verdicts_name_the_numbers() {
    let f = Fixture::new();
    let (catalog, _) = catalog_over(&f.data, None);

    // The composed image: base, one layer per package (dependency first), the view.
    let app = image(&catalog, "acme/app", "1");
    assert_eq!(
        layer_packages(&app),
        [
            "-",
            "acme/libgreet 1.0.0",
            "acme/hello 1.0.0",
            "acme/hello-script 0.2.0",
            "-"
        ],
        "{app:#?}"
    );
    assert_eq!(app.platform, format!("linux/{}", paks_host_arch()));
    assert!(
        app.layers
            .iter()
            .all(|l| l.size > 0 && l.media_type.contains("layer"))
    );
    assert_eq!(
        app.labels["io.paks.packages"].split_whitespace().count(),
        3,
        "{:?}",
        app.labels
    );
    // By digest too; an unknown tag or repository is none.
    let by_digest = image(&catalog, "acme/app", &app.digest.to_string());
    assert_eq!(by_digest.layers, app.layers);
    assert!(
        catalog
            .image("acme/app", "2", &Identity::Anonymous)
            .unwrap()
            .is_none()
    );
    assert!(
        catalog
            .image("acme/nothing", "1", &Identity::Anonymous)
            .unwrap()
            .is_none()
    );

    // Judged from its labels: a host with an older glibc than the packages need.
    let need = app.labels["io.paks.glibc.required"].clone();
    let old = f.host(|h| h["glibc"] = json!("2.2.0"));
    let v = verdict::check(&catalog, &app, &old).unwrap();
    assert_eq!(v.basis, VerdictBasis::Labels, "{v:?}");
    assert_eq!(v.status, VerdictStatus::WillNotRun, "{v:?}");
    assert!(
        v.reasons
            .iter()
            .any(|r| r.status == VerdictStatus::WillNotRun
                && r.message.contains(&format!("GLIBC_{need}"))
                && r.message.contains("is 2.2")),
        "{v:?}"
    );
    // An image that needs a higher level than the host runs.
    let v3_host = |h: &mut Value| h["targets"] = json!(["x86_64_v3", "x86_64_v2", "x86_64"]);
    let app_v4 = image(&catalog, "acme/app", "v4");
    let v = verdict::check(&catalog, &app_v4, &f.host(v3_host)).unwrap();
    assert_eq!(v.status, VerdictStatus::WillNotRun, "{v:?}");
    assert!(
        v.reasons
            .iter()
            .any(|r| r.message.contains("needs x86-64-v4")
                && r.message.contains("up to x86-64-v3")),
        "{v:?}"
    );

    // A plain busybox: no package, judged from its layers.
    let busybox = image(&catalog, "acme/busybox", "1");
    assert_eq!(layer_packages(&busybox), ["-"]);
    let baseline = f.host(|h| h["targets"] = json!(["x86_64"]));
    let v = verdict::check(&catalog, &busybox, &baseline).unwrap();
    assert_eq!(
        (v.basis, v.status),
        (VerdictBasis::Layers, VerdictStatus::Runs),
        "{v:?}"
    );
    // A host of a higher x86-64 level than its code estimates.
    let v4_host = |h: &mut Value| {
        h["targets"] = json!(["x86_64_v4", "x86_64_v3", "x86_64_v2", "x86_64"]);
    };
    let v = verdict::check(&catalog, &busybox, &f.host(v4_host)).unwrap();
    assert_eq!(v.status, VerdictStatus::RunsNotOptimally, "{v:?}");
    assert!(
        v.reasons[0].message.contains("built for x86-64")
            && v.reasons[0].message.contains("this host runs x86-64-v4"),
        "{v:?}"
    );
    let arm = f.host(|h| h["arch"] = json!("arm64"));
    let v = verdict::check(&catalog, &busybox, &arm).unwrap();
    assert_eq!(v.status, VerdictStatus::WillNotRun, "{v:?}");
    assert!(v.reasons[0].message.contains("arm64"), "{v:?}");

    // A package build is judged as a package, from its layer.
    let hello = image(&catalog, "acme/hello", "1.0.0");
    let v = verdict::check(&catalog, &hello, &old).unwrap();
    assert_eq!(
        (v.basis, v.status),
        (VerdictBasis::Layers, VerdictStatus::WillNotRun),
        "{v:?}"
    );
    assert!(
        v.reasons
            .iter()
            .any(|r| r.message.contains("needs glibc") && r.message.contains("2.2")),
        "{v:?}"
    );
}

#[test]
fn host_profiles_that_are_not_paks_host_json_are_refused() {
    for bad in ["{", "[]", r#"{"os": "", "arch": ""}"#, "not json"] {
        let err = verdict::parse_host(bad).unwrap_err();
        assert!(err.is_bad_request(), "{bad}: {err}");
        assert!(err.to_string().contains("paks host --json"), "{bad}: {err}");
    }
}

/// This machine's architecture as OCI names it.
fn paks_host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}
