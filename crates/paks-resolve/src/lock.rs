//! `paks.lock`: a resolution written down, so that it can be installed again exactly.
//! The format is described in `docs/lockfile-format.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use paks_types::{Digest, PackageId, PackageName, Platform, Version};
use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::request::Request;
use crate::universal::Resolutions;

/// The lockfile format version this crate writes and reads.
pub const LOCK_VERSION: u32 = 2;

const HEADER: &str = "# This file is written by paks. Do not edit it by hand.\n\n";

/// A lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The format version, [`LOCK_VERSION`].
    pub version: u32,
    /// The requests it was resolved from, in canonical form (`zlib@^1.3`), sorted.
    #[serde(default)]
    pub requests: Vec<String>,
    /// The environments it was resolved for, sorted.
    pub environments: Vec<Environment>,
    /// The repositories the builds come from, sorted by URL.
    #[serde(default, rename = "repository")]
    pub repositories: Vec<LockedRepository>,
    /// Every build to install, sorted by name, then version, then id.
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
}

/// A repository, by what identifies it everywhere (its URL and signing keys), not by the
/// nickname one configuration gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRepository {
    /// The repository's URL, as configured (`oci://REGISTRY/NAMESPACE`, `https://…`).
    pub url: String,
    /// The ids of the keys its index was trusted with at lock time, sorted.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// One locked build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: PackageName,
    pub version: Version,
    pub id: PackageId,
    /// The URL of the repository it was taken from (see [`Lock::repositories`]).
    pub repository: String,
    /// The digest of its OCI manifest: what the install fetches and verifies.
    pub digest: Digest,
    pub platform: Platform,
    /// The microarchitecture it was built for; absent for a baseline build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The oldest glibc it runs with; absent if it needs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<Version>,
    /// The ids of the builds it is pinned to, sorted.
    #[serde(default)]
    pub dependencies: Vec<PackageId>,
    /// Whether it was requested, rather than installed as a dependency.
    pub explicit: bool,
    /// The environments that install it, sorted.
    pub environments: Vec<Environment>,
}

/// A lockfile that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("invalid lockfile at line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("invalid lockfile: {message}")]
    Invalid { message: String },
    #[error("lockfile version {found} is not supported (this paks reads version {LOCK_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error(
        "lockfile version {found} was written by an older paks (this paks reads version {LOCK_VERSION})"
    )]
    Outdated { found: u32 },
    #[error("invalid lockfile at line {line}: package `{id}`: {reason}")]
    Package {
        line: usize,
        id: PackageId,
        reason: String,
    },
}

/// The shape of the file as read, with the position of each package for messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: u32,
    #[serde(default)]
    requests: Vec<String>,
    environments: Vec<Environment>,
    #[serde(default, rename = "repository")]
    repositories: Vec<LockedRepository>,
    #[serde(default, rename = "package")]
    packages: Vec<toml::Spanned<LockedPackage>>,
}

impl Lock {
    /// The lock of `resolutions` (one per environment), resolved from `requests`;
    /// `repository` gives the URL and keys of a repository label of the resolutions.
    pub fn from_resolutions(
        resolutions: &Resolutions,
        requests: &[Request],
        repository: impl Fn(&str) -> LockedRepository,
    ) -> Self {
        let requests: BTreeSet<String> = requests.iter().map(ToString::to_string).collect();
        let mut repositories: BTreeMap<String, LockedRepository> = BTreeMap::new();
        let mut by_id: BTreeMap<PackageId, LockedPackage> = BTreeMap::new();
        for (env, resolution) in resolutions {
            for r in &resolution.packages {
                let repo = repositories
                    .entry(r.repository.clone())
                    .or_insert_with(|| repository(&r.repository));
                let p = by_id.entry(r.build.id.clone()).or_insert_with(|| {
                    let mut dependencies: Vec<PackageId> =
                        r.build.dependencies.iter().map(|d| d.id.clone()).collect();
                    dependencies.sort();
                    dependencies.dedup();
                    LockedPackage {
                        name: r.name.clone(),
                        version: r.version.clone(),
                        id: r.build.id.clone(),
                        repository: repo.url.clone(),
                        digest: r.build.digest.clone(),
                        platform: r.build.platform.clone(),
                        target: r.build.target.clone(),
                        glibc: r.build.glibc.clone(),
                        dependencies,
                        explicit: false,
                        environments: Vec::new(),
                    }
                });
                p.explicit |= r.explicit;
                p.environments.push(env.clone());
            }
        }
        let mut packages: Vec<LockedPackage> = by_id.into_values().collect();
        for p in &mut packages {
            p.environments.sort();
            p.environments.dedup();
        }
        packages.sort_by(|a, b| (&a.name, &a.version, &a.id).cmp(&(&b.name, &b.version, &b.id)));
        let mut environments: Vec<Environment> =
            resolutions.iter().map(|(e, _)| e.clone()).collect();
        environments.sort();
        environments.dedup();
        let mut repositories: Vec<LockedRepository> = repositories.into_values().collect();
        for r in &mut repositories {
            r.keys.sort();
            r.keys.dedup();
        }
        repositories.sort();
        repositories.dedup_by(|a, b| a.url == b.url);
        Self {
            version: LOCK_VERSION,
            requests: requests.into_iter().collect(),
            environments,
            repositories,
            packages,
        }
    }

    /// The packages that `environment` installs.
    pub fn packages_in<'l>(
        &'l self,
        environment: &'l Environment,
    ) -> impl Iterator<Item = &'l LockedPackage> + 'l {
        self.packages
            .iter()
            .filter(move |p| p.environments.contains(environment))
    }

    /// The repository of `package`.
    pub fn repository_of(&self, package: &LockedPackage) -> Option<&LockedRepository> {
        self.repositories
            .iter()
            .find(|r| r.url == package.repository)
    }

    /// The lock as TOML. The same lock always gives the same bytes.
    pub fn to_toml_string(&self) -> String {
        let body = toml::to_string(self).expect("a lock always serialises");
        format!("{HEADER}{body}")
    }

    /// Reads a lock, checking its version and that every dependency it names is in it.
    pub fn parse(text: &str) -> Result<Self, LockError> {
        // The version first, so that a newer lock is refused as such, not for its fields.
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let found = toml::from_str::<Versioned>(text)
            .map_err(|e| syntax(text, &e))?
            .version;
        if found < LOCK_VERSION {
            return Err(LockError::Outdated { found });
        }
        if found != LOCK_VERSION {
            return Err(LockError::UnsupportedVersion { found });
        }
        let raw: RawLock = toml::from_str(text).map_err(|e| syntax(text, &e))?;
        let ids: BTreeSet<&PackageId> = raw.packages.iter().map(|p| &p.get_ref().id).collect();
        for spanned in &raw.packages {
            let p = spanned.get_ref();
            let err = |reason: String| LockError::Package {
                line: line_of(text, spanned.span()),
                id: p.id.clone(),
                reason,
            };
            if *p.id.name() != p.name || *p.id.version() != p.version {
                return Err(err(format!(
                    "its id does not match its name and version `{} {}`",
                    p.name, p.version
                )));
            }
            if let Some(missing) = p.dependencies.iter().find(|d| !ids.contains(d)) {
                return Err(err(format!(
                    "its dependency `{missing}` is not in the lock"
                )));
            }
            if !raw.repositories.iter().any(|r| r.url == p.repository) {
                return Err(err(format!(
                    "its repository `{}` is not a `[[repository]]` of the lock",
                    p.repository
                )));
            }
            if p.environments.is_empty() {
                return Err(err("it is in no environment".to_owned()));
            }
            if let Some(e) = p
                .environments
                .iter()
                .find(|e| !raw.environments.contains(e))
            {
                return Err(err(format!(
                    "its environment `{e}` is not in the lock's `environments`"
                )));
            }
        }
        if ids.len() != raw.packages.len() {
            return Err(LockError::Invalid {
                message: "a package id is listed twice".to_owned(),
            });
        }
        for r in &raw.requests {
            Request::parse(r).map_err(|e| LockError::Invalid {
                message: format!("{e}"),
            })?;
        }
        Ok(Self {
            version: raw.version,
            requests: raw.requests,
            environments: raw.environments,
            repositories: raw.repositories,
            packages: raw
                .packages
                .into_iter()
                .map(toml::Spanned::into_inner)
                .collect(),
        })
    }

    /// The requests, parsed.
    pub fn parsed_requests(&self) -> Result<Vec<Request>, LockError> {
        self.requests
            .iter()
            .map(|r| {
                Request::parse(r).map_err(|e| LockError::Invalid {
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// The versions to prefer when re-locking ([`crate::ResolveOptions::prefer`]), so that
    /// a re-lock changes only what it must: the version of each name, the requested one
    /// where a name is locked at several versions, else the highest.
    pub fn preferences(&self) -> BTreeMap<PackageName, Version> {
        let mut prefer: BTreeMap<PackageName, (bool, Version)> = BTreeMap::new();
        for p in &self.packages {
            let candidate = (p.explicit, p.version.clone());
            prefer
                .entry(p.name.clone())
                .and_modify(|have| *have = (*have).clone().max(candidate.clone()))
                .or_insert(candidate);
        }
        prefer.into_iter().map(|(n, (_, v))| (n, v)).collect()
    }
}

fn syntax(text: &str, e: &toml::de::Error) -> LockError {
    LockError::Syntax {
        line: e.span().map_or(0, |s| line_of(text, s)),
        message: e.message().to_owned(),
    }
}

/// The 1-based line of the start of `span`.
fn line_of(text: &str, span: Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text[..end].matches('\n').count() + 1
}
