//! Moving a source URL from one version to another: find the current version's text in
//! the URL and put the new one in its place.

use paks_types::{LooseVersion, Version};

/// `url` with every occurrence of `from`'s text replaced by `to`'s upstream text; `None`
/// when the URL does not name `from`.
///
/// The current version is looked for as [`LooseVersion::spellings`] writes it (longest
/// first: `1.3.0` before `1.3`), with `.` or `_` between the numbers (`curl-8_5_0`), and
/// only where it stands alone (not inside `11.3.0` or `1.3.01`). A `v` before it stays in
/// the URL, and the new text goes in without its own `v` (`v1.4` replaces `1.3` in
/// `…/v1.3/…` as `…/v1.4/…`), in the URL's separator.
pub fn rewrite(url: &str, from: &Version, to: &LooseVersion) -> Option<String> {
    let new_text = to
        .text()
        .strip_prefix(['v', 'V'])
        .unwrap_or_else(|| to.text());
    for spelling in LooseVersion::from_semver(from).spellings() {
        // The same spelling with `_` is the same length: both are replaced.
        let mut found: Vec<(usize, usize, char)> = Vec::new();
        for separator in ['.', '_'] {
            let needle = match separator {
                '.' => spelling.clone(),
                _ if spelling.contains('.') => spelling.replace('.', "_"),
                _ => continue,
            };
            found.extend(
                standalone_matches(url, &needle, path_start(url))
                    .into_iter()
                    .map(|start| (start, needle.len(), separator)),
            );
        }
        if found.is_empty() {
            continue;
        }
        found.sort_unstable();
        let mut out = String::with_capacity(url.len());
        let mut last = 0;
        for (start, len, separator) in found {
            out.push_str(&url[last..start]);
            out.push_str(&respell(new_text, separator));
            last = start + len;
        }
        out.push_str(&url[last..]);
        return Some(out);
    }
    None
}

/// Where a URL's path begins: versions in the host name or port are not the release's.
fn path_start(url: &str) -> usize {
    url.find("://").map_or(0, |scheme| {
        let authority = scheme + 3;
        url[authority..]
            .find('/')
            .map_or(url.len(), |slash| authority + slash)
    })
}

/// Where `needle` occurs in `haystack` from `from` on, with no digit (or `.`/`_` and a
/// digit) touching it on either side.
fn standalone_matches(haystack: &str, needle: &str, from: usize) -> Vec<usize> {
    let bytes = haystack.as_bytes();
    let is_sep = |b: u8| b == b'.' || b == b'_';
    haystack
        .match_indices(needle)
        .map(|(start, _)| start)
        .filter(|&start| {
            if start < from {
                return false;
            }
            let end = start + needle.len();
            // A separator touches the version only when a digit is beyond it.
            let before_ok = match start.checked_sub(1).map(|i| bytes[i]) {
                Some(b) if b.is_ascii_digit() => false,
                Some(b) if is_sep(b) => !(start >= 2 && bytes[start - 2].is_ascii_digit()),
                _ => true,
            };
            let after_ok = match bytes.get(end) {
                Some(b) if b.is_ascii_digit() => false,
                Some(&b) if is_sep(b) => !bytes.get(end + 1).is_some_and(u8::is_ascii_digit),
                _ => true,
            };
            before_ok && after_ok
        })
        .collect()
}

/// `text` (numbers joined by `.` or `_`) with its separators made `separator`.
fn respell(text: &str, separator: char) -> String {
    let other = if separator == '.' { '_' } else { '.' };
    // Only the numeric release is respelled; a pre-release keeps its own dots.
    let numeric_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (release, rest) = text.split_at(numeric_end);
    format!("{}{rest}", release.replace(other, &separator.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bump(url: &str, from: &str, to: &str) -> Option<String> {
        rewrite(
            url,
            &Version::parse(from).unwrap(),
            &LooseVersion::parse(to).unwrap(),
        )
    }

    #[test]
    fn replaces_the_longest_spelling_everywhere() {
        assert_eq!(
            bump("https://h/foo-1.0/foo-1.0.tar.gz", "1.0.0", "1.1").as_deref(),
            Some("https://h/foo-1.1/foo-1.1.tar.gz")
        );
        assert_eq!(
            bump("https://h/zlib-1.3.0.tar.xz", "1.3.0", "1.3.1").as_deref(),
            Some("https://h/zlib-1.3.1.tar.xz")
        );
    }

    #[test]
    fn keeps_the_urls_v_and_separator() {
        assert_eq!(
            bump("https://h/archive/v1.2.3.tar.gz", "1.2.3", "v1.2.4").as_deref(),
            Some("https://h/archive/v1.2.4.tar.gz")
        );
        assert_eq!(
            bump("https://h/curl-8_5_0/curl-8.5.0.tar.xz", "8.5.0", "8_6_0").as_deref(),
            Some("https://h/curl-8_6_0/curl-8.6.0.tar.xz")
        );
    }

    #[test]
    fn ignores_the_version_inside_other_numbers() {
        assert_eq!(bump("https://h/foo-11.0.tar.gz", "1.0.0", "1.1"), None);
        assert_eq!(bump("https://h/foo-1.0.1.tar.gz", "1.0.0", "1.1"), None);
        assert_eq!(bump("https://h/foo.tar.gz", "1.0.0", "1.1"), None);
        assert_eq!(
            bump("http://127.0.0.1:1000/1.0/f", "1.0.0", "1.1").as_deref(),
            Some("http://127.0.0.1:1000/1.1/f")
        );
        assert_eq!(
            bump("https://h/py3.11/foo-2.0.tar.gz", "2.0.0", "2.1").as_deref(),
            Some("https://h/py3.11/foo-2.1.tar.gz")
        );
    }
}
