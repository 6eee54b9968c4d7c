//! Rootfs layers from foreign packages' data tars: real `.deb`s (by `dpkg-deb
//! --fsys-tarfile`) keep their paths, modes and link targets, as the real `tar` lists them;
//! hostile tars built here are refused.

#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::io::Write;
use std::process::{Command, Stdio};

use paks_archive::rootfs::{RootfsLayer, RootfsLimits, write_layer_from_tar};
use paks_archive::{ArchiveError, Compression, tar_header};
use paks_types::Digest;

fn data_tar(package: &str) -> Vec<u8> {
    let deb = real_deb::real_deb(package);
    let out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg-deb --fsys-tarfile {}",
        deb.display()
    );
    out.stdout
}

fn rewrite(input: &[u8], compression: Compression) -> Result<(Vec<u8>, RootfsLayer), ArchiveError> {
    let mut out = Vec::new();
    let layer = write_layer_from_tar(input, compression, &mut out, &RootfsLimits::default())?;
    Ok((out, layer))
}

/// One line of `tar --numeric-owner -tvf`: mode string, owner, path (no `./`, no
/// trailing `/`), link target (`-> x` or `link to x`).
#[derive(Debug, PartialEq, Eq)]
struct Listed {
    mode: String,
    owner: String,
    path: String,
    link: String,
}

fn tar_listing(tar: &[u8]) -> Vec<Listed> {
    let mut child = Command::new("tar")
        .args(["--numeric-owner", "-tvf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = tar.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success(), "tar -tvf");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            // mode owner size date time name...
            let fields: Vec<&str> = line.splitn(6, char::is_whitespace).collect();
            let rest = line
                .split_whitespace()
                .skip(5)
                .collect::<Vec<_>>()
                .join(" ");
            let (name, link) = match rest.split_once(" -> ") {
                Some((n, l)) => (n.to_owned(), format!("-> {l}")),
                None => match rest.split_once(" link to ") {
                    Some((n, l)) => (n.to_owned(), format!("link to {}", norm(l))),
                    None => (rest.clone(), String::new()),
                },
            };
            let path = norm(&name);
            (!path.is_empty()).then(|| Listed {
                mode: fields[0].to_owned(),
                owner: line.split_whitespace().nth(1).unwrap().to_owned(),
                path,
                link,
            })
        })
        .collect()
}

fn norm(name: &str) -> String {
    let name = name.strip_prefix("./").unwrap_or(name);
    name.strip_suffix('/').unwrap_or(name).to_owned()
}

#[test]
fn real_data_tars_keep_paths_modes_and_link_targets() {
    for package in ["mount", "passwd", "libc6"] {
        let input = data_tar(package);
        let (layer, info) = rewrite(&input, Compression::None).unwrap();
        let original = tar_listing(&input);
        let written = tar_listing(&layer);
        assert_eq!(written.len(), original.len(), "{package}");
        assert_eq!(info.entries, written.len() as u64, "{package}");
        for (w, o) in written.iter().zip(&original) {
            assert_eq!(w.path, o.path, "{package}");
            assert_eq!(w.link, o.link, "{package}: {}", w.path);
            assert_eq!(w.owner, "0/0", "{package}: {}", w.path);
            let dropped = info.dropped_setid.contains(&w.path);
            let expected = if dropped {
                // The only setid files owned by others are setgid `shadow`.
                assert_eq!(&o.mode[6..7], "s", "{}", w.path);
                format!("{}x{}", &o.mode[..6], &o.mode[7..])
            } else {
                o.mode.clone()
            };
            assert_eq!(w.mode, expected, "{package}: {}", w.path);
        }
        let mode_of = |path: &str| {
            written
                .iter()
                .find(|l| l.path == path)
                .unwrap_or_else(|| panic!("{package}: no {path}"))
                .mode
                .clone()
        };
        match package {
            "mount" => assert_eq!(mode_of("bin/mount"), "-rwsr-xr-x"),
            "passwd" => {
                assert_eq!(mode_of("usr/bin/passwd"), "-rwsr-xr-x");
                assert_eq!(info.dropped_setid, ["usr/bin/chage", "usr/bin/expiry"]);
                assert_eq!(mode_of("usr/bin/chage"), "-rwxr-xr-x");
            }
            _ => {
                let ld = written
                    .iter()
                    .find(|l| l.path == "lib64/ld-linux-x86-64.so.2")
                    .unwrap();
                assert_eq!(ld.link, "-> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
            }
        }
        // The same input gives the same bytes; the digests are those of the bytes.
        let (gz, gz_info) = rewrite(&input, Compression::Gzip { level: 6 }).unwrap();
        let (again, again_info) = rewrite(&input, Compression::Gzip { level: 6 }).unwrap();
        assert!(gz == again, "{package}: two writes differ");
        assert_eq!(gz_info, again_info);
        assert_eq!(gz_info.digest, Digest::sha256_of(&gz));
        assert_eq!(gz_info.size, gz.len() as u64);
        assert_eq!(gz_info.diff_id, Digest::sha256_of(&layer));
        assert_eq!(info.digest, info.diff_id);
    }
}

/// A tar entry with the name and link written into the header bytes as given (the tar
/// crate's setters refuse the hostile ones), claiming `size` bytes and carrying `data`.
fn raw_entry(
    tar: &mut Vec<u8>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    mode: u32,
    size: u64,
    data: &[u8],
) {
    let mut h = tar_header(kind, mode, size);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().next_multiple_of(512), 0);
}

fn file(tar: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
    raw_entry(
        tar,
        tar::EntryType::Regular,
        name,
        "",
        mode,
        data.len() as u64,
        data,
    );
}

fn end(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0; 1024]);
    tar
}

/// A hostile tar: a name, what it appends after one good file, and the error it must get.
type Case = (&'static str, fn(&mut Vec<u8>), fn(&ArchiveError) -> bool);

// A table of cases, one per refusal rule; splitting it would only scatter them.
#[allow(clippy::too_many_lines)]
fn hostile_cases() -> Vec<Case> {
    use tar::EntryType as T;
    vec![
        (
            "parent component",
            |t| file(t, "./usr/../../etc/passwd", 0o644, b"x"),
            |e| matches!(e, ArchiveError::LeavesDestination { .. }),
        ),
        (
            "absolute path",
            |t| file(t, "/etc/passwd", 0o644, b"x"),
            |e| matches!(e, ArchiveError::AbsolutePath { .. }),
        ),
        (
            "character device",
            |t| raw_entry(t, T::Char, "./dev/null", "", 0o666, 0, b""),
            |e| {
                matches!(
                    e,
                    ArchiveError::SpecialEntry {
                        kind: "character device",
                        ..
                    }
                )
            },
        ),
        (
            "FIFO",
            |t| raw_entry(t, T::Fifo, "./run/fifo", "", 0o644, 0, b""),
            |e| matches!(e, ArchiveError::SpecialEntry { kind: "FIFO", .. }),
        ),
        (
            "hard link forward",
            |t| {
                raw_entry(
                    t,
                    T::Link,
                    "./usr/bin/alias",
                    "./usr/bin/later",
                    0o755,
                    0,
                    b"",
                );
            },
            |e| matches!(e, ArchiveError::BadHardLink { .. }),
        ),
        (
            "hard link outside",
            |t| {
                raw_entry(
                    t,
                    T::Link,
                    "./usr/bin/alias",
                    "../../etc/shadow",
                    0o755,
                    0,
                    b"",
                );
            },
            |e| matches!(e, ArchiveError::BadHardLink { .. }),
        ),
        (
            "hard link absolute",
            |t| {
                raw_entry(
                    t,
                    T::Link,
                    "./usr/bin/alias",
                    "/usr/bin/tool",
                    0o755,
                    0,
                    b"",
                );
            },
            |e| matches!(e, ArchiveError::BadHardLink { .. }),
        ),
        (
            "hard link to a symlink",
            |t| {
                raw_entry(t, T::Symlink, "./sh", "/bin/busybox", 0o777, 0, b"");
                raw_entry(t, T::Link, "./sh2", "./sh", 0o777, 0, b"");
            },
            |e| matches!(e, ArchiveError::BadHardLink { .. }),
        ),
        (
            "duplicate path",
            |t| file(t, "usr/bin/tool", 0o755, b"again"),
            |e| matches!(e, ArchiveError::Duplicate { .. }),
        ),
        (
            "path through a symlink",
            |t| {
                raw_entry(t, T::Symlink, "./lib", "/usr/lib", 0o777, 0, b"");
                file(t, "./lib/evil.so", 0o644, b"x");
            },
            |e| matches!(e, ArchiveError::ParentNotDirectory { .. }),
        ),
        (
            "world-writable setuid",
            |t| file(t, "./usr/bin/su", 0o4777, b"x"),
            |e| matches!(e, ArchiveError::WritableSetId { mode: 0o4777, .. }),
        ),
        (
            "huge claimed size",
            |t| raw_entry(t, T::Regular, "./big", "", 0o644, 1 << 40, b"small"),
            |e| {
                matches!(
                    e,
                    ArchiveError::LimitExceeded {
                        what: "unpacked bytes",
                        ..
                    }
                )
            },
        ),
        (
            "file shorter than its header",
            |t| raw_entry(t, T::Regular, "./short", "", 0o644, 4096, b"only this"),
            |e| matches!(e, ArchiveError::Read { .. }),
        ),
    ]
}

#[test]
fn hostile_data_tars_are_refused() {
    for (what, build, expected) in hostile_cases() {
        let mut tar = Vec::new();
        file(&mut tar, "./usr/bin/tool", 0o755, b"tool");
        build(&mut tar);
        // A truncated entry is the end of the input; the others get a proper end.
        let tar = if what.starts_with("file shorter") {
            tar[..tar.len() - 512 + 9].to_vec()
        } else {
            end(tar)
        };
        let err = rewrite(&tar, Compression::None).expect_err(what);
        assert!(expected(&err), "{what}: {err:?}");
    }
}

#[test]
fn limits_on_entries_and_path_length_hold() {
    let mut tar = Vec::new();
    for i in 0..5 {
        file(&mut tar, &format!("./f{i}"), 0o644, b"x");
    }
    let tar = end(tar);
    let limits = |max_entries, max_path| RootfsLimits {
        max_entries,
        max_path,
        ..RootfsLimits::default()
    };
    let run = |l: &RootfsLimits| write_layer_from_tar(&tar[..], Compression::None, Vec::new(), l);
    assert_eq!(run(&limits(5, 2)).unwrap().entries, 5);
    let err = run(&limits(4, 2)).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::LimitExceeded {
                what: "entries",
                limit: 4
            }
        ),
        "{err:?}"
    );
    let err = run(&limits(5, 1)).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::LimitExceeded {
                what: "bytes in a path or link target",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn long_names_and_targets_survive_and_setid_needs_a_root_owner() {
    let long = format!("./usr/share/{}/file", "d".repeat(150));
    let target = format!("/usr/lib/{}", "t".repeat(150));
    // Input written by the tar crate, with GNU long names for both.
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar_header(tar::EntryType::Regular, 0o644, 3);
    builder.append_data(&mut h, &long, &b"abc"[..]).unwrap();
    let mut h = tar_header(tar::EntryType::Symlink, 0o777, 0);
    builder
        .append_link(&mut h, "./usr/lib/long", &target)
        .unwrap();
    // Setuid owned by uid 1000: the bit goes, the rest of the mode stays.
    let mut h = tar_header(tar::EntryType::Regular, 0o4755, 1);
    h.set_uid(1000);
    builder
        .append_data(&mut h, "./usr/bin/mine", &b"m"[..])
        .unwrap();
    // Sticky directory, as /tmp.
    let mut h = tar_header(tar::EntryType::Directory, 0o1777, 0);
    builder
        .append_data(&mut h, "./tmp/", std::io::empty())
        .unwrap();
    let input = builder.into_inner().unwrap();

    let (layer, info) = rewrite(&input, Compression::None).unwrap();
    assert_eq!(info.dropped_setid, ["usr/bin/mine"]);
    assert_eq!(info.unpacked_size, 4);
    let listed = tar_listing(&layer);
    let summary: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|l| (l.mode.as_str(), l.path.as_str(), l.link.as_str()))
        .collect();
    let arrow = format!("-> {target}");
    assert_eq!(
        summary,
        [
            ("-rw-r--r--", &long[2..], ""),
            ("lrwxrwxrwx", "usr/lib/long", arrow.as_str()),
            ("-rwxr-xr-x", "usr/bin/mine", ""),
            ("drwxrwxrwt", "tmp", ""),
        ]
    );
}

/// Write `blob` under `layout`'s `blobs/sha256/`; returns its descriptor.
fn put_blob(layout: &std::path::Path, media_type: &str, blob: &[u8]) -> serde_json::Value {
    let digest = Digest::sha256_of(blob);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(digest.hex()), blob).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": blob.len()})
}

#[test]
fn umoci_unpacks_an_image_of_rootfs_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for package in ["libc6", "mount"] {
        let (blob, info) = rewrite(&data_tar(package), Compression::default()).unwrap();
        layers.push(put_blob(
            &layout,
            paks_archive::MEDIA_TYPE_LAYER_GZIP,
            &blob,
        ));
        diff_ids.push(info.diff_id.to_string());
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = put_blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    });
    let mut manifest = put_blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    manifest["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "rootfs"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();

    let bundle = tmp.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:rootfs", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = bundle.join("rootfs");
    let ld = std::fs::read_link(rootfs.join("lib64/ld-linux-x86-64.so.2")).unwrap();
    assert_eq!(
        ld,
        std::path::Path::new("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    );
    let mount = std::fs::symlink_metadata(rootfs.join("bin/mount")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mount.permissions()) & 0o7777,
        0o4755
    );
}

#[test]
fn pax_names_are_read_and_pax_records_not_carried() {
    // As Alpine writes its data tars: PAX records with a per-file checksum, and here a
    // name too long for the header.
    let long = format!("usr/share/{}/x", "p".repeat(120));
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_pax_extensions([
            ("path", long.as_bytes()),
            ("APK-TOOLS.checksum.SHA1", &b"0123456789abcdef"[..]),
        ])
        .unwrap();
    let mut h = tar_header(tar::EntryType::Regular, 0o644, 2);
    h.as_old_mut().name[..5].copy_from_slice(b"short");
    h.set_cksum();
    builder.append(&h, &b"hi"[..]).unwrap();
    let mut h = tar_header(tar::EntryType::Symlink, 0o777, 0);
    paks_archive::tar_append_symlink(&mut builder, &mut h, b"bin/sh", b"/bin/busybox").unwrap();
    let input = builder.into_inner().unwrap();

    let (layer, info) = rewrite(&input, Compression::None).unwrap();
    assert_eq!(info.entries, 2);
    let listed = tar_listing(&layer);
    assert_eq!(listed[0].path, long);
    assert_eq!(
        (listed[1].path.as_str(), listed[1].link.as_str()),
        ("bin/sh", "-> /bin/busybox")
    );
    assert!(
        !layer.windows(9).any(|w| w == b"APK-TOOLS"),
        "PAX records reached the layer"
    );
}
