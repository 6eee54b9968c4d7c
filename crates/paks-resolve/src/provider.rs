//! The `PubGrub` dependency provider: per-name repository choice, per-version build choice.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::rc::Rc;

use paks_host::{HostProfile, glibc_text};
use paks_types::{PackageName, Platform, Version};
use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics, Ranges,
};

use crate::catalog::{Build, Catalog};
use crate::request::{Request, prerelease_allowed, req_to_ranges};
use crate::resolve::ResolveOptions;

/// A `PubGrub` package: the user's request (the root), or a named package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Pkg {
    Root,
    Name(PackageName),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("your request"),
            Self::Name(n) => write!(f, "{n}"),
        }
    }
}

/// The version of the root package: it has exactly one.
pub(crate) fn root_version() -> Version {
    Version::new(0, 0, 0)
}

/// Why a build cannot run on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unfit {
    Platform(Platform),
    Target(String),
    Glibc(Version),
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform(p) => write!(f, "is for {p}"),
            Self::Target(t) => write!(f, "needs target {t}"),
            Self::Glibc(v) => write!(f, "needs glibc {}", glibc_text(v)),
        }
    }
}

/// One version as seen from this host.
#[derive(Debug)]
pub(crate) struct Entry {
    pub builds: Vec<Build>,
    /// The index in `builds` of the best runnable build, if any runs.
    pub best: Option<usize>,
}

/// A name as taken from its repository.
#[derive(Debug)]
pub(crate) struct Source {
    pub repo: String,
    pub versions: BTreeMap<Version, Entry>,
}

/// Why `build` cannot run on `host`; empty if it can.
pub(crate) fn unfit(build: &Build, host: &HostProfile, platform: &Platform) -> Vec<Unfit> {
    let mut why = Vec::new();
    if !build.platform.runs_on(platform) {
        why.push(Unfit::Platform(build.platform.clone()));
    }
    if let Some(t) = &build.target
        && host.can_run_target(Some(t)).is_none()
    {
        why.push(Unfit::Target(t.clone()));
    }
    if let Some(g) = &build.glibc
        && !host.glibc_ok(Some(g))
    {
        why.push(Unfit::Glibc(g.clone()));
    }
    why
}

/// The ranking key of a runnable build, smallest best: the target's rank on this host
/// (exact microarch, then ancestors, then generic levels, baseline last); an exact platform
/// variant before none; the lowest glibc requirement (the most portable of equally fast
/// builds); the id, so the choice is deterministic.
fn rank<'b>(build: &'b Build, host: &HostProfile) -> impl Ord + use<'b> {
    (
        host.can_run_target(build.target.as_deref()),
        build.platform.variant.is_none(),
        build.glibc.clone(),
        &build.id,
    )
}

pub(crate) struct Provider<'a> {
    pub catalog: &'a dyn Catalog,
    pub host: &'a HostProfile,
    pub platform: Platform,
    pub repos: Vec<String>,
    pub requests: &'a [Request],
    pub prefer: &'a BTreeMap<PackageName, Version>,
    pub hold: &'a BTreeMap<PackageName, Version>,
    sources: RefCell<HashMap<PackageName, Option<Rc<Source>>>>,
}

impl<'a> Provider<'a> {
    pub fn new(
        catalog: &'a dyn Catalog,
        host: &'a HostProfile,
        requests: &'a [Request],
        options: &'a ResolveOptions,
    ) -> Self {
        Self {
            catalog,
            host,
            platform: host.platform(),
            repos: catalog.repositories(),
            requests,
            prefer: &options.prefer,
            hold: &options.hold,
            sources: RefCell::default(),
        }
    }

    /// The name as the highest-priority repository that has any version of it offers it.
    pub fn source(&self, name: &PackageName) -> Option<Rc<Source>> {
        if let Some(known) = self.sources.borrow().get(name) {
            return known.clone();
        }
        let loaded = self.load(name).map(Rc::new);
        self.sources
            .borrow_mut()
            .insert(name.clone(), loaded.clone());
        loaded
    }

    fn load(&self, name: &PackageName) -> Option<Source> {
        let (repo, candidates) = self.repos.iter().find_map(|repo| {
            let c = self.catalog.candidates(repo, name);
            (!c.is_empty()).then(|| (repo.clone(), c))
        })?;
        let mut versions: BTreeMap<Version, Entry> = BTreeMap::new();
        for c in candidates {
            versions
                .entry(c.version)
                .or_insert_with(|| Entry {
                    builds: Vec::new(),
                    best: None,
                })
                .builds
                .extend(c.builds);
        }
        for entry in versions.values_mut() {
            entry.best = entry
                .builds
                .iter()
                .enumerate()
                .filter(|(_, b)| unfit(b, self.host, &self.platform).is_empty())
                .min_by_key(|(_, b)| rank(b, self.host))
                .map(|(i, _)| i);
        }
        Some(Source { repo, versions })
    }

    /// The lower-priority repositories that also have `name`, and their versions.
    pub fn shadowed(&self, name: &PackageName, taken_from: &str) -> Vec<(String, Vec<Version>)> {
        self.repos
            .iter()
            .skip_while(|r| *r != taken_from)
            .skip(1)
            .filter_map(|repo| {
                let mut versions: Vec<Version> = self
                    .catalog
                    .candidates(repo, name)
                    .into_iter()
                    .map(|c| c.version)
                    .collect();
                versions.sort();
                versions.dedup();
                (!versions.is_empty()).then(|| (repo.clone(), versions))
            })
            .collect()
    }

    /// The requests naming `name`.
    pub fn requests_for(&self, name: &PackageName) -> Vec<&'a Request> {
        self.requests.iter().filter(|r| r.name == *name).collect()
    }

    /// Whether `v` may be chosen within `range`: it has a runnable build and passes the
    /// prerelease rule.
    fn eligible(
        &self,
        name: &PackageName,
        entry: &Entry,
        v: &Version,
        range: &Ranges<Version>,
    ) -> bool {
        entry.best.is_some()
            && range.contains(v)
            && self.hold.get(name).is_none_or(|held| held == v)
            && (v.pre.is_empty() || prerelease_allowed(v, &self.requests_for(name), range))
    }

    pub fn root_dependencies(&self) -> DependencyConstraints<Pkg, Ranges<Version>> {
        let mut deps: BTreeMap<PackageName, Ranges<Version>> = BTreeMap::new();
        for r in self.requests {
            let range = req_to_ranges(&r.req);
            deps.entry(r.name.clone())
                .and_modify(|have| *have = have.intersection(&range))
                .or_insert(range);
        }
        deps.into_iter().map(|(n, r)| (Pkg::Name(n), r)).collect()
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = Infallible;
    type Priority = (u32, Reverse<usize>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let Pkg::Name(name) = package else {
            return (u32::MAX, Reverse(0));
        };
        let count = self.source(name).map_or(0, |s| {
            s.versions
                .iter()
                .filter(|(v, e)| self.eligible(name, e, v, range))
                .count()
        });
        // Decide first what cannot be decided (fail fast), then the most contested, then
        // the most constrained.
        if count == 0 {
            return (u32::MAX, Reverse(0));
        }
        (stats.conflict_count(), Reverse(count))
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, Infallible> {
        let Pkg::Name(name) = package else {
            return Ok(Some(root_version()));
        };
        let Some(source) = self.source(name) else {
            return Ok(None);
        };
        if let Some(v) = self.prefer.get(name)
            && let Some(entry) = source.versions.get(v)
            && self.eligible(name, entry, v, range)
        {
            return Ok(Some(v.clone()));
        }
        Ok(source
            .versions
            .iter()
            .rev()
            .find(|(v, e)| self.eligible(name, e, v, range))
            .map(|(v, _)| v.clone()))
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Ranges<Version>, String>, Infallible> {
        let Pkg::Name(name) = package else {
            return Ok(Dependencies::Available(self.root_dependencies()));
        };
        let build = self.source(name).and_then(|s| {
            let entry = s.versions.get(version)?;
            entry.best.map(|i| entry.builds[i].clone())
        });
        let Some(build) = build else {
            // Not reached: only versions with a runnable build are chosen.
            return Ok(Dependencies::Unavailable(
                "has no build for this host".to_owned(),
            ));
        };
        // The build was linked against exact dependency builds: each dependency is a pin.
        let mut deps: BTreeMap<PackageName, Ranges<Version>> = BTreeMap::new();
        for d in &build.dependencies {
            let pin = Ranges::singleton(d.version.clone());
            deps.entry(d.name.clone())
                .and_modify(|have| *have = have.intersection(&pin))
                .or_insert(pin);
        }
        Ok(Dependencies::Available(
            deps.into_iter().map(|(n, r)| (Pkg::Name(n), r)).collect(),
        ))
    }
}
