//! `.pak` files: written deterministically, read back verified, and understood by skopeo
//! and umoci.

mod common;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use paks_archive::pak::MAX_METADATA;
use paks_archive::{
    Compression, LayerInfo, Limits, PakReader, extract_layer, write_layer, write_pak,
};
use paks_types::Digest;

const PREFIX: &str = "opt/paks/store/abc123-hello-1.0";

fn config_for(layer: &LayerInfo) -> Vec<u8> {
    format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}},"paks":{{"name":"hello"}}}}"#,
        layer.diff_id
    )
    .into_bytes()
}

fn annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "org.opencontainers.image.title".to_owned(),
            "hello".to_owned(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            "1.0".to_owned(),
        ),
        (
            "org.opencontainers.image.created".to_owned(),
            "1970-01-01T00:00:00Z".to_owned(),
        ),
    ])
}

struct Built {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    src: PathBuf,
    pak: PathBuf,
    info: paks_archive::PakInfo,
    config: Vec<u8>,
}

fn build(compression: Compression) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    common::sample_tree(&src);
    let blob = dir.join("layer");
    let layer = write_layer(
        &src,
        PREFIX,
        compression,
        std::fs::File::create(&blob).unwrap(),
    )
    .unwrap();
    let config = config_for(&layer);
    let pak = dir.join("hello-1.0.pak");
    let info = write_pak(
        &pak,
        &config,
        &blob,
        &layer,
        compression,
        annotations(),
        "1.0",
    )
    .unwrap();
    Built {
        _tmp: tmp,
        dir,
        src,
        pak,
        info,
        config,
    }
}

#[test]
fn round_trip() {
    for compression in [
        Compression::default(),
        Compression::Zstd { level: 3 },
        Compression::None,
    ] {
        let b = build(compression);
        let reader = PakReader::open(&b.pak).unwrap();
        assert_eq!(reader.manifest_digest(), &b.info.manifest_digest);
        assert_eq!(reader.manifest_bytes().len() as u64, b.info.manifest_size);
        assert_eq!(reader.config_bytes().unwrap(), b.config);
        assert_eq!(reader.config_digest(), &b.info.config_digest);
        assert_eq!(reader.ref_name(), Some("1.0"));
        assert_eq!(reader.annotations(), &annotations());
        let (digest, size, media_type) = reader.layer_descriptor();
        assert_eq!(
            (digest, size),
            (b.info.layer.digest.clone(), b.info.layer.size)
        );
        assert_eq!(media_type, compression.layer_media_type());
        assert_eq!(
            reader
                .layer_compression()
                .map(Compression::layer_media_type),
            Some(compression.layer_media_type())
        );

        // The manifest is what oci-spec expects, with the annotations in order.
        let manifest: oci_spec::image::ImageManifest =
            serde_json::from_slice(reader.manifest_bytes()).unwrap();
        assert_eq!(manifest.schema_version(), 2);
        assert_eq!(
            manifest.config().media_type().to_string(),
            "application/vnd.oci.image.config.v1+json"
        );
        let text = std::str::from_utf8(reader.manifest_bytes()).unwrap();
        assert!(text.starts_with(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"#
        ), "{text}");
        assert!(text.ends_with(
            r#""annotations":{"org.opencontainers.image.created":"1970-01-01T00:00:00Z","org.opencontainers.image.title":"hello","org.opencontainers.image.version":"1.0"}}"#
        ), "{text}");

        let dest = b.dir.join("dest");
        std::fs::create_dir(&dest).unwrap();
        let mut layer = reader.layer_reader().unwrap();
        extract_layer(&mut layer, &dest, PREFIX, &Limits::default()).unwrap();
        assert!(layer.is_verified());
        assert_eq!(common::snapshot(&dest), common::snapshot(&b.src));
    }
}

#[test]
fn entries_are_in_order_and_normalised() {
    let b = build(Compression::default());
    let mut archive = tar::Archive::new(std::fs::File::open(&b.pak).unwrap());
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        let expected_mode = if h.entry_type().is_dir() {
            0o755
        } else {
            0o644
        };
        assert_eq!(h.mode().unwrap(), expected_mode);
        names.push(entry.path().unwrap().to_str().unwrap().to_owned());
    }
    let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    assert_eq!(
        names,
        [
            "oci-layout".to_owned(),
            "index.json".into(),
            "blobs/".into(),
            "blobs/sha256/".into(),
            blob(&b.info.manifest_digest),
            blob(&b.info.config_digest),
            blob(&b.info.layer.digest),
        ]
    );
}

#[test]
fn same_inputs_same_bytes() {
    let b = build(Compression::default());
    let again = b.dir.join("again.pak");
    let blob = b.dir.join("layer");
    let info = write_pak(
        &again,
        &b.config,
        &blob,
        &b.info.layer,
        Compression::default(),
        annotations(),
        "1.0",
    )
    .unwrap();
    assert_eq!(info, b.info);
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&b.pak).unwrap());
    // Nothing but the two .pak files, the layer and the source: no temp files left.
    let mut names: Vec<_> = std::fs::read_dir(&b.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["again.pak", "hello-1.0.pak", "layer", "src"]);
}

#[test]
fn corrupted_layer_byte_is_a_digest_mismatch() {
    let b = build(Compression::default());
    let mut bytes = std::fs::read(&b.pak).unwrap();
    let layer = std::fs::read(b.dir.join("layer")).unwrap();
    let at = bytes.windows(layer.len()).position(|w| w == layer).unwrap() + layer.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&b.pak, &bytes).unwrap();
    let reader = PakReader::open(&b.pak).unwrap();
    let err = io::copy(&mut reader.layer_reader().unwrap(), &mut io::sink()).unwrap_err();
    let expected = format!("digest mismatch: expected `{}`", b.info.layer.digest);
    assert!(err.to_string().starts_with(&expected), "{err}");
}

#[test]
fn wrong_diff_id_and_wrong_blob_are_refused() {
    let b = build(Compression::default());
    let blob = b.dir.join("layer");
    let mut other = b.info.layer.clone();
    other.diff_id = Digest::sha256_of(b"other");
    let err = write_pak(
        &b.dir.join("x.pak"),
        &b.config,
        &blob,
        &other,
        Compression::default(),
        annotations(),
        "1.0",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the image config's `rootfs.diff_ids` must be exactly [`{}`]",
            other.diff_id
        )
    );
    let mut other = b.info.layer.clone();
    other.digest = Digest::sha256_of(b"other");
    let err = write_pak(
        &b.dir.join("x.pak"),
        &b.config,
        &blob,
        &other,
        Compression::default(),
        annotations(),
        "1.0",
    )
    .unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.starts_with(&format!(
            "failed to copy `{}`: digest mismatch",
            blob.display()
        )),
        "{chain}"
    );
    assert!(!b.dir.join("x.pak").exists());
}

/// A tar of `files`, for hand-made (broken) `.pak` files.
fn craft(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, name, &data[..]).unwrap();
    }
    builder.finish().unwrap();
}

fn blob_name(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", Digest::sha256_of(bytes).hex())
}

fn descriptor(media_type: &str, bytes: &[u8]) -> String {
    format!(
        r#"{{"mediaType":"{media_type}","digest":"{}","size":{}}}"#,
        Digest::sha256_of(bytes),
        bytes.len()
    )
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn index(manifests: &[String]) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
        manifests.join(",")
    )
    .into_bytes()
}

fn manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let layers: Vec<String> = layers.iter().map(|l| descriptor(LAYER, l)).collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{},"layers":[{}]}}"#,
        descriptor(CONFIG, config),
        layers.join(",")
    )
    .into_bytes()
}

fn open_err(files: &[(String, Vec<u8>)]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.pak");
    craft(&path, files);
    PakReader::open(&path)
        .unwrap_err()
        .to_string()
        .replace(&path.display().to_string(), "PAK")
}

fn layout() -> (String, Vec<u8>) {
    (
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )
}

const CONFIG_BYTES: &[u8] = b"{}";
const LAYER_BYTES: &[u8] = b"layer";

/// A manifest for the test config and `layers` copies of the test layer.
fn manifest_with(layers: usize) -> Vec<u8> {
    manifest(CONFIG_BYTES, &vec![LAYER_BYTES; layers])
}

/// `oci-layout`, an `index.json` listing `manifests`, and the blobs of `manifest`.
fn pak_files(manifests: &[String], manifest: &[u8]) -> Vec<(String, Vec<u8>)> {
    vec![
        layout(),
        ("index.json".into(), index(manifests)),
        (blob_name(manifest), manifest.to_vec()),
        (blob_name(CONFIG_BYTES), CONFIG_BYTES.to_vec()),
        (blob_name(LAYER_BYTES), LAYER_BYTES.to_vec()),
    ]
}

#[test]
fn two_manifests_are_refused() {
    let (one, two) = (manifest_with(1), manifest_with(2));
    let mut files = pak_files(
        &[descriptor(MANIFEST, &one), descriptor(MANIFEST, &two)],
        &one,
    );
    files.push((blob_name(&two), two.clone()));
    assert_eq!(
        open_err(&files),
        "`PAK` is not a single-package .pak: its index.json lists 2 manifests, not 1"
    );
}

#[test]
fn two_layers_are_refused() {
    let two = manifest_with(2);
    assert_eq!(
        open_err(&pak_files(&[descriptor(MANIFEST, &two)], &two)),
        "`PAK` is not a single-package .pak: its manifest lists 2 layers, not 1"
    );
}

#[test]
fn missing_blob_is_refused() {
    let one = manifest_with(1);
    let mut files = pak_files(&[descriptor(MANIFEST, &one)], &one);
    files.pop();
    assert_eq!(
        open_err(&files),
        format!("`PAK` holds no blob `{}`", Digest::sha256_of(LAYER_BYTES))
    );
}

#[test]
fn missing_layout_is_refused() {
    let one = manifest_with(1);
    let mut files = pak_files(&[descriptor(MANIFEST, &one)], &one);
    files.remove(0);
    assert_eq!(
        open_err(&files),
        "`PAK` is not a single-package .pak: it has no `oci-layout`"
    );
}

#[test]
fn manifest_digest_mismatch_is_refused() {
    // The blob named after the manifest's digest holds other bytes (of the same size).
    let one = manifest_with(1);
    let mut tampered = one.clone();
    *tampered.last_mut().unwrap() = b' ';
    let mut files = pak_files(&[descriptor(MANIFEST, &one)], &one);
    files[2].1.clone_from(&tampered);
    assert_eq!(
        open_err(&files),
        format!(
            "digest mismatch for manifest: expected `{}`, got `{}`",
            Digest::sha256_of(&one),
            Digest::sha256_of(&tampered)
        )
    );
}

#[test]
fn oversized_manifest_and_config_are_refused() {
    let one = manifest_with(1);
    let big = format!(
        r#"{{"mediaType":"{MANIFEST}","digest":"{}","size":{}}}"#,
        Digest::sha256_of(&one),
        MAX_METADATA + 1
    );
    assert_eq!(
        open_err(&pak_files(&[big], &one)),
        format!(
            "manifest is {} bytes, larger than the limit of {MAX_METADATA}",
            MAX_METADATA + 1
        )
    );
    let big_config = String::from_utf8(one)
        .unwrap()
        .replacen(
            &format!("\"size\":{}", CONFIG_BYTES.len()),
            &format!("\"size\":{}", MAX_METADATA + 1),
            1,
        )
        .into_bytes();
    assert_eq!(
        open_err(&pak_files(
            &[descriptor(MANIFEST, &big_config)],
            &big_config
        )),
        format!(
            "image config is {} bytes, larger than the limit of {MAX_METADATA}",
            MAX_METADATA + 1
        )
    );
}

fn skopeo() -> Command {
    assert!(
        Path::new("/usr/bin/skopeo").exists(),
        "skopeo must be installed at /usr/bin/skopeo"
    );
    let mut cmd = Command::new("/usr/bin/skopeo");
    cmd.arg("--insecure-policy");
    cmd
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn skopeo_and_umoci_understand_paks() {
    for compression in [Compression::default(), Compression::Zstd { level: 3 }] {
        let b = build(compression);
        let reader = PakReader::open(&b.pak).unwrap();
        let archive = format!("oci-archive:{}", b.pak.display());
        let raw = run(skopeo().args(["inspect", "--raw", &archive]));
        assert_eq!(raw, reader.manifest_bytes());

        let layout_dir = b.dir.join("layout");
        let dest = format!("oci:{}:1.0", layout_dir.display());
        run(skopeo().args(["copy", "--quiet", &archive, &dest]));
        let index = std::fs::read_to_string(layout_dir.join("index.json")).unwrap();
        assert!(
            index.contains(&b.info.manifest_digest.to_string()),
            "{index}"
        );

        if compression == Compression::default() {
            // umoci refuses zstd layers, as the design notes for Debian 12.
            let bundle = b.dir.join("bundle");
            let mut umoci = Command::new("umoci");
            umoci.arg("unpack");
            if !rustix::process::geteuid().is_root() {
                umoci.arg("--rootless");
            }
            umoci
                .arg("--image")
                .arg(format!("{}:1.0", layout_dir.display()))
                .arg(&bundle);
            run(&mut umoci);
            let rootfs = bundle.join("rootfs").join(PREFIX);
            let mut tool = String::new();
            std::fs::File::open(rootfs.join("bin/tool"))
                .unwrap()
                .read_to_string(&mut tool)
                .unwrap();
            assert_eq!(tool, "#!/bin/sh\necho hi\n");
            assert_eq!(
                std::fs::read_link(rootfs.join("lib/libz.so")).unwrap(),
                Path::new("libz.so.1")
            );
        }
    }
}
