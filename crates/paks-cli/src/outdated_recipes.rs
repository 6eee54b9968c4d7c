//! `paks outdated --recipes DIR`: each recipe's version against the newest upstream.
//!
//! Recipes are checked concurrently (at most [`IN_FLIGHT`] at once) while the [`Fetcher`]
//! keeps each host to one request at a time; what a location listed is kept in the user's
//! cache (`<cache>/update/`) for `update.ttl`. A recipe that fails is reported and the
//! others are still checked. Exit 0: all current; 1: something is outdated (or a recipe is
//! wrong); 2: a check failed on the network.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use paks_recipe::Recipe;
use paks_types::Reporter as _;
use paks_update::cache::Cache;
use paks_update::{Check, CheckError, FetchOptions, Fetcher};
use serde_json::json;

use crate::Failure;
use crate::cli::OutdatedArgs;
use crate::commands::{Ctx, json_line, out, plural, user_error};
use crate::printer::shown;

/// How many recipes are checked at once. The hosts' own bound (one request each at a
/// time) is the politeness; this only bounds the memory and processes of one run.
const IN_FLIGHT: usize = 32;

/// Why one recipe could not be checked.
struct Problem {
    /// The error and its causes, joined by `: `.
    message: String,
    hint: Option<String>,
    /// The network or the machine failed (exit 2), not the recipe.
    network: bool,
}

/// One recipe's outcome.
struct Outcome {
    dir: PathBuf,
    result: Result<Check, Problem>,
}

pub fn outdated(ctx: &Ctx, dir: &Path, args: &OutdatedArgs) -> Result<(), Failure> {
    let dirs = find(dir)?;
    if dirs.is_empty() {
        return Err(user_error(
            format!("no recipe (`paks.toml`) under `{}`", dir.display()),
            Some("name a recipe's directory, or a directory that holds recipes".into()),
        ));
    }
    let fetcher = fetcher(ctx, args.refresh)?;
    let bar = ctx.reporter.counter("Checking", dirs.len() as u64);
    let outcomes: Vec<Outcome> = crate::remote::runtime()?.block_on(
        futures_util::stream::iter(dirs.into_iter().map(|dir| {
            let (fetcher, bar) = (&fetcher, &bar);
            async move {
                let result = check_one(&dir, fetcher).await;
                bar.inc(1);
                Outcome { dir, result }
            }
        }))
        .buffered(IN_FLIGHT)
        .collect(),
    );
    bar.finish_and_clear();
    print(ctx, &outcomes, args.json)?;
    verdict(ctx, &outcomes, dir)
}

/// The one fetcher of a run's checks: upstream lists cached in the user's cache for
/// `update.ttl` (`refresh`: fetched again), registries reached with the user's credentials.
pub(crate) fn fetcher(ctx: &Ctx, refresh: bool) -> Result<Fetcher, Failure> {
    let (cache_dir, _) = crate::cache::dir_and_origin(&ctx.config);
    let cache =
        Cache::new(cache_dir.join("update"), ctx.config.config.update.ttl()).refresh(refresh);
    Ok(Fetcher::new(FetchOptions::default())
        .with_cache(cache)
        .with_registry_client(crate::remote::client(ctx)?))
}

/// The recipe directories: `dir` itself when it holds a `paks.toml`, else every directory
/// below it that does, sorted; symlinks are not followed, hidden directories and `out/`
/// (where `paks build` puts archives) are skipped.
pub(crate) fn find(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let metadata = std::fs::metadata(dir).map_err(|e| {
        user_error(
            format!("cannot read the recipes directory `{}`: {e}", dir.display()),
            None,
        )
    })?;
    if !metadata.is_dir() {
        return Err(user_error(
            format!("`{}` is not a directory", dir.display()),
            Some("name the directory that holds the recipes' `paks.toml` files".into()),
        ));
    }
    if dir.join("paks.toml").is_file() {
        return Ok(vec![dir.to_owned()]);
    }
    let mut found = Vec::new();
    walk(dir, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), Failure> {
    let entries = fs_err::read_dir(dir)?;
    for entry in entries {
        let entry = entry?;
        // `file_type` does not follow symlinks: a link is neither a file nor a directory.
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "out" {
            continue;
        }
        let path = entry.path();
        if std::fs::symlink_metadata(path.join("paks.toml")).is_ok_and(|m| m.is_file()) {
            found.push(path);
        } else {
            walk(&path, found)?;
        }
    }
    Ok(())
}

async fn check_one(dir: &Path, fetcher: &Fetcher) -> Result<Check, Problem> {
    let recipe = Recipe::from_file(&dir.join("paks.toml")).map_err(|e| Problem {
        message: paks_types::error_chain(&e),
        hint: None,
        network: false,
    })?;
    paks_update::check(&recipe, fetcher)
        .await
        .map_err(|e: CheckError| Problem {
            message: paks_types::error_chain(&e),
            hint: e.hint(),
            network: e.is_network(),
        })
}

fn print(ctx: &Ctx, outcomes: &[Outcome], json: bool) -> Result<(), Failure> {
    if json {
        for o in outcomes {
            let dir = o.dir.display().to_string();
            let line = match &o.result {
                Ok(c) => json!({
                    "type": "recipe",
                    "name": c.name,
                    "dir": dir,
                    "current": c.current.to_string(),
                    "newest": c.newest.as_ref().map(|r| r.version.to_string()),
                    "upstream": c.newest.as_ref().map(|r| r.upstream.text()),
                    "outdated": c.is_outdated(),
                    "strategy": c.strategy.as_str(),
                    "inferred": c.inferred,
                    "location": c.location,
                }),
                Err(p) => json!({
                    "type": "error",
                    "dir": dir,
                    "error": p.message,
                    "hint": p.hint,
                    "network": p.network,
                }),
            };
            json_line(&line)?;
        }
        let (outdated, errors) = counts(outcomes);
        json_line(&json!({
            "type": "summary",
            "recipes": outcomes.len(),
            "outdated": outdated,
            "errors": errors,
        }))?;
        return Ok(());
    }
    let header = ["", "NAME", "CURRENT", "NEWEST", "FOUND BY"].map(String::from);
    let rows: Vec<[String; 5]> = std::iter::once(header)
        .chain(outcomes.iter().map(row))
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w1, w2, w3) = (width(1), width(2), width(3));
    let mut o = out();
    for r in &rows {
        writeln!(
            o,
            "{:1} {:<w1$}  {:<w2$}  {:<w3$}  {}",
            r[0], r[1], r[2], r[3], r[4],
        )?;
    }
    drop(o);
    for o in outcomes {
        if let Err(p) = &o.result {
            let message = match &p.hint {
                Some(hint) => format!("`{}`: {}\n  hint: {hint}", o.dir.display(), p.message),
                None => format!("`{}`: {}", o.dir.display(), p.message),
            };
            ctx.reporter.warn(&message);
        }
    }
    Ok(())
}

/// A table row: the mark (`*` when outdated, `!` when failed), name, current, newest,
/// found by.
fn row(o: &Outcome) -> [String; 5] {
    match &o.result {
        Ok(c) => {
            let found_by = if c.location.is_empty() {
                c.strategy.as_str().to_owned()
            } else {
                format!("{} {}", c.strategy, shown(&c.location))
            };
            [
                if c.is_outdated() { "*" } else { "" }.to_owned(),
                c.name.to_string(),
                c.current.to_string(),
                c.newest
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |r| r.version.to_string()),
                if c.inferred && c.strategy == paks_update::Strategy::None {
                    "none (only local sources)".to_owned()
                } else if c.inferred {
                    format!("{found_by} (inferred)")
                } else {
                    found_by
                },
            ]
        }
        Err(p) => [
            "!".to_owned(),
            o.dir.file_name().map_or_else(
                || o.dir.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            "-".to_owned(),
            "-".to_owned(),
            if p.network {
                "failed (network)"
            } else {
                "failed (recipe)"
            }
            .to_owned(),
        ],
    }
}

/// How many are outdated, and how many failed.
fn counts(outcomes: &[Outcome]) -> (usize, usize) {
    let outdated = outcomes
        .iter()
        .filter(|o| o.result.as_ref().is_ok_and(Check::is_outdated))
        .count();
    let errors = outcomes.iter().filter(|o| o.result.is_err()).count();
    (outdated, errors)
}

/// The summary, and the exit status: a network failure outranks being outdated (the
/// answer is incomplete), which outranks success.
fn verdict(ctx: &Ctx, outcomes: &[Outcome], dir: &Path) -> Result<(), Failure> {
    let (outdated, errors) = counts(outcomes);
    let n = outcomes.len();
    let summary = format!(
        "{n} recipe{} checked: {outdated} outdated, {errors} failed",
        plural(n)
    );
    let network = outcomes
        .iter()
        .any(|o| o.result.as_ref().is_err_and(|p| p.network));
    if network {
        return Err(Failure {
            internal: true,
            ..user_error(
                summary,
                Some("the hosts named above did not answer; run it again later".into()),
            )
        });
    }
    if outdated > 0 || errors > 0 {
        let hint = if errors > 0 {
            "fix the recipes named above".to_owned()
        } else {
            format!(
                "`paks update {}` bumps them; `paks recipe bump DIR` bumps one",
                dir.display()
            )
        };
        return Err(user_error(summary, Some(hint)));
    }
    ctx.reporter.status(&summary);
    Ok(())
}
