//! Resolving for several environments at once (a portable lock): the requests are resolved
//! once per environment, and every name gets one version across all of them, as users of
//! uv's universal lock expect: only the builds differ between environments.

use std::collections::{BTreeMap, BTreeSet};

use paks_types::{PackageName, Version};

use crate::catalog::Catalog;
use crate::environment::Environment;
use crate::request::Request;
use crate::resolve::{Resolution, ResolveError, ResolveOptions, resolve};

/// A resolution for each environment, in the order given.
pub type Resolutions = Vec<(Environment, Resolution)>;

/// Why a multi-environment resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("cannot resolve for `{environment}`{}", held_text(held))]
    Resolve {
        /// The environment, as written in a lock (`linux/arm64`).
        environment: String,
        /// The names held at one version to match the other environments.
        held: Vec<String>,
        #[source]
        source: Box<ResolveError>,
    },
    #[error("no single version of `{name}` works in every environment ({versions})")]
    Diverges { name: PackageName, versions: String },
}

fn held_text(held: &[String]) -> String {
    if held.is_empty() {
        String::new()
    } else {
        format!(
            " with {} held to match the other environments",
            held.join(", ")
        )
    }
}

/// How many times the environments are resolved again, each time holding more names,
/// before giving up. Each round holds at least one more name, so this bounds the work.
const MAX_ROUNDS: usize = 16;

/// Resolves `requests` for each of `environments` (as [`resolve`] would on a host of that
/// environment), with one version per name across them.
///
/// Where environments choose different versions of a name, the name is held at the lowest
/// of them (the newer one usually lacks a build for some environment) and every
/// environment is resolved again, until they agree. A name that one environment installs
/// at several versions side by side (pinned builds) is left as it is.
pub fn resolve_environments(
    catalog: &dyn Catalog,
    environments: &[Environment],
    requests: &[Request],
    options: &ResolveOptions,
) -> Result<Resolutions, EnvironmentError> {
    let mut options = options.clone();
    for _ in 0..MAX_ROUNDS {
        let mut out = Vec::new();
        for env in environments {
            let resolution =
                resolve(catalog, &env.profile(), requests, &options).map_err(|source| {
                    EnvironmentError::Resolve {
                        environment: env.to_string(),
                        held: options
                            .hold
                            .iter()
                            .map(|(n, v)| format!("`{n}` at {v}"))
                            .collect(),
                        source: Box::new(source),
                    }
                })?;
            out.push((env.clone(), resolution));
        }
        let split = diverging(&out);
        if split.is_empty() {
            return Ok(out);
        }
        for (name, versions) in split {
            let lowest = versions.first().expect("a split has versions").clone();
            if options.hold.get(&name) == Some(&lowest) {
                let listed: Vec<String> = versions.iter().map(ToString::to_string).collect();
                return Err(EnvironmentError::Diverges {
                    name,
                    versions: listed.join(", "),
                });
            }
            options.hold.insert(name, lowest);
        }
    }
    Err(EnvironmentError::Diverges {
        name: PackageName::new("(several)").expect("a valid name"),
        versions: format!("still split after {MAX_ROUNDS} rounds"),
    })
}

/// The names whose version differs between environments (each environment installing
/// it at exactly one version), with the versions, lowest first.
fn diverging(resolutions: &Resolutions) -> BTreeMap<PackageName, Vec<Version>> {
    let mut per_env: Vec<BTreeMap<&PackageName, BTreeSet<&Version>>> = Vec::new();
    for (_, r) in resolutions {
        let mut names: BTreeMap<&PackageName, BTreeSet<&Version>> = BTreeMap::new();
        for p in &r.packages {
            names.entry(&p.name).or_default().insert(&p.version);
        }
        per_env.push(names);
    }
    let mut all: BTreeMap<PackageName, BTreeSet<Version>> = BTreeMap::new();
    let mut side_by_side: BTreeSet<&PackageName> = BTreeSet::new();
    for names in &per_env {
        for (name, versions) in names {
            if versions.len() > 1 {
                side_by_side.insert(name);
            }
            all.entry((*name).clone())
                .or_default()
                .extend(versions.iter().map(|v| (*v).clone()));
        }
    }
    all.into_iter()
        .filter(|(name, versions)| versions.len() > 1 && !side_by_side.contains(name))
        .map(|(name, versions)| (name, versions.into_iter().collect()))
        .collect()
}
