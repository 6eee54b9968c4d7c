//! The registry's storage on both sides of a composition: where the composer reads the
//! layers it must repack ([`StorageBlobs`]), and where the composed images are written
//! (package and base layers mounted from their repositories, the rest uploaded).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use paks_image::{BlobSource, Composed, ImageError, LayerSource};
use paks_oci::{OCI_INDEX, OCI_MANIFEST, Repository};
use paks_registry::names::RepoName;
use paks_registry::storage::{ManifestRefs, Storage, StorageError, StoredManifest};
use paks_types::Digest;
use paks_types::HashingReader;

/// The storage as the composer's [`BlobSource`]: no network hop.
pub struct StorageBlobs(pub Arc<dyn Storage>);

impl BlobSource for StorageBlobs {
    fn copy_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        dest: &Path,
    ) -> Result<bool, ImageError> {
        let Ok(repo) = RepoName::parse(&repo.name) else {
            return Ok(false);
        };
        if digest.algorithm() != paks_types::DigestAlgorithm::Sha256 {
            return Ok(false);
        }
        let Some(mut blob) = self.0.open_blob(&repo, digest).map_err(|e| io(&e))? else {
            return Ok(false);
        };
        paks_types::fs::write_atomic_with(dest, |file| {
            let mut reader = HashingReader::new(&mut blob.reader);
            std::io::copy(&mut reader, file)?;
            let (actual, _, _) = reader.finish();
            if &actual != digest {
                return Err(std::io::Error::other(format!(
                    "the stored blob `{digest}` hashes to `{actual}`"
                )));
            }
            Ok::<_, std::io::Error>(())
        })?;
        Ok(true)
    }
}

fn io(e: &StorageError) -> ImageError {
    ImageError::Io(std::io::Error::other(e.to_string()))
}

/// Stores `images` in `repo` and points `tag` at the image (one platform) or at the index
/// over them; returns the digest the tag names. Blocking.
pub fn store(
    storage: &dyn Storage,
    repo: &RepoName,
    images: &[Composed],
    tag: &str,
) -> Result<Digest, StorageError> {
    for image in images {
        for (d, source) in &image.layers {
            if storage.blob_size(repo, &d.digest)?.is_some() {
                continue;
            }
            match source {
                LayerSource::Remote(from) => {
                    let from = RepoName::parse(&from.name).map_err(StorageError::Corrupt)?;
                    if storage.mount_blob(&from, repo, &d.digest)?.is_none() {
                        return Err(StorageError::BlobUnknown(d.digest.clone()));
                    }
                }
                LayerSource::Local(path) => {
                    let bytes = fs_read(path)?;
                    upload(storage, repo, &d.digest, &bytes)?;
                }
                LayerSource::Bytes(bytes) => upload(storage, repo, &d.digest, bytes)?,
            }
        }
        let config = Digest::sha256_of(&image.config);
        if storage.blob_size(repo, &config)?.is_none() {
            upload(storage, repo, &config, &image.config)?;
        }
    }
    let put = |bytes: &[u8], media_type: &str, refs: ManifestRefs, tags: &[&str]| {
        let digest = Digest::sha256_of(bytes);
        storage.put_manifest(
            repo,
            &digest,
            &StoredManifest {
                media_type: media_type.to_owned(),
                bytes: bytes.to_vec(),
            },
            &refs,
            tags,
        )?;
        Ok::<_, StorageError>(digest)
    };
    let image_refs = |image: &Composed| {
        let config = (Digest::sha256_of(&image.config), image.config.len() as u64);
        let mut sizes = vec![config.clone()];
        sizes.extend(image.layers.iter().map(|(d, _)| (d.digest.clone(), d.size)));
        ManifestRefs {
            blobs: sizes.iter().map(|(d, _)| d.clone()).collect(),
            sizes,
            ..ManifestRefs::default()
        }
    };
    if let [image] = images {
        return put(&image.manifest, OCI_MANIFEST, image_refs(image), &[tag]);
    }
    for image in images {
        put(&image.manifest, OCI_MANIFEST, image_refs(image), &[])?;
    }
    let index = paks_image::index_of(images);
    let sizes: Vec<(Digest, u64)> = images
        .iter()
        .map(|i| (i.digest.clone(), i.manifest.len() as u64))
        .collect();
    put(
        &index,
        OCI_INDEX,
        ManifestRefs {
            manifests: sizes.iter().map(|(d, _)| d.clone()).collect(),
            sizes,
            ..ManifestRefs::default()
        },
        &[tag],
    )
}

fn fs_read(path: &Path) -> Result<Vec<u8>, StorageError> {
    std::fs::read(path).map_err(|e| StorageError::io(format!("reading `{}`", path.display()), e))
}

/// Uploads `bytes` as blob `digest` of `repo`.
fn upload(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let id = storage.start_upload(repo)?;
    let mut writer = storage.upload_writer(repo, &id)?;
    writer
        .write_all(bytes)
        .map_err(|e| StorageError::io(format!("uploading `{digest}`"), e))?;
    writer.finish()?;
    storage.commit_upload(repo, &id, digest)?;
    Ok(())
}
