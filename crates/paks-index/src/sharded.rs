//! The sharded index (schema 2, `docs/index-format.md`): a small signed **root** that lists
//! one **shard** per package by digest, and the shards themselves, fetched only for the
//! packages a resolution touches (as cargo's sparse index and TUF's snapshot role do).
//!
//! - The root carries what a client must trust: its version (never lower than the last
//!   one seen), its expiry, the keys that may sign the next root and how many must
//!   (`threshold`, k of n: key rotation is a root signed by enough old *and* new keys),
//!   and `shards`: package name → digest, size and shard version.
//! - A shard is one package's [`PackageEntry`], unsigned: it is believed because its
//!   sha256 is the digest the (verified) root lists for that name, so a shard from another
//!   root, an older shard or a mix of two roots is refused by digest.
//! - Where they live: on a registry, the root is the first layer of
//!   `<namespace>/paks-index:latest` (where schema-1 clients look, so they read schema 2 and
//!   say "upgrade paks"), shards are blobs of the same repository fetched by digest; in a
//!   static repository, the root is `index.yaml` and shard `sha256:<hex>` is
//!   `shards/<hex>.json` beside it.

use std::collections::BTreeMap;

use paks_types::{Digest, PackageName};
use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IndexErrorKind};
use crate::schema::{PackageEntry, Signature, canonical_json, first_difference};
use crate::time::Timestamp;
use crate::trust::TrustError;

/// The schema of a sharded index's root.
pub const ROOT_SCHEMA: u32 = 2;
/// The schema of a shard.
pub const SHARD_SCHEMA: u32 = 1;
/// The media type of a shard blob.
pub const SHARD_MEDIA_TYPE: &str = "application/vnd.paks.index.shard.v1+json";
/// The directory of a static repository that holds the shards (`shards/<hex>.json`).
pub const SHARDS_DIR: &str = "shards";

/// The signed part of a sharded index's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// [`ROOT_SCHEMA`].
    pub schema: u32,
    /// Increases with every root published for the repository; clients refuse a lower one.
    pub version: u64,
    /// Clients refuse the root (and so every shard) after this instant.
    pub expires: Timestamp,
    pub generated: Timestamp,
    /// The repository it describes, as in a schema-1 index.
    pub source: String,
    /// The keys that may sign roots of this repository, by key id (the sha256 hex of the raw
    /// public key, as [`Signature::keyid`]), each in the `paks-ed25519 …` public key form.
    pub keys: BTreeMap<String, String>,
    /// How many distinct `keys` must sign a root (at least 1).
    pub threshold: u32,
    /// Every package's shard.
    pub shards: BTreeMap<PackageName, ShardRef>,
}

/// Where a package's shard is, and which one is meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    /// The sha256 of the shard's bytes as stored.
    pub digest: Digest,
    pub size: u64,
    /// The root version in which this shard last changed; a client refuses a root that
    /// lists a lower shard version for a package than one it already saw.
    pub version: u64,
}

/// One package's data in a sharded index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// [`SHARD_SCHEMA`].
    pub schema: u32,
    pub name: PackageName,
    /// Equal to the [`ShardRef::version`] that lists it.
    pub version: u64,
    pub package: PackageEntry,
}

/// A root and its signatures (the TUF-style envelope of schema 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRoot {
    pub signatures: Vec<Signature>,
    pub signed: Root,
}

impl Root {
    /// The canonical JSON of this root: what signatures cover.
    pub fn canonical_json(&self) -> Vec<u8> {
        canonical_json(&serde_json::to_value(self).expect("a root serialises"))
    }

    /// The sha256 of [`Root::canonical_json`]: two roots with the same content digest are
    /// the same root (what a client remembers of the last one it accepted).
    pub fn content_digest(&self) -> Digest {
        Digest::sha256_of(&self.canonical_json())
    }
}

impl SignedRoot {
    /// A root without signatures.
    pub fn unsigned(root: Root) -> Self {
        Self {
            signatures: Vec::new(),
            signed: root,
        }
    }

    /// The document as stored (`index.yaml`, the first layer of `paks-index:latest`):
    /// JSON (which is also YAML) on one line: unlike a schema-1 index, nobody reads a root
    /// of 100,000 shard references by eye, and indentation would be a quarter of its size.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).expect("a root serialises");
        out.push(b'\n');
        out
    }

    /// Parse a stored root (`what` names it in errors), with the checks of
    /// [`SignedIndex::from_slice`](crate::SignedIndex::from_slice): a newer schema is
    /// refused by name, and so is a `signed` object that re-serializes differently, since
    /// signatures are checked over the re-serialized form.
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Self, IndexError> {
        let raw = parse_value(bytes, what)?;
        check_schema(raw.pointer("/signed/schema"), ROOT_SCHEMA)?;
        let signed: Self = serde_json::from_value(raw.clone()).map_err(parse_err(what))?;
        let original = raw.get("signed").expect("parsed, so present");
        check_canonical(original, &signed.signed, what)?;
        Ok(signed)
    }
}

/// The stored bytes as a JSON value, or a parse error naming `what`.
fn parse_value(bytes: &[u8], what: &str) -> Result<serde_json::Value, IndexError> {
    serde_json::from_slice(bytes).map_err(parse_err(what))
}

fn parse_err(what: &str) -> impl Fn(serde_json::Error) -> IndexError {
    move |source| {
        IndexErrorKind::Parse {
            what: what.to_owned(),
            source,
        }
        .into()
    }
}

/// Refuse a document whose `schema` is newer than `supported`: a newer paks wrote it.
fn check_schema(found: Option<&serde_json::Value>, supported: u32) -> Result<(), IndexError> {
    match found.and_then(serde_json::Value::as_u64) {
        Some(found) if found > u64::from(supported) => {
            Err(TrustError::NewerSchema { found, supported }.into())
        }
        _ => Ok(()),
    }
}

/// Refuse `original` unless it is exactly what `parsed` re-serializes to.
fn check_canonical(
    original: &serde_json::Value,
    parsed: &impl Serialize,
    what: &str,
) -> Result<(), IndexError> {
    let reserialized = serde_json::to_value(parsed).expect("a document serialises");
    if canonical_json(&reserialized) == canonical_json(original) {
        return Ok(());
    }
    Err(IndexErrorKind::NotCanonical {
        what: what.to_owned(),
        reason: first_difference(original, &reserialized, ""),
    }
    .into())
}

impl Shard {
    /// Parse a stored shard (`what` names it in errors): a newer shard schema is refused
    /// by name; the bytes must be the shard's canonical JSON (what [`Shard::to_bytes`]
    /// writes, so that its digest is the one the root lists); every `file` must be a plain
    /// file name, as in a schema-1 index.
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Self, IndexError> {
        let raw = parse_value(bytes, what)?;
        check_schema(raw.get("schema"), SHARD_SCHEMA)?;
        let shard: Self = serde_json::from_value(raw.clone()).map_err(parse_err(what))?;
        check_canonical(&raw, &shard, what)?;
        if shard.to_bytes() != bytes {
            return Err(IndexErrorKind::NotCanonical {
                what: what.to_owned(),
                reason: "it is not written in canonical JSON".into(),
            }
            .into());
        }
        shard.package.check_files(what)?;
        Ok(shard)
    }

    /// The shard as stored and hashed: its canonical JSON (so the same content always has
    /// the same digest, and an incremental rebuild reuses unchanged shards).
    pub fn to_bytes(&self) -> Vec<u8> {
        canonical_json(&serde_json::to_value(self).expect("a shard serialises"))
    }

    /// The digest the root lists for this shard.
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.to_bytes())
    }
}
