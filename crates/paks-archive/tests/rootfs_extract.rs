//! Rootfs extraction (sysroots): real `.deb` layers unpack to the tree `dpkg-deb -x`
//! makes; layers stack as in an image (later entries replace, whiteouts remove); hostile
//! layers never write outside the root, whatever symlinks an earlier entry planted.

#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use paks_archive::rootfs::{RootfsLimits, write_layer_from_tar};
use paks_archive::rootfs_extract::{RootfsOptions, RootfsStats, extract_rootfs_layer};
use paks_archive::{ArchiveError, Compression, Limits, tar_header};
use paks_types::Digest;

/// A real package's rootfs layer (gzip), as images carry it.
fn deb_layer(package: &str) -> Vec<u8> {
    let deb = real_deb::real_deb(package);
    let out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb --fsys-tarfile");
    let mut layer = Vec::new();
    write_layer_from_tar(
        &out.stdout[..],
        Compression::Gzip { level: 6 },
        &mut layer,
        &RootfsLimits::default(),
    )
    .unwrap();
    layer
}

fn privileged() -> RootfsOptions {
    RootfsOptions {
        limits: Limits::default(),
        privileged: true,
    }
}

fn extract(
    layer: &[u8],
    root: &Path,
    options: &RootfsOptions,
) -> Result<RootfsStats, ArchiveError> {
    extract_rootfs_layer(layer, root, options, None)
}

/// Every path under `root` (not the root itself): its mode (type bits included) and, for
/// symlinks, the target; for files, the content's digest.
fn tree(root: &Path) -> BTreeMap<String, (u32, String)> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let what = if meta.file_type().is_symlink() {
            std::fs::read_link(entry.path())
                .unwrap()
                .display()
                .to_string()
        } else if meta.is_file() {
            Digest::sha256_of(&std::fs::read(entry.path()).unwrap()).to_string()
        } else {
            String::new()
        };
        let rel = entry.path().strip_prefix(root).unwrap();
        out.insert(rel.display().to_string(), (meta.mode(), what));
    }
    out
}

#[test]
fn real_debs_unpack_as_dpkg_deb_unpacks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    std::fs::create_dir(&ours).unwrap();
    std::fs::create_dir(&theirs).unwrap();
    // libc6 first, as an image orders dependencies; hello and bsdutils share /usr/bin.
    let mut entries = 0;
    for package in ["libc6", "hello", "bsdutils"] {
        let stats = extract(&deb_layer(package), &ours, &privileged()).unwrap();
        entries += stats.extracted.entries;
        let unpacked = Command::new("dpkg-deb")
            .arg("-x")
            .arg(real_deb::real_deb(package))
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(unpacked.success(), "dpkg-deb -x {package}");
    }
    let (ours, theirs) = (tree(&ours), tree(&theirs));
    assert!(entries > 100, "{entries} entries");
    assert_eq!(ours.len(), theirs.len());
    for (path, want) in &theirs {
        assert_eq!(ours.get(path), Some(want), "{path}");
    }
    // The absolute loader link is kept as Debian wrote it.
    let loader = &ours["lib64/ld-linux-x86-64.so.2"];
    assert!(loader.1.starts_with("/lib/x86_64-linux-gnu/"), "{loader:?}");
    for (path, (_, _)) in ours.iter().filter(|(p, _)| p.ends_with("bin/hello")) {
        let meta = std::fs::metadata(tmp.path().join("ours").join(path)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path}");
    }
}

/// A tar entry with the name and link written into the header bytes as given (the tar
/// crate's setters refuse the hostile ones).
fn entry(tar: &mut Vec<u8>, kind: tar::EntryType, name: &str, link: &str, mode: u32, data: &[u8]) {
    let mut h = tar_header(kind, mode, data.len() as u64);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().next_multiple_of(512), 0);
}

/// A plain tar of `(kind, name, link or data, mode)` entries.
fn layer(entries: &[(char, &str, &str, u32)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for &(kind, name, arg, mode) in entries {
        match kind {
            'd' => entry(&mut tar, tar::EntryType::Directory, name, "", mode, b""),
            'f' => entry(
                &mut tar,
                tar::EntryType::Regular,
                name,
                "",
                mode,
                arg.as_bytes(),
            ),
            'l' => entry(&mut tar, tar::EntryType::Symlink, name, arg, 0o777, b""),
            'h' => entry(&mut tar, tar::EntryType::Link, name, arg, mode, b""),
            'c' => entry(&mut tar, tar::EntryType::Char, name, "", mode, b""),
            _ => unreachable!(),
        }
    }
    tar.extend_from_slice(&[0; 1024]);
    tar
}

/// A host directory beside the root, with a file, to show nothing reaches it.
fn sentinel(tmp: &Path) -> std::path::PathBuf {
    let host = tmp.join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("passwd"), "host\n").unwrap();
    host
}

#[test]
fn hostile_symlinks_resolve_inside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let host = sentinel(tmp.path());
    let host_str = host.to_str().unwrap();
    let etc_passwd = std::fs::read("/etc/passwd").unwrap();
    let first = layer(&[
        ('l', "etc", "/", 0),
        ('l', "up", "../../../../../..", 0),
        ('l', "abs", host_str, 0),
        ('l', "chain", "up/abs/..", 0),
        ('l', "target", &format!("{host_str}/passwd"), 0),
    ]);
    extract(&first, &root, &privileged()).unwrap();
    let second = layer(&[
        // `/etc` is the root's own `/`: the file lands in the root.
        ('f', "etc/passwd", "mine\n", 0o644),
        // `..` stops at the root.
        ('f', "up/escaped", "x", 0o644),
        // An absolute link names a path in the root, not on the host.
        ('f', "abs/passwd", "inside\n", 0o644),
        ('f', "chain/deep", "x", 0o644),
        // A symlink as the last component is replaced, never written through.
        ('f', "target", "replaced\n", 0o644),
    ]);
    extract(&second, &root, &privileged()).unwrap();
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), etc_passwd);
    assert_eq!(
        std::fs::read_to_string(host.join("passwd")).unwrap(),
        "host\n"
    );
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(root.join("passwd")).unwrap(),
        "mine\n"
    );
    assert!(root.join("escaped").is_file());
    let inside = root.join(host.strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read_to_string(inside.join("passwd")).unwrap(),
        "inside\n"
    );
    assert!(inside.parent().unwrap().join("deep").is_file());
    let target = root.join("target");
    assert!(target.symlink_metadata().unwrap().is_file());
    assert_eq!(
        tmp.path().read_dir().unwrap().count(),
        2,
        "root and host only"
    );
}

#[test]
fn hostile_names_and_types_are_refused() {
    type Check = fn(&ArchiveError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("parent", layer(&[('f', "a/../../x", "x", 0o644)]), |e| {
            matches!(e, ArchiveError::LeavesDestination { .. })
        }),
        ("absolute", layer(&[('f', "/x", "x", 0o644)]), |e| {
            matches!(e, ArchiveError::AbsolutePath { .. })
        }),
        ("device", layer(&[('c', "dev/null", "", 0o666)]), |e| {
            matches!(e, ArchiveError::SpecialEntry { .. })
        }),
        (
            "hard link outside",
            layer(&[('h', "x", "../../host/passwd", 0o644)]),
            |e| matches!(e, ArchiveError::BadHardLink { .. }),
        ),
        (
            "hard link through a symlink",
            layer(&[('l', "l", "/", 0), ('h', "x", "l", 0o644)]),
            |e| matches!(e, ArchiveError::BadHardLink { .. }),
        ),
        (
            "symlink loop",
            layer(&[
                ('l', "a", "b", 0),
                ('l', "b", "a", 0),
                ('f', "a/x", "x", 0o644),
            ]),
            |e| matches!(e, ArchiveError::InvalidPath { .. }),
        ),
        (
            "file as parent",
            layer(&[('f', "f", "x", 0o644), ('f', "f/x", "x", 0o644)]),
            |e| matches!(e, ArchiveError::ParentNotDirectory { .. }),
        ),
    ];
    for (what, tar, check) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let host = sentinel(tmp.path());
        let err = extract(&tar, &root, &privileged()).unwrap_err();
        assert!(check(&err), "{what}: {err:?}");
        assert_eq!(
            std::fs::read_to_string(host.join("passwd")).unwrap(),
            "host\n"
        );
        assert_eq!(std::fs::read_dir(&host).unwrap().count(), 1, "{what}");
    }
}

#[test]
fn later_layers_replace_and_whiteouts_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let first = layer(&[
        ('d', "usr/bin/", "", 0o755),
        ('l', "bin", "usr/bin", 0),
        ('f', "usr/bin/old", "old", 0o755),
        ('f', "usr/bin/keep", "keep", 0o755),
        ('f', "opaque/gone", "x", 0o644),
        ('f', "becomes-dir", "x", 0o644),
        ('d', "becomes-file/", "", 0o755),
        ('f', "becomes-file/inner", "x", 0o644),
        ('f', "replaced", "one", 0o644),
    ]);
    extract(&first, &root, &privileged()).unwrap();
    let second = layer(&[
        // usrmerge: through `bin -> usr/bin`.
        ('f', "bin/new", "new", 0o755),
        ('f', "usr/bin/.wh.old", "", 0o644),
        ('f', "opaque/kept-before-marker", "x", 0o644),
        ('f', "opaque/.wh..wh..opq", "", 0o644),
        ('d', "becomes-dir/", "", 0o700),
        ('f', "becomes-file", "now a file", 0o600),
        ('f', "replaced", "two", 0o640),
        ('f', "linked", "data", 0o644),
        ('h', "hard", "linked", 0o644),
    ]);
    let stats = extract(&second, &root, &privileged()).unwrap();
    assert_eq!(stats.whiteouts, 2);
    assert!(root.join("bin").symlink_metadata().unwrap().is_symlink());
    assert_eq!(
        std::fs::read_to_string(root.join("usr/bin/new")).unwrap(),
        "new"
    );
    assert!(!root.join("usr/bin/old").exists());
    assert!(root.join("usr/bin/keep").is_file());
    let opaque: Vec<_> = std::fs::read_dir(root.join("opaque"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(opaque, ["kept-before-marker"]);
    let dir = root.join("becomes-dir").symlink_metadata().unwrap();
    assert!(dir.is_dir());
    assert_eq!(dir.mode() & 0o7777, 0o700);
    assert_eq!(
        std::fs::read_to_string(root.join("becomes-file")).unwrap(),
        "now a file"
    );
    let replaced = root.join("replaced");
    assert_eq!(std::fs::read_to_string(&replaced).unwrap(), "two");
    assert_eq!(replaced.metadata().unwrap().mode() & 0o7777, 0o640);
    let (a, b) = (
        root.join("linked").metadata().unwrap(),
        root.join("hard").metadata().unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));

    // A hard link to a file of an earlier layer is not this layer's to make.
    let third = layer(&[('h', "again", "linked", 0o644)]);
    let err = extract(&third, &root, &privileged()).unwrap_err();
    assert!(matches!(err, ArchiveError::BadHardLink { .. }), "{err:?}");
}

#[test]
fn setid_bits_are_kept_when_privileged_and_dropped_otherwise() {
    let tar = layer(&[
        ('f', "usr/bin/mount", "x", 0o4755),
        ('f', "usr/bin/wall", "x", 0o2755),
        ('d', "tmp/", "", 0o1777),
        ('d', "locked/", "", 0o555),
        ('f', "locked/f", "x", 0o444),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let (kept, dropped) = (tmp.path().join("kept"), tmp.path().join("dropped"));
    std::fs::create_dir(&kept).unwrap();
    std::fs::create_dir(&dropped).unwrap();
    let stats = extract(&tar, &kept, &privileged()).unwrap();
    assert!(stats.dropped_setid.is_empty());
    let mode = |p: &Path| p.symlink_metadata().unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&kept.join("usr/bin/mount")), 0o4755);
    assert_eq!(mode(&kept.join("usr/bin/wall")), 0o2755);
    assert_eq!(mode(&kept.join("tmp")), 0o1777);
    assert_eq!(mode(&kept.join("locked")), 0o555);

    let unprivileged = RootfsOptions {
        limits: Limits::default(),
        privileged: false,
    };
    let stats = extract(&tar, &dropped, &unprivileged).unwrap();
    assert_eq!(stats.dropped_setid, ["usr/bin/mount", "usr/bin/wall"]);
    assert_eq!(mode(&dropped.join("usr/bin/mount")), 0o755);
    assert_eq!(mode(&dropped.join("usr/bin/wall")), 0o755);
    // Directories stay the caller's to write into and remove.
    assert_eq!(mode(&dropped.join("locked")), 0o755);
}

#[test]
fn diff_id_and_limits_are_checked() {
    let tar = layer(&[('f', "a", "abc", 0o644)]);
    let tmp = tempfile::tempdir().unwrap();
    let err = extract_rootfs_layer(
        &tar[..],
        tmp.path(),
        &privileged(),
        Some(&Digest::sha256_of(b"")),
    )
    .unwrap_err();
    assert!(
        matches!(err, ArchiveError::DigestMismatch { .. }),
        "{err:?}"
    );
    let right = Digest::sha256_of(&tar);
    let other = tempfile::tempdir().unwrap();
    extract_rootfs_layer(&tar[..], other.path(), &privileged(), Some(&right)).unwrap();

    let small = RootfsOptions {
        limits: Limits {
            max_unpacked: 2,
            ..Limits::default()
        },
        privileged: true,
    };
    let third = tempfile::tempdir().unwrap();
    let err = extract(&tar, third.path(), &small).unwrap_err();
    assert!(matches!(err, ArchiveError::LimitExceeded { .. }), "{err:?}");
}
