//! `paks import apk`: Alpine packages into rootfs packages, pushed to a real `paks serve`.
//! No Alpine mirror is reachable from the tests, so the `.apk` files are built by
//! paks-import's `apk_build` helpers (tars and gzip streams written in Rust, keys and
//! signatures by the real `openssl`), as abuild writes them.

#[path = "../../paks-import/tests/apk_build/mod.rs"]
mod apk_build;
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apk_build::{DataEntry, Key, build_with, pkginfo_lines};
use common::{Env, paks_bin};
use serde_json::Value;

/// `musl` (providing the C library's soname) and `hello` (needing it), signed by `key` or
/// not, in `dir`.
fn write_packages(dir: &Path, key: Option<&Key>) {
    std::fs::create_dir_all(dir).unwrap();
    let key = key.map(|k| (k, "sha256"));
    let musl = build_with(
        |data| {
            pkginfo_lines(
                &[
                    ("pkgname", "musl"),
                    ("pkgver", "1.2.5-r0"),
                    ("pkgdesc", "the musl c library"),
                    ("arch", "x86_64"),
                    ("license", "MIT"),
                    ("origin", "musl"),
                    ("provides", "so:libc.musl-x86_64.so.1=1"),
                ],
                data,
            )
        },
        &[],
        &[
            DataEntry::dir("lib/"),
            DataEntry::file("lib/ld-musl-x86_64.so.1", b"not really a loader"),
        ],
        key,
    );
    let hello = build_with(
        |data| {
            pkginfo_lines(
                &[
                    ("pkgname", "hello"),
                    ("pkgver", "2.12.1-r3"),
                    ("pkgdesc", "greets"),
                    ("arch", "x86_64"),
                    ("origin", "hello"),
                    ("depend", "so:libc.musl-x86_64.so.1"),
                ],
                data,
            )
        },
        &[(".post-install", b"#!/bin/sh\necho hi\n")],
        &[
            DataEntry::dir("usr/"),
            DataEntry::dir("usr/bin/"),
            DataEntry::file("usr/bin/hello", b"#!/bin/sh\necho hello\n"),
        ],
        key,
    );
    std::fs::write(dir.join("musl-1.2.5-r0.apk"), musl.bytes()).unwrap();
    std::fs::write(dir.join("hello-2.12.1-r3.apk"), hello.bytes()).unwrap();
}

fn keys_dir(env: &Env, key: &Key) -> PathBuf {
    let keys = env.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join(&key.name), &key.public_pem).unwrap();
    keys
}

fn packages(stdout: &str) -> BTreeMap<String, Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["type"] == "package")
        .map(|l| (l["name"].as_str().unwrap().to_owned(), l))
        .collect()
}

#[test]
fn signed_apks_are_imported_pinned_and_pushed() {
    let env = Env::new();
    let key = Key::generate(env.dir.path(), "tester-1234");
    let apks = env.dir.path().join("apks");
    write_packages(&apks, Some(&key));
    let keys = keys_dir(&env, &key);
    let server = paks_testkit::PaksServe::start(
        Path::new(paks_bin()),
        &env.dir.path().join("registry-data"),
        &[],
    );
    let ns = format!("{}/alpine", server.host());
    let out = env.dir.path().join("paks");
    let stdout = env.ok(&[
        "import",
        "apk",
        apks.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--push",
        &ns,
        "--json",
    ]);
    let packages = packages(&stdout);
    assert_eq!(packages.keys().collect::<Vec<_>>(), ["hello", "musl"]);
    let hello = &packages["hello"];
    assert_eq!(hello["version"], "2.12.1-r3");
    assert_eq!(hello["dependencies"], serde_json::json!(["musl"]));
    assert_eq!(
        hello["scripts_not_run"],
        serde_json::json!([".post-install"])
    );
    assert_eq!(hello["unsatisfied"], serde_json::json!([]));

    // In the registry: hello's config pins musl by the digest it was pushed under.
    let reference = format!("docker://{ns}/hello@{}", hello["digest"].as_str().unwrap());
    let config: Value = serde_json::from_str(&paks_testkit::skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &reference,
    ]))
    .unwrap();
    let meta = &config["paks"];
    assert_eq!(meta["kind"], "rootfs");
    assert_eq!(meta["origin"]["format"], "apk");
    assert_eq!(
        meta["origin"]["relations"]["depend"],
        "so:libc.musl-x86_64.so.1"
    );
    assert_eq!(
        meta["dependencies"][0]["digest"],
        packages["musl"]["digest"]
    );
    let pushed = stdout
        .lines()
        .filter(|l| l.contains("\"type\":\"push\""))
        .count();
    assert_eq!(pushed, 2, "{stdout}");
}

#[test]
fn unsigned_apks_are_refused_unless_allowed() {
    let env = Env::new();
    let apks = env.dir.path().join("apks");
    write_packages(&apks, None);
    let out = env.dir.path().join("paks");
    let out = out.to_str().unwrap();
    let stderr = env.fails(&["import", "apk", apks.to_str().unwrap(), "--out", out], 1);
    assert!(stderr.contains("hello-2.12.1-r3.apk"), "{stderr}");
    assert!(stderr.contains("the package is unsigned"), "{stderr}");
    assert!(stderr.contains("--allow-untrusted"), "{stderr}");

    let stdout = env.ok(&[
        "import",
        "apk",
        apks.to_str().unwrap(),
        "--out",
        out,
        "--allow-untrusted",
        "--json",
    ]);
    assert_eq!(packages(&stdout).len(), 2);
}
