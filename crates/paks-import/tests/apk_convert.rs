//! Alpine `.apk` files into rootfs packages. No Alpine mirror is reachable from the tests,
//! so the packages are built by `apk_build` (tars and gzip streams written in Rust, RSA keys
//! and signatures made by the real `openssl`), as abuild writes them.

mod apk_build;

use std::path::{Path, PathBuf};

use apk_build::{DataEntry, Key, build_with, pkginfo_lines};
use paks_import::apk::{ApkTrust, Keyring, convert_apk};
use paks_import::convert::{ImportOptions, write_batch};
use paks_types::{Digest, ForeignFormat, PackageKind};
use tar::EntryType;

/// musl 1.2.5-r0, providing the C library's soname, and `hello`, which needs both.
fn write_packages(dir: &Path, key: Option<&Key>) -> (PathBuf, PathBuf) {
    let key = key.map(|k| (k, "sha256"));
    let musl = build_with(
        |data| {
            pkginfo_lines(
                &[
                    ("pkgname", "musl"),
                    ("pkgver", "1.2.5-r0"),
                    ("pkgdesc", "the musl c library (libc) implementation"),
                    ("url", "https://musl.libc.org/"),
                    ("arch", "x86_64"),
                    ("license", "MIT"),
                    ("origin", "musl"),
                    ("maintainer", "Tester <t@example.invalid>"),
                    ("provides", "so:libc.musl-x86_64.so.1=1"),
                ],
                data,
            )
        },
        &[],
        &[
            DataEntry::dir("lib/"),
            DataEntry::file("lib/ld-musl-x86_64.so.1", b"not really a loader"),
            DataEntry::link(
                "lib/libc.musl-x86_64.so.1",
                EntryType::Symlink,
                "ld-musl-x86_64.so.1",
            ),
        ],
        key,
    );
    let hello = build_with(
        |data| {
            pkginfo_lines(
                &[
                    ("pkgname", "hello"),
                    ("pkgver", "2.12.1_rc2-r3"),
                    ("pkgdesc", "greets"),
                    ("arch", "x86_64"),
                    ("license", "GPL-3.0-or-later"),
                    ("origin", "hello-src"),
                    ("depend", "musl>=1.2.5-r0 so:libc.musl-x86_64.so.1"),
                    ("depend", "!hello-legacy"),
                    ("provides", "cmd:hello=2.12.1_rc2-r3"),
                    ("install_if", "hello-meta"),
                ],
                data,
            )
        },
        &[
            (".post-install", b"#!/bin/sh\necho hi\n"),
            (".trigger", b"#!/bin/sh\n"),
        ],
        &[
            DataEntry::dir("usr/"),
            DataEntry::dir("usr/bin/"),
            DataEntry::file("usr/bin/hello", b"#!/bin/sh\necho hello\n"),
            DataEntry::link("bin/sh", EntryType::Symlink, "/bin/busybox"),
        ],
        key,
    );
    let (m, h) = (
        dir.join("musl-1.2.5-r0.apk"),
        dir.join("hello-2.12.1_rc2-r3.apk"),
    );
    std::fs::write(&m, musl.bytes()).unwrap();
    std::fs::write(&h, hello.bytes()).unwrap();
    (m, h)
}

fn trusting(key: &Key) -> ApkTrust {
    let mut keyring = Keyring::new();
    keyring.add_pem(&key.name, &key.public_pem).unwrap();
    ApkTrust {
        keyring,
        allow_untrusted: false,
    }
}

fn options() -> ImportOptions {
    ImportOptions {
        platform: Some("linux/amd64".parse().unwrap()),
        ..ImportOptions::default()
    }
}

#[test]
fn a_signed_batch_becomes_pinned_rootfs_packages() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "tester-1234");
    let (musl, hello) = write_packages(dir.path(), Some(&key));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let trust = trusting(&key);
    let batch = vec![
        convert_apk(&hello, &out, &trust, &options()).unwrap(),
        convert_apk(&musl, &out, &trust, &options()).unwrap(),
    ];
    let imported = write_batch(batch, &out, options().compression).unwrap();
    let (h, m) = (&imported[0], &imported[1]);

    let meta = &h.meta;
    assert_eq!(meta.kind, PackageKind::Rootfs);
    assert_eq!(meta.name.as_str(), "hello");
    assert_eq!(meta.platform.to_string(), "linux/amd64");
    let origin = meta.origin.as_ref().unwrap();
    assert_eq!(origin.format, ForeignFormat::Apk);
    assert_eq!(origin.version, "2.12.1_rc2-r3");
    assert_eq!(origin.architecture, "x86_64");
    assert_eq!(origin.source.as_deref(), Some("hello-src"));
    let bytes = std::fs::read(&hello).unwrap();
    assert_eq!(origin.file_digest, Digest::sha256_of(&bytes));
    assert_eq!(
        origin.relations["depend"],
        "musl>=1.2.5-r0 so:libc.musl-x86_64.so.1 !hello-legacy"
    );
    assert_eq!(origin.relations["provides"], "cmd:hello=2.12.1_rc2-r3");
    assert_eq!(origin.relations["install_if"], "hello-meta");
    assert_eq!(origin.scripts_not_run, [".post-install", ".trigger"]);
    assert_eq!(meta.contents, ["bin/sh", "usr/bin/hello"]);
    assert_eq!(meta.summary.as_deref(), Some("greets"));
    assert_eq!(meta.license.as_deref(), Some("GPL-3.0-or-later"));
    // The version's semver form keeps apk's order: an _rc sorts before the release.
    let release = paks_import::apk::AlpineVersion::parse("2.12.1-r0").unwrap();
    assert!(meta.version < release.semver_compatible());

    // Both of hello's needs (by name, by `so:` provide) are musl, pinned by digest;
    // the conflict `!hello-legacy` is not a dependency.
    assert_eq!(meta.dependencies.len(), 1, "{:?}", meta.dependencies);
    let dep = &meta.dependencies[0];
    assert_eq!(dep.id, m.meta.id);
    assert_eq!(dep.digest.as_ref(), Some(&m.digest));
    assert!(h.unsatisfied.is_empty(), "{:?}", h.unsatisfied);
    assert!(m.meta.dependencies.is_empty());
}

#[test]
fn the_same_apk_gives_the_same_pak() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "tester-1234");
    let (musl, _) = write_packages(dir.path(), Some(&key));
    let digests: Vec<Digest> = ["a", "b"]
        .iter()
        .map(|sub| {
            let out = dir.path().join(sub);
            std::fs::create_dir(&out).unwrap();
            let c = convert_apk(&musl, &out, &trusting(&key), &options()).unwrap();
            write_batch(vec![c], &out, options().compression).unwrap()[0]
                .digest
                .clone()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn unsigned_and_untrusted_packages_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "tester-1234");
    let stranger = Key::generate(dir.path(), "stranger-99");
    let signed = dir.path().join("signed");
    let unsigned = dir.path().join("unsigned");
    std::fs::create_dir(&signed).unwrap();
    std::fs::create_dir(&unsigned).unwrap();
    let (by_stranger, _) = write_packages(&signed, Some(&stranger));
    let (not_signed, _) = write_packages(&unsigned, None);
    let trust = trusting(&key);
    for (path, why) in [
        (
            &by_stranger,
            "signed by `stranger-99.rsa.pub`, which is not a trusted key",
        ),
        (&not_signed, "unsigned"),
    ] {
        let e = convert_apk(path, dir.path(), &trust, &options())
            .err()
            .unwrap();
        let text = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(
            text.contains(&path.display().to_string()) && text.contains(why),
            "{text}"
        );
        assert!(e.is_input());
    }
    let allowed = ApkTrust {
        allow_untrusted: true,
        ..trust
    };
    for path in [&by_stranger, &not_signed] {
        let c = convert_apk(path, dir.path(), &allowed, &options()).unwrap();
        assert_eq!(c.meta.name.as_str(), "musl");
    }
}

#[test]
fn a_package_for_another_platform_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (musl, _) = write_packages(dir.path(), None);
    let allowed = ApkTrust {
        allow_untrusted: true,
        ..ApkTrust::default()
    };
    let arm = ImportOptions {
        platform: Some("linux/arm64".parse().unwrap()),
        ..ImportOptions::default()
    };
    let e = convert_apk(&musl, dir.path(), &allowed, &arm)
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("(`x86_64`), not `linux/arm64`"),
        "{e}"
    );
}
