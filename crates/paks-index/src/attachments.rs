//! A build's attachments (its referrers: signatures, SBOMs, provenance, test results) in
//! a static repository, so that a policy can judge builds installed from one.
//!
//! Beside `X.pak` lies the directory `X.referrers/`, an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) holding every referrer of the
//! build (and referrers of those), listed untagged in `index.json` as
//! [`paks_oci::layout::Layout`] stores referrers. Plain files at fixed names: any HTTP
//! server, bucket or directory serves them with no directory listing, and `paks copy
//! oci:X.referrers` reads it. It is found from the build's `file`, so the signed index
//! does not change; it needs no signature of its own, since what matters in it is signed
//! (DSSE envelopes whose statements name the build's digest) and every blob is checked
//! against its digest.

use std::path::Path;

use paks_oci::layout::Layout;
use paks_oci::{
    Client, Descriptor, ImageIndex, ImageManifest, MANIFEST_LIMIT, OCI_MANIFEST, Repository,
};
use paks_remote::attach::ATTACHMENT_LIMIT;
use paks_types::Digest;

use crate::error::{IndexError, IndexErrorKind, io_err};
use crate::schema::BuildEntry;
use crate::store::{IndexSource, fetch_http_limited, file_index_path, http_index_url};

/// The directory of a build's attachments beside its `file`: `X.referrers` for `X.pak`.
pub fn referrers_dir_name(file: &str) -> String {
    format!("{}.referrers", file.strip_suffix(".pak").unwrap_or(file))
}

/// Write the referrers of `subject` in `repo` (and theirs), with their blobs, as the
/// layout `dir`; `index.json` lists exactly them (a referrer deleted from the registry
/// since the last export is no longer listed). No referrers: no directory. Returns how
/// many were written.
pub(crate) async fn export_referrers(
    client: &Client,
    repo: &Repository,
    subject: &Digest,
    dir: &Path,
) -> Result<usize, IndexError> {
    let mut listed: Vec<Descriptor> = Vec::new();
    let mut manifests = Vec::new();
    let mut subjects = vec![subject.clone()];
    while let Some(s) = subjects.pop() {
        for d in client.referrers(repo, &s, None).await? {
            if listed.iter().any(|l| l.digest == d.digest) || d.media_type != OCI_MANIFEST {
                continue;
            }
            let manifest = client
                .get_manifest(&repo.reference_digest(&d.digest))
                .await?;
            subjects.push(d.digest.clone());
            listed.push(
                manifest
                    .referrer_descriptor()
                    .map_err(|e| IndexErrorKind::Export {
                        id: subject.to_string(),
                        reason: format!("its referrer `{}` does not parse: {e}", d.digest),
                    })?,
            );
            manifests.push(manifest);
        }
    }
    if listed.is_empty() {
        if dir.join("index.json").is_file() {
            write_listing(dir, Vec::new())?;
        }
        return Ok(0);
    }
    let layout = Layout::create(dir)?;
    for manifest in &manifests {
        let parsed: ImageManifest =
            serde_json::from_slice(&manifest.bytes).expect("referrer_descriptor parsed it above");
        for blob in std::iter::once(&parsed.config).chain(&parsed.layers) {
            if !layout.has_blob(&blob.digest) {
                let bytes = client
                    .pull_blob_bytes(repo, &blob.digest, ATTACHMENT_LIMIT)
                    .await?;
                layout.write_blob_bytes(&bytes)?;
            }
        }
        layout.write_blob_bytes(&manifest.bytes)?;
    }
    let n = listed.len();
    write_listing(dir, listed)?;
    Ok(n)
}

fn write_listing(dir: &Path, manifests: Vec<Descriptor>) -> Result<(), IndexError> {
    let path = dir.join("index.json");
    let index = ImageIndex {
        manifests,
        ..ImageIndex::default()
    };
    paks_types::fs::write_atomic(&path, &index.to_bytes()).map_err(io_err("write", &path))
}

/// The attachments of `build` in the static repository `source`: each referrer whose
/// `subject` is the build's manifest, as its descriptor (`artifactType`, annotations)
/// and its one layer's bytes, every blob checked against its digest. Empty when the
/// repository has no `X.referrers/` for it (exported before attachments, or none
/// attached); a registry source has none here (ask the registry's referrers instead).
pub async fn static_referrers(
    client: &Client,
    source: &IndexSource,
    build: &BuildEntry,
) -> Result<Vec<(Descriptor, Vec<u8>)>, IndexError> {
    let Some(file) = build
        .file
        .as_deref()
        .filter(|f| crate::is_plain_file_name(f))
    else {
        return Ok(Vec::new());
    };
    let dir = referrers_dir_name(file);
    let Some(listing) = read(client, source, &format!("{dir}/index.json"), MANIFEST_LIMIT).await?
    else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| {
        IndexError::from(IndexErrorKind::Fetch {
            url: format!("{source}: {dir}"),
            reason,
        })
    };
    let index: ImageIndex = serde_json::from_slice(&listing)
        .map_err(|e| bad(format!("`index.json` is not an image index: {e}")))?;
    let mut found = Vec::new();
    for entry in index.manifests {
        if entry.media_type != OCI_MANIFEST {
            continue;
        }
        let bytes = read_blob(client, source, &dir, &entry.digest, MANIFEST_LIMIT).await?;
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            bad(format!(
                "the manifest `{}` does not parse: {e}",
                entry.digest
            ))
        })?;
        if manifest.subject.as_ref().map(|s| &s.digest) != Some(&build.digest) {
            continue;
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(bad(format!(
                "the attachment `{}` has {} layers, not 1",
                entry.digest,
                manifest.layers.len()
            )));
        };
        let content = read_blob(client, source, &dir, &layer.digest, ATTACHMENT_LIMIT).await?;
        let mut descriptor = paks_oci::Manifest {
            digest: entry.digest.clone(),
            media_type: entry.media_type.clone(),
            bytes,
        }
        .referrer_descriptor()
        .expect("it parsed above");
        // What `index.json` says beyond the manifest (annotations a tool added) is kept.
        for (k, v) in entry.annotations {
            descriptor.annotations.entry(k).or_insert(v);
        }
        found.push((descriptor, content));
    }
    Ok(found)
}

/// A blob of the referrers layout `dir`, required and checked against `digest`.
async fn read_blob(
    client: &Client,
    source: &IndexSource,
    dir: &str,
    digest: &Digest,
    limit: u64,
) -> Result<Vec<u8>, IndexError> {
    let path = format!(
        "{dir}/blobs/{}/{}",
        digest.algorithm().as_str(),
        digest.hex()
    );
    let bytes = read(client, source, &path, limit).await?.ok_or_else(|| {
        IndexError::from(IndexErrorKind::Fetch {
            url: format!("{source}: {path}"),
            reason: "it is listed but missing".into(),
        })
    })?;
    let actual = paks_oci::StreamHasher::digest_of(digest.algorithm(), &bytes);
    if actual != *digest {
        return Err(IndexErrorKind::Fetch {
            url: format!("{source}: {path}"),
            reason: format!("its content is `{actual}`, not `{digest}`"),
        }
        .into());
    }
    Ok(bytes)
}

/// The file at `rel` (a relative path of plain names) in the static repository; `None`
/// when it is not there.
async fn read(
    client: &Client,
    source: &IndexSource,
    rel: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, IndexError> {
    match source {
        IndexSource::Oci(_) => Ok(None),
        IndexSource::Http(url) => {
            let url = http_index_url(url)
                .join(rel)
                .map_err(|e| IndexErrorKind::Fetch {
                    url: format!("{url}{rel}"),
                    reason: e.to_string(),
                })?;
            fetch_http_limited(client, &url, limit, "the attachment").await
        }
        IndexSource::File(dir) => {
            let index = file_index_path(dir);
            let path = index.parent().unwrap_or(Path::new("")).join(rel);
            match tokio::fs::metadata(&path).await {
                Ok(m) if m.len() > limit => Err(IndexErrorKind::Fetch {
                    url: path.display().to_string(),
                    reason: format!("the attachment is larger than {limit} bytes"),
                }
                .into()),
                Ok(_) => tokio::fs::read(&path)
                    .await
                    .map(Some)
                    .map_err(io_err("read", path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err("read", path)(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_named_from_the_file() {
        assert_eq!(
            referrers_dir_name("hello-1.0.0-abc.pak"),
            "hello-1.0.0-abc.referrers"
        );
        assert_eq!(referrers_dir_name("odd"), "odd.referrers");
    }
}
