//! The crate's errors: [`IndexError`] for building, storing, fetching and exporting
//! indexes and for keys; [`TrustError`](crate::TrustError) for trust decisions.

use std::path::PathBuf;

use crate::TrustError;

/// An error building, signing, storing, fetching or exporting an index: one pointer wide;
/// the details are in [`IndexError::kind`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct IndexError(Box<IndexErrorKind>);

impl<E> From<E> for IndexError
where
    IndexErrorKind: From<E>,
{
    fn from(e: E) -> Self {
        Self(Box::new(IndexErrorKind::from(e)))
    }
}

impl IndexError {
    pub fn kind(&self) -> &IndexErrorKind {
        &self.0
    }

    /// The trust decision that refused an index, when that is what failed.
    pub fn trust(&self) -> Option<&TrustError> {
        match &*self.0 {
            IndexErrorKind::Trust(t) => Some(t),
            _ => None,
        }
    }

    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match &*self.0 {
            IndexErrorKind::Oci(e) => e.hint(),
            IndexErrorKind::Remote(e) => e.hint(),
            IndexErrorKind::Store(e) => e.hint(),
            IndexErrorKind::Trust(e) => Some(e.hint()),
            IndexErrorKind::NotCanonical { .. } => Some(
                "the index was written by another tool or a newer paks; rebuild it with this one"
                    .into(),
            ),
            IndexErrorKind::KeyExists { .. } => {
                Some("choose another path, or remove the old key if it is no longer used".into())
            }
            IndexErrorKind::Source { .. } => Some(
                "use `oci://REGISTRY/NAMESPACE`, `https://HOST/PATH/`, or `file:///DIR`".into(),
            ),
            IndexErrorKind::ShardMismatch { .. } | IndexErrorKind::BadShard { .. } => Some(
                "the repository does not match its signed root: tell its maintainer; `paks repo update` fetches the root again"
                    .into(),
            ),
            IndexErrorKind::NoIndex { .. } => {
                Some("build and push one first (`paks index build`), or check the namespace".into())
            }
            _ => None,
        }
    }
}

/// Everything that can go wrong outside trust decisions.
#[derive(Debug, thiserror::Error)]
pub enum IndexErrorKind {
    #[error(transparent)]
    Oci(#[from] paks_oci::OciError),
    #[error(transparent)]
    Remote(#[from] paks_remote::RemoteError),
    #[error(transparent)]
    Store(#[from] paks_store::StoreError),
    #[error(transparent)]
    Archive(#[from] paks_archive::ArchiveError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("failed to {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{what}` is not a valid package index")]
    Parse {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "`{what}` lists `{file}` as the file of `{id}`; a static repository's file is a plain name beside its index"
    )]
    FileNotPlain {
        what: String,
        id: String,
        file: String,
    },
    #[error(
        "`{what}` is not in the canonical form of index schema {}: {reason}",
        crate::SCHEMA
    )]
    NotCanonical { what: String, reason: String },
    #[error("invalid key `{what}`: {reason}")]
    Key { what: String, reason: String },
    #[error("refusing to overwrite the key `{}`", path.display())]
    KeyExists { path: PathBuf },
    #[error("invalid index source `{value}`: {reason}")]
    Source { value: String, reason: String },
    #[error("failed to fetch `{url}`")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("failed to fetch `{url}`: it answered {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("failed to fetch `{url}`: {reason}")]
    Fetch { url: String, reason: String },
    #[error("there is no package index at `{location}`")]
    NoIndex { location: String },
    #[error("`{reference}` is not a paks index artifact: {reason}")]
    NotAnIndexArtifact { reference: String, reason: String },
    #[error("cannot export `{id}`: {reason}")]
    Export { id: String, reason: String },
    #[error(
        "the index shard of package `{package}` at `{location}` has digest `{actual}`, but the signed root lists `{expected}`"
    )]
    ShardMismatch {
        package: String,
        location: String,
        expected: paks_types::Digest,
        actual: paks_types::Digest,
    },
    #[error("the index shard of package `{package}` at `{location}` is refused: {reason}")]
    BadShard {
        package: String,
        location: String,
        reason: String,
    },
}

/// Shorthand for an IO error naming its path.
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> IndexError {
    let path = path.into();
    move |source| {
        IndexErrorKind::Io {
            action,
            path,
            source,
        }
        .into()
    }
}
