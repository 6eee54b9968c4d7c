//! A portable `paks.lock` meets one machine: which of its environments this host installs
//! (`PAKS_HOST_PROFILE` may fake another host), whether the host's glibc runs those builds,
//! and which configured repository (whatever its nickname here) each locked repository URL
//! is; and the other way round, which environments `paks lock` resolves for.

use std::collections::BTreeMap;

use paks_host::{HostProfile, glibc_text};
use paks_resolve::{Environment, Lock, LockedPackage, LockedRepository};
use paks_types::Platform;

use crate::Failure;
use crate::commands::Ctx;
use crate::commands::user_error;
use crate::project::{LOCK, MANIFEST, Project};
use crate::repos::{Loaded, RepoEntry};

/// The host's platform as a lock names it: `os/arch`, without a variant.
pub fn host_platform(host: &HostProfile) -> Platform {
    Platform {
        os: host.os.clone(),
        architecture: host.arch.clone(),
        variant: None,
    }
}

fn listed<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The environments `paks lock` resolves for: those of `[project] platforms` and `targets`;
/// when neither is given, the previous lock's (so a lock made elsewhere is not rewritten
/// for this host by accident), else this host's platform.
pub fn project_environments(
    project: &Project,
    previous: Option<&Lock>,
    host: &HostProfile,
) -> Result<Vec<Environment>, Failure> {
    let s = &project.settings;
    if s.platforms.is_empty() && s.targets.is_empty() {
        if let Some(prev) = previous.filter(|p| !p.environments.is_empty()) {
            return Ok(prev.environments.clone());
        }
        return Ok(vec![Environment {
            platform: host_platform(host),
            target: None,
        }]);
    }
    let platforms = if s.platforms.is_empty() {
        vec![host_platform(host)]
    } else {
        s.platforms.clone()
    };
    Environment::expand(&platforms, &s.targets).map_err(|t| {
        user_error(
            format!(
                "target `{t}` in [project] of `{}` fits none of its platforms ({})",
                project.manifest().display(),
                listed(&platforms)
            ),
            Some("add the platform of its architecture to `platforms`".into()),
        )
    })
}

/// Where the lock's environments differ from what the project declares; `None` if they
/// agree, or if the project declares none.
pub fn environments_differ(
    project: &Project,
    lock: &Lock,
    host: &HostProfile,
) -> Result<Option<String>, Failure> {
    let s = &project.settings;
    if s.platforms.is_empty() && s.targets.is_empty() {
        return Ok(None);
    }
    let wanted = project_environments(project, None, host)?;
    Ok((wanted != lock.environments).then(|| {
        format!(
            "the lock is for {}, [project] asks for {}",
            listed(&lock.environments),
            listed(&wanted)
        )
    }))
}

/// The environment of `lock` that `host` installs: the best one it can run.
pub fn host_environment(lock: &Lock, host: &HostProfile) -> Result<Environment, Failure> {
    let env = Environment::best_for(&lock.environments, host).ok_or_else(|| {
        let cpu = host.microarch.as_deref().unwrap_or("unknown CPU");
        user_error(
            format!(
                "`{LOCK}` has no environment for this host (`{}`, {cpu}): it has {}",
                host_platform(host),
                listed(&lock.environments)
            ),
            Some(format!(
                "add `{}` to `platforms` in [project] of `{MANIFEST}`, then `paks lock`",
                host_platform(host)
            )),
        )
    })?;
    for p in lock.packages_in(env) {
        if !host.glibc_ok(p.glibc.as_ref()) {
            let need = p.glibc.as_ref().map(glibc_text).unwrap_or_default();
            return Err(user_error(
                format!(
                    "locked build `{}` needs glibc {need}, and this host has {}",
                    p.id,
                    host.glibc.as_ref().map_or("another".into(), glibc_text)
                ),
                Some(
                    "lock on (or for) a host like this one, or publish a build for an older glibc"
                        .into(),
                ),
            ));
        }
    }
    Ok(env.clone())
}

/// A URL as compared between configurations: without a trailing slash.
fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The repositories configured for `ctx` (the root's, then the user's).
pub fn configured(ctx: &Ctx) -> Result<Vec<RepoEntry>, Failure> {
    Ok(crate::config::repositories(&ctx.config, &ctx.root)?
        .into_iter()
        .map(|(entry, _)| entry)
        .collect())
}

/// What this configuration calls the repository at `url` (for people), else the URL.
pub fn nickname(configured: &[RepoEntry], url: &str) -> String {
    configured
        .iter()
        .find(|r| same_url(&r.url, url))
        .map_or_else(|| url.to_owned(), |r| r.name.clone())
}

/// The key ids a configured repository trusts.
fn key_ids(entry: &RepoEntry) -> Result<Vec<String>, Failure> {
    Ok(entry
        .policy()?
        .keys
        .iter()
        .map(paks_index::PublicKey::keyid)
        .collect())
}

/// How a lock names the repository configured here as `label`.
pub fn locked_repository(loaded: &[Loaded], label: &str) -> LockedRepository {
    let entry = &loaded
        .iter()
        .find(|l| l.entry.name == label)
        .expect("the resolver only names configured repositories")
        .entry;
    LockedRepository {
        url: entry.url.clone(),
        keys: key_ids(entry).unwrap_or_default(),
    }
}

/// The configured name of each repository URL that `packages` come from, matched by URL;
/// a URL configured nowhere, or trusted here with none of the keys the lock was made
/// with, is an error.
pub fn repository_names(
    lock: &Lock,
    packages: &[&LockedPackage],
    configured: &[RepoEntry],
) -> Result<BTreeMap<String, String>, Failure> {
    let mut names = BTreeMap::new();
    for p in packages {
        if names.contains_key(&p.repository) {
            continue;
        }
        let entry = configured
            .iter()
            .find(|r| same_url(&r.url, &p.repository))
            .ok_or_else(|| {
                user_error(
                    format!(
                        "no configured repository has the URL `{}`, which `{LOCK}` takes `{}` from",
                        p.repository, p.name
                    ),
                    Some(format!("add it: `paks repo add NAME {}`", p.repository)),
                )
            })?;
        let locked_keys = lock
            .repository_of(p)
            .map(|r| r.keys.clone())
            .unwrap_or_default();
        let here = key_ids(entry)?;
        if !locked_keys.is_empty() && !here.iter().any(|k| locked_keys.contains(k)) {
            return Err(user_error(
                format!(
                    "repository `{}` (`{}`) is trusted here with other keys than `{LOCK}` was made with ({})",
                    entry.name,
                    entry.url,
                    listed(&locked_keys)
                ),
                Some("if the new key is right, `paks lock` records it; else add the lock's key with `paks repo add`".into()),
            ));
        }
        names.insert(p.repository.clone(), entry.name.clone());
    }
    Ok(names)
}
