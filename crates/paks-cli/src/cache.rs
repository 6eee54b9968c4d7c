//! The download cache the CLI uses: one per user, shared by every install root
//! (`PAKS_CACHE_DIR`, else `[cache] dir`, else `$XDG_CACHE_HOME/paks` or `~/.cache/paks`;
//! for root, `/var/cache/paks` as apt's and dnf's), and `paks cache dir|info|prune|clean`.

use std::io::Write as _;
use std::path::PathBuf;

use paks_store::{Cache, PrunePolicy, PruneReport};
use serde_json::json;

use crate::Failure;
use crate::cli::{CacheCommand, CachePruneArgs};
use crate::commands::{Ctx, failure, human_size, json_line, out, user_error};
use crate::config::{UserConfig, parse_duration, parse_size};
use crate::env_vars;
use paks_types::Reporter as _;

/// The cache directory the settings name, and where that comes from.
pub fn dir_and_origin(user: &UserConfig) -> (PathBuf, String) {
    if let Some(dir) = std::env::var_os(env_vars::CACHE_DIR).filter(|v| !v.is_empty()) {
        return (PathBuf::from(dir), format!("env {}", env_vars::CACHE_DIR));
    }
    if let Some(dir) = &user.config.cache.dir {
        let file = user
            .path
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        return (dir.clone(), file);
    }
    (default_dir(), "default".to_owned())
}

fn default_dir() -> PathBuf {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    if rustix::process::geteuid().is_root() {
        return xdg.map_or_else(|| PathBuf::from("/var/cache/paks"), |d| d.join("paks"));
    }
    crate::config::xdg_dir("XDG_CACHE_HOME", ".cache").map_or_else(
        || std::env::temp_dir().join("paks-cache"),
        |d| d.join("paks"),
    )
}

/// Opens the cache `ctx` uses. The default place falls back to `<root>/cache` where it
/// cannot be made (no home directory, a read-only one): the root is writable, or nothing
/// works anyway. A cache the user named must work.
pub fn open(ctx: &Ctx) -> Result<Cache, Failure> {
    let (dir, origin) = dir_and_origin(&ctx.config);
    match Cache::open(&dir) {
        Ok(cache) => Ok(cache),
        Err(e) if origin == "default" => {
            let fallback = ctx.root.join("cache");
            ctx.reporter.info(&format!(
                "cannot use the cache `{}` ({e}); using `{}`",
                dir.display(),
                fallback.display()
            ));
            Cache::open(&fallback).map_err(failure)
        }
        Err(e) => Err(Failure {
            hint: Some(format!(
                "the cache directory comes from {origin}: point it at a writable directory"
            )),
            ..failure(e)
        }),
    }
}

/// How long `paks gc` and `paks cache prune` keep an entry nobody used, unless `[cache]
/// max-age` says otherwise: cargo's automatic cache cleaning also keeps a downloaded
/// crate for a month since its last use.
pub const DEFAULT_MAX_AGE: &str = "30d";

/// The policy of `paks gc` and of `paks cache prune`: flags, else `[cache] max-age`
/// (default [`DEFAULT_MAX_AGE`]) and `max-size` (default: no bound).
pub fn policy(ctx: &Ctx, args: Option<&CachePruneArgs>) -> Result<PrunePolicy, Failure> {
    let c = &ctx.config.config.cache;
    let bad = |e: String| {
        user_error(
            e,
            Some("durations look like `30d`, sizes like `10GiB`".into()),
        )
    };
    let age = args
        .and_then(|a| a.max_age.clone())
        .or_else(|| c.max_age.as_ref().map(ToString::to_string))
        .unwrap_or_else(|| DEFAULT_MAX_AGE.to_owned());
    let size = args
        .and_then(|a| a.max_size.clone())
        .or_else(|| c.max_size.as_ref().map(ToString::to_string));
    Ok(PrunePolicy {
        max_age: Some(parse_duration(&age).map_err(bad)?),
        max_size: size.as_deref().map(parse_size).transpose().map_err(bad)?,
    })
}

/// The cache step of `paks gc`: prune the user's cache by [`policy`], and the root's own
/// `cache/` too, where roots made before the cache was shared kept their downloads (which
/// nothing else would ever collect).
pub fn gc_prune(ctx: &Ctx, cache: &Cache, dry_run: bool) -> Result<PruneReport, Failure> {
    let policy = policy(ctx, None)?;
    let mut report = cache.prune(&policy, dry_run).map_err(failure)?;
    let own = std::path::absolute(ctx.root.join("cache"))?;
    if own != cache.dir() && own.join("blobs").is_dir() {
        let old = Cache::open(&own)
            .and_then(|c| c.prune(&policy, dry_run))
            .map_err(failure)?;
        report.freed += old.freed;
        report
            .removed
            .extend(old.removed.iter().map(|r| format!("{}/{r}", own.display())));
    }
    Ok(report)
}

/// `paks cache dir|info|prune|clean`.
pub fn command(ctx: &Ctx, command: &CacheCommand) -> Result<(), Failure> {
    let cache = open(ctx)?;
    match command {
        CacheCommand::Dir => writeln!(out(), "{}", cache.dir().display())?,
        CacheCommand::Info(args) => {
            let usage = cache.usage().map_err(failure)?;
            let entries: u64 = usage.iter().map(|(_, u)| u.entries).sum();
            let bytes: u64 = usage.iter().map(|(_, u)| u.bytes).sum();
            if args.json {
                let kinds: serde_json::Map<String, serde_json::Value> = usage
                    .iter()
                    .map(|(k, u)| {
                        (
                            (*k).to_owned(),
                            json!({"entries": u.entries, "size": u.bytes}),
                        )
                    })
                    .collect();
                json_line(
                    &json!({"type": "cache", "dir": cache.dir(), "entries": entries, "size": bytes, "kinds": kinds}),
                )?;
            } else {
                let mut o = out();
                writeln!(o, "{}", cache.dir().display())?;
                for (kind, u) in &usage {
                    writeln!(
                        o,
                        "  {kind:<10} {:>6} entr{}  {:>10}",
                        u.entries,
                        if u.entries == 1 { "y " } else { "ies" },
                        human_size(u.bytes)
                    )?;
                }
                writeln!(
                    o,
                    "  {:<10} {entries:>6} entr{}  {:>10}",
                    "total",
                    if entries == 1 { "y " } else { "ies" },
                    human_size(bytes)
                )?;
            }
        }
        CacheCommand::Prune(args) => {
            let report = cache
                .prune(&policy(ctx, Some(args))?, args.dry_run)
                .map_err(failure)?;
            print_report(ctx, &report, args.json)?;
        }
        CacheCommand::Clean(args) => {
            let report = cache.clean(args.dry_run).map_err(failure)?;
            print_report(ctx, &report, args.json)?;
        }
    }
    Ok(())
}

/// What a prune or clean did: JSON, or a status line.
pub fn print_report(ctx: &Ctx, report: &PruneReport, json_out: bool) -> Result<(), Failure> {
    if json_out {
        json_line(
            &json!({"type": "cache-prune", "dry_run": report.dry_run, "removed": report.removed, "freed": report.freed, "kept": {"entries": report.kept.entries, "size": report.kept.bytes}}),
        )?;
    } else {
        let verb = if report.dry_run {
            "Would remove"
        } else {
            "Removed"
        };
        let n = report.removed.len();
        ctx.reporter.status(&format!(
            "{verb} {n} cache entr{} ({})",
            if n == 1 { "y" } else { "ies" },
            human_size(report.freed)
        ));
    }
    Ok(())
}
