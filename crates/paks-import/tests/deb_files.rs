//! `.deb` files: real ones from the Debian archive (fetched once with `apt-get download`
//! into `target/debs-cache/`), checked against `dpkg-deb` and `sha256sum`; and hostile
//! ones built here.

use std::io::{Read, Write};
use std::process::Command;

use paks_import::deb::{Compression, DebReader, Limits};

mod real_deb;
use real_deb::real_deb;

/// The packages fetched: plain, `~` in the version, a big library with scripts, an epoch.
const PACKAGES: [&str; 4] = ["hello", "ca-certificates", "libc6", "bsdutils"];

fn tool(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}");
    out.stdout
}

#[test]
fn real_debs_read_as_dpkg_deb_reads_them() {
    for name in PACKAGES {
        let path = real_deb(name);
        let p = path.to_str().unwrap();
        let mut deb = DebReader::open(std::fs::File::open(&path).unwrap(), &Limits::default())
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        let c = deb.control().clone();
        let field = |f: &str| String::from_utf8(tool("dpkg-deb", &["-f", p, f])).unwrap();
        assert_eq!(c.control.package, name);
        assert_eq!(c.control.version.to_string(), field("Version").trim());
        assert_eq!(c.control.architecture, field("Architecture").trim());
        let summary = field("Description");
        assert_eq!(
            c.control.description.as_ref().unwrap().summary,
            summary.lines().next().unwrap()
        );
        // The control tarball's listing, by dpkg-deb.
        let listing = String::from_utf8(tool(
            "sh",
            &["-c", &format!("dpkg-deb --ctrl-tarfile '{p}' | tar t")],
        ))
        .unwrap();
        for script in [
            "preinst", "postinst", "prerm", "postrm", "config", "triggers",
        ] {
            assert_eq!(
                c.scripts.iter().any(|s| s == script),
                listing.lines().any(|l| l == format!("./{script}")),
                "{name}: {script}"
            );
        }
        let md5_lines = String::from_utf8(tool(
            "sh",
            &[
                "-c",
                &format!("dpkg-deb --ctrl-tarfile '{p}' | tar xO ./md5sums | wc -l"),
            ],
        ))
        .unwrap();
        assert_eq!(
            c.md5sums.len(),
            md5_lines.trim().parse::<usize>().unwrap(),
            "{name}"
        );
        // The data tarball, decompressed, is byte for byte what dpkg-deb extracts.
        let mut data = Vec::new();
        deb.data().unwrap().read_to_end(&mut data).unwrap();
        let expected = tool("sh", &["-c", &format!("dpkg-deb --fsys-tarfile '{p}'")]);
        assert!(
            data == expected,
            "{name}: the data tarball differs from dpkg-deb's"
        );
        let (digest, size) = deb.finish().unwrap();
        let sum = String::from_utf8(tool("sha256sum", &[p])).unwrap();
        assert_eq!(digest.hex(), sum.split_whitespace().next().unwrap());
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    }
}

#[test]
fn real_debs_carry_the_versions_and_relations_expected() {
    let open = |n| {
        DebReader::open(
            std::fs::File::open(real_deb(n)).unwrap(),
            &Limits::default(),
        )
        .unwrap()
    };
    let bsdutils = open("bsdutils");
    assert_eq!(bsdutils.control().control.version.epoch(), 1);
    let ca = open("ca-certificates");
    assert!(ca.control().control.version.upstream().contains('~'));
    assert_eq!(ca.control().control.architecture, "all");
    let libc = open("libc6");
    let c = &libc.control().control;
    assert!(c.source.as_ref().is_some_and(|s| s.name == "glibc"));
    assert!(c.installed_size_kib.unwrap() > 1000);
    assert!(!libc.control().scripts.is_empty());
    assert!(!c.breaks.is_empty() && c.breaks.iter().flatten().all(|r| r.version.is_some()));
    assert!(c.depends.iter().flatten().any(|r| r.name == "libgcc-s1"));
}

/// An `ar` archive of `members` (name, bytes), as `ar` and dpkg-deb write it.
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        writeln!(
            out,
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`",
            0,
            0,
            0,
            "100644",
            data.len()
        )
        .unwrap();
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const CONTROL: &[u8] =
    b"Package: tiny\nVersion: 1:1.0~rc1-1\nArchitecture: amd64\nDescription: a tiny package\n";

fn control_tar() -> Vec<u8> {
    tar_of(&[
        ("./control", CONTROL),
        (
            "./md5sums",
            b"d41d8cd98f00b204e9800998ecf8427e  usr/share/tiny\n",
        ),
        ("./conffiles", b"/etc/tiny.conf\n"),
        ("./postinst", b"#!/bin/sh\n"),
    ])
}

fn data_tar() -> Vec<u8> {
    tar_of(&[("./usr/share/tiny", b"hello\n")])
}

fn open(bytes: &[u8]) -> Result<DebReader<&[u8]>, paks_import::ImportError> {
    DebReader::open(bytes, &Limits::default())
}

#[test]
fn every_compression_of_both_tarballs_reads_the_same() {
    let zst = |d: &[u8]| zstd::encode_all(d, 3).unwrap();
    let xz = |d: &[u8]| {
        let mut out = Vec::new();
        liblzma::read::XzEncoder::new(d, 6)
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    for (suffix, compress, kind) in [
        (
            "",
            (|d: &[u8]| d.to_vec()) as fn(&[u8]) -> Vec<u8>,
            Compression::None,
        ),
        (".gz", gz, Compression::Gzip),
        (".zst", zst, Compression::Zstd),
        (".xz", xz, Compression::Xz),
    ] {
        let bytes = ar(&[
            ("debian-binary", b"2.0\n"),
            (&format!("control.tar{suffix}"), &compress(&control_tar())),
            ("_extra", b"ignored"),
            (&format!("data.tar{suffix}"), &compress(&data_tar())),
        ]);
        let mut deb = open(&bytes).unwrap();
        let c = deb.control().clone();
        assert_eq!(c.compression, kind);
        assert_eq!(c.control.version.to_string(), "1:1.0~rc1-1");
        assert_eq!(c.scripts, ["postinst"]);
        assert_eq!(c.conffiles, ["/etc/tiny.conf"]);
        assert_eq!(c.md5sums[0].0, "usr/share/tiny");
        assert_eq!(deb.data_member().1, kind);
        let mut data = Vec::new();
        deb.data().unwrap().read_to_end(&mut data).unwrap();
        assert_eq!(data, data_tar());
        let (digest, size) = deb.finish().unwrap();
        assert_eq!(digest, paks_types::Digest::sha256_of(&bytes));
        assert_eq!(size, bytes.len() as u64);
    }
}

/// Opens `bytes` as a `.deb`, reads its data to the end and finishes: the first error.
fn read_all(bytes: &[u8]) -> String {
    let run = || -> Result<(), paks_import::ImportError> {
        let mut deb = open(bytes)?;
        let mut data = Vec::new();
        deb.data()?
            .read_to_end(&mut data)
            .map_err(|e| paks_import::ImportError::Io {
                what: "data".into(),
                source: e,
            })?;
        deb.finish()?;
        Ok(())
    };
    let err = run().expect_err("a hostile .deb is refused");
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[test]
fn hostile_debs_are_refused_with_the_member_named() {
    let control = gz(&control_tar());
    let data = gz(&data_tar());
    let good = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        ("data.tar.gz", &data),
    ]);
    // The control member is larger than its header says: the next header is garbage.
    let mut bytes = ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control)]);
    bytes.extend_from_slice(b"0123456789");
    bytes.extend_from_slice(&ar(&[("data.tar.gz", &data)])[8..]);
    assert!(
        read_all(&bytes).contains("terminator"),
        "{}",
        read_all(&bytes)
    );
    // The same for the data member: the bytes after it are no member header.
    let mut bytes = good.clone();
    bytes.extend_from_slice(&[b'x'; 60]);
    assert!(
        read_all(&bytes).contains("terminator"),
        "{}",
        read_all(&bytes)
    );
    for (members, expected) in [
        (
            vec![("control.tar.gz", &control[..]), ("data.tar.gz", &data[..])],
            "member `control.tar.gz`: the first member must be `debian-binary`",
        ),
        (
            vec![
                ("debian-binary", &b"3.0\n"[..]),
                ("control.tar.gz", &control),
                ("data.tar.gz", &data),
            ],
            "format version `3.0\\n`",
        ),
        (
            vec![
                ("debian-binary", &b"2.0\n"[..]),
                ("control.tar.bz2", &control),
                ("data.tar.gz", &data),
            ],
            "member `control.tar.bz2`: expected `control.tar`",
        ),
        (
            vec![
                ("debian-binary", &b"2.0\n"[..]),
                ("control.tar.gz", &control),
                ("data.tar.lz4", &data),
            ],
            "member `data.tar.lz4`: expected `data.tar`",
        ),
        (
            vec![
                ("debian-binary", &b"2.0\n"[..]),
                ("control.tar.gz", &control),
            ],
            "member `data.tar`: missing",
        ),
        (
            vec![
                ("debian-binary", &b"2.0\n"[..]),
                ("control.tar.gz", &data),
                ("data.tar.gz", &data),
            ],
            "holds no `control` file",
        ),
        (
            vec![
                ("debian-binary", &b"2.0\n"[..]),
                ("control.tar.xz", &control),
                ("data.tar.gz", &data),
            ],
            "cannot read member `control.tar.xz`",
        ),
    ] {
        let err = read_all(&ar(&members));
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
    assert!(read_all(b"PK\x03\x04 not an ar archive").contains("not an `ar` archive"));
}

#[test]
fn truncated_debs_say_where_they_end() {
    let good = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &gz(&control_tar())),
        ("data.tar.gz", &gz(&data_tar())),
    ]);
    // Truncated anywhere: in the magic, a header, the control member, the data member.
    for (cut, expected) in [
        (4, "the input ends before the `ar` magic"),
        (30, "truncated member header (22 of 60 bytes)"),
        (
            8 + 60 + 4 + 60 + 10,
            "ends 266 bytes before the end of member `control.tar.gz`",
        ),
        (
            good.len() - 7,
            "ends 7 bytes before the end of member `data.tar.gz`",
        ),
    ] {
        let err = read_all(&good[..cut]);
        assert!(err.contains(expected), "cut at {cut}: {err}");
    }
}

#[test]
fn a_control_tarball_holding_a_file_twice_is_refused() {
    let data = gz(&data_tar());
    // Two `control` files: which one is the package? Neither.
    let twice = gz(&tar_of(&[("./control", CONTROL), ("control", CONTROL)]));
    let err = read_all(&ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &twice),
        ("data.tar.gz", &data),
    ]));
    assert!(err.contains("holds `control` twice"), "{err}");
}

#[test]
fn limits_bound_the_control_tarball() {
    let big = tar_of(&[("./control", CONTROL), ("./md5sums", &vec![b'0'; 1 << 20])]);
    // A hostile field value is shown shortened.
    let bytes = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &big),
        ("data.tar", &data_tar()),
    ]);
    let err = open(&bytes).err().unwrap().to_string();
    assert!(
        err.starts_with("invalid field `md5sums`: `000") && err.len() < 300,
        "{}",
        &err[..200]
    );
    let bytes = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &big),
        ("data.tar", &data_tar()),
    ]);
    let small = Limits {
        max_control_unpacked: 64 << 10,
        ..Limits::default()
    };
    let err = DebReader::open(&bytes[..], &small).err().unwrap();
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        text.contains("control.tar") && text.contains("more than the limit"),
        "{text}"
    );
    let bytes = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &control_tar()),
        ("data.tar", &data_tar()),
    ]);
    let tiny = Limits {
        max_data_member: 100,
        ..Limits::default()
    };
    let err = DebReader::open(&bytes[..], &tiny)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "`data.tar` is larger than the limit of 100 bytes");
}
