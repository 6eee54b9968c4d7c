//! Why an import failed; every variant names the file.

use std::io;
use std::path::{Path, PathBuf};

use crate::ImportError;

/// Why a package could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The package file could not be read or parsed.
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: ImportError,
    },
    /// Its data tarball could not become a rootfs layer (a refused entry, a limit).
    #[error("cannot turn the files of `{}` into a layer", path.display())]
    Layer {
        path: PathBuf,
        #[source]
        source: paks_archive::ArchiveError,
    },
    /// Its metadata breaks paks' rules (a name paks cannot hold).
    #[error("cannot import `{}`", path.display())]
    Meta {
        path: PathBuf,
        #[source]
        source: paks_types::TypeError,
    },
    /// It cannot be imported as asked.
    #[error("cannot import `{}`: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// Reading or writing a file failed.
    #[error("failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing a `.pak` failed.
    #[error("failed to write `{}`", path.display())]
    Pak {
        path: PathBuf,
        #[source]
        source: paks_archive::ArchiveError,
    },
}

impl ConvertError {
    pub(crate) fn read(path: &Path, source: ImportError) -> Self {
        Self::Read {
            path: path.to_owned(),
            source,
        }
    }
    pub(crate) fn layer(path: &Path, source: paks_archive::ArchiveError) -> Self {
        Self::Layer {
            path: path.to_owned(),
            source,
        }
    }
    pub(crate) fn meta(path: &Path, source: paks_types::TypeError) -> Self {
        Self::Meta {
            path: path.to_owned(),
            source,
        }
    }
    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Whether the input is at fault (exit 1) rather than the machine (exit 2).
    pub fn is_input(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Pak { .. })
    }
}
