//! `listing`: versions matched on a web page or directory listing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use super::{Found, version_match};
use crate::check::{CheckError, Target};
use crate::fetch::{FetchError, Fetcher};

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
    let page = match local_directory(url).await {
        Some(dir) => directory_page(&dir, url).await,
        None => fetcher.get_text(url).await,
    }
    .map_err(|source| CheckError::Fetch {
        name: target.name.clone(),
        url: url.clone(),
        source,
    })?;
    Ok(find(&page, url, regex))
}

/// The directory a `file://` URL names, if it names one.
async fn local_directory(url: &str) -> Option<std::path::PathBuf> {
    let path = reqwest::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")?
        .to_file_path()
        .ok()?;
    tokio::fs::metadata(&path)
        .await
        .is_ok_and(|m| m.is_dir())
        .then_some(path)
}

/// A local directory as the page a web server would list it as: a link per entry, so
/// that downloads from `file://` URLs are checked like any others.
async fn directory_page(dir: &std::path::Path, url: &str) -> Result<String, FetchError> {
    let io = |source| FetchError::File {
        url: url.to_owned(),
        source,
    };
    let mut entries = tokio::fs::read_dir(dir).await.map_err(io)?;
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    let mut page = String::new();
    for name in names {
        let mut href = String::new();
        for byte in name.bytes() {
            if byte.is_ascii_alphanumeric() || b"._~+-".contains(&byte) {
                href.push(char::from(byte));
            } else {
                let _ = write!(href, "%{byte:02X}");
            }
        }
        let _ = writeln!(page, "<a href=\"{href}\">{name}</a>");
    }
    Ok(page)
}

/// Each version `regex` finds on `page`, once, with the link it was found in: a link
/// the match runs to the end of (`zlib-1.3.1.tar.gz`) before one it only starts
/// (`zlib-1.3.1.tar.gz.asc`).
fn find(page: &str, base: &str, regex: &Regex) -> Vec<Found> {
    let base = reqwest::Url::parse(base).ok();
    // In page order and never overlapping: each match's link is found by bisection, and
    // each version's earlier sighting through an index, so that a page of a million
    // links costs no more than its size (a scan of all per match was quadratic).
    let links: Vec<regex::Match<'_>> = HREF
        .captures_iter(page)
        .filter_map(|caps| caps.get(1).or_else(|| caps.get(2)))
        .collect();
    let mut found: Vec<(Found, u8)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for caps in regex.captures_iter(page) {
        let (Some(whole), Some(version)) = (caps.get(0), version_match(&caps)) else {
            continue;
        };
        let after = links.partition_point(|l| l.start() <= version.start());
        let link = after
            .checked_sub(1)
            .map(|i| &links[i])
            .filter(|l| version.end() <= l.end());
        let url = link.and_then(|l| Some(base.as_ref()?.join(l.as_str()).ok()?.to_string()));
        let rank = match link {
            Some(l) if whole.end() == l.end() => 2,
            Some(_) if url.is_some() => 1,
            _ => 0,
        };
        match seen.get(version.as_str()) {
            Some(&i) if rank > found[i].1 => {
                found[i].0.url = url;
                found[i].1 = rank;
            }
            Some(_) => {}
            None => {
                seen.insert(version.as_str().to_owned(), found.len());
                found.push((
                    Found {
                        url,
                        ..Found::text(version.as_str().to_owned())
                    },
                    rank,
                ));
            }
        }
    }
    found.into_iter().map(|(f, _)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_absolute_urls() {
        let page = r#"<a href="zlib-1.3.1.tar.gz.asc">zlib-1.3.1.tar.gz.asc</a>
            <a href='zlib-1.3.1.tar.gz'>zlib-1.3.1.tar.gz</a> zlib-1.2.tar.gz"#;
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
                ("1.2", None),
            ]
        );
    }
}
