//! From TOML text to a [`Recipe`]: every rule of the format, each failure located.
//!
//! Each table refuses unknown keys before its fields are read, so that a misspelt key is
//! reported as such rather than as the required key it was meant to be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use paks_types::{EnvAction, EnvVar, PackageName, Platform, TypeError, Version, VersionReq};
use toml::de::{DeTable, DeValue};

use paks_types::rules::{self, EnvProblem, PathProblem};

use crate::check;
use crate::spanned::{Doc, Entry, Result, Table, Value, one_of};
use crate::{Package, Recipe, Source, SourceKind};

const TOP: &[&str] = &[
    "package",
    "source",
    "dependencies",
    "build-dependencies",
    "build",
    "test",
    "env",
    "update",
];
const PACKAGE: &[&str] = &[
    "name",
    "version",
    "summary",
    "license",
    "homepage",
    "platforms",
];
const SOURCE_KINDS: &[&str] = &["path", "url", "git"];
const SOURCE: &[&str] = &[
    "path", "url", "git", "sha256", "strip", "extract", "size", "commit", "dest",
];
const SCRIPT: &[&str] = &["script"];
const ENV_ACTIONS: &[&str] = &["set", "prepend", "append"];

pub(crate) fn recipe(text: &str, file: &Path) -> Result<Recipe> {
    let doc = Doc { text, file };
    let parsed = DeTable::parse(text).map_err(|err| {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().trim().replace('\n', "; ");
        doc.invalid(span, "", format!("TOML syntax error: {message}"))
    })?;
    let root = doc.root(parsed.get_ref());
    root.deny_unknown(TOP)?;

    let package = package(
        &root
            .require_or("package", || "required table `[package]` is missing".into())?
            .table()?,
    )?;
    let sources = match root.get("source") {
        Some(value) => value
            .array("an array of tables (`[[source]]`)")?
            .iter()
            .map(source)
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let run = dependencies(root.get("dependencies"), &package.name)?;
    let build = dependencies(root.get("build-dependencies"), &package.name)?;
    check_disjoint(doc, &run, &build)?;

    let build_table = root
        .require_or("build", || "required table `[build]` is missing".into())?
        .table()?;
    let build_script = script(&build_table, "build")?;
    let test_script = root
        .get("test")
        .map(|value| script(&value.table()?, "test"))
        .transpose()?;
    let env = root.get("env").map(env).transpose()?.unwrap_or_default();
    let update = root
        .get("update")
        .map(|value| crate::update::update(&value.table()?))
        .transpose()?;

    Ok(Recipe {
        package,
        sources,
        dependencies: run.map,
        build_dependencies: build.map,
        build_script,
        test_script,
        env,
        update,
    })
}

fn package(table: &Table<'_>) -> Result<Package> {
    table.deny_unknown(PACKAGE)?;
    let value = table.require("name")?;
    let name = package_name(value.str()?).map_err(|message| value.error(message))?;

    let value = table.require("version")?;
    let text = value.str()?;
    let version = Version::parse(text).map_err(|err| {
        value
            .invalid(format!(
                "`{text}` is not a semver version (expected e.g. `1.0.0`)"
            ))
            .with_source(err)
    })?;

    let summary = optional_text(table, "summary", |text| {
        rules::text_problem(text).map(str::to_owned)
    })?;
    let license = optional_text(table, "license", |text| {
        rules::text_problem(text).map(str::to_owned)
    })?;
    let homepage = optional_text(table, "homepage", |url| {
        (!rules::is_url(url, &["http", "https"]))
            .then(|| format!("`{url}` is not an http or https URL"))
    })?;

    let mut platforms: Vec<Platform> = Vec::new();
    if let Some(list) = table.get("platforms") {
        for value in list.array("an array of strings")? {
            let text = value.str()?;
            let platform: Platform = text.parse().map_err(|err| match err {
                TypeError::Platform { reason, .. } => {
                    value.error(format!("`{text}` is not a platform: {reason}"))
                }
                other => value
                    .invalid(format!("`{text}` is not a platform"))
                    .with_source(other)
                    .into(),
            })?;
            if platforms.contains(&platform) {
                return Err(value.error(format!("`{text}` is listed twice")));
            }
            platforms.push(platform);
        }
    }

    Ok(Package {
        name,
        version,
        summary,
        license,
        homepage,
        platforms,
    })
}

/// An optional string that, when present, is not blank (leaving the key out says "none")
/// and passes `check`, which returns what is wrong.
fn optional_text(
    table: &Table<'_>,
    key: &str,
    check: impl FnOnce(&str) -> Option<String>,
) -> Result<Option<String>> {
    let Some(value) = table.get(key) else {
        return Ok(None);
    };
    let text = value.str()?;
    if text.trim().is_empty() {
        return Err(value.error("must not be empty (leave the key out instead)".into()));
    }
    if let Some(message) = check(text) {
        return Err(value.error(message));
    }
    Ok(Some(text.to_owned()))
}

fn package_name(text: &str) -> std::result::Result<PackageName, String> {
    PackageName::new(text).map_err(|err| match err {
        TypeError::Name { reason, .. } => {
            format!("`{text}` is not a valid package name: {reason}")
        }
        other => other.to_string(),
    })
}

fn source(value: &Value<'_>) -> Result<Source> {
    let table = value.table()?;
    table.deny_unknown(SOURCE)?;
    let kinds: Vec<&Entry<'_>> = table
        .entries()
        .iter()
        .filter(|entry| SOURCE_KINDS.contains(&entry.key))
        .collect();
    let kind = match kinds[..] {
        [] => {
            return Err(table.error(format!(
                "a source needs one of {}",
                one_of(SOURCE_KINDS.iter().copied())
            )));
        }
        [kind] => kind,
        [first, second, ..] => {
            return Err(table.key_error(
                second,
                format!(
                    "a source has exactly one of {}, and this one already has `{}`",
                    one_of(SOURCE_KINDS.iter().copied()),
                    first.key
                ),
            ));
        }
    };
    let applies: &[&str] = match kind.key {
        "path" => &["path", "sha256", "dest"],
        "url" => &["url", "sha256", "strip", "extract", "size", "dest"],
        _ => &["git", "commit", "dest"],
    };
    if let Some(extra) = table.entries().iter().find(|e| !applies.contains(&e.key)) {
        let owners = match extra.key {
            "sha256" => "`path` and `url` sources",
            "strip" | "extract" | "size" => "`url` sources",
            _ => "`git` sources",
        };
        return Err(table.key_error(
            extra,
            format!(
                "`{}` only applies to {owners}, and this is a `{}` source",
                extra.key, kind.key
            ),
        ));
    }

    let dest = match table.get("dest") {
        None => PathBuf::from("."),
        Some(value) => relative(value, "`dest`", "the build directory")?,
    };
    let kind = match kind.key {
        "path" => SourceKind::Path {
            path: relative(&kind.value, "a source path", "the recipe directory")?,
            sha256: table.get("sha256").map(sha256).transpose()?,
        },
        "url" => url_source(&table, &kind.value)?,
        _ => git_source(&table, &kind.value)?,
    };
    Ok(Source { kind, dest })
}

fn url_source(table: &Table<'_>, url: &Value<'_>) -> Result<SourceKind> {
    let text = url.str()?;
    if !rules::is_url(text, &["http", "https", "file"]) {
        return Err(url.error(format!("`{text}` is not an http, https or file URL")));
    }
    let sha256 = sha256(table.require_or("sha256", || {
        "required for a `url` source: the download is checked against it".into()
    })?)?;
    let extract = table.get("extract").map(Value::bool).transpose()?;
    let strip = table.get("strip").map(Value::u32).transpose()?;
    if extract == Some(false)
        && let Some(entry) = table.entry("strip")
    {
        return Err(table.key_error(entry, "`strip` has no effect with `extract = false`".into()));
    }
    let size = match table.get("size") {
        None => None,
        Some(value) => match value.u64()? {
            0 => return Err(value.error("`size` must be at least 1 byte".into())),
            n => Some(n),
        },
    };
    Ok(SourceKind::Url {
        url: text.to_owned(),
        sha256,
        strip: strip.unwrap_or(1),
        extract: extract.unwrap_or(true),
        size,
    })
}

fn git_source(table: &Table<'_>, url: &Value<'_>) -> Result<SourceKind> {
    let text = url.str()?;
    let schemes = ["https", "http", "ssh", "git", "file"];
    if !rules::is_url(text, &schemes) {
        return Err(url.error(format!(
            "`{text}` is not a URL git can fetch (expected {} URL)",
            one_of(schemes)
        )));
    }
    let value = table.require_or("commit", || {
        "required for a `git` source: the full commit id to check out".into()
    })?;
    let commit = value.str()?;
    let commit = check::commit(commit).ok_or_else(|| {
        value.error(format!(
            "`{commit}` is not a full commit id (expected 40 or 64 hex digits; \
             branches, tags and abbreviated ids are not accepted)"
        ))
    })?;
    Ok(SourceKind::Git {
        url: text.to_owned(),
        commit,
    })
}

fn relative(value: &Value<'_>, what: &str, base: &str) -> Result<PathBuf> {
    let text = value.str()?;
    rules::relative_path(text).map_err(|problem| {
        value.error(match problem {
            PathProblem::Empty => format!("must not be empty (`.` is {base} itself)"),
            PathProblem::Absolute => {
                format!("`{text}` is absolute; {what} is relative to {base}")
            }
            PathProblem::ParentDir => {
                format!("`{text}` contains `..`; {what} must stay inside {base}")
            }
            PathProblem::Nul => format!("`{}` contains a NUL character", text.escape_debug()),
        })
    })
}

fn sha256(value: &Value<'_>) -> Result<paks_types::Digest> {
    let text = value.str()?;
    check::sha256(text).ok_or_else(|| {
        value.error(format!(
            "`{text}` is not a sha256 digest (expected 64 hex digits)"
        ))
    })
}

/// A dependency table, kept with its entries to locate conflicts between tables.
struct Dependencies<'a> {
    map: BTreeMap<PackageName, VersionReq>,
    table: Option<Table<'a>>,
}

fn dependencies<'a>(value: Option<&Value<'a>>, this: &PackageName) -> Result<Dependencies<'a>> {
    let mut map = BTreeMap::new();
    let Some(value) = value else {
        return Ok(Dependencies { map, table: None });
    };
    let table = value.table()?;
    for entry in table.entries() {
        let name = package_name(entry.key).map_err(|message| table.key_error(entry, message))?;
        if &name == this {
            return Err(table.key_error(entry, "a package cannot depend on itself".into()));
        }
        let text = entry.value.str()?;
        let req = VersionReq::parse(text).map_err(|err| {
            entry
                .value
                .invalid(format!(
                    "`{text}` is not a version requirement (expected e.g. `^1.2` or `>=1.0, <2`)"
                ))
                .with_source(err)
        })?;
        map.insert(name, req);
    }
    Ok(Dependencies {
        map,
        table: Some(table),
    })
}

/// Refuses a name in both tables, at whichever of its two entries comes later in the file.
fn check_disjoint(doc: Doc<'_>, run: &Dependencies<'_>, build: &Dependencies<'_>) -> Result<()> {
    let (Some(run_table), Some(build_table)) = (&run.table, &build.table) else {
        return Ok(());
    };
    let conflict = run_table
        .entries()
        .iter()
        .filter_map(|r| build_table.entry(r.key).map(|b| (r, b)))
        .map(|(r, b)| {
            if r.key_span.start < b.key_span.start {
                (b, r, build_table)
            } else {
                (r, b, run_table)
            }
        })
        .min_by_key(|(later, _, _)| later.key_span.start);
    let Some((later, earlier, table)) = conflict else {
        return Ok(());
    };
    Err(table.key_error(
        later,
        format!(
            "`{}` is in both `[dependencies]` and `[build-dependencies]` (see line {}); \
             run dependencies are available at build time too, so list it once",
            later.key,
            doc.line_of(earlier.key_span.start)
        ),
    ))
}

fn script(table: &Table<'_>, what: &str) -> Result<String> {
    table.deny_unknown(SCRIPT)?;
    let value = table.require("script")?;
    let text = value.str()?;
    if text.trim().is_empty() {
        return Err(value.error(format!("the {what} script is empty")));
    }
    // The test script travels in the package's metadata, under its rules.
    if what == "test"
        && let Some(reason) = rules::script_problem(text)
    {
        return Err(value.error(format!("the test script {reason}")));
    }
    Ok(text.to_owned())
}

fn env(value: &Value<'_>) -> Result<Vec<EnvVar>> {
    let table = value.table()?;
    let mut vars = Vec::new();
    for entry in table.entries() {
        let name = entry.key;
        if !rules::is_env_name(name) {
            return Err(table.key_error(
                entry,
                format!(
                    "`{name}` is not a valid environment variable name \
                     (expected letters, digits and `_`, not starting with a digit)"
                ),
            ));
        }
        if rules::REFUSED_ENV_VARS.contains(&name) {
            return Err(
                table.key_error(entry, format!("`{name}`: {}", EnvProblem::Refused.reason()))
            );
        }
        let (action, value) = match entry.value.raw() {
            DeValue::String(_) => (EnvAction::Set, entry.value.clone()),
            DeValue::Table(_) => {
                let inline = entry.value.table()?;
                inline.deny_unknown(ENV_ACTIONS)?;
                let [only] = inline.entries() else {
                    return Err(entry.value.error(format!(
                        "expected exactly one of {}",
                        one_of(ENV_ACTIONS.iter().copied())
                    )));
                };
                let action = match only.key {
                    "set" => EnvAction::Set,
                    "prepend" => EnvAction::Prepend,
                    _ => EnvAction::Append,
                };
                (action, only.value.clone())
            }
            _ => {
                return Err(entry
                    .value
                    .type_error("a string or a table such as `{ prepend = \"...\" }`"));
            }
        };
        let text = value.str()?;
        // The shared rules decide; the recipe only words some answers more helpfully.
        match rules::check_env(name, text, action) {
            Ok(()) => {}
            Err(EnvProblem::SetSearchPath) => {
                return Err(entry.value.error(format!(
                    "`{name}` is a search path: prepend or append to it instead, \
                     e.g. `{name} = {{ prepend = {text:?} }}`"
                )));
            }
            Err(EnvProblem::EmptyEntry) if text.is_empty() => {
                return Err(value.error(
                    "must not be empty (an empty search path entry means the current directory)"
                        .into(),
                ));
            }
            Err(EnvProblem::UnknownPlaceholder(placeholder)) => {
                let word = &placeholder[1..placeholder.len() - 1];
                let message = match check::suggest(word, &["prefix"]) {
                    Some(_) => {
                        format!("unknown placeholder `{placeholder}`, did you mean `{{prefix}}`?")
                    }
                    None => format!(
                        "unknown placeholder `{placeholder}` (only `{{prefix}}` is replaced)"
                    ),
                };
                return Err(value.error(message));
            }
            Err(problem) => return Err(value.error(problem.reason())),
        }
        vars.push(EnvVar {
            name: name.to_owned(),
            value: text.to_owned(),
            action,
        });
    }
    Ok(vars)
}
