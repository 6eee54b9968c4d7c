//! Whether to believe an index: signatures by trusted keys, no rollback to an older
//! index, no expired index, no newer schema; and the state remembered between fetches.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use paks_types::{Digest, PackageName};
use serde::{Deserialize, Serialize};

use crate::keys::{PublicKey, verify};
use crate::root_trust::{TrustedRoot, TrustedRootFile};
use crate::schema::{Index, PackageEntry, SCHEMA, SignedIndex};
use crate::time::Timestamp;

/// A refused index, or a digest an index does not list. Each message says what was
/// refused; [`TrustError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("the index of `{source_name}` is not signed")]
    Unsigned { source_name: String },
    #[error("the index of `{source_name}` is signed only by unknown keys ({})", keyids.join(", "))]
    UnknownKey {
        keyids: Vec<String>,
        source_name: String,
    },
    #[error("the index of `{source_name}` has a bad signature by trusted key `{keyid}`")]
    BadSignature { keyid: String, source_name: String },
    #[error(
        "the index of `{source_name}` is version {version}, older than version {seen} seen before (a rollback)"
    )]
    Rollback {
        source_name: String,
        version: u64,
        seen: u64,
        state: PathBuf,
    },
    #[error(
        "the index of `{source_name}` is version {version} again, but its content differs from the version {version} seen before"
    )]
    VersionReused {
        source_name: String,
        version: u64,
        state: PathBuf,
    },
    #[error("the index of `{source_name}` expired at {expires} (now {now})")]
    Expired {
        source_name: String,
        expires: Timestamp,
        now: Timestamp,
    },
    /// A package entry whose text breaks the metadata rules (`paks_types::rules`): the
    /// index is signed, but what it says is printed and must still be plain text.
    #[error(
        "the index of `{source_name}` lists `{package}` with an invalid {field} `{value}`: {reason}"
    )]
    BadEntry {
        source_name: String,
        package: String,
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("the index uses schema {found}; this paks reads schema {supported} and older")]
    NewerSchema { found: u64, supported: u32 },
    #[error(
        "`{digest}` is not listed in the index of `{source_name}` (version {version}); refusing to install it"
    )]
    NotListed {
        digest: Digest,
        source_name: String,
        version: u64,
    },
    /// A sharded index's root without valid signatures by `threshold` distinct keys of
    /// `whose` set: the keys the client trusts, or the root's own.
    #[error(
        "the root of `{source_name}` (version {version}) is signed by {valid} of {whose} keys; {threshold} are needed{}",
        bad.as_ref().map(|k| format!(" (the signature by key `{k}` is bad)")).unwrap_or_default()
    )]
    RootThreshold {
        source_name: String,
        version: u64,
        /// `"the trusted"` or `"its own"`.
        whose: &'static str,
        valid: usize,
        threshold: u32,
        bad: Option<String>,
    },
    /// A signed root that cannot be used: an unknown schema, unreadable keys, a key id
    /// that is not its key's, a threshold of 0 or above its number of keys.
    #[error("the root of `{source_name}` (version {version}) is invalid: {reason}")]
    BadRoot {
        source_name: String,
        version: u64,
        reason: String,
    },
    /// A root or a shard that lists an older shard version of `package` than one seen.
    #[error(
        "the index of `{source_name}` has version {version} of the shard of `{package}`, older than version {seen} seen before (a rollback)"
    )]
    ShardRollback {
        source_name: String,
        package: String,
        version: u64,
        seen: u64,
        state: PathBuf,
    },
    #[error("the root of `{source_name}` (version {version}) lists no shard `{package}`")]
    ShardNotListed {
        source_name: String,
        package: String,
        version: u64,
    },
    /// Shard bytes that are not the shard the verified root lists.
    #[error("the shard of `{package}` from `{source_name}` is refused: {reason}")]
    BadShard {
        source_name: String,
        package: String,
        reason: String,
    },
    #[error("failed to {action} the trust state `{}`", path.display())]
    State {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the trust state `{}` is corrupt", path.display())]
    CorruptState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl TrustError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::Unsigned { .. } => "ask the publisher to sign the index (`paks key generate`, then build the index with the key); to use this repository without signatures, allow unsigned indexes for it explicitly".into(),
            Self::UnknownKey { .. } => "if you trust the publisher, get its public key (`paks-ed25519 …`) over a channel you trust and add it to this repository's trusted keys; check that its key id is one of those listed".into(),
            Self::BadSignature { .. } => "the index was altered after it was signed, or the signature is corrupt: do not use this repository until the publisher re-signs the index".into(),
            Self::Rollback { state, .. } | Self::ShardRollback { state, .. } => format!(
                "someone is serving an outdated index (a stale mirror, or an attack): use an up-to-date mirror; only if the publisher really reset its index, remove `{}`",
                state.display()
            ),
            Self::VersionReused { state, .. } => format!(
                "the publisher must give every changed index a new version; if it really reset its index, remove `{}`",
                state.display()
            ),
            Self::Expired { .. } => "the publisher must rebuild and re-sign the index (a mirror must sync it again); an expired index may hide newer, fixed packages".into(),
            Self::NewerSchema { .. } => "upgrade paks to read this index".into(),
            Self::BadEntry { .. } => "`paks index build` never writes such an entry: the publisher must rebuild the index from valid packages".into(),
            Self::NotListed { .. } => "update the index and try again; if it is still not listed, the package was withdrawn or never published there".into(),
            Self::RootThreshold { whose: "its own", .. } => "a root must be signed by enough of the keys it lists, so that they can sign the next one: the publisher must sign it with more of its new keys (`paks index build --key …` once per key)".into(),
            Self::RootThreshold { .. } => "the root must be signed by enough keys you trust; after a key rotation the new root must still be signed by enough of the old keys (never trust new keys on the root's word alone); if the publisher really replaced its keys, add the repository again with its new keys (`paks repo add NAME URL --key … --threshold N`)".into(),
            Self::BadRoot { .. } => "the publisher must rebuild the index with valid keys and a threshold between 1 and the number of keys".into(),
            Self::ShardNotListed { .. } => "update the index and try again; if the package is still not listed, it was withdrawn or never published there".into(),
            Self::BadShard { .. } => "the shard is not the one the signed root lists (a stale mirror, a shard of another root, or an attack): update again; if it persists, do not use this mirror".into(),
            Self::State { .. } => "check the permissions of the state directory".into(),
            Self::CorruptState { path, .. } => format!(
                "remove `{}`; the next index fetched is then trusted as if seen for the first time",
                path.display()
            ),
        }
    }
}

/// What to trust for one repository.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Keys whose signature makes an index trusted (one is enough).
    pub keys: Vec<PublicKey>,
    /// Accept an index that has no signature, or only signatures by keys not in `keys`.
    /// A bad signature by a trusted key is refused all the same, and rollback, expiry and
    /// schema checks still apply.
    pub allow_unsigned: bool,
}

/// What was last accepted from one repository, kept in a small JSON file.
#[derive(Debug, Clone)]
pub struct TrustState {
    path: PathBuf,
    repository: String,
    seen: Option<Seen>,
    /// For a sharded index (schema 2).
    root: Option<TrustedRoot>,
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StateFile {
    repository: String,
    /// The last schema-1 index (absent when only sharded roots were seen).
    #[serde(flatten)]
    seen: Option<Seen>,
    /// What a sharded index's roots established: keys, threshold, last root, shard versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    root: Option<TrustedRootFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    /// The last accepted index's version.
    version: u64,
    /// Its [`Index::content_digest`].
    digest: Digest,
    expires: Timestamp,
}

impl TrustState {
    /// The state of `repository` (`oci://…`, `https://…`: whatever the caller names its
    /// repositories by) in `dir`; empty when nothing was recorded yet.
    pub fn load(dir: &Path, repository: &str) -> Result<Self, TrustError> {
        let path = dir.join(state_file_name(repository));
        let corrupt = |source| TrustError::CorruptState {
            path: path.clone(),
            source,
        };
        let (seen, root) = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: StateFile = serde_json::from_slice(&bytes).map_err(corrupt)?;
                let root = match file.root {
                    Some(root) => Some(TrustedRoot::from_file(root, &path).ok_or_else(|| {
                        corrupt(serde::de::Error::custom(
                            "its root keys do not parse or its threshold is out of range",
                        ))
                    })?),
                    None => None,
                };
                (file.seen, root)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
            Err(source) => {
                return Err(TrustError::State {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        Ok(Self {
            path,
            repository: repository.to_owned(),
            seen,
            root,
        })
    }

    /// The version of the last accepted index, if any.
    pub fn last_version(&self) -> Option<u64> {
        self.seen.as_ref().map(|s| s.version)
    }

    /// The file this state lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remember `index` as the last accepted one (call after [`check`] accepted it);
    /// written atomically. An older index than the one remembered is refused.
    pub fn record(&mut self, index: &Index) -> Result<(), TrustError> {
        let digest = index.content_digest();
        if let Some(seen) = &self.seen {
            if index.version < seen.version {
                return Err(self.rollback(index));
            }
            if index.version == seen.version && digest == seen.digest {
                return Ok(());
            }
        }
        self.seen = Some(Seen {
            version: index.version,
            digest,
            expires: index.expires.clone(),
        });
        self.save()
    }

    /// What to trust for this repository's sharded index: what its roots established, or
    /// before the first root, `initial` (the configured keys and threshold).
    pub fn trusted_root(&self, initial: TrustedRoot) -> TrustedRoot {
        self.root
            .clone()
            .unwrap_or_else(|| initial.with_state(&self.path))
    }

    /// Remember `trusted` (after [`TrustedRoot::accept`] and [`TrustedRoot::saw_shard`]);
    /// written atomically.
    pub fn record_root(&mut self, trusted: &TrustedRoot) -> Result<(), TrustError> {
        self.root = Some(trusted.clone().with_state(&self.path));
        self.save()
    }

    fn save(&self) -> Result<(), TrustError> {
        let file = StateFile {
            repository: self.repository.clone(),
            seen: self.seen.clone(),
            root: self.root.as_ref().map(TrustedRoot::to_file),
        };
        let io = |action| {
            let path = self.path.clone();
            move |source| TrustError::State {
                action,
                path,
                source,
            }
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
        }
        let mut bytes = serde_json::to_vec_pretty(&file).expect("state serialises");
        bytes.push(b'\n');
        paks_types::fs::write_atomic(&self.path, &bytes).map_err(io("write"))
    }

    fn rollback(&self, index: &Index) -> TrustError {
        TrustError::Rollback {
            source_name: self.repository.clone(),
            version: index.version,
            seen: self.last_version().unwrap_or_default(),
            state: self.path.clone(),
        }
    }
}

/// `<repository with unsafe characters as _>-<12 hex of its sha256>.json`: readable, and
/// distinct for distinct repositories.
fn state_file_name(repository: &str) -> String {
    let safe: String = repository
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let hash = Digest::sha256_of(repository.as_bytes());
    format!("{safe}-{}.json", &hash.hex()[..12])
}

/// Decide whether to believe `signed`, fetched from the repository `state` belongs to,
/// at `now`: its schema is one this build reads; a trusted key signed it (unless the
/// policy allows unsigned indexes); it is not older than the last one accepted, nor the
/// same version with other content; it has not expired. Returns the index; call
/// [`TrustState::record`] once it is used.
pub fn check<'a>(
    signed: &'a SignedIndex,
    policy: &TrustPolicy,
    state: &TrustState,
    now: SystemTime,
) -> Result<&'a Index, TrustError> {
    let index = &signed.signed;
    if index.schema > SCHEMA {
        return Err(TrustError::NewerSchema {
            found: u64::from(index.schema),
            supported: SCHEMA,
        });
    }
    match verify(signed, &policy.keys) {
        Ok(_) => {}
        Err(TrustError::Unsigned { .. } | TrustError::UnknownKey { .. })
            if policy.allow_unsigned => {}
        Err(e) => return Err(e),
    }
    if let Some(seen) = &state.seen {
        if index.version < seen.version {
            return Err(state.rollback(index));
        }
        if index.version == seen.version && index.content_digest() != seen.digest {
            return Err(TrustError::VersionReused {
                source_name: state.repository.clone(),
                version: index.version,
                state: state.path.clone(),
            });
        }
    }
    let now = Timestamp::from_system_time(now);
    if index.expires < now {
        return Err(TrustError::Expired {
            source_name: index.source.clone(),
            expires: index.expires.clone(),
            now,
        });
    }
    check_entries(index)?;
    Ok(index)
}

/// The rules package configs follow, applied to what an index says about each package
/// (also to the packages of a sharded index's shards, which [`check`] never sees).
pub fn check_entries(index: &Index) -> Result<(), TrustError> {
    for (name, entry) in &index.packages {
        check_entry(&index.source, name, entry)?;
    }
    Ok(())
}

/// The rules package configs follow, applied to what an index (or a shard) of `source`
/// says about the package `name`.
pub(crate) fn check_entry(
    source: &str,
    name: &PackageName,
    entry: &PackageEntry,
) -> Result<(), TrustError> {
    for (field, value) in [
        ("summary", &entry.summary),
        ("license", &entry.license),
        ("homepage", &entry.homepage),
    ] {
        let Some(value) = value else { continue };
        let reason = paks_types::rules::text_problem(value).or_else(|| {
            (field == "homepage" && !paks_types::rules::is_url(value, &["http", "https"]))
                .then_some("not an http or https URL")
        });
        if let Some(reason) = reason {
            return Err(TrustError::BadEntry {
                source_name: source.to_owned(),
                package: name.to_string(),
                field,
                value: paks_types::rules::escape_controls(value).into_owned(),
                reason,
            });
        }
    }
    let shown = entry.versions.values().flat_map(|v| &v.builds);
    for value in shown.filter_map(|b| b.distribution_version.as_ref()) {
        if let Some(reason) = paks_types::rules::text_problem(value) {
            return Err(TrustError::BadEntry {
                source_name: source.to_owned(),
                package: name.to_string(),
                field: "distribution_version",
                value: paks_types::rules::escape_controls(value).into_owned(),
                reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::keys::{SigningKey, generate_key, sign};
    use crate::schema::tests::sample_index;

    struct Fixture {
        _dir: tempfile::TempDir,
        dir: PathBuf,
        key: SigningKey,
        policy: TrustPolicy,
    }

    /// 1 000 s after the sample index was generated, well before it expires.
    fn now() -> SystemTime {
        at(1_700_001_000)
    }

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap();
        let policy = TrustPolicy {
            keys: vec![key.public_key().clone()],
            allow_unsigned: false,
        };
        Fixture {
            dir: dir.path().join("trust"),
            _dir: dir,
            key,
            policy,
        }
    }

    #[test]
    fn entries_with_control_characters_are_refused() {
        let f = fixture();
        let state = TrustState::load(&f.dir, "oci://r/acme").unwrap();
        let mut index = sample_index(1);
        let entry = index.packages.values_mut().next().unwrap();
        entry.summary = Some("clear\u{1b}[2J".into());
        let err = check(&sign(&index, &f.key), &f.policy, &state, now()).unwrap_err();
        assert!(
            matches!(
                err,
                TrustError::BadEntry {
                    field: "summary",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(r"`clear\u{1b}[2J`"), "{err}");
    }

    #[test]
    fn accepts_and_records_then_refuses_rollback() {
        let f = fixture();
        let mut state = TrustState::load(&f.dir, "oci://r/acme").unwrap();
        assert_eq!(state.last_version(), None);
        let v2 = sign(&sample_index(2), &f.key);
        let accepted = check(&v2, &f.policy, &state, now()).unwrap();
        assert_eq!(accepted.version, 2);
        state.record(accepted).unwrap();

        // Persisted: a fresh load remembers version 2.
        let state = TrustState::load(&f.dir, "oci://r/acme").unwrap();
        assert_eq!(state.last_version(), Some(2));
        let text = std::fs::read_to_string(state.path()).unwrap();
        assert!(text.contains(r#""repository": "oci://r/acme""#), "{text}");

        // The same index again is fine; an older one is a rollback.
        check(&v2, &f.policy, &state, now()).unwrap();
        let v1 = sign(&sample_index(1), &f.key);
        let err = check(&v1, &f.policy, &state, now()).unwrap_err();
        assert!(
            matches!(
                err,
                TrustError::Rollback {
                    version: 1,
                    seen: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.hint().contains(&state.path().display().to_string()),
            "{}",
            err.hint()
        );
        let mut state2 = state.clone();
        assert!(matches!(
            state2.record(&v1.signed),
            Err(TrustError::Rollback { .. })
        ));

        // Same version, other content.
        let mut changed = sample_index(2);
        changed.source = "oci://r/other".into();
        let err = check(&sign(&changed, &f.key), &f.policy, &state, now()).unwrap_err();
        assert!(
            matches!(err, TrustError::VersionReused { version: 2, .. }),
            "{err}"
        );

        // A newer one is accepted. Other repositories have their own state.
        check(&sign(&sample_index(3), &f.key), &f.policy, &state, now()).unwrap();
        let other = TrustState::load(&f.dir, "oci://r/other").unwrap();
        assert_eq!(other.last_version(), None);
        assert_ne!(other.path(), state.path());
    }

    #[test]
    fn refuses_bad_unknown_and_missing_signatures() {
        let f = fixture();
        let state = TrustState::load(&f.dir, "x").unwrap();
        let index = sample_index(1);

        let unsigned = SignedIndex::unsigned(index.clone());
        let err = check(&unsigned, &f.policy, &state, now()).unwrap_err();
        assert!(matches!(err, TrustError::Unsigned { .. }), "{err}");
        assert!(err.hint().contains("sign"), "{}", err.hint());

        let stranger = SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap();
        let by_stranger = sign(&index, &stranger);
        let err = check(&by_stranger, &f.policy, &state, now()).unwrap_err();
        assert!(matches!(err, TrustError::UnknownKey { .. }), "{err}");

        let mut tampered = sign(&index, &f.key);
        tampered.signed.version = 99;
        let err = check(&tampered, &f.policy, &state, now()).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");

        // Allowing unsigned indexes admits the first two, never the tampered one.
        let lax = TrustPolicy {
            keys: f.policy.keys.clone(),
            allow_unsigned: true,
        };
        check(&unsigned, &lax, &state, now()).unwrap();
        check(&by_stranger, &lax, &state, now()).unwrap();
        let err = check(&tampered, &lax, &state, now()).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn refuses_expired_and_newer_schema() {
        let f = fixture();
        let state = TrustState::load(&f.dir, "x").unwrap();
        let signed = sign(&sample_index(1), &f.key);
        let later = at(1_700_000_000 + 31 * 86_400);
        let err = check(&signed, &f.policy, &state, later).unwrap_err();
        assert!(matches!(err, TrustError::Expired { .. }), "{err}");
        assert!(err.to_string().contains("2023-12-14T22:13:20Z"), "{err}");

        let mut newer = sample_index(1);
        newer.schema = SCHEMA + 1;
        let err = check(&sign(&newer, &f.key), &f.policy, &state, now()).unwrap_err();
        assert!(matches!(err, TrustError::NewerSchema { .. }), "{err}");
    }

    #[test]
    fn corrupt_state_is_reported_with_its_path() {
        let f = fixture();
        let state = TrustState::load(&f.dir, "x").unwrap();
        std::fs::create_dir_all(&f.dir).unwrap();
        std::fs::write(state.path(), b"{not json").unwrap();
        let err = TrustState::load(&f.dir, "x").unwrap_err();
        assert!(matches!(err, TrustError::CorruptState { .. }), "{err}");
        assert!(err.hint().contains(&state.path().display().to_string()));
    }

    #[test]
    fn root_trust_is_kept_beside_the_schema_1_state() {
        let f = fixture();
        let mut state = TrustState::load(&f.dir, "x").unwrap();
        let keys = f.policy.keys.clone();
        let configured = TrustedRoot::new(keys.clone(), 1).unwrap();
        let mut trusted = state.trusted_root(configured.clone());
        assert_eq!(trusted.last_version(), None);

        // Only a root seen: the file has no schema-1 part, and loads back.
        let other = SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap();
        let root = crate::sharded::Root {
            schema: crate::sharded::ROOT_SCHEMA,
            version: 7,
            expires: Timestamp::from_unix(1_700_000_000 + 30 * 86_400),
            generated: Timestamp::from_unix(1_700_000_000),
            source: "x".into(),
            keys: crate::root_trust::root_keys([other.public_key()]),
            threshold: 1,
            shards: std::collections::BTreeMap::new(),
        };
        trusted.accept(&root).unwrap();
        state.record_root(&trusted).unwrap();
        let text = std::fs::read_to_string(state.path()).unwrap();
        assert!(!text.contains("\"expires\""), "{text}");
        let state = TrustState::load(&f.dir, "x").unwrap();
        assert_eq!(state.last_version(), None);
        // What the root established wins over the configured keys.
        let back = state.trusted_root(configured.clone());
        assert_eq!(back.last_version(), Some(7));
        assert_eq!(back.keys(), std::slice::from_ref(other.public_key()));

        // Recording a schema-1 index keeps the root part, and the other way round.
        let mut state = state;
        state.record(&sample_index(3)).unwrap();
        let state = TrustState::load(&f.dir, "x").unwrap();
        assert_eq!(state.last_version(), Some(3));
        assert_eq!(state.trusted_root(configured).last_version(), Some(7));

        // A state file whose root keys are garbage is corrupt, not silently reset.
        let text = std::fs::read_to_string(state.path()).unwrap();
        let garbled = text.replace(&other.public_key().to_string(), "paks-ed25519 AAAA");
        std::fs::write(state.path(), garbled).unwrap();
        let err = TrustState::load(&f.dir, "x").unwrap_err();
        assert!(matches!(err, TrustError::CorruptState { .. }), "{err}");
    }

    #[test]
    fn state_file_names_are_safe_and_distinct() {
        let a = state_file_name("oci://127.0.0.1:5000/acme");
        assert!(a.starts_with("oci___127.0.0.1_5000_acme-"), "{a}");
        assert_ne!(a, state_file_name("oci://127.0.0.1:5000_acme"));
        assert!(!state_file_name("file:///../../etc").contains('/'));
    }
}
