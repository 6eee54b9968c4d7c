//! Newer image tags: which of a repository's tags a `FROM image:tag` may move to.
//!
//! A tag is read as a version and a variant suffix: `3.12-slim` is version `3.12` with
//! variant `-slim`, `1.25-alpine3.20` is `1.25` with `-alpine3.20`, `v1.2.3` and `20.04` have
//! no variant, and `latest` or `bookworm` have no version (they never move). Versions are
//! [`LooseVersion`]s, so `3.13.0rc1-slim` is a pre-release of `3.13.0` with variant `-slim`.
//!
//! A tag may move to another only when the two have the same shape: the same variant
//! (exactly: `-alpine3.19` and `-alpine3.20` are different variants), the same number of
//! version components (`3.12` follows `3.13`, never `3.13.1`: a two-component tag is a
//! moving tag and stays one) and the same `v` prefix. Pre-releases are only candidates for a
//! tag that is itself a pre-release of the same release (`3.13.0rc1` → `3.13.0rc2`), as
//! Renovate does: a stable tag never moves to a pre-release.

use paks_types::LooseVersion;

/// How far a tag may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only the third component (`3.12.1` → `3.12.2`); a tag with fewer components stays.
    Patch,
    /// The second component and below (`3.12` → `3.13`, `3.12.1` → `3.13.0`).
    Minor,
    /// Any component (`3.12` → `4.0`).
    Major,
}

impl Level {
    /// How many leading version components a candidate must share with the current tag.
    fn fixed_components(self) -> usize {
        match self {
            Self::Major => 0,
            Self::Minor => 1,
            Self::Patch => 2,
        }
    }
}

/// A tag read as a version and a variant suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagVersion<'a> {
    /// The version part, as written (`v` prefix included).
    pub version: LooseVersion,
    /// Everything after the version, from its `-` on (`-slim-bookworm`); empty when none.
    pub variant: &'a str,
}

impl TagVersion<'_> {
    /// Whether the version is written with a `v` prefix (`v1.2.3`).
    fn has_v(&self) -> bool {
        self.version.text().starts_with(['v', 'V'])
    }

    /// Whether `other` has this tag's shape: same variant, same number of components, same
    /// `v` prefix.
    fn same_shape(&self, other: &TagVersion<'_>) -> bool {
        self.variant == other.variant
            && self.version.release().len() == other.version.release().len()
            && self.has_v() == other.has_v()
    }
}

/// `tag` split into its version and variant, or `None` when it has no leading version
/// (`latest`, `bookworm`, `alpine3.20`).
///
/// The version is the longest part before a `-` (or the whole tag) that reads as a
/// [`LooseVersion`] whose pre-release, if any, has no `-`: `1.2.3-rc1-alpine` is the
/// pre-release `1.2.3-rc1` with variant `-alpine`, and `3.12-slim` is `3.12` with `-slim`
/// since `slim` is not a pre-release word.
pub fn split(tag: &str) -> Option<TagVersion<'_>> {
    let cuts = tag
        .match_indices('-')
        .map(|(at, _)| at)
        .chain(std::iter::once(tag.len()));
    let mut best = None;
    for cut in cuts {
        let Some(version) = LooseVersion::parse(&tag[..cut]) else {
            continue;
        };
        if version.pre().is_some_and(|pre| pre.contains('-')) {
            continue;
        }
        best = Some(TagVersion {
            version,
            variant: &tag[cut..],
        });
    }
    best
}

/// Whether `candidate` is a tag `current` may move to at `level`: same shape, greater,
/// within the level, and not a pre-release unless `current` is a pre-release of the same
/// release.
fn allowed(current: &TagVersion<'_>, candidate: &TagVersion<'_>, level: Level) -> bool {
    let (now, next) = (&current.version, &candidate.version);
    if !current.same_shape(candidate) || next <= now {
        return false;
    }
    let fixed = level.fixed_components().min(now.release().len());
    if now.release()[..fixed] != next.release()[..fixed] {
        return false;
    }
    // A tag with no more components than the level fixes cannot move within it (`3.12`
    // at patch level): only its pre-release could differ.
    if now.release().len() <= level.fixed_components() && !now.is_prerelease() {
        return false;
    }
    !next.is_prerelease() || (now.is_prerelease() && now.release() == next.release())
}

/// Every tag of `tags` that `current` may move to at `level`, newest first. Empty when
/// `current` has no version.
pub fn candidates<'t>(
    current: &str,
    tags: impl IntoIterator<Item = &'t str>,
    level: Level,
) -> Vec<&'t str> {
    let Some(now) = split(current) else {
        return Vec::new();
    };
    let mut found: Vec<(LooseVersion, &'t str)> = tags
        .into_iter()
        .filter_map(|tag| {
            let next = split(tag)?;
            allowed(&now, &next, level).then_some((next.version, tag))
        })
        .collect();
    // Newest first; equal versions spelled differently (`3.13.0`, `3.13.00`) by text, so
    // the order never depends on the registry's.
    found.sort_by(|(a, at), (b, bt)| b.cmp(a).then_with(|| at.cmp(bt)));
    found.dedup_by(|(a, _), (b, _)| a == b);
    found.into_iter().map(|(_, tag)| tag).collect()
}

/// The newest tag `current` may move to at `level`, if any is newer.
pub fn newest<'t>(
    current: &str,
    tags: impl IntoIterator<Item = &'t str>,
    level: Level,
) -> Option<&'t str> {
    candidates(current, tags, level).into_iter().next()
}

/// Every newer tag of `current`'s shape, at any level, newest first: what `check` reports.
pub fn newer_tags<'t>(current: &str, tags: impl IntoIterator<Item = &'t str>) -> Vec<&'t str> {
    candidates(current, tags, Level::Major)
}
