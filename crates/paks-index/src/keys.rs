//! Ed25519 keys, signing and verification.
//!
//! - A private key file is PKCS#8 in PEM (`-----BEGIN PRIVATE KEY-----`), as `openssl
//!   genpkey -algorithm ed25519` writes it; paks writes it with mode 0600.
//! - A public key is one line, `paks-ed25519 <base64 of the raw 32-byte key>`, easy to
//!   paste into a configuration; a `-----BEGIN PUBLIC KEY-----` PEM (SPKI) is read too.
//! - A key id is the sha256, in lower-case hex, of the raw 32-byte public key.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use data_encoding::BASE64;
use paks_types::Digest;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use crate::error::{IndexError, IndexErrorKind, io_err};
use crate::schema::{Index, Signature, SignedIndex};
use crate::trust::TrustError;

/// The prefix of the one-line public key form.
pub const PUBLIC_KEY_PREFIX: &str = "paks-ed25519";

/// The DER prefix of an ed25519 `SubjectPublicKeyInfo` (RFC 8410), before the raw key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// An ed25519 public key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    raw: [u8; 32],
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.keyid())
    }
}

impl fmt::Display for PublicKey {
    /// `paks-ed25519 <base64>`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX} {}", BASE64.encode(&self.raw))
    }
}

impl PublicKey {
    /// A key from its raw 32 bytes.
    pub fn from_raw(raw: [u8; 32]) -> Self {
        Self { raw }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.raw
    }

    /// Parse `paks-ed25519 <base64>` or a `PUBLIC KEY` PEM; surrounding whitespace and
    /// `#` comment lines are ignored.
    pub fn parse(text: &str) -> Result<Self, IndexError> {
        let bad = |reason: &str| {
            IndexError::from(IndexErrorKind::Key {
                what: text.trim().chars().take(80).collect(),
                reason: reason.to_owned(),
            })
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let raw = if let Some(der) = pem_body(&lines, "PUBLIC KEY") {
            let der = der.map_err(|()| bad("the PEM body is not valid base64"))?;
            der.strip_prefix(&SPKI_PREFIX[..])
                .ok_or_else(|| bad("the PEM holds no ed25519 public key"))?
                .to_vec()
        } else {
            let [line] = lines.as_slice() else {
                return Err(bad(&format!(
                    "expected one line `{PUBLIC_KEY_PREFIX} <base64>` or a `PUBLIC KEY` PEM"
                )));
            };
            let b64 = line
                .strip_prefix(PUBLIC_KEY_PREFIX)
                .filter(|rest| rest.starts_with([' ', '\t']))
                .ok_or_else(|| bad(&format!("expected `{PUBLIC_KEY_PREFIX} <base64>`")))?;
            BASE64
                .decode(b64.trim().as_bytes())
                .map_err(|_| bad("the key is not valid base64"))?
        };
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| bad("an ed25519 public key is 32 bytes"))?;
        Ok(Self { raw })
    }

    /// Read a public key file.
    pub fn load(path: &Path) -> Result<Self, IndexError> {
        let text = fs_err::read_to_string(path).map_err(io_err("read", path))?;
        Self::parse(&text).map_err(|e| match e.kind() {
            IndexErrorKind::Key { reason, .. } => IndexErrorKind::Key {
                what: path.display().to_string(),
                reason: reason.clone(),
            }
            .into(),
            _ => e,
        })
    }

    /// The sha256, in lower-case hex, of the raw key.
    pub fn keyid(&self) -> String {
        Digest::sha256_of(&self.raw).hex().to_owned()
    }

    /// Whether `sig` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.raw)
            .verify(message, sig)
            .is_ok()
    }
}

/// An ed25519 private key, for signing indexes.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parse a PKCS#8 PEM (`PRIVATE KEY`), v1 (OpenSSL) or v2 (ring).
    pub fn from_pem(pem: &str) -> Result<Self, IndexError> {
        let bad = |reason: &str| {
            IndexError::from(IndexErrorKind::Key {
                what: "private key".into(),
                reason: reason.to_owned(),
            })
        };
        let lines: Vec<&str> = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let der = pem_body(&lines, "PRIVATE KEY")
            .ok_or_else(|| bad("expected a `-----BEGIN PRIVATE KEY-----` PEM (PKCS#8)"))?
            .map_err(|()| bad("the PEM body is not valid base64"))?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| bad(&format!("not an ed25519 PKCS#8 key ({e})")))?;
        let raw: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .expect("ed25519 public keys are 32 bytes");
        Ok(Self {
            pair,
            public: PublicKey { raw },
        })
    }

    /// Read a private key file.
    pub fn load(path: &Path) -> Result<Self, IndexError> {
        let text = fs_err::read_to_string(path).map_err(io_err("read", path))?;
        Self::from_pem(&text).map_err(|e| match e.kind() {
            IndexErrorKind::Key { reason, .. } => IndexErrorKind::Key {
                what: path.display().to_string(),
                reason: reason.clone(),
            }
            .into(),
            _ => e,
        })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// This key's ed25519 signature of `message` (64 bytes); for other signed documents
    /// (DSSE envelopes) than indexes.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// A new key pair: the private key as PKCS#8 PEM, and its public key.
pub struct GeneratedKey {
    pub private_pem: String,
    pub public: PublicKey,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Generate an ed25519 key pair (for `paks key generate`).
pub fn generate_key() -> Result<GeneratedKey, IndexError> {
    let rng = ring::rand::SystemRandom::new();
    let der = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| IndexErrorKind::Key {
        what: "new key".into(),
        reason: format!("the system random generator failed ({e})"),
    })?;
    let private_pem = to_pem("PRIVATE KEY", der.as_ref());
    let public = SigningKey::from_pem(&private_pem)?.public;
    Ok(GeneratedKey {
        private_pem,
        public,
    })
}

/// Write a private key to `path`, mode 0600, atomically; an existing file is never
/// overwritten (a lost signing key cannot be recovered).
pub fn write_private_key(path: &Path, pem: &str) -> Result<(), IndexError> {
    if fs_err::symlink_metadata(path).is_ok() {
        return Err(IndexErrorKind::KeyExists {
            path: path.to_owned(),
        }
        .into());
    }
    paks_types::fs::write_atomic_with(path, |f: &mut std::fs::File| {
        // Restricted before a byte of the key is written.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(pem.as_bytes())
    })
    .map_err(io_err("write", path))
}

/// Write a public key file: its one-line form and a newline.
pub fn write_public_key(path: &Path, key: &PublicKey) -> Result<(), IndexError> {
    paks_types::fs::write_atomic(path, format!("{key}\n").as_bytes()).map_err(io_err("write", path))
}

/// Sign `index` with `key`: the signature covers [`Index::canonical_json`].
pub fn sign(index: &Index, key: &SigningKey) -> SignedIndex {
    let mut signed = SignedIndex::unsigned(index.clone());
    add_signature(&mut signed, key);
    signed
}

/// Add `key`'s signature to `signed`, replacing an earlier one by the same key.
pub fn add_signature(signed: &mut SignedIndex, key: &SigningKey) {
    let keyid = key.public.keyid();
    let sig = BASE64.encode(&key.sign_bytes(&signed.signed.canonical_json()));
    signed.signatures.retain(|s| s.keyid != keyid);
    signed.signatures.push(Signature { keyid, sig });
}

/// Check that one of `trusted` signed `signed` (a threshold of one). Returns that key.
///
/// No signatures: [`TrustError::Unsigned`]. None by a trusted key:
/// [`TrustError::UnknownKey`]. A trusted key's signature that does not verify, and no
/// other that does: [`TrustError::BadSignature`].
pub fn verify<'k>(
    signed: &SignedIndex,
    trusted: &'k [PublicKey],
) -> Result<&'k PublicKey, TrustError> {
    if signed.signatures.is_empty() {
        return Err(TrustError::Unsigned {
            source_name: signed.signed.source.clone(),
        });
    }
    let message = signed.signed.canonical_json();
    let mut bad = None;
    for sig in &signed.signatures {
        let Some(key) = trusted.iter().find(|k| k.keyid() == sig.keyid) else {
            continue;
        };
        match BASE64.decode(sig.sig.as_bytes()) {
            Ok(bytes) if key.verifies(&message, &bytes) => return Ok(key),
            _ => bad = Some(sig.keyid.clone()),
        }
    }
    Err(match bad {
        Some(keyid) => TrustError::BadSignature {
            keyid,
            source_name: signed.signed.source.clone(),
        },
        None => TrustError::UnknownKey {
            keyids: signed.signatures.iter().map(|s| s.keyid.clone()).collect(),
            source_name: signed.signed.source.clone(),
        },
    })
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

/// The decoded body of a PEM block labelled `label` among `lines`, if there is one.
fn pem_body(lines: &[&str], label: &str) -> Option<Result<Vec<u8>, ()>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = lines.iter().position(|l| *l == begin)?;
    let stop = start + lines[start..].iter().position(|l| *l == end)?;
    let body: String = lines[start + 1..stop].concat();
    Some(BASE64.decode(body.as_bytes()).map_err(|_| ()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::schema::tests::sample_index;

    #[test]
    fn generated_keys_sign_and_verify() {
        let generated = generate_key().unwrap();
        assert!(
            generated
                .private_pem
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        let key = SigningKey::from_pem(&generated.private_pem).unwrap();
        assert_eq!(key.public_key(), &generated.public);
        let public = PublicKey::parse(&generated.public.to_string()).unwrap();
        assert_eq!(public, generated.public);
        assert_eq!(public.keyid().len(), 64);

        let index = sample_index(1);
        let signed = sign(&index, &key);
        assert_eq!(signed.signatures.len(), 1);
        assert_eq!(signed.signatures[0].keyid, public.keyid());
        assert_eq!(
            verify(&signed, std::slice::from_ref(&public)).unwrap(),
            &public
        );

        // The signature survives the stored form.
        let back = SignedIndex::from_slice(&signed.to_bytes(), "t").unwrap();
        verify(&back, std::slice::from_ref(&public)).unwrap();

        // Any change to the content breaks it.
        let mut tampered = signed.clone();
        tampered
            .signed
            .packages
            .values_mut()
            .next()
            .unwrap()
            .summary = Some("evil".into());
        let err = verify(&tampered, std::slice::from_ref(&public)).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");

        // A second signature by another key: either key alone is enough.
        let other = SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap();
        let mut both = signed.clone();
        add_signature(&mut both, &other);
        assert_eq!(both.signatures.len(), 2);
        verify(&both, &[other.public_key().clone()]).unwrap();
        add_signature(&mut both, &other);
        assert_eq!(both.signatures.len(), 2, "re-signing replaces");
    }

    #[test]
    fn verify_names_what_is_wrong() {
        let key = SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap();
        let stranger = generate_key().unwrap().public;
        let index = sample_index(1);
        let err = verify(
            &SignedIndex::unsigned(index.clone()),
            std::slice::from_ref(&key.public),
        )
        .unwrap_err();
        assert!(matches!(err, TrustError::Unsigned { .. }), "{err}");
        let signed = sign(&index, &key);
        let err = verify(&signed, &[stranger]).unwrap_err();
        assert!(
            matches!(&err, TrustError::UnknownKey { keyids, .. } if keyids == &[key.public.keyid()]),
            "{err}"
        );
        assert!(err.to_string().contains(&key.public.keyid()), "{err}");
        let mut garbled = signed.clone();
        garbled.signatures[0].sig = "not base64!".into();
        let err = verify(&garbled, std::slice::from_ref(&key.public)).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn reads_openssl_pem_forms() {
        // `openssl genpkey -algorithm ed25519` (PKCS#8 v1) and `openssl pkey -pubout`.
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJJ8462Y3OI9B2XpLisj7YR82uBRymQPz5V0yk7Em1GG\n-----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAgbhpo1jANaFDWVFauhhwNHlLYLciemGgP5IzzArkphE=\n-----END PUBLIC KEY-----\n";
        let key = SigningKey::from_pem(private).unwrap();
        assert_eq!(&PublicKey::parse(public).unwrap(), key.public_key());
        assert_eq!(
            key.public_key().to_string(),
            "paks-ed25519 gbhpo1jANaFDWVFauhhwNHlLYLciemGgP5IzzArkphE="
        );
        let with_comment = format!("# acme's index key\n{}\n", key.public_key());
        assert_eq!(&PublicKey::parse(&with_comment).unwrap(), key.public_key());
        for bad in [
            "",
            "ssh-ed25519 AAAA",
            "paks-ed25519 AAAA",
            "paks-ed25519AAAA",
            "paks-ed25519 !!",
        ] {
            assert!(PublicKey::parse(bad).is_err(), "{bad}");
        }
        assert!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }

    #[test]
    fn private_keys_are_written_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.key");
        let generated = generate_key().unwrap();
        write_private_key(&path, &generated.private_pem).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            SigningKey::load(&path).unwrap().public_key(),
            &generated.public
        );
        let err = write_private_key(&path, "x").unwrap_err();
        assert!(
            matches!(err.kind(), IndexErrorKind::KeyExists { .. }),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            generated.private_pem
        );
        let public = dir.path().join("index.pub");
        write_public_key(&public, &generated.public).unwrap();
        assert_eq!(PublicKey::load(&public).unwrap(), generated.public);
        let err = PublicKey::load(&path).unwrap_err();
        assert!(err.to_string().contains("index.key"), "{err}");
    }
}
