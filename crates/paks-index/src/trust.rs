//! Whether to believe an index: signatures by trusted keys, no rollback to an older
//! index, no expired index, no newer schema; and the state remembered between fetches.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use paks_types::Digest;
use serde::{Deserialize, Serialize};

use crate::keys::{PublicKey, verify};
use crate::schema::{Index, SCHEMA, SignedIndex};
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
            Self::Rollback { state, .. } => format!(
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
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StateFile {
    repository: String,
    #[serde(flatten)]
    seen: Seen,
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
        let seen = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: StateFile =
                    serde_json::from_slice(&bytes).map_err(|source| TrustError::CorruptState {
                        path: path.clone(),
                        source,
                    })?;
                Some(file.seen)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
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
        let seen = Seen {
            version: index.version,
            digest,
            expires: index.expires.clone(),
        };
        let file = StateFile {
            repository: self.repository.clone(),
            seen: seen.clone(),
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
        paks_types::fs::write_atomic(&self.path, &bytes).map_err(io("write"))?;
        self.seen = Some(seen);
        Ok(())
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
                    source_name: index.source.clone(),
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
                    source_name: index.source.clone(),
                    package: name.to_string(),
                    field: "distribution_version",
                    value: paks_types::rules::escape_controls(value).into_owned(),
                    reason,
                });
            }
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
    fn state_file_names_are_safe_and_distinct() {
        let a = state_file_name("oci://127.0.0.1:5000/acme");
        assert!(a.starts_with("oci___127.0.0.1_5000_acme-"), "{a}");
        assert_ne!(a, state_file_name("oci://127.0.0.1:5000_acme"));
        assert!(!state_file_name("file:///../../etc").contains('/'));
    }
}
