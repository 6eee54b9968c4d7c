use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

use crate::TypeError;

/// The digest algorithms of the OCI image spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A content digest, `<algorithm>:<lower-case hex>`, as OCI writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self::from_sha256_bytes(&Sha256::digest(bytes))
    }

    /// The sha512 digest of `bytes`.
    pub fn sha512_of(bytes: &[u8]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha512,
            hex: hex(&Sha512::digest(bytes)),
        }
    }

    fn from_sha256_bytes(bytes: &[u8]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex(bytes),
        }
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The encoded part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| TypeError::Digest {
            value: s.to_owned(),
            reason,
        };
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| err("expected `sha256:<hex>`"))?;
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ => return Err(err("only sha256 and sha512 are supported")),
        };
        if hex.len() != algorithm.hex_len()
            || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(err("the hex part has the wrong length or characters"));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

crate::serde_via_str!(Digest);

/// An incremental sha256 with a byte count: the one hasher every streaming path uses.
#[derive(Clone, Default)]
pub struct Sha256Hasher {
    hasher: Sha256,
    len: u64,
}

impl Sha256Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256_bytes(&self.hasher.finalize())
    }
}

/// A reader that hashes (sha256) and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256Hasher::default(),
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The digest of everything read, and the inner reader.
    pub fn finish(self) -> (Digest, u64, R) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes (sha256) and counts every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256Hasher::default(),
        }
    }

    /// The digest of everything written, its length, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that passes bytes through and fails when they are not what was expected: past
/// `size` bytes at once, and at end of stream when the sha256 or the length differs. Nothing
/// read through it may be trusted (committed) before it has returned end of stream.
pub struct VerifyingReader<R> {
    inner: HashingReader<R>,
    expected: Digest,
    size: u64,
    verified: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, size: u64) -> Self {
        Self {
            inner: HashingReader::new(inner),
            expected,
            size,
            verified: false,
        }
    }

    /// Whether end of stream was reached with the expected digest and size.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Read to the end (verifying), discarding what is left.
    pub fn finish(mut self) -> io::Result<R> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.inner.finish().2)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let len = self.inner.len();
        if len > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "content of `{}` is longer than the expected {} bytes",
                    self.expected, self.size
                ),
            ));
        }
        if n == 0 && !buf.is_empty() && !self.verified {
            let actual = self.inner.hasher.clone().finish();
            if len != self.size || actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "digest mismatch: expected `{}` ({} bytes), got `{actual}` ({len} bytes)",
                        self.expected, self.size
                    ),
                ));
            }
            self.verified = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256() {
        assert_eq!(
            Digest::sha256_of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parses_and_rejects() {
        let d = Digest::sha256_of(b"abc");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        let d = Digest::sha512_of(b"abc");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        for bad in [
            "sha256",
            "md5:00",
            "sha256:ABC",
            "sha256:00",
            &format!("sha512:{}", "0".repeat(64)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn verifying_reader_accepts_and_refuses() {
        let data = b"hello world".to_vec();
        let good = VerifyingReader::new(&data[..], Digest::sha256_of(&data), data.len() as u64);
        assert!(good.finish().is_ok());
        let err = VerifyingReader::new(&data[..], Digest::sha256_of(b"other"), data.len() as u64)
            .finish()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("digest mismatch: expected `sha256:"),
            "{err}"
        );
        let err = VerifyingReader::new(&data[..], Digest::sha256_of(&data), 3)
            .finish()
            .unwrap_err();
        assert!(
            err.to_string().contains("longer than the expected 3 bytes"),
            "{err}"
        );
        let err = VerifyingReader::new(&data[..5], Digest::sha256_of(&data), data.len() as u64)
            .finish()
            .unwrap_err();
        assert!(err.to_string().contains("(5 bytes)"), "{err}");
    }

    #[test]
    fn hashing_reader_matches_one_shot() {
        let data = vec![7u8; 100_000];
        let mut r = HashingReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let (digest, len, _) = r.finish();
        assert_eq!(len, 100_000);
        assert_eq!(digest, Digest::sha256_of(&data));
    }
}
