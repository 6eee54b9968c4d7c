//! Trusted signing keys, as in `/etc/apk/keys`: RSA public keys named by file name.

use std::collections::BTreeMap;
use std::path::Path;

use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;

use crate::apk::ApkError;
use crate::apk::streams::io_error;

/// The keys a caller trusts, each under the name a signature entry uses
/// (`.SIGN.RSA.<name>`), for example `alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, RsaPublicKey>,
}

impl Keyring {
    /// An empty keyring: every signature is then from an untrusted key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the PEM `PUBLIC KEY` (`SubjectPublicKeyInfo`) `pem` under `name`.
    pub fn add_pem(&mut self, name: &str, pem: &str) -> Result<(), ApkError> {
        let key = RsaPublicKey::from_public_key_pem(pem).map_err(|source| ApkError::BadKey {
            name: name.to_owned(),
            source,
        })?;
        self.keys.insert(name.to_owned(), key);
        Ok(())
    }

    /// Trusts every `*.pub` file of `dir`, named by its file name (apk's `/etc/apk/keys`).
    pub fn from_dir(dir: &Path) -> Result<Self, ApkError> {
        let what = dir.display().to_string();
        let mut ring = Self::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_error(&what, e))? {
            let path = entry.map_err(|e| io_error(&what, e))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            // apk names keys `*.pub` exactly; `.PUB` files are not keys to it either.
            if path.extension().is_some_and(|e| e == "pub") {
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| io_error(&path.display().to_string(), e))?;
                ring.add_pem(name, &pem)?;
            }
        }
        Ok(ring)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&RsaPublicKey> {
        self.keys.get(name)
    }
}
