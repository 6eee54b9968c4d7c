//! Whether to believe a sharded index (schema 2): its root, by TUF's root rules adapted to
//! one root that is also the snapshot, and each shard, by the digest the root lists.
//!
//! - [`TrustedRoot`]: what a client trusts for one repository: at first the keys and
//!   threshold it was configured with, then those of the last root it accepted, with that
//!   root's version and content digest and the shard versions it saw.
//! - [`verify_root`]: a root is believed when `trusted.threshold` distinct trusted keys
//!   and its own `threshold` of its own keys signed it (a rotation is signed by enough old
//!   *and* new keys), its version is not lower than the last one accepted (nor equal with
//!   other content), no shard version it lists is lower than one seen, it has not expired,
//!   and its schema is known. [`TrustedRoot::accept`] then makes its keys the trusted ones.
//! - [`check_shard`]: shard bytes are believed when their sha256 is the digest the
//!   (verified) root lists for that package, and they say what the root says.
//! - [`sign_root`]: sign a root with each of several keys.
//! - [`TrustedRoot::unsigned`]: a repository explicitly allowed to be unsigned; every check
//!   but the signatures applies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use data_encoding::BASE64;
use paks_types::{Digest, PackageName};
use serde::{Deserialize, Serialize};

use crate::keys::{PublicKey, SigningKey, add_signature_bytes};
use crate::sharded::{ROOT_SCHEMA, Root, SHARD_SCHEMA, Shard, SignedRoot};
use crate::time::Timestamp;
use crate::trust::{TrustError, check_entry};

/// Sign `root` with each of `keys` (none: unsigned; a key given twice signs once).
pub fn sign_root<'a>(root: Root, keys: impl IntoIterator<Item = &'a SigningKey>) -> SignedRoot {
    let mut signed = SignedRoot::unsigned(root);
    let message = signed.signed.canonical_json();
    for key in keys {
        add_signature_bytes(&mut signed.signatures, &message, key);
    }
    signed
}

/// The [`Root::keys`] map of `keys`: key id → `paks-ed25519 …`.
pub fn root_keys<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> BTreeMap<String, String> {
    keys.into_iter()
        .map(|k| (k.keyid(), k.to_string()))
        .collect()
}

/// What a client trusts for one repository's sharded index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRoot {
    keys: Vec<PublicKey>,
    /// 0: signatures are not checked (a repository explicitly allowed to be unsigned).
    threshold: u32,
    last: Option<AcceptedRoot>,
    /// Package → the highest shard version seen (only of shards fetched).
    shards: BTreeMap<PackageName, u64>,
    /// The state file it is kept in, for hints (empty when not kept).
    state: PathBuf,
}

/// The last accepted root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AcceptedRoot {
    pub version: u64,
    /// Its [`Root::content_digest`].
    pub digest: Digest,
}

/// [`TrustedRoot`] as kept in a trust state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TrustedRootFile {
    /// Key id → `paks-ed25519 …`, as in a root.
    pub keys: BTreeMap<String, String>,
    pub threshold: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<AcceptedRoot>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shards: BTreeMap<PackageName, u64>,
}

impl TrustedRoot {
    /// Trust `keys` (duplicates count once), `threshold` of which must sign a root; no root
    /// seen yet. `None` when `threshold` is 0 or above the number of distinct keys.
    pub fn new(keys: Vec<PublicKey>, threshold: u32) -> Option<Self> {
        let mut keys = keys;
        let mut seen = BTreeSet::new();
        keys.retain(|k| seen.insert(k.keyid()));
        if threshold == 0 || threshold as usize > keys.len() {
            return None;
        }
        Some(Self {
            keys,
            threshold,
            last: None,
            shards: BTreeMap::new(),
            state: PathBuf::new(),
        })
    }

    /// Believe roots without checking their signatures (`paks repo add --allow-unsigned`):
    /// version, shard, expiry and schema checks still apply, and stay so after a signed root.
    pub fn unsigned() -> Self {
        Self {
            keys: Vec::new(),
            threshold: 0,
            last: None,
            shards: BTreeMap::new(),
            state: PathBuf::new(),
        }
    }

    /// The keys trusted to sign the next root.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// How many distinct trusted keys must sign the next root (0: unsigned allowed).
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The version of the last accepted root, if any.
    pub fn last_version(&self) -> Option<u64> {
        self.last.as_ref().map(|l| l.version)
    }

    /// The highest shard version of `package` seen, if any.
    pub fn shard_version(&self, package: &PackageName) -> Option<u64> {
        self.shards.get(package).copied()
    }

    /// Believe `root` from now on (call after [`verify_root`] accepted it): its keys and
    /// threshold become the trusted ones, its version and digest the last seen.
    pub fn accept(&mut self, root: &Root) -> Result<(), TrustError> {
        if self.threshold > 0 {
            self.keys = own_keys(root)?;
            self.threshold = root.threshold;
        }
        self.last = Some(AcceptedRoot {
            version: root.version,
            digest: root.content_digest(),
        });
        Ok(())
    }

    /// Remember `shard`'s version (call after [`check_shard`] accepted it).
    pub fn saw_shard(&mut self, shard: &Shard) {
        let seen = self.shards.entry(shard.name.clone()).or_default();
        *seen = (*seen).max(shard.version);
    }

    pub(crate) fn with_state(mut self, path: &Path) -> Self {
        path.clone_into(&mut self.state);
        self
    }

    pub(crate) fn to_file(&self) -> TrustedRootFile {
        TrustedRootFile {
            keys: root_keys(&self.keys),
            threshold: self.threshold,
            last: self.last.clone(),
            shards: self.shards.clone(),
        }
    }

    /// `None` when the file's keys do not parse or its threshold is out of range.
    pub(crate) fn from_file(file: TrustedRootFile, state: &Path) -> Option<Self> {
        let keys = file
            .keys
            .values()
            .map(|k| PublicKey::parse(k).ok())
            .collect::<Option<Vec<_>>>()?;
        let trusted = if file.threshold == 0 && keys.is_empty() {
            Self::unsigned()
        } else {
            Self::new(keys, file.threshold)?
        };
        let mut trusted = trusted.with_state(state);
        trusted.last = file.last;
        trusted.shards = file.shards;
        Some(trusted)
    }
}

/// Decide whether to believe `signed` at `now` given what the client `trusted` so far (see
/// the module doc for the rules). Returns the root; call [`TrustedRoot::accept`] once it
/// is used.
pub fn verify_root<'a>(
    signed: &'a SignedRoot,
    trusted: &TrustedRoot,
    now: SystemTime,
) -> Result<&'a Root, TrustError> {
    let root = &signed.signed;
    let bad = |reason: String| TrustError::BadRoot {
        source_name: root.source.clone(),
        version: root.version,
        reason,
    };
    if root.schema > ROOT_SCHEMA {
        return Err(TrustError::NewerSchema {
            found: u64::from(root.schema),
            supported: ROOT_SCHEMA,
        });
    }
    if root.schema < ROOT_SCHEMA {
        return Err(bad(format!("schema {} is not a root's", root.schema)));
    }
    if trusted.threshold > 0 {
        let own = own_keys(root)?;
        if root.threshold == 0 || root.threshold as usize > own.len() {
            return Err(bad(format!(
                "its threshold {} is not between 1 and its {} keys",
                root.threshold,
                own.len()
            )));
        }
        if signed.signatures.is_empty() {
            return Err(TrustError::Unsigned {
                source_name: root.source.clone(),
            });
        }
        let message = root.canonical_json();
        // Checked first: an attacker's root must fail on the keys the client trusts,
        // whatever keys it lists itself.
        count_signatures(
            signed,
            &message,
            &trusted.keys,
            trusted.threshold,
            "the trusted",
        )?;
        count_signatures(signed, &message, &own, root.threshold, "its own")?;
    }
    if let Some(last) = &trusted.last {
        if root.version < last.version {
            return Err(TrustError::Rollback {
                source_name: root.source.clone(),
                version: root.version,
                seen: last.version,
                state: trusted.state.clone(),
            });
        }
        if root.version == last.version && root.content_digest() != last.digest {
            return Err(TrustError::VersionReused {
                source_name: root.source.clone(),
                version: root.version,
                state: trusted.state.clone(),
            });
        }
    }
    for (package, &seen) in &trusted.shards {
        if let Some(listed) = root.shards.get(package)
            && listed.version < seen
        {
            return Err(TrustError::ShardRollback {
                source_name: root.source.clone(),
                package: package.to_string(),
                version: listed.version,
                seen,
                state: trusted.state.clone(),
            });
        }
    }
    let now = Timestamp::from_system_time(now);
    if root.expires < now {
        return Err(TrustError::Expired {
            source_name: root.source.clone(),
            expires: root.expires.clone(),
            now,
        });
    }
    Ok(root)
}

/// Decide whether `bytes` are the shard of `package` that the verified `root` lists: their
/// sha256 is its digest, they are canonical, of a known schema, name the package and the
/// version the root lists, and that version is not lower than one `trusted` saw. Returns
/// the shard; call [`TrustedRoot::saw_shard`] once it is used.
pub fn check_shard(
    root: &Root,
    trusted: &TrustedRoot,
    package: &PackageName,
    bytes: &[u8],
) -> Result<Shard, TrustError> {
    let bad = |reason: String| TrustError::BadShard {
        source_name: root.source.clone(),
        package: package.to_string(),
        reason,
    };
    let listed = root
        .shards
        .get(package)
        .ok_or_else(|| TrustError::ShardNotListed {
            source_name: root.source.clone(),
            package: package.to_string(),
            version: root.version,
        })?;
    let digest = Digest::sha256_of(bytes);
    if digest != listed.digest {
        return Err(bad(format!(
            "its digest is `{digest}`, the root (version {}) lists `{}`",
            root.version, listed.digest
        )));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("it is not JSON ({e})")))?;
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    if schema.is_some_and(|s| s > u64::from(SHARD_SCHEMA)) {
        return Err(TrustError::NewerSchema {
            found: schema.unwrap_or_default(),
            supported: SHARD_SCHEMA,
        });
    }
    let shard: Shard = serde_json::from_value(value)
        .map_err(|e| bad(format!("it is not a shard of schema {SHARD_SCHEMA} ({e})")))?;
    if shard.schema != SHARD_SCHEMA {
        return Err(bad(format!("schema {} is not a shard's", shard.schema)));
    }
    if shard.to_bytes() != bytes {
        return Err(bad(
            "it is not canonical JSON (or has fields this paks does not know)".into(),
        ));
    }
    if shard.name != *package {
        return Err(bad(format!("it is the shard of `{}`", shard.name)));
    }
    if shard.version != listed.version {
        return Err(bad(format!(
            "it is version {}, the root lists version {}",
            shard.version, listed.version
        )));
    }
    if let Some(seen) = trusted.shard_version(package)
        && shard.version < seen
    {
        return Err(TrustError::ShardRollback {
            source_name: root.source.clone(),
            package: package.to_string(),
            version: shard.version,
            seen,
            state: trusted.state.clone(),
        });
    }
    check_entry(&root.source, package, &shard.package)?;
    Ok(shard)
}

/// The root's own keys, each checked against its key id.
fn own_keys(root: &Root) -> Result<Vec<PublicKey>, TrustError> {
    root.keys
        .iter()
        .map(|(keyid, text)| {
            let bad = |reason: String| TrustError::BadRoot {
                source_name: root.source.clone(),
                version: root.version,
                reason,
            };
            let key = PublicKey::parse(text).map_err(|e| bad(format!("key `{keyid}`: {e}")))?;
            if key.keyid() != *keyid {
                return Err(bad(format!(
                    "key `{keyid}` is listed with another key (id `{}`)",
                    key.keyid()
                )));
            }
            Ok(key)
        })
        .collect()
}

/// At least `threshold` distinct `keys` signed `message` validly; signatures by other keys
/// are ignored, and several by one key count once.
fn count_signatures(
    signed: &SignedRoot,
    message: &[u8],
    keys: &[PublicKey],
    threshold: u32,
    whose: &'static str,
) -> Result<(), TrustError> {
    let mut valid = BTreeSet::new();
    let mut bad = None;
    for sig in &signed.signatures {
        let Some(key) = keys.iter().find(|k| k.keyid() == sig.keyid) else {
            continue;
        };
        match BASE64.decode(sig.sig.as_bytes()) {
            Ok(bytes) if key.verifies(message, &bytes) => {
                valid.insert(sig.keyid.as_str());
            }
            _ => bad = Some(sig.keyid.clone()),
        }
    }
    if valid.len() >= threshold as usize {
        return Ok(());
    }
    Err(TrustError::RootThreshold {
        source_name: signed.signed.source.clone(),
        version: signed.signed.version,
        whose,
        valid: valid.len(),
        threshold,
        bad: bad.filter(|k| !valid.contains(k.as_str())),
    })
}
