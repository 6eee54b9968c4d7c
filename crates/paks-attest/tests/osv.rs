//! Reading SBOMs from other tools, comparing them, and matching their components against
//! OSV advisories written in the schema's documented format.

use paks_attest::components::{ComponentList, SbomFormat};
use paks_attest::osv::Database;
use paks_attest::sbom_diff::diff;
use serde_json::json;

/// An SPDX 2.3 document as syft writes one for a Debian system.
fn spdx(libc: &str, libc_sum: &str, zlib_license: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "debian",
        "documentNamespace": "https://example.invalid/debian",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: syft-0.100"]},
        "packages": [
            {
                "SPDXID": "SPDXRef-libc6", "name": "libc6", "versionInfo": libc,
                "downloadLocation": "NOASSERTION", "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "LGPL-2.1-or-later",
                "checksums": [{"algorithm": "SHA256", "checksumValue": libc_sum}],
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                    "referenceLocator": format!("pkg:deb/debian/libc6@{}?arch=amd64&upstream=glibc&distro=debian-12", libc.replace('+', "%2B"))}]
            },
            {
                "SPDXID": "SPDXRef-zlib", "name": "zlib1g", "versionInfo": "1:1.2.13.dfsg-1",
                "downloadLocation": "NOASSERTION", "licenseConcluded": zlib_license,
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                    "referenceLocator": "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&upstream=zlib"}]
            },
            {"SPDXID": "SPDXRef-x", "name": "no-purl", "versionInfo": "1", "downloadLocation": "NONE"}
        ]
    }))
    .unwrap()
}

#[test]
fn spdx_components_with_purl_ecosystem_checksums_and_license() {
    let sbom = ComponentList::parse(&spdx("2.36-9+deb12u4", "AB12", "Zlib")).unwrap();
    assert_eq!(sbom.format, SbomFormat::Spdx);
    assert_eq!(sbom.name.as_deref(), Some("debian"));
    assert_eq!(sbom.components.len(), 3);
    let libc = &sbom.components[0];
    assert_eq!(libc.version.as_deref(), Some("2.36-9+deb12u4"));
    assert_eq!(libc.ecosystem.as_deref(), Some("deb"));
    assert_eq!(libc.checksums["sha256"], "ab12");
    // NOASSERTION is no license: the declared one is taken.
    assert_eq!(libc.license.as_deref(), Some("LGPL-2.1-or-later"));
    assert_eq!(libc.key(), "pkg:deb/debian/libc6");
    assert_eq!(sbom.components[2].key(), "no-purl");
    assert_eq!(sbom.components[2].ecosystem, None);
}

#[test]
fn cyclonedx_components_nested_and_main() {
    let doc = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "application", "name": "app", "version": "2.0.0",
            "purl": "pkg:generic/app@2.0.0"}},
        "components": [
            {"type": "library", "group": "org.example", "name": "lib", "version": "1.2.3",
             "purl": "pkg:maven/org.example/lib@1.2.3",
             "hashes": [{"alg": "SHA-256", "content": "CAFE"}],
             "licenses": [{"license": {"id": "MIT"}}, {"license": {"name": "Custom"}}],
             "components": [{"type": "library", "name": "inner", "version": "0.1.0",
                 "purl": "pkg:pypi/inner@0.1.0", "licenses": [{"expression": "MIT OR Apache-2.0"}]}]}
        ]
    });
    let sbom = ComponentList::parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(sbom.format, SbomFormat::Cyclonedx);
    assert_eq!(sbom.name.as_deref(), Some("app"));
    let names: Vec<&str> = sbom.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["app", "org.example/lib", "inner"]);
    let lib = &sbom.components[1];
    assert_eq!(lib.checksums["sha256"], "cafe");
    assert_eq!(lib.license.as_deref(), Some("MIT AND Custom"));
    assert_eq!(lib.ecosystem.as_deref(), Some("maven"));
    assert_eq!(
        sbom.components[2].license.as_deref(),
        Some("MIT OR Apache-2.0")
    );
}

#[test]
fn refuses_what_is_not_an_sbom_and_oversized_input() {
    let err = ComponentList::parse(br#"{"hello": 1}"#).unwrap_err();
    assert!(err.to_string().contains("neither SPDX"), "{err}");
    assert!(ComponentList::parse(b"not json").is_err());
    let err = ComponentList::parse(br#"{"spdxVersion": "SPDX-2.3", "packages": 3}"#).unwrap_err();
    assert!(err.to_string().contains("`packages`"), "{err}");
    let big = vec![b' '; usize::try_from(paks_attest::components::MAX_SBOM_SIZE).unwrap() + 1];
    assert!(matches!(
        ComponentList::parse(&big),
        Err(paks_attest::components::ReadError::TooLarge { .. })
    ));
}

#[test]
fn diff_pairs_by_purl_and_names_what_changed() {
    let old = ComponentList::parse(&spdx("2.36-9+deb12u3", "aa", "Zlib")).unwrap();
    let mut new = ComponentList::parse(&spdx("2.36-9+deb12u4", "bb", "Zlib AND MIT")).unwrap();
    new.components.remove(2);
    new.components.push(
        ComponentList::parse(&spdx("1", "cc", "x"))
            .unwrap()
            .components[2]
            .clone(),
    );
    new.components[2].name = "added".into();
    let d = diff(&old, &new);
    assert_eq!(d.added.len(), 1, "{d:?}");
    assert_eq!(d.added[0].name, "added");
    assert_eq!(d.removed.len(), 1);
    assert_eq!(d.removed[0].name, "no-purl");
    let changed: Vec<(&str, &[&str])> = d
        .changed
        .iter()
        .map(|c| (c.name.as_str(), c.fields.as_slice()))
        .collect();
    assert_eq!(
        changed,
        [
            ("libc6", &["version", "checksum"][..]),
            ("zlib1g", &["license"][..])
        ]
    );
    assert!(diff(&old, &old).is_empty());
}

/// An OSV directory: one file per advisory, as osv.dev exports them.
fn osv_dir(advisories: &[serde_json::Value]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("Debian")).unwrap();
    for a in advisories {
        let id = a["id"].as_str().unwrap();
        std::fs::write(
            dir.path().join("Debian").join(format!("{id}.json")),
            serde_json::to_vec_pretty(a).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("README.md"), "not an advisory").unwrap();
    dir
}

fn advisory(
    id: &str,
    ecosystem: &str,
    name: &str,
    events: &serde_json::Value,
) -> serde_json::Value {
    json!({
        "schema_version": "1.6.0", "id": id, "modified": "2024-01-01T00:00:00Z",
        "aliases": [format!("CVE-{id}")], "summary": format!("{id} in {name}"),
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}]}]
    })
}

#[test]
fn debian_ranges_use_dpkg_order_and_source_names() {
    let dir = osv_dir(&[
        // By source package, fixed after the installed version: affected.
        advisory(
            "DSA-1",
            "Debian:12",
            "glibc",
            &json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u10"}]),
        ),
        // Fixed before (dpkg order: deb12u4 < deb12u10 although "4" > "1" as text).
        advisory(
            "DSA-2",
            "Debian:12",
            "libc6",
            &json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]),
        ),
        // Another release of Debian: the purl's distro says 12.
        advisory("DSA-3", "Debian:11", "glibc", &json!([{"introduced": "0"}])),
        // last_affected is the installed version itself: affected, no fix.
        advisory(
            "DSA-4",
            "Debian",
            "libc6",
            &json!([{"introduced": "2.36-1"}, {"last_affected": "2.36-9+deb12u4"}]),
        ),
        // The epoch puts the installed 1:1.2.13 after the fix 1.3, which has none.
        advisory(
            "DSA-5",
            "Debian",
            "zlib",
            &json!([{"introduced": "0"}, {"fixed": "1.3"}]),
        ),
    ]);
    let db = Database::load(dir.path()).unwrap();
    assert_eq!(db.advisories.len(), 5);
    let sbom = ComponentList::parse(&spdx("2.36-9+deb12u4", "aa", "Zlib")).unwrap();
    let findings = db.audit(&sbom.components);
    let got: Vec<(&str, &str, Option<&str>)> = findings
        .iter()
        .map(|f| (f.id.as_str(), f.component.as_str(), f.fixed.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("DSA-1", "libc6", Some("2.36-9+deb12u10")),
            ("DSA-4", "libc6", None),
        ]
    );
    assert_eq!(findings[0].aliases, ["CVE-DSA-1"]);
    assert_eq!(findings[0].installed, "2.36-9+deb12u4");
    assert_eq!(findings[0].summary.as_deref(), Some("DSA-1 in glibc"));
}

fn component(purl: &str) -> paks_attest::components::Component {
    let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
        "components": [{"name": "c", "version": purl.split('?').next().unwrap().rsplit('@').next().unwrap(), "purl": purl}]});
    ComponentList::parse(&serde_json::to_vec(&doc).unwrap())
        .unwrap()
        .components
        .remove(0)
}

fn ids(db: &Database, purl: &str) -> Vec<String> {
    db.audit(&[component(purl)])
        .into_iter()
        .map(|f| f.id)
        .collect()
}

#[test]
fn semver_and_alpine_ranges_explicit_versions_limits_and_withdrawn() {
    let semver = |id: &str, events: &serde_json::Value| {
        let mut a = advisory(id, "crates.io", "serde", events);
        a["affected"][0]["ranges"][0]["type"] = "SEMVER".into();
        a
    };
    let mut listed = advisory("LISTED", "PyPI", "Django", &json!([]));
    listed["affected"][0]["versions"] = json!(["4.2.1"]);
    let mut by_purl = advisory("PURL", "npm", "ignored", &json!([{"introduced": "1.0.0"}]));
    by_purl["affected"][0]["package"]["purl"] = "pkg:npm/%40scope/lib".into();
    let mut withdrawn = semver("WITHDRAWN", &json!([{"introduced": "0"}]));
    withdrawn["withdrawn"] = "2024-02-01T00:00:00Z".into();
    let dir = osv_dir(&[
        semver("S1", &json!([{"introduced": "1.0.0"}, {"fixed": "1.0.10"}])),
        // 1.0.9 < 1.0.10 as semver, not as text.
        semver("S2", &json!([{"introduced": "1.0.10"}])),
        semver("S3", &json!([{"introduced": "0"}, {"limit": "1.0.5"}])),
        semver("S4", &json!([{"introduced": "0"}, {"limit": "*"}])),
        withdrawn,
        advisory(
            "A1",
            "Alpine:v3.19",
            "musl",
            &json!([{"introduced": "0"}, {"fixed": "1.2.4_git20230717-r5"}]),
        ),
        advisory(
            "A2",
            "Alpine:v3.19",
            "musl",
            &json!([{"introduced": "0"}, {"fixed": "1.2.4-r0"}]),
        ),
        listed,
        by_purl,
        // PyPI's order is not semver: a range there is not guessed at.
        advisory("P1", "PyPI", "django", &json!([{"introduced": "0"}])),
    ]);
    let db = Database::load(dir.path()).unwrap();
    assert_eq!(ids(&db, "pkg:cargo/serde@1.0.9"), ["S1", "S4"]);
    assert_eq!(ids(&db, "pkg:cargo/serde@1.0.10"), ["S2", "S4"]);
    // The apk order: `_git` is a post-release suffix, 1.2.4_git… > 1.2.4-r0.
    assert_eq!(
        ids(
            &db,
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?distro=alpine-3.19.1"
        ),
        ["A1"]
    );
    assert!(ids(&db, "pkg:apk/alpine/musl@1.2.4-r0?distro=alpine-3.18.4").is_empty());
    assert_eq!(ids(&db, "pkg:pypi/django@4.2.1"), ["LISTED"]);
    assert!(ids(&db, "pkg:pypi/django@4.2.2").is_empty());
    assert_eq!(ids(&db, "pkg:npm/%40scope/lib@1.2.0"), ["PURL"]);
    assert!(ids(&db, "pkg:npm/other/lib@1.2.0").is_empty());
}

#[test]
fn a_broken_advisory_names_its_file() {
    let dir = osv_dir(&[]);
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    let err = Database::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("bad.json"), "{err}");
    assert!(!err.is_io());
    let err = Database::load(&dir.path().join("missing")).unwrap_err();
    assert!(err.is_io());
}
