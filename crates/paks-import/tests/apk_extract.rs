//! The data tar of a verified package goes through paks-archive's hardened extraction,
//! which is where hostile entries are refused. Packages are built by `apk_build`.

mod apk_build;

use std::io::Cursor;

use apk_build::{DataEntry, Key, build};
use paks_import::apk::{ApkPackage, Keyring};

fn open(entries: &[DataEntry<'_>], dir: &std::path::Path) -> ApkPackage<Cursor<Vec<u8>>> {
    let key = Key::generate(dir, "packager");
    let built = build("pkg", "Package", entries, Some((&key, "sha1")));
    let mut ring = Keyring::new();
    ring.add_pem(&key.name, &key.public_pem).unwrap();
    let package = ApkPackage::open(Cursor::new(built.bytes()), &ring).unwrap();
    package.signature.require_trusted("package").unwrap();
    package
}

#[test]
fn a_package_extracts_with_paks_archive() {
    let dir = tempfile::tempdir().unwrap();
    let package = open(
        &[
            DataEntry::dir("usr/bin/"),
            DataEntry::file("usr/bin/hello", b"#!/bin/sh\necho hello\n"),
            DataEntry::link("usr/bin/hi", tar::EntryType::Symlink, "hello"),
        ],
        dir.path(),
    );
    let dest = dir.path().join("root");
    std::fs::create_dir(&dest).unwrap();
    let limits = paks_archive::Limits::default();
    let stats = paks_archive::extract_layer(package.into_data(), &dest, "", &limits).unwrap();
    assert_eq!(stats.entries, 3);
    assert_eq!(
        std::fs::read(dest.join("usr/bin/hello")).unwrap(),
        b"#!/bin/sh\necho hello\n"
    );
    assert_eq!(
        std::fs::read_link(dest.join("usr/bin/hi")).unwrap(),
        std::path::Path::new("hello")
    );
}

#[test]
fn hostile_entries_are_refused_by_the_extractor_not_written() {
    let dir = tempfile::tempdir().unwrap();
    for (i, entry) in [
        DataEntry::file("../escape", b"out"),
        DataEntry::file("/abs", b"out"),
        DataEntry::link("usr/lib/up", tar::EntryType::Symlink, "../../.."),
    ]
    .into_iter()
    .enumerate()
    {
        let case = dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(case.join("root")).unwrap();
        let package = open(&[entry], &case);
        let limits = paks_archive::Limits::default();
        let result =
            paks_archive::extract_layer(package.into_data(), &case.join("root"), "", &limits);
        assert!(result.is_err(), "case {i} was extracted");
        assert!(!case.join("escape").exists() && !dir.path().join("escape").exists());
    }
}
