//! Publishing a sharded index (`docs/index-format.md`, "Schema 2: sharded"), to a registry
//! namespace or a static directory, and reading back what was published last, so that a
//! rebuild is incremental.
//!
//! On a registry, in `<namespace>/paks-index`:
//! - each shard is a blob ([`SHARD_MEDIA_TYPE`]), uploaded only when the repository
//!   lacks it (`HEAD` first);
//! - the shards are kept alive by **shard-set** manifests: image manifests
//!   ([`SHARD_SET_TYPE`]) whose layers are the shards of one bucket (packages bucketed by
//!   the sha256 of their name, about √n buckets, at most [`SHARD_SET_MAX`] shards each), so
//!   that one changed package changes one small shard-set manifest, not all of them;
//! - one image index ([`SHARD_SETS_TYPE`]) lists the shard sets and has the root's
//!   manifest as its `subject`: a referrer of the root, so the root keeps its shards
//!   wherever referrers are kept, and readers can find them;
//! - the root is the one layer of `paks-index:latest`, with the schema-1 media types, so
//!   that a schema-1 client fetches it and refuses it as a newer schema. It is pushed last.
//!
//! In a static directory: `shards/<hex>.json`, then `index.yaml` (the signed root), each
//! written atomically, so the root never names a shard that is not there yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt as _, TryStreamExt as _};
use paks_oci::{
    Client, Descriptor, ImageIndex, ImageManifest, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, PushedBlob,
    Reference, Repository,
};
use paks_types::{Digest, PackageName};

use crate::error::{IndexError, IndexErrorKind, io_err};
use crate::schema::{INDEX_FILE, INDEX_MEDIA_TYPE, INDEX_TAG, Index, SignedIndex};
use crate::shard_build::unshard;
use crate::sharded::{ROOT_SCHEMA, Root, SHARD_MEDIA_TYPE, SHARDS_DIR, Shard, SignedRoot};
use crate::store::{INDEX_LIMIT, fetch_artifact, index_repository};

/// The artifact type of a shard-set manifest (its layers: one bucket's shards).
pub const SHARD_SET_TYPE: &str = "application/vnd.paks.index.shard-set.v1+json";
/// The artifact type of the image index that lists a root's shard sets (its `subject`).
pub const SHARD_SETS_TYPE: &str = "application/vnd.paks.index.shard-sets.v1+json";
/// The most shards in one shard-set manifest: about 200 KiB of descriptors, far below the
/// 4 MiB registries accept for a manifest.
pub const SHARD_SET_MAX: usize = 1000;

/// The index last published at a place: a schema-1 index or a sharded root.
#[derive(Debug, Clone)]
pub enum Published {
    Single(SignedIndex),
    Sharded(SignedRoot),
}

impl Published {
    /// Parse a stored index document of either schema (`what` names it in errors).
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Self, IndexError> {
        let schema = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/signed/schema")
                    .and_then(serde_json::Value::as_u64)
            });
        if schema == Some(u64::from(ROOT_SCHEMA)) {
            SignedRoot::from_slice(bytes, what).map(Self::Sharded)
        } else {
            SignedIndex::from_slice(bytes, what).map(Self::Single)
        }
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        match self {
            Self::Single(s) => s.signed.version,
            Self::Sharded(s) => s.signed.version,
        }
    }
}

/// What publishing sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Shards written (uploaded, or files written).
    pub shards_written: usize,
    /// New shards the destination had already.
    pub shards_existed: usize,
    /// Bytes sent: blobs uploaded, manifests pushed, files written.
    pub bytes: u64,
}

/// The shard of `name` as `root` lists it, from the package entry in `index`.
fn shard_of(index: &Index, root: &Root, name: &PackageName) -> Option<Shard> {
    let r = root.shards.get(name)?;
    Some(Shard {
        schema: crate::sharded::SHARD_SCHEMA,
        name: name.clone(),
        version: r.version,
        package: index.packages.get(name)?.clone(),
    })
}

/// The bucket of a package name among `buckets`: from the sha256 of the name, so a
/// package stays in its bucket while their number does not change.
fn bucket_of(name: &PackageName, buckets: u64) -> u64 {
    let digest = Digest::sha256_of(name.as_str().as_bytes());
    let hex = digest.hex();
    u64::from_str_radix(&hex[..16], 16).expect("hex") % buckets
}

/// The shard-set manifests of `root`: about √n buckets (a power of two), each split into
/// pieces of at most [`SHARD_SET_MAX`] shards, sorted by name.
fn shard_sets(root: &Root, empty: &Descriptor) -> Vec<ImageManifest> {
    let n = root.shards.len() as u64;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let buckets = ((n as f64).sqrt().ceil() as u64).max(1).next_power_of_two();
    let mut by_bucket: BTreeMap<u64, Vec<Descriptor>> = BTreeMap::new();
    for (name, r) in &root.shards {
        by_bucket
            .entry(bucket_of(name, buckets))
            .or_default()
            .push(Descriptor::new(SHARD_MEDIA_TYPE, r.digest.clone(), r.size));
    }
    by_bucket
        .into_values()
        .flat_map(|layers| {
            layers
                .chunks(SHARD_SET_MAX)
                .map(|chunk| ImageManifest {
                    schema_version: 2,
                    media_type: Some(OCI_MANIFEST.into()),
                    artifact_type: Some(SHARD_SET_TYPE.into()),
                    config: empty.clone(),
                    layers: chunk.to_vec(),
                    subject: None,
                    annotations: BTreeMap::new(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The manifest of `paks-index:latest` holding `root_bytes` as its one layer.
fn root_manifest(signed: &SignedRoot, layer: Descriptor, empty: Descriptor) -> ImageManifest {
    ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: Some(INDEX_MEDIA_TYPE.into()),
        config: empty,
        layers: vec![layer],
        subject: None,
        annotations: [
            (
                "org.opencontainers.image.created".to_owned(),
                signed.signed.generated.to_string(),
            ),
            (
                "io.paks.index.version".to_owned(),
                signed.signed.version.to_string(),
            ),
            (
                "io.paks.index.schema".to_owned(),
                signed.signed.schema.to_string(),
            ),
        ]
        .into(),
    }
}

/// Push a blob unless the repository has it; count it in `report` when sent.
async fn push_counted(
    client: &Client,
    repo: &Repository,
    bytes: &[u8],
    report: &mut PublishReport,
) -> Result<(Digest, bool), IndexError> {
    let digest = Digest::sha256_of(bytes);
    let sent = client.push_bytes(repo, &digest, bytes).await? == PushedBlob::Uploaded;
    if sent {
        report.bytes += bytes.len() as u64;
    }
    Ok((digest, sent))
}

/// Publish a sharded index to `namespace` (see the module docs): `new_shards` (only these
/// are uploaded, and only if missing), the shard sets, then `signed` as
/// `paks-index:latest`. Returns the root manifest's reference by digest.
pub async fn push_sharded(
    client: &Client,
    namespace: &Repository,
    signed: &SignedRoot,
    new_shards: &[Shard],
) -> Result<(Reference, PublishReport), IndexError> {
    let repo = index_repository(namespace);
    let mut report = PublishReport::default();
    let results: Vec<(usize, bool)> = futures_util::stream::iter(new_shards.iter().map(|shard| {
        let repo = &repo;
        async move {
            let bytes = shard.to_bytes();
            let pushed = client
                .push_bytes(repo, &Digest::sha256_of(&bytes), &bytes)
                .await?;
            Ok::<_, IndexError>((bytes.len(), pushed == PushedBlob::Uploaded))
        }
    }))
    .buffer_unordered(client.config().concurrency.max(1))
    .try_collect()
    .await?;
    for (size, sent) in results {
        if sent {
            report.shards_written += 1;
            report.bytes += size as u64;
        } else {
            report.shards_existed += 1;
        }
    }
    let (empty_digest, _) = push_counted(client, &repo, b"{}", &mut report).await?;
    let empty = Descriptor::new(OCI_EMPTY, empty_digest, 2);
    let mut sets = Vec::new();
    for set in shard_sets(&signed.signed, &empty) {
        let bytes = set.to_bytes();
        let digest = Digest::sha256_of(&bytes);
        let reference = repo.reference_digest(&digest);
        if client.head_manifest(&reference).await?.is_none() {
            client
                .put_manifest(&reference, OCI_MANIFEST, &bytes)
                .await?;
            report.bytes += bytes.len() as u64;
        }
        sets.push(Descriptor::new(OCI_MANIFEST, digest, bytes.len() as u64));
    }
    let root_bytes = signed.to_bytes();
    let (root_digest, _) = push_counted(client, &repo, &root_bytes, &mut report).await?;
    let mut layer = Descriptor::new(INDEX_MEDIA_TYPE, root_digest, root_bytes.len() as u64);
    layer
        .annotations
        .insert("org.opencontainers.image.title".into(), INDEX_FILE.into());
    let manifest = root_manifest(signed, layer, empty).to_bytes();
    let manifest_digest = Digest::sha256_of(&manifest);
    // The shard sets' index refers to the root's manifest before it is pushed (registries
    // accept a referrer whose subject is not there yet), so the root is never tagged
    // without its shards referenced.
    let sets_index = ImageIndex {
        artifact_type: Some(SHARD_SETS_TYPE.into()),
        manifests: sets,
        subject: Some(Descriptor::new(
            OCI_MANIFEST,
            manifest_digest.clone(),
            manifest.len() as u64,
        )),
        ..ImageIndex::default()
    }
    .to_bytes();
    let sets_reference = repo.reference_digest(&Digest::sha256_of(&sets_index));
    client
        .put_manifest(&sets_reference, OCI_INDEX, &sets_index)
        .await?;
    report.bytes += sets_index.len() as u64;
    let reference = repo.reference_tag(INDEX_TAG);
    let digest = client
        .put_manifest(&reference, OCI_MANIFEST, &manifest)
        .await?;
    report.bytes += manifest.len() as u64;
    Ok((reference.with_digest(&digest), report))
}

/// The index `namespace` published last, if any.
pub async fn fetch_published(
    client: &Client,
    namespace: &Repository,
) -> Result<Option<Published>, IndexError> {
    let raw = match fetch_artifact(client, namespace).await {
        Ok(raw) => raw,
        Err(e) if matches!(e.kind(), IndexErrorKind::NoIndex { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let what = index_repository(namespace)
        .reference_tag(INDEX_TAG)
        .to_string();
    Published::from_slice(&raw, &what).map(Some)
}

/// Fetch every shard `root` lists from `namespace`, each checked against its digest, and
/// assemble the schema-1 index they describe.
pub async fn fetch_all_shards(
    client: &Client,
    namespace: &Repository,
    root: &Root,
) -> Result<Index, IndexError> {
    let repo = index_repository(namespace);
    let shards: Vec<Shard> = futures_util::stream::iter(root.shards.iter().map(|(name, r)| {
        let repo = &repo;
        async move {
            let limit = r.size.min(INDEX_LIMIT);
            let bytes = client.pull_blob_bytes(repo, &r.digest, limit).await?;
            let what = format!("{}@{}", repo.name, r.digest);
            check_shard(&bytes, &what, name, r)
        }
    }))
    .buffer_unordered(client.config().concurrency.max(1))
    .try_collect()
    .await?;
    Ok(unshard(root, shards))
}

/// Parse a shard and check that it is the one `r` names for `name`.
fn check_shard(
    bytes: &[u8],
    what: &str,
    name: &PackageName,
    r: &crate::ShardRef,
) -> Result<Shard, IndexError> {
    let shard = Shard::from_slice(bytes, what)?;
    let actual = Digest::sha256_of(bytes);
    if actual != r.digest || shard.name != *name || shard.version != r.version {
        return Err(IndexErrorKind::Fetch {
            url: what.to_owned(),
            reason: format!(
                "it is `{}` version {} with digest `{actual}`, not the shard of `{name}` the root lists",
                shard.name, shard.version
            ),
        }
        .into());
    }
    Ok(shard)
}

/// Write a sharded index into `dir` (a static repository): every shard the root lists
/// that `shards/` lacks (its content from `index`), then `index.yaml`, each atomically.
/// Returns the path of `index.yaml`.
pub fn write_sharded_dir(
    dir: &Path,
    signed: &SignedRoot,
    index: &Index,
) -> Result<(PathBuf, PublishReport), IndexError> {
    let shards_dir = dir.join(SHARDS_DIR);
    fs_err::create_dir_all(&shards_dir).map_err(io_err("create", &shards_dir))?;
    let mut report = PublishReport::default();
    for (name, r) in &signed.signed.shards {
        let path = shards_dir.join(format!("{}.json", r.digest.hex()));
        if path.is_file() {
            continue;
        }
        let shard = shard_of(index, &signed.signed, name)
            .filter(|s| s.digest() == r.digest)
            .ok_or_else(|| IndexErrorKind::Export {
                id: name.to_string(),
                reason: format!(
                    "its shard `{}` is neither in `{}` nor in the index",
                    r.digest,
                    shards_dir.display()
                ),
            })?;
        let bytes = shard.to_bytes();
        paks_types::fs::write_atomic(&path, &bytes).map_err(io_err("write", &path))?;
        report.shards_written += 1;
        report.bytes += bytes.len() as u64;
    }
    let path = dir.join(INDEX_FILE);
    let bytes = signed.to_bytes();
    paks_types::fs::write_atomic(&path, &bytes).map_err(io_err("write", &path))?;
    report.bytes += bytes.len() as u64;
    Ok((path, report))
}

/// Read the shards of `root` from a static directory, each checked against its digest, and
/// assemble the schema-1 index they describe.
pub fn read_dir_shards(dir: &Path, root: &Root) -> Result<Index, IndexError> {
    let shards_dir = dir.join(SHARDS_DIR);
    let shards = root
        .shards
        .iter()
        .map(|(name, r)| {
            let path = shards_dir.join(format!("{}.json", r.digest.hex()));
            let bytes = fs_err::read(&path).map_err(io_err("read", &path))?;
            check_shard(&bytes, &path.display().to_string(), name, r)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(unshard(root, shards))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard_build::{RootKeys, shard_index};

    #[test]
    fn shard_sets_are_small_and_mostly_stable() {
        let mut index = crate::schema::tests::sample_index(1);
        let (_, entry) = index.packages.pop_first().unwrap();
        for i in 0..1000 {
            index
                .packages
                .insert(PackageName::new(&format!("p{i}")).unwrap(), entry.clone());
        }
        let empty = Descriptor::new(OCI_EMPTY, Digest::sha256_of(b"{}"), 2);
        let first = shard_index(&index, None, RootKeys::of(&[]));
        let sets = shard_sets(&first.root, &empty);
        assert_eq!(sets.len(), 32);
        assert_eq!(sets.iter().map(|s| s.layers.len()).sum::<usize>(), 1000);
        assert!(sets.iter().all(|s| s.to_bytes().len() < 4 << 20));

        let name = PackageName::new("p500").unwrap();
        index.packages.get_mut(&name).unwrap().summary = Some("new".into());
        let second = shard_index(&index, Some(&first.root), RootKeys::of(&[]));
        let again = shard_sets(&second.root, &empty);
        let changed: Vec<&ImageManifest> = again.iter().filter(|s| !sets.contains(s)).collect();
        assert_eq!(changed.len(), 1);

        // What publishing that one change sends, besides the root's small manifest: the
        // shard, its shard set, the sets' index and the root document.
        let set_bytes = changed[0].to_bytes().len();
        let index_bytes = ImageIndex {
            artifact_type: Some(SHARD_SETS_TYPE.into()),
            manifests: again
                .iter()
                .map(|s| Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&s.to_bytes()), 1))
                .collect(),
            subject: Some(empty.clone()),
            ..ImageIndex::default()
        }
        .to_bytes()
        .len();
        let root_bytes = SignedRoot::unsigned(second.root.clone()).to_bytes().len();
        let shard_bytes = second.new_shards[0].to_bytes().len();
        eprintln!(
            "one change among 1,000: shard {shard_bytes} B, shard set {set_bytes} B, \
             sets index {index_bytes} B, root {root_bytes} B"
        );
        assert!(set_bytes < 16 << 10, "{set_bytes}");
        assert!(index_bytes < 16 << 10, "{index_bytes}");
    }
}
