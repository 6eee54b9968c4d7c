//! `listing`: versions matched on a web page or directory listing.

use std::sync::LazyLock;

use regex::Regex;

use super::{Found, version_match};
use crate::check::{CheckError, Target};
use crate::fetch::Fetcher;

/// `href="…"` or `href='…'`: a match inside one is a link to that release.
static HREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)href\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("the pattern compiles")
});

/// The versions `regex` finds on the page at `target.location`.
pub(super) async fn versions(
    target: &Target,
    regex: &Regex,
    fetcher: &Fetcher,
) -> Result<Vec<Found>, CheckError> {
    let url = &target.location;
    let page = fetcher
        .get_text(url)
        .await
        .map_err(|source| CheckError::Fetch {
            name: target.name.clone(),
            url: url.clone(),
            source,
        })?;
    Ok(find(&page, url, regex))
}

fn find(page: &str, base: &str, regex: &Regex) -> Vec<Found> {
    let base = reqwest::Url::parse(base).ok();
    let links: Vec<regex::Match<'_>> = HREF
        .captures_iter(page)
        .filter_map(|caps| caps.get(1).or_else(|| caps.get(2)))
        .collect();
    regex
        .captures_iter(page)
        .filter_map(|caps| {
            let version = version_match(&caps)?;
            let link = links
                .iter()
                .find(|l| l.start() <= version.start() && version.end() <= l.end());
            let url = link.and_then(|l| Some(base.as_ref()?.join(l.as_str()).ok()?.to_string()));
            Some(Found {
                url,
                ..Found::text(version.as_str().to_owned())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_absolute_urls() {
        let page = r#"<a href="zlib-1.3.1.tar.gz">zlib-1.3.1.tar.gz</a> zlib-1.2.tar.gz"#;
        let re = Regex::new(r"zlib-(?P<version>[0-9][0-9A-Za-z._-]*?)\.tar\.gz").unwrap();
        let found = find(page, "http://127.0.0.1:1/pub/", &re);
        let seen: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|f| (f.version.as_str(), f.url.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("1.3.1", Some("http://127.0.0.1:1/pub/zlib-1.3.1.tar.gz")),
                ("1.3.1", None),
                ("1.2", None),
            ]
        );
    }
}
