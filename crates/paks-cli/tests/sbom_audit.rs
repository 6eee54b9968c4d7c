//! `paks sbom`, `paks sbom diff` and `paks audit`: SBOM files as other tools write them, a
//! real `libc6` `.deb` imported with `paks import deb`, and OSV advisories written by hand
//! in the schema's documented format. Everything is offline.

mod common;
#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::path::{Path, PathBuf};

use common::{Env, text};
use paks_testkit::PaksServe;
use serde_json::{Value, json};

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A real `libc6` imported into a `.pak`: (the `.pak`, its Debian version).
fn imported_libc6(env: &Env) -> (PathBuf, String) {
    let deb = real_deb::real_deb("libc6");
    let out = env.dir.path().join("paks-import");
    let stdout = env.ok(&[
        "import",
        "deb",
        deb.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let lines = json_lines(&stdout);
    let package = lines.iter().find(|l| l["type"] == "package").unwrap();
    assert_eq!(package["name"], "libc6");
    (
        PathBuf::from(package["pak"].as_str().unwrap()),
        package["version"].as_str().unwrap().to_owned(),
    )
}

/// An OSV advisory about Debian's `glibc` (the source package of `libc6`, as Debian's
/// advisories name it), fixed in `fixed`.
fn glibc_advisory(id: &str, fixed: &str) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2024-01-31T00:00:00Z",
        "aliases": [format!("CVE-2099-{}", &id[4..])],
        "summary": format!("glibc: a flaw fixed in {fixed}"),
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "glibc", "purl": "pkg:deb/debian/glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }]
    })
}

fn osv_dir(env: &Env, name: &str, advisories: &[Value]) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for a in advisories {
        let file = dir.join(format!("{}.json", a["id"].as_str().unwrap()));
        std::fs::write(file, serde_json::to_vec_pretty(a).unwrap()).unwrap();
    }
    dir
}

#[test]
fn audit_of_a_real_imported_libc6_against_debian_advisories() {
    let env = Env::new();
    let (pak, version) = imported_libc6(&env);
    // One fix comes after the imported version (`2.36-9+deb12u14`: dpkg orders `u100`
    // after `u14`, text order would not), one before it.
    let stem = version.trim_end_matches(|c: char| c.is_ascii_digit());
    assert!(
        version[stem.len()..].parse::<u32>().unwrap() < 100,
        "{version}"
    );
    let later = format!("{stem}100");
    let covering = glibc_advisory("DSA-9001-1", &later);
    let fixed_already = glibc_advisory("DSA-9002-1", "2.36-9+deb12u1");
    let dir = osv_dir(&env, "osv", &[covering, fixed_already.clone()]);
    let pak = pak.to_str().unwrap();

    let out = env.run(&["audit", pak, "--osv", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout,
        format!(
            "DSA-9001-1 (CVE-2099-9001-1): libc6 {version}, fixed in {later}\n  glibc: a flaw fixed in {later}\n"
        )
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("1 known vulnerability in `{pak}`")),
        "{stderr}"
    );
    assert!(
        stderr.contains("Checked 1 component against 2 advisories"),
        "{stderr}"
    );

    let out = env.run(&["audit", pak, "--osv", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&text(&out.stdout));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["type"], "vulnerability");
    assert_eq!(lines[0]["id"], "DSA-9001-1");
    assert_eq!(lines[0]["component"], "libc6");
    assert_eq!(lines[0]["installed"], version.as_str());
    assert_eq!(lines[0]["fixed"], later.as_str());
    assert!(
        lines[0]["purl"]
            .as_str()
            .unwrap()
            .starts_with("pkg:deb/debian/libc6@2.36-9%2Bdeb12u"),
        "{lines:?}"
    );
    assert_eq!(lines[1]["type"], "summary");
    assert_eq!(lines[1]["advisories"], 2);
    assert_eq!(lines[1]["vulnerabilities"], 1);

    // Only the advisory fixed before the imported version: nothing found, exit 0; the
    // directory is read through the environment variable too.
    let clean = osv_dir(&env, "osv-clean", &[fixed_already]);
    let out = env
        .cmd()
        .args(["audit", pak])
        .env("PAKS_OSV_DIR", &clean)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn audit_refuses_a_broken_advisory_and_a_missing_directory() {
    let env = Env::new();
    let sbom = env.dir.path().join("sbom.spdx.json");
    std::fs::write(&sbom, spdx_doc("1.0.0", "aa", "MIT")).unwrap();
    let dir = osv_dir(&env, "osv", &[]);
    std::fs::write(dir.join("broken.json"), "{\"id\": 3}").unwrap();
    let sbom = sbom.to_str().unwrap();
    let err = env.fails(&["audit", sbom, "--osv", dir.to_str().unwrap()], 1);
    assert!(err.contains("broken.json` is not an OSV advisory"), "{err}");
    assert!(
        err.contains("hint: `--osv` is a directory of OSV advisories"),
        "{err}"
    );
    let missing = env.dir.path().join("missing");
    let err = env.fails(&["audit", sbom, "--osv", missing.to_str().unwrap()], 2);
    assert!(err.contains(&format!("`{}`", missing.display())), "{err}");
}

/// An SPDX 2.3 document as another tool writes one.
fn spdx_doc(version: &str, sum: &str, license: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "app",
        "documentNamespace": "https://example.invalid/app",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: other-1.0"]},
        "packages": [
            {"SPDXID": "SPDXRef-app", "name": "app", "versionInfo": version,
             "downloadLocation": "NOASSERTION", "licenseConcluded": license,
             "checksums": [{"algorithm": "SHA256", "checksumValue": sum}],
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                "referenceLocator": format!("pkg:generic/app@{version}")}]},
            {"SPDXID": "SPDXRef-zlib", "name": "zlib", "versionInfo": "1.3.1",
             "downloadLocation": "NOASSERTION", "licenseConcluded": "Zlib",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                "referenceLocator": "pkg:generic/zlib@1.3.1"}]}
        ]
    }))
    .unwrap()
}

#[test]
fn sbom_prints_a_file_its_components_and_a_cyclonedx_form() {
    let env = Env::new();
    let file = env.dir.path().join("app.spdx.json");
    let doc = spdx_doc("1.0.0", "AB", "MIT");
    std::fs::write(&file, &doc).unwrap();
    let file = file.to_str().unwrap();
    // As stored, byte for byte.
    assert_eq!(env.ok(&["sbom", file]), format!("{doc}\n"));
    assert_eq!(
        env.ok(&["sbom", file, "--format", "spdx"]),
        format!("{doc}\n")
    );
    let components = json_lines(&env.ok(&["sbom", file, "--json"]));
    assert_eq!(
        components[0],
        json!({"type": "component", "name": "app", "version": "1.0.0",
            "purl": "pkg:generic/app@1.0.0", "ecosystem": "generic",
            "checksums": {"sha256": "ab"}, "license": "MIT"})
    );
    assert_eq!(components.len(), 2);

    // CycloneDX, read back to the same components.
    let bom = env.ok(&["sbom", file, "--format", "cyclonedx"]);
    let parsed: Value = serde_json::from_str(&bom).unwrap();
    assert_eq!(parsed["bomFormat"], "CycloneDX");
    assert_eq!(parsed["specVersion"], "1.5");
    assert_eq!(
        parsed["components"][0]["hashes"],
        json!([{"alg": "SHA-256", "content": "ab"}])
    );
    let cdx = env.dir.path().join("app.cdx.json");
    std::fs::write(&cdx, &bom).unwrap();
    let cdx = cdx.to_str().unwrap();
    assert_eq!(json_lines(&env.ok(&["sbom", cdx, "--json"])), components);
    let err = env.fails(&["sbom", cdx, "--format", "spdx"], 1);
    assert!(err.contains("is a CycloneDX SBOM"), "{err}");
    // Nothing to compare between the two forms.
    assert_eq!(
        env.ok(&["sbom", "diff", file, cdx]),
        "0 added, 0 removed, 0 changed components\n"
    );
}

#[test]
fn sbom_refuses_what_is_not_an_sbom() {
    let env = Env::new();
    let file = env.dir.path().join("notes.json");
    std::fs::write(&file, r#"{"notes": []}"#).unwrap();
    let err = env.fails(&["sbom", file.to_str().unwrap()], 1);
    assert!(
        err.contains(&format!("error: `{}` is not an SBOM", file.display())),
        "{err}"
    );
    assert!(
        err.contains("Caused by: the document is neither SPDX"),
        "{err}"
    );
    assert!(
        err.contains("hint: an SBOM is SPDX 2.3 or CycloneDX"),
        "{err}"
    );
    let err = env.fails(&["sbom", "nowhere.json"], 1);
    assert!(
        err.contains("`nowhere.json` is not a `.pak`, an SBOM file or a registry reference"),
        "{err}"
    );
    let err = env.fails(&["sbom"], 64);
    assert!(err.contains("REF|PAK|FILE"), "{err}");
}

#[test]
fn sbom_of_a_pak_is_the_file_beside_it_else_made_from_it() {
    let env = Env::new();
    let (pak, version) = imported_libc6(&env);
    let pak_arg = pak.to_str().unwrap();
    // `paks import` wrote `X.spdx.json` beside `X.pak`: that is its SBOM.
    let side = pak.with_extension("spdx.json");
    let written = std::fs::read_to_string(&side).unwrap();
    assert_eq!(env.ok(&["sbom", pak_arg]), written);
    // The package as its distribution names it, its source package as `upstream`, so
    // that Debian's advisories (about `glibc`) match it.
    let lines = json_lines(&env.ok(&["sbom", pak_arg, "--json"]));
    let libc = lines.iter().find(|l| l["name"] == "libc6").unwrap();
    assert_eq!(libc["type"], "component");
    assert_eq!(libc["version"], version.as_str());
    assert_eq!(libc["ecosystem"], "deb");
    assert!(
        libc["purl"]
            .as_str()
            .unwrap()
            .ends_with("?arch=amd64&upstream=glibc"),
        "{lines:?}"
    );
    // Without it, the same document is made from the `.pak`.
    std::fs::remove_file(&side).unwrap();
    assert_eq!(env.ok(&["sbom", pak_arg]), written);
    let bom: Value =
        serde_json::from_str(&env.ok(&["sbom", pak_arg, "--format", "cyclonedx"])).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    // A side file written by another tool wins.
    std::fs::write(&side, spdx_doc("2.0.0", "cc", "MIT")).unwrap();
    assert_eq!(
        env.ok(&["sbom", pak_arg]),
        format!("{}\n", spdx_doc("2.0.0", "cc", "MIT"))
    );
}

#[test]
fn sbom_and_audit_of_a_build_in_a_registry() {
    let env = Env::new();
    let (pak, version) = imported_libc6(&env);
    let data = env.dir.path().join("registry-data");
    let server = PaksServe::start(Path::new(common::paks_bin()), &data, &[]);
    let ns = format!("{}/debian", server.host());
    let pushed = json_lines(&env.ok(&["push", pak.to_str().unwrap(), &ns, "--json"]));
    let reference = pushed.iter().find(|l| l["type"] == "push").unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_owned();

    // Nothing attached yet.
    let err = env.fails(&["sbom", &reference], 1);
    assert!(err.contains("no SBOM is attached to `libc6` "), "{err}");
    assert!(
        err.contains("hint: `paks push --sign KEY` attaches"),
        "{err}"
    );

    // `paks push --sign` attaches the SBOM beside the `.pak` (and a signature).
    let key = env.dir.path().join("acme.pem");
    env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    env.ok(&[
        "push",
        pak.to_str().unwrap(),
        &ns,
        "--sign",
        key.to_str().unwrap(),
    ]);
    let side = std::fs::read(pak.with_extension("spdx.json")).unwrap();
    assert_eq!(env.ok(&["sbom", &reference]).as_bytes(), side.as_slice());
    // The registry's SBOM and the one beside the `.pak` list the same components.
    assert!(
        env.ok(&["sbom", "diff", pak.to_str().unwrap(), &reference])
            .ends_with("0 added, 0 removed, 0 changed components\n")
    );
    let stem = version.trim_end_matches(|c: char| c.is_ascii_digit());
    let dir = osv_dir(
        &env,
        "osv",
        &[glibc_advisory("DSA-9003-1", &format!("{stem}100"))],
    );
    let out = env.run(&["audit", &reference, "--osv", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!(
            "DSA-9003-1 (CVE-2099-9003-1): libc6 {version}, fixed in {stem}100"
        )),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn sbom_diff_shows_added_removed_and_changed() {
    let env = Env::new();
    let old = env.dir.path().join("old.spdx.json");
    let new = env.dir.path().join("new.spdx.json");
    std::fs::write(&old, spdx_doc("1.0.0", "aa", "MIT")).unwrap();
    let mut doc: Value =
        serde_json::from_str(&spdx_doc("1.1.0", "bb", "MIT OR Apache-2.0")).unwrap();
    doc["packages"][1] = json!({"SPDXID": "SPDXRef-xz", "name": "xz", "versionInfo": "5.4.1",
        "downloadLocation": "NOASSERTION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
            "referenceLocator": "pkg:generic/xz@5.4.1"}]});
    std::fs::write(&new, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    assert_eq!(
        env.ok(&["sbom", "diff", old, new]),
        "+ xz 5.4.1 (pkg:generic/xz@5.4.1)\n\
         - zlib 1.3.1 (pkg:generic/zlib@1.3.1)\n\
         ~ app: version 1.0.0 -> 1.1.0, checksum changed, license MIT -> MIT OR Apache-2.0\n\
         1 added, 1 removed, 1 changed component\n"
    );
    let lines = json_lines(&env.ok(&["sbom", "diff", old, new, "--json"]));
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["added", "removed", "changed", "summary"]);
    assert_eq!(
        lines[2]["fields"],
        json!(["version", "checksum", "license"])
    );
    assert_eq!(lines[2]["from"]["version"], "1.0.0");
    assert_eq!(lines[2]["to"]["version"], "1.1.0");
    assert_eq!(
        lines[3],
        json!({"type": "summary", "added": 1, "removed": 1, "changed": 1})
    );
    assert_eq!(
        env.ok(&["sbom", "diff", old, old]),
        "0 added, 0 removed, 0 changed components\n"
    );
}
