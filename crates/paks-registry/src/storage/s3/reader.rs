//! A blob read from the bucket in large ranged `GET`s, so that a range request or a big
//! blob streams without the blob ever being held in memory whole.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStoreExt as _;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;

/// How much one `GET` fetches: large enough that a big blob takes few round trips, small
/// enough that many concurrent downloads fit in memory.
pub(super) const PIECE: u64 = 8 << 20;

/// Reads object `key` of `size` bytes piece by piece on `runtime`.
pub(super) struct RangeReader {
    pub(super) store: Arc<AmazonS3>,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) key: ObjectPath,
    pub(super) size: u64,
    /// The read position.
    pub(super) pos: u64,
    /// The piece fetched last and where it starts.
    pub(super) piece: Bytes,
    pub(super) piece_start: u64,
}

impl RangeReader {
    /// Fetches the piece that starts at `self.pos`.
    fn fetch(&mut self) -> io::Result<()> {
        let end = self.size.min(self.pos + PIECE);
        let (store, key, range) = (Arc::clone(&self.store), self.key.clone(), self.pos..end);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(store.get_range(&key, range).await);
        });
        let piece = rx
            .recv()
            .map_err(|_| io::Error::other("the S3 client's runtime has stopped"))?
            .map_err(|e| {
                io::Error::new(
                    match e {
                        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
                        _ => io::ErrorKind::Other,
                    },
                    format!("failed to read `{}` at {}: {e}", self.key, self.pos),
                )
            })?;
        if piece.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "`{}` ended at {}, before its {} bytes",
                    self.key, self.pos, self.size
                ),
            ));
        }
        self.piece = piece;
        self.piece_start = self.pos;
        Ok(())
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.size {
            return Ok(0);
        }
        let in_piece =
            self.pos >= self.piece_start && self.pos < self.piece_start + self.piece.len() as u64;
        if !in_piece {
            self.fetch()?;
        }
        let offset = usize::try_from(self.pos - self.piece_start).expect("within a piece");
        let n = buf.len().min(self.piece.len() - offset);
        buf[..n].copy_from_slice(&self.piece[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the blob",
            )
        })?;
        Ok(self.pos)
    }
}
