//! The package metadata: the `paks` field of a package's OCI image config.

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::rules;
use crate::{Digest, PackageId, PackageName, Platform, TypeError};

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

/// The longest value a `needs` field may hold, in bytes (they are short words: `2.34`).
const MAX_NEEDS_LEN: usize = 64;

impl PackageMeta {
    /// Check every free-form field against [`rules`], the rules recipes follow: env names
    /// and values, one-line texts, the homepage URL, relative paths, the `needs` words.
    /// Typed fields (name, version, id, platform, digests) were checked when parsed.
    /// Called on every config that arrives, before anything of it is used.
    pub fn validate(&self) -> Result<(), TypeError> {
        let bad = |field: String, value: &str, reason: String| {
            Err(TypeError::Meta {
                field,
                value: shown(value),
                reason,
            })
        };
        for (key, value) in [
            ("summary", &self.summary),
            ("license", &self.license),
            ("homepage", &self.homepage),
        ] {
            let Some(value) = value else { continue };
            if let Some(reason) = rules::text_problem(value) {
                return bad(format!("paks.{key}"), value, reason.into());
            }
        }
        if let Some(url) = &self.homepage
            && !rules::is_url(url, &["http", "https"])
        {
            return bad(
                "paks.homepage".into(),
                url,
                "not an http or https URL".into(),
            );
        }
        for (i, var) in self.env.iter().enumerate() {
            if let Err(problem) = rules::check_env(&var.name, &var.value, var.action) {
                let (field, value) = match problem {
                    rules::EnvProblem::Name | rules::EnvProblem::Refused => {
                        (format!("paks.env[{i}].name"), &var.name)
                    }
                    _ => (format!("paks.env[{i}].value"), &var.value),
                };
                return bad(field, value, problem.reason());
            }
        }
        let paths = [
            ("relocation.text", &self.relocation.text),
            ("relocation.binary", &self.relocation.binary),
            ("contents", &self.contents),
        ];
        for (key, list) in paths {
            for (i, path) in list.iter().enumerate() {
                let reason = match rules::relative_path(path) {
                    Err(problem) => problem.reason(),
                    Ok(normal) if normal.as_os_str() != path.as_str() => {
                        "the path is not normalised (`.`, `//` or a trailing `/`)"
                    }
                    Ok(_) => continue,
                };
                return bad(format!("paks.{key}[{i}]"), path, reason.into());
            }
        }
        let n = &self.needs;
        for (key, value) in [
            ("glibc", &n.glibc),
            ("glibcxx", &n.glibcxx),
            ("isa_level", &n.isa_level),
            ("isa_source", &n.isa_source),
            ("mpi", &n.mpi),
            ("gpu", &n.gpu),
        ] {
            let Some(value) = value else { continue };
            let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
            if value.is_empty() || value.len() > MAX_NEEDS_LEN || !value.chars().all(word) {
                return bad(
                    format!("paks.needs.{key}"),
                    value,
                    "expected a short word of letters, digits, `.`, `-`, `_` and `:`".into(),
                );
            }
        }
        Ok(())
    }
}

/// `value` for an error message: control characters escaped, at most 200 characters.
fn shown(value: &str) -> String {
    const MAX: usize = 200;
    let short: String = value.chars().take(MAX).collect();
    let mut out = rules::escape_controls(&short).into_owned();
    if value.chars().count() > MAX {
        out.push('…');
    }
    out
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

    fn meta() -> PackageMeta {
        let name = PackageName::new("hello").unwrap();
        let version = Version::parse("1.0.0").unwrap();
        PackageMeta {
            schema: META_SCHEMA,
            id: PackageId::new(id_hash(b"x"), name.clone(), version.clone()).unwrap(),
            name,
            version,
            platform: Platform::host(),
            summary: Some("Says hello".into()),
            license: Some("MIT".into()),
            homepage: Some("https://example.org".into()),
            dependencies: vec![],
            env: vec![EnvVar {
                name: "PATH".into(),
                value: "{prefix}/sbin".into(),
                action: EnvAction::Prepend,
            }],
            relocation: Relocation {
                text: vec!["bin/hello".into()],
                binary: vec![],
            },
            files: 3,
            size: 10,
            contents: vec!["bin/hello".into()],
            needs: PackageNeeds {
                glibc: Some("2.34".into()),
                ..PackageNeeds::default()
            },
        }
    }

    #[test]
    fn validate_names_the_field_and_shows_the_value_escaped() {
        type Break = fn(&mut PackageMeta);
        meta().validate().unwrap();
        let cases: [(Break, &str); 6] = [
            (
                |m| m.env[0].name = "X;id".into(),
                "`paks.env[0].name` is `X;id`",
            ),
            (
                |m| m.env[0].value = "a\nb".into(),
                "`paks.env[0].value` is `a\\nb`",
            ),
            (
                |m| m.summary = Some("\u{1b}[2J".into()),
                "`paks.summary` is `\\u{1b}[2J`",
            ),
            (
                |m| m.homepage = Some("javascript:x".into()),
                "`paks.homepage`",
            ),
            (|m| m.contents[0] = "./bin//x".into(), "`paks.contents[0]`"),
            (|m| m.needs.gpu = Some("cuda;id".into()), "`paks.needs.gpu`"),
        ];
        for (break_it, expected) in cases {
            let mut m = meta();
            break_it(&mut m);
            let err = m.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.chars().any(char::is_control), "{err:?}");
        }
    }

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
