//! Entry sizes from PAX records, applied before the tar crate reads the stream.
//!
//! Archives are read in the tar crate's raw mode (see [`crate::entries`]), which steps over
//! an entry's data by the size in its header. POSIX tar (`tar --format=posix`) writes the
//! size of a file of 8 GiB or more only in the PAX record before it (the header's octal
//! field cannot hold it, and holds 0), so raw mode would read the data as headers. This
//! reader sits in front of the tar crate: it follows the stream block by block, keeps the
//! (capped) data of each PAX header, and rewrites the header of the entry it describes to
//! carry the PAX size, in the header's base-256 form, with its checksum fixed. Both readings
//! of the archive then agree, as POSIX says they must (the PAX size wins).

use std::io::{self, Read};

use crate::entries::{MAX_PAX, pax_records};

const BLOCK: usize = 512;

/// See the module documentation.
pub(crate) struct PaxSizes<R> {
    inner: R,
    /// Entry data (padded to whole blocks) still to pass before the next header.
    data_left: u64,
    /// The data of the PAX header being passed (while it fits under [`MAX_PAX`]), and its
    /// length without the padding.
    pax: Option<(Vec<u8>, usize)>,
    /// The size the last PAX header set, for the next entry.
    pending: Option<u64>,
    /// A header block, and how much of it has been handed out.
    block: [u8; BLOCK],
    block_len: usize,
    block_out: usize,
    /// Past the end-of-archive block: everything passes unchanged.
    done: bool,
}

impl<R: Read> PaxSizes<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            data_left: 0,
            pax: None,
            pending: None,
            block: [0; BLOCK],
            block_len: 0,
            block_out: 0,
            done: false,
        }
    }

    /// Read the next header block (or what there is of it at the end) and rewrite it.
    fn next_header(&mut self) -> io::Result<()> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut self.block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.block_len = filled;
        self.block_out = 0;
        if filled < BLOCK {
            // A torn or empty end: the tar crate reports it.
            self.done = true;
            return Ok(());
        }
        if self.block.iter().all(|&b| b == 0) {
            self.done = true;
            return Ok(());
        }
        let mut header = tar::Header::new_old();
        header.as_mut_bytes().copy_from_slice(&self.block);
        let Ok(mut size) = header.entry_size() else {
            // A malformed size field: the tar crate reports it.
            self.done = true;
            return Ok(());
        };
        let kind = header.entry_type();
        if kind.is_pax_local_extensions() {
            self.pax = usize::try_from(size)
                .ok()
                .filter(|_| size <= MAX_PAX)
                .map(|len| (Vec::new(), len));
        } else if !(kind.is_pax_global_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink())
            && let Some(pax) = self.pending.take()
            && pax != size
        {
            header.set_size(pax);
            header.set_cksum();
            self.block.copy_from_slice(header.as_bytes());
            size = pax;
        }
        self.data_left = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        if self.data_left == 0 {
            self.end_of_data();
        }
        Ok(())
    }

    /// The data of an entry has passed: a PAX header's size record now applies.
    fn end_of_data(&mut self) {
        if let Some((mut records, len)) = self.pax.take() {
            records.truncate(len);
            self.pending = pax_records(&records)
                .filter_map(Result::ok)
                .filter(|(key, _)| *key == b"size")
                .filter_map(|(_, value)| std::str::from_utf8(value).ok()?.parse().ok())
                .last();
        }
    }
}

impl<R: Read> Read for PaxSizes<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.block_out < self.block_len {
                let n = (self.block_len - self.block_out).min(buf.len());
                buf[..n].copy_from_slice(&self.block[self.block_out..self.block_out + n]);
                self.block_out += n;
                return Ok(n);
            }
            if self.done {
                return self.inner.read(buf);
            }
            if self.data_left > 0 {
                let want = usize::try_from(self.data_left)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Ok(0);
                }
                if let Some((pax, _)) = &mut self.pax {
                    pax.extend_from_slice(&buf[..n]);
                }
                self.data_left -= n as u64;
                if self.data_left == 0 {
                    self.end_of_data();
                }
                return Ok(n);
            }
            self.next_header()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn header(kind: tar::EntryType, path: &str, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        h.set_mode(0o644);
        h.set_size(size);
        h.set_cksum();
        h
    }

    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        v.resize(data.len().div_ceil(BLOCK) * BLOCK, 0);
        v
    }

    #[test]
    fn a_pax_size_becomes_the_header_size_and_the_next_entry_is_found() {
        let record = b"12 size=600\n";
        let mut tar = Vec::new();
        tar.extend_from_slice(
            header(tar::EntryType::XHeader, "pax", record.len() as u64).as_bytes(),
        );
        tar.extend_from_slice(&padded(record));
        // The header says 0 bytes, as GNU tar writes for sizes its octal field cannot hold.
        tar.extend_from_slice(header(tar::EntryType::Regular, "big", 0).as_bytes());
        tar.extend_from_slice(&padded(&[7u8; 600]));
        tar.extend_from_slice(header(tar::EntryType::Regular, "next", 5).as_bytes());
        tar.extend_from_slice(&padded(b"hello"));
        tar.extend_from_slice(&[0u8; 2 * BLOCK]);

        let mut archive = tar::Archive::new(PaxSizes::new(&tar[..]));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap().raw(true) {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            seen.push((path, entry.header().entry_size().unwrap(), data));
        }
        assert_eq!(
            seen,
            [
                ("pax".to_owned(), 12, record.to_vec()),
                ("big".to_owned(), 600, vec![7u8; 600]),
                ("next".to_owned(), 5, b"hello".to_vec()),
            ]
        );
    }
}
