//! The package index (`docs/index-format.md`): every package, version and build of a
//! repository in one signed, versioned, expiring document.
//!
//! - [`Index`], [`SignedIndex`]: the schema, and its TUF-style envelope; signatures
//!   cover the index's [canonical JSON](canonical_json).
//! - [`generate_key`], [`SigningKey`], [`PublicKey`], [`sign`], [`verify`]: ed25519 keys.
//! - [`check`], [`TrustPolicy`], [`TrustState`]: whether to believe an index (trusted
//!   signature, no rollback, not expired, known schema), remembered per repository;
//!   [`Index::require_listed`] before installing any digest.
//! - [`build_index`] (from a registry namespace, incrementally) and [`build_from_paks`]
//!   (from a directory of `.pak` files).
//! - [`push_index`], [`fetch_index`]: the index as the OCI artifact
//!   `<namespace>/paks-index:latest`, or as `index.yaml` over HTTP(S) or in a directory.
//! - [`fetch_document`], [`fetch_shard`]: a client's reads of either schema, one small
//!   request when nothing changed, and a sharded index's shards verified by digest.
//! - [`export`]: a static repository (`index.yaml` and flat `.pak` files) from a registry,
//!   with each build's attachments beside its `.pak`; [`static_referrers`] reads them.

mod attachments;
mod build;
mod error;
mod export;
mod keys;
mod schema;
mod shard_fetch;
mod sharded;
mod store;
mod time;
mod trust;

pub use attachments::{referrers_dir_name, static_referrers};
pub use build::{
    BuildOptions, BuildReport, DEFAULT_EXPIRES_IN, Skipped, build_from_paks, build_index,
    oci_source, version_of_tag,
};
pub use error::{IndexError, IndexErrorKind};
pub use export::{ExportReport, export};
pub use keys::{
    GeneratedKey, PUBLIC_KEY_PREFIX, PublicKey, SigningKey, add_signature, generate_key, sign,
    verify, write_private_key, write_public_key,
};
pub use schema::{
    ANNOTATION_GLIBC, ANNOTATION_TARGET, BlobEntry, BuildEntry, FoundBuild, INDEX_FILE,
    INDEX_MEDIA_TYPE, INDEX_REPOSITORY, INDEX_TAG, Index, LayerEntry, PackageEntry, SCHEMA,
    Signature, SignedIndex, VersionEntry, canonical_json, is_plain_file_name, pak_file_name,
};
pub use shard_fetch::{
    Document, DocumentFetch, Freshness, check_root, fetch_document, fetch_shard, index_view,
    parse_shard, shard_location,
};
pub use sharded::{
    ROOT_SCHEMA, Root, SHARD_MEDIA_TYPE, SHARD_SCHEMA, SHARDS_DIR, Shard, ShardRef, SignedRoot,
};
pub use store::{
    FetchedIndex, INDEX_LIMIT, IndexSource, download_file, fetch_index, index_repository,
    push_index, push_index_document, write_index_file,
};
pub use time::{Timestamp, TimestampError};
pub use trust::{TrustError, TrustPolicy, TrustState, check, check_entries};
