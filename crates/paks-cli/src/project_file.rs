//! The project `paks.toml`, read strictly: `[project]` (or its old name `[environment]`)
//! with `name`, `platforms` and `targets`, and `[dependencies]`. Anything else is an error
//! with a "did you mean" hint, because a misspelt table would otherwise resolve nothing
//! and succeed. A file with `[package]` is a recipe, never a project.

use std::path::Path;

use paks_types::Platform;
use toml_edit::DocumentMut;

use crate::Failure;
use crate::commands::user_error;

/// The tables a project file may have.
const TABLES: &[&str] = &["project", "environment", "dependencies"];
/// The keys of `[project]`.
const PROJECT_KEYS: &[&str] = &["name", "platforms", "targets"];

/// What `[project]` says about the environments to lock for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `platforms`: empty when not given.
    pub platforms: Vec<Platform>,
    /// `targets`: archspec microarchitecture names, empty when not given.
    pub targets: Vec<String>,
}

fn unknown(
    what: &str,
    got: &str,
    known: &[&str],
    path: &Path,
    shown: fn(&str) -> String,
) -> Failure {
    let close = paks_recipe::suggest(got, known);
    let listed: Vec<String> = known.iter().map(|k| shown(k)).collect();
    user_error(
        format!("unknown {what} {} in `{}`", shown(got), path.display()),
        Some(match close {
            Some(k) => format!("did you mean {}?", shown(k)),
            None => format!("a project file may have {}", listed.join(", ")),
        }),
    )
}

fn table_name(t: &str) -> String {
    format!("`[{t}]`")
}

fn key_name(k: &str) -> String {
    format!("`{k}`")
}

/// Checks a parsed project file: not a recipe, only known tables and keys, and well-typed
/// `[project]` values. Returns the settings of `[project]`.
pub fn check(doc: &DocumentMut, path: &Path) -> Result<Settings, Failure> {
    if doc.contains_key("package") {
        return Err(user_error(
            format!(
                "`{}` is a package recipe (it has `[package]`), not a project",
                path.display()
            ),
            Some(
                "start a project in another directory with `paks env init DIR`, or name one with `--project DIR`"
                    .into(),
            ),
        ));
    }
    for (key, _) in doc.iter() {
        if !TABLES.contains(&key) {
            return Err(unknown("table", key, TABLES, path, table_name));
        }
    }
    if doc.contains_key("project") && doc.contains_key("environment") {
        return Err(user_error(
            format!(
                "`{}` has both `[project]` and `[environment]`",
                path.display()
            ),
            Some("`[environment]` is the old name of `[project]`: keep one".into()),
        ));
    }
    let Some(table) = doc
        .get("project")
        .or_else(|| doc.get("environment"))
        .and_then(|t| t.as_table_like())
    else {
        return Ok(Settings::default());
    };
    for (key, _) in table.iter() {
        if !PROJECT_KEYS.contains(&key) {
            return Err(unknown("key", key, PROJECT_KEYS, path, key_name));
        }
    }
    if let Some(name) = table.get("name")
        && name.as_str().is_none()
    {
        return Err(user_error(
            format!(
                "`name` in [project] of `{}` is not a string",
                path.display()
            ),
            None,
        ));
    }
    let platforms = strings(table.get("platforms"), "platforms", path)?
        .iter()
        .map(|p| {
            p.parse::<Platform>().map_err(|e| {
                user_error(
                    format!("`{p}` in [project] platforms of `{}`: {e}", path.display()),
                    Some("a platform is `OS/ARCH` or `OS/ARCH/VARIANT`: `linux/amd64`".into()),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let targets = strings(table.get("targets"), "targets", path)?;
    for t in &targets {
        if paks_host::HostProfile::targets_for(t).is_none() {
            return Err(user_error(
                format!("`{t}` in [project] targets of `{}` is not a microarchitecture paks knows", path.display()),
                Some("targets are archspec names: `x86_64_v3`, `zen3`, `neoverse_n1`; `paks host` shows this host's".into()),
            ));
        }
    }
    Ok(Settings { platforms, targets })
}

/// An optional array of strings.
fn strings(item: Option<&toml_edit::Item>, key: &str, path: &Path) -> Result<Vec<String>, Failure> {
    let Some(item) = item else {
        return Ok(Vec::new());
    };
    let not = || {
        user_error(
            format!(
                "`{key}` in [project] of `{}` is not an array of strings",
                path.display()
            ),
            None,
        )
    };
    let array = item.as_array().ok_or_else(not)?;
    array
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(not))
        .collect()
}
