//! SBOMs of real `.pak` files (written with paks-archive, as `paks build` writes them):
//! the SPDX and `CycloneDX` forms carry the files' real digests, the purls and the
//! dependencies' digests, are deterministic, and pass the reference validators
//! (`pyspdxtools`, `cyclonedx-python-lib`; `scripts/deps` installs both).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use paks_archive::{Compression, write_layer, write_pak};
use paks_attest::sbom::{self, Component, Sbom};
use paks_types::{
    ConfigRootfs, Digest, ImageConfig, META_SCHEMA, PackageDep, PackageId, PackageKind,
    PackageMeta, PackageName, Platform,
};
use serde_json::Value;

const LIBGREET_DIGEST: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A `.pak` of `hello` 1.2.0 with two files, a hard link, a symlink and one dependency.
fn hello_pak(dir: &Path, license: &str) -> PathBuf {
    let prefix = dir.join("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("share/doc")).unwrap();
    std::fs::write(prefix.join("bin/hello"), b"#!/bin/sh\necho hello\n").unwrap();
    std::fs::write(prefix.join("share/doc/README"), b"hello, documented\n").unwrap();
    std::fs::hard_link(prefix.join("bin/hello"), prefix.join("bin/hi")).unwrap();
    std::os::unix::fs::symlink("hello", prefix.join("bin/hey")).unwrap();
    let name: PackageName = "hello".parse().unwrap();
    let version = semver::Version::new(1, 2, 0);
    let id = PackageId::new(paks_types::id_hash(b"hello"), name.clone(), version.clone()).unwrap();
    let dep_name: PackageName = "libgreet".parse().unwrap();
    let dep_id = PackageId::new(
        paks_types::id_hash(b"libgreet"),
        dep_name.clone(),
        semver::Version::new(1, 0, 3),
    )
    .unwrap();
    let layer_path = dir.join("layer");
    let layer = write_layer(
        &prefix,
        &format!("opt/paks/store/{id}"),
        Compression::default(),
        std::fs::File::create(&layer_path).unwrap(),
    )
    .unwrap();
    let meta = PackageMeta {
        schema: META_SCHEMA,
        name,
        version,
        id,
        platform: Platform::host(),
        summary: Some("Says hello".into()),
        license: Some(license.into()),
        homepage: Some("https://example.org/hello".into()),
        dependencies: vec![PackageDep {
            name: dep_name,
            req: "^1.0".parse().unwrap(),
            id: dep_id,
            digest: Some(LIBGREET_DIGEST.parse().unwrap()),
        }],
        env: Vec::new(),
        relocation: paks_types::Relocation::default(),
        files: layer.entries,
        size: layer.unpacked_size,
        contents: layer.contents.clone().unwrap_or_default(),
        needs: paks_types::PackageNeeds::default(),
        kind: PackageKind::Store,
        origin: None,
        test: None,
    };
    let platform = meta.platform.clone();
    let config = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: BTreeMap::new(),
        rootfs: ConfigRootfs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        paks: meta,
    };
    let pak = dir.join("hello-1.2.0.pak");
    write_pak(
        &pak,
        &serde_json::to_vec(&config).unwrap(),
        &layer_path,
        &layer,
        Compression::default(),
        paks_archive::package_annotations(&config.paks),
        "1.2.0",
    )
    .unwrap();
    pak
}

fn sha256_hex(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).hex().to_owned()
}

/// `pyspdxtools -i FILE` must accept the document.
fn assert_valid_spdx(path: &Path) {
    let out = Command::new("pyspdxtools")
        .arg("-i")
        .arg(path)
        .output()
        .expect("pyspdxtools runs (scripts/deps installs spdx-tools)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stdout.contains("invalid") && !stderr.contains("invalid"),
        "pyspdxtools refused {}:\n{stdout}\n{stderr}",
        path.display()
    );
}

/// cyclonedx-python-lib's strict JSON validator must accept the document as 1.5.
fn assert_valid_cyclonedx(path: &Path) {
    let script = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
        print(error)\n\
        sys.exit(1 if error is not None else 0)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "cyclonedx-python-lib refused {}:\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn spdx_lists_every_file_with_its_real_digests_and_the_dependency() {
    let dir = tempfile::tempdir().unwrap();
    let pak = hello_pak(dir.path(), "Apache-2.0 OR MIT");
    let document = sbom::from_pak(&pak).unwrap();
    let bytes = document.to_spdx_json();
    let path = dir.path().join("hello.spdx.json");
    std::fs::write(&path, &bytes).unwrap();
    assert_valid_spdx(&path);

    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
    let id = document.subject.id.clone().unwrap();
    let namespace = doc["documentNamespace"].as_str().unwrap();
    assert!(
        namespace.starts_with(&format!("https://paks.dev/spdx/{id}-")),
        "{namespace}"
    );
    let creator = doc["creationInfo"]["creators"][0].as_str().unwrap();
    assert!(creator.starts_with("Tool: paks-"), "{creator}");

    // Every regular file (the hard link too), with the sha256 of its real content.
    let files: BTreeMap<&str, &Value> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["fileName"].as_str().unwrap(), f))
        .collect();
    assert_eq!(
        files.keys().copied().collect::<Vec<_>>(),
        ["./bin/hello", "./bin/hi", "./share/doc/README"]
    );
    let checksum = |file: &str, alg: &str| {
        files[file]["checksums"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["algorithm"] == alg)
            .unwrap()["checksumValue"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        checksum("./bin/hello", "SHA256"),
        sha256_hex(b"#!/bin/sh\necho hello\n")
    );
    assert_eq!(
        checksum("./bin/hi", "SHA256"),
        checksum("./bin/hello", "SHA256")
    );
    assert_eq!(
        checksum("./share/doc/README", "SHA256"),
        sha256_hex(b"hello, documented\n")
    );
    assert_eq!(checksum("./bin/hello", "SHA1").len(), 40);

    let packages = doc["packages"].as_array().unwrap();
    let hello = &packages[0];
    assert_eq!(hello["name"], "hello");
    assert_eq!(hello["versionInfo"], "1.2.0");
    assert_eq!(hello["licenseDeclared"], "Apache-2.0 OR MIT");
    assert_eq!(hello["filesAnalyzed"], true);
    assert_eq!(
        hello["externalRefs"][0]["referenceLocator"],
        "pkg:generic/hello@1.2.0"
    );
    let libgreet = packages.iter().find(|p| p["name"] == "libgreet").unwrap();
    assert_eq!(libgreet["versionInfo"], "1.0.3");
    assert_eq!(
        libgreet["checksums"][0]["checksumValue"],
        LIBGREET_DIGEST.trim_start_matches("sha256:")
    );
    let depends: Vec<&Value> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .collect();
    assert_eq!(depends.len(), 1);
    assert_eq!(depends[0]["relatedSpdxElement"], libgreet["SPDXID"]);
}

#[test]
fn the_same_pak_gives_the_same_bytes_and_another_content_another_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let pak = hello_pak(dir.path(), "MIT");
    let first = sbom::from_pak(&pak).unwrap().to_spdx_json();
    let second = sbom::from_pak(&pak).unwrap().to_spdx_json();
    assert_eq!(first, second);
    let mut changed = sbom::from_pak(&pak).unwrap();
    changed.files[0].sha256 = "0".repeat(64);
    let namespace = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes).unwrap()["documentNamespace"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(namespace(&first), namespace(&changed.to_spdx_json()));
}

#[test]
fn a_license_that_is_no_spdx_expression_is_noassertion() {
    let dir = tempfile::tempdir().unwrap();
    let pak = hello_pak(dir.path(), "GPL version 2, or later");
    let doc: Value = serde_json::from_slice(&sbom::from_pak(&pak).unwrap().to_spdx_json()).unwrap();
    assert_eq!(doc["packages"][0]["licenseConcluded"], "NOASSERTION");
    assert_eq!(doc["packages"][0]["licenseDeclared"], "NOASSERTION");
    assert_eq!(
        sbom::spdx_license(Some("GPL-2.0-or-later")),
        Some("GPL-2.0-or-later")
    );
    assert_eq!(sbom::spdx_license(Some("LicenseRef-acme")), None);
    assert_eq!(sbom::spdx_license(None), None);
}

#[test]
fn sources_become_packages_the_build_was_generated_from() {
    let dir = tempfile::tempdir().unwrap();
    let pak = hello_pak(dir.path(), "MIT");
    let recipe = paks_recipe::Recipe::from_str(
        r#"
[package]
name = "hello"
version = "1.2.0"

[[source]]
url = "https://example.org/hello-1.2.0.tar.gz"
sha256 = "2222222222222222222222222222222222222222222222222222222222222222"

[[source]]
url = "http://127.0.0.1:9/local.tar.gz"
sha256 = "3333333333333333333333333333333333333333333333333333333333333333"

[[source]]
git = "https://example.org/greet.git"
commit = "0123456789abcdef0123456789abcdef01234567"

[build]
script = "true"
"#,
        Path::new("paks.toml"),
    )
    .unwrap();
    let mut document = sbom::from_pak(&pak).unwrap();
    document.add_sources(&recipe.sources);
    let path = dir.path().join("hello.spdx.json");
    std::fs::write(&path, document.to_spdx_json()).unwrap();
    assert_valid_spdx(&path);
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    let tarball = packages
        .iter()
        .find(|p| p["name"] == "hello-1.2.0.tar.gz")
        .unwrap();
    assert_eq!(
        tarball["downloadLocation"],
        "https://example.org/hello-1.2.0.tar.gz"
    );
    assert_eq!(tarball["checksums"][0]["checksumValue"], "2".repeat(64));
    // A URL SPDX tools would refuse as a download location is kept in the comment.
    let local = packages
        .iter()
        .find(|p| p["name"] == "local.tar.gz")
        .unwrap();
    assert_eq!(local["downloadLocation"], "NOASSERTION");
    assert_eq!(
        local["comment"],
        "source URL: http://127.0.0.1:9/local.tar.gz"
    );
    let git = packages.iter().find(|p| p["name"] == "greet").unwrap();
    assert_eq!(
        git["downloadLocation"],
        "git+https://example.org/greet.git@0123456789abcdef0123456789abcdef01234567"
    );
    let generated: Vec<&Value> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "GENERATED_FROM")
        .map(|r| &r["relatedSpdxElement"])
        .collect();
    assert_eq!(
        generated,
        [&tarball["SPDXID"], &local["SPDXID"], &git["SPDXID"]]
    );
}

#[test]
fn cyclonedx_carries_the_same_facts_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let pak = hello_pak(dir.path(), "Apache-2.0");
    let document = sbom::from_pak(&pak).unwrap();
    let bytes = document.to_cyclonedx_json();
    let path = dir.path().join("hello.cdx.json");
    std::fs::write(&path, &bytes).unwrap();
    assert_valid_cyclonedx(&path);
    assert_eq!(bytes, sbom::from_pak(&pak).unwrap().to_cyclonedx_json());
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["specVersion"], "1.5");
    let subject = &doc["metadata"]["component"];
    assert_eq!(subject["purl"], "pkg:generic/hello@1.2.0");
    assert_eq!(subject["licenses"][0]["expression"], "Apache-2.0");
    let readme = subject["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "share/doc/README")
        .unwrap();
    assert_eq!(
        readme["hashes"][0]["content"],
        sha256_hex(b"hello, documented\n")
    );
    let libgreet = &doc["components"][0];
    assert_eq!(libgreet["name"], "libgreet");
    assert_eq!(
        libgreet["hashes"][0]["content"],
        LIBGREET_DIGEST.trim_start_matches("sha256:")
    );
    assert_eq!(doc["dependencies"][0]["dependsOn"][0], libgreet["bom-ref"]);
}

#[test]
fn an_image_sbom_lists_its_packages_and_base_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let pak = hello_pak(dir.path(), "MIT");
    let hello = sbom::from_pak(&pak).unwrap().subject;
    let base = Component {
        name: "127.0.0.1:5000/debian:12".into(),
        digest: Some(LIBGREET_DIGEST.parse().unwrap()),
        kind: sbom::ComponentKind::Image,
        ..Component::default()
    };
    let image = Component {
        name: "127.0.0.1:5000/app:1".into(),
        ..Component::default()
    };
    let document = Sbom::for_image(image, [hello], Some(base), "2026-01-01T00:00:00Z".into());
    let path = dir.path().join("image.spdx.json");
    std::fs::write(&path, document.to_spdx_json()).unwrap();
    assert_valid_spdx(&path);
    let cdx = dir.path().join("image.cdx.json");
    std::fs::write(&cdx, document.to_cyclonedx_json()).unwrap();
    assert_valid_cyclonedx(&cdx);
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc["creationInfo"]["created"], "2026-01-01T00:00:00Z");
    let kinds: Vec<(&str, &str)> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["relationshipType"].as_str().unwrap(),
                r["relatedSpdxElement"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("CONTAINS", "SPDXRef-Package-1-hello")),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|(k, _)| *k == "DESCENDANT_OF"),
        "{kinds:?}"
    );
    assert_eq!(doc["packages"][0]["primaryPackagePurpose"], "CONTAINER");
}
