//! What can go wrong reading an image or judging it.

use paks_registry::storage::StorageError;

/// A failure of [`crate::Catalog::image`] or [`crate::verdict`].
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The registry has not started the catalogue yet (no storage to read).
    #[error("the catalogue has not started")]
    NotStarted,
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored manifest or config that does not parse as what it claims to be.
    #[error("`{what}` in `{repository}` is damaged: {reason}")]
    Damaged {
        repository: String,
        what: String,
        reason: String,
    },
    /// More to read than the catalogue reads for one request.
    #[error("`{what}` is {size} bytes; the catalogue reads at most {limit}")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// Inspecting the layers failed.
    #[error("inspecting `{image}` failed: {source}")]
    Inspect {
        image: String,
        #[source]
        source: paks_inspect::InspectError,
    },
    /// A host profile that is not what `paks host --json` prints.
    #[error("the host profile is not valid: {0}")]
    HostProfile(String),
}

impl CatalogError {
    /// Whether the asker's input is at fault (a bad host profile, an image too large to
    /// judge here) rather than the server.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::HostProfile(_) | Self::TooLarge { .. })
    }
}
