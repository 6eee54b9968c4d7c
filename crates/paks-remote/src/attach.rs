//! Attachments: OCI artifacts whose `subject` is another manifest (SBOMs, provenance,
//! signatures, test results), as `oras attach` makes them. One code path to attach, list
//! and fetch them, on registries with the referrers API (`paks serve`) and without it
//! (distribution 2.8, GHCR: the `sha256-<hex>` tag fallback).

use std::collections::BTreeMap;

use paks_oci::{
    Client, Descriptor, Digest, EMPTY_JSON, ImageManifest, Manifest, OCI_MANIFEST, Repository,
};

use crate::{RemoteError, RemoteErrorKind, by_digest};

/// The largest attachment layer [`fetch`] reads into memory.
pub const ATTACHMENT_LIMIT: u64 = 64 * 1024 * 1024;

/// Attach `bytes` to `subject` in `repo`: pushes the empty config (`{}`), the layer (of
/// `layer_media_type`) and an artifact manifest of `artifact_type` whose `subject` is
/// `subject`, by digest. When the registry did not record the referrer itself (no
/// `OCI-Subject` in its answer), the manifest is added to the `sha256-<hex>` tag's index.
/// Returns the descriptor that lists the artifact among `subject`'s referrers. The same
/// content attached twice gives the same manifest, listed once.
pub async fn attach(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    artifact_type: &str,
    layer_media_type: &str,
    bytes: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor, RemoteError> {
    client.push_blob_bytes(repo, EMPTY_JSON).await?;
    let layer_digest = client.push_blob_bytes(repo, bytes).await?;
    let layer = Descriptor::new(layer_media_type, layer_digest, bytes.len() as u64);
    let subject = Descriptor::new(&subject.media_type, subject.digest.clone(), subject.size);
    let manifest = ImageManifest::artifact(
        artifact_type,
        vec![layer],
        Some(subject.clone()),
        annotations,
    );
    let manifest = Manifest::new(OCI_MANIFEST, manifest.to_bytes());
    let put = client
        .put_manifest_with(
            &by_digest(repo, &manifest.digest),
            OCI_MANIFEST,
            &manifest.bytes,
            None,
        )
        .await?;
    let descriptor = manifest
        .referrer_descriptor()
        .expect("the manifest was just serialised");
    if put.subject.as_ref() != Some(&subject.digest) {
        client
            .add_referrer_fallback(repo, &subject.digest, descriptor.clone())
            .await?;
    }
    Ok(descriptor)
}

/// The referrers of `subject` in `repo` (from the referrers API, else the tag fallback),
/// only those of `artifact_type` when it is given.
pub async fn list(
    client: &Client,
    repo: &Repository,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<Descriptor>, RemoteError> {
    Ok(client.referrers(repo, subject, artifact_type).await?)
}

/// An attachment's manifest and its one layer's bytes: the manifest is fetched by
/// `descriptor`'s digest and verified; the layer is at most [`ATTACHMENT_LIMIT`] bytes and
/// verified against its digest.
pub async fn fetch(
    client: &Client,
    repo: &Repository,
    descriptor: &Descriptor,
) -> Result<(ImageManifest, Vec<u8>), RemoteError> {
    let reference = by_digest(repo, &descriptor.digest);
    let not_one = |reason: String| RemoteErrorKind::NotAnAttachment {
        reference: reference.to_string(),
        reason,
    };
    let fetched = client.get_manifest(&reference).await?;
    if fetched.media_type != OCI_MANIFEST {
        return Err(not_one(format!("it is a `{}`", fetched.media_type)).into());
    }
    let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| not_one(format!("its manifest does not parse: {e}")))?;
    let [layer] = manifest.layers.as_slice() else {
        return Err(not_one(format!("it has {} layers, not one", manifest.layers.len())).into());
    };
    if layer.size > ATTACHMENT_LIMIT {
        return Err(RemoteErrorKind::AttachmentTooLarge {
            reference: reference.to_string(),
            size: layer.size,
            limit: ATTACHMENT_LIMIT,
        }
        .into());
    }
    let bytes = client
        .pull_blob_bytes(repo, &layer.digest, layer.size)
        .await?;
    Ok((manifest, bytes))
}
