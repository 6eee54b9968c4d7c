//! Builds Alpine `.apk` packages and `APKINDEX.tar.gz` files the way abuild does, from the
//! published format, because no Alpine mirror is reachable from the tests: tars written
//! with the `tar` crate (signature and control tars cut before their end-of-archive blocks,
//! data tar with a PAX `APK-TOOLS.checksum.SHA1` record per file), gzip streams written
//! with `flate2`, and RSA keys and signatures made by the real `openssl` command line
//! (`openssl genrsa`, `openssl dgst -sha1 -sign`), as abuild-sign makes them.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use data_encoding::HEXLOWER;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha1::Digest;

/// An RSA key pair made by `openssl`, named as apk names keys.
pub struct Key {
    pub name: String,
    pub private: PathBuf,
    pub public_pem: String,
}

impl Key {
    pub fn generate(dir: &Path, name: &str) -> Self {
        let private = dir.join(format!("{name}.key"));
        run(Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&private)
            .arg("2048"));
        let public = dir.join(format!("{name}.pub.pem"));
        run(Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public));
        Self {
            name: format!("{name}.rsa.pub"),
            private,
            public_pem: std::fs::read_to_string(public).unwrap(),
        }
    }

    /// `openssl dgst -<digest> -sign` over `bytes`, as abuild-sign signs a stream.
    pub fn sign(&self, digest: &str, bytes: &[u8]) -> Vec<u8> {
        let dir = self.private.parent().unwrap();
        let input = dir.join("to-sign");
        let output = dir.join("signature");
        std::fs::write(&input, bytes).unwrap();
        run(Command::new("openssl")
            .arg("dgst")
            .arg(format!("-{digest}"))
            .arg("-sign")
            .arg(&self.private)
            .arg("-out")
            .arg(&output)
            .arg(&input));
        std::fs::read(output).unwrap()
    }
}

fn run(command: &mut Command) {
    let out = command.output().expect("openssl runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A tar of regular files; `cut` drops the end-of-archive blocks, as `abuild-tar --cut`.
pub fn tar_of(files: &[(&str, &[u8])], cut: bool) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    let mut tar = builder.into_inner().unwrap();
    if cut {
        tar.truncate(tar.len() - 1024);
    }
    tar
}

/// One entry of a data tar; `name` goes into the header as raw bytes, unchecked, so that
/// tests can write hostile names.
pub struct DataEntry<'a> {
    pub name: &'a str,
    pub kind: tar::EntryType,
    pub link: Option<&'a str>,
    pub data: &'a [u8],
}

impl<'a> DataEntry<'a> {
    pub fn file(name: &'a str, data: &'a [u8]) -> Self {
        Self {
            name,
            kind: tar::EntryType::Regular,
            link: None,
            data,
        }
    }

    pub fn dir(name: &'a str) -> Self {
        Self {
            name,
            kind: tar::EntryType::Directory,
            link: None,
            data: b"",
        }
    }

    /// A symbolic (`Symlink`) or hard (`Link`) link to `target`.
    pub fn link(name: &'a str, kind: tar::EntryType, target: &'a str) -> Self {
        Self {
            name,
            kind,
            link: Some(target),
            data: b"",
        }
    }
}

/// The data tar: each regular file preceded by its PAX `APK-TOOLS.checksum.SHA1` record,
/// as `abuild-tar --hash` writes it.
pub fn data_tar(entries: &[DataEntry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        if entry.kind == tar::EntryType::Regular {
            let sha1 = HEXLOWER.encode(&sha1::Sha1::digest(entry.data));
            builder
                .append_pax_extensions([("APK-TOOLS.checksum.SHA1", sha1.as_bytes())])
                .unwrap();
        }
        let mut header = tar::Header::new_gnu();
        let raw = header.as_gnu_mut().unwrap();
        raw.name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
        if let Some(link) = entry.link {
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(0o755);
        header.set_mtime(1_700_000_000);
        // Owned by root, as abuild's fakeroot writes them.
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The parts of a built package, kept apart so that tests can tamper with one.
pub struct Built {
    pub signature: Vec<u8>,
    pub control: Vec<u8>,
    pub data: Vec<u8>,
}

impl Built {
    pub fn bytes(&self) -> Vec<u8> {
        [&self.signature[..], &self.control[..], &self.data[..]].concat()
    }
}

/// The `.PKGINFO` of test packages, with `datahash` filled in.
pub fn pkginfo(name: &str, version: &str, desc: &str, data_gz: &[u8]) -> String {
    let datahash = HEXLOWER.encode(&sha2::Sha256::digest(data_gz));
    format!(
        "# Generated by abuild 3.14.1-r0\n# using fakeroot version 1.36\n\
         pkgname = {name}\npkgver = {version}\npkgdesc = {desc}\nurl = https://example.invalid/\n\
         builddate = 1700000000\npackager = Tester <t@example.invalid>\nsize = 4096\n\
         arch = x86_64\norigin = {name}\ncommit = 0123456789abcdef\nmaintainer = Tester <t@example.invalid>\n\
         license = MIT\ndepend = musl>=1.2.5-r0\ndepend = so:libc.musl-x86_64.so.1\n\
         provides = cmd:{name}={version}\ndatahash = {datahash}\n"
    )
}

/// Builds a package holding `entries`, signed by `key` with `digest` (`sha1` writes
/// `.SIGN.RSA.`, `sha256` `.SIGN.RSA256.`), or unsigned.
pub fn build(
    name: &str,
    desc: &str,
    entries: &[DataEntry<'_>],
    key: Option<(&Key, &str)>,
) -> Built {
    build_with(
        |data| pkginfo(name, "1.2.3-r4", desc, data),
        &[(".post-install", b"#!/bin/sh\necho hi\n")],
        entries,
        key,
    )
}

/// Builds a package holding `entries` whose `.PKGINFO` is `info(data stream)` (which must
/// write the data stream's `datahash`), with control `scripts`, signed as [`build`] signs.
pub fn build_with(
    info: impl FnOnce(&[u8]) -> String,
    scripts: &[(&str, &[u8])],
    entries: &[DataEntry<'_>],
    key: Option<(&Key, &str)>,
) -> Built {
    let data = gzip(&data_tar(entries));
    let info = info(&data);
    let mut control = vec![(".PKGINFO", info.as_bytes())];
    control.extend_from_slice(scripts);
    let control = gzip(&tar_of(&control, true));
    let signature = match key {
        None => Vec::new(),
        Some((key, digest)) => sign_stream(key, digest, &control),
    };
    Built {
        signature,
        control,
        data,
    }
}

/// The signature stream for `signed`, as abuild-sign writes it.
pub fn sign_stream(key: &Key, digest: &str, signed: &[u8]) -> Vec<u8> {
    let prefix = if digest == "sha1" {
        ".SIGN.RSA."
    } else {
        ".SIGN.RSA256."
    };
    let signature = key.sign(digest, signed);
    let name = format!("{prefix}{}", key.name);
    gzip(&tar_of(&[(&name, &signature)], true))
}

/// An `APKINDEX.tar.gz` listing `entries` (`APKINDEX` stanza text each), signed by `key`
/// with sha1 as `abuild-sign` signs indexes, or unsigned. The index tar keeps its
/// end-of-archive blocks, as `apk index` writes it.
pub fn index(description: &str, stanzas: &[String], key: Option<&Key>) -> Vec<u8> {
    let text = stanzas.join("\n");
    let tar = tar_of(
        &[
            ("DESCRIPTION", description.as_bytes()),
            ("APKINDEX", text.as_bytes()),
        ],
        false,
    );
    let stream = gzip(&tar);
    let signature = key
        .map(|key| sign_stream(key, "sha1", &stream))
        .unwrap_or_default();
    [signature, stream].concat()
}

/// A `.PKGINFO` from `key = value` lines, `datahash` of the data stream `data_gz` appended.
pub fn pkginfo_lines(lines: &[(&str, &str)], data_gz: &[u8]) -> String {
    let mut text = String::from("# Generated by abuild 3.14.1-r0\n");
    let datahash = HEXLOWER.encode(&sha2::Sha256::digest(data_gz));
    for (key, value) in lines.iter().chain(&[("datahash", datahash.as_str())]) {
        text.push_str(key);
        text.push_str(" = ");
        text.push_str(value);
        text.push('\n');
    }
    text
}
