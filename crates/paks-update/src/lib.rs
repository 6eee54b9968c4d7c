//! Keeping recipes current: where a recipe's new upstream versions are found (the
//! `[update]` section of `paks.toml`, or what its sources imply), and format-preserving
//! bumps of `paks.toml` to a new version.
//!
//! Every request goes through one [`Fetcher`]: one request per host at a time, timeouts,
//! bounded bodies, so that checking hundreds of recipes stays polite to the hosts they
//! share.

pub mod bump;
pub mod cache;
pub mod check;
pub mod fetch;
mod strategy;

use paks_types::{LooseVersion, PackageName, Version};
use serde::Serialize;

pub use check::{CheckError, Target, check, newest, target, upstream_versions};
pub use fetch::{FetchError, FetchOptions, Fetcher};
pub use paks_recipe::{Strategy, UpdateSpec};

/// A version found upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    /// The version as a recipe takes it (semver: `1.3` becomes `1.3.0`).
    pub version: Version,
    /// The version as written upstream (`v1.3`, `1.3`, `1_3`): what replaces the old
    /// one in source URLs.
    #[serde(serialize_with = "as_text")]
    pub upstream: LooseVersion,
    /// Where this release can be downloaded, when the strategy saw it (a listing's link).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The git tag this version was read from (`v1.3`, `zlib-1.3.1`), for `git-tags`:
    /// what a bump resolves to a commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The commit that tag points to (annotated tags peeled), for `git-tags`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// What a check found about one recipe.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The recipe's package.
    pub name: PackageName,
    /// The recipe's version now.
    pub current: Version,
    /// The newest upstream version that counts under the recipe's filters (which may be
    /// the current one); `None` when upstream lists none.
    pub newest: Option<Release>,
    /// How it was found.
    #[serde(serialize_with = "strategy_name")]
    pub strategy: Strategy,
    /// Whether the strategy was inferred from the sources (no `[update]` section said it).
    pub inferred: bool,
    /// What was looked at: the git URL, the listing or JSON URL, `REGISTRY/REPOSITORY`.
    pub location: String,
}

impl Check {
    /// Whether upstream has a newer version than the recipe's.
    pub fn is_outdated(&self) -> bool {
        self.newest
            .as_ref()
            .is_some_and(|release| release.version > self.current)
    }
}

fn as_text<S: serde::Serializer>(v: &LooseVersion, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.text())
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn strategy_name<S: serde::Serializer>(v: &Strategy, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}
