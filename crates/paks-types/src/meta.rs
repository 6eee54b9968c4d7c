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
    /// What the layer holds: a store prefix (built by paks) or a distribution's files
    /// rooted at `/` (imported). Absent in configs of store packages.
    #[serde(default, skip_serializing_if = "PackageKind::is_store")]
    pub kind: PackageKind,
    /// Where an imported package came from, and what its distribution's data says that
    /// paks' own fields cannot hold. Present exactly when `kind` is `rootfs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The recipe's test script (`sh -eu -c`), which `paks test` runs against the installed
    /// build. Absent when the recipe has none (and in configs from before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
}

/// What a package's layer holds, and so where it can go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// Built by paks from a recipe: the layer holds `opt/paks/store/<id>/`, installable
    /// into any store and relocatable.
    #[default]
    Store,
    /// Imported from a distribution (`.deb`, `.apk`): the layer is rooted at `/` as the
    /// distribution laid it out (`usr/bin/python3`). It goes into images and sysroots as
    /// is, never into a store.
    Rootfs,
}

impl PackageKind {
    pub fn is_store(&self) -> bool {
        *self == Self::Store
    }

    /// `store` or `rootfs`, as shown and serialised.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Rootfs => "rootfs",
        }
    }
}

impl std::fmt::Display for PackageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The package format an imported package was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForeignFormat {
    /// A Debian binary package (`.deb`).
    Deb,
    /// An Alpine package (`.apk`, format v2).
    Apk,
}

impl ForeignFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Apk => "apk",
        }
    }
}

/// An imported package's origin: its distribution's facts, kept verbatim where paks has no
/// field of its own for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub format: ForeignFormat,
    /// The distribution's version text, verbatim (`1:2.36-9+deb12u4`, `3.3.1-r0`): what
    /// paks shows. `PackageMeta::version` is its order-preserving semver form.
    pub version: String,
    /// The distribution's architecture name (`amd64`, `all`, `x86_64`, `noarch`).
    pub architecture: String,
    /// The source package (Debian `Source`, Alpine `origin`), when named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The source package's version, when it differs from the binary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    /// The sha256 of the original `.deb` or `.apk` file, every byte of it.
    pub file_digest: Digest,
    /// Relation fields as the control data states them, keyed by lower-case field name
    /// (`depends`, `pre-depends`, `recommends`, `provides`, `conflicts`, `breaks`,
    /// `replaces`; Alpine's `depend`, `provides`, `replaces`, `install_if`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub relations: BTreeMap<String, String>,
    /// The maintainer scripts the package has (`postinst`, `.post-install`); paks runs
    /// none of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts_not_run: Vec<String>,
    /// Configuration files (Debian's `conffiles`), relative to `/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conffiles: Vec<String>,
    /// `update-alternatives` links the package's scripts declare.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
    /// Shared libraries in the layer, for the loader's cache (`/etc/ld.so.cache`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<Library>,
    /// Paths whose setuid or setgid bit was dropped because its owner was not root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_setid: Vec<String>,
}

/// One `update-alternatives --install LINK NAME PATH PRIORITY` a package declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    /// The alternative's name (`awk`).
    pub name: String,
    /// The generic link, relative to `/` (`usr/bin/awk`).
    pub link: String,
    /// The file it points to, relative to `/` (`usr/bin/mawk`).
    pub path: String,
    /// Higher wins.
    pub priority: i64,
}

/// A shared library the loader can find: one entry of `/etc/ld.so.cache`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    /// Its `DT_SONAME` (or file name when it has none), the cache's key.
    pub soname: String,
    /// The file, relative to `/` (`usr/lib/x86_64-linux-gnu/libssl.so.3`).
    pub path: String,
    /// The cache's flags for it (`FLAG_ELF_LIBC6 | FLAG_X8664_LIB64` = 0x0303 on x86-64).
    pub flags: u32,
}

/// The longest value a `needs` field may hold, in bytes (they are short words: `2.34`).
const MAX_NEEDS_LEN: usize = 64;

impl PackageMeta {
    /// The version to show people: an imported package's verbatim distribution version
    /// (`1:2.36-9+deb12u4`), else the semver version.
    pub fn shown_version(&self) -> String {
        match &self.origin {
            Some(o) => o.version.clone(),
            None => self.version.to_string(),
        }
    }

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
        if let Some(script) = &self.test
            && let Some(reason) = rules::script_problem(script)
        {
            return bad("paks.test".into(), script, reason.into());
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
        if let Some(origin) = &self.origin {
            origin.validate()?;
        }
        if (self.kind == PackageKind::Rootfs) != self.origin.is_some() {
            let kind = self.kind.as_str();
            return bad(
                "paks.origin".into(),
                kind,
                "rootfs packages, and only they, have an origin".into(),
            );
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

/// The longest relation field an origin may hold, in bytes: real ones pass 1024 (perl's
/// `Breaks` in Debian 12 lists over a hundred packages).
const MAX_RELATION_LEN: usize = 64 * 1024;

impl Origin {
    /// The same rules as the rest of the metadata: one-line texts, normalised relative
    /// paths, short words.
    pub fn validate(&self) -> Result<(), TypeError> {
        let bad = |field: String, value: &str, reason: &str| {
            Err(TypeError::Meta {
                field,
                value: shown(value),
                reason: reason.into(),
            })
        };
        let texts = [
            ("version", Some(&self.version)),
            ("architecture", Some(&self.architecture)),
            ("source", self.source.as_ref()),
            ("source_version", self.source_version.as_ref()),
            ("maintainer", self.maintainer.as_ref()),
        ];
        for (key, value) in texts {
            let Some(value) = value else { continue };
            if let Some(reason) = rules::text_problem(value) {
                return bad(format!("paks.origin.{key}"), value, reason);
            }
        }
        for (key, value) in &self.relations {
            let value_problem = rules::long_text_problem(value, MAX_RELATION_LEN);
            if let Some(reason) = rules::text_problem(key).or(value_problem) {
                return bad(format!("paks.origin.relations.{key}"), value, reason);
            }
        }
        for (i, script) in self.scripts_not_run.iter().enumerate() {
            if let Some(reason) = rules::text_problem(script) {
                return bad(format!("paks.origin.scripts_not_run[{i}]"), script, reason);
            }
        }
        let mut paths: Vec<(String, &str)> = Vec::new();
        for (i, p) in self.conffiles.iter().enumerate() {
            paths.push((format!("conffiles[{i}]"), p));
        }
        for (i, p) in self.dropped_setid.iter().enumerate() {
            paths.push((format!("dropped_setid[{i}]"), p));
        }
        for (i, a) in self.alternatives.iter().enumerate() {
            if let Some(reason) = rules::text_problem(&a.name) {
                return bad(
                    format!("paks.origin.alternatives[{i}].name"),
                    &a.name,
                    reason,
                );
            }
            paths.push((format!("alternatives[{i}].link"), &a.link));
            paths.push((format!("alternatives[{i}].path"), &a.path));
        }
        for (i, l) in self.libraries.iter().enumerate() {
            if let Some(reason) = rules::text_problem(&l.soname) {
                return bad(
                    format!("paks.origin.libraries[{i}].soname"),
                    &l.soname,
                    reason,
                );
            }
            paths.push((format!("libraries[{i}].path"), &l.path));
        }
        for (field, path) in paths {
            let reason = match rules::relative_path(path) {
                Err(problem) => problem.reason(),
                Ok(normal) if normal.as_os_str() != path => {
                    "the path is not normalised (`.`, `//` or a trailing `/`)"
                }
                Ok(_) => continue,
            };
            return bad(format!("paks.origin.{field}"), path, reason);
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

    type Break = fn(&mut PackageMeta);

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
            kind: PackageKind::Store,
            origin: None,
            test: Some("hello | grep -q Hello\n".into()),
        }
    }

    #[test]
    fn validate_names_the_field_and_shows_the_value_escaped() {
        meta().validate().unwrap();
        let cases: [(Break, &str); 7] = [
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
            (
                |m| m.test = Some("echo \u{1b}[2J".into()),
                "`paks.test` is `echo \\u{1b}[2J`",
            ),
        ];
        for (break_it, expected) in cases {
            let mut m = meta();
            break_it(&mut m);
            let err = m.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.chars().any(char::is_control), "{err:?}");
        }
    }

    fn origin() -> Origin {
        Origin {
            format: ForeignFormat::Deb,
            version: "1:2.38.1-5+deb12u3".into(),
            architecture: "amd64".into(),
            source: Some("util-linux".into()),
            source_version: None,
            maintainer: None,
            file_digest: Digest::sha256_of(b"deb"),
            relations: BTreeMap::from([("depends".into(), "libc6 (>= 2.34)".into())]),
            scripts_not_run: vec!["postinst".into()],
            conffiles: vec![],
            alternatives: vec![Alternative {
                name: "awk".into(),
                link: "usr/bin/awk".into(),
                path: "usr/bin/mawk".into(),
                priority: 5,
            }],
            libraries: vec![Library {
                soname: "libmount.so.1".into(),
                path: "usr/lib/x86_64-linux-gnu/libmount.so.1.1.0".into(),
                flags: 0x0303,
            }],
            dropped_setid: vec![],
        }
    }

    #[test]
    fn rootfs_packages_carry_an_origin_that_passes_the_rules() {
        let mut m = meta();
        m.kind = PackageKind::Rootfs;
        m.origin = Some(origin());
        m.validate().unwrap();
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["kind"], "rootfs");
        assert_eq!(json["origin"]["format"], "deb");
        let back: PackageMeta = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
        // Real relation fields pass one-line texts' 1024 bytes (perl-modules' `Breaks`).
        let long = "libfoo-perl (<< 1.0-1), ".repeat(100);
        m.origin
            .as_mut()
            .unwrap()
            .relations
            .insert("breaks".into(), long);
        m.validate().unwrap();
        // A store package's config does not change: no `kind`, no `origin`.
        let plain = serde_json::to_value(meta()).unwrap();
        assert!(plain.get("kind").is_none() && plain.get("origin").is_none());

        let cases: [(Break, &str); 5] = [
            (|m| m.origin = None, "`paks.origin`"),
            (|m| m.kind = PackageKind::Store, "`paks.origin`"),
            (
                |m| m.origin.as_mut().unwrap().alternatives[0].link = "/usr/bin/awk".into(),
                "`paks.origin.alternatives[0].link`",
            ),
            (
                |m| m.origin.as_mut().unwrap().version = "1.0\n\u{1b}".into(),
                "`paks.origin.version`",
            ),
            (
                |m| {
                    let huge = "libfoo (<< 1), ".repeat(5000);
                    m.origin
                        .as_mut()
                        .unwrap()
                        .relations
                        .insert("breaks".into(), huge);
                },
                "`paks.origin.relations.breaks`",
            ),
        ];
        for (break_it, expected) in cases {
            let mut m = meta();
            m.kind = PackageKind::Rootfs;
            m.origin = Some(origin());
            break_it(&mut m);
            let err = m.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
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
                kind: PackageKind::Store,
                origin: None,
                test: None,
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
