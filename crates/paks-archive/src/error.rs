use std::io;
use std::path::PathBuf;

use paks_types::Digest;

/// Everything that can go wrong writing or reading package archives.
///
/// Entry paths from archives are shown lossily (they are bytes, and hostile ones may not be
/// UTF-8); an entry path is the path as the archive spells it, before the prefix is stripped.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A filesystem operation on a named path failed.
    #[error("failed to {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing a file through `paks_types::fs` failed; the message names the path.
    #[error(transparent)]
    File(#[from] io::Error),
    /// Reading, decompressing or parsing an archive stream failed (this includes a
    /// [`paks_types::VerifyingReader`] refusing its input).
    #[error("failed to read the archive stream")]
    Read {
        #[source]
        source: io::Error,
    },
    /// Writing or compressing a layer stream failed.
    #[error("failed to write the layer stream")]
    Write {
        #[source]
        source: io::Error,
    },
    #[error("failed to walk the directory tree `{path}`")]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("layer prefix `{prefix}` must be relative, without empty, `.` or `..` components")]
    InvalidPrefix { prefix: String },
    #[error("`{path}` is a socket, FIFO or device file, which packages cannot contain")]
    SpecialFile { path: PathBuf },
    #[error("compression level {level} is out of range for {format}")]
    CompressionLevel { format: &'static str, level: i64 },
    #[error("`{path}` changed size while it was archived")]
    FileChanged { path: PathBuf },
    #[error(
        "symlink `{path}` -> `{target}` leaves the package tree; package symlinks must be \
         relative and stay inside it"
    )]
    SymlinkLeavesTree { path: PathBuf, target: PathBuf },

    // Extraction: the archive is hostile until proven otherwise.
    #[error("destination `{path}` is not an empty directory")]
    DestNotEmpty { path: PathBuf },
    #[error("archive entry `{path}` has an absolute path")]
    AbsolutePath { path: String },
    #[error("archive entry `{path}` leaves the destination")]
    LeavesDestination { path: String },
    #[error("archive entry `{path}` has an invalid path ({reason})")]
    InvalidPath { path: String, reason: &'static str },
    #[error("archive entry `{path}` lies outside the package prefix `{prefix}`")]
    OutsidePrefix { path: String, prefix: String },
    #[error("symlink `{path}` -> `{target}` leaves the destination")]
    SymlinkEscapes { path: String, target: String },
    #[error(
        "hard link `{path}` -> `{target}` does not point to a previously extracted regular file"
    )]
    BadHardLink { path: String, target: String },
    #[error("archive entry `{path}` walks through a symlink")]
    ThroughSymlink { path: String },
    #[error("archive entry `{path}` needs a parent that is not a directory")]
    ParentNotDirectory { path: String },
    #[error("archive entry `{path}` is a {kind}, which packages cannot contain")]
    SpecialEntry { path: String, kind: &'static str },
    #[error(
        "archive entry `{path}` is setuid or setgid and writable by group or others (mode \
         {mode:o}); anyone could replace a program that runs with its owner's rights"
    )]
    WritableSetId { path: String, mode: u32 },
    #[error("archive entry `{path}` has an unsupported type ({kind})")]
    UnsupportedEntry { path: String, kind: String },
    #[error("archive entry `{path}` would replace an entry already extracted")]
    Duplicate { path: String },
    #[error("failed to create archive entry `{path}`")]
    Create {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "archive extension header ({kind}) of {size} bytes is larger than the limit of {limit}"
    )]
    ExtensionTooLarge {
        kind: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("invalid archive extension header: {reason}")]
    BadExtension { reason: &'static str },
    #[error("archive exceeds the limit of {limit} {what}")]
    LimitExceeded { what: &'static str, limit: u64 },
    #[error(
        "archive expands more than {limit}:1 ({unpacked} bytes from {compressed} compressed); \
         refusing a likely decompression bomb"
    )]
    RatioExceeded {
        limit: u64,
        unpacked: u64,
        compressed: u64,
    },

    // `.pak` files.
    #[error("`{path}` is not a single-package .pak: {reason}")]
    PakFormat { path: PathBuf, reason: String },
    #[error("`{path}` holds no blob `{digest}`")]
    MissingBlob { path: PathBuf, digest: Digest },
    #[error("digest mismatch for {what}: expected `{expected}`, got `{actual}`")]
    DigestMismatch {
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{what} is {actual} bytes, expected {expected}")]
    BlobSize {
        what: &'static str,
        expected: u64,
        actual: u64,
    },
    #[error("{what} is {size} bytes, larger than the limit of {limit}")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{what} is not valid JSON of the expected shape")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("the image config's `rootfs.diff_ids` must be exactly [`{expected}`]")]
    ConfigDiffIds { expected: Digest },
    #[error(
        "digest `{digest}` uses an algorithm other than sha256, which .pak files do not support"
    )]
    UnsupportedDigest { digest: String },
}

impl ArchiveError {
    /// Wrap an error from reading an archive stream (for callers that drive the stream
    /// themselves, such as reading a verified layer to its end).
    pub fn from_io(source: io::Error) -> Self {
        Self::Read { source }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The archive's spelling of a path, for messages.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_and_readers_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::ArchiveError>();
        send_sync::<crate::PakReader>();
    }
}
