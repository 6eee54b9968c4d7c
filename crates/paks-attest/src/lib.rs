//! Evidence about packages, and the policy that checks it.
//!
//! A build can carry attachments in the registry, each an OCI artifact whose `subject` is
//! the build's manifest (see `docs/trust.md`):
//!
//! | what | `artifactType` | the layer |
//! | --- | --- | --- |
//! | SBOM | [`SPDX_JSON`] (or [`CYCLONEDX_JSON`]) | the document, unsigned |
//! | provenance | [`IN_TOTO_JSON`] | a [`dsse::Envelope`] of an in-toto [`Statement`] with the SLSA Provenance v1 predicate |
//! | signature | [`SIGNATURE`] | a [`dsse::Envelope`] of a [`Statement`] ([`PAKS_SIGNATURE_V1`]) naming the build and the digests of the attachments it vouches for |
//! | test results | [`TEST_RESULTS`] | a [`dsse::Envelope`] of a [`Statement`] ([`PAKS_TEST_RESULTS_V1`]) |
//!
//! Every statement's subject is the build's manifest digest, so evidence copied from
//! another build does not verify.

pub mod components;
pub mod dsse;
pub mod osv;
pub mod policy;
pub mod provenance;
pub mod sbom;
pub mod sbom_diff;
pub mod signature;
pub mod statement;
pub mod test_results;
pub mod verify;

pub use dsse::{DsseError, Envelope};
pub use policy::{Require, Requirement, Verdict, judge};
pub use statement::{Statement, StatementError, Subject};
pub use verify::VerifyError;

/// The artifact type (and layer media type) of an SPDX 2.3 JSON SBOM.
pub const SPDX_JSON: &str = "application/spdx+json";
/// The artifact type (and layer media type) of a `CycloneDX` JSON SBOM.
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
/// The artifact type of provenance: an in-toto statement in a DSSE envelope.
pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";
/// The media type of a layer that holds a DSSE envelope.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The artifact type of a paks signature.
pub const SIGNATURE: &str = "application/vnd.paks.signature.v1+json";
/// The artifact type of a test-results document.
pub const TEST_RESULTS: &str = "application/vnd.paks.test-results.v1+json";

/// The in-toto Statement v1 `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The SLSA Provenance v1 predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The predicate type of a paks signature statement.
pub const PAKS_SIGNATURE_V1: &str = "https://paks.dev/attestations/signature/v1";
/// The predicate type of a paks test-results statement.
pub const PAKS_TEST_RESULTS_V1: &str = "https://paks.dev/attestations/test-results/v1";
