//! What the catalogue knows, as the JSON API serves it and the pages show it.
//!
//! These types are the API's schema (the OpenAPI document describes exactly them): change a
//! field here and the document, the pages and `paks search`/`paks info` follow.

use std::collections::BTreeMap;

use paks_types::{Digest, PackageKind};
use serde::{Deserialize, Serialize};

/// A repository of the registry: a package (its tags are versions of one package) or a
/// plain image (anything else: images, indexes, artifacts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositorySummary {
    /// The repository's full name (`acme/hello`).
    pub name: String,
    pub kind: RepositoryKind,
    /// How many tags it has.
    pub tags: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepositoryKind {
    Package,
    Image,
}

/// One package, as search results and listings show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSummary {
    /// The repository (`acme/hello`): namespace and package name.
    pub repository: String,
    /// The repository's namespace (`acme`); empty for a top-level repository.
    pub namespace: String,
    /// The package name (`hello`).
    pub name: String,
    /// The newest version.
    pub latest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// `store` (built by paks) or `rootfs` (imported from a distribution).
    pub kind: PackageKind,
    /// How many versions the registry holds.
    pub versions: usize,
}

/// One package in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub repository: String,
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    pub kind: PackageKind,
    /// Newest first.
    pub versions: Vec<PackageVersion>,
    /// Packages (in repositories the viewer may pull) whose builds depend on this one.
    pub reverse_dependencies: Vec<PackageRef>,
}

/// A pointer to a package (and a version of it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PackageRef {
    pub repository: String,
    pub name: String,
    pub version: String,
}

/// One version of a package: its tag and its builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageVersion {
    /// The version as the package states it (`1.2.0`; an imported package's own text).
    pub version: String,
    /// The tag that names it in the repository.
    pub tag: String,
    /// What the tag points at: an index over the builds, or a single build's manifest.
    pub digest: Digest,
    pub builds: Vec<Build>,
}

/// One build of a version: one platform (and microarchitecture target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// The build's manifest.
    pub manifest: Digest,
    /// The package id (`<hash>-<name>-<version>`).
    pub id: String,
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The microarchitecture target it was built for (`x86_64_v3`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The oldest glibc it needs, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<String>,
    /// The compressed layer's size in bytes.
    pub layer_size: u64,
    /// Unpacked size of its files in bytes.
    pub size: u64,
    /// Entries in the package (files, directories, links).
    pub files: u64,
    pub dependencies: Vec<Dependency>,
    pub attachments: Attachments,
}

/// A run dependency of a build, pinned to the exact build it was built against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    /// The requirement the recipe stated (`>=1.2`).
    pub requirement: String,
    /// The version of the build it is pinned to.
    pub version: String,
    /// The pinned build's package id.
    pub id: String,
    /// The pinned build's manifest digest, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    /// The repository holding it, when the catalogue found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// What is attached to a build in the registry (its referrers), by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachments {
    /// A paks signature is attached (not verified here: `paks verify` does that with a key).
    pub signed: bool,
    /// An SBOM (SPDX or CycloneDX) is attached.
    pub sbom: bool,
    /// A provenance statement is attached.
    pub provenance: bool,
    /// Test results, if attached: whether they passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestStatus>,
    /// Every referrer, as the referrers API lists it.
    pub referrers: Vec<Referrer>,
}

/// The outcome of the attached test results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    Failed,
}

/// One referrer of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referrer {
    pub digest: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub size: u64,
}

/// An image (or one platform of it): its layers mapped to packages, its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub repository: String,
    /// The tag or digest asked for.
    pub reference: String,
    /// The platform manifest's digest.
    pub digest: Digest,
    pub platform: String,
    pub layers: Vec<Layer>,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
    /// Other platforms of the same index, if the reference named an index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// The package this layer is, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageRef>,
    /// The packages merged into this layer, when it holds several (`paks image build`
    /// merges packages to stay within its layer budget).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageRef>,
}

/// How well an image runs on a host, best first (as `paks compat` says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictStatus {
    Runs,
    RunsNotOptimally,
    WillNotRun,
}

/// What a verdict was judged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictBasis {
    /// The image's `io.paks.*` labels (what `paks image build` and `paks label` record).
    Labels,
    /// Its layers, read from the registry and inspected as `paks inspect` does.
    Layers,
}

/// The compatibility verdict of an image against a host profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub repository: String,
    /// The platform manifest judged.
    pub digest: Digest,
    pub platform: String,
    /// The worst status among the reasons (`runs` when there are none).
    pub status: VerdictStatus,
    pub basis: VerdictBasis,
    pub reasons: Vec<VerdictReason>,
}

/// One finding of a verdict, naming the binary or label and the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictReason {
    pub status: VerdictStatus,
    pub message: String,
}

/// Search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    pub query: String,
    /// How many packages matched (more than `packages` holds when cut at the limit).
    pub total: usize,
    pub packages: Vec<PackageSummary>,
}
