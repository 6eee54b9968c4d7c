//! The on-registry format (docs/registry-format.md): repository names, tags, and the
//! version index. The OCI objects themselves are `paks_oci`'s types.

use std::collections::BTreeMap;

use paks_host::HostProfile;
use paks_oci::{Descriptor, ImageIndex, OCI_INDEX, Platform as OciPlatform};
use paks_types::{PackageId, PackageName, Platform, Version};

use crate::{RemoteError, RemoteErrorKind};

pub use paks_oci::{DOCKER_MANIFEST_LIST, OCI_MANIFEST as MANIFEST};
pub const INDEX: &str = OCI_INDEX;
pub const ANNOTATION_ID: &str = "io.paks.package.id";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// Annotation (on a version index's entry, and a build's manifest): the microarchitecture
/// target a build needs (`x86_64_v3`); absent on a baseline build.
pub const ANNOTATION_TARGET: &str = "io.paks.target";
/// Annotation (on a version index's entry, and a build's manifest): the minimum glibc a
/// build needs (`2.36`).
pub const ANNOTATION_GLIBC: &str = "io.paks.glibc";
/// The annotations a version index entry copies from its build's manifest: what choosing
/// a build reads, so that the choice needs no manifest but the one chosen.
pub const ENTRY_ANNOTATIONS: [&str; 2] = [ANNOTATION_TARGET, ANNOTATION_GLIBC];

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

/// The longest tag OCI allows (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
pub const MAX_TAG_LEN: usize = 128;

/// The tag of one build: `<version-tag>-<hash>`. When that would pass [`MAX_TAG_LEN`]
/// (imported versions can be long), the version tag is cut at its last `.` that leaves
/// room: the hash names the build whole, and the tag still reads as a build tag, not a
/// version tag (decision 48).
pub fn build_tag(id: &PackageId) -> String {
    let version = version_tag(id.version());
    let room = MAX_TAG_LEN - 1 - id.hash().len();
    let version = if version.len() <= room {
        &version[..]
    } else {
        let cut = version[..=room].rfind('.').expect("a semver tag has dots");
        &version[..cut]
    };
    format!("{version}-{}", id.hash())
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

/// The microarchitecture target of a version index entry; `None` for a baseline build.
pub fn target_of(entry: &Descriptor) -> Option<&str> {
    entry
        .annotations
        .get(ANNOTATION_TARGET)
        .map(String::as_str)
        .filter(|t| !t.is_empty())
}

/// What a version index holds one build of: a platform and a target (none first).
fn build_key(entry: &Descriptor) -> (Option<String>, Option<&str>) {
    (entry.platform.as_ref().map(platform_name), target_of(entry))
}

/// Add a build to a version index, replacing one for the same platform and target; entries
/// stay sorted by platform, then target with the baseline first (the build a generic OCI
/// client, which takes the first entry of its platform, can run anywhere), so that the
/// bytes depend only on the entries. Returns whether anything changed.
pub fn put_build(index: &mut ImageIndex, build: Descriptor) -> bool {
    if index.manifests.contains(&build) {
        return false;
    }
    index
        .manifests
        .retain(|d| build_key(d) != build_key(&build));
    index.manifests.push(build);
    index
        .manifests
        .sort_by(|a, b| (build_key(a), &a.digest).cmp(&(build_key(b), &b.digest)));
    true
}

/// The entry of a version index that `host` runs best on `platform`: its platform runs
/// there, the host runs its target and has the glibc it needs; the best target ranks
/// first (the host's ladder, baseline last), then an exact platform variant, then the
/// order of the index. A host that knows no targets (`HostProfile::default()`) gets a
/// baseline build.
pub fn choose_build<'i>(
    index: &'i ImageIndex,
    platform: &Platform,
    host: &HostProfile,
) -> Option<&'i Descriptor> {
    index
        .manifests
        .iter()
        .filter_map(|d| {
            let p = d.platform.as_ref()?;
            let glibc = d.annotations.get(ANNOTATION_GLIBC);
            let glibc_ok = glibc
                .is_none_or(|g| paks_host::parse_glibc(g).is_none_or(|g| host.glibc_ok(Some(&g))));
            let rank = host.can_run_target(target_of(d))?;
            (runs_on(p, platform) && glibc_ok).then_some(((rank, p.variant.is_none()), d))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, d)| d)
}

/// `os/architecture[/variant]` and the target of an entry, for messages.
pub fn entry_name(entry: &Descriptor) -> String {
    let platform = entry
        .platform
        .as_ref()
        .map_or_else(|| "no platform".to_owned(), platform_name);
    match target_of(entry) {
        Some(t) => format!("{platform} ({t})"),
        None => platform,
    }
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
        let hash = "0123456789abcdfghijklmnpqrsvwxyz".to_owned();
        let id = |v: &str| {
            PackageId::new(
                hash.clone(),
                PackageName::new("x").unwrap(),
                v.parse().unwrap(),
            )
            .unwrap()
        };
        assert_eq!(build_tag(&id("1.0.0+a.b")), format!("1.0.0_a.b-{hash}"));
        // The longest form of a real Debian 12 version: cut, the hash kept whole.
        let long = "0.0.0+0.1.FB.31.ACpCrCeB.0.FB.8052.CaCaCbCdCdB.159.CbCcB.9050.CeB.7.CdCcB.264.CfB.33782.CcB.5.CaCcCcCeB.5.CfB.0.B.B.2.B";
        let tag = build_tag(&id(long));
        assert!(paks_types::distribution::is_valid_tag(&tag), "{tag}");
        assert!(tag.ends_with(&format!(".CcB.5-{hash}")), "{tag}");
    }

    fn entry(arch: &str, target: Option<&str>, content: &[u8]) -> Descriptor {
        let mut d = Descriptor::new(MANIFEST, Digest::sha256_of(content), 1);
        d.platform = Some(OciPlatform::from(&Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        }));
        if let Some(t) = target {
            d.annotations.insert(ANNOTATION_TARGET.into(), t.into());
        }
        d
    }

    fn names(index: &ImageIndex) -> Vec<String> {
        index.manifests.iter().map(entry_name).collect()
    }

    #[test]
    fn index_keeps_one_build_per_platform_and_target_sorted() {
        let mut index = version_index(&PackageName::new("x").unwrap(), &Version::new(1, 0, 0));
        assert!(put_build(&mut index, entry("arm64", None, b"a")));
        assert!(put_build(
            &mut index,
            entry("amd64", Some("x86_64_v4"), b"v4")
        ));
        assert!(put_build(&mut index, entry("amd64", None, b"b")));
        assert!(put_build(
            &mut index,
            entry("amd64", Some("x86_64_v3"), b"v3")
        ));
        let bytes = index.to_bytes();
        assert!(!put_build(&mut index, entry("amd64", None, b"b")));
        assert!(!put_build(
            &mut index,
            entry("amd64", Some("x86_64_v4"), b"v4")
        ));
        assert_eq!(index.to_bytes(), bytes);
        // A new baseline replaces only the baseline.
        assert!(put_build(&mut index, entry("amd64", None, b"c")));
        assert_eq!(
            names(&index),
            [
                "linux/amd64",
                "linux/amd64 (x86_64_v3)",
                "linux/amd64 (x86_64_v4)",
                "linux/arm64"
            ]
        );
        assert_eq!(index.manifests[0].digest, Digest::sha256_of(b"c"));
        assert_eq!(index.manifests[2].digest, Digest::sha256_of(b"v4"));
    }

    #[test]
    fn the_best_build_the_host_runs_is_chosen() {
        let mut index = version_index(&PackageName::new("x").unwrap(), &Version::new(1, 0, 0));
        for d in [
            entry("amd64", None, b"base"),
            entry("amd64", Some("x86_64_v3"), b"v3"),
            entry("amd64", Some("x86_64_v4"), b"v4"),
            entry("arm64", None, b"arm"),
        ] {
            put_build(&mut index, d);
        }
        let amd64 = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        };
        let host = |microarch: &str| HostProfile {
            os: "linux".into(),
            arch: "amd64".into(),
            targets: HostProfile::targets_for(microarch).unwrap(),
            ..HostProfile::default()
        };
        let chosen = |index: &ImageIndex, host: &HostProfile| {
            entry_name(choose_build(index, &amd64, host).unwrap())
        };
        assert_eq!(
            chosen(&index, &host("x86_64_v4")),
            "linux/amd64 (x86_64_v4)"
        );
        assert_eq!(chosen(&index, &host("icelake")), "linux/amd64 (x86_64_v4)");
        assert_eq!(
            chosen(&index, &host("x86_64_v3")),
            "linux/amd64 (x86_64_v3)"
        );
        assert_eq!(chosen(&index, &host("x86_64_v2")), "linux/amd64");
        assert_eq!(chosen(&index, &HostProfile::default()), "linux/amd64");
        // A build needing a newer glibc than the host's is passed over.
        let mut needs_new = entry("amd64", Some("x86_64_v4"), b"v4-new");
        needs_new
            .annotations
            .insert(ANNOTATION_GLIBC.into(), "2.99".into());
        put_build(&mut index, needs_new);
        let old_glibc = HostProfile {
            glibc: paks_host::parse_glibc("2.36"),
            ..host("x86_64_v4")
        };
        assert_eq!(chosen(&index, &old_glibc), "linux/amd64 (x86_64_v3)");
        // Only a targeted build, and a host that cannot run it: nothing.
        let mut only_v4 = version_index(&PackageName::new("x").unwrap(), &Version::new(1, 0, 0));
        put_build(&mut only_v4, entry("amd64", Some("x86_64_v4"), b"v4"));
        assert!(choose_build(&only_v4, &amd64, &host("x86_64_v3")).is_none());
    }
}
