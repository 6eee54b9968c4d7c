//! Provenance and signature documents: what they say, and what verifying them refuses.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use data_encoding::BASE64;
use paks_attest::provenance::{
    self, BUILD_TYPE, BUILDER_ID, BuildFacts, DependencyFacts, DependencyKind, RecipeOrigin,
};
use paks_attest::signature::{self, SignedAttachment};
use paks_attest::{DsseError, Envelope, SLSA_PROVENANCE_V1, SPDX_JSON, VerifyError};
use paks_index::SigningKey;
use paks_recipe::{Source, SourceKind};
use paks_types::{Digest, PackageId, id_hash};

fn key() -> SigningKey {
    SigningKey::from_pem(&paks_index::generate_key().unwrap().private_pem).unwrap()
}

fn id(name: &str) -> PackageId {
    format!("{}-{name}-1.2.3", id_hash(name.as_bytes()))
        .parse()
        .unwrap()
}

fn facts() -> BuildFacts {
    BuildFacts {
        recipe: RecipeOrigin::Git {
            url: "https://git.invalid/acme/hello".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
        },
        recipe_file: Digest::sha256_of(b"[package]\nname = \"hello\"\n"),
        recipe_tree: Digest::sha256_of(b"tree"),
        platform: "linux/amd64".into(),
        sources: vec![
            Source {
                kind: SourceKind::Url {
                    url: "https://downloads.invalid/hello-1.2.3.tar.gz".into(),
                    sha256: Digest::sha256_of(b"tarball"),
                    strip: 1,
                    extract: true,
                    size: None,
                },
                dest: PathBuf::from("."),
            },
            Source {
                kind: SourceKind::Git {
                    url: "https://git.invalid/acme/extra".into(),
                    commit: "89abcdef0123456789abcdef0123456789abcdef".into(),
                },
                dest: PathBuf::from("extra"),
            },
        ],
        dependencies: vec![
            DependencyFacts {
                id: id("zlib"),
                manifest: Digest::sha256_of(b"zlib manifest"),
                kind: DependencyKind::Run,
            },
            DependencyFacts {
                id: id("cmake"),
                manifest: Digest::sha256_of(b"cmake manifest"),
                kind: DependencyKind::Build,
            },
        ],
        compression: "gzip".into(),
        jobs: 4,
        tests_ran: true,
        started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        finished: UNIX_EPOCH + Duration::from_secs(1_700_000_042),
    }
}

#[test]
fn the_statement_is_slsa_v1_provenance_about_the_build() {
    let manifest = Digest::sha256_of(b"hello manifest");
    let hello = id("hello");
    let doc: serde_json::Value =
        serde_json::from_slice(&provenance::statement(&hello, &manifest, &facts()).to_bytes())
            .unwrap();
    assert_eq!(doc["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(doc["predicateType"], SLSA_PROVENANCE_V1);
    assert_eq!(
        doc["subject"],
        serde_json::json!([{"name": hello.to_string(), "digest": {"sha256": manifest.hex()}}])
    );
    let p = &doc["predicate"];
    let def = &p["buildDefinition"];
    assert_eq!(def["buildType"], BUILD_TYPE);
    assert_eq!(
        def["externalParameters"]["recipe"],
        serde_json::json!({"git": "https://git.invalid/acme/hello", "commit": "0123456789abcdef0123456789abcdef01234567"})
    );
    assert_eq!(
        def["externalParameters"]["recipeFile"]["sha256"],
        Digest::sha256_of(b"[package]\nname = \"hello\"\n").hex()
    );
    assert_eq!(
        def["internalParameters"],
        serde_json::json!({"sandbox": "bubblewrap", "network": false, "compression": "gzip", "jobs": 4, "tests": true})
    );
    let deps = def["resolvedDependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 5, "{deps:#?}");
    assert_eq!(
        deps[0]["uri"],
        "git+https://git.invalid/acme/hello@0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(
        deps[1]["uri"],
        "https://downloads.invalid/hello-1.2.3.tar.gz"
    );
    assert_eq!(
        deps[1]["digest"]["sha256"],
        Digest::sha256_of(b"tarball").hex()
    );
    assert_eq!(deps[2]["uri"], "git+https://git.invalid/acme/extra");
    assert_eq!(
        deps[2]["digest"]["gitCommit"],
        "89abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(deps[3]["uri"], "pkg:generic/zlib@1.2.3");
    assert_eq!(deps[3]["name"], id("zlib").to_string());
    assert_eq!(
        deps[3]["digest"]["sha256"],
        Digest::sha256_of(b"zlib manifest").hex()
    );
    assert_eq!(deps[3]["annotations"]["dependency"], "run");
    assert_eq!(deps[4]["annotations"]["dependency"], "build");
    let run = &p["runDetails"];
    assert_eq!(run["builder"]["id"], BUILDER_ID);
    assert_eq!(run["builder"]["version"]["paks"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        run["metadata"],
        serde_json::json!({"invocationId": hello.to_string(), "startedOn": "2023-11-14T22:13:20Z", "finishedOn": "2023-11-14T22:14:02Z"})
    );
}

#[test]
fn signed_provenance_verifies_for_its_build_and_key_only() {
    let k = key();
    let trusted = [k.public_key().clone()];
    let manifest = Digest::sha256_of(b"hello manifest");
    let file = provenance::statement(&id("hello"), &manifest, &facts()).to_bytes();
    let env = provenance::sign(&file, &manifest, &k).unwrap().to_bytes();

    let verified = provenance::verify_provenance(&env, &manifest, &trusted).unwrap();
    assert_eq!(verified.key, *k.public_key());
    assert_eq!(verified.predicate.build_definition.build_type, BUILD_TYPE);
    // The payload is the file as written, byte for byte.
    let parsed = Envelope::parse(&env).unwrap();
    assert_eq!(parsed.payload_unverified().unwrap(), file);

    // Another build's digest: the error names both digests and the key.
    let other = Digest::sha256_of(b"another manifest");
    let err = provenance::verify_provenance(&env, &other, &trusted).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, VerifyError::Subject { .. }), "{err:?}");
    for part in [other.hex(), manifest.hex(), &k.public_key().keyid()] {
        assert!(text.contains(part), "{text} lacks {part}");
    }

    // Another key.
    let stranger = [key().public_key().clone()];
    let err = provenance::verify_provenance(&env, &manifest, &stranger).unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::Envelope {
                source: DsseError::UnknownKey { keyids },
                ..
            } if keyids == &[k.public_key().keyid()]
        ),
        "{err:?}"
    );

    // A modified payload, keeping the signature.
    let mut changed = parsed.clone();
    let tampered = String::from_utf8(file.clone())
        .unwrap()
        .replace("\"jobs\":4", "\"jobs\":5");
    changed.payload = BASE64.encode(tampered.as_bytes());
    let err = provenance::verify_provenance(&changed.to_bytes(), &manifest, &trusted).unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::Envelope {
                source: DsseError::BadSignature { keyid },
                ..
            } if keyid == &k.public_key().keyid()
        ),
        "{err:?}"
    );

    // A signature envelope is not provenance.
    let sig = signature::sign(&id("hello"), &manifest, &[], &k).to_bytes();
    let err = provenance::verify_provenance(&sig, &manifest, &trusted).unwrap_err();
    assert!(matches!(err, VerifyError::Statement { .. }), "{err:?}");
}

#[test]
fn signing_refuses_provenance_of_another_build() {
    let k = key();
    let manifest = Digest::sha256_of(b"hello manifest");
    let file = provenance::statement(&id("hello"), &manifest, &facts()).to_bytes();
    let rebuilt = Digest::sha256_of(b"rebuilt manifest");
    assert!(provenance::sign(&file, &rebuilt, &k).is_err());
    assert!(provenance::sign(b"{}", &manifest, &k).is_err());
}

#[test]
fn a_signature_lists_the_attachments_it_vouches_for() {
    let k = key();
    let trusted = [k.public_key().clone()];
    let manifest = Digest::sha256_of(b"hello manifest");
    let listed = vec![
        SignedAttachment {
            artifact_type: SPDX_JSON.into(),
            digest: Digest::sha256_of(b"sbom"),
        },
        SignedAttachment {
            artifact_type: paks_attest::IN_TOTO_JSON.into(),
            digest: Digest::sha256_of(b"provenance envelope"),
        },
    ];
    let env = signature::sign(&id("hello"), &manifest, &listed, &k);
    let payload: serde_json::Value =
        serde_json::from_slice(&env.payload_unverified().unwrap()).unwrap();
    assert_eq!(
        payload["predicate"],
        serde_json::json!({
            "package": {"name": "hello", "version": "1.2.3", "id": id("hello").to_string()},
            "attachments": [
                {"artifactType": SPDX_JSON, "digest": Digest::sha256_of(b"sbom").to_string()},
                {"artifactType": "application/vnd.in-toto+json", "digest": Digest::sha256_of(b"provenance envelope").to_string()},
            ]
        })
    );
    let facts = signature::verify_signature(&env.to_bytes(), &manifest, &trusted).unwrap();
    assert_eq!(facts.attachments, listed);
    assert_eq!(facts.package.id, id("hello"));

    // A provenance envelope is not a signature.
    let prov = provenance::statement(&id("hello"), &manifest, &facts_for_sig());
    let prov_env = Envelope::sign(paks_attest::IN_TOTO_JSON, &prov.to_bytes(), &k).to_bytes();
    let err = signature::verify_signature(&prov_env, &manifest, &trusted).unwrap_err();
    assert!(matches!(err, VerifyError::Statement { .. }), "{err:?}");
    // Not JSON at all.
    let err = signature::verify_signature(b"not json", &manifest, &trusted).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Envelope {
                source: DsseError::Json(_),
                ..
            }
        ),
        "{err:?}"
    );
}

fn facts_for_sig() -> BuildFacts {
    BuildFacts {
        recipe: RecipeOrigin::Directory(PathBuf::from("/src/hello")),
        sources: vec![],
        dependencies: vec![],
        ..facts()
    }
}
