//! Decompression of layer streams, detected by magic bytes, with an exact count of the
//! compressed bytes the decoder has consumed (for the compression-ratio limit).

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Input buffer of the decoders. Small enough that counting at `consume` is exact anyway,
/// large enough that the decoders rarely stop for input.
const INPUT_BUFFER: usize = 64 * 1024;

/// A buffered reader that counts the bytes its user has *consumed*, not read ahead: what
/// the decoder has actually used is what a ratio must be computed from, or a small bomb
/// hides inside the read-ahead.
pub struct CountingReader<'c, R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    consumed: &'c AtomicU64,
}

impl<'c, R: Read> CountingReader<'c, R> {
    pub fn new(inner: R, consumed: &'c AtomicU64) -> Self {
        Self {
            inner,
            buf: vec![0; INPUT_BUFFER].into_boxed_slice(),
            pos: 0,
            filled: 0,
            consumed,
        }
    }

    /// Buffer at least `n` bytes (fewer only at end of stream) and return them.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
        }
        while self.filled < n {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => break,
                Ok(k) => self.filled += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(&self.buf[..self.filled])
    }
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for CountingReader<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            self.pos = 0;
            self.filled = self.inner.read(&mut self.buf)?;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.filled - self.pos);
        self.pos += n;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A decompressed layer stream.
pub enum Decoder<'c, R: Read> {
    Plain(CountingReader<'c, R>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<CountingReader<'c, R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, CountingReader<'c, R>>>),
}

impl<'c, R: Read> Decoder<'c, R> {
    /// Detect the compression from the first bytes: gzip, zstd, or else plain tar.
    pub fn detect(inner: R, consumed: &'c AtomicU64) -> io::Result<Self> {
        let mut reader = CountingReader::new(inner, consumed);
        let magic = reader.peek(ZSTD_MAGIC.len())?;
        Ok(if magic.starts_with(GZIP_MAGIC) {
            Self::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
        } else if magic.starts_with(ZSTD_MAGIC) {
            Self::Zstd(Box::new(zstd::stream::read::Decoder::with_buffer(reader)?))
        } else {
            Self::Plain(reader)
        })
    }
}

/// Nobody reads the count of [`decompress`]'s decoders.
static UNCOUNTED: AtomicU64 = AtomicU64::new(0);

/// The decompressed bytes of a layer stream (gzip, zstd or plain tar, detected by magic
/// bytes), for trusted input: a blob verified by digest, not one being extracted (which
/// goes through [`crate::extract_layer`] and its ratio limits).
pub fn decompress<R: Read>(inner: R) -> io::Result<Decoder<'static, R>> {
    Decoder::detect(inner, &UNCOUNTED)
}

impl<R: Read> Read for Decoder<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Gzip(r) => r.read(buf),
            Self::Zstd(r) => r.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A reader that hands out one byte per call, to exercise short reads.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn detects_and_counts() {
        let data = vec![b'x'; 100_000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        for (input, kind) in [(&gz, "gzip"), (&zst, "zstd"), (&data, "plain")] {
            let consumed = AtomicU64::new(0);
            let mut d = Decoder::detect(Trickle(input), &consumed).unwrap();
            let expected = match kind {
                "gzip" => matches!(d, Decoder::Gzip(_)),
                "zstd" => matches!(d, Decoder::Zstd(_)),
                _ => matches!(d, Decoder::Plain(_)),
            };
            assert!(expected, "{kind}");
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, data, "{kind}");
            assert_eq!(
                consumed.load(Ordering::Relaxed),
                input.len() as u64,
                "{kind}"
            );
        }
    }

    #[test]
    fn reads_every_gzip_member_and_zstd_frame() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        gz.write_all(b"one ").unwrap();
        let mut gz = gz.finish().unwrap();
        let mut second = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        second.write_all(b"two").unwrap();
        gz.extend(second.finish().unwrap());
        let mut zst = zstd::encode_all(&b"one "[..], 1).unwrap();
        zst.extend(zstd::encode_all(&b"two"[..], 1).unwrap());
        for input in [gz, zst] {
            let consumed = AtomicU64::new(0);
            let mut out = String::new();
            Decoder::detect(&input[..], &consumed)
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, "one two");
        }
    }
}
