//! A download that is read while it is written: one task appends a blob to a file (hashing
//! it as the bytes arrive), another reads the same file behind it, so a package's layer is
//! decoded and extracted while it, and the layers after it, still download.
//!
//! The writer publishes how many bytes of the file are written ([`Growing::wrote`]) and,
//! at the end, whether the whole blob matched its digest ([`Growing::finish`]); a
//! [`GrowingReader`] returns end of stream only after that verdict was a match, so nothing
//! read through it can be committed before the blob is verified. The writer never waits
//! for its reader (the file is the buffer: the page cache holds it, not the process), so
//! downloads run ahead in any order and a slow extractor cannot stall the network.
//!
//! A download that starts its file over (a server that ignored `Range`) announces it
//! ([`Growing::restart`]) before it truncates; a reader that had read bytes of the older
//! file fails with [`restarted`](GrowingReader::was_restarted) rather than mix two
//! attempts, and its caller reads the finished blob again from the start.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The shared state of one blob being downloaded: see the module doc.
#[derive(Debug, Default)]
pub struct Growing {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The file being written, once there is one.
    path: Option<PathBuf>,
    /// Bytes of it that are written (readable).
    written: u64,
    /// Bumped each time the file starts over.
    generation: u64,
    /// The verdict: the blob's place once verified, or why it failed.
    end: Option<Result<PathBuf, String>>,
}

impl Growing {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writer opened `path`, which holds `written` bytes already (a resumed part file).
    pub fn open(&self, path: &Path, written: u64) {
        let mut s = self.lock();
        s.path = Some(path.to_path_buf());
        s.written = written;
        s.generation += 1;
        self.changed.notify_all();
    }

    /// The file now holds `written` bytes.
    pub fn wrote(&self, written: u64) {
        let mut s = self.lock();
        if written != s.written {
            s.written = written;
            self.changed.notify_all();
        }
    }

    /// The writer is about to empty the file and start from the first byte.
    pub fn restart(&self) {
        let mut s = self.lock();
        s.written = 0;
        s.generation += 1;
        self.changed.notify_all();
    }

    /// The blob is complete and verified at `path`, `size` bytes (the first verdict wins).
    pub fn finish(&self, path: &Path, size: u64) {
        let mut s = self.lock();
        if s.end.is_none() {
            if s.path.is_none() {
                // Present before the download started: nothing was written.
                s.generation += 1;
            }
            // The file renamed into place: the same bytes, for a reader yet to open it.
            s.path = Some(path.to_path_buf());
            s.written = size;
            s.end = Some(Ok(path.to_path_buf()));
            self.changed.notify_all();
        }
    }

    /// The download failed (or was cancelled): readers get `why`.
    pub fn fail(&self, why: String) {
        let mut s = self.lock();
        if s.end.is_none() {
            s.end = Some(Err(why));
            self.changed.notify_all();
        }
    }

    /// Wait for the verdict: the verified blob's path, or why the download failed.
    pub fn wait(&self) -> Result<PathBuf, String> {
        let mut s = self.lock();
        loop {
            if let Some(end) = &s.end {
                return end.clone();
            }
            s = self
                .changed
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// A reader from the first byte.
    pub fn reader(self: &Arc<Self>) -> GrowingReader {
        GrowingReader {
            growing: self.clone(),
            file: None,
            generation: 0,
            pos: 0,
            verified: false,
            restarted: false,
        }
    }
}

/// Fails the download when dropped before it finished: a download future that is cancelled
/// (a deadline, a failed sibling) still gives its reader a verdict.
pub struct FailOnDrop<'a>(pub &'a Growing);

impl Drop for FailOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fail("the download was cancelled".into());
    }
}

/// Reads a [`Growing`] blob from its first byte, waiting for bytes not yet written; end of
/// stream only once the whole blob is written and verified.
pub struct GrowingReader {
    growing: Arc<Growing>,
    file: Option<File>,
    /// The file generation `file` belongs to.
    generation: u64,
    pos: u64,
    verified: bool,
    restarted: bool,
}

impl GrowingReader {
    /// Whether end of stream was reached on a verified blob.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Whether the read failed because the download started its file over after bytes of
    /// the older attempt were read: read the finished blob again instead.
    pub fn was_restarted(&self) -> bool {
        self.restarted
    }

    fn restarted_error(&mut self) -> io::Error {
        self.restarted = true;
        io::Error::other("the download started over from its first byte")
    }
}

impl Read for GrowingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.verified {
            return Ok(0);
        }
        let growing = self.growing.clone();
        let mut s = growing.lock();
        loop {
            if self.file.is_some() && s.generation != self.generation {
                if self.pos > 0 {
                    return Err(self.restarted_error());
                }
                self.file = None;
            }
            if self.file.is_none()
                && let Some(path) = s.path.clone()
            {
                match File::open(&path) {
                    Ok(file) => {
                        self.file = Some(file);
                        self.generation = s.generation;
                    }
                    // Renamed into place, or removed as wrong: the writer says which next.
                    Err(e) if e.kind() == io::ErrorKind::NotFound && s.end.is_none() => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if let Some(Err(why)) = &s.end {
                            return Err(io::Error::other(why.clone()));
                        }
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if self.file.is_some() && self.pos < s.written {
                let want = usize::try_from(s.written - self.pos)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                drop(s);
                let file = self.file.as_ref().expect("opened above");
                let n = file.read_at(&mut buf[..want], self.pos)?;
                // What was read belongs to this generation only if no restart began
                // meanwhile (the writer announces a restart before it truncates).
                s = growing.lock();
                if s.generation != self.generation {
                    return Err(self.restarted_error());
                }
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the downloaded file is shorter than its writer said",
                    ));
                }
                self.pos += n as u64;
                return Ok(n);
            }
            match &s.end {
                Some(Ok(_)) if self.file.is_some() && self.pos >= s.written => {
                    self.verified = true;
                    return Ok(0);
                }
                Some(Err(why)) => return Err(io::Error::other(why.clone())),
                _ => {}
            }
            s = growing
                .changed
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_reader_follows_the_writer_and_ends_only_on_a_verified_blob() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let growing = Growing::new();
        let reader = std::thread::spawn({
            let growing = growing.clone();
            move || {
                let mut r = growing.reader();
                let mut out = Vec::new();
                r.read_to_end(&mut out).map(|_| (out, r.is_verified()))
            }
        });
        let mut f = File::create(&path).unwrap();
        growing.open(&path, 0);
        let mut written = 0;
        for chunk in [&b"hello "[..], b"growing ", b"world"] {
            f.write_all(chunk).unwrap();
            written += chunk.len() as u64;
            growing.wrote(written);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        growing.finish(&path, written);
        let (out, verified) = reader.join().unwrap().unwrap();
        assert_eq!(out, b"hello growing world");
        assert!(verified);
    }

    #[test]
    fn a_failed_download_fails_its_reader_after_the_bytes_it_had() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"abc").unwrap();
        let growing = Growing::new();
        growing.open(&path, 3);
        growing.fail("digest mismatch".into());
        let mut r = growing.reader();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"abc");
        assert_eq!(err.to_string(), "digest mismatch");
        assert!(!r.is_verified());
    }

    #[test]
    fn a_restart_after_bytes_were_read_is_an_error_the_caller_can_tell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"old bytes").unwrap();
        let growing = Growing::new();
        growing.open(&path, 9);
        let mut r = growing.reader();
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        growing.restart();
        assert!(r.read(&mut buf).is_err());
        assert!(r.was_restarted());
    }

    #[test]
    fn a_blob_present_before_the_download_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"cached").unwrap();
        let growing = Growing::new();
        growing.finish(&path, 6);
        let mut out = String::new();
        let mut r = growing.reader();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "cached");
        assert!(r.is_verified());
    }

    #[test]
    fn a_cancelled_download_gives_its_reader_a_verdict() {
        let growing = Growing::new();
        drop(FailOnDrop(&growing));
        assert_eq!(growing.wait().unwrap_err(), "the download was cancelled");
    }
}
