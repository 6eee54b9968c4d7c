//! File helpers of the filesystem storage: error context, atomic links, listings, hashing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use paks_types::fs::fsync_parent;
use paks_types::{Digest, DigestAlgorithm, Sha256Hasher};
use sha2::Digest as _;

use super::HASH_BUFFER;
use crate::names::RepoName;
use crate::storage::{Result, StorageError};

/// Attaches what was done to which path to an IO error.
pub(super) trait IoContext<T> {
    fn at(self, what: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, what: &str, path: &Path) -> Result<T> {
        self.map_err(|e| StorageError::io(format!("failed to {what} `{}`", path.display()), e))
    }
}

pub(super) fn not_found_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn exists(path: &Path) -> Result<bool> {
    path.try_exists().at("stat", path)
}

pub(super) fn link_path(mut base: PathBuf, digest: &Digest) -> PathBuf {
    base.push(digest.algorithm().as_str());
    base.push(digest.hex());
    base
}

pub(super) fn referrer_file_name(digest: &Digest) -> String {
    format!("{}-{}.json", digest.algorithm().as_str(), digest.hex())
}

/// Sets the mtime of `path` to now.
pub(super) fn touch(path: &Path) -> io::Result<()> {
    File::open(path)?.set_modified(SystemTime::now())
}

/// Creates directory `dir` and its missing parents, fsyncing each parent that gains an entry
/// so the new directory survives a crash.
pub(super) fn ensure_dir(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => fsync_parent(dir).at("fsync the parent of", dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                ensure_dir(parent)?;
            }
            match fs::create_dir(dir) {
                Ok(()) => fsync_parent(dir).at("fsync the parent of", dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(StorageError::io(
                    format!("failed to create `{}`", dir.display()),
                    e,
                )),
            }
        }
        Err(e) => Err(StorageError::io(
            format!("failed to create `{}`", dir.display()),
            e,
        )),
    }
}

pub(super) fn ensure_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => ensure_dir(parent),
        None => Ok(()),
    }
}

/// Creates the empty link file `path` (creating an empty file is atomic) and makes it durable.
pub(super) fn create_link(path: &Path) -> Result<()> {
    ensure_parent(path)?;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at("create", path)?;
    fsync_parent(path).at("fsync the parent of", path)
}

/// Opens (creating if needed) the lock file `path`, for `flock`.
pub(super) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at("open", path)
}

/// Removes file `path`; returns whether it existed.
pub(super) fn remove_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            fsync_parent(path).at("fsync the parent of", path)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StorageError::io(
            format!("failed to remove `{}`", path.display()),
            e,
        )),
    }
}

/// The names in directory `dir` (none if it does not exist), without temporary files
/// (starting with `.`) and names that are not UTF-8.
pub(super) fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let Some(entries) = not_found_none(fs::read_dir(dir)).at("read", dir)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.at("read", dir)?;
        if let Ok(name) = entry.file_name().into_string()
            && !name.starts_with('.')
        {
            out.push(name);
        }
    }
    Ok(out)
}

/// The digests named by the link files in `base/<alg>/<hex>`, sorted.
pub(super) fn list_links(base: &Path) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for alg in super::ALGORITHMS {
        for hex in read_dir_names(&base.join(alg.as_str()))? {
            if let Ok(d) = format!("{}:{hex}", alg.as_str()).parse() {
                out.push(d);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub(super) fn walk_repos(dir: &Path, name: &str, out: &mut Vec<RepoName>) -> Result<()> {
    let Some(entries) = not_found_none(fs::read_dir(dir)).at("read", dir)? else {
        return Ok(());
    };
    let mut is_repo = false;
    for entry in entries {
        let entry = entry.at("read", dir)?;
        let Ok(child) = entry.file_name().into_string() else {
            continue;
        };
        if child == "_manifests" || child == "_blobs" {
            is_repo = true;
        } else if !child.starts_with(['_', '.'])
            && entry.file_type().at("stat", &entry.path())?.is_dir()
        {
            let child_name = if name.is_empty() {
                child
            } else {
                format!("{name}/{child}")
            };
            walk_repos(&entry.path(), &child_name, out)?;
        }
    }
    if is_repo && let Ok(repo) = RepoName::parse(name) {
        out.push(repo);
    }
    Ok(())
}

/// The digest of `bytes` with `algorithm`.
pub(in crate::storage) fn digest_of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
    match algorithm {
        DigestAlgorithm::Sha256 => Digest::sha256_of(bytes),
        DigestAlgorithm::Sha512 => Digest::sha512_of(bytes),
    }
}

/// Streams `reader` through `algorithm`; returns the digest and the byte count.
pub(super) fn hash_reader(
    mut reader: impl Read,
    algorithm: DigestAlgorithm,
) -> io::Result<(Digest, u64)> {
    let mut buf = vec![0u8; HASH_BUFFER];
    match algorithm {
        DigestAlgorithm::Sha256 => {
            let mut hasher = Sha256Hasher::default();
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let len = hasher.len();
            Ok((hasher.finish(), len))
        }
        DigestAlgorithm::Sha512 => {
            let mut hasher = sha2::Sha512::new();
            let mut len = 0u64;
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                        len += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let mut text = String::with_capacity(7 + 128);
            text.push_str("sha512:");
            for b in hasher.finalize() {
                use std::fmt::Write as _;
                let _ = write!(text, "{b:02x}");
            }
            let digest = text
                .parse()
                .map_err(|e| io::Error::other(format!("sha512 produced an invalid digest: {e}")))?;
            Ok((digest, len))
        }
    }
}

/// The `subject.digest` of a manifest, if it has one and parses.
pub(in crate::storage) fn subject_of(bytes: &[u8]) -> Option<Digest> {
    #[derive(serde::Deserialize)]
    struct Subject {
        digest: Digest,
    }
    #[derive(serde::Deserialize)]
    struct WithSubject {
        subject: Option<Subject>,
    }
    serde_json::from_slice::<WithSubject>(bytes)
        .ok()?
        .subject
        .map(|s| s.digest)
}
