//! Decompression on one thread, extraction on another.
//!
//! Decompressing and creating files each take about half of an install; `tar -x` runs
//! them in two processes (`tar` and `zstd`/`gzip`). Here the caller's thread reads and
//! decompresses (so the input reader need not be `Send`) and hands chunks over a bounded
//! channel to a worker thread that parses the tar and writes the files.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

/// Size of one chunk of decompressed data.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight: enough to ride out a slow file create, small enough that the
/// compressed-bytes count the ratio limit reads is never far ahead of extraction.
const IN_FLIGHT: usize = 4;

/// The extraction end of the channel.
pub(crate) struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    recycle: Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            // End of input once the pump hangs up.
            let Ok(next) = self.rx.recv() else {
                return Ok(0);
            };
            let done = std::mem::replace(&mut self.chunk, next);
            let _ = self.recycle.send(done);
            self.pos = 0;
        }
        let available = &self.chunk[self.pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// The reading end: pump everything from a reader into the channel.
pub(crate) struct Pump {
    tx: SyncSender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
}

pub(crate) fn channel() -> (Pump, ChunkReader) {
    let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
    let (recycle, recycled) = mpsc::channel();
    let pump = Pump { tx, recycled };
    let reader = ChunkReader {
        rx,
        recycle,
        chunk: Vec::new(),
        pos: 0,
    };
    (pump, reader)
}

impl Pump {
    /// Read `input` to its end into the channel. Stops early, without an error, when the
    /// reading end is gone (extraction finished or failed; its result says which).
    pub fn run(self, input: &mut impl Read) -> io::Result<()> {
        loop {
            let mut chunk = self
                .recycled
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            chunk.resize(CHUNK, 0);
            let mut filled = 0;
            while filled < CHUNK {
                match input.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if filled == 0 {
                return Ok(());
            }
            chunk.truncate(filled);
            if self.tx.send(chunk).is_err() || filled < CHUNK {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_everything_in_order() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * CHUNK + 123).collect();
        let (pump, mut reader) = channel();
        let out = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                let mut out = Vec::new();
                let mut small = [0; 500];
                loop {
                    let n = reader.read(&mut small).unwrap();
                    if n == 0 {
                        break out;
                    }
                    out.extend_from_slice(&small[..n]);
                }
            });
            pump.run(&mut &data[..]).unwrap();
            worker.join().unwrap()
        });
        assert!(out == data);
    }
}
