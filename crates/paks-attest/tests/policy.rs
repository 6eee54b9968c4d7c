//! The trust policy judged on real envelopes signed with real keys: what passes, and each
//! forgery refused with a reason that names it.

use paks_attest::policy::{Attachment, Evidence, Outcome, Require, Requirement, Verdict, judge};
use paks_attest::signature::SignedAttachment;
use paks_attest::test_results::{
    Output, Runner, SandboxFacts, TestResults, TestedPackage, Verdict as TestVerdict,
};
use paks_attest::{
    Envelope, IN_TOTO_JSON, PAKS_TEST_RESULTS_V1, SIGNATURE, SLSA_PROVENANCE_V1, SPDX_JSON,
    Statement, Subject, TEST_RESULTS,
};
use paks_index::{PublicKey, SigningKey};
use paks_oci::{Descriptor, OCI_MANIFEST};
use paks_types::{Digest, PackageId};
use serde_json::json;

fn key() -> SigningKey {
    SigningKey::from_pem(&paks_index::generate_key().unwrap().private_pem).unwrap()
}

/// One build: its manifest digest and package id.
struct Build {
    digest: Digest,
    id: PackageId,
}

fn build(name: &str) -> Build {
    let id: PackageId = format!("{}-{name}-1.0.0", paks_types::id_hash(name.as_bytes()))
        .parse()
        .unwrap();
    Build {
        digest: Digest::sha256_of(format!("manifest of {name}").as_bytes()),
        id,
    }
}

/// An attachment of `artifact_type` whose layer is `layer`; its manifest digest is made up
/// from the layer (the policy only names it).
fn attachment(artifact_type: &str, layer: Vec<u8>) -> Attachment {
    let digest = Digest::sha256_of(&[artifact_type.as_bytes(), &layer].concat());
    let mut descriptor = Descriptor::new(OCI_MANIFEST, digest, 500);
    descriptor.artifact_type = Some(artifact_type.to_owned());
    Attachment {
        descriptor,
        artifact_type: artifact_type.to_owned(),
        layer,
    }
}

fn envelope(statement: &Statement, key: &SigningKey) -> Vec<u8> {
    Envelope::sign(IN_TOTO_JSON, &statement.to_bytes(), key).to_bytes()
}

fn sbom(b: &Build) -> Attachment {
    attachment(
        SPDX_JSON,
        serde_json::to_vec(&json!({"spdxVersion": "SPDX-2.3", "name": b.id.to_string()})).unwrap(),
    )
}

fn provenance(b: &Build, about: &Digest, key: &SigningKey) -> Attachment {
    let s = Statement::new(
        vec![Subject::new(b.id.to_string(), about)],
        SLSA_PROVENANCE_V1,
        json!({"buildDefinition": {"buildType": "https://paks.dev/build/v1", "externalParameters": {}},
               "runDetails": {"builder": {"id": "https://paks.dev/builder/local"}}}),
    );
    attachment(IN_TOTO_JSON, envelope(&s, key))
}

/// A test-results attachment as `paks test` writes it: `result` is `passed` or `failed`.
fn tests(b: &Build, about: &Digest, result: &str, key: &SigningKey) -> Attachment {
    let verdict = match result {
        "passed" => TestVerdict::Passed,
        _ => TestVerdict::Failed,
    };
    let results = TestResults {
        package: TestedPackage::of(&b.id),
        result: verdict,
        exit_code: Some(i32::from(verdict == TestVerdict::Failed)),
        signal: None,
        started: "2026-12-06T03:30:00Z".into(),
        duration_ms: 7,
        runner: Runner {
            tool: "paks/0.1.0".into(),
            arch: "x86_64".into(),
            microarchitecture: None,
            glibc: None,
        },
        sandbox: SandboxFacts {
            network: false,
            read_only_prefix: true,
        },
        output: Output::from_bytes(b"ok\n"),
        junit: None,
        junit_problem: None,
    };
    let s = Statement::new(
        vec![Subject::new(b.id.to_string(), about)],
        PAKS_TEST_RESULTS_V1,
        serde_json::to_value(&results).unwrap(),
    );
    attachment(TEST_RESULTS, envelope(&s, key))
}

fn signature(b: &Build, about: &Digest, vouched: &[&Attachment], key: &SigningKey) -> Attachment {
    let listed: Vec<SignedAttachment> = vouched
        .iter()
        .map(|a| SignedAttachment {
            artifact_type: a.artifact_type.clone(),
            digest: a.layer_digest(),
        })
        .collect();
    let envelope = paks_attest::signature::sign(&b.id, about, &listed, key);
    attachment(SIGNATURE, envelope.to_bytes())
}

fn all() -> Require {
    "signed,provenance,tested,sbom".parse().unwrap()
}

fn trusted(k: &SigningKey) -> Vec<PublicKey> {
    vec![k.public_key().clone()]
}

/// The complete, honest evidence of `b`, signed by `k`.
fn honest(b: &Build, k: &SigningKey) -> Vec<Attachment> {
    let s = sbom(b);
    let p = provenance(b, &b.digest, k);
    let sig = signature(b, &b.digest, &[&s, &p], k);
    vec![s, p, tests(b, &b.digest, "passed", k), sig]
}

fn evidence(attachments: Vec<Attachment>) -> Evidence {
    Evidence {
        attachments,
        unreadable: Vec::new(),
    }
}

/// The verdict on `b`'s honest evidence with its attachments of `artifact_type` replaced
/// by `instead`.
fn replaced(b: &Build, k: &SigningKey, artifact_type: &str, instead: Attachment) -> Verdict {
    let mut attachments = honest(b, k);
    attachments.retain(|a| a.artifact_type != artifact_type);
    attachments.push(instead);
    judged(b, k, attachments)
}

/// The verdict on `attachments` of `b`, trusting `k`, requiring everything.
fn judged(b: &Build, k: &SigningKey, attachments: Vec<Attachment>) -> Verdict {
    judge(
        &b.digest,
        &b.id,
        &evidence(attachments),
        &trusted(k),
        &all(),
    )
}

fn reason(v: &Verdict, r: Requirement) -> String {
    let c = v.get(r);
    assert!(!c.outcome.passed(), "{r} passed: {:?}", c.outcome);
    c.outcome.message().to_owned()
}

#[test]
fn honest_evidence_passes_every_requirement() {
    let (b, k) = (build("hello"), key());
    let v = judged(&b, &k, honest(&b, &k));
    assert!(v.passed(), "{v:#?}");
    let keyid = k.public_key().keyid();
    for c in &v.checks {
        assert!(c.required);
        let Outcome::Pass {
            keyid: by, detail, ..
        } = &c.outcome
        else {
            panic!("{c:?}")
        };
        assert_eq!(by, &keyid);
        assert!(detail.contains(&keyid), "{detail}");
    }
    assert!(
        v.get(Requirement::Provenance)
            .outcome
            .message()
            .contains("https://paks.dev/builder/local")
    );
}

#[test]
fn nothing_attached_fails_only_what_is_required() {
    let b = build("hello");
    let k = key();
    let v = judge(
        &b.digest,
        &b.id,
        &Evidence::default(),
        &trusted(&k),
        &"signed".parse().unwrap(),
    );
    assert!(!v.passed());
    assert_eq!(v.failures().count(), 1);
    assert!(matches!(
        v.get(Requirement::Signed).outcome,
        Outcome::Missing { .. }
    ));
    assert_eq!(reason(&v, Requirement::Signed), "no signature is attached");
    assert_eq!(
        reason(&v, Requirement::Tested),
        "no test result is attached"
    );
    let none = judge(
        &b.digest,
        &b.id,
        &Evidence::default(),
        &trusted(&k),
        &Require::default(),
    );
    assert!(none.passed());
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let (b, k, other) = (build("hello"), key(), key());
    let v = judged(&b, &k, honest(&b, &other));
    assert_eq!(v.failures().count(), 4, "{v:#?}");
    let why = reason(&v, Requirement::Signed);
    assert!(why.contains("not trusted"), "{why}");
    assert!(why.contains(&other.public_key().keyid()), "{why}");
    let why = reason(&v, Requirement::Sbom);
    assert!(why.contains("no trusted signature vouches for it"), "{why}");
}

#[test]
fn a_provenance_for_another_digest_is_refused() {
    let (b, k) = (build("hello"), key());
    let elsewhere = Digest::sha256_of(b"another build");
    let v = replaced(&b, &k, IN_TOTO_JSON, provenance(&b, &elsewhere, &k));
    let why = reason(&v, Requirement::Provenance);
    assert!(why.contains(&elsewhere.hex()[..12]), "{why}");
    assert!(why.contains("made for another build"), "{why}");
    assert!(v.get(Requirement::Signed).outcome.passed());
}

#[test]
fn a_test_result_copied_from_another_package_is_refused() {
    let (b, other, k) = (build("hello"), build("zlib"), key());
    // Signed by the trusted key, and passed: but about `zlib`'s build.
    let v = replaced(
        &b,
        &k,
        TEST_RESULTS,
        tests(&other, &other.digest, "passed", &k),
    );
    let why = reason(&v, Requirement::Tested);
    assert!(why.contains("test result `sha256:"), "{why}");
    assert!(why.contains(other.digest.hex()), "{why}");
}

#[test]
fn a_failed_test_result_is_refused() {
    let (b, k) = (build("hello"), key());
    let v = replaced(&b, &k, TEST_RESULTS, tests(&b, &b.digest, "failed", &k));
    assert!(
        reason(&v, Requirement::Tested)
            .contains("the tests did not pass (result `failed`, signed by key")
    );
}

#[test]
fn a_signature_of_another_package_is_refused() {
    // The statement is about this manifest digest, but names another package: refused.
    let (b, other, k) = (build("hello"), build("zlib"), key());
    let s = sbom(&b);
    let sig = signature(&other, &b.digest, &[&s], &k);
    let v = judged(&b, &k, vec![s, sig]);
    let why = reason(&v, Requirement::Signed);
    assert!(why.contains(&format!("not `{}`", b.id)), "{why}");
}

#[test]
fn an_sbom_the_signature_does_not_list_is_refused() {
    let (b, k) = (build("hello"), key());
    let listed = sbom(&b);
    let sig = signature(&b, &b.digest, &[&listed], &k);
    let swapped = attachment(
        SPDX_JSON,
        b"{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"evil\"}".to_vec(),
    );
    let v = judged(&b, &k, vec![swapped, sig]);
    let why = reason(&v, Requirement::Sbom);
    assert!(
        why.contains("no trusted signature lists its layer"),
        "{why}"
    );
    assert!(why.contains(&listed.layer_digest().to_string()), "{why}");
}

#[test]
fn a_removed_referrer_is_named() {
    let (b, k) = (build("hello"), key());
    let mut attachments = honest(&b, &k);
    // The SBOM is gone from the registry: the signature still lists it.
    let gone = attachments.remove(0);
    let v = judged(&b, &k, attachments.clone());
    let why = reason(&v, Requirement::Sbom);
    assert!(why.starts_with("no SBOM is attached"), "{why}");
    assert!(why.contains(&gone.layer_digest().to_string()), "{why}");
    assert!(why.contains("removed"), "{why}");

    // The signature's manifest is listed (a stale tag index) but cannot be read.
    let sig = attachments.pop().unwrap();
    assert_eq!(sig.artifact_type, SIGNATURE);
    let e = Evidence {
        attachments,
        unreadable: vec![(sig.descriptor.clone(), "manifest unknown".into())],
    };
    let v = judge(&b.digest, &b.id, &e, &trusted(&k), &all());
    let why = reason(&v, Requirement::Signed);
    assert!(
        why.contains("is listed but cannot be read: manifest unknown"),
        "{why}"
    );
    assert!(why.contains(&sig.descriptor.digest.to_string()), "{why}");
}

#[test]
fn a_modified_envelope_is_refused() {
    let (b, k) = (build("hello"), key());
    let mut attachments = honest(&b, &k);
    let t = attachments
        .iter_mut()
        .find(|a| a.artifact_type == TEST_RESULTS)
        .unwrap();
    let mut env = Envelope::parse(&t.layer).unwrap();
    let forged = Statement::new(
        vec![Subject::new(b.id.to_string(), &b.digest)],
        PAKS_TEST_RESULTS_V1,
        json!({"result": "passed", "note": "forged"}),
    );
    env.payload = data_encoding::BASE64.encode(&forged.to_bytes());
    t.layer = env.to_bytes();
    let v = judged(&b, &k, attachments);
    assert!(reason(&v, Requirement::Tested).contains("does not verify"));
}

#[test]
fn one_good_signature_among_bad_ones_passes() {
    let (b, k, other) = (build("hello"), key(), key());
    let mut attachments = honest(&b, &other);
    attachments.extend(honest(&b, &k));
    let v = judged(&b, &k, attachments);
    assert!(v.passed(), "{v:#?}");
}
