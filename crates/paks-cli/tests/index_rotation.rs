//! Keys and thresholds of a repository's index, with the real `paks` binary: what `paks
//! repo add --key … --threshold K` accepts, and a key rotation written by `paks index build
//! --format sharded --sign … --root-keys … --threshold N` into a static repository, each
//! root judged by the client's checks (`verify_root`) as a client that trusted the one
//! before.

mod common;

use std::time::SystemTime;

use common::Env;
use paks_index::{PublicKey, SignedRoot, TrustError, TrustedRoot, verify_root};

/// `paks key generate` in `env`'s directory: the private key's and public key's paths.
fn generate(env: &Env, name: &str) -> (String, String) {
    let private = env.dir.path().join(format!("{name}.pem"));
    env.ok(&["key", "generate", "--out", private.to_str().unwrap()]);
    let public = private.with_extension("pub");
    (
        private.to_str().unwrap().to_owned(),
        public.to_str().unwrap().to_owned(),
    )
}

#[test]
fn a_threshold_above_the_keys_is_a_usage_error() {
    let env = Env::new();
    let (_, a) = generate(&env, "a");
    let (_, b) = generate(&env, "b");
    // Nothing listens there: the threshold is refused before any fetch.
    let url = "oci://127.0.0.1:9/acme";
    let err = env.fails(
        &[
            "repo",
            "add",
            "acme",
            url,
            "--key",
            &a,
            "--key",
            &b,
            "--threshold",
            "3",
        ],
        1,
    );
    assert!(err.contains("`--threshold 3`"), "{err}");
    assert!(err.contains("2 distinct keys"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    // The same key twice is one key.
    let err = env.fails(
        &[
            "repo",
            "add",
            "acme",
            url,
            "--key",
            &a,
            "--key",
            &a,
            "--threshold",
            "2",
        ],
        1,
    );
    assert!(err.contains("1 distinct key given"), "{err}");
    let err = env.fails(
        &["repo", "add", "acme", url, "--key", &a, "--threshold", "0"],
        1,
    );
    assert!(err.contains("`--threshold 0`"), "{err}");
    assert!(!env.root.join("repos.toml").exists(), "nothing was added");
}

/// `paks index build DIR --format sharded ARGS` over the `.pak` files in `env.out`; the
/// root it wrote.
fn build_root(env: &Env, args: &[&str]) -> SignedRoot {
    let dir = env.out.to_str().unwrap();
    let mut all = vec!["index", "build", dir, "--format", "sharded"];
    all.extend_from_slice(args);
    env.ok(&all);
    let raw = std::fs::read(env.out.join("index.yaml")).unwrap();
    SignedRoot::from_slice(&raw, "index.yaml").unwrap()
}

/// A root signed by each of `signers`, naming `root_keys` and `threshold`.
fn rotate(env: &Env, signers: &[&str], root_keys: &str, threshold: &str) -> SignedRoot {
    let mut args = Vec::new();
    for key in signers {
        args.extend(["--sign", key]);
    }
    args.extend(["--root-keys", root_keys, "--threshold", threshold]);
    build_root(env, &args)
}

fn public(path: &str) -> PublicKey {
    PublicKey::load(std::path::Path::new(path)).unwrap()
}

#[test]
#[allow(clippy::many_single_char_names)] // A to E, as in `docs/index-format.md`
fn a_rotation_is_one_build_signed_by_enough_old_and_new_keys() {
    let env = Env::new();
    env.build("hello-script");
    let [(a, a_pub), (b, b_pub), (c, c_pub), (d, d_pub), (e, e_pub)] =
        ["a", "b", "c", "d", "e"].map(|n| generate(&env, n));
    let abc = format!("{a_pub},{b_pub},{c_pub}");
    let cde = format!("{c_pub},{d_pub},{e_pub}");

    // Version 1: keys A, B, C, threshold 2, signed by A and B.
    let v1 = rotate(&env, &[&a, &b], &abc, "2");
    assert_eq!(v1.signed.threshold, 2);
    assert_eq!(v1.signed.keys.len(), 3);
    let mut trusted =
        TrustedRoot::new(vec![public(&a_pub), public(&b_pub), public(&c_pub)], 2).unwrap();
    let root = verify_root(&v1, &trusted, SystemTime::now()).unwrap();
    trusted.accept(root).unwrap();

    // Handing over to C, D, E signed by the old keys only: not enough of its own.
    let old_only = rotate(&env, &[&a, &b], &cde, "2");
    let err = verify_root(&old_only, &trusted, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::RootThreshold {
                whose: "its own",
                ..
            }
        ),
        "{err}"
    );
    // By the new keys only: not enough trusted ones.
    let new_only = rotate(&env, &[&d, &e], &cde, "2");
    let err = verify_root(&new_only, &trusted, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::RootThreshold {
                whose: "the trusted",
                ..
            }
        ),
        "{err}"
    );
    // By A, B, D and E: accepted, and C, D, E are trusted from now on.
    let rotated = rotate(&env, &[&a, &b, &d, &e], &cde, "2");
    let root = verify_root(&rotated, &trusted, SystemTime::now()).unwrap();
    trusted.accept(root).unwrap();
    assert_eq!(trusted.threshold(), 2);

    // The old keys taking the repository back: refused.
    let back = rotate(&env, &[&a, &b], &abc, "2");
    assert!(back.signed.version > rotated.signed.version);
    let err = verify_root(&back, &trusted, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::RootThreshold {
                whose: "the trusted",
                valid: 0,
                ..
            }
        ),
        "{err}"
    );
    // Default root keys: the signers', threshold 1.
    let next = build_root(&env, &["--sign", &c, "--sign", &d]);
    assert_eq!(next.signed.threshold, 1);
    assert_eq!(next.signed.keys.len(), 2);
    verify_root(&next, &trusted, SystemTime::now()).unwrap();
}

#[test]
fn index_build_refuses_a_threshold_it_cannot_meet() {
    let env = Env::new();
    env.build("hello-script");
    let (a, a_pub) = generate(&env, "a");
    let dir = env.out.to_str().unwrap();
    let err = env.fails(
        &[
            "index",
            "build",
            dir,
            "--format",
            "sharded",
            "--sign",
            &a,
            "--root-keys",
            &a_pub,
            "--threshold",
            "2",
        ],
        1,
    );
    assert!(err.contains("`--threshold 2`"), "{err}");
    assert!(err.contains("--root-keys"), "{err}");
    // A single index (schema 1) names no keys.
    let err = env.fails(
        &["index", "build", dir, "--sign", &a, "--threshold", "1"],
        1,
    );
    assert!(err.contains("--format sharded"), "{err}");
    assert!(!env.out.join("index.yaml").exists(), "nothing was written");
}

/// The same rotation as the client lives it: `paks repo add --key A --key B --key C
/// --threshold 2` on the static directory, then `paks repo update` after each rebuild —
/// a root signed by too few trusted keys is refused and changes nothing, the rotation is
/// followed, and an older root put back in place (a rollback) is refused by version.
#[test]
#[allow(clippy::many_single_char_names)] // A to E, as in `docs/index-format.md`
fn repo_update_follows_a_rotation_and_refuses_rollbacks_and_short_signatures() {
    let env = Env::new();
    env.build("hello-script");
    let [(a, a_pub), (b, b_pub), (c, c_pub), (d, d_pub), (e, e_pub)] =
        ["a", "b", "c", "d", "e"].map(|n| generate(&env, n));
    let abc = format!("{a_pub},{b_pub},{c_pub}");
    let cde = format!("{c_pub},{d_pub},{e_pub}");
    let url = format!("file://{}", env.out.display());
    let index = env.out.join("index.yaml");

    // One signature where the repository wants two: `repo add` refuses it.
    rotate(&env, &[&a], &abc, "1");
    let keys = ["--key", &a_pub, "--key", &b_pub, "--key", &c_pub];
    let mut add = vec!["repo", "add", "site", url.as_str()];
    add.extend(keys);
    add.extend(["--threshold", "2"]);
    let err = env.fails(&add, 1);
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains('2'), "names the threshold: {err}");

    // Version 2 signed by A and B: added.
    rotate(&env, &[&a, &b], &abc, "2");
    env.ok(&add);
    env.ok(&["install", "hello-script"]);

    // The hand-over signed by the old keys only: refused.
    rotate(&env, &[&a, &b], &cde, "2");
    let err = env.fails(&["repo", "update"], 1);
    assert!(err.contains("refused"), "{err}");

    // Signed by A, B, D and E: followed.
    let rotated = rotate(&env, &[&a, &b, &d, &e], &cde, "2");
    env.ok(&["repo", "update"]);
    let rotated_bytes = std::fs::read(&index).unwrap();
    assert_eq!(
        SignedRoot::from_slice(&rotated_bytes, "index.yaml").unwrap(),
        rotated
    );

    // The old keys taking the repository back: refused.
    rotate(&env, &[&a, &b], &abc, "2");
    let err = env.fails(&["repo", "update"], 1);
    assert!(err.contains("refused"), "{err}");

    // The new keys publish the next root; then the rotated root, older, is put back.
    let next = rotate(&env, &[&c, &d], &cde, "2");
    env.ok(&["repo", "update"]);
    std::fs::write(&index, &rotated_bytes).unwrap();
    let err = env.fails(&["repo", "update"], 1);
    assert!(err.contains("refused"), "{err}");
    assert!(
        err.contains(&rotated.signed.version.to_string())
            && err.contains(&next.signed.version.to_string()),
        "names both versions: {err}"
    );
}
