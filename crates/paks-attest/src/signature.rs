//! The paks signature: a signed statement that a publisher vouches for one build (its
//! manifest digest, as the subject) and for the attachments it lists by the digest of
//! their layer blobs (the SBOM, the provenance envelope).
//!
//! Listing layer digests, not artifact manifest digests, lets a verifier check an
//! attachment from its bytes alone, wherever they were copied (a registry, an `oci:`
//! layout, a static repository), and ties the unsigned SBOM to the publisher's key.

use paks_index::{PublicKey, SigningKey};
use paks_types::{Digest, PackageId, PackageName, Version};
use serde::{Deserialize, Serialize};

use crate::PAKS_SIGNATURE_V1;
use crate::dsse::Envelope;
use crate::statement::{PAYLOAD_TYPE, Statement, Subject};
use crate::verify::{VerifyError, predicate, verify_statement};

/// The package a signature is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPackage {
    pub name: PackageName,
    pub version: Version,
    pub id: PackageId,
}

impl SignedPackage {
    /// The package of the build `id`.
    pub fn of(id: &PackageId) -> Self {
        Self {
            name: id.name().clone(),
            version: id.version().clone(),
            id: id.clone(),
        }
    }
}

/// An attachment a signature vouches for: its artifact type and the digest of its layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedAttachment {
    pub artifact_type: String,
    pub digest: Digest,
}

/// The predicate of a [`PAKS_SIGNATURE_V1`] statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignaturePredicate {
    pub package: SignedPackage,
    #[serde(default)]
    pub attachments: Vec<SignedAttachment>,
}

/// The signature statement for the build `id` whose manifest is `manifest`.
pub fn statement(id: &PackageId, manifest: &Digest, attachments: &[SignedAttachment]) -> Statement {
    let predicate = SignaturePredicate {
        package: SignedPackage::of(id),
        attachments: attachments.to_vec(),
    };
    Statement::new(
        vec![Subject::new(id.to_string(), manifest)],
        PAKS_SIGNATURE_V1,
        serde_json::to_value(predicate).expect("a predicate serialises"),
    )
}

/// The signature of the build `id`, signed by `key`: the layer of a [`crate::SIGNATURE`] artifact.
pub fn sign(
    id: &PackageId,
    manifest: &Digest,
    attachments: &[SignedAttachment],
    key: &SigningKey,
) -> Envelope {
    Envelope::sign(
        PAYLOAD_TYPE,
        &statement(id, manifest, attachments).to_bytes(),
        key,
    )
}

/// What a verified signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFacts {
    /// The trusted key that signed it.
    pub key: PublicKey,
    pub package: SignedPackage,
    pub attachments: Vec<SignedAttachment>,
}

impl SignedFacts {
    /// Whether the signature vouches for a layer of `digest`.
    pub fn covers(&self, digest: &Digest) -> bool {
        self.attachments.iter().any(|a| &a.digest == digest)
    }
}

/// Verify a signature envelope (the layer of a [`crate::SIGNATURE`] artifact) for the build whose
/// manifest is `subject`, with the `trusted` keys. The caller compares
/// [`SignedFacts::package`] with the package it expects.
pub fn verify_signature(
    envelope: &[u8],
    subject: &Digest,
    trusted: &[PublicKey],
) -> Result<SignedFacts, VerifyError> {
    const WHAT: &str = "signature";
    let verified = verify_statement(envelope, subject, trusted, PAKS_SIGNATURE_V1, WHAT)?;
    let p: SignaturePredicate = predicate(&verified, WHAT)?;
    Ok(SignedFacts {
        key: verified.key,
        package: p.package,
        attachments: p.attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifyError;

    fn key() -> SigningKey {
        SigningKey::from_pem(&paks_index::generate_key().unwrap().private_pem).unwrap()
    }

    fn id() -> PackageId {
        format!("{}-hello-1.0.0", paks_types::id_hash(b"hello"))
            .parse()
            .unwrap()
    }

    #[test]
    fn a_signature_verifies_for_its_build_only() {
        let k = key();
        let trusted = [k.public_key().clone()];
        let manifest = Digest::sha256_of(b"manifest");
        let sbom = SignedAttachment {
            artifact_type: crate::SPDX_JSON.into(),
            digest: Digest::sha256_of(b"sbom"),
        };
        let env = sign(&id(), &manifest, std::slice::from_ref(&sbom), &k).to_bytes();
        let facts = verify_signature(&env, &manifest, &trusted).unwrap();
        assert_eq!(facts.key, *k.public_key());
        assert_eq!(facts.package.id, id());
        assert_eq!(facts.package.name.as_str(), "hello");
        assert!(facts.covers(&sbom.digest));
        assert!(!facts.covers(&manifest));

        let other = Digest::sha256_of(b"other manifest");
        let err = verify_signature(&env, &other, &trusted).unwrap_err();
        let VerifyError::Subject {
            keyid,
            expected,
            found,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(keyid, &k.public_key().keyid());
        assert_eq!(expected, &other);
        assert!(found.contains(manifest.hex()), "{found}");
        let text = err.to_string();
        assert!(
            text.contains(other.hex()) && text.contains(manifest.hex()),
            "{text}"
        );
    }

    #[test]
    fn the_same_inputs_sign_to_the_same_bytes() {
        // ed25519 signatures are deterministic: pushing twice attaches one signature.
        let k = key();
        let m = Digest::sha256_of(b"m");
        assert_eq!(
            sign(&id(), &m, &[], &k).to_bytes(),
            sign(&id(), &m, &[], &k).to_bytes()
        );
    }
}
