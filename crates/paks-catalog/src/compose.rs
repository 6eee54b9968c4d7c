//! Images composed on pull: `compose/<namespace>/<pkg>[/<pkg>…]` is a derived repository
//! made from the package repositories `<namespace>/<pkg>`.
//!
//! Not built yet: a pull is refused with a message.

use paks_registry::api::{ApiError, Code};
use paks_registry::extension::ManifestRequest;
use paks_registry::names::RepoName;

use crate::Catalog;

/// The first component of every composed repository.
pub const PREFIX: &str = "compose";

/// The package repositories `repo` is composed from, if it is a `compose/…` repository
/// (`compose/debian/python3/git` → `debian/python3`, `debian/git`).
pub fn sources(repo: &RepoName) -> Option<Vec<RepoName>> {
    let rest = repo.as_str().strip_prefix(PREFIX)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let namespace = parts.next()?;
    let packages: Vec<RepoName> = parts
        .filter_map(|p| RepoName::parse(&format!("{namespace}/{p}")).ok())
        .collect();
    // A name with no package still counts as derived (read-only); it composes nothing.
    Some(packages)
}

/// Makes the manifest `request` asks for exist in the storage.
#[allow(clippy::unused_async)] // not built yet
pub async fn prepare(catalog: Catalog, request: ManifestRequest) -> Result<(), ApiError> {
    drop(catalog);
    Err(ApiError::new(
        Code::Unsupported,
        format!("composing `{}` on pull is not built yet", request.repo),
    ))
}
