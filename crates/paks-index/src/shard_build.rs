//! Sharding an index (`docs/index-format.md`, "Schema 2: sharded"): a pure function from a
//! schema-1 [`Index`] and the previous [`Root`] to the next root and the shards that are new.
//!
//! A package keeps its shard while its entry does not change: its shard is rebuilt with the
//! version the previous root lists for it, and if that has the digest the previous root
//! lists, nothing changed. So an incremental rebuild needs the previous root only, never
//! the previous shards, and publishes one shard per changed package.

use std::collections::BTreeMap;

use crate::keys::SigningKey;
use crate::schema::Index;
use crate::sharded::{ROOT_SCHEMA, Root, SHARD_SCHEMA, Shard, ShardRef};

/// A sharded index: the next root, and the shards it lists that the previous root did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharded {
    pub root: Root,
    /// The new shards, by package name; every other shard the root lists is the previous
    /// root's.
    pub new_shards: Vec<Shard>,
}

/// Who may sign roots of a repository: key id → public key text, and how many must sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKeys {
    pub keys: BTreeMap<String, String>,
    pub threshold: u32,
}

impl RootKeys {
    /// The public halves of `signers`, any one of which suffices (threshold 1). No signers:
    /// no keys (an unsigned repository), threshold 1.
    pub fn of(signers: &[SigningKey]) -> Self {
        Self {
            keys: crate::root_keys(signers.iter().map(SigningKey::public_key)),
            threshold: 1,
        }
    }
}

/// Shard `index` over `previous` (the root published last, if any). The root's version is
/// the previous one's plus one (at least the index's own version; without a previous
/// root, the index's version); its expiry, generation time and source are the index's.
/// A package whose entry is unchanged keeps its [`ShardRef`]; a new or changed one gets a
/// shard of the new version; a package not in `index` leaves the root.
pub fn shard_index(index: &Index, previous: Option<&Root>, keys: RootKeys) -> Sharded {
    let version = previous.map_or(index.version, |p| (p.version + 1).max(index.version));
    let mut shards = BTreeMap::new();
    let mut new_shards = Vec::new();
    for (name, package) in &index.packages {
        let old = previous.and_then(|p| p.shards.get(name));
        if let Some(old) = old {
            let same = Shard {
                schema: SHARD_SCHEMA,
                name: name.clone(),
                version: old.version,
                package: package.clone(),
            };
            if same.digest() == old.digest {
                shards.insert(name.clone(), old.clone());
                continue;
            }
        }
        let shard = Shard {
            schema: SHARD_SCHEMA,
            name: name.clone(),
            version,
            package: package.clone(),
        };
        let bytes = shard.to_bytes();
        shards.insert(
            name.clone(),
            ShardRef {
                digest: paks_types::Digest::sha256_of(&bytes),
                size: bytes.len() as u64,
                version,
            },
        );
        new_shards.push(shard);
    }
    Sharded {
        root: Root {
            schema: ROOT_SCHEMA,
            version,
            expires: index.expires.clone(),
            generated: index.generated.clone(),
            source: index.source.clone(),
            keys: keys.keys,
            threshold: keys.threshold,
            shards,
        },
        new_shards,
    }
}

/// The schema-1 index a root and its shards describe (what a rebuild starts from, and what
/// an export writes files for). `shards` must be the root's, checked by digest.
pub fn unshard(root: &Root, shards: impl IntoIterator<Item = Shard>) -> Index {
    crate::shard_fetch::index_view(
        root,
        shards.into_iter().map(|s| (s.name, s.package)).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::sample_index;
    use crate::{SignedIndex, SignedRoot, TrustError, sign_root};
    use paks_types::PackageName;

    /// An index of `n` packages, each a renamed copy of the sample's one package.
    fn synthetic(n: usize) -> Index {
        let mut index = sample_index(7);
        let (_, entry) = index.packages.pop_first().unwrap();
        for i in 0..n {
            let mut e = entry.clone();
            e.repository = format!("pkg{i:05}");
            index
                .packages
                .insert(PackageName::new(&e.repository).unwrap(), e);
        }
        index
    }

    fn no_keys() -> RootKeys {
        RootKeys::of(&[])
    }

    #[test]
    fn one_changed_package_among_ten_thousand_is_one_new_shard() {
        let mut index = synthetic(10_000);
        let first = shard_index(&index, None, no_keys());
        assert_eq!(first.root.version, 7);
        assert_eq!(first.new_shards.len(), 10_000);
        for shard in &first.new_shards {
            let r = &first.root.shards[&shard.name];
            assert_eq!(r.digest, paks_types::Digest::sha256_of(&shard.to_bytes()));
            assert_eq!(r.size, shard.to_bytes().len() as u64);
            assert_eq!(r.version, 7);
            let back = Shard::from_slice(&shard.to_bytes(), "shard").unwrap();
            assert_eq!(&back, shard);
        }

        let changed = PackageName::new("pkg04242").unwrap();
        index.packages.get_mut(&changed).unwrap().summary = Some("changed".into());
        let removed = PackageName::new("pkg00001").unwrap();
        index.packages.remove(&removed);
        let second = shard_index(&index, Some(&first.root), no_keys());
        assert_eq!(second.root.version, 8);
        assert_eq!(second.new_shards.len(), 1);
        let new = &second.new_shards[0];
        assert_eq!(new.name, changed);
        assert_eq!(new.version, 8);
        assert_eq!(second.root.shards[&changed].digest, new.digest());
        assert!(!second.root.shards.contains_key(&removed));
        assert_eq!(second.root.shards.len(), 9_999);
        for (name, r) in &second.root.shards {
            if *name != changed {
                assert_eq!(r, &first.root.shards[name], "{name}");
            }
        }
        // Nothing changed: no new shard, and every ref stays.
        let third = shard_index(&index, Some(&second.root), no_keys());
        assert!(third.new_shards.is_empty());
        assert_eq!(third.root.shards, second.root.shards);
        assert_eq!(third.root.version, 9);

        // Back to a full index from the root and its shards.
        let all: Vec<Shard> = first.new_shards.clone();
        let back = unshard(&first.root, all);
        assert_eq!(back.packages, synthetic(10_000).packages);
    }

    #[test]
    fn roots_round_trip_and_schema_one_readers_refuse_them_by_name() {
        let key = SigningKey::from_pem(&crate::generate_key().unwrap().private_pem).unwrap();
        let sharded = shard_index(
            &synthetic(3),
            None,
            RootKeys::of(std::slice::from_ref(&key)),
        );
        assert_eq!(sharded.root.keys.len(), 1);
        let signed = sign_root(sharded.root, [&key]);
        assert_eq!(signed.signatures.len(), 1);
        let bytes = signed.to_bytes();
        assert_eq!(SignedRoot::from_slice(&bytes, "root").unwrap(), signed);

        let err = SignedIndex::from_slice(&bytes, "root").unwrap_err();
        let trust = err.trust().expect("a trust error");
        assert!(
            matches!(trust, TrustError::NewerSchema { found: 2, .. }),
            "{trust}"
        );
        assert_eq!(trust.hint(), "upgrade paks to read this index");

        let newer =
            String::from_utf8(bytes.clone())
                .unwrap()
                .replacen("\"schema\":2", "\"schema\":3", 1);
        let err = SignedRoot::from_slice(newer.as_bytes(), "root").unwrap_err();
        assert!(
            matches!(err.trust(), Some(TrustError::NewerSchema { found: 3, .. })),
            "{err}"
        );
        let extra = String::from_utf8(bytes).unwrap().replacen(
            "\"schema\":2",
            "\"schema\":2,\"extra\":1",
            1,
        );
        let err = SignedRoot::from_slice(extra.as_bytes(), "root").unwrap_err();
        assert!(
            matches!(err.kind(), crate::IndexErrorKind::NotCanonical { .. }),
            "{err}"
        );
    }

    #[test]
    fn shards_must_be_canonical_and_of_a_known_schema() {
        let sharded = shard_index(&synthetic(1), None, no_keys());
        let shard = &sharded.new_shards[0];
        let pretty = serde_json::to_vec_pretty(shard).unwrap();
        let err = Shard::from_slice(&pretty, "shard").unwrap_err();
        assert!(
            matches!(err.kind(), crate::IndexErrorKind::NotCanonical { .. }),
            "{err}"
        );
        let newer = String::from_utf8(shard.to_bytes()).unwrap().replacen(
            "\"schema\":1",
            "\"schema\":2",
            1,
        );
        let err = Shard::from_slice(newer.as_bytes(), "shard").unwrap_err();
        assert!(
            matches!(err.trust(), Some(TrustError::NewerSchema { found: 2, .. })),
            "{err}"
        );
    }
}
