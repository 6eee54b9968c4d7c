//! What `paks lock` and `paks sync` print: a line per package for people, JSON lines
//! (`--json`) for scripts; and `paks lock --platform/--target`, a resolution for one
//! environment that is shown and never written.

use std::io::Write;

use paks_resolve::{Environment, Lock, LockedPackage};
use paks_types::Platform;
use serde_json::json;

use crate::Failure;
use crate::cli::LockArgs;
use crate::commands::{Ctx, json_line, out, plural, user_error};
use crate::project::{self, Locked, Project, Synced};
use crate::{lock_sync, repos};

fn package_json(p: &LockedPackage) -> serde_json::Value {
    json!({
        "type": "package",
        "name": p.name.as_str(),
        "version": p.version.to_string(),
        "id": p.id.to_string(),
        "digest": p.digest.to_string(),
        "repository": p.repository,
        "platform": p.platform.to_string(),
        "target": p.target,
        "explicit": p.explicit,
        "environments": p.environments.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// `paks lock --json`: a `package` line per locked build, then a `lock` line.
pub fn lock_json(locked: &Locked, path: &std::path::Path, written: bool) -> Result<(), Failure> {
    for p in &locked.lock.packages {
        json_line(&package_json(p))?;
    }
    json_line(&json!({
        "type": "lock",
        "path": path,
        "written": written,
        "changed": locked.changed,
        "environments": locked.lock.environments.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "packages": locked.lock.packages.len(),
    }))?;
    Ok(())
}

/// `paks sync --json`: a `package` line per package of this host's environment (with
/// whether it was installed now), then a `sync` line (with why the lock was re-locked).
pub fn sync_json(
    project: &Project,
    synced: &Synced,
    relocked: Option<&str>,
) -> Result<(), Failure> {
    for p in &synced.packages {
        let mut line = package_json(p);
        line["installed"] = synced.installed.contains(&p.id).into();
        json_line(&line)?;
    }
    json_line(&json!({
        "type": "sync",
        "environment": synced.environment.to_string(),
        "relocked": relocked.is_some(),
        "stale": relocked,
        "installed": synced.installed.len(),
        "locked": synced.packages.len(),
        "view": project.view_path(),
    }))?;
    Ok(())
}

/// `paks lock --platform OS/ARCH [--target NAME]`: would the project resolve there?
/// Resolves for that one environment and shows the result; `paks.lock` is not touched
/// (adding the platform to `[project] platforms` is how a lock covers it).
pub fn check_environment(ctx: &Ctx, project: &Project, args: &LockArgs) -> Result<(), Failure> {
    let host = crate::catalog::host()?;
    let platform = match &args.platform {
        Some(p) => p.parse::<Platform>().map_err(|e| {
            user_error(
                format!("`{p}` is not a platform: {e}"),
                Some("a platform is `OS/ARCH`: `linux/arm64`".into()),
            )
        })?,
        None => lock_sync::host_platform(&host),
    };
    let text = match &args.target {
        Some(t) => format!("{platform}+{t}"),
        None => platform.to_string(),
    };
    let environment: Environment = text.parse().map_err(|e: String| {
        user_error(
            format!("cannot lock for `{text}`: {e}"),
            Some("targets are archspec names: `x86_64_v3`, `zen3`, `neoverse_n1`".into()),
        )
    })?;
    let requests = project.requests()?;
    let previous = project.read_lock().ok().flatten();
    let loaded = repos::load_all(ctx, args.project.offline)?;
    let resolutions = project::resolve_for(
        ctx,
        &loaded,
        std::slice::from_ref(&environment),
        &requests,
        previous.as_ref().map(Lock::preferences).unwrap_or_default(),
    )?;
    let lock = Lock::from_resolutions(&resolutions, &requests, |label| {
        lock_sync::locked_repository(&loaded, label)
    });
    ctx.reporter.status(&format!(
        "Resolved {} package{} for `{environment}`; `paks.lock` is not written (add the platform to `platforms` in [project] to lock for it)",
        lock.packages.len(),
        plural(lock.packages.len())
    ));
    let locked = Locked {
        lock,
        changed: false,
    };
    if args.json {
        return lock_json(&locked, &project.lock_path(), false);
    }
    let mut o = out();
    for p in &locked.lock.packages {
        writeln!(
            o,
            "{} {} {}{}",
            p.name,
            p.version,
            p.platform,
            p.target
                .as_ref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}
