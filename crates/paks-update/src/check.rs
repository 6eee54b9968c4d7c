//! Where new versions come from: a recipe's [`Target`] (its `[update]` section, completed
//! from its sources), the versions found there ([`upstream_versions`]), and the newest one
//! that passes the recipe's filters ([`newest`]); [`check`] does all three.

use paks_recipe::{Recipe, SourceKind, Strategy};
use paks_types::{LooseVersion, PackageName, Version};
use serde::Serialize;

use crate::fetch::{FetchError, Fetcher};
use crate::strategy;
use crate::{Check, Release};

/// Where and how one recipe's upstream versions are looked up: the `[update]` section,
/// with what it leaves out inferred from the sources. Two recipes with equal targets see
/// the same upstream versions (a cache may key on its JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The recipe's package (named in errors; a `name-` tag prefix is read as such).
    pub name: PackageName,
    /// How to look.
    #[serde(serialize_with = "strategy_name")]
    pub strategy: Strategy,
    /// Whether the strategy was inferred from the sources.
    pub inferred: bool,
    /// The git URL, listing or JSON URL, or `REGISTRY/REPOSITORY`; empty for `none`.
    pub location: String,
    /// The pattern that finds versions: `update.regex`, or for a listing without one, the
    /// pattern inferred from the download's file name.
    pub regex: Option<String>,
    /// `update.path`, for `json`.
    pub path: Option<String>,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn strategy_name<S: serde::Serializer>(v: &Strategy, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// Why a recipe's upstream versions could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("`{name}`: strategy `{strategy}` needs a URL, and no source gives one")]
    NoLocation {
        name: PackageName,
        strategy: Strategy,
    },
    #[error(
        "`{name}`: the version `{version}` is not in the file name of `{url}`, so no listing \
         pattern can be inferred"
    )]
    NoVersionInUrl {
        name: PackageName,
        url: String,
        version: Version,
    },
    #[error("`{name}`: `{pattern}` is not a regular expression")]
    Regex {
        name: PackageName,
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("`{name}`: failed to read upstream versions from `{url}`")]
    Fetch {
        name: PackageName,
        url: String,
        #[source]
        source: FetchError,
    },
    #[error("`{name}`: failed to run `git ls-remote` on `{url}`")]
    GitSpawn {
        name: PackageName,
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{name}`: `git ls-remote --tags` of `{url}` failed: {stderr}")]
    Git {
        name: PackageName,
        url: String,
        stderr: String,
    },
    #[error("`{name}`: `git ls-remote --tags` of `{url}` took longer than {seconds} s")]
    GitTimeout {
        name: PackageName,
        url: String,
        seconds: u64,
    },
    #[error("`{name}`: the tags of `{url}` are more than the limit of {limit} bytes")]
    GitTooLarge {
        name: PackageName,
        url: String,
        limit: u64,
    },
    #[error("`{name}`: `{url}` is not JSON")]
    Json {
        name: PackageName,
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{name}`: the path `{path}` finds no text in the JSON at `{url}`")]
    JsonPath {
        name: PackageName,
        url: String,
        path: String,
    },
    #[error("`{name}`: `{location}` is not a `REGISTRY/REPOSITORY` for `oci-tags`")]
    Repository {
        name: PackageName,
        location: String,
        #[source]
        source: Box<paks_oci::OciError>,
    },
    #[error("`{name}`: failed to list the tags of `{location}`")]
    Registry {
        name: PackageName,
        location: String,
        #[source]
        source: Box<paks_oci::OciError>,
    },
}

impl CheckError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoLocation { .. } => Some("set `url` in the recipe's `[update]`".into()),
            Self::NoVersionInUrl { .. } => Some(
                "set `regex` in the recipe's `[update]`: a pattern whose group `version` \
                 matches the versions on the page"
                    .into(),
            ),
            Self::Fetch {
                source: FetchError::Status { status: 404, .. },
                ..
            } => Some("check `url` in the recipe's `[update]`".into()),
            Self::GitSpawn { .. } => Some("install git".into()),
            Self::JsonPath { .. } => Some(
                "check `path` in the recipe's `[update]`: keys separated by `.`, `*` for \
                 every element (e.g. `*.tag_name`)"
                    .into(),
            ),
            Self::Repository { .. } => Some(
                "set `url` in the recipe's `[update]` to a repository such as \
                 `ghcr.io/owner/name`"
                    .into(),
            ),
            Self::Registry { source, .. } => source.hint(),
            _ => None,
        }
    }

    /// Whether the machine or the network failed (exit 2), rather than the recipe being
    /// wrong (exit 1).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Self::Fetch { .. }
                | Self::GitSpawn { .. }
                | Self::Git { .. }
                | Self::GitTimeout { .. }
                | Self::Registry { .. }
        )
    }
}

/// The recipe's target: its `[update]` section, or what its sources imply.
pub fn target(recipe: &Recipe) -> Result<Target, CheckError> {
    strategy::infer::target(recipe)
}

/// Every version found at `target`, parsed but not filtered (pre-releases and ignored
/// versions included), in ascending order; texts that are not versions are skipped. One
/// version spelled two ways upstream (`v1.3`, `1.3`) appears twice.
pub async fn upstream_versions(
    target: &Target,
    fetcher: &Fetcher,
) -> Result<Vec<Release>, CheckError> {
    let found = strategy::found(target, fetcher).await?;
    let mut releases: Vec<Release> = Vec::new();
    // Where each (text, tag) is in `releases`: a lookup, not a scan per item, which was
    // quadratic in what a hostile upstream lists.
    let mut seen: std::collections::HashMap<(String, Option<String>), usize> =
        std::collections::HashMap::new();
    for item in found {
        let Some(upstream) = LooseVersion::parse(&item.version) else {
            continue;
        };
        // Two tags can carry one text (`tool-1.0`, `1.0`): both are kept.
        let key = (upstream.text().to_owned(), item.tag.clone());
        if let Some(&i) = seen.get(&key) {
            // A listing names a file twice (link and text): keep the link.
            if releases[i].url.is_none() {
                releases[i].url = item.url;
            }
            continue;
        }
        seen.insert(key, releases.len());
        releases.push(Release {
            version: upstream.to_semver(),
            upstream,
            url: item.url,
            tag: item.tag,
            commit: item.commit,
        });
    }
    releases.sort_by(|a, b| a.upstream.cmp(&b.upstream));
    Ok(releases)
}

/// The greatest of `releases` that passes the recipe's filters (`ignore`, `prereleases`,
/// `versions`). Between spellings of one version, the one written like the recipe's
/// current version upstream wins (`v1.3` over `1.3` when the recipe's commit was `v1.2`).
pub fn newest(recipe: &Recipe, releases: &[Release]) -> Result<Option<Release>, CheckError> {
    let spec = recipe.update.clone().unwrap_or_default();
    let name = &recipe.package.name;
    let ignore = spec
        .ignore
        .iter()
        .map(|pattern| {
            regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| CheckError::Regex {
                name: name.clone(),
                pattern: pattern.clone(),
                source: Box::new(e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let passes = |release: &&Release| {
        if ignore.iter().any(|re| re.is_match(release.upstream.text())) {
            return false;
        }
        if release.upstream.is_prerelease() && !spec.prereleases {
            return false;
        }
        spec.versions.as_ref().is_none_or(|req| {
            // A pre-release counts when the release it leads to does: `2.0.0-rc1` is not
            // in `<2`, and `>=1.2` takes `1.3.0-rc1` when pre-releases are asked for.
            let mut release_of = release.version.clone();
            release_of.pre = semver::Prerelease::EMPTY;
            req.matches(&release_of)
        })
    };
    let style = current_style(recipe, releases);
    let mut best: Option<&Release> = None;
    for release in releases.iter().filter(passes) {
        let better = match best {
            None => true,
            Some(b) => {
                release.upstream > b.upstream
                    || (release.upstream == b.upstream
                        && style_score(release, style.as_deref())
                            > style_score(b, style.as_deref()))
            }
        };
        if better {
            best = Some(release);
        }
    }
    Ok(best.cloned())
}

/// Checks `recipe`: its target, what is there, the newest that counts.
pub async fn check(recipe: &Recipe, fetcher: &Fetcher) -> Result<Check, CheckError> {
    let target = target(recipe)?;
    let newest = if target.strategy == Strategy::None {
        None
    } else {
        newest(
            recipe,
            &crate::cache::upstream_versions(&target, fetcher).await?,
        )?
    };
    Ok(Check {
        name: recipe.package.name.clone(),
        current: recipe.package.version.clone(),
        newest,
        strategy: target.strategy,
        inferred: target.inferred,
        location: target.location,
    })
}

/// How the recipe's current version is written upstream (the shape of its tag or text,
/// digits as `N`: `vN.N`), when that can be told: the tag of the git source's commit,
/// else the spelling a URL source contains, else the only spelling upstream has.
fn current_style(recipe: &Recipe, releases: &[Release]) -> Option<String> {
    let current: Vec<&Release> = releases
        .iter()
        .filter(|r| r.version == recipe.package.version)
        .collect();
    for source in &recipe.sources {
        match &source.kind {
            SourceKind::Git { commit, .. } => {
                if let Some(r) = current
                    .iter()
                    .find(|r| r.commit.as_deref() == Some(commit.as_str()))
                {
                    return Some(shape(written(r)));
                }
            }
            SourceKind::Url { url, .. } => {
                // The longest spelling found wins: `v1.3` over `1.3` in `…/v1.3.tar.gz`.
                if let Some(r) = current
                    .iter()
                    .filter(|r| url.contains(r.upstream.text()))
                    .max_by_key(|r| r.upstream.text().len())
                {
                    return Some(shape(r.upstream.text()));
                }
            }
            SourceKind::Path { .. } => {}
        }
    }
    match current.as_slice() {
        [only] => Some(shape(written(only))),
        _ => None,
    }
}

fn written(release: &Release) -> &str {
    release
        .tag
        .as_deref()
        .unwrap_or_else(|| release.upstream.text())
}

/// `text` with every run of digits as `N`: `zlib-1.3.1` → `zlib-N.N.N`.
fn shape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// 2 when `release` is written in `style`, 1 when it starts the same way (`v`), else 0.
fn style_score(release: &Release, style: Option<&str>) -> u8 {
    let Some(style) = style else { return 0 };
    let own = shape(written(release));
    let prefix = |s: &str| s.split('N').next().unwrap_or_default().to_owned();
    if own == style {
        2
    } else {
        u8::from(prefix(&own) == prefix(style))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_hide_digits() {
        assert_eq!(shape("zlib-1.3.1"), "zlib-N.N.N");
        assert_eq!(shape("v10.2"), "vN.N");
        assert_eq!(shape("curl-8_5_0"), "curl-N_N_N");
    }
}
