use std::fmt;
use std::str::FromStr;

use data_encoding::{Encoding, Specification};
use semver::Version;
use sha2::{Digest as _, Sha256};

use crate::{PackageName, TypeError};

/// Length of the hash part of a package id: 32 base32 characters = 160 bits.
pub const ID_HASH_LEN: usize = 32;

/// The base32 alphabet of ids: digits and lower-case letters without `e`, `o`, `t`, `u`,
/// so that no hash spells a word by accident (the alphabet Nix chose for the same reason).
const ALPHABET: &str = "0123456789abcdfghijklmnpqrsvwxyz";

fn encoding() -> Encoding {
    let mut spec = Specification::new();
    spec.symbols.push_str(ALPHABET);
    spec.encoding()
        .expect("the id alphabet is a valid base32 specification")
}

/// The hash part of a package id: the first 160 bits of the sha256 of `inputs`, in base32.
pub fn id_hash(inputs: &[u8]) -> String {
    let digest = Sha256::digest(inputs);
    encoding().encode(&digest[..20])
}

/// A package build's identity in the store: `<hash>-<name>-<version>`, where `<hash>`
/// covers every build input (recipe, sources, dependency ids, target platform).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId {
    hash: String,
    name: PackageName,
    version: Version,
}

impl PackageId {
    pub fn new(hash: String, name: PackageName, version: Version) -> Result<Self, TypeError> {
        if hash.len() != ID_HASH_LEN || !hash.chars().all(|c| ALPHABET.contains(c)) {
            return Err(TypeError::Id {
                value: format!("{hash}-{name}-{version}"),
                reason: "the hash must be 32 characters of the paks base32 alphabet",
            });
        }
        Ok(Self {
            hash,
            name,
            version,
        })
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn name(&self) -> &PackageName {
        &self.name
    }

    pub fn version(&self) -> &Version {
        &self.version
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.hash, self.name, self.version)
    }
}

impl FromStr for PackageId {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| TypeError::Id {
            value: s.to_owned(),
            reason,
        };
        let (hash, rest) = s
            .split_once('-')
            .ok_or_else(|| err("expected `<hash>-<name>-<version>`"))?;
        // Versions may contain `-` (pre-releases) and names may too: the version starts
        // after the last `-` that is followed by a digit and parses as a version.
        let split = rest
            .char_indices()
            .filter(|&(i, c)| c == '-' && rest[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
            .map(|(i, _)| i)
            .find(|&i| Version::parse(&rest[i + 1..]).is_ok())
            .ok_or_else(|| err("expected `<hash>-<name>-<version>` with a semver version"))?;
        let name = PackageName::new(&rest[..split])
            .map_err(|_| err("the name part is not a valid package name"))?;
        let version = Version::parse(&rest[split + 1..]).expect("checked above");
        Self::new(hash.to_owned(), name, version)
            .map_err(|_| err("the hash must be 32 characters of the paks base32 alphabet"))
    }
}

crate::serde_via_str!(PackageId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_sized() {
        let h = id_hash(b"inputs");
        assert_eq!(h.len(), ID_HASH_LEN);
        assert_eq!(h, id_hash(b"inputs"));
        assert_ne!(h, id_hash(b"inputs2"));
        assert!(h.chars().all(|c| ALPHABET.contains(c)));
    }

    #[test]
    fn round_trips_with_dashes_and_prereleases() {
        let hash = id_hash(b"x");
        for (name, version) in [
            ("hello", "1.0.0"),
            ("hello-script", "0.2.0-rc.1"),
            ("a-1", "2.0.0-beta-2"),
        ] {
            let id = PackageId::new(
                hash.clone(),
                PackageName::new(name).unwrap(),
                Version::parse(version).unwrap(),
            )
            .unwrap();
            let parsed: PackageId = id.to_string().parse().unwrap();
            assert_eq!(parsed, id);
            assert_eq!(parsed.name().as_str(), name);
        }
    }

    #[test]
    fn rejects_malformed_ids() {
        for s in [
            "",
            "abc",
            "tooshort-hello-1.0.0",
            &format!("{}-hello", id_hash(b"x")),
            &format!("{}-Hello-1.0.0", id_hash(b"x")),
        ] {
            assert!(s.parse::<PackageId>().is_err(), "{s}");
        }
    }
}
