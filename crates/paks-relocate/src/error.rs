use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while moving a prefix between roots.
///
/// Files that merely cannot be rewritten (a RUNPATH without room, a binary under a longer
/// root) are not errors: they are listed in the operation's report.
#[derive(Debug, thiserror::Error)]
pub enum RelocateError {
    /// A store directory argument is unusable.
    #[error("invalid store directory `{value}`: {reason}")]
    InvalidStore { value: String, reason: &'static str },

    /// The package's own store path is not inside any of the store directories.
    #[error("the package's store path `{value}` is not an entry of any store directory")]
    OwnStorePath { value: String },

    /// A relocation entry, which comes from untrusted metadata, names something other than
    /// a regular file inside the prefix.
    #[error("refusing relocation entry `{entry}`: {reason}")]
    UnsafeEntry { entry: String, reason: &'static str },

    /// A file that needs listing has a name that the metadata cannot carry.
    #[error("cannot list `{}` for relocation: its path is not UTF-8", path.display())]
    NonUtf8Path { path: PathBuf },

    /// Walking the prefix failed.
    #[error("failed to walk `{}`", path.display())]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },

    /// Reading a file while looking for store paths failed.
    #[error("failed to scan `{}`", path.display())]
    Scan {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Reading or patching an ELF file's RUNPATH failed.
    #[error("failed to fix the RUNPATH of `{}`", path.display())]
    Runpath {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Rewriting a listed file failed.
    #[error("failed to rewrite `{}`", path.display())]
    Rewrite {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Checking a listed file failed for another reason than its absence.
    #[error("failed to check relocation entry `{entry}`")]
    Check {
        entry: String,
        #[source]
        source: io::Error,
    },
}
