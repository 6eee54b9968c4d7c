//! Checks on single values, free of TOML and of locations: the parser turns their answers
//! into located errors.

use std::path::{Component, Path, PathBuf};

use paks_types::Digest;

/// Why a path in a recipe is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathProblem {
    Empty,
    Absolute,
    ParentDir,
    Nul,
}

/// A relative path without `..`, normalised: no `.` components, no repeated or trailing
/// `/`; `.` when nothing is left. `..` is refused outright rather than resolved, because
/// resolving it by string would be wrong as soon as a component is a symbolic link.
pub(crate) fn relative_path(value: &str) -> Result<PathBuf, PathProblem> {
    if value.is_empty() {
        return Err(PathProblem::Empty);
    }
    if value.contains('\0') {
        return Err(PathProblem::Nul);
    }
    let path = Path::new(value);
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathProblem::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(PathProblem::Absolute),
        }
    }
    if normal.as_os_str().is_empty() {
        normal.push(".");
    }
    Ok(normal)
}

/// A sha256 digest written as 64 hex digits, optionally prefixed with `sha256:`; either
/// case is accepted and stored in lower case.
pub(crate) fn sha256(value: &str) -> Option<Digest> {
    let hex = value.strip_prefix("sha256:").unwrap_or(value);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    format!("sha256:{}", hex.to_ascii_lowercase()).parse().ok()
}

/// A full git object id (40 hex digits for SHA-1 repositories, 64 for SHA-256 ones), in
/// lower case.
pub(crate) fn commit(value: &str) -> Option<String> {
    let full = matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit());
    full.then(|| value.to_ascii_lowercase())
}

/// Whether `value` is a `<scheme>://...` URL with one of `schemes` (lower case): a host
/// for network schemes, an absolute path for `file`, and no whitespace or control
/// characters. Deliberately shallow: the client that fetches it has the last word.
pub(crate) fn is_url(value: &str, schemes: &[&str]) -> bool {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme.as_str()) {
        return false;
    }
    if scheme == "file" {
        return rest.starts_with('/') || rest.starts_with("localhost/");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    !host.is_empty() && !host.starts_with(':')
}

/// Whether `name` can be exported by a POSIX shell: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The first `{word}` in `value` that is not `{prefix}`, the only placeholder paks
/// replaces. `${word}` is left alone: it is shell syntax, not a placeholder.
pub(crate) fn unknown_placeholder(value: &str) -> Option<&str> {
    let mut rest = value;
    let mut offset = 0;
    while let Some(open) = rest.find('{') {
        let at = offset + open;
        let after = &value[at + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let is_shell = value[..at].ends_with('$');
        if word_len > 0 && after[word_len..].starts_with('}') && !is_shell {
            let word = &value[at..at + word_len + 2];
            if word != "{prefix}" {
                return Some(word);
            }
        }
        offset = at + 1;
        rest = &value[offset..];
    }
    None
}

/// The known word closest to `unknown`, if it is a plausible typo: within edit distance 2,
/// ignoring case, and not a complete rewrite of a short word.
pub(crate) fn suggest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    let unknown = unknown.to_lowercase();
    let len = unknown.chars().count();
    known
        .iter()
        .map(|k| (edit_distance(&unknown, k), *k))
        .filter(|&(d, _)| d <= 2 && d < len)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_relative_paths() {
        for (input, expected) in [
            ("src", "src"),
            ("./src/", "src"),
            ("a//b/./c", "a/b/c"),
            (".", "."),
            ("./", "."),
        ] {
            assert_eq!(relative_path(input), Ok(PathBuf::from(expected)), "{input}");
        }
        for (input, problem) in [
            ("", PathProblem::Empty),
            ("/src", PathProblem::Absolute),
            ("..", PathProblem::ParentDir),
            ("a/../b", PathProblem::ParentDir),
            ("a/..", PathProblem::ParentDir),
            ("a\0b", PathProblem::Nul),
        ] {
            assert_eq!(relative_path(input), Err(problem), "{input}");
        }
    }

    #[test]
    fn reads_sha256_and_commits() {
        let hex = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let digest = sha256(hex).unwrap();
        assert_eq!(digest, Digest::sha256_of(b""));
        assert_eq!(sha256(&format!("sha256:{hex}")), Some(digest));
        for bad in [
            "",
            "abc",
            &hex[1..],
            &format!("sha512:{hex}"),
            &hex.replace('E', "g"),
        ] {
            assert_eq!(sha256(bad), None, "{bad}");
        }
        assert_eq!(commit(&"A".repeat(40)), Some("a".repeat(40)));
        assert!(commit(&"0".repeat(64)).is_some());
        for bad in ["main", "v1.0", "abc1234", &"0".repeat(41), &"g".repeat(40)] {
            assert_eq!(commit(bad), None, "{bad}");
        }
    }

    #[test]
    fn checks_urls_shallowly() {
        let web = ["http", "https"];
        for good in [
            "https://example.org",
            "HTTP://example.org:8080/x?y#z",
            "https://user@host/p",
        ] {
            assert!(is_url(good, &web), "{good}");
        }
        for bad in [
            "example.org",
            "https://",
            "https:///path",
            "https://:80/",
            "ftp://example.org",
            "https://exa mple.org",
            "file:///tmp/x",
        ] {
            assert!(!is_url(bad, &web), "{bad}");
        }
        assert!(is_url("file:///tmp/x.tar.gz", &["file"]));
        assert!(is_url("file://localhost/tmp/x", &["file"]));
        assert!(!is_url("file://tmp/x", &["file"]));
    }

    #[test]
    fn env_names_are_shell_names() {
        for good in ["PATH", "_x", "A1_B"] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A.B", "É"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }

    #[test]
    fn finds_unknown_placeholders() {
        assert_eq!(unknown_placeholder("{prefix}/lib:{prefix}/lib64"), None);
        assert_eq!(unknown_placeholder("${HOME}/x {} { a }"), None);
        assert_eq!(unknown_placeholder("{prefix}/{prefx}/x"), Some("{prefx}"));
        assert_eq!(unknown_placeholder("{{PREFIX}}"), Some("{PREFIX}"));
    }

    #[test]
    fn suggests_close_keys_only() {
        let known = ["name", "version", "build-dependencies", "url"];
        assert_eq!(suggest("naem", &known), Some("name"));
        assert_eq!(suggest("Version", &known), Some("version"));
        assert_eq!(
            suggest("build_dependencies", &known),
            Some("build-dependencies")
        );
        assert_eq!(suggest("u", &known), None);
        assert_eq!(suggest("colour", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
