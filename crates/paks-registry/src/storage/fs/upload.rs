//! Upload sessions: `uploads/<uuid>/{data,repo}`.
//!
//! Writers of one session hold an exclusive flock on its `data` file, which serialises them
//! within and across processes; `commit` takes the same lock. A writer keeps the session's
//! running sha256 up to date with the bytes that reached the file, and puts it back in
//! [`FsStorage::hashers`] before releasing the lock, so committing needs no re-read unless
//! the process restarted, another process wrote, or the digest is sha512.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use paks_types::fs::{fsync_dir, temp_sibling};
use paks_types::{Digest, DigestAlgorithm, Sha256Hasher};

use super::files::{
    IoContext as _, create_link, ensure_parent, hash_reader, not_found_none, read_dir_names, touch,
};
use super::{FsStorage, Hashers};
use crate::names::RepoName;
use crate::storage::{Result, StorageError, UploadId, UploadInfo, UploadWriter};

/// The writer's buffer: the HTTP layer hands over 16–64 KiB pieces; fewer, larger writes
/// (and hash updates) are markedly faster.
const WRITE_BUFFER: usize = 1 << 20;

/// Whether `id` is a hyphenated lower-case UUID, the only form `start_upload` hands out.
/// Checked before `id` goes anywhere near a path.
fn valid_upload_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

impl FsStorage {
    fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    pub(super) fn start_session(&self, repo: &RepoName) -> Result<UploadId> {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let dir = self.uploads_dir().join(&id);
        // Built aside and renamed in, so a session directory is always complete.
        let tmp = temp_sibling(&dir, "new");
        let result = (|| {
            fs::create_dir(&tmp).at("create", &tmp)?;
            let repo_file = tmp.join("repo");
            fs::write(&repo_file, repo.as_str()).at("write", &repo_file)?;
            let data = tmp.join("data");
            File::create(&data).at("create", &data)?;
            fs::rename(&tmp, &dir).at("rename into place", &dir)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result?;
        self.hashers
            .lock()
            .expect("poisoned")
            .insert(id.clone(), Sha256Hasher::default());
        Ok(id)
    }

    /// The directory of session `id` if it belongs to `repo`; `UploadUnknown` otherwise.
    pub(super) fn session_dir(&self, repo: &RepoName, id: &str) -> Result<PathBuf> {
        let unknown = || StorageError::UploadUnknown(id.to_owned());
        if !valid_upload_id(id) {
            return Err(unknown());
        }
        let dir = self.uploads_dir().join(id);
        let repo_file = dir.join("repo");
        match not_found_none(fs::read_to_string(&repo_file)).at("read", &repo_file)? {
            Some(owner) if owner == repo.as_str() => Ok(dir),
            _ => Err(unknown()),
        }
    }

    pub(super) fn session_size(&self, repo: &RepoName, id: &str) -> Result<Option<u64>> {
        let dir = match self.session_dir(repo, id) {
            Ok(dir) => dir,
            Err(StorageError::UploadUnknown(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let data = dir.join("data");
        Ok(not_found_none(fs::metadata(&data))
            .at("stat", &data)?
            .map(|m| m.len()))
    }

    /// Opens session `id`'s data file and takes its exclusive lock, waiting for another
    /// writer or a commit. Fails with `UploadUnknown` if the session went away meanwhile.
    fn lock_session_data(
        &self,
        repo: &RepoName,
        id: &str,
        append: bool,
    ) -> Result<(File, PathBuf)> {
        let data = self.session_dir(repo, id)?.join("data");
        let unknown = || StorageError::UploadUnknown(id.to_owned());
        let file = not_found_none(OpenOptions::new().read(!append).append(append).open(&data))
            .at("open", &data)?
            .ok_or_else(unknown)?;
        file.lock().at("lock", &data)?;
        // A commit may have renamed this very inode into `blobs/` while we waited: writing
        // to it then would corrupt a blob.
        let held = file.metadata().at("stat", &data)?;
        match not_found_none(fs::metadata(&data)).at("stat", &data)? {
            Some(now) if now.ino() == held.ino() && now.dev() == held.dev() => Ok((file, data)),
            _ => Err(unknown()),
        }
    }

    pub(super) fn open_writer(&self, repo: &RepoName, id: &str) -> Result<FsUploadWriter> {
        let (file, path) = self.lock_session_data(repo, id, true)?;
        let len = file.metadata().at("stat", &path)?.len();
        let hasher = self
            .hashers
            .lock()
            .expect("poisoned")
            .remove(id)
            .filter(|h| h.len() == len)
            .or_else(|| (len == 0).then(Sha256Hasher::default));
        Ok(FsUploadWriter {
            out: BufWriter::with_capacity(WRITE_BUFFER, HashingAppend { file, hasher, len }),
            hashers: self.hashers.clone(),
            id: id.to_owned(),
            path,
        })
    }

    pub(super) fn commit_session(
        &self,
        repo: &RepoName,
        id: &str,
        expected: &Digest,
    ) -> Result<u64> {
        let (file, data) = self.lock_session_data(repo, id, false)?;
        let len = file.metadata().at("stat", &data)?.len();
        let running = self.hashers.lock().expect("poisoned").remove(id);
        let actual = match running {
            Some(h) if expected.algorithm() == DigestAlgorithm::Sha256 && h.len() == len => {
                h.finish()
            }
            _ => {
                hash_reader(&file, expected.algorithm())
                    .at("read", &data)?
                    .0
            }
        };
        if actual != *expected {
            self.remove_session(id)?;
            return Err(StorageError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        file.sync_all().at("fsync", &data)?;
        // The blob may wait for its manifest a while: the grace period counts from now, not
        // from the last byte received.
        file.set_modified(SystemTime::now()).at("touch", &data)?;

        let blob = self.blob_path(expected);
        {
            let _gc = self.gc_lock(false)?;
            let present = match touch(&blob) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => {
                    return Err(StorageError::io(
                        format!("failed to touch `{}`", blob.display()),
                        e,
                    ));
                }
            };
            // Sessions committing the same digest at once each rename complete, verified
            // bytes over the same name: any of them is the blob.
            if !present {
                ensure_parent(&blob)?;
                fs::rename(&data, &blob).at("rename into place", &blob)?;
                if let Some(parent) = blob.parent() {
                    fsync_dir(parent).at("fsync", parent)?;
                }
            }
            // Pinned and linked under the lock: see `collect.rs`.
            self.pin([expected])?;
            create_link(&self.blob_link(repo, expected))?;
        }
        self.remove_session(id)?;
        drop(file);
        Ok(len)
    }

    /// Removes session directory `id` (renamed aside first, so a crash never leaves a
    /// half-removed session). Returns whether it existed.
    pub(super) fn remove_session(&self, id: &str) -> Result<bool> {
        self.hashers.lock().expect("poisoned").remove(id);
        let dir = self.uploads_dir().join(id);
        let trash = temp_sibling(&dir, "gone");
        match fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(StorageError::io(
                    format!("failed to remove `{}`", dir.display()),
                    e,
                ));
            }
        }
        fs::remove_dir_all(&trash).at("remove", &trash)?;
        Ok(true)
    }

    pub(super) fn list_sessions(&self) -> Result<Vec<UploadInfo>> {
        let dir = self.uploads_dir();
        let mut out = Vec::new();
        for id in read_dir_names(&dir)? {
            if !valid_upload_id(&id) {
                continue;
            }
            let session = dir.join(&id);
            let repo_file = session.join("repo");
            let Some(repo) =
                not_found_none(fs::read_to_string(&repo_file)).at("read", &repo_file)?
            else {
                continue;
            };
            let repo = RepoName::parse(&repo).map_err(|e| {
                StorageError::Corrupt(format!(
                    "`{}` does not hold a repository name: {e}",
                    repo_file.display()
                ))
            })?;
            let data = session.join("data");
            let Some(meta) = not_found_none(fs::metadata(&data)).at("stat", &data)? else {
                continue;
            };
            out.push(UploadInfo {
                repo,
                id,
                size: meta.len(),
                modified: meta.modified().at("read the mtime of", &data)?,
            });
        }
        out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// The session's data file, with the sha256 of everything in it when that is known.
struct HashingAppend {
    file: File,
    hasher: Option<Sha256Hasher>,
    /// The file's length: where it was when opened, plus what was written since.
    len: u64,
}

impl Write for HashingAppend {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Appends to one session while holding its lock.
pub(super) struct FsUploadWriter {
    out: BufWriter<HashingAppend>,
    hashers: Hashers,
    id: UploadId,
    path: PathBuf,
}

impl FsUploadWriter {
    fn io_error(path: &Path, e: &io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("failed to write `{}`: {e}", path.display()),
        )
    }
}

impl Write for FsUploadWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out
            .write(buf)
            .map_err(|e| Self::io_error(&self.path, &e))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out
            .write_all(buf)
            .map_err(|e| Self::io_error(&self.path, &e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| Self::io_error(&self.path, &e))
    }
}

impl UploadWriter for FsUploadWriter {
    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.out.flush().at("write", &self.path)?;
        let append = self.out.get_ref();
        append.file.sync_data().at("fsync", &self.path)?;
        Ok(append.len)
    }
}

impl Drop for FsUploadWriter {
    fn drop(&mut self) {
        // What was buffered is kept, as the trait promises; the lock is released after this
        // (when `out` drops), so the next writer or commit finds the running hash in place.
        let _ = self.out.flush();
        let append = self.out.get_mut();
        if let Some(h) = append.hasher.take()
            && h.len() == append.len
        {
            self.hashers
                .lock()
                .expect("poisoned")
                .insert(self.id.clone(), h);
        }
    }
}
