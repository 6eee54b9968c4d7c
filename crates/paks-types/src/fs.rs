//! Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory;
//! and [`replace_atomic`], the same without the fsyncs, for hints that a later sync of the
//! whole file system makes durable.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique name for a temporary file or directory next to `path`: hidden, and naming
/// the process so that a stale one can be told apart.
pub fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(
        ".{name}.{tag}-{}-{n}-{nanos:x}",
        std::process::id()
    ))
}

/// Write `bytes` to `path` atomically: readers see the old content or the new, never a
/// mix, and after a crash the file is one or the other.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |f| {
        f.write_all(bytes).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to write `{}`: {e}", path.display()),
            )
        })
    })
}

/// Like [`write_atomic`], with the content written by `fill` (whose errors are returned
/// as they are). The file gets the usual mode for new files (0666 less the umask).
pub fn write_atomic_with<E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
) -> Result<(), E> {
    write_via_temp(path, fill, true)
}

/// Replace `path` with `bytes` through a temp file and a rename, without fsync: readers
/// never see a torn file, but a crash may leave the old content (or, on some file
/// systems, an empty file). For records whose loss costs little (a hint, a cache entry)
/// written often, where two syncs per write would cost more than the record is worth;
/// a later `syncfs` (an install's commit) makes them durable with everything else.
pub fn replace_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_via_temp(
        path,
        |f| {
            f.write_all(bytes).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("failed to write `{}`: {e}", path.display()),
                )
            })
        },
        false,
    )
}

fn write_via_temp<E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
    durable: bool,
) -> Result<(), E> {
    let tmp = temp_sibling(path, "tmp");
    let context = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("failed to write `{}`: {e}", path.display()),
        )
    };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(context)?;
        fill(&mut f)?;
        if durable {
            f.sync_all().map_err(context)?;
        }
        drop(f);
        std::fs::rename(&tmp, path).map_err(context)?;
        if durable {
            fsync_parent(path).map_err(context)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsync the directory holding `path`, so that a rename or create in it is durable.
pub fn fsync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fsync_dir(parent)
}

/// fsync a directory.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_atomically() {
        let dir = std::env::temp_dir().join(format!("paks-types-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file is left behind"
        );
        let err = write_atomic(&dir.join("missing/x"), b"").unwrap_err();
        assert!(err.to_string().contains("missing/x"), "{err}");
        replace_atomic(&p, b"three").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let err = replace_atomic(&dir.join("missing/x"), b"").unwrap_err();
        assert!(err.to_string().contains("missing/x"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
