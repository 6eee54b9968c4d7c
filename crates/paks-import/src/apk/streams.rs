//! Splitting an apk file into its gzip streams, hashing each stream's compressed bytes.
//!
//! apk signs and hashes the *compressed* bytes of a stream, so the reader must know where
//! each gzip member ends. `flate2`'s `bufread` decoder stops exactly at the end of one
//! member, and every byte it takes passes through [`Tap`], which counts and hashes it.

use std::io::{self, BufRead, Read};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::apk::ApkError;

/// A `BufRead` that hashes and counts every byte its consumer takes.
pub(crate) struct Tap<R> {
    inner: R,
    sha1: Sha1,
    sha256: Sha256,
    count: u64,
}

impl<R: BufRead> Tap<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            sha1: Sha1::new(),
            sha256: Sha256::new(),
            count: 0,
        }
    }

    /// Starts hashing afresh: the next stream's digests cover only its own bytes.
    pub(crate) fn restart(&mut self) {
        self.sha1 = Sha1::new();
        self.sha256 = Sha256::new();
    }

    /// Bytes taken so far, over all streams.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The digests of the bytes taken since the last restart.
    pub(crate) fn digests(&self) -> StreamDigests {
        StreamDigests {
            sha1: self.sha1.clone().finalize().into(),
            sha256: self.sha256.clone().finalize().into(),
        }
    }

    /// `true` when no byte is left.
    pub(crate) fn at_end(&mut self, what: &str) -> Result<bool, ApkError> {
        Ok(self
            .fill_buf()
            .map_err(|source| io_error(what, source))?
            .is_empty())
    }
}

impl<R: BufRead> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tap<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The buffer is already filled: this second call does no I/O.
        if let Ok(buffer) = self.inner.fill_buf() {
            let taken = &buffer[..amount.min(buffer.len())];
            self.sha1.update(taken);
            self.sha256.update(taken);
        }
        self.count += amount as u64;
        self.inner.consume(amount);
    }
}

/// The digests of one stream's compressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDigests {
    /// sha1: what `.SIGN.RSA.` signs and what the index's `C:Q1…` names.
    pub sha1: [u8; 20],
    /// sha256: what `.SIGN.RSA256.` signs.
    pub sha256: [u8; 32],
}

/// One file of a control or signature tar.
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) data: Vec<u8>,
}

/// Reads the next gzip member from `tap` and decompresses it, refusing more than `limit`
/// bytes. The tap's digests then cover exactly this member's compressed bytes.
pub(crate) fn read_member<R: BufRead>(
    tap: &mut Tap<R>,
    stream: &'static str,
    limit: u64,
) -> Result<Vec<u8>, ApkError> {
    tap.restart();
    let mut decoder = flate2::bufread::GzDecoder::new(&mut *tap);
    let mut out = Vec::new();
    (&mut decoder)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|source| ApkError::Gzip { stream, source })?;
    if out.len() as u64 > limit {
        return Err(ApkError::TooLarge { stream, limit });
    }
    Ok(out)
}

/// The regular files of a tar held in memory (its end-of-archive blocks are optional, as
/// abuild cuts them from the signature and control streams).
pub(crate) fn tar_members(stream: &'static str, tar: &[u8]) -> Result<Vec<Member>, ApkError> {
    let tar_error = |source| ApkError::Tar { stream, source };
    let mut archive = tar::Archive::new(tar);
    let mut members = Vec::new();
    for entry in archive.entries().map_err(tar_error)? {
        let mut entry = entry.map_err(tar_error)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // GNU tar's `--format=posix` may start with a global PAX header: metadata only.
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(ApkError::UnexpectedEntry { stream, name });
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(tar_error)?;
        members.push(Member { name, data });
    }
    Ok(members)
}

pub(crate) fn io_error(what: &str, source: io::Error) -> ApkError {
    ApkError::Io {
        what: what.to_owned(),
        source,
    }
}
