//! Reading `APKINDEX.tar.gz` and checking packages against it. Indexes and packages are
//! built by `apk_build` (Rust tar/gzip writers and the real `openssl`).

mod apk_build;

use std::io::Cursor;

use apk_build::{DataEntry, Key, build};
use paks_import::apk::{ApkError, ApkIndex, ApkPackage, Keyring, SignatureStatus};

/// The `APKINDEX` stanza of `package`, as `apk index` writes it.
fn stanza(checksum: &str, name: &str, deps: &str) -> String {
    format!(
        "C:{checksum}\nP:{name}\nV:1.2.3-r4\nA:x86_64\nS:1234\nI:4096\nT:Says hello\n\
         U:https://example.invalid/\nL:MIT\no:{name}\nm:Tester <t@example.invalid>\n\
         t:1700000000\nc:0123456789abcdef\nD:{deps}\np:cmd:{name}=1.2.3-r4\n"
    )
}

#[test]
fn a_signed_index_lists_packages_that_match_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "repo-5a6b7c8d");
    let mut ring = Keyring::new();
    ring.add_pem(&key.name, &key.public_pem).unwrap();
    let hello = build(
        "hello",
        "Says hello",
        &[DataEntry::file("usr/bin/hello", b"hi\n")],
        Some((&key, "sha1")),
    );
    let other = build(
        "other",
        "Another",
        &[DataEntry::file("usr/bin/other", b"x\n")],
        Some((&key, "sha1")),
    );
    let hello = ApkPackage::open(Cursor::new(hello.bytes()), &ring).unwrap();
    let other = ApkPackage::open(Cursor::new(other.bytes()), &ring).unwrap();
    assert!(hello.control_checksum().starts_with("Q1"));
    assert_eq!(
        hello.control_checksum().len(),
        2 + 28,
        "Q1 and the base64 of 20 bytes"
    );

    let bytes = apk_build::index(
        "v3.20.3-110-g1234abcd\n",
        &[
            stanza(
                &hello.control_checksum(),
                "hello",
                "musl>=1.2.5-r0 so:libc.musl-x86_64.so.1",
            ),
            stanza(&other.control_checksum(), "other", "hello !conflicting"),
        ],
        Some(&key),
    );
    let index = ApkIndex::read(Cursor::new(&bytes), &ring).unwrap();
    assert_eq!(
        index.signature,
        SignatureStatus::Verified {
            key: "repo-5a6b7c8d.rsa.pub".to_owned(),
            algorithm: paks_import::apk::SignatureAlgorithm::RsaSha1
        }
    );
    assert_eq!(index.description.as_deref(), Some("v3.20.3-110-g1234abcd"));
    assert_eq!(index.packages.len(), 2);
    let entry = index.find("hello").next().unwrap();
    assert_eq!(entry.version.as_str(), "1.2.3-r4");
    assert_eq!((entry.size, entry.installed_size), (Some(1234), Some(4096)));
    assert_eq!(entry.depends[1].name, "so:libc.musl-x86_64.so.1");
    entry.check_package(&hello).unwrap();

    // The other package's file under hello's entry is refused, naming both checksums.
    let err = entry.check_package(&other).unwrap_err();
    assert!(matches!(err, ApkError::IndexChecksum { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the package's control checksum is `{}`, but the index says `C:{}`",
            other.control_checksum(),
            hello.control_checksum()
        )
    );
}

#[test]
fn a_tampered_index_is_a_signature_error_and_an_unsigned_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "repo");
    let mut ring = Keyring::new();
    ring.add_pem(&key.name, &key.public_pem).unwrap();
    let honest = apk_build::index("v1", &[stanza("Q1AAAA", "hello", "")], Some(&key));
    let forged = apk_build::index("v1", &[stanza("Q1BBBB", "hello", "")], None);
    // The honest signature stream before a forged index stream.
    let signature_len =
        honest.len() - apk_build::index("v1", &[stanza("Q1AAAA", "hello", "")], None).len();
    let tampered = [&honest[..signature_len], &forged[..]].concat();
    let err = ApkIndex::read(Cursor::new(tampered), &ring).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the signature by trusted key `repo.rsa.pub` does not match the index stream"
    );

    let unsigned = ApkIndex::read(Cursor::new(forged), &ring).unwrap();
    assert_eq!(unsigned.signature, SignatureStatus::Unsigned);
    assert_eq!(
        unsigned
            .signature
            .require_trusted("index")
            .unwrap_err()
            .to_string(),
        "the index is unsigned"
    );
}

#[test]
fn truncated_indexes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "repo");
    let mut ring = Keyring::new();
    ring.add_pem(&key.name, &key.public_pem).unwrap();
    let bytes = apk_build::index("v1", &[stanza("Q1AAAA", "hello", "")], Some(&key));
    for len in 0..bytes.len() {
        assert!(
            ApkIndex::read(Cursor::new(&bytes[..len]), &ring).is_err(),
            "a cut at {len} was accepted"
        );
    }
}
