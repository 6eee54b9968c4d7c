//! `paks outdated`: which locked (or installed) packages have newer versions, both within
//! what the requirements allow (what `paks lock --upgrade` would take) and at all.

use std::collections::BTreeMap;
use std::io::Write;

use paks_resolve::{Catalog as _, Request};
use paks_types::{PackageName, Version, VersionReq};
use serde_json::json;

use paks_types::Reporter as _;

use crate::Failure;
use crate::cli::OutdatedArgs;
use crate::commands::{Ctx, failure, json_line, out, plural};
use crate::printer::shown;
use crate::project::Project;
use crate::repos;

/// A package as it is now: name, version, and the repository it came from where known.
struct Current {
    name: PackageName,
    version: Version,
    repository: Option<String>,
}

pub fn outdated(ctx: &Ctx, args: &OutdatedArgs) -> Result<(), Failure> {
    if let Some(dir) = &args.recipes {
        return crate::outdated_recipes::outdated(ctx, dir, args);
    }
    let (current, requests) = if args.installed {
        installed(ctx)?
    } else {
        let project = Project::find(args.project.project.as_deref())?;
        let lock = project.require_lock("`paks lock` writes it")?;
        // The lock names repositories by URL; people know them by their nicknames here.
        let configured = crate::lock_sync::configured(ctx)?;
        let current = lock
            .packages
            .iter()
            .map(|p| Current {
                name: p.name.clone(),
                version: p.version.clone(),
                repository: Some(crate::lock_sync::nickname(&configured, &p.repository)),
            })
            .collect();
        (current, project.requests()?)
    };
    let loaded = repos::load_all(ctx, args.project.offline)?;
    let allowed = allowed(ctx, &loaded, &requests);
    let catalog = repos::IndexCatalog(&loaded);
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in &current {
        if !seen.insert((c.name.clone(), c.version.clone())) {
            continue;
        }
        let newest = catalog
            .repositories()
            .iter()
            .flat_map(|r| catalog.candidates(r, &c.name))
            .map(|cand| cand.version)
            // Prereleases only count for a package that is on one.
            .filter(|v| v.pre.is_empty() || !c.version.pre.is_empty())
            .max();
        let allowed = allowed.get(&c.name);
        let behind = |v: Option<&Version>| v.is_some_and(|v| *v > c.version);
        if behind(allowed) || behind(newest.as_ref()) {
            rows.push((c, allowed.cloned(), newest));
        }
    }
    print(&rows, args.json)?;
    let checked = seen.len();
    if args.json {
        // Always one line, so that "nothing is outdated" is an answer, not silence.
        json_line(
            &json!({"type": "outdated-summary", "checked": checked, "outdated": rows.len()}),
        )?;
    }
    ctx.reporter.status(&format!(
        "{} of {checked} package{} outdated",
        rows.len(),
        plural(checked)
    ));
    Ok(())
}

/// Installed packages, and their explicit names as requests for any version.
fn installed(ctx: &Ctx) -> Result<(Vec<Current>, Vec<Request>), Failure> {
    let records = ctx.store()?.installed().map_err(failure)?;
    let mut requests: Vec<Request> = Vec::new();
    for r in records.iter().filter(|r| r.explicit) {
        if !requests.iter().any(|q| q.name == r.meta.name) {
            requests.push(Request {
                name: r.meta.name.clone(),
                req: VersionReq::STAR,
            });
        }
    }
    let current = records
        .into_iter()
        .map(|r| Current {
            name: r.meta.name,
            version: r.meta.version,
            repository: None,
        })
        .collect();
    Ok((current, requests))
}

/// The outdated packages, as a table or JSON lines.
fn print(rows: &[(&Current, Option<Version>, Option<Version>)], json: bool) -> Result<(), Failure> {
    let shown_version = |v: &Option<Version>| v.as_ref().map_or("-".into(), ToString::to_string);
    if json {
        for (c, allowed, newest) in rows {
            json_line(&json!({
                "type": "outdated",
                "name": c.name,
                "current": c.version.to_string(),
                "allowed": allowed.as_ref().map(ToString::to_string),
                "newest": newest.as_ref().map(ToString::to_string),
                "repository": c.repository,
            }))?;
        }
    } else if !rows.is_empty() {
        let mut o = out();
        let width = rows
            .iter()
            .map(|(c, ..)| c.name.as_str().len())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            o,
            "{:<width$}  {:<10} {:<10} {:<10} repository",
            "name", "current", "allowed", "newest"
        )?;
        for (c, allowed, newest) in rows {
            writeln!(
                o,
                "{:<width$}  {:<10} {:<10} {:<10} {}",
                c.name,
                c.version.to_string(),
                shown_version(allowed),
                shown_version(newest),
                shown(c.repository.as_deref().unwrap_or("-"))
            )?;
        }
    }
    Ok(())
}

/// The newest versions the requirements allow now: a resolution that prefers nothing.
fn allowed(
    ctx: &Ctx,
    loaded: &[repos::Loaded],
    requests: &[Request],
) -> BTreeMap<PackageName, Version> {
    match crate::catalog::resolve(ctx, loaded, requests, BTreeMap::new()) {
        Ok(resolution) => {
            let mut newest = BTreeMap::new();
            for r in resolution.packages {
                let v: &mut Version = newest.entry(r.name).or_insert(r.version.clone());
                if r.version > *v {
                    *v = r.version;
                }
            }
            newest
        }
        Err(e) => {
            ctx.reporter.warn(&format!(
                "the requirements do not resolve against the current indexes: {}",
                e.error
            ));
            BTreeMap::new()
        }
    }
}
