//! Tar entries with GNU long names and PAX records applied, read with bounded memory.
//!
//! The tar crate's own handling of these extension headers reads each one whole into
//! memory, however large the header claims to be; a hostile archive could ask for
//! gigabytes. So archives are read in raw mode and the extensions are applied here, each
//! capped, into buffers reused across entries.

use std::io::Read;

use crate::ArchiveError;

/// GNU long names and link targets: far above `PATH_MAX`.
const MAX_NAME: u64 = 64 * 1024;
/// PAX extended headers (local and global).
pub(crate) const MAX_PAX: u64 = 1024 * 1024;

/// Extension headers allowed before an entry.
const MAX_EXTENSIONS_IN_A_ROW: u32 = 16;

/// Reads the next real entry of a raw [`tar::Entries`], with its path and link target
/// resolved from the extension headers before it.
#[derive(Default)]
pub(crate) struct EntryReader {
    /// The entry's path as the archive spells it.
    pub path: Vec<u8>,
    /// The entry's link target, if it has one.
    pub link: Vec<u8>,
    pub has_link: bool,
    /// Entries returned so far (extension headers not counted).
    pub entries: u64,
    /// Extension headers since the last entry.
    extensions: u32,
    /// Extension values waiting for their entry; the buffers are reused.
    long_name: Pending,
    long_link: Pending,
    pax_path: Pending,
    pax_link: Pending,
    pax_size: Option<u64>,
    scratch: Vec<u8>,
}

#[derive(Default)]
struct Pending {
    set: bool,
    value: Vec<u8>,
}

impl Pending {
    fn set(&mut self, value: &[u8]) {
        self.value.clear();
        self.value.extend_from_slice(value);
        self.set = true;
    }

    /// Move the value into `out`, if set.
    fn take_into(&mut self, out: &mut Vec<u8>) -> bool {
        if !std::mem::take(&mut self.set) {
            return false;
        }
        out.extend_from_slice(&self.value);
        true
    }
}

impl EntryReader {
    /// The next entry that is not an extension header, or `None` at the end of the archive.
    /// Fails once more than `max_entries` entries have been read.
    pub fn next<'a, R: Read>(
        &mut self,
        entries: &mut tar::Entries<'a, R>,
        max_entries: u64,
    ) -> Result<Option<tar::Entry<'a, R>>, ArchiveError> {
        loop {
            let Some(entry) = entries.next() else {
                if self.long_name.set
                    || self.long_link.set
                    || self.pax_path.set
                    || self.pax_link.set
                    || self.pax_size.is_some()
                {
                    return Err(ArchiveError::BadExtension {
                        reason: "the archive ends after it, without an entry",
                    });
                }
                return Ok(None);
            };
            let mut entry = entry.map_err(ArchiveError::from_io)?;
            match entry.header().entry_type() {
                tar::EntryType::GNULongName => {
                    read_capped(
                        &mut entry,
                        &mut self.long_name.value,
                        MAX_NAME,
                        "GNU long name",
                    )?;
                    trim_nuls(&mut self.long_name.value);
                    self.long_name.set = true;
                }
                tar::EntryType::GNULongLink => {
                    read_capped(
                        &mut entry,
                        &mut self.long_link.value,
                        MAX_NAME,
                        "GNU long link",
                    )?;
                    trim_nuls(&mut self.long_link.value);
                    self.long_link.set = true;
                }
                tar::EntryType::XHeader => {
                    let mut scratch = std::mem::take(&mut self.scratch);
                    read_capped(&mut entry, &mut scratch, MAX_PAX, "PAX")?;
                    let parsed = self.apply_pax(&scratch);
                    self.scratch = scratch;
                    parsed?;
                }
                tar::EntryType::XGlobalHeader => {
                    // Global defaults (`git archive` writes a commit id there); nothing in
                    // them matters for extraction, but they are still bounded.
                    let mut scratch = std::mem::take(&mut self.scratch);
                    read_capped(&mut entry, &mut scratch, MAX_PAX, "PAX global")?;
                    self.scratch = scratch;
                }
                _ => {
                    self.entries += 1;
                    if self.entries > max_entries {
                        return Err(ArchiveError::LimitExceeded {
                            what: "entries",
                            limit: max_entries,
                        });
                    }
                    self.extensions = 0;
                    self.resolve(&entry)?;
                    return Ok(Some(entry));
                }
            }
            // An entry needs a long name, a long link and a PAX header at most; a stream
            // of extension headers alone is an attack on the entry limit.
            self.extensions += 1;
            if self.extensions > MAX_EXTENSIONS_IN_A_ROW {
                return Err(ArchiveError::BadExtension {
                    reason: "too many in a row",
                });
            }
        }
    }

    fn resolve<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<(), ArchiveError> {
        let header = entry.header();
        // GNU and PAX names both present: the GNU one wins, as in the tar crate.
        self.path.clear();
        let long = self.long_name.take_into(&mut self.path);
        if long {
            self.pax_path.set = false;
        } else if !self.pax_path.take_into(&mut self.path) {
            self.path.extend_from_slice(&header.path_bytes());
        }
        self.link.clear();
        let long = self.long_link.take_into(&mut self.link);
        self.has_link = true;
        if long {
            self.pax_link.set = false;
        } else if !self.pax_link.take_into(&mut self.link) {
            match header.link_name_bytes() {
                Some(link) => self.link.extend_from_slice(&link),
                None => self.has_link = false,
            }
        }
        // In raw mode the tar crate steps over the data by the header's size; a PAX size
        // that disagrees would make the two readings of the archive differ.
        if let Some(size) = self.pax_size.take() {
            let header_size = header.entry_size().map_err(ArchiveError::from_io)?;
            if size != header_size {
                return Err(ArchiveError::UnsupportedEntry {
                    path: crate::error::lossy(&self.path),
                    kind: format!(
                        "PAX size {size} differs from the header's {header_size}; write sizes \
                         above 8 GiB as GNU base-256"
                    ),
                });
            }
        }
        Ok(())
    }

    fn apply_pax(&mut self, records: &[u8]) -> Result<(), ArchiveError> {
        for record in pax_records(records) {
            let (key, value) = record?;
            match key {
                b"path" => self.pax_path.set(value),
                b"linkpath" => self.pax_link.set(value),
                b"size" => {
                    let size = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(BAD_PAX)?;
                    self.pax_size = Some(size);
                }
                k if k.starts_with(b"GNU.sparse.") => {
                    return Err(ArchiveError::BadExtension {
                        reason: "PAX sparse files are not supported",
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

const BAD_PAX: ArchiveError = ArchiveError::BadExtension {
    reason: "a PAX record is malformed",
};

/// The `(key, value)` records of a PAX extended header (`<len> <key>=<value>\n` each);
/// a malformed record is the last item.
pub(crate) fn pax_records(
    mut records: &[u8],
) -> impl Iterator<Item = Result<(&[u8], &[u8]), ArchiveError>> {
    std::iter::from_fn(move || {
        if records.is_empty() {
            return None;
        }
        let record = (|| {
            let space = records.iter().position(|&b| b == b' ')?;
            let len: usize = std::str::from_utf8(&records[..space]).ok()?.parse().ok()?;
            if len <= space + 1 || len > records.len() || records[len - 1] != b'\n' {
                return None;
            }
            let record = &records[space + 1..len - 1];
            let eq = record.iter().position(|&b| b == b'=')?;
            records = &records[len..];
            Some((&record[..eq], &record[eq + 1..]))
        })();
        if record.is_none() {
            records = &[];
        }
        Some(record.ok_or(BAD_PAX))
    })
}

fn read_capped<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    buf: &mut Vec<u8>,
    limit: u64,
    kind: &'static str,
) -> Result<(), ArchiveError> {
    let size = entry.size();
    if size > limit {
        return Err(ArchiveError::ExtensionTooLarge { kind, size, limit });
    }
    buf.clear();
    entry.read_to_end(buf).map_err(ArchiveError::from_io)?;
    Ok(())
}

fn trim_nuls(buf: &mut Vec<u8>) {
    while buf.last() == Some(&0) {
        buf.pop();
    }
}
