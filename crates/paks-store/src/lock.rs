//! Advisory file locks (flock): per package id, and one for the whole store.

use std::fs::File;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

/// A held lock; released when dropped (or when the process dies, however it dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn open(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("failed to open lock `{}`: {e}", path.display()),
            )
        })
}

impl Lock {
    /// Wait for an exclusive lock on `path`.
    pub fn exclusive(path: &Path) -> std::io::Result<Self> {
        let file = open(path)?;
        flock(&file, FlockOperation::LockExclusive)?;
        Ok(Self { _file: file })
    }

    /// Wait for a shared lock on `path`.
    pub fn shared(path: &Path) -> std::io::Result<Self> {
        let file = open(path)?;
        flock(&file, FlockOperation::LockShared)?;
        Ok(Self { _file: file })
    }

    /// Take an exclusive lock on `path` if nobody holds one.
    pub fn try_exclusive(path: &Path) -> std::io::Result<Option<Self>> {
        let file = open(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
