//! Reading `.apk` packages: signatures, `datahash`, truncation, limits, hostile entries.
//! The packages are built by `apk_build` (Rust tar/gzip writers and the real `openssl`).

mod apk_build;

use std::io::{Cursor, Read};

use apk_build::{DataEntry, Key, build, gzip, tar_of};
use paks_import::apk::{
    ApkError, ApkPackage, Keyring, Limits, ScriptKind, SignatureAlgorithm, SignatureStatus,
};

fn keyring(keys: &[&Key]) -> Keyring {
    let mut ring = Keyring::new();
    for key in keys {
        ring.add_pem(&key.name, &key.public_pem).unwrap();
    }
    ring
}

fn hello_entries() -> Vec<DataEntry<'static>> {
    vec![
        DataEntry::dir("usr/bin/"),
        DataEntry::file("usr/bin/hello", b"#!/bin/sh\necho hello\n"),
    ]
}

/// One entry of a data tar as the caller sees it.
struct Seen {
    name: String,
    link: Option<String>,
    /// The PAX `APK-TOOLS.checksum.SHA1` record.
    sha1: Option<String>,
    body: Vec<u8>,
}

/// Reads the data tar as an extractor would: names, link targets, PAX checksums, bodies.
fn data_entries<R: Read + std::io::Seek>(package: ApkPackage<R>) -> Vec<Seen> {
    let mut archive = tar::Archive::new(package.into_data());
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let sha1 = entry.pax_extensions().unwrap().and_then(|mut pax| {
            pax.find_map(|e| {
                let e = e.unwrap();
                (e.key().unwrap() == "APK-TOOLS.checksum.SHA1")
                    .then(|| e.value().unwrap().to_owned())
            })
        });
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        out.push(Seen {
            name,
            link,
            sha1,
            body,
        });
    }
    out
}

/// A key named `packager` and the `hello` package signed by it with `digest`.
fn signed_hello(dir: &std::path::Path, digest: &str) -> (Key, apk_build::Built) {
    let key = Key::generate(dir, "packager");
    let built = build(
        "hello",
        "Says hello",
        &hello_entries(),
        Some((&key, digest)),
    );
    (key, built)
}

#[test]
fn a_signed_package_verifies_and_hands_over_its_data_tar() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "packager-61a1b2c3");
    for (digest, algorithm) in [
        ("sha1", SignatureAlgorithm::RsaSha1),
        ("sha256", SignatureAlgorithm::RsaSha256),
    ] {
        let built = build(
            "hello",
            "Says hello",
            &hello_entries(),
            Some((&key, digest)),
        );
        let package = ApkPackage::open(Cursor::new(built.bytes()), &keyring(&[&key])).unwrap();
        assert_eq!(
            package.signature,
            SignatureStatus::Verified {
                key: "packager-61a1b2c3.rsa.pub".to_owned(),
                algorithm
            }
        );
        package.signature.require_trusted("package").unwrap();
        assert_eq!(package.pkginfo.name, "hello");
        assert_eq!(package.pkginfo.version.as_str(), "1.2.3-r4");
        assert_eq!(package.pkginfo.description.as_deref(), Some("Says hello"));
        assert_eq!(package.pkginfo.depends.len(), 2);
        assert_eq!(package.scripts.len(), 1);
        assert_eq!(package.scripts[0].kind, ScriptKind::PostInstall);
        assert_eq!(
            package.data_offset(),
            (built.signature.len() + built.control.len()) as u64
        );
        let entries = data_entries(package);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["usr/bin/", "usr/bin/hello"]);
        assert_eq!(entries[1].body, b"#!/bin/sh\necho hello\n");
        // sha1 of the file body, as `abuild-tar --hash` records it.
        let sha1 = <sha1::Sha1 as sha1::Digest>::digest(b"#!/bin/sh\necho hello\n");
        assert_eq!(entries[1].sha1, Some(data_encoding::HEXLOWER.encode(&sha1)));
    }
}

#[test]
fn tampered_data_is_a_datahash_error() {
    let dir = tempfile::tempdir().unwrap();
    let (key, mut built) = signed_hello(dir.path(), "sha1");
    built.data = gzip(&apk_build::data_tar(&[DataEntry::file(
        "usr/bin/hello",
        b"#!/bin/sh\nrm -rf /\n",
    )]));
    let err = ApkPackage::open(Cursor::new(built.bytes()), &keyring(&[&key])).unwrap_err();
    assert!(matches!(err, ApkError::DataHash { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("the data stream's sha256 is `"),
        "{err}"
    );
    assert!(
        err.to_string().contains("but `.PKGINFO` says `datahash = "),
        "{err}"
    );
}

#[test]
fn tampered_control_is_a_signature_error() {
    let dir = tempfile::tempdir().unwrap();
    let (key, built) = signed_hello(dir.path(), "sha256");
    // Same data, a different control stream, the original signature.
    let other = build("hello", "Says something else", &hello_entries(), None);
    let tampered = [&built.signature[..], &other.control[..], &built.data[..]].concat();
    let err = ApkPackage::open(Cursor::new(tampered), &keyring(&[&key])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the signature by trusted key `packager.rsa.pub` does not match the control stream"
    );
}

#[test]
fn unknown_keys_and_missing_signatures_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Key::generate(dir.path(), "stranger");
    let trusted = Key::generate(dir.path(), "alpine-devel@lists.alpinelinux.org-6165ee59");
    let by_stranger = build(
        "hello",
        "Says hello",
        &hello_entries(),
        Some((&signer, "sha1")),
    );
    let package =
        ApkPackage::open(Cursor::new(by_stranger.bytes()), &keyring(&[&trusted])).unwrap();
    assert_eq!(
        package.signature,
        SignatureStatus::UntrustedKey {
            keys: vec!["stranger.rsa.pub".to_owned()]
        }
    );
    assert_eq!(
        package
            .signature
            .require_trusted("package")
            .unwrap_err()
            .to_string(),
        "the package is signed by `stranger.rsa.pub`, which is not a trusted key"
    );

    // A key under the signer's name that is not the signer's key is a bad signature.
    let mut impostor = Keyring::new();
    impostor
        .add_pem("stranger.rsa.pub", &trusted.public_pem)
        .unwrap();
    let err = ApkPackage::open(Cursor::new(by_stranger.bytes()), &impostor).unwrap_err();
    assert!(matches!(err, ApkError::BadSignature { .. }), "{err:?}");

    let unsigned = build("hello", "Says hello", &hello_entries(), None);
    let package = ApkPackage::open(Cursor::new(unsigned.bytes()), &keyring(&[&trusted])).unwrap();
    assert_eq!(package.signature, SignatureStatus::Unsigned);
    assert_eq!(
        package
            .signature
            .require_trusted("package")
            .unwrap_err()
            .to_string(),
        "the package is unsigned"
    );
}

#[test]
fn truncated_packages_are_refused_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (key, built) = signed_hello(dir.path(), "sha1");
    let bytes = built.bytes();
    let ring = keyring(&[&key]);
    // Every length short of the whole file fails, whichever stream the cut falls in.
    for len in 0..bytes.len() {
        let result = ApkPackage::open(Cursor::new(&bytes[..len]), &ring);
        let err = result
            .err()
            .unwrap_or_else(|| panic!("a cut at {len} was accepted"));
        let expected = match len {
            0 => matches!(err, ApkError::MissingPkgInfo),
            l if l < built.signature.len() + built.control.len() => {
                matches!(err, ApkError::Gzip { .. } | ApkError::MissingPkgInfo)
            }
            l if l == built.signature.len() + built.control.len() => {
                matches!(err, ApkError::MissingData)
            }
            _ => matches!(err, ApkError::DataHash { .. }),
        };
        assert!(expected, "cut at {len}: {err:?}");
    }
    assert!(ApkPackage::open(Cursor::new(&bytes[..]), &ring).is_ok());
}

#[test]
fn hostile_data_entries_reach_the_caller_unmodified() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "packager");
    let entries = [
        DataEntry::file("../../escape", b"out"),
        DataEntry::file("/etc/passwd", b"root::0:0::/:/bin/sh\n"),
        DataEntry::link("usr/lib/evil", tar::EntryType::Symlink, "/"),
        DataEntry::link("usr/lib/hard", tar::EntryType::Link, "../../../etc/shadow"),
    ];
    let built = build("evil", "Hostile", &entries, Some((&key, "sha1")));
    let package = ApkPackage::open(Cursor::new(built.bytes()), &keyring(&[&key])).unwrap();
    let read = data_entries(package);
    let seen: Vec<(&str, Option<&str>)> = read
        .iter()
        .map(|e| (e.name.as_str(), e.link.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("../../escape", None),
            ("/etc/passwd", None),
            ("usr/lib/evil", Some("/")),
            ("usr/lib/hard", Some("../../../etc/shadow")),
        ]
    );
}

#[test]
fn sizes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "packager");
    // A megabyte of zeros compresses to about a kilobyte: the limit is on what it inflates to.
    let big = vec![0u8; 1 << 20];
    let built = build(
        "big",
        "Big",
        &[DataEntry::file("big", &big)],
        Some((&key, "sha1")),
    );
    let ring = keyring(&[&key]);
    let small = Limits {
        data: 64 << 10,
        ..Limits::default()
    };
    let package = ApkPackage::open_with_limits(Cursor::new(built.bytes()), &ring, small).unwrap();
    let mut sink = Vec::new();
    let err = package.into_data().read_to_end(&mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the data stream is larger than the limit of 65536 bytes"
    );
    assert!(sink.len() <= 64 << 10);

    // A control stream over its limit is refused before anything else is read.
    let control = Limits {
        control: 1 << 10,
        ..Limits::default()
    };
    let padded = gzip(&tar_of(
        &[(".PKGINFO", b"pkgname = x\n"), (".pad", &big)],
        true,
    ));
    let bytes = [&padded[..], &built.data[..]].concat();
    let err = ApkPackage::open_with_limits(Cursor::new(bytes), &ring, control).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the control stream is larger than the limit of 1024 bytes"
    );

    // So is a signature stream over its limit.
    let sig = Limits {
        signature: 16,
        ..Limits::default()
    };
    let err = ApkPackage::open_with_limits(Cursor::new(built.bytes()), &ring, sig).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the signature stream is larger than the limit of 16 bytes"
    );
}

#[test]
fn a_file_outside_the_control_stream_layout_is_refused() {
    let data = gzip(&apk_build::data_tar(&hello_entries()));
    let info = apk_build::pkginfo("x", "1.0-r0", "x", &data);
    let control = gzip(&tar_of(
        &[(".PKGINFO", info.as_bytes()), ("usr/bin/sneaky", b"x")],
        true,
    ));
    let bytes = [&control[..], &data[..]].concat();
    let err = ApkPackage::open(Cursor::new(bytes), &Keyring::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected entry `usr/bin/sneaky` in the control stream"
    );
}

/// abuild's own pipeline, with the real tools: GNU `tar` (posix format, whose control tar
/// here starts with a global PAX header and keeps its end-of-archive blocks and record
/// padding, as a tar not cut by
/// `abuild-tar` does) and `gzip -9 -n`, then `openssl dgst -sha1 -sign`.
#[test]
fn a_package_made_with_gnu_tar_and_gzip_reads() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate(dir.path(), "packager");
    let root = dir.path().join("pkg");
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("usr/bin/hello"), b"#!/bin/sh\necho hello\n").unwrap();
    let pipe = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let data = pipe("tar --format=posix --owner=0 --group=0 -C pkg -cf - usr | gzip -9 -n");
    let control_dir = dir.path().join("control");
    std::fs::create_dir(&control_dir).unwrap();
    let info = apk_build::pkginfo("hello", "2.0_rc1-r0", "From GNU tar", &data);
    std::fs::write(control_dir.join(".PKGINFO"), info).unwrap();
    std::fs::write(control_dir.join(".trigger"), "#!/bin/sh\n").unwrap();
    let control = pipe(
        "tar --format=posix --pax-option=comment=abuild -C control -cf - .PKGINFO .trigger | gzip -9 -n",
    );
    let signature = apk_build::sign_stream(&key, "sha1", &control);
    let bytes = [&signature[..], &control[..], &data[..]].concat();

    let package = ApkPackage::open(Cursor::new(bytes), &keyring(&[&key])).unwrap();
    package.signature.require_trusted("package").unwrap();
    assert_eq!(package.pkginfo.version.as_str(), "2.0_rc1-r0");
    assert_eq!(package.scripts[0].kind, ScriptKind::Trigger);
    let names: Vec<String> = data_entries(package).into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["usr/", "usr/bin/", "usr/bin/hello"]);
}

/// A signature stream may hold several signatures; as in apk, the first one by a trusted
/// key decides, and those by unknown keys before it are passed over.
#[test]
fn the_first_signature_by_a_trusted_key_decides() {
    let dir = tempfile::tempdir().unwrap();
    let stranger = Key::generate(dir.path(), "stranger");
    let (trusted, built) = signed_hello(dir.path(), "sha256");
    let by_stranger = stranger.sign("sha1", &built.control);
    let by_trusted = trusted.sign("sha256", &built.control);
    let stranger_name = format!(".SIGN.RSA.{}", stranger.name);
    let trusted_name = format!(".SIGN.RSA256.{}", trusted.name);
    let signatures = gzip(&tar_of(
        &[
            (&stranger_name, &by_stranger),
            (".SIGN.DSA.legacy.rsa.pub", b"not checked"),
            (&trusted_name, &by_trusted),
        ],
        true,
    ));
    let bytes = [&signatures[..], &built.control[..], &built.data[..]].concat();
    let package = ApkPackage::open(Cursor::new(bytes), &keyring(&[&trusted])).unwrap();
    assert_eq!(
        package.signature,
        SignatureStatus::Verified {
            key: "packager.rsa.pub".to_owned(),
            algorithm: SignatureAlgorithm::RsaSha256
        }
    );
}

/// Keys are read from a directory as apk reads `/etc/apk/keys`: `*.pub` files, named by
/// file name; a file that is not a PEM public key is an error naming it.
#[test]
fn keys_are_read_from_a_directory_like_etc_apk_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (key, built) = signed_hello(dir.path(), "sha1");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join(&key.name), &key.public_pem).unwrap();
    std::fs::write(keys.join("README"), "not a key").unwrap();
    let ring = Keyring::from_dir(&keys).unwrap();
    let package = ApkPackage::open(Cursor::new(built.bytes()), &ring).unwrap();
    package.signature.require_trusted("package").unwrap();

    std::fs::write(keys.join("broken.rsa.pub"), "-----BEGIN PUBLIC KEY-----\n").unwrap();
    let err = Keyring::from_dir(&keys).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`broken.rsa.pub` is not a PEM RSA public key"
    );
}

/// Every byte of the control and data streams is covered by the signature or `datahash`:
/// changing any one of them is refused. A change in the signature stream never panics
/// (some, like the gzip header's timestamp, change nothing that is signed).
#[test]
fn changing_any_signed_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (key, built) = signed_hello(dir.path(), "sha1");
    let ring = keyring(&[&key]);
    let bytes = built.bytes();
    for i in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[i] ^= 0x20;
        let result = ApkPackage::open(Cursor::new(changed), &ring);
        if i >= built.signature.len() {
            assert!(result.is_err(), "a change at byte {i} was accepted");
        }
    }
}
