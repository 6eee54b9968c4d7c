//! Checks on single values, free of TOML and of locations: the parser turns their answers
//! into located errors. The rules recipes share with arriving package metadata live in
//! `paks_types::rules`.

use paks_types::Digest;
use paks_types::similarity::edit_distance;

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

/// The known word closest to `unknown`, if it is a plausible typo: within edit distance 2,
/// ignoring case, and not a complete rewrite of a short word.
pub fn suggest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    let unknown = unknown.to_lowercase();
    let len = unknown.chars().count();
    known
        .iter()
        .map(|k| (edit_distance(&unknown, k), *k))
        .filter(|&(d, _)| d <= 2 && d < len)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

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
