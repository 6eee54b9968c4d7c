//! Streaming substring search and replacement over files of any size.
//!
//! Files are read in pieces of [`SCAN_CHUNK`] bytes; the tail of each piece that could hold
//! the start of a match is carried into the next one, so a needle across a piece boundary
//! is found like any other.

use std::io::{self, Read, Write};

use memchr::memmem::Finder;

/// The size of the pieces in which files are read while searching them.
pub const SCAN_CHUNK: usize = 1 << 20;

/// How much of a file decides whether it is text: no NUL byte in its first 8 KiB.
pub(crate) const TEXT_PROBE: usize = 8 << 10;

/// Appends up to `want` bytes from `reader` to `buf`; fewer means the end of the stream.
fn fill(reader: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    reader.by_ref().take(want as u64).read_to_end(buf)
}

/// Whether any of `finders` occurs anywhere in `reader`.
pub(crate) fn contains_any(
    mut reader: impl Read,
    finders: &[Finder<'_>],
    chunk: usize,
) -> io::Result<bool> {
    let Some(overlap) = finders.iter().map(|f| f.needle().len() - 1).max() else {
        return Ok(false);
    };
    let chunk = chunk.max(1);
    let mut buf = Vec::with_capacity(chunk + overlap);
    loop {
        let got = fill(&mut reader, &mut buf, chunk)?;
        if finders.iter().any(|f| f.find(&buf).is_some()) {
            return Ok(true);
        }
        if got < chunk {
            return Ok(false);
        }
        // Whatever starts before the last `overlap` bytes was searched in full.
        let searched = buf.len().saturating_sub(overlap);
        buf.drain(..searched);
    }
}

/// Whether `byte` can continue a file name, so that a match followed by it is only the
/// beginning of a longer name (`/opt/paks/store2`, `/opt/paks/store.old`) and not the
/// store directory.
fn continues_name(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// What [`for_each_match`] reports, in stream order.
enum Event<'a> {
    /// Bytes between matches, to be passed on unchanged.
    Data(&'a [u8]),
    /// One occurrence of the needle, which is not in any `Data`.
    Match,
}

/// Splits `reader` into unchanged data and occurrences of `needle` that end at a name
/// boundary (the end of the stream or a byte that cannot continue a file name).
fn for_each_match(
    mut reader: impl Read,
    needle: &[u8],
    chunk: usize,
    mut on_event: impl FnMut(Event<'_>) -> io::Result<()>,
) -> io::Result<()> {
    assert!(!needle.is_empty(), "searching for an empty needle");
    let finder = Finder::new(needle);
    let n = needle.len();
    let chunk = chunk.max(1);
    let mut buf = Vec::with_capacity(chunk + n);
    loop {
        let at_end = fill(&mut reader, &mut buf, chunk)? < chunk;
        // A match starting before `decided` has its boundary byte in the buffer already;
        // one starting later waits for the next piece.
        let decided = if at_end {
            buf.len()
        } else {
            buf.len().saturating_sub(n)
        };
        let mut start = 0;
        let mut pos = 0;
        while let Some(found) = finder.find(&buf[pos..]) {
            let at = pos + found;
            if at >= decided {
                break;
            }
            if buf.get(at + n).is_some_and(|&b| continues_name(b)) {
                pos = at + 1;
                continue;
            }
            on_event(Event::Data(&buf[start..at]))?;
            on_event(Event::Match)?;
            start = at + n;
            pos = start;
        }
        let keep_from = start.max(decided);
        on_event(Event::Data(&buf[start..keep_from]))?;
        if at_end {
            return Ok(());
        }
        buf.drain(..keep_from);
    }
}

/// Copies `reader` to `writer`, replacing every occurrence of `old` that ends at a name
/// boundary with `new`. Returns how many were replaced.
pub(crate) fn replace_all(
    reader: impl Read,
    writer: &mut impl Write,
    old: &[u8],
    new: &[u8],
    chunk: usize,
) -> io::Result<usize> {
    let mut count = 0;
    for_each_match(reader, old, chunk, |event| match event {
        Event::Data(data) => writer.write_all(data),
        Event::Match => {
            count += 1;
            writer.write_all(new)
        }
    })?;
    Ok(count)
}

/// The offsets of every occurrence of `needle` in `reader` that ends at a name boundary.
pub(crate) fn match_offsets(
    reader: impl Read,
    needle: &[u8],
    chunk: usize,
) -> io::Result<Vec<u64>> {
    let mut offsets = Vec::new();
    let mut pos = 0u64;
    for_each_match(reader, needle, chunk, |event| {
        match event {
            Event::Data(data) => pos += data.len() as u64,
            Event::Match => {
                offsets.push(pos);
                pos += needle.len() as u64;
            }
        }
        Ok(())
    })?;
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per call, like a pipe.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn replace(data: &[u8], old: &str, new: &str, chunk: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let reader = Trickle { data, step: 3 };
        let count = replace_all(reader, &mut out, old.as_bytes(), new.as_bytes(), chunk).unwrap();
        (out, count)
    }

    #[test]
    fn replaces_at_every_position_and_chunk_size() {
        let old = "/opt/paks/store";
        for chunk in [1, 2, 3, 7, 15, 16, 64, SCAN_CHUNK] {
            for at in 0..40 {
                let mut data = vec![b'x'; 40];
                data.splice(at..at, format!("{old}/id/lib\0").bytes());
                let (out, count) = replace(&data, old, "/r", chunk);
                let mut want = vec![b'x'; 40];
                want.splice(at..at, b"/r/id/lib\0".iter().copied());
                assert_eq!((out, count), (want, 1), "chunk {chunk}, at {at}");
            }
        }
    }

    #[test]
    fn matches_at_the_very_end_and_back_to_back() {
        for chunk in [1, 4, 15, 100] {
            let (out, count) = replace(b"/s/s:/s", "/s", "/longer", chunk);
            assert_eq!(count, 3, "chunk {chunk}");
            assert_eq!(out, b"/longer/longer:/longer");
        }
    }

    #[test]
    fn longer_names_are_not_the_store() {
        let data = b"/opt/paks/store2 /opt/paks/store.old /opt/paks/store_x /opt/paks/store";
        for chunk in [1, 5, 1000] {
            let (out, count) = replace(data, "/opt/paks/store", "/new", chunk);
            assert_eq!(count, 1);
            assert_eq!(
                out,
                b"/opt/paks/store2 /opt/paks/store.old /opt/paks/store_x /new"
            );
        }
    }

    #[test]
    fn offsets_are_file_positions() {
        let data = b"ab/st/x\0/st\0/stx/st";
        for chunk in [1, 2, 3, 64] {
            let offsets = match_offsets(Trickle { data, step: 2 }, b"/st", chunk).unwrap();
            assert_eq!(offsets, [2, 8, 16], "chunk {chunk}");
        }
    }

    #[test]
    fn finds_needles_across_piece_boundaries() {
        let needles = ["/opt/paks/store", "/home/u/.local/share/paks/store"];
        let finders: Vec<_> = needles.iter().map(|n| Finder::new(n.as_bytes())).collect();
        for chunk in [1, 2, 3, 8, 31, 32] {
            for needle in needles {
                for at in 0..70 {
                    let mut data = vec![0u8; 70];
                    data.splice(at..at, needle.bytes());
                    let reader = Trickle {
                        data: &data,
                        step: 5,
                    };
                    assert!(
                        contains_any(reader, &finders, chunk).unwrap(),
                        "{chunk} {at}"
                    );
                }
            }
            let reader = Trickle {
                data: &[7u8; 200],
                step: 5,
            };
            assert!(!contains_any(reader, &finders, chunk).unwrap());
        }
    }
}
