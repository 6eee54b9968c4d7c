//! The commit a release's tag names in a git repository, asked of the repository with
//! `git ls-remote` (no clone), as release checks ask it.

use paks_recipe::Strategy;
use paks_types::{LooseVersion, PackageName};

use crate::Fetcher;
use crate::bump::BumpError;
use crate::check::Target;
use crate::strategy::git::{host, ls_remote, parse};

/// The tags a release may be under, most likely first: as upstream wrote it, then with
/// and without a `v`.
pub fn tag_candidates(upstream: &LooseVersion) -> Vec<String> {
    let text = upstream.text();
    let bare = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let mut out = vec![text.to_owned()];
    for tag in [format!("v{bare}"), bare.to_owned()] {
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// The full commit id of the first of `tags` that `url` has, and that tag (an annotated
/// tag's commit is its peeled `^{}` line), asked in the host's turn.
pub async fn tag_commit(
    name: &PackageName,
    url: &str,
    tags: &[String],
    fetcher: &Fetcher,
) -> Result<(String, String), BumpError> {
    let target = Target {
        name: name.clone(),
        strategy: Strategy::GitTags,
        inferred: false,
        location: url.to_owned(),
        regex: None,
        path: None,
    };
    let listed = match host(url) {
        Some(host) => fetcher.in_turn(&host, ls_remote(&target, fetcher)).await,
        None => ls_remote(&target, fetcher).await,
    }
    .map_err(|source| BumpError::Git {
        source: Box::new(source),
    })?;
    let commits = parse(&listed);
    tags.iter()
        .find_map(|tag| Some((commits.get(tag)?.clone(), tag.clone())))
        .ok_or_else(|| BumpError::NoTag {
            url: url.to_owned(),
            tags: tags.to_vec(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_the_tag_as_written_then_with_and_without_v() {
        let v = |t: &str| tag_candidates(&LooseVersion::parse(t).unwrap());
        assert_eq!(v("1.2"), ["1.2", "v1.2"]);
        assert_eq!(v("v1.2"), ["v1.2", "1.2"]);
        assert_eq!(v("V1.2"), ["V1.2", "v1.2", "1.2"]);
    }
}
