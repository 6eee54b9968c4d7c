//! The client's reads of a repository's index (`docs/index-format.md`): the document at
//! the repository's index location, a schema-1 index or a schema-2 [root](crate::Root),
//! for one small request when it did not change (the registry tag's manifest digest, the
//! HTTP `ETag`/`Last-Modified`, the file's mtime and size); and a root's shards, each
//! bounded by the size the root lists and verified against its digest before it is parsed.

use std::path::PathBuf;
use std::time::SystemTime;

use paks_oci::Client;
use paks_types::{Digest, PackageName};
use reqwest::header::{ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IndexErrorKind, io_err};
use crate::schema::{INDEX_TAG, Index, PackageEntry, SCHEMA, SignedIndex, canonical_json};
use crate::sharded::{ROOT_SCHEMA, Root, SHARD_SCHEMA, SHARDS_DIR, Shard, ShardRef, SignedRoot};
use crate::store::{
    INDEX_LIMIT, IndexSource, fetch_artifact_at, file_index_path, http_get_with, http_index_url,
    index_repository, read_limited,
};

/// A repository's index document, parsed (and canonical) but not trusted.
#[derive(Debug, Clone)]
pub enum Document {
    /// Schema 1: every package in one signed document.
    Index(SignedIndex),
    /// Schema 2: a signed root listing one shard per package.
    Root(SignedRoot),
}

impl Document {
    /// Parses `bytes` read from `what`: a schema-2 root, or else a schema-1 index (whose
    /// parser refuses schemas newer than both).
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Self, IndexError> {
        let parse_err = |source| {
            IndexError::from(IndexErrorKind::Parse {
                what: what.to_owned(),
                source,
            })
        };
        let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(parse_err)?;
        let schema = raw
            .pointer("/signed/schema")
            .and_then(serde_json::Value::as_u64);
        if schema != Some(u64::from(ROOT_SCHEMA)) {
            return SignedIndex::from_slice(bytes, what).map(Self::Index);
        }
        let root: SignedRoot = serde_json::from_value(raw.clone()).map_err(parse_err)?;
        let reserialized = serde_json::to_value(&root.signed).expect("a root serialises");
        // Signatures must cover exactly what was understood, as for schema 1.
        if canonical_json(&reserialized) != canonical_json(&raw["signed"]) {
            return Err(IndexErrorKind::NotCanonical {
                what: what.to_owned(),
                reason: "its root has fields or spellings this paks does not write".into(),
            }
            .into());
        }
        Ok(Self::Root(root))
    }
}

/// What tells whether a repository's index document changed, without fetching it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// Registry: the digest of the `paks-index:latest` manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    /// HTTP: the `ETag` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// HTTP: the `Last-Modified` answered (servers without `ETag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Directory: the file's modification time (nanoseconds since the epoch) and size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The answer of [`fetch_document`].
#[derive(Debug)]
pub enum DocumentFetch {
    /// The document is the one `known` described.
    Unchanged,
    /// A new (or first) document.
    Fetched {
        document: Box<Document>,
        raw: Vec<u8>,
        location: String,
        freshness: Freshness,
    },
}

/// Fetches the index document of `source` (schema 1 or 2) unless `known` says it did not
/// change: then only a `HEAD` of the tag, a conditional `GET`, or a `stat` is made.
pub async fn fetch_document(
    client: &Client,
    source: &IndexSource,
    known: Option<&Freshness>,
) -> Result<DocumentFetch, IndexError> {
    let location = source.index_location();
    let (raw, freshness) = match source {
        IndexSource::Oci(ns) => {
            let mut reference = index_repository(ns).reference_tag(INDEX_TAG);
            if let Some(known) = known.and_then(|k| k.manifest.as_ref()) {
                match client.head_manifest(&reference).await? {
                    Some((digest, _, _)) if digest == *known => {
                        return Ok(DocumentFetch::Unchanged);
                    }
                    // Pinned, so the manifest read is the one just seen.
                    Some((digest, _, _)) => reference = reference.with_digest(&digest),
                    None => return Err(IndexErrorKind::NoIndex { location }.into()),
                }
            }
            let (raw, digest) = fetch_artifact_at(client, &reference).await?;
            let freshness = Freshness {
                manifest: Some(digest),
                ..Freshness::default()
            };
            (raw, freshness)
        }
        IndexSource::Http(url) => {
            let url = http_index_url(url);
            let mut headers = HeaderMap::new();
            let known = known.cloned().unwrap_or_default();
            if let Some(v) = known.etag.as_deref().and_then(header_value) {
                headers.insert(IF_NONE_MATCH, v);
            } else if let Some(v) = known.last_modified.as_deref().and_then(header_value) {
                headers.insert(IF_MODIFIED_SINCE, v);
            }
            let Some(resp) = http_get_with(client, &url, headers).await? else {
                return Err(IndexErrorKind::NoIndex { location }.into());
            };
            if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(DocumentFetch::Unchanged);
            }
            let header = |name| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let freshness = Freshness {
                etag: header(ETAG),
                last_modified: header(reqwest::header::LAST_MODIFIED),
                ..Freshness::default()
            };
            (
                read_limited(resp, &url, INDEX_LIMIT, "the index").await?,
                freshness,
            )
        }
        IndexSource::File(dir) => {
            let path = file_index_path(dir);
            let stat = match tokio::fs::metadata(&path).await {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(IndexErrorKind::NoIndex { location }.into());
                }
                Err(e) => return Err(io_err("read", path)(e)),
            };
            let freshness = Freshness {
                mtime_ns: stat
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos()),
                size: Some(stat.len()),
                ..Freshness::default()
            };
            if freshness.mtime_ns.is_some() && known == Some(&freshness) {
                return Ok(DocumentFetch::Unchanged);
            }
            let raw = tokio::fs::read(&path)
                .await
                .map_err(io_err("read", &path))?;
            (raw, freshness)
        }
    };
    let document = Document::from_slice(&raw, &location)?;
    Ok(DocumentFetch::Fetched {
        document: Box::new(document),
        raw,
        location,
        freshness,
    })
}

fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

/// Where shard `digest` of `source` is: a blob of `<namespace>/paks-index`, or
/// `shards/<hex>.json` beside a static repository's `index.yaml`.
pub fn shard_location(source: &IndexSource, digest: &Digest) -> String {
    let file = format!("{}.json", digest.hex());
    match source {
        IndexSource::Oci(ns) => format!("{}@{digest}", index_repository(ns)),
        IndexSource::Http(url) => http_index_url(url)
            .join(&format!("{SHARDS_DIR}/{file}"))
            .expect("a relative path joins")
            .to_string(),
        IndexSource::File(dir) => shard_path(&file_index_path(dir), &file)
            .display()
            .to_string(),
    }
}

fn shard_path(index_file: &std::path::Path, file: &str) -> PathBuf {
    index_file.with_file_name(SHARDS_DIR).join(file)
}

/// Fetches the shard the root lists as `shard` for package `name`: at most `shard.size`
/// bytes, verified against `shard.digest` ([`parse_shard`]). Returns the shard and its
/// bytes (to cache).
pub async fn fetch_shard(
    client: &Client,
    source: &IndexSource,
    name: &PackageName,
    shard: &ShardRef,
) -> Result<(Shard, Vec<u8>), IndexError> {
    let location = shard_location(source, &shard.digest);
    let what = format!("the index shard of `{name}`");
    let bytes = match source {
        IndexSource::Oci(ns) => {
            client
                .pull_blob_bytes(&index_repository(ns), &shard.digest, shard.size)
                .await?
        }
        IndexSource::Http(url) => {
            let url = http_index_url(url)
                .join(&format!("{SHARDS_DIR}/{}.json", shard.digest.hex()))
                .expect("a relative path joins");
            let Some(resp) = http_get_with(client, &url, HeaderMap::new()).await? else {
                return Err(missing_shard(name, &location));
            };
            read_limited(resp, &url, shard.size, &what).await?
        }
        IndexSource::File(_) => {
            let path = PathBuf::from(&location);
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(missing_shard(name, &location));
                }
                Err(e) => return Err(io_err("open", path)(e)),
            };
            let mut bytes = Vec::new();
            // One byte past the size tells a too-large file from a right one.
            std::io::Read::read_to_end(&mut std::io::Read::take(file, shard.size + 1), &mut bytes)
                .map_err(io_err("read", &path))?;
            bytes
        }
    };
    let parsed = parse_shard(&bytes, name, shard, &location)?;
    Ok((parsed, bytes))
}

fn missing_shard(name: &PackageName, location: &str) -> IndexError {
    IndexErrorKind::BadShard {
        package: name.to_string(),
        location: location.to_owned(),
        reason: "it is not there".into(),
    }
    .into()
}

/// Believes `bytes` as package `name`'s shard only if their sha256 is the digest the root
/// lists (checked first: nothing unverified is parsed), and the shard is canonical and says
/// it is that package at that shard version.
pub fn parse_shard(
    bytes: &[u8],
    name: &PackageName,
    shard: &ShardRef,
    location: &str,
) -> Result<Shard, IndexError> {
    let actual = Digest::sha256_of(bytes);
    if actual != shard.digest {
        return Err(IndexErrorKind::ShardMismatch {
            package: name.to_string(),
            location: location.to_owned(),
            expected: shard.digest.clone(),
            actual,
        }
        .into());
    }
    let bad = |reason: String| {
        IndexError::from(IndexErrorKind::BadShard {
            package: name.to_string(),
            location: location.to_owned(),
            reason,
        })
    };
    let parsed: Shard = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if parsed.to_bytes() != bytes {
        return Err(bad("it is not in canonical JSON".into()));
    }
    if parsed.schema != SHARD_SCHEMA {
        return Err(bad(format!(
            "it uses shard schema {}; this paks reads {SHARD_SCHEMA}",
            parsed.schema
        )));
    }
    if parsed.name != *name || parsed.version != shard.version {
        return Err(bad(format!(
            "it is the shard of `{}` version {}, not of `{name}` version {}",
            parsed.name, parsed.version, shard.version
        )));
    }
    let mut files = parsed.package.versions.values().flat_map(|v| &v.builds);
    if let Some(b) = files.find(|b| {
        b.file
            .as_deref()
            .is_some_and(|f| !crate::is_plain_file_name(f))
    }) {
        return Err(bad(format!("the file of `{}` is not a plain name", b.id)));
    }
    Ok(parsed)
}

/// A schema-1 [`Index`] of `packages` (fetched shards) with the root's version, expiry
/// and source, for the resolver and [`Index::require_listed`].
pub fn index_view(
    root: &Root,
    packages: std::collections::BTreeMap<PackageName, PackageEntry>,
) -> Index {
    Index {
        schema: SCHEMA,
        version: root.version,
        expires: root.expires.clone(),
        generated: root.generated.clone(),
        source: root.source.clone(),
        packages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> (Shard, ShardRef) {
        let entry: PackageEntry = serde_json::from_value(serde_json::json!({
            "repository": "hello", "versions": {}
        }))
        .unwrap();
        let shard = Shard {
            schema: SHARD_SCHEMA,
            name: PackageName::new("hello").unwrap(),
            version: 3,
            package: entry,
        };
        let r = ShardRef {
            digest: shard.digest(),
            size: shard.to_bytes().len() as u64,
            version: 3,
        };
        (shard, r)
    }

    #[test]
    fn a_shard_is_believed_only_by_digest_name_and_version() {
        let (shard, r) = shard();
        let name = shard.name.clone();
        let bytes = shard.to_bytes();
        assert_eq!(parse_shard(&bytes, &name, &r, "x").unwrap(), shard);

        let mut other = shard.clone();
        other.package.summary = Some("changed".into());
        let err = parse_shard(&other.to_bytes(), &name, &r, "x").unwrap_err();
        assert!(
            matches!(err.kind(), IndexErrorKind::ShardMismatch { .. }),
            "{err}"
        );

        let wrong_name = PackageName::new("other").unwrap();
        let err = parse_shard(&bytes, &wrong_name, &r, "x").unwrap_err();
        assert!(
            matches!(err.kind(), IndexErrorKind::BadShard { .. }),
            "{err}"
        );

        let pretty = serde_json::to_vec_pretty(&shard).unwrap();
        let pretty_ref = ShardRef {
            digest: Digest::sha256_of(&pretty),
            ..r
        };
        let err = parse_shard(&pretty, &name, &pretty_ref, "x").unwrap_err();
        assert!(err.to_string().contains("canonical"), "{err}");
    }

    #[test]
    fn shards_are_beside_the_index() {
        let (_, r) = shard();
        let hex = r.digest.hex();
        let at = |s: &str| shard_location(&s.parse().unwrap(), &r.digest);
        assert_eq!(
            at("http://127.0.0.1:8000/repo/"),
            format!("http://127.0.0.1:8000/repo/shards/{hex}.json")
        );
        assert_eq!(at("/srv/repo"), format!("/srv/repo/shards/{hex}.json"));
        assert_eq!(
            at("oci://127.0.0.1:5000/acme"),
            format!("127.0.0.1:5000/acme/paks-index@{}", r.digest)
        );
    }
}
