//! Writing layers: deterministic bytes, and a faithful round trip through extraction.

mod common;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use paks_archive::{Compression, Limits, extract_layer, write_layer};
use paks_types::Digest;

const PREFIX: &str = "opt/paks/store/abc123-hello-1.0";

fn layer_bytes(src: &Path, compression: Compression) -> (Vec<u8>, paks_archive::LayerInfo) {
    let mut out = Vec::new();
    let info = write_layer(src, PREFIX, compression, &mut out).unwrap();
    (out, info)
}

const ALL: [Compression; 3] = [
    Compression::None,
    Compression::Gzip { level: 6 },
    Compression::Zstd { level: 3 },
];

#[test]
fn same_tree_same_bytes_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    common::sample_tree(&src);
    for (i, compression) in ALL.into_iter().enumerate() {
        let (first, info) = layer_bytes(&src, compression);
        let (second, again) = layer_bytes(&src, compression);
        assert!(first == second, "{compression:?}: two writes differ");
        assert_eq!(info, again);
        assert_eq!(info.digest, Digest::sha256_of(&first));
        assert_eq!(info.size, first.len() as u64);
        // 6 directories, 4 files, 1 hard link, 2 symlinks.
        assert_eq!(info.entries, 13, "{compression:?}");
        assert_eq!(info.unpacked_size, 4 + 18 + 10_000);

        let dest = tmp.path().join(format!("dest-{i}"));
        std::fs::create_dir(&dest).unwrap();
        let stats = extract_layer(&first[..], &dest, PREFIX, &Limits::default()).unwrap();
        assert_eq!(stats.entries, info.entries);
        assert_eq!(stats.unpacked_size, info.unpacked_size);
        assert_eq!(
            common::snapshot(&dest),
            common::snapshot(&src),
            "{compression:?}"
        );
        let tool = std::fs::metadata(dest.join("bin/tool")).unwrap();
        let again = std::fs::metadata(dest.join("bin/tool-again")).unwrap();
        assert_eq!((tool.ino(), tool.nlink()), (again.ino(), 2));
        assert_eq!(tool.mode() & 0o7777, 0o755);
        assert_eq!(
            std::fs::metadata(dest.join("lib/libz.so.1"))
                .unwrap()
                .mode()
                & 0o7777,
            0o644
        );
    }
}

#[test]
fn diff_id_is_the_uncompressed_tar() {
    let tmp = tempfile::tempdir().unwrap();
    common::sample_tree(tmp.path());
    let (plain, plain_info) = layer_bytes(tmp.path(), Compression::None);
    let (gz, gz_info) = layer_bytes(tmp.path(), Compression::default());
    assert_eq!(plain_info.diff_id, Digest::sha256_of(&plain));
    assert_eq!(gz_info.diff_id, plain_info.diff_id);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert!(unzipped == plain);
    // gzip header: no FNAME flag, mtime zero.
    assert_eq!(gz[3], 0);
    assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
}

#[test]
fn headers_are_normalised_and_sorted() {
    let tmp = tempfile::tempdir().unwrap();
    common::sample_tree(tmp.path());
    let (plain, _) = layer_bytes(tmp.path(), Compression::None);
    let mut archive = tar::Archive::new(&plain[..]);
    let mut listing = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        let mode = h.mode().unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        listing.push((path, h.entry_type().as_byte() as char, mode));
    }
    let d = "d".repeat(60);
    let e = "e".repeat(60);
    let p = PREFIX;
    let expected = vec![
        ("opt/".to_owned(), '5', 0o755),
        ("opt/paks/".into(), '5', 0o755),
        ("opt/paks/store/".into(), '5', 0o755),
        (format!("{p}/"), '5', 0o755),
        (format!("{p}/bin/"), '5', 0o755),
        (format!("{p}/bin/tool"), '0', 0o755),
        (format!("{p}/bin/tool-again"), '1', 0o644),
        (format!("{p}/empty"), '0', 0o644),
        (format!("{p}/empty-dir/"), '5', 0o755),
        (format!("{p}/lib/"), '5', 0o755),
        (format!("{p}/lib/libz.so"), '2', 0o777),
        (format!("{p}/lib/libz.so.1"), '0', 0o644),
        (format!("{p}/lib/long-link"), '2', 0o777),
        (format!("{p}/share/"), '5', 0o755),
        (format!("{p}/share/{d}/"), '5', 0o755),
        (format!("{p}/share/{d}/{e}/"), '5', 0o755),
        (format!("{p}/share/{d}/{e}/long-file-name.txt"), '0', 0o644),
    ];
    assert_eq!(listing, expected);
}

#[test]
fn gnu_tar_reads_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    common::sample_tree(&src);
    let layer = tmp.path().join("layer.tar.gz");
    write_layer(
        &src,
        PREFIX,
        Compression::default(),
        std::fs::File::create(&layer).unwrap(),
    )
    .unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&layer)
        .arg("-C")
        .arg(&out)
        .status()
        .expect("GNU tar runs");
    assert!(status.success());
    assert_eq!(common::snapshot(&out.join(PREFIX)), common::snapshot(&src));
}

#[test]
fn empty_prefix_puts_the_tree_at_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let mut out = Vec::new();
    write_layer(&src, "", Compression::None, &mut out).unwrap();
    let mut archive = tar::Archive::new(&out[..]);
    let paths: Vec<_> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().into_owned())
        .collect();
    assert_eq!(paths, [Path::new("f")]);
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    extract_layer(&out[..], &dest, "", &Limits::default()).unwrap();
    assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"x");
}

#[test]
fn special_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let err = write_layer(tmp.path(), PREFIX, Compression::None, Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` is a socket, FIFO or device file, which packages cannot contain",
            fifo.display()
        )
    );
}

#[test]
fn escaping_symlinks_are_refused() {
    for target in ["/etc/passwd", "../../outside"] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("lib")).unwrap();
        let link = tmp.path().join("lib/link");
        std::os::unix::fs::symlink(target, &link).unwrap();
        let err = write_layer(tmp.path(), PREFIX, Compression::None, Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "symlink `{}` -> `{target}` leaves the package tree; package symlinks must be \
                 relative and stay inside it",
                link.display()
            )
        );
    }
}

#[test]
fn bad_prefixes_and_levels_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = write_layer(tmp.path(), "/opt/paks", Compression::None, Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer prefix `/opt/paks` must be relative, without empty, `.` or `..` components"
    );
    let err = write_layer(
        tmp.path(),
        "opt",
        Compression::Gzip { level: 12 },
        Vec::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "compression level 12 is out of range for gzip"
    );
}

#[test]
fn media_types() {
    assert_eq!(Compression::default(), Compression::Gzip { level: 6 });
    assert_eq!(
        Compression::None.layer_media_type(),
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(
        Compression::default().layer_media_type(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        Compression::Zstd { level: 19 }.layer_media_type(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    for c in ALL {
        let back = Compression::from_layer_media_type(c.layer_media_type()).unwrap();
        assert_eq!(back.layer_media_type(), c.layer_media_type());
    }
}

/// GNU tar `--format=posix` writes a file of 8 GiB or more with its size in a PAX record
/// (the header's octal field holds 11 digits). Streamed straight from a sparse file into
/// the extractor, the entry must be read as the regular file it is: here it meets the
/// unpacked-size limit, which stops the stream long before 8 GiB.
#[test]
fn a_file_over_8_gib_with_a_pax_size_is_a_regular_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("src").join(PREFIX);
    std::fs::create_dir_all(store.join("share")).unwrap();
    let big = std::fs::File::create(store.join("share/big")).unwrap();
    big.set_len((8 << 30) + 1).unwrap(); // Sparse: no disk used.
    drop(big);
    let mut tar = Command::new("tar")
        .args(["--format=posix", "-cf", "-", "-C"])
        .arg(tmp.path().join("src"))
        .arg("opt")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let limits = Limits {
        max_unpacked: 1 << 20,
        ..Limits::default()
    };
    let err = extract_layer(tar.stdout.take().unwrap(), &dest, PREFIX, &limits).unwrap_err();
    let _ = tar.kill();
    let _ = tar.wait();
    assert_eq!(
        err.to_string(),
        "archive exceeds the limit of 1048576 unpacked bytes",
        "{err:?}"
    );
    assert!(dest.join("share").is_dir());
}
