//! The strategies: each reads the texts upstream writes its versions as, reaching its host
//! only through the [`Fetcher`].

pub(crate) mod git;
pub(crate) mod infer;
mod json;
mod listing;
mod oci;

use paks_recipe::Strategy;
use paks_types::PackageName;
use regex::{Captures, Regex};

use crate::check::{CheckError, Target};
use crate::fetch::Fetcher;

/// One version text a strategy found, not yet parsed.
#[derive(Debug)]
pub(crate) struct Found {
    /// The version as written (`v1.3`, `8_5_0`).
    pub version: String,
    pub url: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
}

impl Found {
    fn text(version: String) -> Self {
        Self {
            version,
            url: None,
            tag: None,
            commit: None,
        }
    }
}

/// Every version text at `target`.
pub(crate) async fn found(target: &Target, fetcher: &Fetcher) -> Result<Vec<Found>, CheckError> {
    let regex = target
        .regex
        .as_deref()
        .map(|pattern| compile(&target.name, pattern))
        .transpose()?;
    let reader = Reader {
        name: &target.name,
        regex: regex.as_ref(),
    };
    match target.strategy {
        Strategy::GitTags => git::tags(target, &reader, fetcher).await,
        Strategy::Listing => {
            let regex = regex.as_ref().ok_or_else(|| CheckError::NoLocation {
                name: target.name.clone(),
                strategy: target.strategy,
            })?;
            listing::versions(target, regex, fetcher).await
        }
        Strategy::Json => json::versions(target, &reader, fetcher).await,
        Strategy::OciTags => oci::tags(target, &reader, fetcher).await,
        Strategy::None => Ok(Vec::new()),
    }
}

pub(crate) fn compile(name: &PackageName, pattern: &str) -> Result<Regex, CheckError> {
    Regex::new(pattern).map_err(|e| CheckError::Regex {
        name: name.clone(),
        pattern: pattern.to_owned(),
        source: Box::new(e),
    })
}

/// The version in one match: group `version`, else group 1, else the whole match.
pub(crate) fn version_match<'t>(caps: &Captures<'t>) -> Option<regex::Match<'t>> {
    caps.name("version")
        .or_else(|| caps.get(1))
        .or_else(|| caps.get(0))
}

/// Reads the version out of one upstream text (a tag, a JSON value, an image tag).
struct Reader<'a> {
    name: &'a PackageName,
    regex: Option<&'a Regex>,
}

impl Reader<'_> {
    /// With a `regex`, what it matches; without, the text itself, less a `NAME-` or
    /// `NAME_` prefix (`zlib-1.3.1`, `curl-8_5_0`).
    fn version<'t>(&self, text: &'t str) -> Option<&'t str> {
        if let Some(regex) = self.regex {
            return regex
                .captures(text)
                .and_then(|caps| version_match(&caps))
                .map(|m| m.as_str());
        }
        let name = self.name.as_str();
        let unprefixed = text
            .get(..name.len())
            .filter(|head| head.eq_ignore_ascii_case(name))
            .and_then(|_| text[name.len()..].strip_prefix(['-', '_']));
        Some(unprefixed.unwrap_or(text))
    }
}
