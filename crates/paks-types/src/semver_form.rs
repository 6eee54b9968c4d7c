//! Order-preserving semver forms of foreign versions (Debian's, Alpine's).
//!
//! A foreign version becomes `0.0.0+<identifiers>`: build metadata, which the `semver`
//! crate's `Ord` compares identifier by identifier (numeric ones numerically, alphanumeric
//! ones in ASCII order, numeric before alphanumeric, a list that is a prefix of another
//! first). Each format chooses identifiers so that this order is its own; this module only
//! assembles them and keeps the form short enough for OCI tags.

use sha2::{Digest as _, Sha256};

/// The longest build metadata a form may have: a version tag is `0.0.0_<metadata>`, and
/// an OCI tag holds at most 128 characters.
pub const MAX_METADATA_LEN: usize = 128 - "0.0.0_".len();

/// Characters of the digest identifier that ends a shortened form: `z` and 16 hex digits.
const DIGEST_ID_LEN: usize = 17;

/// `0.0.0+<identifiers joined by .>`. Identifiers must be non-empty and hold only
/// `[0-9A-Za-z]`. A form longer than [`MAX_METADATA_LEN`] is cut after the identifiers
/// that fit and ends with `z<16 hex digits of the sha256 of the full form>`: still
/// distinct, and still ordered exactly against every version that differs within the kept
/// identifiers (no Debian 12 version needs the cut; see decision 48).
pub fn from_identifiers<S: AsRef<str>>(identifiers: &[S]) -> semver::Version {
    let full = identifiers
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(".");
    let meta = if full.len() <= MAX_METADATA_LEN {
        full
    } else {
        let mut kept = String::new();
        for id in identifiers.iter().map(AsRef::as_ref) {
            if kept.len() + id.len() + 2 + DIGEST_ID_LEN > MAX_METADATA_LEN {
                break;
            }
            kept.push_str(id);
            kept.push('.');
        }
        let digest = Sha256::digest(full.as_bytes());
        format!("{kept}z{}", data_encoding::HEXLOWER.encode(&digest[..8]))
    };
    let mut v = semver::Version::new(0, 0, 0);
    v.build = semver::BuildMetadata::new(&meta).expect("identifiers are non-empty [0-9A-Za-z]");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_cuts_long_forms() {
        assert_eq!(
            from_identifiers(&["1", "B", "2"]).to_string(),
            "0.0.0+1.B.2"
        );
        let long: Vec<String> = (0..100).map(|i| format!("C{i}")).collect();
        let v = from_identifiers(&long);
        let meta = v.build.as_str();
        assert!(meta.len() <= MAX_METADATA_LEN, "{meta}");
        assert!(meta.starts_with("C0.C1.C2."), "{meta}");
        let mut other = long.clone();
        other[99] = "C999".to_owned();
        assert_ne!(
            from_identifiers(&other),
            v,
            "the digest keeps forms distinct"
        );
    }
}
