//! Attacks on a sharded index (schema 2), with real ed25519 keys: what a mirror or a
//! man in the middle can serve instead of the publisher's root and shards, and how the
//! client's checks (`verify_root`, `check_shard`) refuse each.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paks_index::{
    PackageEntry, PublicKey, ROOT_SCHEMA, Root, SHARD_SCHEMA, Shard, ShardRef, SignedRoot,
    SigningKey, Timestamp, TrustError, TrustState, TrustedRoot, check_shard, generate_key,
    root_keys, sign_root, verify_root,
};
use paks_types::PackageName;

fn key() -> SigningKey {
    SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap()
}

/// 1 000 s after every root here was generated, well before it expires.
fn now() -> SystemTime {
    at(1_700_001_000)
}

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn name(text: &str) -> PackageName {
    PackageName::new(text).unwrap()
}

/// A shard of `package` at `version`, its summary telling versions apart.
fn shard(package: &str, version: u64) -> Shard {
    Shard {
        schema: SHARD_SCHEMA,
        name: name(package),
        version,
        package: PackageEntry {
            repository: package.into(),
            summary: Some(format!("{package} as of root {version}")),
            license: None,
            homepage: None,
            versions: BTreeMap::new(),
        },
    }
}

/// Root `version` of `source` listing `shards`, with `keys` and `threshold`.
fn root(
    source: &str,
    version: u64,
    shards: &[&Shard],
    keys: &[&SigningKey],
    threshold: u32,
) -> Root {
    Root {
        schema: ROOT_SCHEMA,
        version,
        expires: Timestamp::from_unix(1_700_000_000 + 30 * 86_400),
        generated: Timestamp::from_unix(1_700_000_000),
        source: source.into(),
        keys: root_keys(keys.iter().map(|k| k.public_key())),
        threshold,
        shards: shards
            .iter()
            .map(|s| {
                let bytes = s.to_bytes();
                let entry = ShardRef {
                    digest: s.digest(),
                    size: bytes.len() as u64,
                    version: s.version,
                };
                (s.name.clone(), entry)
            })
            .collect(),
    }
}

const ACME: &str = "oci://127.0.0.1:5000/acme";

fn trusting(keys: &[&SigningKey], threshold: u32) -> TrustedRoot {
    let keys = keys.iter().map(|k| k.public_key().clone()).collect();
    TrustedRoot::new(keys, threshold).unwrap()
}

/// Verify and accept `signed` as a client does.
fn accept(trusted: &mut TrustedRoot, signed: &SignedRoot) {
    let root = verify_root(signed, trusted, now()).unwrap();
    trusted.accept(root).unwrap();
}

/// The refusal of `signed` for too few signatures: whose keys (`"the trusted"` or
/// `"its own"`) and how many of them signed validly.
fn too_few(signed: &SignedRoot, trusted: &TrustedRoot) -> (&'static str, usize) {
    match verify_root(signed, trusted, now()) {
        Err(TrustError::RootThreshold { whose, valid, .. }) => (whose, valid),
        other => panic!("expected too few signatures, got {other:?}"),
    }
}

#[test]
fn root_rollback_and_version_reuse_are_refused() {
    let a = key();
    let hello1 = shard("hello", 1);
    let hello2 = shard("hello", 2);
    let v1 = sign_root(root(ACME, 1, &[&hello1], &[&a], 1), [&a]);
    let v2 = sign_root(root(ACME, 2, &[&hello2], &[&a], 1), [&a]);
    let mut trusted = trusting(&[&a], 1);
    accept(&mut trusted, &v1);
    accept(&mut trusted, &v2);
    assert_eq!(trusted.last_version(), Some(2));

    // The same root again is fine (a client updating twice).
    verify_root(&v2, &trusted, now()).unwrap();
    let err = verify_root(&v1, &trusted, now()).unwrap_err();
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
    // Version 2 again with other content, validly signed: a freeze or mix-and-match.
    let other = sign_root(root(ACME, 2, &[&hello1], &[&a], 1), [&a]);
    let err = verify_root(&other, &trusted, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::VersionReused { version: 2, .. }),
        "{err}"
    );
}

#[test]
fn shard_rollback_is_refused() {
    let a = key();
    let (hello1, hello3) = (shard("hello", 1), shard("hello", 3));
    let v3 = root(ACME, 3, &[&hello3], &[&a], 1);
    let mut trusted = trusting(&[&a], 1);
    accept(&mut trusted, &sign_root(v3.clone(), [&a]));
    let fetched = check_shard(&v3, &trusted, &name("hello"), &hello3.to_bytes()).unwrap();
    assert_eq!(fetched, hello3);
    trusted.saw_shard(&fetched);
    assert_eq!(trusted.shard_version(&name("hello")), Some(3));

    // The old shard's bytes served for `hello`: not the digest the root lists.
    let err = check_shard(&v3, &trusted, &name("hello"), &hello1.to_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::BadShard { .. }), "{err}");
    assert!(
        err.to_string().contains(&hello1.digest().to_string()),
        "{err}"
    );

    // A newer, validly signed root that lists the old shard for `hello`.
    let v4 = sign_root(root(ACME, 4, &[&hello1], &[&a], 1), [&a]);
    let err = verify_root(&v4, &trusted, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::ShardRollback {
                version: 1,
                seen: 3,
                ..
            }
        ),
        "{err}"
    );
    // Through the trust state: the shard version seen survives a reload.
    let dir = tempfile::tempdir().unwrap();
    let mut state = TrustState::load(dir.path(), ACME).unwrap();
    state.record_root(&trusted).unwrap();
    let reloaded = TrustState::load(dir.path(), ACME)
        .unwrap()
        .trusted_root(trusting(&[&a], 1));
    assert_eq!(reloaded.shard_version(&name("hello")), Some(3));
    let err = verify_root(&v4, &reloaded, now()).unwrap_err();
    assert!(matches!(err, TrustError::ShardRollback { .. }), "{err}");
    assert!(
        err.hint().contains(&state.path().display().to_string()),
        "{}",
        err.hint()
    );
}

#[test]
fn a_shard_from_another_root_is_refused() {
    let a = key();
    let other_key = key();
    let (hello1, hello2) = (shard("hello", 1), shard("hello", 2));
    let v1 = root(ACME, 1, &[&hello1], &[&a], 1);
    let trusted = trusting(&[&a], 1);
    verify_root(&sign_root(v1.clone(), [&a]), &trusted, now()).unwrap();

    // Another repository's shard of the same package.
    let mut theirs = shard("hello", 1);
    theirs.package.summary = Some("evil".into());
    let err = check_shard(&v1, &trusted, &name("hello"), &theirs.to_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::BadShard { .. }), "{err}");
    // And that repository's root, signed by its own key.
    let evil = sign_root(
        root("oci://127.0.0.1:5000/evil", 9, &[&theirs], &[&other_key], 1),
        [&other_key],
    );
    assert_eq!(too_few(&evil, &trusted), ("the trusted", 0));

    // A newer root's shard against this root.
    let err = check_shard(&v1, &trusted, &name("hello"), &hello2.to_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::BadShard { .. }), "{err}");
    // A shard under another package's name.
    let world = shard("world", 1);
    let both = root(ACME, 1, &[&hello1, &world], &[&a], 1);
    let err = check_shard(&both, &trusted, &name("hello"), &world.to_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::BadShard { .. }), "{err}");
    let err = check_shard(&v1, &trusted, &name("world"), &world.to_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::ShardNotListed { .. }), "{err}");

    // Bytes with the listed digest must still be a canonical shard of that name and version.
    let pretty = serde_json::to_vec_pretty(&hello1).unwrap();
    let mut listed = v1.clone();
    listed.shards.get_mut(&name("hello")).unwrap().digest = paks_types::Digest::sha256_of(&pretty);
    let err = check_shard(&listed, &trusted, &name("hello"), &pretty).unwrap_err();
    assert!(err.to_string().contains("canonical"), "{err}");
    let mut wrong_version = v1.clone();
    wrong_version
        .shards
        .get_mut(&name("hello"))
        .unwrap()
        .version = 5;
    let err =
        check_shard(&wrong_version, &trusted, &name("hello"), &hello1.to_bytes()).unwrap_err();
    assert!(err.to_string().contains("version 1"), "{err}");
}

#[test]
fn a_mix_of_two_roots_is_refused() {
    let a = key();
    let (hello1, hello2) = (shard("hello", 1), shard("hello", 2));
    let n = sign_root(root(ACME, 1, &[&hello1], &[&a], 1), [&a]);
    let n1 = sign_root(root(ACME, 2, &[&hello2], &[&a], 1), [&a]);
    let trusted = trusting(&[&a], 1);

    // Root N's shard list under root N+1's signatures.
    let mut mixed = n1.clone();
    mixed.signed.shards = n.signed.shards.clone();
    let err = verify_root(&mixed, &trusted, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::RootThreshold {
                valid: 0,
                bad: Some(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("is bad"), "{err}");
    // Root N+1 with root N's shards: N+1 is fine, N's shard is not its shard.
    let root = verify_root(&n1, &trusted, now()).unwrap();
    let err = check_shard(root, &trusted, &name("hello"), &hello1.to_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::BadShard { .. }), "{err}");
}

#[test]
fn an_expired_root_is_refused() {
    let a = key();
    let signed = sign_root(root(ACME, 1, &[], &[&a], 1), [&a]);
    let later = at(1_700_000_000 + 31 * 86_400);
    let err = verify_root(&signed, &trusting(&[&a], 1), later).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err}");
}

#[test]
fn threshold_two_of_three() {
    let (a, b, c) = (key(), key(), key());
    let v1 = root(ACME, 1, &[], &[&a, &b, &c], 2);
    let trusted = trusting(&[&a, &b, &c], 2);

    let err = verify_root(&sign_root(v1.clone(), [&a]), &trusted, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::RootThreshold { threshold: 2, .. }),
        "{err}"
    );
    assert_eq!(
        too_few(&sign_root(v1.clone(), [&a]), &trusted),
        ("the trusted", 1)
    );
    verify_root(&sign_root(v1.clone(), [&a, &c]), &trusted, now()).unwrap();

    // The same key's signature twice counts once.
    let mut twice = sign_root(v1.clone(), [&a]);
    twice.signatures.push(twice.signatures[0].clone());
    assert_eq!(too_few(&twice, &trusted), ("the trusted", 1));

    // A signature by an unknown key is ignored, not counted.
    let stranger = key();
    let with_stranger = sign_root(v1.clone(), [&a, &stranger]);
    assert_eq!(too_few(&with_stranger, &trusted), ("the trusted", 1));
    // Unsigned.
    let unsigned = SignedRoot {
        signatures: Vec::new(),
        signed: v1.clone(),
    };
    let err = verify_root(&unsigned, &trusted, now()).unwrap_err();
    assert!(matches!(err, TrustError::Unsigned { .. }), "{err}");

    // A root whose own threshold cannot be met, or is 0, is invalid.
    for threshold in [0, 4] {
        let bad = root(ACME, 1, &[], &[&a, &b, &c], threshold);
        let err = verify_root(&sign_root(bad.clone(), [&a, &b, &c]), &trusted, now()).unwrap_err();
        assert!(matches!(err, TrustError::BadRoot { .. }), "{err}");
    }
    assert!(TrustedRoot::new(vec![a.public_key().clone()], 2).is_none());
    assert!(TrustedRoot::new(vec![a.public_key().clone(), a.public_key().clone()], 2).is_none());
}

#[test]
#[allow(clippy::many_single_char_names)] // A to E, as in `docs/index-format.md`
fn rotation_needs_enough_old_and_new_keys() {
    let [a, b, c, d, e] = [key(), key(), key(), key(), key()];
    let mut trusted = trusting(&[&a, &b, &c], 2);
    accept(
        &mut trusted,
        &sign_root(root(ACME, 1, &[], &[&a, &b, &c], 2), [&a, &b]),
    );

    // Version 2 hands over to C, D, E (threshold 2).
    let v2 = root(ACME, 2, &[], &[&c, &d, &e], 2);
    // Only old keys: not enough of its own.
    let old_only = sign_root(v2.clone(), [&a, &b]);
    assert_eq!(too_few(&old_only, &trusted), ("its own", 0));
    let err = verify_root(&old_only, &trusted, now()).unwrap_err();
    assert!(err.hint().contains("new keys"), "{}", err.hint());
    // Only new keys: not enough trusted ones (an attacker's keys look just the same).
    assert_eq!(
        too_few(&sign_root(v2.clone(), [&d, &e]), &trusted),
        ("the trusted", 0)
    );
    // C is old and new: C + D is 1 old (too few) and 2 new.
    assert_eq!(
        too_few(&sign_root(v2.clone(), [&c, &d]), &trusted),
        ("the trusted", 1)
    );
    accept(&mut trusted, &sign_root(v2.clone(), [&a, &b, &d, &e]));
    assert_eq!(trusted.threshold(), 2);
    let ids = |keys: &[&SigningKey]| {
        let mut ids: Vec<_> = keys.iter().map(|k| k.public_key().keyid()).collect();
        ids.sort();
        ids
    };
    let mut now_trusted: Vec<_> = trusted.keys().iter().map(PublicKey::keyid).collect();
    now_trusted.sort();
    assert_eq!(now_trusted, ids(&[&c, &d, &e]));

    // After it, the old keys alone sign nothing, even listing themselves again.
    let v3 = root(ACME, 3, &[], &[&a, &b, &c], 2);
    assert_eq!(
        too_few(&sign_root(v3.clone(), [&a, &b]), &trusted),
        ("the trusted", 0)
    );
    // The new ones do.
    let v3 = root(ACME, 3, &[], &[&c, &d, &e], 2);
    verify_root(&sign_root(v3.clone(), [&d, &e]), &trusted, now()).unwrap();
}

#[test]
fn a_root_key_under_another_keys_id_is_refused() {
    let (a, b) = (key(), key());
    let mut v1 = root(ACME, 1, &[], &[&a], 1);
    // A's id mapped to B's key: B would then sign as A.
    let a_id = a.public_key().keyid();
    v1.keys.insert(a_id, b.public_key().to_string());
    let err =
        verify_root(&sign_root(v1.clone(), [&a, &b]), &trusting(&[&a], 1), now()).unwrap_err();
    assert!(matches!(err, TrustError::BadRoot { .. }), "{err}");
}

#[test]
fn an_unsigned_repository_still_refuses_rollback_and_expiry() {
    let a = key();
    let mut trusted = TrustedRoot::unsigned();
    let v2 = SignedRoot {
        signatures: Vec::new(),
        signed: root(ACME, 2, &[], &[&a], 1),
    };
    accept(&mut trusted, &v2);
    // A signed root does not pin its keys: the repository stays unsigned.
    accept(&mut trusted, &sign_root(root(ACME, 3, &[], &[&a], 1), [&a]));
    assert_eq!(trusted.threshold(), 0);
    let err = verify_root(&v2, &trusted, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 2,
                seen: 3,
                ..
            }
        ),
        "{err}"
    );
    let later = at(1_700_000_000 + 31 * 86_400);
    let v4 = SignedRoot {
        signatures: Vec::new(),
        signed: root(ACME, 4, &[], &[], 1),
    };
    let err = verify_root(&v4, &trusted, later).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err}");
}
