//! The on-registry format (docs/registry-format.md): repository names, tags, and the
//! version index. The OCI objects themselves are `paks_oci`'s types.

use std::collections::BTreeMap;

use paks_oci::{Descriptor, ImageIndex, OCI_INDEX, Platform as OciPlatform};
use paks_types::{PackageId, PackageName, Platform, Version};

use crate::{RemoteError, RemoteErrorKind};

pub use paks_oci::{DOCKER_MANIFEST_LIST, OCI_MANIFEST as MANIFEST};
pub const INDEX: &str = OCI_INDEX;
pub const ANNOTATION_ID: &str = "io.paks.package.id";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";

/// The repository name of a package: its name with `+` written `_plus`, which must then
/// satisfy the distribution spec's repository component grammar.
pub fn repo_name(name: &PackageName) -> Result<String, RemoteError> {
    let mapped = name.as_str().replace('+', "_plus");
    if !component_ok(&mapped) {
        return Err(RemoteError::from(RemoteErrorKind::UnpushableName {
            name: name.clone(),
            mapped,
        }));
    }
    Ok(mapped)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn component_ok(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() || !alnum(chars[0]) || !alnum(chars[chars.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < chars.len() {
        if alnum(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !alnum(chars[i]) {
            i += 1;
        }
        let sep: String = chars[start..i].iter().collect();
        if !(sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-')) {
            return false;
        }
    }
    true
}

/// The tag of a version: the version with `+` written `_`.
pub fn version_tag(version: &Version) -> String {
    version.to_string().replace('+', "_")
}

/// The tag of one build: `<version-tag>-<hash>`.
pub fn build_tag(id: &PackageId) -> String {
    format!("{}-{}", version_tag(id.version()), id.hash())
}

/// Whether a build for `platform` runs on `host`.
pub fn runs_on(platform: &OciPlatform, host: &Platform) -> bool {
    Platform {
        os: platform.os.clone(),
        architecture: platform.architecture.clone(),
        variant: platform.variant.clone(),
    }
    .runs_on(host)
}

/// `os/architecture[/variant]`, for messages.
pub fn platform_name(platform: &OciPlatform) -> String {
    let variant = platform
        .variant
        .as_ref()
        .map(|v| format!("/{v}"))
        .unwrap_or_default();
    format!("{}/{}{variant}", platform.os, platform.architecture)
}

/// The version index of a package with no builds yet.
pub fn version_index(name: &PackageName, version: &Version) -> ImageIndex {
    ImageIndex {
        annotations: BTreeMap::from([
            (ANNOTATION_TITLE.to_owned(), name.to_string()),
            (ANNOTATION_VERSION.to_owned(), version.to_string()),
        ]),
        ..ImageIndex::default()
    }
}

/// Add a build to a version index, replacing one for the same platform; entries stay
/// sorted by platform so that the bytes depend only on the entries. Returns whether
/// anything changed.
pub fn put_build(index: &mut ImageIndex, build: Descriptor) -> bool {
    if index.manifests.contains(&build) {
        return false;
    }
    index.manifests.retain(|d| d.platform != build.platform);
    index.manifests.push(build);
    index
        .manifests
        .sort_by_key(|d| (d.platform.as_ref().map(platform_name), d.digest.clone()));
    true
}

#[cfg(test)]
mod tests {
    use paks_types::Digest;

    use super::*;

    #[test]
    fn repository_names() {
        for (name, repo) in [
            ("hello", "hello"),
            ("g++", "g_plus_plus"),
            ("python3.12", "python3.12"),
            ("lib_x", "lib_x"),
            ("a--b", "a--b"),
        ] {
            assert_eq!(repo_name(&PackageName::new(name).unwrap()).unwrap(), repo);
        }
        for bad in ["a..b", "a-", "x_.y"] {
            let err = repo_name(&PackageName::new(bad).unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains("cannot be a repository name"), "{err}");
        }
    }

    #[test]
    fn tags() {
        let v = Version::parse("1.2.3-rc.1+build.5").unwrap();
        assert_eq!(version_tag(&v), "1.2.3-rc.1_build.5");
    }

    #[test]
    fn index_keeps_one_build_per_platform_sorted() {
        let mut index = version_index(&PackageName::new("x").unwrap(), &Version::new(1, 0, 0));
        let d = |arch: &str, content: &[u8]| {
            let mut d = Descriptor::new(MANIFEST, Digest::sha256_of(content), 1);
            d.platform = Some(OciPlatform::from(&Platform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: None,
            }));
            d
        };
        assert!(put_build(&mut index, d("arm64", b"a")));
        assert!(put_build(&mut index, d("amd64", b"b")));
        assert!(!put_build(&mut index, d("amd64", b"b")));
        assert!(put_build(&mut index, d("amd64", b"c")));
        let archs: Vec<_> = index
            .manifests
            .iter()
            .map(|m| m.platform.as_ref().unwrap().architecture.clone())
            .collect();
        assert_eq!(archs, ["amd64", "arm64"]);
        assert_eq!(index.manifests[0].digest, Digest::sha256_of(b"c"));
    }
}
