//! `resolve`: requests in, the builds to install out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use paks_host::HostProfile;
use paks_types::similarity::edit_distance;
use paks_types::{PackageId, PackageName, Version};
use pubgrub::PubGrubError;
use serde::{Deserialize, Serialize};

use crate::catalog::{Build, Catalog};
use crate::provider::{Pkg, Provider, root_version, unfit};
use crate::report::explain;
use crate::request::Request;

/// Knobs for [`resolve`].
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Versions to keep when they still satisfy every constraint and run here, even if a
    /// newer one exists (a lockfile's versions, see `Lock::preferences`).
    pub prefer: BTreeMap<PackageName, Version>,
    /// Versions that are the only ones allowed for their names, when the names are needed
    /// at all (a multi-environment lock holds a name at the version the other
    /// environments use).
    pub hold: BTreeMap<PackageName, Version>,
}

/// The builds to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// Every build to install, sorted by name, then id. A name appears more than once only
    /// when builds pin different builds of it (see `warnings`).
    pub packages: Vec<Resolved>,
    /// The builds chosen for the requests, sorted by name, then id.
    pub roots: Vec<PackageId>,
    /// Things the user should know that do not stop the install.
    pub warnings: Vec<String>,
}

/// One build to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    pub name: PackageName,
    pub version: Version,
    /// The repository the name was taken from.
    pub repository: String,
    pub build: Build,
    /// Whether it was requested (a root), rather than installed as a dependency.
    pub explicit: bool,
}

/// Why a resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "no repository has a package named `{name}`{}",
        did_you_mean(suggestions)
    )]
    UnknownPackage {
        name: PackageName,
        /// Known names close to it, best first.
        suggestions: Vec<PackageName>,
    },
    #[error("the requested packages cannot be installed together:\n{explanation}")]
    NoSolution {
        /// `PubGrub`'s explanation, then notes on versions skipped on this host and on
        /// repository priority.
        explanation: String,
    },
    #[error("`{dependent}` is pinned to `{id}`, which repository `{repository}` does not list")]
    PinnedBuildMissing {
        dependent: Box<PackageId>,
        id: Box<PackageId>,
        repository: String,
    },
    #[error("`{dependent}` is pinned to `{id}`, which cannot run on this host ({host}): it {why}")]
    PinnedBuildUnfit {
        dependent: Box<PackageId>,
        id: Box<PackageId>,
        host: String,
        why: String,
    },
}

/// ` (did you mean `x`?)` for the suggestions, or nothing when there are none.
pub fn did_you_mean(suggestions: &[PackageName]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean `{one}`?)"),
        many => {
            let list: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
            format!(" (did you mean one of {}?)", list.join(", "))
        }
    }
}

/// Chooses a build for each request and every build they depend on.
///
/// See the crate documentation for the rules: repository priority per name, host-aware
/// build choice, pinned dependencies, highest (or preferred) versions, prereleases only
/// on request.
pub fn resolve(
    catalog: &dyn Catalog,
    host: &HostProfile,
    requests: &[Request],
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let provider = Provider::new(catalog, host, requests, options);
    for r in requests {
        if provider.source(&r.name).is_none() {
            return Err(ResolveError::UnknownPackage {
                name: r.name.clone(),
                suggestions: suggest(catalog, &provider.repos, &r.name),
            });
        }
    }
    let solution = match pubgrub::resolve(&provider, Pkg::Root, root_version()) {
        Ok(s) => s,
        Err(PubGrubError::NoSolution(tree)) => {
            return Err(ResolveError::NoSolution {
                explanation: explain(&provider, &tree),
            });
        }
        Err(
            PubGrubError::ErrorRetrievingDependencies { source, .. }
            | PubGrubError::ErrorChoosingVersion { source, .. }
            | PubGrubError::ErrorInShouldCancel(source),
        ) => match source {},
    };

    let mut roots = BTreeSet::new();
    let names: BTreeSet<&PackageName> = requests.iter().map(|r| &r.name).collect();
    for name in names {
        let version = solution
            .get(&Pkg::Name(name.clone()))
            .expect("every requested name is in the solution");
        let source = provider.source(name).expect("checked above");
        let entry = &source.versions[version];
        let best = entry.best.expect("only runnable versions are chosen");
        roots.insert((name.clone(), entry.builds[best].id.clone()));
    }
    closure(&provider, roots)
}

/// The root builds and every build they pin, transitively.
fn closure(
    provider: &Provider<'_>,
    roots: BTreeSet<(PackageName, PackageId)>,
) -> Result<Resolution, ResolveError> {
    // id → (resolved, who pins it)
    let mut found: BTreeMap<PackageId, (Resolved, Vec<String>)> = BTreeMap::new();
    let mut queue: VecDeque<(PackageName, Version, PackageId, Option<PackageId>)> = roots
        .iter()
        .map(|(n, id)| (n.clone(), id.version().clone(), id.clone(), None))
        .collect();
    while let Some((name, version, id, dependent)) = queue.pop_front() {
        let by = dependent
            .as_ref()
            .map_or_else(|| "requested".to_owned(), |d| format!("pinned by `{d}`"));
        if let Some((_, pinned_by)) = found.get_mut(&id) {
            pinned_by.push(by);
            continue;
        }
        let source = provider.source(&name);
        let build = source.as_ref().and_then(|s| {
            s.versions
                .get(&version)?
                .builds
                .iter()
                .find(|b| b.id == id)
                .cloned()
        });
        let (Some(source), Some(build)) = (source, build) else {
            let dependent = dependent.expect("root builds come from the catalog");
            return Err(ResolveError::PinnedBuildMissing {
                dependent: Box::new(dependent),
                id: Box::new(id),
                repository: provider
                    .source(&name)
                    .map_or_else(|| "(none has the name)".to_owned(), |s| s.repo.clone()),
            });
        };
        let why = unfit(&build, provider.host, &provider.platform);
        if !why.is_empty() {
            let why: Vec<String> = why.iter().map(ToString::to_string).collect();
            return Err(ResolveError::PinnedBuildUnfit {
                dependent: Box::new(dependent.expect("root builds run on the host")),
                id: Box::new(id),
                host: provider.host.summary(),
                why: why.join(" and "),
            });
        }
        for d in &build.dependencies {
            queue.push_back((
                d.name.clone(),
                d.version.clone(),
                d.id.clone(),
                Some(id.clone()),
            ));
        }
        let resolved = Resolved {
            name,
            version,
            repository: source.repo.clone(),
            explicit: roots.iter().any(|(_, r)| *r == id),
            build,
        };
        found.insert(id, (resolved, vec![by]));
    }

    let mut by_name: BTreeMap<&PackageName, Vec<(&PackageId, &Vec<String>)>> = BTreeMap::new();
    for (id, (r, pinned_by)) in &found {
        by_name.entry(&r.name).or_default().push((id, pinned_by));
    }
    let mut warnings = Vec::new();
    for (name, builds) in by_name.iter().filter(|(_, b)| b.len() > 1) {
        let mut text = format!(
            "{} builds of {name} will be installed side by side:",
            builds.len()
        );
        for (id, pinned_by) in builds {
            let _ = write!(text, " `{id}` ({});", pinned_by.join(", "));
        }
        text.pop();
        warnings.push(text);
    }

    let mut packages: Vec<Resolved> = found.into_values().map(|(r, _)| r).collect();
    packages.sort_by(|a, b| (&a.name, &a.build.id).cmp(&(&b.name, &b.build.id)));
    Ok(Resolution {
        packages,
        roots: roots.into_iter().map(|(_, id)| id).collect(),
        warnings,
    })
}

fn suggest(catalog: &dyn Catalog, repos: &[String], name: &PackageName) -> Vec<PackageName> {
    similar_names(name.as_str(), repos.iter().flat_map(|r| catalog.names(r)))
}

/// Up to three of `known` within a small edit distance of `name`, closest first.
pub fn similar_names(name: &str, known: impl IntoIterator<Item = PackageName>) -> Vec<PackageName> {
    let max = (name.len() / 3).max(1);
    let mut close: Vec<(usize, PackageName)> = known
        .into_iter()
        .filter_map(|n| {
            let d = edit_distance(n.as_str(), name);
            (d <= max).then_some((d, n))
        })
        .collect();
    close.sort();
    close.dedup_by(|a, b| a.1 == b.1);
    close.into_iter().take(3).map(|(_, n)| n).collect()
}
