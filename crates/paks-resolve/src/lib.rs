//! Dependency resolution for paks: from requests (`hello zlib@^1.3 'cmake>=3.20,<4'`) to
//! the exact builds to install, with `PubGrub`; and the `paks.lock` lockfile.
//!
//! The resolver asks a [`Catalog`] (implemented by the CLI over verified indexes) what each
//! repository offers, and a [`HostProfile`] what this host runs. The rules:
//!
//! - **Requests** ([`Request::parse`]): `NAME` (any version), `NAME@REQ`, or `NAME` directly
//!   followed by an operator (`cmake>=3.20,<4`). `REQ` is a semver requirement with cargo's
//!   reading: a bare version is a caret requirement (`zlib@1.3` = `^1.3`), `=1.2.3` is exact.
//!   Several requests for one name must all hold.
//! - **Repository priority**: each name is taken from the highest-priority repository that
//!   has any version of it, runnable here or not; lower-priority repositories are never
//!   consulted for that name, so a name cannot be hijacked by publishing a newer version of
//!   it elsewhere (uv's default index strategy). Each [`Resolved`] names its repository, and
//!   a failure notes the shadowed repositories that also have a name it mentions.
//! - **Builds and the host**: a version is a candidate only if one of its builds runs here:
//!   its platform matches the host's ([`Platform::runs_on`](paks_types::Platform::runs_on)),
//!   the host can run its microarchitecture target, and the host's glibc is new enough. Of
//!   a version's runnable builds the best is chosen: the best-ranked target on this host
//!   (the exact microarchitecture, then the specific ones it descends from, then the
//!   generic levels from highest to lowest, then a baseline build without target); then an
//!   exact platform variant over none; then the lowest glibc requirement (equally fast, and
//!   more portable if the install is later copied into an image); then the id, so the choice
//!   never depends on the catalog's order.
//! - **Dependencies are pins**: a build was linked against exact dependency builds, so the
//!   dependencies `PubGrub` sees for a version are `== pinned version` for each
//!   [`PinnedDep`] of that version's chosen build. The install set is the requested builds
//!   and, transitively, the exact builds their pins name (looked up by id among the
//!   pinned version's builds in the dependency's repository; a missing one, or one that
//!   cannot run here, is an error naming it). When builds pin different builds of one
//!   name, all of them are installed (the store is content-addressed) and
//!   [`Resolution::warnings`] says so.
//! - **Versions**: the highest version satisfying every constraint is chosen, unless
//!   [`ResolveOptions::prefer`] names a version that still does (a lockfile's, to keep a
//!   re-lock stable).
//! - **Prereleases** (`2.0.0-rc.1`) are chosen only when asked for: when a request for the
//!   name names a prerelease of the same `major.minor.patch` and accepts the version
//!   (semver's rule, `hello@>=2.0.0-rc.0`), or when a dependency pins exactly it.
//! - **Environments** ([`resolve_environments`]): a portable lock resolves the requests
//!   once per [`Environment`] (a platform, optionally a microarchitecture target), each as
//!   for a host of that environment ([`Environment::profile`]), with one version per name
//!   across environments ([`ResolveOptions::hold`]); only the builds differ.
//! - **Failures**: an unknown requested name is [`ResolveError::UnknownPackage`] with
//!   close known names; an unsatisfiable request is [`ResolveError::NoSolution`] with
//!   `PubGrub`'s derivation in words, followed by `note:` lines saying which versions were
//!   skipped on this host and why (the targets and glibc their builds need).
//!
//! Limitation: the build of a version is chosen before solving, from the host alone. If
//! that build's pins conflict, the solver tries other versions, not other builds of the
//! same version; and a dependency reached through a pin to a build other than its best one
//! brings that build's own pins into the install set, which the solver did not check
//! against the rest (the warnings name any name installed twice).

mod catalog;
mod environment;
mod lock;
mod provider;
mod report;
mod request;
mod resolve;
mod universal;

pub use catalog::{Build, Candidate, Catalog, PinnedDep};
pub use environment::Environment;
pub use lock::{LOCK_VERSION, Lock, LockError, LockedPackage, LockedRepository};
pub use paks_host::HostProfile;
pub use request::{Request, RequestError};
pub use resolve::{
    Resolution, ResolveError, ResolveOptions, Resolved, did_you_mean, resolve, similar_names,
};
pub use universal::{EnvironmentError, Resolutions, resolve_environments};
