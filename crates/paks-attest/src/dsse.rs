//! DSSE envelopes (Dead Simple Signing Envelope, v1.0): a payload, its type, and ed25519
//! signatures over the pre-authentication encoding of both, so a signature cannot be
//! replayed for another payload type.
//!
//! Key ids are paks' ([`PublicKey::keyid`]: sha256 of the raw key, hex). A verifier
//! matches signatures to trusted keys by key id, and tries every trusted key for a
//! signature without one (DSSE makes `keyid` optional).

use data_encoding::BASE64;
use paks_index::{PublicKey, SigningKey};
use serde::{Deserialize, Serialize};

/// The largest envelope read: statements are small documents.
pub const MAX_ENVELOPE: usize = 4 << 20;

/// A DSSE envelope, in its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload, base64 (standard alphabet, padded).
    pub payload: String,
    /// What the payload is (`application/vnd.in-toto+json` for statements).
    pub payload_type: String,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The signing key's id; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// The signature, base64.
    pub sig: String,
}

/// Why an envelope was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DsseError {
    #[error("the envelope is not valid DSSE JSON: {0}")]
    Json(String),
    #[error("the envelope is larger than {MAX_ENVELOPE} bytes")]
    TooLarge,
    #[error("the envelope's payload is not valid base64")]
    Payload,
    #[error("the envelope carries payload type `{found}`, expected `{expected}`")]
    PayloadType { found: String, expected: String },
    #[error("the envelope has no signatures")]
    Unsigned,
    #[error("the envelope is signed only by keys that are not trusted (key ids: {})", keyids.join(", "))]
    UnknownKey { keyids: Vec<String> },
    #[error(
        "the signature by trusted key `{keyid}` does not verify: the envelope was modified or signed by another key"
    )]
    BadSignature { keyid: String },
}

/// The pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// An envelope of `payload`, signed by `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Self {
        let sig = key.sign_bytes(&pae(payload_type, payload));
        Self {
            payload: BASE64.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: key.public_key().keyid(),
                sig: BASE64.encode(&sig),
            }],
        }
    }

    /// Parse an envelope's JSON (at most [`MAX_ENVELOPE`] bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self, DsseError> {
        if bytes.len() > MAX_ENVELOPE {
            return Err(DsseError::TooLarge);
        }
        serde_json::from_slice(bytes).map_err(|e| DsseError::Json(e.to_string()))
    }

    /// The JSON bytes (compact).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serialises")
    }

    /// The payload, decoded, without checking any signature: for showing an envelope.
    pub fn payload_unverified(&self) -> Result<Vec<u8>, DsseError> {
        BASE64
            .decode(self.payload.as_bytes())
            .map_err(|_| DsseError::Payload)
    }

    /// Check that one of `trusted` signed this envelope, and that its payload is of
    /// `payload_type`. Returns the payload and the key that signed it.
    pub fn verify<'k>(
        &self,
        payload_type: &str,
        trusted: &'k [PublicKey],
    ) -> Result<(Vec<u8>, &'k PublicKey), DsseError> {
        if self.payload_type != payload_type {
            return Err(DsseError::PayloadType {
                found: self.payload_type.clone(),
                expected: payload_type.to_owned(),
            });
        }
        let payload = self.payload_unverified()?;
        if self.signatures.is_empty() {
            return Err(DsseError::Unsigned);
        }
        let message = pae(&self.payload_type, &payload);
        let mut bad = None;
        for s in &self.signatures {
            let Ok(sig) = BASE64.decode(s.sig.as_bytes()) else {
                continue;
            };
            for key in trusted
                .iter()
                .filter(|k| s.keyid.is_empty() || k.keyid() == s.keyid)
            {
                if key.verifies(&message, &sig) {
                    return Ok((payload, key));
                }
                bad = Some(key.keyid());
            }
        }
        Err(match bad {
            Some(keyid) => DsseError::BadSignature { keyid },
            None => DsseError::UnknownKey {
                keyids: self.signatures.iter().map(|s| s.keyid.clone()).collect(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IN_TOTO_JSON;

    fn key() -> SigningKey {
        SigningKey::from_pem(&paks_index::generate_key().unwrap().private_pem).unwrap()
    }

    #[test]
    fn pae_matches_the_spec_example() {
        // The DSSE protocol document's example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn signed_envelopes_verify_and_modified_ones_do_not() {
        let k = key();
        let trusted = [k.public_key().clone()];
        let env = Envelope::sign(IN_TOTO_JSON, b"{\"a\":1}", &k);
        let parsed = Envelope::parse(&env.to_bytes()).unwrap();
        let (payload, by) = parsed.verify(IN_TOTO_JSON, &trusted).unwrap();
        assert_eq!(payload, b"{\"a\":1}");
        assert_eq!(by, k.public_key());

        let mut changed = env.clone();
        changed.payload = BASE64.encode(b"{\"a\":2}");
        assert!(matches!(
            changed.verify(IN_TOTO_JSON, &trusted),
            Err(DsseError::BadSignature { .. })
        ));
        let mut retyped = env.clone();
        retyped.payload_type = "text/plain".into();
        assert!(matches!(
            retyped.verify("text/plain", &trusted),
            Err(DsseError::BadSignature { .. })
        ));
        assert!(matches!(
            env.verify("text/plain", &trusted),
            Err(DsseError::PayloadType { .. })
        ));
        let other = [key().public_key().clone()];
        assert!(matches!(
            env.verify(IN_TOTO_JSON, &other),
            Err(DsseError::UnknownKey { .. })
        ));
        let mut unsigned = env;
        unsigned.signatures.clear();
        assert_eq!(
            unsigned.verify(IN_TOTO_JSON, &trusted),
            Err(DsseError::Unsigned)
        );
    }
}
