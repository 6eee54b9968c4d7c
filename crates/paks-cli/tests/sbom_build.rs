//! SBOMs written by the real `paks` binary: `paks build` and `paks import deb` write
//! `X.spdx.json` beside each `X.pak`, `paks image build --sbom FILE` the image's aggregate.
//! Each document passes `pyspdxtools`, and its facts are checked against independent
//! readings: file digests computed by Python's `tarfile` from the `.pak` itself, the
//! dependency's manifest digest as `paks build --json` reported it, the `.deb`'s sha256.

mod common;

#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, examples, paks_bin, text};
use paks_testkit::{PaksServe, busybox_glibc_layout, skopeo};
use serde_json::Value;

/// `pyspdxtools -i FILE` accepts the document (`scripts/deps` installs spdx-tools).
fn assert_valid_spdx(path: &Path) {
    let out = Command::new("pyspdxtools")
        .arg("-i")
        .arg(path)
        .output()
        .expect("pyspdxtools runs");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && !stdout.contains("invalid") && !stderr.contains("invalid"),
        "pyspdxtools refused {}:\n{stdout}\n{stderr}",
        path.display()
    );
}

/// The sha256 of every regular file in a `.pak`'s layer, relative to `prefix`, read by
/// Python's `tarfile` (not by paks).
fn files_by_python(pak: &Path, prefix: &str) -> BTreeMap<String, String> {
    let script = r#"
import hashlib, json, sys, tarfile
pak = tarfile.open(sys.argv[1])
index = json.load(pak.extractfile("index.json"))
blob = lambda d: pak.extractfile("blobs/sha256/" + d.split(":")[1])
manifest = json.load(blob(index["manifests"][0]["digest"]))
layer = tarfile.open(fileobj=blob(manifest["layers"][0]["digest"]), mode="r:*")
out = {}
for m in layer.getmembers():
    name = m.name.lstrip("./")
    if m.isreg() and name.startswith(sys.argv[2]):
        out[name[len(sys.argv[2]):]] = hashlib.sha256(layer.extractfile(m).read()).hexdigest()
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(pak)
        .arg(prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The SPDX files of a document: `fileName` without `./` → sha256.
fn spdx_files(doc: &Value) -> BTreeMap<String, String> {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let sha256 = f["checksums"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["algorithm"] == "SHA256")
                .unwrap()["checksumValue"]
                .as_str()
                .unwrap()
                .to_owned();
            let name = f["fileName"].as_str().unwrap();
            (name.trim_start_matches("./").to_owned(), sha256)
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn package<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package `{name}` in {doc:#}"))
}

fn purl(package: &Value) -> &str {
    package["externalRefs"][0]["referenceLocator"]
        .as_str()
        .unwrap()
}

/// Whether `doc` has the relationship `SPDXRef-Package TYPE <the package named NAME>`.
fn related(doc: &Value, kind: &str, name: &str) -> bool {
    let id = &package(doc, name)["SPDXID"];
    doc["relationships"].as_array().unwrap().iter().any(|r| {
        r["spdxElementId"] == "SPDXRef-Package"
            && r["relationshipType"] == kind
            && r["relatedSpdxElement"] == *id
    })
}

/// `paks build --json` of an example: the JSON line.
fn build_json(env: &Env, example: &str) -> Value {
    let recipe = examples().join(example);
    let out = env.ok(&[
        "build",
        recipe.to_str().unwrap(),
        "--out",
        env.out.to_str().unwrap(),
        "--json",
    ]);
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn build_writes_a_valid_spdx_sbom_beside_the_pak() {
    let env = Env::new();
    let libgreet = build_json(&env, "libgreet");
    let hello = build_json(&env, "hello");
    let pak = PathBuf::from(hello["pak"].as_str().unwrap());
    let sbom = PathBuf::from(hello["sbom"].as_str().unwrap());
    // `out/X.pak` → `out/X.spdx.json`.
    assert_eq!(sbom, pak.with_extension("spdx.json"));
    assert_valid_spdx(&sbom);
    let doc = read_json(&sbom);
    let id = hello["id"].as_str().unwrap();
    assert_eq!(doc["name"], id);
    assert!(
        doc["documentNamespace"]
            .as_str()
            .unwrap()
            .starts_with(&format!("https://paks.dev/spdx/{id}-")),
        "{doc:#}"
    );

    // The files and their digests are what Python reads out of the `.pak`.
    let expected = files_by_python(&pak, &format!("opt/paks/store/{id}/"));
    assert!(expected.contains_key("bin/hello"), "{expected:?}");
    assert_eq!(spdx_files(&doc), expected);

    let subject = package(&doc, "hello");
    assert_eq!(subject["versionInfo"], "1.0.0");
    assert_eq!(subject["licenseDeclared"], "Apache-2.0");
    assert_eq!(subject["homepage"], "https://example.org/hello");
    assert_eq!(purl(subject), "pkg:generic/hello@1.0.0");
    assert_eq!(
        subject["checksums"][0]["checksumValue"],
        hello["manifest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    // The dependency, with the digest of the libgreet build it was built against.
    let dep = package(&doc, "libgreet");
    assert!(related(&doc, "DEPENDS_ON", "libgreet"));
    assert_eq!(
        dep["checksums"][0]["checksumValue"],
        libgreet["manifest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    assert_eq!(purl(dep), "pkg:generic/libgreet@1.0.0");
    // The recipe's `src` directory, as the source the build was generated from.
    assert!(related(&doc, "GENERATED_FROM", "src"));
}

#[test]
fn the_same_pak_gets_the_same_sbom_with_source_date_epoch() {
    let env = Env::new();
    let recipe = examples().join("libgreet");
    let build = |out: &Path| {
        let output = env
            .cmd()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", recipe.to_str().unwrap(), "--json", "--no-install"])
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        let line: Value = serde_json::from_slice(&output.stdout).unwrap();
        std::fs::read(line["sbom"].as_str().unwrap()).unwrap()
    };
    let first = build(&env.dir.path().join("a"));
    let second = build(&env.dir.path().join("b"));
    assert_eq!(first, second);
    let doc: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn import_deb_writes_an_sbom_from_the_control_data() {
    let env = Env::new();
    let out = env.dir.path().join("paks");
    let deb = real_deb::real_deb("passwd");
    let output = env
        .cmd()
        .args(["import", "deb", "--json", "--out"])
        .arg(&out)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let line: Value = serde_json::from_str(text(&output.stdout).lines().next().unwrap()).unwrap();
    let pak = PathBuf::from(line["pak"].as_str().unwrap());
    let sbom = PathBuf::from(line["sbom"].as_str().unwrap());
    assert_eq!(sbom, pak.with_extension("spdx.json"));
    assert_valid_spdx(&sbom);
    let doc = read_json(&sbom);
    let passwd = package(&doc, "passwd");
    let version = line["version"].as_str().unwrap();
    assert_eq!(passwd["versionInfo"], version);
    // The epoch's `:` and the `+` are percent-encoded in the purl; the source package
    // (`shadow`) is its `upstream`, as Debian's advisories name it.
    assert_eq!(
        purl(passwd),
        format!(
            "pkg:deb/debian/passwd@{}?arch=amd64&upstream=shadow",
            version.replace(':', "%3A").replace('+', "%2B")
        )
    );
    // The package's checksum is the sha256 of the `.deb` itself.
    let deb_sha256 = paks_types::Digest::sha256_of(&std::fs::read(&deb).unwrap());
    assert_eq!(passwd["checksums"][0]["checksumValue"], deb_sha256.hex());
    assert!(
        passwd["supplier"].as_str().unwrap().starts_with("Person: "),
        "{passwd:#}"
    );
    assert!(
        passwd["sourceInfo"].as_str().unwrap().contains("shadow"),
        "{passwd:#}"
    );
    assert!(
        passwd["comment"].as_str().unwrap().contains("depends: "),
        "{passwd:#}"
    );
    // Files relative to `/`, with the digests Python reads from the layer.
    let files = spdx_files(&doc);
    assert!(files.contains_key("usr/bin/passwd"), "{files:?}");
    assert_eq!(files, files_by_python(&pak, ""));
}

#[test]
fn image_build_writes_the_aggregate_sbom_of_its_packages_and_base() {
    let env = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
    let host = server.host();
    let libgreet = build_json(&env, "libgreet");
    let hello = build_json(&env, "hello");
    env.ok(&[
        "push",
        hello["pak"].as_str().unwrap(),
        &format!("{host}/acme/hello"),
    ]);
    let layout = env.dir.path().join("base");
    busybox_glibc_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{host}/base/busybox:1"),
    ]);
    let sbom = env.dir.path().join("image.spdx.json");
    let image_dir = env.dir.path().join("image");
    let built = image_build(
        &env,
        &host,
        &[
            "--output",
            &format!("oci:{}:app", image_dir.display()),
            "--sbom",
            sbom.to_str().unwrap(),
        ],
    );
    assert_eq!(built["sbom"], sbom.to_str().unwrap());
    assert_valid_spdx(&sbom);
    let doc = read_json(&sbom);
    let image = &doc["packages"][0];
    assert_eq!(image["primaryPackagePurpose"], "CONTAINER");
    assert_eq!(
        image["checksums"][0]["checksumValue"],
        built["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    for (name, line) in [("hello", &hello), ("libgreet", &libgreet)] {
        assert!(related(&doc, "CONTAINS", name), "{doc:#}");
        assert_eq!(
            package(&doc, name)["checksums"][0]["checksumValue"],
            line["manifest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        );
    }
    let base = format!("{host}/base/busybox:1");
    assert!(related(&doc, "DESCENDANT_OF", &base), "{doc:#}");
    assert_eq!(built["sbom_referrer"], Value::Null);

    // Pushed to a registry, the image carries its SBOM as a referrer: the same document
    // as `--sbom` writes, listed by the referrers API with the SPDX artifact type.
    let pushed_sbom = env.dir.path().join("pushed.spdx.json");
    let app = format!("{host}/acme/app:1");
    let pushed = image_build(
        &env,
        &host,
        &["--tag", &app, "--sbom", pushed_sbom.to_str().unwrap()],
    );
    assert_valid_spdx(&pushed_sbom);
    let image_digest = pushed["digest"].as_str().unwrap();
    let referrer = pushed["sbom_referrer"].as_str().unwrap();
    let listed: Value = serde_json::from_str(&curl(&format!(
        "http://{host}/v2/acme/app/referrers/{image_digest}?artifactType=application/spdx%2Bjson"
    )))
    .unwrap();
    let manifests = listed["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{listed:#}");
    assert_eq!(manifests[0]["digest"], referrer);
    let manifest: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/acme/app@{referrer}"),
    ]))
    .unwrap();
    assert_eq!(manifest["artifactType"], "application/spdx+json");
    assert_eq!(manifest["subject"]["digest"], image_digest);
    let file_digest =
        paks_types::Digest::sha256_of(&std::fs::read(&pushed_sbom).unwrap()).to_string();
    assert_eq!(manifest["layers"][0]["digest"], file_digest);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/spdx+json");
    // The same image pushed again adds no second SBOM.
    let again = image_build(&env, &host, &["--tag", &app]);
    assert_eq!(again["sbom_referrer"], referrer);
}

/// `paks image build --json` of hello on the busybox base, with `extra` arguments.
fn image_build(env: &Env, host: &str, extra: &[&str]) -> Value {
    let hello = format!("{host}/acme/hello:1.0.0");
    let base = format!("{host}/base/busybox:1");
    let mut args = vec!["image", "build", &hello, "--from", &base, "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&env.ok(&args)).unwrap()
}

/// `curl -fsS URL` (loopback only); stdout.
fn curl(url: &str) -> String {
    let out = Command::new("curl").args(["-fsS", url]).output().unwrap();
    assert!(out.status.success(), "curl {url}: {}", text(&out.stderr));
    text(&out.stdout)
}
