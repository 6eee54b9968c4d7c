//! Opening directories inside the destination with the kernel's help, and a cache of the
//! directory fds that extraction is working in.
//!
//! Safety does not rest on string checks: every directory is opened relative to a
//! directory fd that is itself inside the destination, either with `openat2` and
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, or, where `openat2` is
//! missing, one component at a time with `O_NOFOLLOW | O_DIRECTORY`. Either way the
//! kernel refuses to follow a symlink or to leave the tree.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// How directories are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolver {
    /// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` (Linux 5.6 and later).
    Openat2,
    /// Component by component with `O_NOFOLLOW | O_DIRECTORY` (older kernels, and
    /// sandboxes whose seccomp filter refuses `openat2`).
    Walk,
}

/// Set once `openat2` has been seen to be unavailable, so that later extractions go
/// straight to the walk.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

impl Resolver {
    pub fn detect() -> Self {
        if OPENAT2_MISSING.load(Ordering::Relaxed) {
            Self::Walk
        } else {
            Self::Openat2
        }
    }
}

/// Why a directory could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    ThroughSymlink,
    NotDirectory,
    NotFound,
    Io(io::Error),
}

pub(crate) const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The directory fds of the path extraction is working in, root first.
///
/// Entries come sorted, so consecutive entries share their parent, and a directory's
/// subtree follows it: keeping the fds of the current directory and its ancestors makes
/// every directory be opened once.
pub(crate) struct DirStack {
    root: OwnedFd,
    resolver: Resolver,
    /// The path of the deepest directory on the stack, relative to the root.
    cur: Vec<u8>,
    /// `(length of the prefix of cur, fd)`, in increasing length.
    stack: Vec<(usize, OwnedFd)>,
}

impl DirStack {
    pub fn new(root: OwnedFd, resolver: Resolver) -> Self {
        Self {
            root,
            resolver,
            cur: Vec::with_capacity(256),
            stack: Vec::with_capacity(16),
        }
    }

    /// An fd for directory `dir` (normalised, relative to the root; empty for the root
    /// itself). With `create`, missing directories are created (mode 0755), as `tar` does
    /// for archives that do not list every parent.
    pub fn get(&mut self, dir: &[u8], create: bool) -> Result<BorrowedFd<'_>, OpenError> {
        if dir.is_empty() {
            return Ok(self.root.as_fd());
        }
        while let Some(&(len, _)) = self.stack.last() {
            if dir.len() >= len
                && dir[..len] == self.cur[..len]
                && (dir.len() == len || dir[len] == b'/')
            {
                break;
            }
            self.stack.pop();
        }
        let base_len = self.stack.last().map_or(0, |(len, _)| *len);
        self.cur.truncate(base_len);
        if base_len < dir.len() {
            let rest = if base_len == 0 {
                dir
            } else {
                &dir[base_len + 1..]
            };
            self.open_below(rest, create)?;
        }
        Ok(self
            .stack
            .last()
            .map_or(self.root.as_fd(), |(_, fd)| fd.as_fd()))
    }

    /// Open `rest` below the top of the stack and push what was opened.
    fn open_below(&mut self, rest: &[u8], create: bool) -> Result<(), OpenError> {
        if self.resolver == Resolver::Openat2 {
            let base = self
                .stack
                .last()
                .map_or(self.root.as_fd(), |(_, fd)| fd.as_fd());
            match open_beneath(base, rest) {
                Ok(fd) => {
                    self.push(rest, fd);
                    return Ok(());
                }
                // ENOSYS before Linux 5.6; EPERM from seccomp filters (older container
                // runtimes) that do not know the syscall.
                Err(Errno::NOSYS | Errno::PERM) => {
                    OPENAT2_MISSING.store(true, Ordering::Relaxed);
                    self.resolver = Resolver::Walk;
                }
                // A missing directory: the walk creates it, or reports it. ENOTDIR is a
                // file on the way, or (O_NOFOLLOW not following it) a symlink at the end:
                // the walk tells which.
                Err(Errno::NOENT | Errno::NOTDIR) => {}
                Err(Errno::LOOP) => return Err(OpenError::ThroughSymlink),
                Err(e) => return Err(OpenError::Io(e.into())),
            }
        }
        for component in rest.split(|&b| b == b'/') {
            let base = self
                .stack
                .last()
                .map_or(self.root.as_fd(), |(_, fd)| fd.as_fd());
            let fd = open_component(base, component, create)?;
            self.push(component, fd);
        }
        Ok(())
    }

    fn push(&mut self, below: &[u8], fd: OwnedFd) {
        if !self.cur.is_empty() {
            self.cur.push(b'/');
        }
        self.cur.extend_from_slice(below);
        self.stack.push((self.cur.len(), fd));
    }
}

/// `openat2(base, path, O_PATH|O_DIRECTORY, RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS)`.
fn open_beneath(base: BorrowedFd<'_>, path: &[u8]) -> Result<OwnedFd, Errno> {
    let resolve = ResolveFlags::BENEATH
        .union(ResolveFlags::NO_SYMLINKS)
        .union(ResolveFlags::NO_MAGICLINKS);
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(base, path, DIR_FLAGS, Mode::empty(), resolve) {
            // The kernel asks for a retry when a rename raced the lookup.
            Err(Errno::AGAIN) if attempts < 8 => attempts += 1,
            other => return other,
        }
    }
}

/// Open one directory component, refusing symlinks, creating it if asked.
fn open_component(base: BorrowedFd<'_>, name: &[u8], create: bool) -> Result<OwnedFd, OpenError> {
    let mut created = false;
    loop {
        match rustix::fs::openat(base, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if create && !created => {
                match rustix::fs::mkdirat(base, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(OpenError::Io(e.into())),
                }
                // The process umask may have narrowed the mode.
                rustix::fs::chmodat(base, name, Mode::from_raw_mode(0o755), AtFlags::empty())
                    .map_err(|e| OpenError::Io(e.into()))?;
                created = true;
            }
            Err(Errno::NOENT) => return Err(OpenError::NotFound),
            // With O_NOFOLLOW a symlink fails with ELOOP, or with ENOTDIR because of
            // O_DIRECTORY under O_PATH; look at what is there to say which.
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let is_link = rustix::fs::statat(base, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
                return Err(if is_link {
                    OpenError::ThroughSymlink
                } else {
                    OpenError::NotDirectory
                });
            }
            Err(e) => return Err(OpenError::Io(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(dir: &std::path::Path) -> OwnedFd {
        rustix::fs::open(dir, DIR_FLAGS, Mode::empty()).unwrap()
    }

    #[test]
    fn caches_and_refuses_symlinks() {
        for resolver in [Resolver::Openat2, Resolver::Walk] {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
            std::os::unix::fs::symlink("b", tmp.path().join("a/l")).unwrap();
            std::fs::write(tmp.path().join("a/f"), "").unwrap();
            let mut dirs = DirStack::new(root(tmp.path()), resolver);
            dirs.get(b"a/b", false).unwrap();
            assert_eq!(dirs.stack.last().unwrap().0, 3);
            dirs.get(b"a", false).unwrap();
            assert_eq!(dirs.cur, b"a");
            assert!(matches!(
                dirs.get(b"a/l", false),
                Err(OpenError::ThroughSymlink)
            ));
            assert!(matches!(
                dirs.get(b"a/l/x", true),
                Err(OpenError::ThroughSymlink)
            ));
            assert!(matches!(
                dirs.get(b"a/f", false),
                Err(OpenError::NotDirectory)
            ));
            assert!(matches!(dirs.get(b"a/n", false), Err(OpenError::NotFound)));
            dirs.get(b"a/n/m", true).unwrap();
            assert!(tmp.path().join("a/n/m").is_dir(), "{resolver:?}");
        }
    }
}
