//! `paks recipe bump`: a recipe moved to a new upstream version, formatting kept.

use std::io::Write;
use std::path::{Path, PathBuf};

use paks_recipe::Recipe;
use paks_types::LooseVersion;
use paks_update::bump::{Bump, BumpError, SourceChange};
use paks_update::{CheckError, FetchOptions, Fetcher, Release};
use serde_json::json;

use crate::Failure;
use crate::cli::RecipeBumpArgs;
use crate::commands::{Ctx, json_line, out, user_error};

pub fn bump(_ctx: &Ctx, args: &RecipeBumpArgs) -> Result<(), Failure> {
    let dir = recipe_dir(&args.dir);
    let recipe = Recipe::from_file(&dir.join("paks.toml")).map_err(|e| Failure {
        detail: e.render_snippet(),
        ..Failure::from(e)
    })?;
    let fetcher = Fetcher::new(FetchOptions::default());
    let rt = crate::remote::runtime()?;
    let release = match &args.to {
        Some(text) => release_of(text)?,
        None => match rt
            .block_on(paks_update::check(&recipe, &fetcher))
            .map_err(check_failure)?
            .newest
        {
            Some(release) => release,
            None => {
                return Err(user_error(
                    format!("upstream lists no versions of `{}`", recipe.package.name),
                    None,
                ));
            }
        },
    };
    let current = &recipe.package.version;
    if release.version == *current || (args.to.is_none() && release.version < *current) {
        return newest(args, &recipe, &dir);
    }
    if release.version < *current {
        return Err(user_error(
            format!(
                "`{}` is older than `{}`'s version `{current}`",
                release.upstream, recipe.package.name
            ),
            Some("a bump moves a recipe forward; edit `version` by hand to go back".into()),
        ));
    }
    let bump = rt
        .block_on(paks_update::bump::plan(&dir, &release, &fetcher))
        .map_err(bump_failure)?;
    let diff = args
        .patch
        .then(|| crate::patch::unified(&patch_path(&bump.path()), &bump.old_text, &bump.new_text));
    if !args.patch {
        bump.write().map_err(bump_failure)?;
    }
    if args.json {
        let mut line = summary_json(&bump);
        if let Some(diff) = &diff {
            line["patch"] = json!(diff);
        }
        json_line(&line)?;
    } else if let Some(diff) = &diff {
        // The diff is the data; what it means goes to stderr.
        write!(out(), "{diff}")?;
        let mut err = std::io::stderr().lock();
        for line in summary_lines(&bump) {
            writeln!(err, "{line}")?;
        }
    } else {
        let mut out = out();
        for line in summary_lines(&bump) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// The recipe's directory from `DIR` or `DIR/paks.toml`.
fn recipe_dir(arg: &Path) -> PathBuf {
    if arg.file_name().is_some_and(|n| n == "paks.toml") && !arg.is_dir() {
        return arg
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    }
    arg.to_path_buf()
}

/// The recipe's path as the diff names it: below the working directory when it is, so
/// that `patch -p1` run there finds it.
fn patch_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .map_or_else(|| path.to_path_buf(), Path::to_path_buf)
}

/// `--to VERSION`: the upstream spelling, read as a loose version.
fn release_of(text: &str) -> Result<Release, Failure> {
    let upstream = LooseVersion::parse(text).ok_or_else(|| {
        user_error(
            format!("`{text}` is not a version"),
            Some("give it as upstream writes it, e.g. `1.3.1` or `v1.3.1`".into()),
        )
    })?;
    Ok(Release {
        version: upstream.to_semver(),
        upstream,
        url: None,
        tag: None,
        commit: None,
    })
}

/// Nothing to do: the recipe has the newest version.
fn newest(args: &RecipeBumpArgs, recipe: &Recipe, dir: &Path) -> Result<(), Failure> {
    let (name, version) = (&recipe.package.name, &recipe.package.version);
    if args.json {
        json_line(&json!({
            "type": "current",
            "name": name,
            "dir": dir,
            "version": version.to_string(),
        }))?;
    } else if !args.patch {
        writeln!(out(), "{name} {version} is the newest")?;
    } else {
        writeln!(std::io::stderr(), "{name} {version} is the newest")?;
    }
    Ok(())
}

fn summary_json(bump: &Bump) -> serde_json::Value {
    json!({
        "type": "bump",
        "name": bump.name,
        "dir": bump.dir,
        "from": bump.from.to_string(),
        "to": bump.to.to_string(),
        "sources": bump.sources,
    })
}

/// `zlib 1.3.0 → 1.3.1`, then one line per changed source.
fn summary_lines(bump: &Bump) -> Vec<String> {
    let mut lines = vec![format!("{} {} → {}", bump.name, bump.from, bump.to)];
    for change in &bump.sources {
        lines.push(match change {
            SourceChange::Url {
                old, new, sha256, ..
            } => format!("  {old} → {new} ({sha256})"),
            SourceChange::Git { git, new, tag, .. } => {
                format!("  {git}: tag `{tag}`, commit {new}")
            }
        });
    }
    lines
}

fn check_failure(e: CheckError) -> Failure {
    Failure {
        hint: e.hint(),
        internal: e.is_network(),
        ..Failure::from(e)
    }
}

fn bump_failure(e: BumpError) -> Failure {
    Failure {
        hint: e.hint(),
        detail: match &e {
            BumpError::Recipe(r) => r.render_snippet(),
            _ => None,
        },
        internal: !e.is_user_error(),
        ..Failure::from(e)
    }
}
