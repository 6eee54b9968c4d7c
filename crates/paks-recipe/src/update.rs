//! `[update]`: where a recipe's new upstream versions are found, and which count.
//!
//! Only the format lives here (parse and validate, with spans); the checks themselves are
//! `paks-update`'s. Every key is optional: without a `strategy`, `paks-update` infers one
//! from the sources (a git source's tags, the listing of a download's directory).

use paks_types::VersionReq;

use crate::spanned::{Result, Table, Value, one_of};

const UPDATE: &[&str] = &[
    "strategy",
    "url",
    "regex",
    "path",
    "versions",
    "prereleases",
    "ignore",
];
const STRATEGIES: &[&str] = &["git-tags", "listing", "json", "oci-tags", "none"];

/// `[update]`: how `paks outdated --recipes` and `paks update` find new versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateSpec {
    /// OPTIONAL. How to look; inferred from the sources when absent.
    pub strategy: Option<Strategy>,
    /// OPTIONAL. Where to look: a git URL (`git-tags`), the page or directory listing
    /// (`listing`), the JSON document (`json`), or `REGISTRY/REPOSITORY` (`oci-tags`).
    /// Inferred from the sources when absent; required for `json` and `oci-tags`.
    pub url: Option<String>,
    /// OPTIONAL. A regular expression (Rust `regex` syntax) that finds versions: in a
    /// listing, in each tag, or in each value found by `path`. The version is the group
    /// named `version`, else group 1, else the whole match. Must compile.
    pub regex: Option<String>,
    /// OPTIONAL; REQUIRED for `json`. Where the versions are in the JSON document: keys
    /// separated by `.`, `*` for every element of an array (or value of an object), e.g.
    /// `*.tag_name` for a list of releases, `versions.*` for an object keyed by version.
    pub path: Option<String>,
    /// OPTIONAL. Only versions in this semver range count (`>=1.2, <2`).
    pub versions: Option<VersionReq>,
    /// OPTIONAL, `false` by default: whether pre-releases (`rc1`, `beta.2`) count.
    pub prereleases: bool,
    /// OPTIONAL. Regular expressions; an upstream version (as written upstream) that any
    /// of them matches in full is skipped.
    pub ignore: Vec<String>,
}

/// `update.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `git-tags`: the tags of a git repository (`git ls-remote --tags`).
    GitTags,
    /// `listing`: a web page or directory listing, versions matched by `regex`.
    Listing,
    /// `json`: a JSON document (a release API), versions at `path`.
    Json,
    /// `oci-tags`: the tags of a repository in an OCI registry.
    OciTags,
    /// `none`: never checked (vendored or frozen sources).
    None,
}

impl Strategy {
    /// The name used in `paks.toml` and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitTags => "git-tags",
            Self::Listing => "listing",
            Self::Json => "json",
            Self::OciTags => "oci-tags",
            Self::None => "none",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn update(table: &Table<'_>) -> Result<UpdateSpec> {
    table.deny_unknown(UPDATE)?;
    let strategy = table
        .get("strategy")
        .map(|value| {
            let text = value.str()?;
            Ok(match text {
                "git-tags" => Strategy::GitTags,
                "listing" => Strategy::Listing,
                "json" => Strategy::Json,
                "oci-tags" => Strategy::OciTags,
                "none" => Strategy::None,
                _ => {
                    return Err(value.error(format!(
                        "`{text}` is not a strategy (expected {})",
                        one_of(STRATEGIES.iter().copied())
                    )));
                }
            })
        })
        .transpose()?;
    let url = table
        .get("url")
        .map(|value| {
            let text = value.str()?;
            if text.trim().is_empty() || text.chars().any(char::is_whitespace) {
                return Err(value.error(format!("`{text}` is not a URL or reference")));
            }
            Ok(text.to_owned())
        })
        .transpose()?;
    let regex = table.get("regex").map(pattern).transpose()?;
    let path = table
        .get("path")
        .map(|value| {
            let text = value.str()?;
            if text.is_empty() || text.split('.').any(str::is_empty) {
                return Err(value.error(format!(
                    "`{text}` is not a path (expected keys separated by `.`, such as `*.tag_name`)"
                )));
            }
            Ok(text.to_owned())
        })
        .transpose()?;
    let versions = table
        .get("versions")
        .map(|value| {
            let text = value.str()?;
            VersionReq::parse(text).map_err(|err| -> crate::RecipeError {
                value
                    .invalid(format!(
                        "`{text}` is not a semver range (expected e.g. `>=1.2, <2`)"
                    ))
                    .with_source(err)
                    .into()
            })
        })
        .transpose()?;
    let prereleases = table
        .get("prereleases")
        .map(Value::bool)
        .transpose()?
        .unwrap_or(false);
    let ignore = match table.get("ignore") {
        None => Vec::new(),
        Some(list) => list
            .array("an array of regular expressions")?
            .iter()
            .map(pattern)
            .collect::<Result<_>>()?,
    };
    let spec = UpdateSpec {
        strategy,
        url,
        regex,
        path,
        versions,
        prereleases,
        ignore,
    };
    match spec.strategy {
        Some(Strategy::Json) if spec.path.is_none() => Err(table.error(
            "`strategy = \"json\"` needs `path`: where the versions are in the document".into(),
        )),
        Some(Strategy::Json | Strategy::OciTags) if spec.url.is_none() => {
            Err(table.error(format!(
                "`strategy = \"{}\"` needs `url`",
                spec.strategy.unwrap_or(Strategy::None)
            )))
        }
        _ => Ok(spec),
    }
}

fn pattern(value: &Value<'_>) -> Result<String> {
    let text = value.str()?;
    match regex::Regex::new(text) {
        Ok(_) => Ok(text.to_owned()),
        Err(err) => Err(value.error(format!(
            "`{text}` is not a regular expression: {}",
            err.to_string().lines().last().unwrap_or_default().trim()
        ))),
    }
}
