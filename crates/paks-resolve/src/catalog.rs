//! What the resolver asks of the world: the [`Catalog`] trait and the data it returns.

use paks_types::{Digest, PackageId, PackageName, Platform, Version};
use serde::{Deserialize, Serialize};

/// One build of a package version, as an index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// The build's id in the store.
    pub id: PackageId,
    /// The digest of the build's OCI manifest.
    pub digest: Digest,
    /// The OCI platform it was built for.
    pub platform: Platform,
    /// The microarchitecture it was built for (archspec name), `None` for a baseline build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The oldest glibc it runs with, `None` if it needs none (static, or not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<Version>,
    /// Its run dependencies, each pinned to the exact build it was linked against.
    #[serde(default)]
    pub dependencies: Vec<PinnedDep>,
    /// Download size in bytes (the layer), for reporting.
    #[serde(default)]
    pub size: u64,
}

/// A run dependency pinned to one build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedDep {
    pub name: PackageName,
    pub version: Version,
    /// The exact build.
    pub id: PackageId,
    /// The digest of that build's manifest, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// One version of a package and its builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub version: Version,
    pub builds: Vec<Build>,
}

/// The packages the resolver may choose from, over one or more repositories (the CLI
/// implements it over verified indexes). Object-safe, so the resolver takes `&dyn Catalog`.
///
/// Calls are cheap and repeatable from the resolver's point of view: it asks for each name
/// at most once per repository and keeps the answer.
pub trait Catalog {
    /// Repository labels in priority order, first = highest.
    fn repositories(&self) -> Vec<String>;

    /// What `repo` offers for `name`: every version with every build, in any order; empty
    /// if the repository does not have the name.
    fn candidates(&self, repo: &str, name: &PackageName) -> Vec<Candidate>;

    /// Every name `repo` has, for "did you mean" hints on unknown names. The default knows
    /// none, which only costs the hint.
    fn names(&self, repo: &str) -> Vec<PackageName> {
        let _ = repo;
        Vec::new()
    }
}
