//! The trust policy: which evidence a build must carry before it is installed, and the
//! judgement of one build's attachments against it.
//!
//! Pure: the caller gathers the attachments (from a registry's referrers or a static
//! repository) and the trusted keys; [`judge`] reads only what it is given.
//!
//! | requirement | passes when |
//! | --- | --- |
//! | `signed` | a signature envelope verifies with a trusted key, its statement's subject is the build and its package id is this one |
//! | `provenance` | an in-toto envelope verifies with a trusted key and holds SLSA Provenance v1 for the build |
//! | `tested` | a test-results envelope verifies with a trusted key, is about the build, and its result is `passed` |
//! | `sbom` | an SBOM is attached whose layer digest a passing signature lists |

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use paks_index::PublicKey;
use paks_oci::Descriptor;
use paks_types::{Digest, PackageId};
use serde::{Deserialize, Serialize};

use crate::provenance::verify_provenance;
use crate::signature::{SignedFacts, verify_signature};
use crate::test_results::{TestResults, Verdict as TestVerdict};
use crate::{CYCLONEDX_JSON, IN_TOTO_JSON, SIGNATURE, SPDX_JSON, TEST_RESULTS};

/// One kind of evidence a policy can demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    Signed,
    Provenance,
    Tested,
    Sbom,
}

impl Requirement {
    /// Every requirement, in the order verdicts list them.
    pub const ALL: [Self; 4] = [Self::Signed, Self::Provenance, Self::Tested, Self::Sbom];

    /// The word users write (`signed`, `provenance`, `tested`, `sbom`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Provenance => "provenance",
            Self::Tested => "tested",
            Self::Sbom => "sbom",
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a requirement list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error(
        "`{0}` is not a requirement: expected `signed`, `provenance`, `tested` or `sbom` (comma-separated), or `none`"
    )]
    Unknown(String),
    #[error(
        "the requirement list is empty: name at least one of `signed`, `provenance`, `tested`, `sbom`, or `none`"
    )]
    Empty,
}

impl FromStr for Requirement {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PolicyError::Unknown(s.to_owned()))
    }
}

/// A set of requirements (`signed,tested`); `none` is the empty set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Require(BTreeSet<Requirement>);

impl Require {
    /// The requirements in `items`.
    pub fn new(items: impl IntoIterator<Item = Requirement>) -> Self {
        Self(items.into_iter().collect())
    }

    pub fn contains(&self, r: Requirement) -> bool {
        self.0.contains(&r)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The requirements, in [`Requirement::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = Requirement> + '_ {
        self.0.iter().copied()
    }

    /// Whether an attachment of `artifact_type` can count for one of these requirements
    /// (an SBOM counts only through a signature listing it), so a client judging only
    /// this policy need not download the others (SBOMs are the large ones).
    pub fn needs(&self, artifact_type: &str) -> bool {
        self.iter().any(|r| {
            is_kind(r, artifact_type) || (r == Requirement::Sbom && artifact_type == SIGNATURE)
        })
    }
}

impl FromStr for Require {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        match words.as_slice() {
            [] => Err(PolicyError::Empty),
            ["none"] => Ok(Self::default()),
            _ => words
                .iter()
                .map(|w| w.parse())
                .collect::<Result<_, _>>()
                .map(Self),
        }
    }
}

impl fmt::Display for Require {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let words: Vec<&str> = self.iter().map(Requirement::as_str).collect();
        f.write_str(&words.join(","))
    }
}

/// One attachment of a build, as read from where the build is stored.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The descriptor of the attachment's manifest (its digest names it).
    pub descriptor: Descriptor,
    /// The manifest's `artifactType`.
    pub artifact_type: String,
    /// The layer's bytes, already checked against the layer's digest by the reader.
    pub layer: Vec<u8>,
}

impl Attachment {
    /// The digest of the layer blob, as signatures list it.
    pub fn layer_digest(&self) -> Digest {
        Digest::sha256_of(&self.layer)
    }
}

/// Everything found attached to one build.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub attachments: Vec<Attachment>,
    /// Referrers that are listed but could not be read (a deleted manifest, a missing or
    /// corrupt blob), with why: reported, never trusted.
    pub unreadable: Vec<(Descriptor, String)>,
}

/// What one requirement came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Proved by the attachment `digest`, signed by `keyid`; `detail` says how.
    Pass {
        keyid: String,
        digest: Digest,
        detail: String,
    },
    /// Attachments of this kind exist but none proves it.
    Fail { reason: String },
    /// Nothing of this kind is attached.
    Missing { reason: String },
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self, Self::Pass { .. })
    }

    /// The sentence a user reads: how it passed, or why not.
    pub fn message(&self) -> &str {
        match self {
            Self::Pass { detail, .. } => detail,
            Self::Fail { reason } | Self::Missing { reason } => reason,
        }
    }
}

/// One requirement's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub requirement: Requirement,
    /// Whether the policy demands it (others are judged and reported all the same).
    pub required: bool,
    pub outcome: Outcome,
}

/// The judgement of one build: a [`Check`] for every kind of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub checks: Vec<Check>,
}

impl Verdict {
    /// Whether every required check passed.
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The required checks that did not pass.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.required && !c.outcome.passed())
    }

    /// The check of `r`.
    pub fn get(&self, r: Requirement) -> &Check {
        self.checks
            .iter()
            .find(|c| c.requirement == r)
            .expect("a verdict checks every requirement")
    }
}

/// A signature that verified for this build and package, with what it vouches for.
struct Signature<'a> {
    attachment: &'a Attachment,
    facts: SignedFacts,
}

fn signature<'a>(
    a: &'a Attachment,
    subject: &Digest,
    package: &PackageId,
    trusted: &[PublicKey],
) -> Result<Signature<'a>, String> {
    let facts = verify_signature(&a.layer, subject, trusted).map_err(|e| reason(&e))?;
    if facts.package.id != *package {
        return Err(format!(
            "it signs the package `{}`, not `{package}`: it was made for another package",
            facts.package.id
        ));
    }
    Ok(Signature {
        attachment: a,
        facts,
    })
}

/// An error and its causes, as one sentence.
fn reason(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// The name users read for attachments of `artifact_type`.
fn kind_name(r: Requirement) -> &'static str {
    match r {
        Requirement::Signed => "signature",
        Requirement::Provenance => "provenance",
        Requirement::Tested => "test result",
        Requirement::Sbom => "SBOM",
    }
}

fn is_kind(r: Requirement, artifact_type: &str) -> bool {
    match r {
        Requirement::Signed => artifact_type == SIGNATURE,
        Requirement::Provenance => artifact_type == IN_TOTO_JSON,
        Requirement::Tested => artifact_type == TEST_RESULTS,
        Requirement::Sbom => artifact_type == SPDX_JSON || artifact_type == CYCLONEDX_JSON,
    }
}

/// Judge `evidence`, the attachments of the build whose manifest is `subject` and whose
/// package id is `package`, against `require`, trusting only `trusted`.
pub fn judge(
    subject: &Digest,
    package: &PackageId,
    evidence: &Evidence,
    trusted: &[PublicKey],
    require: &Require,
) -> Verdict {
    let of = |r: Requirement| {
        evidence
            .attachments
            .iter()
            .filter(move |a| is_kind(r, &a.artifact_type))
    };
    let mut signatures = Vec::new();
    let mut signature_errors = Vec::new();
    for a in of(Requirement::Signed) {
        match signature(a, subject, package, trusted) {
            Ok(s) => signatures.push(s),
            Err(e) => signature_errors.push((a, e)),
        }
    }
    let checks = Requirement::ALL
        .into_iter()
        .map(|r| {
            let outcome = match r {
                Requirement::Signed => signed(&signatures, &signature_errors),
                Requirement::Provenance => provenance(of(r), subject, trusted),
                Requirement::Tested => tested(of(r), subject, trusted),
                Requirement::Sbom => sbom(of(r), &signatures, &signature_errors),
            };
            let outcome = with_unreadable(outcome, r, evidence);
            Check {
                requirement: r,
                required: require.contains(r),
                outcome,
            }
        })
        .collect();
    Verdict { checks }
}

/// Reasons for several refused attachments, one clause each.
fn refused(kind: &str, errors: &[(&Attachment, String)]) -> String {
    errors
        .iter()
        .map(|(a, e)| format!("{kind} `{}` is refused: {e}", a.descriptor.digest))
        .collect::<Vec<_>>()
        .join("; ")
}

fn signed(signatures: &[Signature<'_>], errors: &[(&Attachment, String)]) -> Outcome {
    if let Some(s) = signatures.first() {
        let keyid = s.facts.key.keyid();
        return Outcome::Pass {
            detail: format!(
                "signed by trusted key `{keyid}` (signature `{}`)",
                s.attachment.descriptor.digest
            ),
            keyid,
            digest: s.attachment.descriptor.digest.clone(),
        };
    }
    if errors.is_empty() {
        return Outcome::Missing {
            reason: "no signature is attached".to_owned(),
        };
    }
    Outcome::Fail {
        reason: refused("signature", errors),
    }
}

/// The first of `attachments` that `prove` accepts (giving the signing key's id and how it
/// passed), else why each was refused.
fn first_proof<'a>(
    attachments: impl Iterator<Item = &'a Attachment>,
    r: Requirement,
    prove: impl Fn(&Attachment) -> Result<(String, String), String>,
) -> Outcome {
    let mut errors = Vec::new();
    for a in attachments {
        match prove(a) {
            Ok((keyid, detail)) => {
                return Outcome::Pass {
                    keyid,
                    digest: a.descriptor.digest.clone(),
                    detail,
                };
            }
            Err(e) => errors.push((a, e)),
        }
    }
    let kind = kind_name(r);
    if errors.is_empty() {
        return Outcome::Missing {
            reason: format!("no {kind} is attached"),
        };
    }
    Outcome::Fail {
        reason: refused(kind, &errors),
    }
}

/// `provenance`: SLSA v1 provenance about this build, signed by a trusted key.
fn provenance<'a>(
    attachments: impl Iterator<Item = &'a Attachment>,
    subject: &Digest,
    trusted: &[PublicKey],
) -> Outcome {
    first_proof(attachments, Requirement::Provenance, |a| {
        let p = verify_provenance(&a.layer, subject, trusted).map_err(|e| reason(&e))?;
        let keyid = p.key.keyid();
        let detail = format!(
            "built by `{}` (provenance `{}`, signed by trusted key `{keyid}`)",
            p.predicate.run_details.builder.id, a.descriptor.digest
        );
        Ok((keyid, detail))
    })
}

/// `tested`: a test result about this build that says `passed`, signed by a trusted key.
fn tested<'a>(
    attachments: impl Iterator<Item = &'a Attachment>,
    subject: &Digest,
    trusted: &[PublicKey],
) -> Outcome {
    first_proof(attachments, Requirement::Tested, |a| {
        let (results, key) =
            TestResults::verify(&a.layer, trusted, subject).map_err(|e| reason(&e))?;
        let keyid = key.keyid();
        if results.result != TestVerdict::Passed {
            return Err(format!(
                "the tests did not pass (result `{}`, signed by key `{keyid}`)",
                results.result.as_str()
            ));
        }
        let detail = format!(
            "tests passed (result `{}`, signed by trusted key `{keyid}`)",
            a.descriptor.digest
        );
        Ok((keyid, detail))
    })
}

/// `sbom`: an SBOM whose layer a trusted signature of this build lists.
fn sbom<'a>(
    attachments: impl Iterator<Item = &'a Attachment>,
    signatures: &[Signature<'_>],
    signature_errors: &[(&Attachment, String)],
) -> Outcome {
    let sboms: Vec<&Attachment> = attachments.collect();
    for a in &sboms {
        let layer = a.layer_digest();
        if let Some(s) = signatures.iter().find(|s| s.facts.covers(&layer)) {
            let keyid = s.facts.key.keyid();
            return Outcome::Pass {
                detail: format!(
                    "SBOM `{}` is listed by signature `{}` (trusted key `{keyid}`)",
                    a.descriptor.digest, s.attachment.descriptor.digest
                ),
                keyid,
                digest: a.descriptor.digest.clone(),
            };
        }
    }
    // What the signatures vouch for as an SBOM but is not here: a removed attachment.
    let vouched: Vec<String> = signatures
        .iter()
        .flat_map(|s| &s.facts.attachments)
        .filter(|a| is_kind(Requirement::Sbom, &a.artifact_type))
        .map(|a| format!("`{}`", a.digest))
        .collect();
    let removed = if vouched.is_empty() {
        String::new()
    } else {
        format!(
            " (the signature lists the SBOM layer {}, which is not attached: it was removed)",
            vouched.join(", ")
        )
    };
    if sboms.is_empty() {
        return Outcome::Missing {
            reason: format!("no SBOM is attached{removed}"),
        };
    }
    let why = if signatures.is_empty() {
        if signature_errors.is_empty() {
            "no signature is attached to vouch for it".to_owned()
        } else {
            format!(
                "no trusted signature vouches for it ({})",
                refused("signature", signature_errors)
            )
        }
    } else {
        format!("no trusted signature lists its layer{removed}")
    };
    Outcome::Fail {
        reason: format!(
            "SBOM `{}` is not vouched for: {why}",
            sboms[0].descriptor.digest
        ),
    }
}

/// When nothing of kind `r` passed, name the listed attachments of that kind that could not
/// be read: the reason a user needs when a referrer was deleted from the registry.
fn with_unreadable(outcome: Outcome, r: Requirement, evidence: &Evidence) -> Outcome {
    let lost: Vec<String> = evidence
        .unreadable
        .iter()
        .filter(|(d, _)| d.artifact_type.as_deref().is_some_and(|t| is_kind(r, t)))
        .map(|(d, why)| {
            format!(
                "{} `{}` is listed but cannot be read: {why}",
                kind_name(r),
                d.digest
            )
        })
        .collect();
    if lost.is_empty() {
        return outcome;
    }
    let lost = lost.join("; ");
    match outcome {
        Outcome::Missing { reason } | Outcome::Fail { reason } => Outcome::Fail {
            reason: format!("{reason}; {lost}"),
        },
        pass @ Outcome::Pass { .. } => pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_needs_only_the_attachments_it_judges() {
        let r: Require = "signed,tested".parse().unwrap();
        assert!(r.needs(SIGNATURE) && r.needs(TEST_RESULTS));
        assert!(!r.needs(SPDX_JSON) && !r.needs(IN_TOTO_JSON));
        let sbom: Require = "sbom".parse().unwrap();
        assert!(sbom.needs(SPDX_JSON) && sbom.needs(CYCLONEDX_JSON) && sbom.needs(SIGNATURE));
        assert!(!sbom.needs(TEST_RESULTS));
        let none: Require = "none".parse().unwrap();
        assert!(!none.needs(SIGNATURE));
    }

    #[test]
    fn requirement_lists_parse_and_name_the_bad_word() {
        let r: Require = "signed, tested".parse().unwrap();
        assert!(r.contains(Requirement::Signed) && r.contains(Requirement::Tested));
        assert!(!r.contains(Requirement::Sbom));
        assert_eq!(r.to_string(), "signed,tested");
        assert_eq!(
            "sbom,signed,sbom".parse::<Require>().unwrap().to_string(),
            "signed,sbom"
        );
        assert!("none".parse::<Require>().unwrap().is_empty());
        assert_eq!(Require::default().to_string(), "none");
        let e = "signed,tsted".parse::<Require>().unwrap_err();
        assert_eq!(e, PolicyError::Unknown("tsted".into()));
        assert!(e.to_string().contains("`tsted`"), "{e}");
        assert_eq!(" , ".parse::<Require>().unwrap_err(), PolicyError::Empty);
        assert!(matches!(
            "none,signed".parse::<Require>(),
            Err(PolicyError::Unknown(w)) if w == "none"
        ));
    }
}
