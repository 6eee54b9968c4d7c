//! Static repositories: `index.yaml` and one flat `.pak` per build, which any HTTP
//! server, bucket or directory can serve, and beside each `.pak` its attachments
//! (`crate::attachments`).
//!
//! Each build's `file` is fixed when the index is built (`<name>-<version>-<hash>.pak`),
//! so exporting does not change the signed index: the same signed document serves the
//! registry and every static mirror.

use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use futures_util::{StreamExt as _, TryStreamExt as _};
use paks_oci::{
    ANNOTATION_REF_NAME, Client, Descriptor, ImageIndex, ImageManifest, MANIFEST_LIMIT,
    OCI_MANIFEST, Repository,
};
use paks_types::{Digest, DigestAlgorithm};

use crate::error::{IndexError, IndexErrorKind, io_err};
use crate::schema::{FoundBuild, Index, SignedIndex, is_plain_file_name};
use crate::store::write_index_file;

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// `.pak` files written.
    pub written: usize,
    /// `.pak` files already there with the right manifest, left alone.
    pub existed: usize,
    /// Bytes of the `.pak` files written.
    pub bytes: u64,
    /// Attachments (referrers) written beside the `.pak` files, rewritten every time.
    pub attachments: usize,
    /// The `index.yaml` written.
    pub index: PathBuf,
}

/// Export the builds `signed` lists, from the registry namespace `namespace`, into
/// `out_dir` as a static repository: a `.pak` per build (named by its `file`), then
/// `index.yaml` (last, so that it never names a file not yet there). Files already
/// present with the listed manifest digest are kept.
pub async fn export(
    client: &Client,
    namespace: &Repository,
    signed: &SignedIndex,
    out_dir: &Path,
) -> Result<ExportReport, IndexError> {
    let mut report = export_files(client, namespace, &signed.signed, out_dir).await?;
    report.index = write_index_file(out_dir, signed)?;
    Ok(report)
}

/// [`export`] without the index document: the `.pak` file and attachments of every build
/// `index` lists (for a sharded index, whose root and shards the caller writes after).
/// The report's `index` is empty.
pub async fn export_files(
    client: &Client,
    namespace: &Repository,
    index: &Index,
    out_dir: &Path,
) -> Result<ExportReport, IndexError> {
    fs_err::create_dir_all(out_dir).map_err(io_err("create", out_dir))?;
    let builds: Vec<FoundBuild<'_>> = index.builds().collect();
    for b in &builds {
        match &b.build.file {
            Some(f) if is_plain_file_name(f) => {}
            Some(f) => {
                return Err(IndexErrorKind::Export {
                    id: b.build.id.to_string(),
                    reason: format!("its file name `{f}` is not a plain file name"),
                }
                .into());
            }
            None => {
                return Err(IndexErrorKind::Export {
                    id: b.build.id.to_string(),
                    reason: "the index gives it no file name; rebuild the index".into(),
                }
                .into());
            }
        }
    }
    let results: Vec<(Option<u64>, usize)> = futures_util::stream::iter(
        builds
            .iter()
            .map(|b| export_one(client, namespace, b, out_dir)),
    )
    .buffer_unordered(client.config().concurrency)
    .try_collect()
    .await?;
    let mut report = ExportReport::default();
    for (r, attachments) in results {
        report.attachments += attachments;
        match r {
            Some(bytes) => {
                report.written += 1;
                report.bytes += bytes;
            }
            None => report.existed += 1,
        }
    }
    Ok(report)
}

/// Write one build's `.pak` (its size; `None` when it was already there) and its
/// attachments (how many).
async fn export_one(
    client: &Client,
    namespace: &Repository,
    found: &FoundBuild<'_>,
    out_dir: &Path,
) -> Result<(Option<u64>, usize), IndexError> {
    let repo = Repository {
        registry: namespace.registry.clone(),
        name: if namespace.name.is_empty() {
            found.package.repository.clone()
        } else {
            format!("{}/{}", namespace.name, found.package.repository)
        },
    };
    let file = found.build.file.as_deref().expect("checked by the caller");
    // Attachments may be added after a build was first exported: always refreshed.
    let attachments = crate::attachments::export_referrers(
        client,
        &repo,
        &found.build.digest,
        &out_dir.join(crate::attachments::referrers_dir_name(file)),
    )
    .await?;
    Ok((
        export_pak(client, &repo, found, out_dir).await?,
        attachments,
    ))
}

/// Write one build's `.pak`; `None` when it was already there. Returns its size.
async fn export_pak(
    client: &Client,
    repo: &Repository,
    found: &FoundBuild<'_>,
    out_dir: &Path,
) -> Result<Option<u64>, IndexError> {
    let build = found.build;
    let path = out_dir.join(build.file.as_deref().expect("checked by the caller"));
    if pak_has_manifest(&path, &build.digest).await {
        return Ok(None);
    }
    let fail = |reason: String| {
        IndexError::from(IndexErrorKind::Export {
            id: build.id.to_string(),
            reason,
        })
    };
    let manifest = client
        .get_manifest(&repo.reference_digest(&build.digest))
        .await?;
    if manifest.media_type != OCI_MANIFEST {
        return Err(fail(format!(
            "its manifest is a `{}`, not an OCI image manifest",
            manifest.media_type
        )));
    }
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| fail(format!("its manifest does not parse: {e}")))?;
    let [layer] = parsed.layers.as_slice() else {
        return Err(fail(format!(
            "it has {} layers, not 1",
            parsed.layers.len()
        )));
    };
    for d in [&build.digest, &parsed.config.digest, &layer.digest] {
        if d.algorithm() != DigestAlgorithm::Sha256 {
            return Err(fail(format!(
                "`{d}` is not a sha256 digest, which `.pak` files need"
            )));
        }
    }
    let config = client
        .pull_blob_bytes(repo, &parsed.config.digest, MANIFEST_LIMIT)
        .await?;
    let layer_path = paks_types::fs::temp_sibling(&path, "layer");
    let _cleanup = RemoveOnDrop(layer_path.clone());
    client
        .pull_blob(repo, &layer.digest, Some(layer.size), &layer_path, &|_| {})
        .await?;
    let contents = PakContents {
        manifest: manifest.bytes,
        manifest_digest: build.digest.clone(),
        config,
        config_digest: parsed.config.digest.clone(),
        layer_path: layer_path.clone(),
        layer_digest: layer.digest.clone(),
        layer_size: layer.size,
        ref_name: found.version.to_string(),
    };
    let out = path.clone();
    tokio::task::spawn_blocking(move || contents.write(&out))
        .await
        .expect("writing a .pak does not panic")?;
    let size = fs_err::metadata(&path)
        .map_err(io_err("read", &path))?
        .len();
    Ok(Some(size))
}

/// Whether `path` is a readable `.pak` of the manifest `digest`.
async fn pak_has_manifest(path: &Path, digest: &Digest) -> bool {
    let path = path.to_owned();
    let digest = digest.clone();
    tokio::task::spawn_blocking(move || {
        path.is_file()
            && paks_archive::PakReader::open(&path).is_ok_and(|r| *r.manifest_digest() == digest)
    })
    .await
    .expect("the check does not panic")
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The blobs of one build, written as a `.pak` with the layout `paks_archive::write_pak`
/// uses, but with the manifest's bytes exactly as the registry has them.
struct PakContents {
    manifest: Vec<u8>,
    manifest_digest: Digest,
    config: Vec<u8>,
    config_digest: Digest,
    /// The layer, already verified by the pull.
    layer_path: PathBuf,
    layer_digest: Digest,
    layer_size: u64,
    ref_name: String,
}

impl PakContents {
    fn write(self, path: &Path) -> Result<(), IndexError> {
        let mut descriptor = Descriptor::new(
            OCI_MANIFEST,
            self.manifest_digest.clone(),
            self.manifest.len() as u64,
        );
        descriptor
            .annotations
            .insert(ANNOTATION_REF_NAME.to_owned(), self.ref_name.clone());
        let index = ImageIndex {
            manifests: vec![descriptor],
            ..ImageIndex::default()
        }
        .to_bytes();
        let mut layer =
            fs_err::File::open(&self.layer_path).map_err(io_err("read", &self.layer_path))?;
        let name = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        paks_types::fs::write_atomic_with(path, |file: &mut std::fs::File| -> io::Result<()> {
            let mut builder = tar::Builder::new(BufWriter::with_capacity(256 * 1024, file));
            append(
                &mut builder,
                "oci-layout",
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            )?;
            append(&mut builder, "index.json", &index)?;
            append_dir(&mut builder, "blobs/")?;
            append_dir(&mut builder, "blobs/sha256/")?;
            append(&mut builder, &name(&self.manifest_digest), &self.manifest)?;
            if self.config_digest != self.layer_digest {
                append(&mut builder, &name(&self.config_digest), &self.config)?;
            }
            let mut header =
                paks_archive::tar_header(tar::EntryType::Regular, 0o644, self.layer_size);
            builder.append_data(&mut header, name(&self.layer_digest), &mut layer)?;
            builder.into_inner()?.flush()
        })
        .map_err(io_err("write", path))
    }
}

fn append<W: io::Write>(builder: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut header = paks_archive::tar_header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
    builder.append_data(&mut header, name, bytes)
}

fn append_dir<W: io::Write>(builder: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut header = paks_archive::tar_header(tar::EntryType::Directory, 0o755, 0);
    builder.append_data(&mut header, name, io::empty())
}
