//! Test results: what happened when a build's own test script ran against that build,
//! installed, in a sandbox without network (`paks test`).
//!
//! The document is an in-toto [`Statement`] whose predicate ([`PAKS_TEST_RESULTS_V1`]) is a
//! [`TestResults`], whose subject is the build's manifest, signed into a DSSE envelope. Its
//! id is the envelope's digest, which is also the digest of the attachment's layer.
//!
//! The signature says who ran the test and vouches for what they report; it does not make
//! the runner's machine trustworthy. What it proves: the key's holder ran this build's test
//! script against this exact build (by digest) and saw this result.

use paks_index::{PublicKey, SigningKey};
use paks_types::{Digest, PackageId};
use serde::{Deserialize, Serialize};

use crate::dsse::Envelope;
use crate::statement::{PAYLOAD_TYPE, Statement, Subject};
use crate::verify::{VerifyError, verify_statement};
use crate::{DSSE_ENVELOPE, PAKS_TEST_RESULTS_V1, TEST_RESULTS};

/// The most output kept: the end of it, where a failure says why.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// The largest `JUnit` XML file kept in a result (and parsed); a larger one is reported as
/// a problem, not cut, since cut XML would not parse.
pub const MAX_JUNIT: usize = 1024 * 1024;
/// Where, below `$PAKS_TEST_OUTPUT`, a test script may write a `JUnit` XML report.
pub const JUNIT_FILE: &str = "junit.xml";

/// The artifact type of a test-results attachment.
pub const ARTIFACT_TYPE: &str = TEST_RESULTS;
/// The media type of its one layer.
pub const LAYER_MEDIA_TYPE: &str = DSSE_ENVELOPE;

/// The predicate of a test-results statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResults {
    /// The build tested.
    pub package: TestedPackage,
    /// `passed` exactly when the script exited with status 0.
    pub result: Verdict,
    /// The script's exit code; absent when a signal ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended the script, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// When the script started (RFC 3339, UTC, to the second).
    pub started: String,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// Who ran it, where.
    pub runner: Runner,
    /// How the script was confined.
    pub sandbox: SandboxFacts,
    /// The end of the script's output (stdout and stderr, interleaved).
    pub output: Output,
    /// The `JUnit` report the script wrote to `$PAKS_TEST_OUTPUT/junit.xml`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junit: Option<Junit>,
    /// Why a `JUnit` report that was written is not in `junit` (too large, not XML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junit_problem: Option<String>,
}

/// The build a result is about, by name (its subject names it by digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestedPackage {
    pub name: String,
    pub version: String,
    pub id: String,
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
}

impl Verdict {
    /// `passed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
        }
    }
}

/// The machine and program that ran a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runner {
    /// `paks/<version>`.
    pub tool: String,
    /// The CPU architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// The CPU microarchitecture (archspec name), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microarchitecture: Option<String>,
    /// The host's glibc version, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<String>,
}

/// How the test was confined: facts `paks test` guarantees, recorded so a reader of the
/// result does not have to know which version of paks ran it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxFacts {
    /// Whether the script could reach a network (never, for `paks test`).
    pub network: bool,
    /// Whether the package's prefix was read-only.
    pub read_only_prefix: bool,
}

/// The end of a script's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// At most [`MAX_OUTPUT`] bytes: the end (invalid UTF-8 replaced).
    pub text: String,
    /// Whether the beginning was cut off.
    pub truncated: bool,
    /// How many bytes the script wrote in all.
    pub bytes: u64,
}

impl Output {
    /// The last [`MAX_OUTPUT`] bytes of `all`, cut at a line start where one is near.
    pub fn from_bytes(all: &[u8]) -> Self {
        Self::from_end(all, all.len() as u64)
    }

    /// [`Output::from_bytes`] from the end of an output of `total` bytes (at least its
    /// last [`MAX_OUTPUT`] bytes; more are dropped), so a large log need not be read.
    pub fn from_end(end: &[u8], total: u64) -> Self {
        let end = &end[end.len().saturating_sub(MAX_OUTPUT)..];
        let truncated = total > end.len() as u64;
        let mut tail = end;
        if truncated {
            // Start on a whole line (and so never inside a UTF-8 sequence) unless the
            // one line is the whole tail.
            if let Some(nl) = tail.iter().position(|&b| b == b'\n') {
                tail = &tail[nl + 1..];
            }
        }
        Self {
            text: String::from_utf8_lossy(tail).into_owned(),
            truncated,
            bytes: total,
        }
    }
}

/// A `JUnit` XML report and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Junit {
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
    /// The report itself.
    pub xml: String,
}

/// Why a `JUnit` report could not be kept.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JunitError {
    #[error("the JUnit report is larger than {MAX_JUNIT} bytes ({0} bytes)")]
    TooLarge(usize),
    #[error("the JUnit report is not UTF-8")]
    NotUtf8,
    #[error("the JUnit report is not well-formed XML: {0}")]
    Xml(String),
    #[error("the JUnit report's root is `<{0}>`, not `<testsuites>` or `<testsuite>`")]
    Root(String),
}

impl Junit {
    /// Parse a report (at most [`MAX_JUNIT`] bytes). Counts are the `<testcase>` elements
    /// and those holding a `<failure>`, `<error>` or `<skipped>`; a report without test
    /// cases counts by its innermost suites' `tests`, `failures`, `errors` and `skipped`
    /// attributes (some tools write only totals).
    pub fn parse(bytes: &[u8]) -> Result<Self, JunitError> {
        if bytes.len() > MAX_JUNIT {
            return Err(JunitError::TooLarge(bytes.len()));
        }
        let xml = std::str::from_utf8(bytes).map_err(|_| JunitError::NotUtf8)?;
        let doc = roxmltree::Document::parse(xml).map_err(|e| JunitError::Xml(e.to_string()))?;
        let root = doc.root_element();
        let root_name = root.tag_name().name();
        if root_name != "testsuites" && root_name != "testsuite" {
            return Err(JunitError::Root(root_name.to_owned()));
        }
        let named =
            |n: &roxmltree::Node<'_, '_>, name: &str| n.is_element() && n.tag_name().name() == name;
        let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
        for case in root.descendants().filter(|n| named(n, "testcase")) {
            tests += 1;
            let has = |name: &str| case.children().any(|c| named(&c, name));
            if has("failure") {
                failures += 1;
            } else if has("error") {
                errors += 1;
            } else if has("skipped") {
                skipped += 1;
            }
        }
        if tests == 0 {
            let leaves = root.descendants().filter(|n| {
                named(n, "testsuite") && !n.descendants().skip(1).any(|c| named(&c, "testsuite"))
            });
            for suite in leaves {
                let count = |attr: &str| {
                    suite
                        .attribute(attr)
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                };
                tests += count("tests");
                failures += count("failures");
                errors += count("errors");
                skipped += count("skipped");
            }
        }
        Ok(Self {
            tests,
            failures,
            errors,
            skipped,
            xml: xml.to_owned(),
        })
    }
}

impl TestResults {
    /// The statement: this predicate about the build whose manifest is `manifest`.
    pub fn statement(&self, manifest: &Digest) -> Statement {
        Statement::new(
            vec![Subject::new(self.package.id.clone(), manifest)],
            PAKS_TEST_RESULTS_V1,
            serde_json::to_value(self).expect("test results serialise"),
        )
    }

    /// The statement, signed by `key`.
    pub fn sign(&self, manifest: &Digest, key: &SigningKey) -> Envelope {
        Envelope::sign(PAYLOAD_TYPE, &self.statement(manifest).to_bytes(), key)
    }

    /// The statement in an envelope without signatures, for a run that is not attached:
    /// it has an id and can be read, but verifies for nobody.
    pub fn unsigned(&self, manifest: &Digest) -> Envelope {
        Envelope {
            payload: data_encoding::BASE64.encode(&self.statement(manifest).to_bytes()),
            payload_type: PAYLOAD_TYPE.to_owned(),
            signatures: Vec::new(),
        }
    }

    /// Read a test-results attachment's layer: one of `trusted` signed it, it is about
    /// `manifest`, and its predicate parses. Returns the results and the signer. The same
    /// checks as every other signed attachment ([`verify_statement`]).
    pub fn verify(
        layer: &[u8],
        trusted: &[PublicKey],
        manifest: &Digest,
    ) -> Result<(Self, PublicKey), VerifyError> {
        const WHAT: &str = "test result";
        let v = verify_statement(layer, manifest, trusted, PAKS_TEST_RESULTS_V1, WHAT)?;
        let results: Self =
            serde_json::from_value(v.statement.predicate).map_err(|e| VerifyError::Predicate {
                what: WHAT,
                keyid: v.key.keyid(),
                reason: e.to_string(),
            })?;
        Ok((results, v.key))
    }
}

/// The id of a result: the digest of its envelope's bytes (the attachment's layer).
pub fn result_id(envelope: &Envelope) -> Digest {
    Digest::sha256_of(&envelope.to_bytes())
}

impl TestedPackage {
    /// The package `id` names.
    pub fn of(id: &PackageId) -> Self {
        Self {
            name: id.name().to_string(),
            version: id.version().to_string(),
            id: id.to_string(),
        }
    }
}
