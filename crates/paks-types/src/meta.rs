//! The package metadata: the `paks` field of a package's OCI image config.

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::{Digest, PackageId, PackageName, Platform};

/// The version of the [`PackageMeta`] schema this build writes. Readers refuse newer ones.
pub const META_SCHEMA: u32 = 1;

/// A package build's OCI image config: a valid image config (so any OCI tool can copy and
/// even run it) whose extra `paks` field holds everything needed to install it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// REQUIRED. The CPU architecture, with Go's names.
    pub architecture: String,
    /// REQUIRED. The operating system.
    pub os: String,
    /// OPTIONAL. The CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OPTIONAL. Execution parameters; empty for packages.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// REQUIRED. The layers' uncompressed digests.
    pub rootfs: ConfigRootfs,
    /// The paks metadata.
    pub paks: PackageMeta,
}

/// The `rootfs` of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRootfs {
    /// REQUIRED. Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// REQUIRED. The sha256 of each layer's uncompressed tar, in order.
    pub diff_ids: Vec<Digest>,
}

/// The config label and manifest annotation where an image composed from packages lists
/// their ids (space-separated, in layer order).
pub const IMAGE_PACKAGES_KEY: &str = "io.paks.packages";

/// Everything needed to install a package build, stored in its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMeta {
    /// The schema version, [`META_SCHEMA`] when written by this build.
    pub schema: u32,
    pub name: PackageName,
    pub version: Version,
    pub id: PackageId,
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Run dependencies, each pinned to the exact build it was built against.
    #[serde(default)]
    pub dependencies: Vec<PackageDep>,
    /// Environment the package exports when activated.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Files that embed the canonical store path and need rewriting under another root.
    #[serde(default)]
    pub relocation: Relocation,
    /// Number of entries (files, directories, links) in the prefix.
    pub files: u64,
    /// Unpacked size in bytes of the regular files.
    pub size: u64,
    /// The prefix's entries that are not directories (files and links), relative and
    /// sorted: what a view of the package links, known without its layer. Builds from
    /// before this field have it empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<String>,
    /// What the package's binaries need from the system, as `paks build` found it.
    #[serde(default, skip_serializing_if = "PackageNeeds::is_empty")]
    pub needs: PackageNeeds,
}

/// What a package's ELF binaries need from the system they run on, found by analysing
/// them when the package is built (the facts `paks inspect` finds in an image). Each field
/// is absent when no binary needs anything of the kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageNeeds {
    /// The highest `GLIBC_x.y` symbol version needed (`2.34`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<String>,
    /// The highest `GLIBCXX_3.4.N` needed (`3.4.30`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibcxx: Option<String>,
    /// The x86-64 level required, when above the baseline (`x86-64-v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa_level: Option<String>,
    /// Where that level came from: `gnu-property` or `estimated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa_source: Option<String>,
    /// The MPI ABI linked (`openmpi`, `mpich`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpi: Option<String>,
    /// The CUDA linked: `cuda:12.2`, or `cuda` when the version is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
}

impl PackageNeeds {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A run dependency, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDep {
    pub name: PackageName,
    /// The requirement the recipe stated.
    pub req: VersionReq,
    /// The exact build it was built against.
    pub id: PackageId,
    /// The digest of that build's manifest, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// One exported environment variable. `value` may contain `{prefix}`, replaced by the
/// package's installed prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub action: EnvAction,
}

/// How an exported variable combines with what is already set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvAction {
    /// Replace the value.
    Set,
    /// Put the value in front, `:`-separated (search paths).
    Prepend,
    /// Put the value at the end, `:`-separated.
    Append,
}

/// Files, relative to the prefix, that contain the canonical store path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relocation {
    /// Text files: the path is rewritten, whatever the new root's length.
    #[serde(default)]
    pub text: Vec<String>,
    /// Binary files (ELF strings): rewritten in place, so only to a root no longer than
    /// the canonical one.
    #[serde(default)]
    pub binary: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id_hash;

    #[test]
    fn config_round_trips_as_oci_image_config() {
        let name = PackageName::new("hello").unwrap();
        let version = Version::parse("1.0.0").unwrap();
        let id = PackageId::new(id_hash(b"x"), name.clone(), version.clone()).unwrap();
        let cfg = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            config: BTreeMap::new(),
            rootfs: ConfigRootfs {
                kind: "layers".into(),
                diff_ids: vec![Digest::sha256_of(b"t")],
            },
            paks: PackageMeta {
                schema: META_SCHEMA,
                name,
                version,
                id,
                platform: Platform::host(),
                summary: None,
                license: Some("MIT".into()),
                homepage: None,
                dependencies: vec![],
                env: vec![EnvVar {
                    name: "X".into(),
                    value: "{prefix}/x".into(),
                    action: EnvAction::Prepend,
                }],
                relocation: Relocation::default(),
                files: 3,
                size: 10,
                contents: vec![],
                needs: PackageNeeds::default(),
            },
        };
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(
            json.contains(r#""rootfs":{"type":"layers","diff_ids":["sha256:"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ImageConfig>(&json).unwrap(), cfg);
    }
}
