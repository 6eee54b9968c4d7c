//! Advisory file locks (flock): per package id, and one for the whole store.
//!
//! Every process takes them in one global order, so that no two can wait for each other:
//! `state/store.lock` first (shared by writers, exclusive for gc), then the id locks a
//! command needs, all at once, sorted by id (see `Store::lock_ids`). A wait is bounded
//! ([`LOCK_TIMEOUT_ENV`], 10 minutes by default) and a timeout names the process that
//! holds the lock: each holder writes its pid into the lock file.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

use crate::{StoreError, StoreErrorKind};

/// The environment variable that bounds a wait for a lock, in seconds.
pub const LOCK_TIMEOUT_ENV: &str = "PAKS_LOCK_TIMEOUT";

/// How long a command waits for a lock unless [`LOCK_TIMEOUT_ENV`] says otherwise: long
/// enough for another install of a large package to finish, short enough that a stuck
/// holder is reported rather than waited on forever.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_mins(10);

/// The wait from the environment, or the default (also for a value that does not parse).
pub(crate) fn timeout_from_env() -> Duration {
    std::env::var(LOCK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(DEFAULT_LOCK_TIMEOUT, Duration::from_secs_f64)
}

/// A held lock; released when dropped (or when the process dies, however it dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn open(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("failed to open lock `{}`: {e}", path.display()),
            )
        })
}

/// Whether a lock is shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mode {
    Shared,
    Exclusive,
}

impl Lock {
    /// Wait up to `timeout` for a lock on `path`.
    pub(crate) fn take(path: &Path, mode: Mode, timeout: Duration) -> Result<Self, StoreError> {
        let mut file = open(path)?;
        let (blocking, polling) = match mode {
            Mode::Shared => (
                FlockOperation::LockShared,
                FlockOperation::NonBlockingLockShared,
            ),
            Mode::Exclusive => (
                FlockOperation::LockExclusive,
                FlockOperation::NonBlockingLockExclusive,
            ),
        };
        let start = Instant::now();
        // flock has no timeout: poll, backing off to a few times a second.
        let mut pause = Duration::from_millis(5);
        loop {
            match flock(&file, polling) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) if e == rustix::io::Errno::NOLCK => {
                    // No lock manager (some network filesystems): wait as before.
                    flock(&file, blocking).map_err(std::io::Error::from)?;
                    break;
                }
                Err(e) => return Err(std::io::Error::from(e).into()),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(StoreError::from(StoreErrorKind::LockTimeout {
                    path: path.to_path_buf(),
                    waited_secs: waited.as_secs(),
                    holder: holder(&mut file),
                }));
            }
            std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
            pause = (pause * 2).min(Duration::from_millis(250));
        }
        // Best effort (shared holders overwrite each other's): the pid only serves the
        // message of whoever waits next.
        let _ = write_pid(&mut file);
        Ok(Self { _file: file })
    }

    /// Take an exclusive lock on `path` if nobody holds one.
    pub fn try_exclusive(path: &Path) -> std::io::Result<Option<Self>> {
        let mut file = open(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let _ = write_pid(&mut file);
                Ok(Some(Self { _file: file }))
            }
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(pid.as_bytes())
}

/// The pid the last holder wrote into the lock file, if any.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    std::io::Read::by_ref(file)
        .take(32)
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok()
}

/// Locks taken together: all of them in one order (the store lock, then ids sorted),
/// released together when dropped.
#[derive(Debug, Default)]
pub(crate) struct Held {
    _locks: Vec<Lock>,
}

impl Held {
    /// Take `(path, mode)` in the order given, which the caller sorted.
    pub(crate) fn take(
        wanted: impl IntoIterator<Item = (PathBuf, Mode)>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut locks = Vec::new();
        for (path, mode) in wanted {
            locks.push(Lock::take(&path, mode, timeout)?);
        }
        Ok(Self { _locks: locks })
    }
}
