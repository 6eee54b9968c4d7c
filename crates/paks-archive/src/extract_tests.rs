//! Extraction against crafted archives. Every attack runs twice, once resolving with
//! `openat2` and once with the component walk used where `openat2` is missing.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;

/// Builds archives byte by byte, so that names the tar crate would refuse (`..`,
/// absolute) can be written.
struct Craft(tar::Builder<Vec<u8>>);

fn raw_header(kind: tar::EntryType, path: &[u8], link: &[u8], mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_cksum();
    h
}

impl Craft {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn entry(
        mut self,
        kind: tar::EntryType,
        path: &str,
        link: &str,
        mode: u32,
        data: &[u8],
    ) -> Self {
        let h = raw_header(
            kind,
            path.as_bytes(),
            link.as_bytes(),
            mode,
            data.len() as u64,
        );
        self.0.append(&h, data).unwrap();
        self
    }

    fn dir(self, path: &str) -> Self {
        self.entry(tar::EntryType::Directory, path, "", 0o755, b"")
    }

    fn file(self, path: &str, data: &[u8]) -> Self {
        self.entry(tar::EntryType::Regular, path, "", 0o644, data)
    }

    fn symlink(self, path: &str, target: &str) -> Self {
        self.entry(tar::EntryType::Symlink, path, target, 0o777, b"")
    }

    fn hard_link(self, path: &str, target: &str) -> Self {
        self.entry(tar::EntryType::Link, path, target, 0o644, b"")
    }

    /// A PAX header setting `path` for the next entry.
    fn pax_path(mut self, path: &str) -> Self {
        let mut record = format!(" path={path}\n");
        // The length counts its own digits.
        let mut len = record.len() + 1;
        if (len + len.to_string().len() - 1).to_string().len() != 1 {
            len = record.len() + (record.len() + 3).to_string().len();
        }
        record = format!("{len}{record}");
        assert_eq!(record.len(), len);
        let h = raw_header(
            tar::EntryType::XHeader,
            b"PaxHeaders/x",
            b"",
            0o644,
            len as u64,
        );
        self.0.append(&h, record.as_bytes()).unwrap();
        self
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// `tmp/dest` (empty) next to `tmp/sentinel/keep`; attacks aim at the sentinel.
struct Sandbox {
    _tmp: tempfile::TempDir,
    top: PathBuf,
    dest: PathBuf,
    sentinel: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().to_owned();
        let dest = top.join("dest");
        let sentinel = top.join("sentinel");
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir(&sentinel).unwrap();
        std::fs::write(sentinel.join("keep"), "keep").unwrap();
        Self {
            _tmp: tmp,
            top,
            dest,
            sentinel,
        }
    }

    fn sentinel_str(&self) -> String {
        self.sentinel.to_str().unwrap().to_owned()
    }

    fn assert_untouched(&self) {
        assert_eq!(names(&self.top), ["dest", "sentinel"]);
        assert_eq!(names(&self.sentinel), ["keep"]);
        let keep = self.sentinel.join("keep");
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "keep");
        assert_eq!(std::fs::metadata(&keep).unwrap().nlink(), 1);
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

const RESOLVERS: [Resolver; 2] = [Resolver::Openat2, Resolver::Walk];

fn extract(
    archive: &[u8],
    dest: &Path,
    prefix: &str,
    resolver: Resolver,
) -> Result<ExtractStats, ArchiveError> {
    extract_with(archive, dest, prefix, &Limits::default(), resolver, None)
}

/// Extract the archive `craft` builds (for a given sandbox) with every resolver, and
/// check the error says `expected` and that nothing outside `dest` changed.
fn refuses(craft: impl Fn(&Sandbox) -> Vec<u8>, prefix: &str, expected: &str) {
    for resolver in RESOLVERS {
        let sandbox = Sandbox::new();
        let archive = craft(&sandbox);
        let err = extract(&archive, &sandbox.dest, prefix, resolver).unwrap_err();
        let expected = expected.replace("{sentinel}", &sandbox.sentinel_str());
        assert_eq!(err.to_string(), expected, "{resolver:?}");
        sandbox.assert_untouched();
    }
}

#[test]
fn absolute_path() {
    refuses(
        |s| {
            Craft::new()
                .file(&format!("{}/pwned", s.sentinel_str()), b"x")
                .finish()
        },
        "",
        "archive entry `{sentinel}/pwned` has an absolute path",
    );
}

#[test]
fn parent_component() {
    refuses(
        |_| Craft::new().file("../sentinel/pwned", b"x").finish(),
        "",
        "archive entry `../sentinel/pwned` leaves the destination",
    );
}

#[test]
fn parent_component_inside_path() {
    refuses(
        |_| {
            Craft::new()
                .dir("a/")
                .file("a/../../sentinel/pwned", b"x")
                .finish()
        },
        "",
        "archive entry `a/../../sentinel/pwned` leaves the destination",
    );
}

#[test]
fn parent_component_in_pax_path() {
    refuses(
        |_| {
            Craft::new()
                .pax_path("../sentinel/pwned")
                .file("harmless", b"x")
                .finish()
        },
        "",
        "archive entry `../sentinel/pwned` leaves the destination",
    );
}

#[test]
fn symlink_leaving_dest() {
    refuses(
        |_| {
            Craft::new()
                .symlink("esc", "../sentinel")
                .file("esc/pwned", b"x")
                .finish()
        },
        "",
        "symlink `esc` -> `../sentinel` leaves the destination",
    );
}

#[test]
fn symlink_absolute_then_through_it() {
    refuses(
        |s| {
            Craft::new()
                .symlink("lnk", &s.sentinel_str())
                .file("lnk/x", b"x")
                .finish()
        },
        "",
        "symlink `lnk` -> `{sentinel}` leaves the destination",
    );
}

#[test]
fn symlink_chain_escape() {
    // Each link alone looks lexically fine; `d/s` resolving to the root makes `t` escape.
    refuses(
        |_| {
            Craft::new()
                .dir("d/")
                .symlink("d/s", "..")
                .symlink("t", "d/s/../sentinel")
                .finish()
        },
        "",
        "symlink `t` -> `d/s/../sentinel` leaves the destination",
    );
}

#[test]
fn path_through_symlink() {
    refuses(
        |_| {
            Craft::new()
                .dir("subdir/")
                .symlink("lnk", "subdir")
                .file("lnk/file", b"x")
                .finish()
        },
        "",
        "archive entry `lnk/file` walks through a symlink",
    );
}

#[test]
fn path_through_symlink_deeper() {
    refuses(
        |_| {
            Craft::new()
                .dir("a/")
                .dir("a/b/")
                .symlink("a/l", "b")
                .file("a/l/c/file", b"x")
                .finish()
        },
        "",
        "archive entry `a/l/c/file` walks through a symlink",
    );
}

#[test]
fn hard_link_outside() {
    refuses(
        |_| Craft::new().hard_link("hl", "../sentinel/keep").finish(),
        "",
        "hard link `hl` -> `../sentinel/keep` does not point to a previously extracted regular file",
    );
}

#[test]
fn hard_link_absolute() {
    refuses(
        |s| {
            Craft::new()
                .hard_link("hl", &format!("{}/keep", s.sentinel_str()))
                .finish()
        },
        "",
        "hard link `hl` -> `{sentinel}/keep` does not point to a previously extracted regular file",
    );
}

#[test]
fn hard_link_to_symlink() {
    refuses(
        |_| {
            Craft::new()
                .dir("a/")
                .symlink("a/s", "../x")
                .hard_link("hl", "a/s")
                .finish()
        },
        "",
        "hard link `hl` -> `a/s` does not point to a previously extracted regular file",
    );
}

#[test]
fn hard_link_to_directory() {
    refuses(
        |_| Craft::new().dir("d/").hard_link("hl", "d").finish(),
        "",
        "hard link `hl` -> `d` does not point to a previously extracted regular file",
    );
}

#[test]
fn hard_link_to_missing_file() {
    refuses(
        |_| {
            Craft::new()
                .hard_link("hl", "later")
                .file("later", b"x")
                .finish()
        },
        "",
        "hard link `hl` -> `later` does not point to a previously extracted regular file",
    );
}

#[test]
fn hard_link_through_symlink() {
    refuses(
        |_| {
            Craft::new()
                .dir("sub/")
                .file("sub/f", b"x")
                .symlink("l", "sub")
                .hard_link("hl", "l/f")
                .finish()
        },
        "",
        "hard link `hl` -> `l/f` does not point to a previously extracted regular file",
    );
}

#[test]
fn character_device() {
    refuses(
        |_| {
            Craft::new()
                .entry(tar::EntryType::Char, "tty", "", 0o666, b"")
                .finish()
        },
        "",
        "archive entry `tty` is a character device, which packages cannot contain",
    );
}

#[test]
fn block_device() {
    refuses(
        |_| {
            Craft::new()
                .entry(tar::EntryType::Block, "sda", "", 0o666, b"")
                .finish()
        },
        "",
        "archive entry `sda` is a block device, which packages cannot contain",
    );
}

#[test]
fn fifo() {
    refuses(
        |_| {
            Craft::new()
                .entry(tar::EntryType::Fifo, "pipe", "", 0o666, b"")
                .finish()
        },
        "",
        "archive entry `pipe` is a FIFO, which packages cannot contain",
    );
}

#[test]
fn duplicate_file() {
    refuses(
        |_| Craft::new().file("a", b"one").file("a", b"two").finish(),
        "",
        "archive entry `a` would replace an entry already extracted",
    );
}

#[test]
fn file_over_directory() {
    refuses(
        |_| Craft::new().dir("d/").file("d", b"x").finish(),
        "",
        "archive entry `d` would replace an entry already extracted",
    );
}

#[test]
fn symlink_over_file() {
    refuses(
        |_| Craft::new().file("a", b"x").symlink("a", "b").finish(),
        "",
        "archive entry `a` would replace an entry already extracted",
    );
}

#[test]
fn file_over_symlink_does_not_follow_it() {
    // `esc -> sub/x` is inside, but writing `esc` must not write through it either.
    for resolver in RESOLVERS {
        let s = Sandbox::new();
        let archive = Craft::new()
            .dir("sub/")
            .symlink("esc", "sub/x")
            .file("esc", b"data")
            .finish();
        let err = extract(&archive, &s.dest, "", resolver).unwrap_err();
        assert_eq!(
            err.to_string(),
            "archive entry `esc` would replace an entry already extracted"
        );
        assert!(!s.dest.join("sub/x").exists());
        s.assert_untouched();
    }
}

#[test]
fn outside_prefix() {
    refuses(
        |_| {
            Craft::new()
                .dir("opt/")
                .dir("opt/paks/")
                .file("etc/passwd", b"x")
                .finish()
        },
        "opt/paks",
        "archive entry `etc/passwd` lies outside the package prefix `opt/paks`",
    );
}

#[test]
fn prefix_parent_as_symlink() {
    refuses(
        |_| {
            Craft::new()
                .symlink("opt", "/")
                .file("opt/paks/x", b"x")
                .finish()
        },
        "opt/paks",
        "archive entry `opt` lies outside the package prefix `opt/paks`",
    );
}

#[test]
fn unknown_entry_type() {
    refuses(
        |_| {
            Craft::new()
                .entry(tar::EntryType::new(b'Z'), "z", "", 0o644, b"")
                .finish()
        },
        "",
        "archive entry `z` has an unsupported type (type `Z`)",
    );
}

#[test]
fn huge_long_name_is_refused_before_reading() {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(1 << 40);
    h.set_cksum();
    let mut archive = h.as_bytes().to_vec();
    archive.extend_from_slice(&[b'a'; 4096]);
    let s = Sandbox::new();
    let err = extract(&archive, &s.dest, "", Resolver::Openat2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "archive extension header (GNU long name) of 1099511627776 bytes is larger than the limit of 65536"
    );
}

#[test]
fn dest_must_be_empty() {
    let s = Sandbox::new();
    std::fs::write(s.dest.join("old"), "").unwrap();
    let err = extract(&Craft::new().finish(), &s.dest, "", Resolver::Openat2).unwrap_err();
    assert!(
        err.to_string().contains("is not an empty directory"),
        "{err}"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn modes_are_sanitised() {
    for resolver in RESOLVERS {
        let s = Sandbox::new();
        let archive = Craft::new()
            .entry(tar::EntryType::Directory, "d/", "", 0o1777, b"")
            .entry(tar::EntryType::Directory, "private/", "", 0o500, b"")
            .entry(tar::EntryType::Regular, "d/suid", "", 0o4755, b"x")
            .entry(tar::EntryType::Regular, "d/sgid", "", 0o2711, b"x")
            .entry(tar::EntryType::Regular, "d/world", "", 0o666, b"x")
            .entry(tar::EntryType::Regular, "d/worldx", "", 0o777, b"x")
            .entry(tar::EntryType::Regular, "d/private", "", 0o600, b"x")
            .finish();
        let stats = extract(&archive, &s.dest, "", resolver).unwrap();
        assert_eq!(stats.entries, 7);
        assert_eq!(stats.unpacked_size, 5);
        let d = s.dest.join("d");
        assert_eq!(mode(&d), 0o755);
        assert_eq!(mode(&s.dest.join("private")), 0o700);
        assert_eq!(mode(&d.join("suid")), 0o755);
        assert_eq!(mode(&d.join("sgid")), 0o711);
        assert_eq!(mode(&d.join("world")), 0o644);
        assert_eq!(mode(&d.join("worldx")), 0o755);
        assert_eq!(mode(&d.join("private")), 0o600);
    }
}

#[test]
fn links_inside_and_implicit_parents_work() {
    for resolver in RESOLVERS {
        let s = Sandbox::new();
        let long = format!("deep/{}/file", "n".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = raw_header(tar::EntryType::Regular, b"", b"", 0o644, 5);
        // The tar crate writes a GNU long-name header for this path.
        b.append_data(&mut h, &long, &b"hello"[..]).unwrap();
        let archive = Craft(b)
            .pax_path(&format!("pax/{}", "p".repeat(200)))
            .file("ignored-name", b"pax!")
            .file("a/b/c", b"implicit parents")
            .symlink("a/up", "../deep")
            .hard_link("a/hl", "a/b/c")
            .dir("a/")
            .finish();
        let stats = extract(&archive, &s.dest, "", resolver).unwrap();
        assert_eq!(stats.entries, 6);
        assert_eq!(
            std::fs::read_to_string(s.dest.join(&long)).unwrap(),
            "hello"
        );
        let pax = s.dest.join(format!("pax/{}", "p".repeat(200)));
        assert_eq!(std::fs::read_to_string(pax).unwrap(), "pax!");
        assert_eq!(
            std::fs::read_link(s.dest.join("a/up")).unwrap(),
            Path::new("../deep")
        );
        let c = std::fs::metadata(s.dest.join("a/b/c")).unwrap();
        let hl = std::fs::metadata(s.dest.join("a/hl")).unwrap();
        assert_eq!((c.ino(), c.nlink()), (hl.ino(), 2));
        s.assert_untouched();
    }
}

#[test]
fn prefix_is_stripped() {
    let s = Sandbox::new();
    let archive = Craft::new()
        .dir("opt/")
        .dir("opt/paks/")
        .dir("opt/paks/store/")
        .dir("opt/paks/store/x/")
        .dir("opt/paks/store/x/bin/")
        .entry(
            tar::EntryType::Regular,
            "opt/paks/store/x/bin/hi",
            "",
            0o755,
            b"#!/bin/sh\n",
        )
        .hard_link("opt/paks/store/x/hi", "opt/paks/store/x/bin/hi")
        .finish();
    let stats = extract(&archive, &s.dest, "opt/paks/store/x", Resolver::Openat2).unwrap();
    assert_eq!(stats.entries, 3);
    assert_eq!(names(&s.dest), ["bin", "hi"]);
    assert_eq!(mode(&s.dest.join("bin/hi")), 0o755);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar with one file of `size` zeros, streamed through `compress` without holding the
/// uncompressed tar in memory.
fn zeros_archive<W: Write>(size: u64, out: W) -> W {
    let mut b = tar::Builder::new(out);
    let mut h = raw_header(tar::EntryType::Regular, b"zeros", b"", 0o644, size);
    h.set_cksum();
    b.append(&h, std::io::repeat(0).take(size)).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn gzip_bomb_is_refused_by_the_ratio() {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    let bomb = zeros_archive(200 << 20, gz).finish().unwrap();
    let s = Sandbox::new();
    let err = extract(&bomb, &s.dest, "", Resolver::Openat2).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("archive expands more than 1000:1"), "{msg}");
    let written = std::fs::metadata(s.dest.join("zeros")).unwrap().len();
    assert!(written < 100 << 20, "{written}");
}

#[test]
fn zstd_bomb_is_refused_by_the_ratio() {
    let zst = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    let bomb = zeros_archive(200 << 20, zst).finish().unwrap();
    let s = Sandbox::new();
    let err = extract(&bomb, &s.dest, "", Resolver::Openat2).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("archive expands more than 1000:1"),
        "{err}"
    );
}

#[test]
fn plain_zeros_are_not_a_bomb() {
    let archive = zeros_archive(70 << 20, Vec::new());
    let s = Sandbox::new();
    let stats = extract(&archive, &s.dest, "", Resolver::Openat2).unwrap();
    assert_eq!(stats.unpacked_size, 70 << 20);
}

#[test]
fn max_entries_is_enforced() {
    let mut craft = Craft::new();
    for i in 0..20 {
        craft = craft.file(&format!("f{i}"), b"x");
    }
    let archive = gzip(&craft.finish());
    let s = Sandbox::new();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let err =
        extract_with(&archive[..], &s.dest, "", &limits, Resolver::Openat2, None).unwrap_err();
    assert_eq!(err.to_string(), "archive exceeds the limit of 10 entries");
    assert_eq!(names(&s.dest).len(), 10);
}

#[test]
fn max_unpacked_is_enforced_before_writing() {
    let archive = Craft::new()
        .file("small", &[1; 600])
        .file("big", &[2; 600])
        .finish();
    let s = Sandbox::new();
    let limits = Limits {
        max_unpacked: 1000,
        ..Limits::default()
    };
    let err = extract_with(&archive[..], &s.dest, "", &limits, Resolver::Walk, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "archive exceeds the limit of 1000 unpacked bytes"
    );
    assert_eq!(names(&s.dest), ["small"]);
}

#[test]
fn truncated_archive_is_an_error() {
    let archive = Craft::new().file("f", &[7; 5000]).finish();
    let s = Sandbox::new();
    let err = extract(&archive[..2048], &s.dest, "", Resolver::Openat2).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("archive ends inside `f`"), "{chain}");
}

#[test]
fn input_failing_at_its_end_fails_the_extraction() {
    // All the tar arrives intact; only the digest check at end of stream fails.
    let archive = gzip(&Craft::new().file("f", b"data").finish());
    let wrong = paks_types::Digest::sha256_of(b"something else");
    let input = paks_types::VerifyingReader::new(&archive[..], wrong, archive.len() as u64);
    let s = Sandbox::new();
    let err = extract_layer(input, &s.dest, "", &Limits::default()).unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        source.starts_with("digest mismatch: expected `sha256:"),
        "{source}"
    );
}

#[test]
fn whole_input_is_read() {
    // GNU tar pads archives to 10 KiB records; the padding is read so that a verifying
    // reader sees the end of its stream.
    let mut archive = Craft::new().file("f", b"data").finish();
    archive.resize(archive.len() + 9 * 1024, 0);
    let archive = gzip(&archive);
    let right = paks_types::Digest::sha256_of(&archive);
    let mut input = paks_types::VerifyingReader::new(&archive[..], right, archive.len() as u64);
    let s = Sandbox::new();
    extract_layer(&mut input, &s.dest, "", &Limits::default()).unwrap();
    assert!(input.is_verified());
}

#[test]
fn extension_header_floods_are_refused() {
    let mut craft = Craft::new();
    for _ in 0..20 {
        craft = craft.entry(tar::EntryType::XGlobalHeader, "g", "", 0o644, b"9 a=bcd\n");
    }
    let s = Sandbox::new();
    let err = extract(
        &craft.file("f", b"x").finish(),
        &s.dest,
        "",
        Resolver::Openat2,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid archive extension header: too many in a row"
    );
}

#[test]
fn malformed_pax_is_refused() {
    let s = Sandbox::new();
    let archive = Craft::new()
        .entry(tar::EntryType::XHeader, "x", "", 0o644, b"99 path=a\n")
        .file("f", b"x")
        .finish();
    let err = extract(&archive, &s.dest, "", Resolver::Openat2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid archive extension header: a PAX record is malformed"
    );
}

#[test]
fn diff_id_is_checked_over_the_decompressed_stream() {
    let tar = Craft::new().file("f", b"content").finish();
    let archive = gzip(&tar);
    let right = paks_types::Digest::sha256_of(&tar);
    let s = Sandbox::new();
    let stats =
        extract_layer_verified(&archive[..], &s.dest, "", &Limits::default(), &right).unwrap();
    assert_eq!(stats.unpacked_size, 7);
    // The digest of the compressed bytes is not the diff id.
    let wrong = paks_types::Digest::sha256_of(&archive);
    let s = Sandbox::new();
    let err =
        extract_layer_verified(&archive[..], &s.dest, "", &Limits::default(), &wrong).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::DigestMismatch { expected, actual, .. }
            if *expected == wrong.to_string() && *actual == right.to_string()),
        "{err}"
    );
}
