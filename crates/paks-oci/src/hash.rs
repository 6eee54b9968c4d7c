//! Incremental hashing for the digest algorithms paks knows (sha256, sha512).

use paks_types::{Digest, DigestAlgorithm, Sha256Hasher};
use sha2::Digest as _;

/// An incremental hash for the digest algorithms the crate knows.
#[derive(Clone)]
pub enum StreamHasher {
    Sha256(Sha256Hasher),
    Sha512(sha2::Sha512),
}

impl StreamHasher {
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => Self::Sha256(Sha256Hasher::default()),
            DigestAlgorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        match self {
            Self::Sha256(h) => h.finish(),
            Self::Sha512(h) => {
                use std::fmt::Write as _;
                let mut hex = String::with_capacity(128);
                for b in h.finalize() {
                    let _ = write!(hex, "{b:02x}");
                }
                format!("sha512:{hex}")
                    .parse()
                    .expect("a valid sha512 digest")
            }
        }
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn digest_of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
        let mut h = Self::new(algorithm);
        h.update(bytes);
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_streams() {
        let mut h = StreamHasher::new(DigestAlgorithm::Sha512);
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.finish(), Digest::sha512_of(b"abc"));
        assert_eq!(
            StreamHasher::digest_of(DigestAlgorithm::Sha256, b"abc"),
            Digest::sha256_of(b"abc")
        );
    }
}
