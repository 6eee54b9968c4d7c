//! Test-result documents: signed statements about one build, bounded output, `JUnit` counts.

use paks_attest::test_results::{
    Junit, JunitError, MAX_JUNIT, MAX_OUTPUT, Output, Runner, SandboxFacts, TestResults,
    TestedPackage, Verdict, result_id,
};
use paks_attest::{DsseError, PAKS_TEST_RESULTS_V1, Statement, VerifyError};
use paks_index::SigningKey;
use paks_types::{Digest, PackageId, PackageName, id_hash};

fn key() -> SigningKey {
    SigningKey::from_pem(&paks_index::generate_key().unwrap().private_pem).unwrap()
}

fn results(verdict: Verdict) -> TestResults {
    let id = PackageId::new(
        id_hash(b"inputs"),
        PackageName::new("hello").unwrap(),
        paks_types::Version::new(1, 0, 0),
    )
    .unwrap();
    TestResults {
        package: TestedPackage::of(&id),
        result: verdict,
        exit_code: Some(i32::from(verdict == Verdict::Failed)),
        signal: None,
        started: "2026-12-06T03:30:00Z".into(),
        duration_ms: 42,
        runner: Runner {
            tool: "paks/0.1.0".into(),
            arch: "x86_64".into(),
            microarchitecture: Some("zen3".into()),
            glibc: Some("2.36".into()),
        },
        sandbox: SandboxFacts {
            network: false,
            read_only_prefix: true,
        },
        output: Output::from_bytes(b"ok\n"),
        junit: None,
        junit_problem: None,
    }
}

#[test]
fn a_signed_result_verifies_only_for_its_build_and_its_signer() {
    let k = key();
    let trusted = [k.public_key().clone()];
    let manifest = Digest::sha256_of(b"the build's manifest");
    let r = results(Verdict::Passed);
    let envelope = r.sign(&manifest, &k);
    let layer = envelope.to_bytes();
    // Its id is the digest of what is attached.
    assert_eq!(result_id(&envelope), Digest::sha256_of(&layer));

    let (back, by) = TestResults::verify(&layer, &trusted, &manifest).unwrap();
    assert_eq!(back, r);
    assert_eq!(&by, k.public_key());

    // The statement names the build by id and manifest digest, with the paks predicate.
    let (payload, _) = envelope
        .verify(paks_attest::IN_TOTO_JSON, &trusted)
        .unwrap();
    let statement = Statement::parse(&payload, PAKS_TEST_RESULTS_V1).unwrap();
    assert_eq!(statement.subject.len(), 1);
    assert_eq!(statement.subject[0].name, r.package.id);
    assert!(statement.subject[0].is(&manifest));
    assert_eq!(statement.predicate["result"], "passed");
    assert_eq!(statement.predicate["sandbox"]["network"], false);

    // Copied to another build, or checked with another key: refused.
    let other = Digest::sha256_of(b"another build");
    assert!(matches!(
        TestResults::verify(&layer, &trusted, &other),
        Err(VerifyError::Subject { .. })
    ));
    let stranger = [key().public_key().clone()];
    assert!(matches!(
        TestResults::verify(&layer, &stranger, &manifest),
        Err(VerifyError::Envelope {
            source: DsseError::UnknownKey { .. },
            ..
        })
    ));
    // An unsigned result (`--no-attach` without a key) verifies for nobody.
    let unsigned = r.unsigned(&manifest).to_bytes();
    assert!(matches!(
        TestResults::verify(&unsigned, &trusted, &manifest),
        Err(VerifyError::Envelope {
            source: DsseError::Unsigned,
            ..
        })
    ));
}

#[test]
fn a_failure_is_recorded_as_failed() {
    let k = key();
    let manifest = Digest::sha256_of(b"m");
    let layer = results(Verdict::Failed).sign(&manifest, &k).to_bytes();
    let (back, _) = TestResults::verify(&layer, &[k.public_key().clone()], &manifest).unwrap();
    assert_eq!(back.result, Verdict::Failed);
    assert_eq!(back.exit_code, Some(1));
    let text = String::from_utf8(layer).unwrap();
    assert!(text.contains("\"payloadType\":\"application/vnd.in-toto+json\""));
}

#[test]
fn output_keeps_the_end_and_says_it_was_cut() {
    let short = Output::from_bytes(b"line 1\nline 2\n");
    assert_eq!(short.text, "line 1\nline 2\n");
    assert!(!short.truncated);
    assert_eq!(short.bytes, 14);

    let mut all = Vec::new();
    for i in 0..20_000 {
        all.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    let long = Output::from_bytes(&all);
    assert!(long.truncated);
    assert_eq!(long.bytes, all.len() as u64);
    assert!(long.text.len() <= MAX_OUTPUT, "{}", long.text.len());
    assert!(long.text.len() > MAX_OUTPUT - 20, "{}", long.text.len());
    assert!(long.text.starts_with("line "), "cut at a line start");
    assert!(long.text.ends_with("line 19999\n"));

    // One long line of multi-byte characters: cut, still valid text.
    let wide = "é".repeat(MAX_OUTPUT);
    let cut = Output::from_bytes(wide.as_bytes());
    assert!(cut.truncated && cut.text.len() <= MAX_OUTPUT + 3);
    assert!(cut.text.ends_with('é'));
}

const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
  <testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.1">
    <testcase classname="t" name="a" time="0.001"/>
    <testcase classname="t" name="b" time="0.001"><failure message="assert 1 == 2">x</failure></testcase>
    <testcase classname="t" name="c" time="0.001"><error message="boom"/></testcase>
    <testcase classname="t" name="d" time="0.001"><skipped message="no gpu"/></testcase>
    <testcase classname="t" name="e" time="0.001"><system-out>hi</system-out></testcase>
  </testsuite>
</testsuites>
"#;

#[test]
fn junit_reports_are_counted() {
    let j = Junit::parse(PYTEST.as_bytes()).unwrap();
    assert_eq!(
        (j.tests, j.failures, j.errors, j.skipped),
        (5, 1, 1, 1),
        "{j:?}"
    );
    assert_eq!(j.xml, PYTEST);

    // Totals only (no test cases): the innermost suites' attributes, summed.
    let totals = r#"<testsuites tests="99"><testsuite tests="3" failures="1"/><testsuite tests="4" skipped="2" errors="1"/></testsuites>"#;
    let j = Junit::parse(totals.as_bytes()).unwrap();
    assert_eq!((j.tests, j.failures, j.errors, j.skipped), (7, 1, 1, 2));

    // A bare `<testsuite>` root works too.
    let bare =
        r#"<testsuite><testcase name="x"/><testcase name="y"><failure/></testcase></testsuite>"#;
    let j = Junit::parse(bare.as_bytes()).unwrap();
    assert_eq!((j.tests, j.failures), (2, 1));
}

#[test]
fn bad_junit_reports_are_refused_with_a_reason() {
    assert!(matches!(
        Junit::parse(b"<testsuites><testcase>"),
        Err(JunitError::Xml(_))
    ));
    assert_eq!(
        Junit::parse(b"<html/>"),
        Err(JunitError::Root("html".into()))
    );
    assert_eq!(Junit::parse(b"\xff\xfe"), Err(JunitError::NotUtf8));
    let huge = format!(
        "<testsuites>{}</testsuites>",
        "<testcase name=\"x\"/>".repeat(MAX_JUNIT / 10)
    );
    assert!(matches!(
        Junit::parse(huge.as_bytes()),
        Err(JunitError::TooLarge(n)) if n == huge.len()
    ));
}
