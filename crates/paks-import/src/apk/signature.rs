//! The signature stream: `.SIGN.RSA.<key>` (RSA PKCS#1 v1.5 over sha1) or
//! `.SIGN.RSA256.<key>` (over sha256) of the next stream's compressed bytes.

use rsa::Pkcs1v15Sign;
use sha1::Sha1;
use sha2::Sha256;

use crate::apk::streams::{Member, StreamDigests};
use crate::apk::{ApkError, Keyring};

/// The digest a signature was made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// `.SIGN.RSA.`: RSA PKCS#1 v1.5 with sha1 (what abuild has long written).
    RsaSha1,
    /// `.SIGN.RSA256.`: RSA PKCS#1 v1.5 with sha256.
    RsaSha256,
}

/// What the signature check found. A signature by a trusted key that does not match is
/// never a status: it is [`ApkError::BadSignature`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// A trusted key's signature matches.
    Verified {
        key: String,
        algorithm: SignatureAlgorithm,
    },
    /// There is no signature stream.
    Unsigned,
    /// Signed only by keys the keyring does not hold (their names, in stream order).
    UntrustedKey { keys: Vec<String> },
}

impl SignatureStatus {
    /// `Ok` only for [`SignatureStatus::Verified`]; `what` names the signed thing in errors.
    pub fn require_trusted(&self, what: &'static str) -> Result<(), ApkError> {
        match self {
            Self::Verified { .. } => Ok(()),
            Self::Unsigned => Err(ApkError::Unsigned { what }),
            Self::UntrustedKey { keys } => Err(ApkError::UntrustedKey {
                what,
                keys: keys.join("`, `"),
            }),
        }
    }
}

/// One signature of a signature stream.
pub(crate) struct Signature {
    key: String,
    algorithm: Option<SignatureAlgorithm>,
    bytes: Vec<u8>,
}

/// `true` when a stream's first file is a signature: the stream is then a signature stream.
pub(crate) fn is_signature_stream(members: &[Member]) -> bool {
    members
        .first()
        .is_some_and(|m| m.name.starts_with(".SIGN."))
}

/// The signatures of a signature stream; every file in it must be one.
pub(crate) fn parse(members: Vec<Member>) -> Result<Vec<Signature>, ApkError> {
    members
        .into_iter()
        .map(|member| {
            let (algorithm, key) = if let Some(key) = member.name.strip_prefix(".SIGN.RSA.") {
                (Some(SignatureAlgorithm::RsaSha1), key)
            } else if let Some(key) = member.name.strip_prefix(".SIGN.RSA256.") {
                (Some(SignatureAlgorithm::RsaSha256), key)
            } else if let Some(rest) = member.name.strip_prefix(".SIGN.") {
                // Other schemes (the old DSA one) are skipped, as apk skips them; the key
                // name is what follows the scheme.
                (None, rest.split_once('.').map_or(rest, |(_, key)| key))
            } else {
                return Err(ApkError::UnexpectedEntry {
                    stream: "signature",
                    name: member.name,
                });
            };
            Ok(Signature {
                key: key.to_owned(),
                algorithm,
                bytes: member.data,
            })
        })
        .collect()
}

/// Checks `signatures` (none: unsigned) over a stream with `digests`: the first signature
/// by a trusted key decides, as in apk.
pub(crate) fn check(
    signatures: Option<&[Signature]>,
    digests: &StreamDigests,
    keyring: &Keyring,
    stream: &'static str,
) -> Result<SignatureStatus, ApkError> {
    let Some(signatures) = signatures.filter(|s| !s.is_empty()) else {
        return Ok(SignatureStatus::Unsigned);
    };
    for signature in signatures {
        let (Some(algorithm), Some(key)) = (signature.algorithm, keyring.get(&signature.key))
        else {
            continue;
        };
        let verified = match algorithm {
            SignatureAlgorithm::RsaSha1 => {
                key.verify(Pkcs1v15Sign::new::<Sha1>(), &digests.sha1, &signature.bytes)
            }
            SignatureAlgorithm::RsaSha256 => key.verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &digests.sha256,
                &signature.bytes,
            ),
        };
        return match verified {
            Ok(()) => Ok(SignatureStatus::Verified {
                key: signature.key.clone(),
                algorithm,
            }),
            Err(_) => Err(ApkError::BadSignature {
                key: signature.key.clone(),
                stream,
            }),
        };
    }
    Ok(SignatureStatus::UntrustedKey {
        keys: signatures.iter().map(|s| s.key.clone()).collect(),
    })
}
