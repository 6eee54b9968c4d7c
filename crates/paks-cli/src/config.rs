//! The user configuration: `$XDG_CONFIG_HOME/paks/config.toml` (else
//! `~/.config/paks/config.toml`; `PAKS_CONFIG` names another file), shared by every install
//! root. It holds what belongs to the user rather than to one root: repositories, hosts
//! reached over plain HTTP, defaults, the download cache, and forges. A root's own
//! `repos.toml` adds to its repositories and comes first (like a project's settings over
//! uv's user settings): a root entry shadows a user entry of the same name.
//!
//! ```toml
//! insecure = ["registry.lan:5000"]
//!
//! [defaults]
//! jobs = 8
//! registry = "ghcr.io"        # for short names (`acme/hello`)
//!
//! [cache]
//! dir = "/scratch/paks-cache" # else $XDG_CACHE_HOME/paks; PAKS_CACHE_DIR overrides
//! max-age = "30d"             # what `paks gc` and `paks cache prune` keep
//! max-size = "10GiB"
//!
//! [update]
//! ttl = "1h"                  # how long `paks outdated --recipes` trusts what it saw upstream
//!
//! [forge."github.com"]
//! registry = "ghcr.io"
//! git = "https://github.com"
//!
//! [[repository]]
//! name = "acme"
//! url = "oci://ghcr.io/acme"
//! keys = ["paks-ed25519 …"]
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Failure;
use crate::cli::ConfigCommand;
use crate::commands::{Ctx, json_line, out, user_error};
use crate::env_vars;
use crate::repos::{RepoConfig, RepoEntry};

/// The user configuration file, as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Repositories, highest priority first (after the root's own).
    #[serde(default, rename = "repository", skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<RepoEntry>,
    /// Registries reached over plain HTTP although not on loopback (`--insecure` adds to them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure: Vec<String>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub cache: CacheConfig,
    /// Forges by host name (`github.com`): where their packages and recipes are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forge: BTreeMap<String, Forge>,
    #[serde(default)]
    pub update: UpdateConfig,
}

/// `[update]`: upstream release checks (`paks outdated --recipes`, `paks update`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpdateConfig {
    /// How long what a location listed upstream is used before asking again: `1h`, `30m`,
    /// seconds (default: `1h`).
    pub ttl: Option<Amount>,
}

impl UpdateConfig {
    /// The TTL of the update cache: `ttl`, else `paks_update::cache::DEFAULT_TTL`.
    pub fn ttl(&self) -> Duration {
        self.ttl
            .as_ref()
            .and_then(|t| parse_duration(&t.to_string()).ok())
            .unwrap_or(paks_update::cache::DEFAULT_TTL)
    }
}

/// `[defaults]`: values used when no flag or environment variable gives one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Defaults {
    /// How many installs and build jobs run at once (`--jobs`).
    pub jobs: Option<usize>,
    /// The registry of short references (`acme/hello:1.0`), such as `ghcr.io`.
    pub registry: Option<String>,
}

/// `[cache]`: where downloads are kept, and how much of them `paks gc` and `paks cache
/// prune` keep.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheConfig {
    /// The cache directory.
    pub dir: Option<PathBuf>,
    /// Keep entries used within this long: `30d`, `12h`, `90m`, seconds (default: `30d`).
    pub max_age: Option<Amount>,
    /// Keep at most this much, the most recently used first: `10GiB`, `500MB`, bytes.
    pub max_size: Option<Amount>,
}

/// A duration or a size: with a unit (`"30d"`, `"10GiB"`), or a bare number (seconds,
/// bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    Number(u64),
    Text(String),
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// `[forge."HOST"]`: a source forge, for `paks install HOST/OWNER/REPO`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Forge {
    /// The container registry that holds its packages (`ghcr.io` for `github.com`).
    pub registry: Option<String>,
    /// The base URL its repositories are cloned from (`https://github.com`).
    pub git: Option<String>,
}

/// The user configuration and the file it came from.
#[derive(Debug, Clone, Default)]
pub struct UserConfig {
    /// `None` where there is no home directory to look in.
    pub path: Option<PathBuf>,
    pub config: Config,
}

/// Where the user configuration is: `PAKS_CONFIG`, else under `$XDG_CONFIG_HOME` or `~/.config`.
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env_vars::CONFIG).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("paks").join("config.toml"))
}

/// `$VAR` when it is absolute (as the XDG spec says), else `~/FALLBACK`.
pub fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(fallback))
        })
}

/// Reads the user configuration (a missing file is an empty one); an unknown key or a
/// bad value is an error naming the file and the key.
pub fn load() -> Result<UserConfig, Failure> {
    let Some(path) = path() else {
        return Ok(UserConfig::default());
    };
    let text = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(UserConfig {
                path: Some(path),
                config: Config::default(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let config = parse(&path, &text)?;
    Ok(UserConfig {
        path: Some(path),
        config,
    })
}

fn parse(path: &Path, text: &str) -> Result<Config, Failure> {
    let invalid = |e: &dyn std::fmt::Display| {
        user_error(
            format!(
                "`{}` is not a valid paks configuration: {e}",
                path.display()
            ),
            Some("fix the file, or change it with `paks config set KEY VALUE`".into()),
        )
    };
    let config: Config = toml::from_str(text).map_err(|e| invalid(&e))?;
    if let Some(age) = &config.cache.max_age {
        parse_duration(&age.to_string()).map_err(|e| invalid(&format!("`cache.max-age`: {e}")))?;
    }
    if let Some(size) = &config.cache.max_size {
        parse_size(&size.to_string()).map_err(|e| invalid(&format!("`cache.max-size`: {e}")))?;
    }
    if let Some(ttl) = &config.update.ttl {
        parse_duration(&ttl.to_string()).map_err(|e| invalid(&format!("`update.ttl`: {e}")))?;
    }
    Ok(config)
}

/// The number and the unit of `30d` or `10GiB`; `example` completes the error message.
fn number_and_unit<'a>(text: &'a str, example: &str) -> Result<(u64, &'a str), String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n = number
        .parse()
        .map_err(|_| format!("`{text}` is not {example}"))?;
    Ok((n, unit.trim()))
}

/// `30d`, `12h`, `90m`, `45s`, `2w`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (n, unit) = number_and_unit(text, "a duration such as `30d`, `12h` or `90m`")?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (s, m, h, d, w)"
            ));
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

/// `10GiB`, `10G` (also binary), `500MB` (decimal), or a number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (n, unit) = number_and_unit(text, "a size such as `10GiB` or `500MB`")?;
    let factor: u64 = match unit {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    Ok(n.saturating_mul(factor))
}

/// The repositories of `root`: its own `repos.toml` first, then the user's (a root entry
/// shadows a user entry of the same name). Each with where it came from.
pub fn repositories(
    user: &UserConfig,
    root: &Path,
) -> Result<Vec<(RepoEntry, &'static str)>, Failure> {
    let mut all: Vec<(RepoEntry, &'static str)> = RepoConfig::load(root)?
        .repositories
        .into_iter()
        .map(|r| (r, "root"))
        .collect();
    for r in &user.config.repositories {
        if !all.iter().any(|(a, _)| a.name == r.name) {
            all.push((r.clone(), "user"));
        }
    }
    Ok(all)
}

/// One effective setting and where its value comes from.
struct Setting {
    key: String,
    value: serde_json::Value,
    origin: String,
}

/// Every setting in effect for `ctx`, with its origin: a flag or environment variable,
/// the user file, the root's `repos.toml`, or the default.
fn settings(ctx: &Ctx, jobs_flag: Option<usize>) -> Result<Vec<Setting>, Failure> {
    let user = &ctx.config;
    let file = user
        .path
        .as_ref()
        .map_or_else(|| "user config".to_owned(), |p| p.display().to_string());
    let c = &user.config;
    let mut s = Vec::new();
    let mut push = |key: &str, value: serde_json::Value, origin: &str| {
        s.push(Setting {
            key: key.to_owned(),
            value,
            origin: origin.to_owned(),
        });
    };
    let jobs_origin = if std::env::var_os(env_vars::JOBS).is_some() {
        format!("env {}", env_vars::JOBS)
    } else if jobs_flag.is_some() {
        "--jobs".to_owned()
    } else if c.defaults.jobs.is_some() {
        file.clone()
    } else {
        "default".to_owned()
    };
    push("defaults.jobs", json!(ctx.jobs), &jobs_origin);
    if let Some(r) = &c.defaults.registry {
        push("defaults.registry", json!(r), &file);
    }
    if !c.insecure.is_empty() {
        push("insecure", json!(c.insecure), &file);
    }
    let (dir, origin) = crate::cache::dir_and_origin(user);
    push("cache.dir", json!(dir), &origin);
    let (age, age_origin) = c
        .cache
        .max_age
        .as_ref()
        .map_or((crate::cache::DEFAULT_MAX_AGE.to_owned(), "default"), |a| {
            (a.to_string(), file.as_str())
        });
    push("cache.max-age", json!(age), age_origin);
    if let Some(size) = &c.cache.max_size {
        push("cache.max-size", json!(size.to_string()), &file);
    }
    if let Some(ttl) = &c.update.ttl {
        push("update.ttl", json!(ttl.to_string()), &file);
    }
    for (host, f) in &c.forge {
        let quoted = toml_edit::Key::new(host.as_str())
            .display_repr()
            .into_owned();
        if let Some(r) = &f.registry {
            push(&format!("forge.{quoted}.registry"), json!(r), &file);
        }
        if let Some(g) = &f.git {
            push(&format!("forge.{quoted}.git"), json!(g), &file);
        }
    }
    let root_file = crate::repos::config_path(&ctx.root).display().to_string();
    for (r, scope) in repositories(user, &ctx.root)? {
        let origin = if scope == "root" { &root_file } else { &file };
        push(&format!("repository.{}", r.name), json!(r.url), origin);
    }
    Ok(s)
}

/// `paks config get|set|list`.
pub fn command(
    ctx: &Ctx,
    command: &ConfigCommand,
    jobs_flag: Option<usize>,
) -> Result<(), Failure> {
    match command {
        ConfigCommand::List(args) => {
            let mut o = out();
            for s in settings(ctx, jobs_flag)? {
                if args.json {
                    json_line(
                        &json!({"type": "config", "key": s.key, "value": s.value, "origin": s.origin}),
                    )?;
                } else {
                    writeln!(o, "{} = {}  # {}", s.key, s.value, s.origin)?;
                }
            }
        }
        ConfigCommand::Get { key } => {
            let wanted = normalise(key)?;
            let found = settings(ctx, jobs_flag)?
                .into_iter()
                .find(|s| normalise(&s.key).is_ok_and(|k| k == wanted));
            let Some(s) = found else {
                return Err(user_error(
                    format!("`{key}` is not set"),
                    Some("`paks config list` shows what is set".into()),
                ));
            };
            match &s.value {
                serde_json::Value::String(v) => writeln!(out(), "{v}")?,
                v => writeln!(out(), "{v}")?,
            }
        }
        ConfigCommand::Set { key, value } => set(ctx, key, value)?,
    }
    Ok(())
}

/// The parts of a dotted key (`forge."github.com".git`).
fn normalise(key: &str) -> Result<Vec<String>, Failure> {
    toml_edit::Key::parse(key)
        .map(|parts| parts.iter().map(|k| k.get().to_owned()).collect())
        .map_err(|_| {
            user_error(
                format!("`{key}` is not a configuration key"),
                Some("keys look like `defaults.jobs` or `forge.\"github.com\".registry`".into()),
            )
        })
}

/// Writes `key = value` into the user file, keeping its comments and layout; the value
/// is read as TOML (`8`, `["a", "b"]`), or else taken as a string.
fn set(ctx: &Ctx, key: &str, value: &str) -> Result<(), Failure> {
    let Some(path) = ctx.config.path.clone() else {
        return Err(no_file());
    };
    let parts = normalise(key)?;
    if parts.first().is_some_and(|p| p == "repository") {
        return Err(user_error(
            "repositories are not set with `paks config set`",
            Some("add one with `paks repo add --user NAME URL`".into()),
        ));
    }
    let mut doc = edit(&path)?;
    let parsed = format!("v = {value}")
        .parse::<toml_edit::DocumentMut>()
        .ok()
        .and_then(|d| d.get("v").and_then(|i| i.as_value()).cloned())
        .unwrap_or_else(|| toml_edit::Value::from(value));
    let (last, tables) = parts.split_last().expect("a key has a part");
    let mut table = doc.as_table_mut();
    for name in tables {
        let item = table.entry(name).or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        });
        table = item.as_table_mut().ok_or_else(|| {
            user_error(
                format!("`{name}` in `{}` is not a table", path.display()),
                None,
            )
        })?;
    }
    table.insert(last, toml_edit::Item::Value(parsed));
    write_checked(&path, &doc)?;
    ctx.reporter
        .status(&format!("Set `{key}` in `{}`", path.display()));
    Ok(())
}

/// The user file as a document to edit (empty when it does not exist yet).
fn edit(path: &Path) -> Result<toml_edit::DocumentMut, Failure> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    text.parse().map_err(|e| {
        user_error(
            format!("`{}` is not valid TOML: {e}", path.display()),
            Some("fix the file by hand".into()),
        )
    })
}

/// Writes `doc` to `path` atomically, once it passes as a whole: no unknown key or bad
/// value reaches the file.
fn write_checked(path: &Path, doc: &toml_edit::DocumentMut) -> Result<(), Failure> {
    let new = doc.to_string();
    parse(path, &new)?;
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    paks_types::fs::write_atomic(path, new.as_bytes())?;
    Ok(())
}

/// Replaces the user file's `[[repository]]` entries with `repositories`, keeping the rest
/// of the file as it is (`paks repo add|remove --user`).
pub fn save_repositories(user: &UserConfig, repositories: &[RepoEntry]) -> Result<(), Failure> {
    let Some(path) = &user.path else {
        return Err(no_file());
    };
    let mut doc = edit(path)?;
    if repositories.is_empty() {
        doc.remove("repository");
        return write_checked(path, &doc);
    }
    let written = toml::to_string(&RepoConfig {
        repositories: repositories.to_vec(),
    })
    .map_err(|e| Failure {
        internal: true,
        ..Failure::from(e)
    })?
    .parse::<toml_edit::DocumentMut>()
    .expect("toml writes TOML");
    doc.insert(
        "repository",
        written
            .get("repository")
            .expect("a non-empty list is written")
            .clone(),
    );
    write_checked(path, &doc)
}

fn no_file() -> Failure {
    user_error(
        "there is no user configuration file: neither HOME nor XDG_CONFIG_HOME is set",
        Some(format!("set {} to the file to use", env_vars::CONFIG)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::from_hours(720));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("3 fortnights").is_err());
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("42").unwrap(), 42);
        assert!(parse_size("lots").is_err());
    }
}
