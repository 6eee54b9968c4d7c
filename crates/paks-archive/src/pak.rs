//! `.pak` files: one package build as a single-manifest OCI image layout in a tar (what
//! skopeo calls `oci-archive:`), so any OCI tool can copy it into a registry.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndex, ImageManifest, MediaType};
use paks_types::{Digest, DigestAlgorithm, VerifyingReader};
use serde::{Deserialize, Serialize};

use crate::entries::EntryReader;
use crate::layer::{append_dir, header};
use crate::path::normalize;
use crate::{ArchiveError, Compression, LayerInfo};

/// `application/vnd.oci.image.manifest.v1+json`
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.config.v1+json`
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation naming a manifest in an image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Largest `index.json`, manifest and config read into memory.
pub const MAX_METADATA: u64 = 4 << 20;
/// Entries a `.pak` may have; it needs seven.
const MAX_PAK_ENTRIES: u64 = 10_000;

/// What [`write_pak`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PakInfo {
    pub manifest_digest: Digest,
    pub manifest_size: u64,
    pub config_digest: Digest,
    pub layer: LayerInfo,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorJson<'a> {
    media_type: &'a str,
    digest: &'a Digest,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
}

// oci-spec's types keep annotations in a `HashMap`, whose order changes from run to run;
// these write the same bytes for the same inputs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: DescriptorJson<'a>,
    layers: [DescriptorJson<'a>; 1],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: [DescriptorJson<'a>; 1],
}

/// The part of an image config that must agree with the layer.
#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
}

#[derive(Deserialize)]
struct Rootfs {
    diff_ids: Vec<String>,
}

/// The manifest annotations every package build carries, from its metadata: the
/// standard `org.opencontainers.image.*` title, version, description, licences and URL,
/// `created` fixed at the epoch (so the same inputs give the same bytes), and the
/// package id (`io.paks.package.id`).
pub fn package_annotations(meta: &paks_types::PackageMeta) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_owned(),
            meta.name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            meta.version.to_string(),
        ),
        (
            "org.opencontainers.image.created".to_owned(),
            "1970-01-01T00:00:00Z".to_owned(),
        ),
        ("io.paks.package.id".to_owned(), meta.id.to_string()),
    ]);
    let optional = [
        ("org.opencontainers.image.description", &meta.summary),
        ("org.opencontainers.image.licenses", &meta.license),
        ("org.opencontainers.image.url", &meta.homepage),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            annotations.insert(key.to_owned(), v.clone());
        }
    }
    annotations
}

/// Write a `.pak` at `path`, atomically (temp file in the same directory, fsync, rename,
/// fsync of the directory).
///
/// `layer_blob` holds the compressed layer that [`crate::write_layer`] described as
/// `layer`; it is verified against `layer` while it is copied. `config_json` is the
/// image config, whose `rootfs.diff_ids` must be exactly the layer's diff id (OCI tools
/// refuse anything else). `annotations` go on the manifest, `ref_name` on its entry in
/// `index.json` (omitted when empty).
pub fn write_pak(
    path: &Path,
    config_json: &[u8],
    layer_blob: &Path,
    layer: &LayerInfo,
    compression: Compression,
    annotations: BTreeMap<String, String>,
    ref_name: &str,
) -> Result<PakInfo, ArchiveError> {
    check_config(config_json, layer)?;
    check_sha256(&layer.digest)?;
    let config_digest = Digest::sha256_of(config_json);
    let manifest = serde_json::to_vec(&ManifestJson {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST,
        config: DescriptorJson {
            media_type: MEDIA_TYPE_CONFIG,
            digest: &config_digest,
            size: config_json.len() as u64,
            annotations: None,
        },
        layers: [DescriptorJson {
            media_type: compression.layer_media_type(),
            digest: &layer.digest,
            size: layer.size,
            annotations: None,
        }],
        annotations,
    })
    .expect("manifests serialise");
    check_size("manifest", manifest.len() as u64)?;
    let manifest_digest = Digest::sha256_of(&manifest);
    let ref_annotation = BTreeMap::from([(ANNOTATION_REF_NAME.to_owned(), ref_name.to_owned())]);
    let index = serde_json::to_vec(&IndexJson {
        schema_version: 2,
        media_type: MEDIA_TYPE_INDEX,
        manifests: [DescriptorJson {
            media_type: MEDIA_TYPE_MANIFEST,
            digest: &manifest_digest,
            size: manifest.len() as u64,
            annotations: Some(&ref_annotation).filter(|_| !ref_name.is_empty()),
        }],
    })
    .expect("indexes serialise");

    let blob =
        std::fs::File::open(layer_blob).map_err(|e| ArchiveError::io("open", layer_blob, e))?;
    let blob_len = blob
        .metadata()
        .map_err(|e| ArchiveError::io("read metadata of", layer_blob, e))?
        .len();
    if blob_len != layer.size {
        return Err(ArchiveError::BlobSize {
            what: "layer blob",
            expected: layer.size,
            actual: blob_len,
        });
    }
    let blob = VerifyingReader::new(blob, layer.digest.clone(), layer.size);
    let contents = Contents {
        index: &index,
        manifest: (&manifest_digest, &manifest),
        config: (&config_digest, config_json),
        layer: (&layer.digest, layer.size, blob, layer_blob),
    };
    write_atomically(path, |file, tmp_path| contents.write(file, tmp_path))?;
    Ok(PakInfo {
        manifest_digest,
        manifest_size: manifest.len() as u64,
        config_digest,
        layer: layer.clone(),
    })
}

/// Refuse a config that is too large, or whose `rootfs.diff_ids` does not name the layer.
fn check_config(config_json: &[u8], layer: &LayerInfo) -> Result<(), ArchiveError> {
    check_size("image config", config_json.len() as u64)?;
    let rootfs: ConfigRootfs =
        serde_json::from_slice(config_json).map_err(|source| ArchiveError::Json {
            what: "image config",
            source,
        })?;
    if rootfs.rootfs.diff_ids != [layer.diff_id.to_string()] {
        return Err(ArchiveError::ConfigDiffIds {
            expected: layer.diff_id.clone(),
        });
    }
    Ok(())
}

/// Everything that goes into a `.pak`, in order.
struct Contents<'a, R> {
    index: &'a [u8],
    manifest: (&'a Digest, &'a [u8]),
    config: (&'a Digest, &'a [u8]),
    /// Digest, size, the verified blob, and its path for messages.
    layer: (&'a Digest, u64, VerifyingReader<R>, &'a Path),
}

impl<R: Read> Contents<'_, R> {
    fn write(self, file: &File, tmp_path: &Path) -> Result<(), ArchiveError> {
        let write_err = |e| ArchiveError::io("write", tmp_path, e);
        let name = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        let mut builder = tar::Builder::new(BufWriter::with_capacity(256 * 1024, file));
        append_bytes(&mut builder, "oci-layout", OCI_LAYOUT).map_err(write_err)?;
        append_bytes(&mut builder, "index.json", self.index).map_err(write_err)?;
        append_dir(&mut builder, b"blobs/").map_err(write_err)?;
        append_dir(&mut builder, b"blobs/sha256/").map_err(write_err)?;
        let (digest, bytes) = self.manifest;
        append_bytes(&mut builder, &name(digest), bytes).map_err(write_err)?;
        let (digest, bytes) = self.config;
        let (layer_digest, layer_size, mut blob, blob_path) = self.layer;
        // A config that is byte for byte the layer (an empty layer and config) is one blob.
        if digest != layer_digest {
            append_bytes(&mut builder, &name(digest), bytes).map_err(write_err)?;
        }
        let mut header = header(tar::EntryType::Regular, 0o644, layer_size);
        builder
            .append_data(&mut header, name(layer_digest), &mut blob)
            .map_err(|e| ArchiveError::io("copy", blob_path, e))?;
        if !blob.is_verified() {
            let eof = io::ErrorKind::UnexpectedEof.into();
            return Err(ArchiveError::io("copy", blob_path, eof));
        }
        builder
            .into_inner()
            .and_then(|mut out| out.flush())
            .map_err(write_err)
    }
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Create `path` atomically (see `paks_types::fs::write_atomic_with`): readers see no
/// file or the whole file.
fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&File, &Path) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    paks_types::fs::write_atomic_with(path, |file: &mut File| fill(file, path))
}

fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
    builder.append_data(&mut header, name, bytes)
}

fn check_size(what: &'static str, size: u64) -> Result<(), ArchiveError> {
    if size > MAX_METADATA {
        return Err(ArchiveError::TooLarge {
            what,
            size,
            limit: MAX_METADATA,
        });
    }
    Ok(())
}

fn check_sha256(digest: &Digest) -> Result<(), ArchiveError> {
    if digest.algorithm() == DigestAlgorithm::Sha256 {
        Ok(())
    } else {
        Err(ArchiveError::UnsupportedDigest {
            digest: digest.to_string(),
        })
    }
}

/// The compressed layer of a `.pak`, as a descriptor says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// Where a blob lies in the `.pak` file.
#[derive(Debug, Clone, Copy)]
struct Span {
    offset: u64,
    size: u64,
}

/// An opened `.pak`. Opening scans the tar headers once, seeking past the data, and reads
/// and verifies `index.json` and the manifest; the config and the layer are read on demand
/// and verified as they are read.
#[derive(Debug)]
pub struct PakReader {
    path: PathBuf,
    file: File,
    manifest_digest: Digest,
    manifest: Vec<u8>,
    annotations: BTreeMap<String, String>,
    ref_name: Option<String>,
    config_digest: Digest,
    config: Span,
    layer_descriptor: LayerDescriptor,
    layer: Span,
}

impl PakReader {
    /// Open `path` and check that it is a single-manifest, single-layer image layout
    /// whose blobs are all there, with the sizes the descriptors say.
    pub fn open(path: &Path) -> Result<Self, ArchiveError> {
        let file = File::open(path).map_err(|e| ArchiveError::io("open", path, e))?;
        let pak = Scanned {
            path,
            file: &file,
            files: scan(&file)?,
        };
        let _: serde_json::Value = parse_json("oci-layout", &pak.named("oci-layout")?)?;
        let index: ImageIndex = parse_json("index.json", &pak.named("index.json")?)?;
        let [descriptor] = index.manifests().as_slice() else {
            return Err(pak.format(format!(
                "its index.json lists {} manifests, not 1",
                index.manifests().len()
            )));
        };
        if *descriptor.media_type() != MediaType::ImageManifest {
            return Err(pak.format(format!(
                "its index.json lists a `{}`, not an image manifest",
                descriptor.media_type()
            )));
        }
        let ref_name = descriptor
            .annotations()
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_REF_NAME).cloned());
        let manifest_digest = parse_digest(descriptor.digest().as_ref())?;
        check_size("manifest", descriptor.size())?;
        let span = pak.blob(&manifest_digest, descriptor.size())?;
        let manifest = read_span(&file, path, span, "manifest")?;
        verify("manifest", &manifest_digest, &manifest)?;
        let parsed: ImageManifest = parse_json("manifest", &manifest)?;
        let [layer] = parsed.layers().as_slice() else {
            return Err(pak.format(format!(
                "its manifest lists {} layers, not 1",
                parsed.layers().len()
            )));
        };
        let config_digest = parse_digest(parsed.config().digest().as_ref())?;
        check_size("image config", parsed.config().size())?;
        let config = pak.blob(&config_digest, parsed.config().size())?;
        let layer_descriptor = LayerDescriptor {
            digest: parse_digest(layer.digest().as_ref())?,
            size: layer.size(),
            media_type: layer.media_type().to_string(),
        };
        let layer = pak.blob(&layer_descriptor.digest, layer_descriptor.size)?;
        let annotations = parsed
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            path: path.to_owned(),
            file,
            manifest_digest,
            manifest,
            annotations,
            ref_name,
            config_digest,
            config,
            layer_descriptor,
            layer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The manifest's digest, as `index.json` names it; the manifest bytes match it.
    pub fn manifest_digest(&self) -> &Digest {
        &self.manifest_digest
    }

    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest
    }

    /// The manifest's annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The manifest's `org.opencontainers.image.ref.name` in `index.json`.
    pub fn ref_name(&self) -> Option<&str> {
        self.ref_name.as_deref()
    }

    pub fn config_digest(&self) -> &Digest {
        &self.config_digest
    }

    /// The image config, verified against the manifest's descriptor.
    pub fn config_bytes(&self) -> Result<Vec<u8>, ArchiveError> {
        let bytes = read_span(&self.file, &self.path, self.config, "image config")?;
        verify("image config", &self.config_digest, &bytes)?;
        Ok(bytes)
    }

    /// The layer's digest, size and media type, as the manifest describes it.
    pub fn layer_descriptor(&self) -> (Digest, u64, String) {
        let d = &self.layer_descriptor;
        (d.digest.clone(), d.size, d.media_type.clone())
    }

    /// The layer's compression, from its media type (`None` for a type that is not an
    /// OCI layer).
    pub fn layer_compression(&self) -> Option<Compression> {
        Compression::from_layer_media_type(&self.layer_descriptor.media_type)
    }

    /// The compressed layer. It fails at end of stream unless the bytes match the
    /// manifest's digest and size, so nothing read from it is trusted before then.
    pub fn layer_reader(&self) -> Result<VerifyingReader<BlobReader>, ArchiveError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| ArchiveError::io("open", &self.path, e))?;
        let reader = BlobReader {
            file,
            pos: self.layer.offset,
            end: self.layer.offset + self.layer.size,
        };
        let d = &self.layer_descriptor;
        Ok(VerifyingReader::new(reader, d.digest.clone(), d.size))
    }
}

/// A blob inside a `.pak`, read with positioned reads (so readers do not share an offset).
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    pos: u64,
    end: u64,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A `.pak` whose tar headers have been read.
struct Scanned<'a> {
    path: &'a Path,
    file: &'a File,
    files: HashMap<String, Span>,
}

impl Scanned<'_> {
    fn format(&self, reason: String) -> ArchiveError {
        ArchiveError::PakFormat {
            path: self.path.to_owned(),
            reason,
        }
    }

    /// The content of a file the layout requires, such as `index.json`.
    fn named(&self, name: &'static str) -> Result<Vec<u8>, ArchiveError> {
        let span = self
            .files
            .get(name)
            .ok_or_else(|| self.format(format!("it has no `{name}`")))?;
        read_span(self.file, self.path, *span, name)
    }

    /// Where the blob with `digest` is, checking it has the size its descriptor says.
    fn blob(&self, digest: &Digest, size: u64) -> Result<Span, ArchiveError> {
        check_sha256(digest)?;
        let span = *self
            .files
            .get(&format!("blobs/sha256/{}", digest.hex()))
            .ok_or_else(|| ArchiveError::MissingBlob {
                path: self.path.to_owned(),
                digest: digest.clone(),
            })?;
        if span.size != size {
            return Err(ArchiveError::BlobSize {
                what: "blob",
                expected: size,
                actual: span.size,
            });
        }
        Ok(span)
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|source| ArchiveError::Json { what, source })
}

/// Every regular file in the tar, by normalised path, with where its data lies. Later
/// entries win, as when the tar is extracted.
fn scan(file: &File) -> Result<HashMap<String, Span>, ArchiveError> {
    let mut archive = tar::Archive::new(file);
    let mut entries = archive
        .entries_with_seek()
        .map_err(ArchiveError::from_io)?
        .raw(true);
    let mut names = EntryReader::default();
    let mut norm = Vec::new();
    let mut files = HashMap::new();
    while let Some(entry) = names.next(&mut entries, MAX_PAK_ENTRIES)? {
        if !entry.header().entry_type().is_file() || normalize(&names.path, &mut norm).is_err() {
            continue;
        }
        if let Ok(name) = String::from_utf8(norm.clone()) {
            let span = Span {
                offset: entry.raw_file_position(),
                size: entry.size(),
            };
            files.insert(name, span);
        }
    }
    Ok(files)
}

fn read_span(
    file: &File,
    path: &Path,
    span: Span,
    what: &'static str,
) -> Result<Vec<u8>, ArchiveError> {
    check_size(what, span.size)?;
    let mut bytes = vec![0; usize::try_from(span.size).expect("checked against MAX_METADATA")];
    file.read_exact_at(&mut bytes, span.offset)
        .map_err(|e| ArchiveError::io("read", path, e))?;
    Ok(bytes)
}

fn verify(what: &'static str, expected: &Digest, bytes: &[u8]) -> Result<(), ArchiveError> {
    let actual = Digest::sha256_of(bytes);
    if actual == *expected {
        Ok(())
    } else {
        Err(ArchiveError::DigestMismatch {
            what,
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn parse_digest(s: &str) -> Result<Digest, ArchiveError> {
    let digest: Digest = s.parse().map_err(|_| ArchiveError::UnsupportedDigest {
        digest: s.to_owned(),
    })?;
    check_sha256(&digest)?;
    Ok(digest)
}
