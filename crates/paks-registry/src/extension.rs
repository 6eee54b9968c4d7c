//! What `paks serve` adds to a plain registry, without the registry knowing what it is:
//! pages and an API outside `/v2/`, a feed of what changed, and *derived* repositories whose
//! manifests are made on request (images composed on pull).
//!
//! The registry calls an [`Extension`] at four points:
//! - once at start ([`Extension::start`]) with the storage and the access control, to get
//!   the routes it serves outside `/v2/` (tried before the static directory);
//! - after every manifest write or delete that succeeded ([`Extension::changed`]), so that
//!   it can keep its own view of the storage current without rescanning it;
//! - to learn whether a repository is derived ([`Extension::derived_from`]): a derived
//!   repository is read-only, and a user may pull it exactly when they may pull every
//!   repository it is derived from (the token endpoint grants scopes the same way);
//! - before a `GET`/`HEAD` of a manifest in a derived repository
//!   ([`Extension::prepare_manifest`]), which stores the manifest (and links its blobs and
//!   tags) so that the ordinary manifest and blob handlers answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;

use crate::api::ApiError;
use crate::auth::{AccessControl, Identity};
use crate::names::RepoName;
use crate::storage::Storage;

/// A boxed future, as [`Extension`] methods return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an extension gets when the server starts.
#[derive(Clone)]
pub struct ExtensionContext {
    pub storage: Arc<dyn Storage>,
    pub access: Arc<AccessControl>,
    /// Whether the server speaks TLS (for links it writes).
    pub tls: bool,
}

/// A request for a manifest of a derived repository.
#[derive(Debug, Clone)]
pub struct ManifestRequest {
    pub repo: RepoName,
    /// The tag or digest as the client wrote it.
    pub reference: String,
    /// Who asks (already allowed to pull `repo`).
    pub identity: Identity,
    /// The request's `Accept` header, if any.
    pub accept: Option<String>,
}

/// See the module documentation.
pub trait Extension: Send + Sync + 'static {
    /// Called once, before the server accepts connections. Returns the routes served
    /// outside `/v2/` (their paths must not start with `/v2`, `/token` or `/metrics`).
    fn start(&self, ctx: ExtensionContext) -> Router;

    /// A manifest (or tag) of `repo` was stored or deleted.
    fn changed(&self, repo: &RepoName) {
        let _ = repo;
    }

    /// The repositories `repo` is derived from, or `None` when it is an ordinary one.
    fn derived_from(&self, repo: &RepoName) -> Option<Vec<RepoName>> {
        let _ = repo;
        None
    }

    /// Makes manifest `request.reference` of derived repository `request.repo` exist in the
    /// storage (composing it if needed). An error is the client's answer.
    fn prepare_manifest(&self, request: ManifestRequest) -> BoxFuture<'_, Result<(), ApiError>> {
        let _ = request;
        Box::pin(async { Ok(()) })
    }
}

/// The rights of derived repositories, for [`AccessControl::with_derived`]: `repo` maps to
/// the repositories it is derived from.
pub type DerivedRepos = Arc<dyn Fn(&str) -> Option<Vec<String>> + Send + Sync>;
