//! The package index (`docs/index-format.md`): every package, version and build of a
//! repository in one signed, versioned, expiring document.
//!
//! - [`Index`], [`SignedIndex`]: the schema, and its TUF-style envelope; signatures
//!   cover the index's [canonical JSON](canonical_json).
//! - [`generate_key`], [`SigningKey`], [`PublicKey`], [`sign`], [`verify`]: ed25519 keys.
//! - [`check`], [`TrustPolicy`], [`TrustState`]: whether to believe an index (trusted
//!   signature, no rollback, not expired, known schema), remembered per repository;
//!   [`Index::require_listed`] before installing any digest.
//! - [`verify_root`], [`check_shard`], [`TrustedRoot`], [`sign_root`]: the same for a
//!   sharded index (schema 2): k-of-n signatures, key rotation, no rollback of the root
//!   or of a shard, each shard checked against the root's digest.
//! - [`build_index`] (from a registry namespace, incrementally) and [`build_from_paks`]
//!   (from a directory of `.pak` files).
//! - [`push_index`], [`fetch_index`]: the index as the OCI artifact
//!   `<namespace>/paks-index:latest`, or as `index.yaml` over HTTP(S) or in a directory.
//! - [`shard_index`]: the sharded index (schema 2: a signed [`Root`] and
//!   one [`Shard`] per package), built incrementally over the previous root;
//!   [`push_sharded`], [`write_sharded_dir`] publish it, [`fetch_published`] reads back
//!   the last one published.
//! - [`fetch_document`], [`fetch_shard`]: a client's reads of either schema, one small
//!   request when nothing changed, and a sharded index's shards verified by digest.
//! - [`export`]: a static repository (`index.yaml` and flat `.pak` files) from a registry,
//!   with each build's attachments beside its `.pak`; [`static_referrers`] reads them.

mod attachments;
mod build;
mod error;
mod export;
mod keys;
mod root_trust;
mod schema;
mod shard_build;
mod shard_fetch;
mod shard_publish;
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
pub use export::{ExportReport, export, export_files};
pub use keys::{
    GeneratedKey, PUBLIC_KEY_PREFIX, PublicKey, SigningKey, add_signature, generate_key, sign,
    verify, write_private_key, write_public_key,
};
pub use root_trust::{TrustedRoot, check_shard, root_keys, sign_root, verify_root};
pub use schema::{
    ANNOTATION_GLIBC, ANNOTATION_TARGET, BlobEntry, BuildEntry, FoundBuild, INDEX_FILE,
    INDEX_MEDIA_TYPE, INDEX_REPOSITORY, INDEX_TAG, Index, LayerEntry, PackageEntry, SCHEMA,
    Signature, SignedIndex, VersionEntry, canonical_json, is_plain_file_name, pak_file_name,
};
pub use shard_build::{RootKeys, Sharded, shard_index, unshard};
pub use shard_fetch::{
    Document, DocumentFetch, Freshness, fetch_document, fetch_shard, index_view, parse_shard,
    shard_location,
};
pub use shard_publish::{
    PublishReport, Published, SHARD_SET_MAX, SHARD_SET_TYPE, SHARD_SETS_TYPE, fetch_all_shards,
    fetch_published, push_sharded, read_dir_shards, write_sharded_dir,
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
