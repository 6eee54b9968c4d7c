//! What a recipe's sources imply about where its new versions are: the strategy when
//! `[update]` names none, the location when it gives no `url`, and a listing's pattern
//! when it gives no `regex`.

use paks_recipe::{Recipe, SourceKind, Strategy};
use paks_types::{LooseVersion, Version};

use crate::check::{CheckError, Target};

/// The group a listing pattern reads the version with: a digit, then the shortest run
/// of what versions are written with, up to the rest of the file name.
const VERSION_GROUP: &str = "(?P<version>[0-9][0-9A-Za-z._-]*?)";

/// `recipe`'s target.
pub(crate) fn target(recipe: &Recipe) -> Result<Target, CheckError> {
    let spec = recipe.update.clone().unwrap_or_default();
    let name = recipe.package.name.clone();
    let first_url = recipe.sources.iter().find_map(|s| match &s.kind {
        SourceKind::Url { url, .. } => Some(url.as_str()),
        _ => None,
    });
    let first_git = recipe.sources.iter().find_map(|s| match &s.kind {
        SourceKind::Git { url, .. } => Some(url.as_str()),
        _ => None,
    });
    let (strategy, inferred) = if let Some(strategy) = spec.strategy {
        (strategy, false)
    } else {
        // The first source that is not a path decides.
        let decisive = recipe.sources.iter().find_map(|s| match &s.kind {
            SourceKind::Git { .. } => Some(Strategy::GitTags),
            SourceKind::Url { url, .. } if github_repo(url).is_some() => Some(Strategy::GitTags),
            SourceKind::Url { .. } => Some(Strategy::Listing),
            SourceKind::Path { .. } => None,
        });
        // Only path sources: the package is made here (a project's own code, vendored
        // sources), so nothing upstream can be newer: never checked, as `none` says.
        (decisive.unwrap_or(Strategy::None), true)
    };
    let no_location = || CheckError::NoLocation {
        name: name.clone(),
        strategy,
    };
    let mut regex = spec.regex.clone();
    let location =
        match strategy {
            Strategy::None => String::new(),
            Strategy::GitTags => match &spec.url {
                Some(url) => url.clone(),
                None => first_git
                    .map(str::to_owned)
                    .or_else(|| first_url.and_then(github_repo))
                    .ok_or_else(no_location)?,
            },
            Strategy::Listing => {
                if regex.is_none() {
                    let url = first_url.ok_or_else(no_location)?;
                    regex = Some(listing_pattern(url, &recipe.package.version).ok_or_else(
                        || CheckError::NoVersionInUrl {
                            name: name.clone(),
                            url: url.to_owned(),
                            version: recipe.package.version.clone(),
                        },
                    )?);
                }
                match &spec.url {
                    Some(url) => url.clone(),
                    None => directory(first_url.ok_or_else(no_location)?),
                }
            }
            Strategy::Json | Strategy::OciTags => spec.url.clone().ok_or_else(no_location)?,
        };
    Ok(Target {
        name,
        strategy,
        inferred,
        location,
        regex,
        path: spec.path,
    })
}

/// `https://github.com/O/R.git` for a download from GitHub's archives or release assets
/// of `O/R`.
pub(crate) fn github_repo(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("http://github.com/"))?;
    let mut parts = rest.split('/');
    let (owner, repo, kind) = (parts.next()?, parts.next()?, parts.next()?);
    let is_release = kind == "archive" || (kind == "releases" && parts.next() == Some("download"));
    (is_release && !owner.is_empty() && !repo.is_empty())
        .then(|| format!("https://github.com/{owner}/{repo}.git"))
}

/// The URL up to and including its last `/` (query and fragment dropped).
fn directory(url: &str) -> String {
    let url = strip_query(url);
    match url.rfind('/') {
        Some(slash) => url[..=slash].to_owned(),
        None => url.to_owned(),
    }
}

fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The pattern that finds the other versions of the file `url` downloads: its file name,
/// escaped, with the current version (its longest spelling found there) as the group
/// `version`. `None` when the name does not contain the version.
pub(crate) fn listing_pattern(url: &str, version: &Version) -> Option<String> {
    let path = strip_query(url);
    let file = &path[path.rfind('/').map_or(0, |slash| slash + 1)..];
    let spellings = LooseVersion::from_semver(version).spellings();
    // `curl-8_5_0.tar.gz` writes `8.5.0` with underscores.
    let spelling = spellings
        .iter()
        .flat_map(|s| [s.clone(), s.replace('.', "_")])
        .filter(|s| file.contains(s.as_str()))
        .max_by_key(String::len)?;
    let mut pattern = String::new();
    let mut rest = file;
    let mut first = true;
    while let Some(at) = rest.find(spelling.as_str()) {
        pattern.push_str(&escape(&rest[..at]));
        // The regex crate has no back-references: later copies match any version.
        pattern.push_str(if first {
            VERSION_GROUP
        } else {
            "[0-9][0-9A-Za-z._-]*?"
        });
        first = false;
        rest = &rest[at + spelling.len()..];
    }
    pattern.push_str(&escape(rest));
    Some(pattern)
}

/// `text` as a literal pattern; unlike `regex::escape`, leaves `-` alone, so that the
/// pattern reads like the file name.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$#&~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn patterns_from_file_names() {
        assert_eq!(
            listing_pattern("https://zlib.net/zlib-1.3.tar.gz", &v("1.3.0")).as_deref(),
            Some(r"zlib-(?P<version>[0-9][0-9A-Za-z._-]*?)\.tar\.gz")
        );
        assert_eq!(
            listing_pattern("https://x.invalid/d/curl-8_5_0.tar.xz?dl=1", &v("8.5.0")).as_deref(),
            Some(r"curl-(?P<version>[0-9][0-9A-Za-z._-]*?)\.tar\.xz")
        );
        assert_eq!(
            listing_pattern("https://x.invalid/p-1.2.0/p-1.2.0-src.zip", &v("1.2.0")).as_deref(),
            Some(r"p-(?P<version>[0-9][0-9A-Za-z._-]*?)-src\.zip")
        );
        assert_eq!(
            listing_pattern("https://x.invalid/a-2.1-b-2.1.tgz", &v("2.1.0")).as_deref(),
            Some(r"a-(?P<version>[0-9][0-9A-Za-z._-]*?)-b-[0-9][0-9A-Za-z._-]*?\.tgz")
        );
        assert_eq!(
            listing_pattern("https://x.invalid/latest.tar.gz", &v("1.0.1")),
            None
        );
    }

    #[test]
    fn an_inferred_pattern_finds_other_versions() {
        let pattern = listing_pattern("https://zlib.net/zlib-1.3.tar.gz", &v("1.3.0")).unwrap();
        let re = regex::Regex::new(&pattern).unwrap();
        let found: Vec<&str> = re
            .captures_iter("zlib-1.3.1.tar.gz zlib-1.2.13.tar.gz.asc zlib-2.0.0-rc1.tar.gz")
            .map(|c| c.name("version").unwrap().as_str())
            .collect();
        assert_eq!(found, ["1.3.1", "1.2.13", "2.0.0-rc1"]);
    }

    #[test]
    fn github_downloads_are_git_repositories() {
        for url in [
            "https://github.com/madler/zlib/archive/refs/tags/v1.3.1.tar.gz",
            "https://github.com/madler/zlib/releases/download/v1.3.1/zlib-1.3.1.tar.gz",
        ] {
            assert_eq!(
                github_repo(url).as_deref(),
                Some("https://github.com/madler/zlib.git"),
                "{url}"
            );
        }
        assert_eq!(github_repo("https://github.com/madler/zlib/blob/x"), None);
        assert_eq!(github_repo("https://zlib.net/zlib-1.3.tar.gz"), None);
    }

    #[test]
    fn directories_end_in_a_slash() {
        assert_eq!(
            directory("https://zlib.net/fossils/zlib-1.3.tar.gz?x=1"),
            "https://zlib.net/fossils/"
        );
    }
}
