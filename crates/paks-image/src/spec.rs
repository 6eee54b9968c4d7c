//! What an image is made of: `image.toml`, or the same fields from command-line flags.
//!
//! ```toml
//! from = "127.0.0.1:5000/base/debian:12"   # a registry image, or "scratch" (the default)
//! packages = ["hello", "zlib@^1.3", "127.0.0.1:5000/acme/python:3.12"]
//! tag = "127.0.0.1:5000/acme/app:1"
//! platforms = ["linux/amd64", "linux/arm64"]
//! entrypoint = ["hello"]
//! cmd = ["world"]
//! workdir = "/work"
//! user = "1000:1000"
//! layer-budget = 100
//! compression = "gzip"
//!
//! [env]
//! OMP_NUM_THREADS = "4"
//!
//! [labels]
//! team = "hpc"
//!
//! [accounts]                 # images with rootfs packages: /etc/passwd, /etc/group
//! run-as = "app"             # the image's `User` (a username or uid)
//! [[accounts.users]]
//! username = "app"
//! uid = 1000
//! gid = 1000                 # the uid when absent
//! shell = "/bin/sh"          # the default
//! home = "/home/app"         # the default: /home/USERNAME
//! [[accounts.groups]]
//! groupname = "app"
//! gid = 1000
//! members = ["app"]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use paks_types::Platform;
use serde::Deserialize;

use crate::ImageError;

/// The most layers an image may have by default. Runtimes refuse more than 127 (overlayfs'
/// lower-directory limit in practice); 100 leaves room for images built on top.
pub const DEFAULT_LAYER_BUDGET: usize = 100;

/// The layer count above which runtimes refuse an image.
pub const MAX_LAYERS: usize = 127;

/// How composed layers are compressed: a package layer stored another way is recompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerCompression {
    /// What every runtime reads (the default).
    #[default]
    Gzip,
    /// Smaller and faster; needs containerd 1.5+, podman 3+, Docker 23+.
    Zstd,
}

impl LayerCompression {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Gzip => paks_archive::MEDIA_TYPE_LAYER_GZIP,
            Self::Zstd => paks_archive::MEDIA_TYPE_LAYER_ZSTD,
        }
    }

    /// The compressor settings: gzip 6 (as `gzip` and Docker), zstd 3.
    pub fn archive(self) -> paks_archive::Compression {
        match self {
            Self::Gzip => paks_archive::Compression::default(),
            Self::Zstd => paks_archive::Compression::Zstd { level: 3 },
        }
    }

    /// The compression of a layer media type, `None` for plain tar or others.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match paks_archive::Compression::from_layer_media_type(media_type)? {
            paks_archive::Compression::Gzip { .. } => Some(Self::Gzip),
            paks_archive::Compression::Zstd { .. } => Some(Self::Zstd),
            paks_archive::Compression::None => None,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "gzip" => Some(Self::Gzip),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// An image to compose.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageSpec {
    /// The base image (`registry/name:tag` or `@digest`); `None` or `"scratch"` for none.
    #[serde(default)]
    pub from: Option<String>,
    /// Packages: `NAME`, `NAME@REQ` (from the configured repositories) or a registry
    /// reference (`registry/ns/name:version`).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Where to push the image (`registry/name:tag`), when no other output is named.
    #[serde(default)]
    pub tag: Option<String>,
    /// One platform (the host's when empty) gives an image; several give an index.
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Set last: they win over the base's and the packages' values.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default = "default_budget")]
    pub layer_budget: usize,
    #[serde(default)]
    pub compression: LayerCompression,
    /// Users and groups of the system layer (images with rootfs packages).
    #[serde(default)]
    pub accounts: Accounts,
}

/// `[accounts]`: the users and groups written to `/etc/passwd` and `/etc/group` (root,
/// uid and gid 0, is always there), apko style.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Accounts {
    /// The user the image runs as (its config's `User`): a username or a uid.
    #[serde(default)]
    pub run_as: Option<String>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// One `[[accounts.users]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub uid: u32,
    /// The primary group; the uid when absent. A gid no group has gets a group named
    /// after the user.
    #[serde(default)]
    pub gid: Option<u32>,
    /// `/bin/sh` when absent.
    #[serde(default)]
    pub shell: Option<String>,
    /// `/home/USERNAME` when absent; made, owned by the user.
    #[serde(default)]
    pub home: Option<String>,
}

/// One `[[accounts.groups]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub groupname: String,
    pub gid: u32,
    #[serde(default)]
    pub members: Vec<String>,
}

impl Accounts {
    /// Whether nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.run_as.is_none() && self.users.is_empty() && self.groups.is_empty()
    }
}

fn default_budget() -> usize {
    DEFAULT_LAYER_BUDGET
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self {
            from: None,
            packages: Vec::new(),
            tag: None,
            platforms: Vec::new(),
            entrypoint: None,
            cmd: None,
            workdir: None,
            user: None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            layer_budget: DEFAULT_LAYER_BUDGET,
            compression: LayerCompression::Gzip,
            accounts: Accounts::default(),
        }
    }
}

impl ImageSpec {
    /// Read and check an `image.toml`.
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        let text = fs_err::read_to_string(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and check `image.toml` text; `origin` names it in errors. The package list
    /// may be empty here: `paks image build -f image.toml PKGS` and `paks sysroot create`
    /// add packages from the command line, and [`ImageSpec::check`] runs on the result.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ImageError> {
        let spec: Self = toml::from_str(text).map_err(|e| ImageError::Spec {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        spec.check_fields(origin)?;
        Ok(spec)
    }

    /// The base image's reference, `None` for `scratch`.
    pub fn base(&self) -> Option<&str> {
        self.from.as_deref().filter(|f| *f != "scratch")
    }

    /// The platforms to compose for: the host's when none are named.
    pub fn platforms(&self) -> Vec<Platform> {
        if self.platforms.is_empty() {
            vec![Platform::host()]
        } else {
            self.platforms.clone()
        }
    }

    /// Refuse what cannot make a valid image: no packages, or a field [`check_fields`]
    /// refuses.
    ///
    /// [`check_fields`]: ImageSpec::check_fields
    pub fn check(&self, origin: &str) -> Result<(), ImageError> {
        if self.packages.is_empty() {
            return Err(ImageError::Spec {
                origin: origin.to_owned(),
                reason: "no packages: name at least one".into(),
            });
        }
        self.check_fields(origin)
    }

    /// Refuse fields that cannot make a valid image, whatever the packages.
    pub fn check_fields(&self, origin: &str) -> Result<(), ImageError> {
        let bad = |reason: String| {
            Err(ImageError::Spec {
                origin: origin.to_owned(),
                reason,
            })
        };
        if self.layer_budget < 2 || self.layer_budget > MAX_LAYERS {
            return bad(format!(
                "`layer-budget` is {}; it must be 2 to {MAX_LAYERS} (runtimes refuse more)",
                self.layer_budget
            ));
        }
        for name in self.env.keys() {
            // The rule packages follow: the name reaches `paks containerize`'s Dockerfile
            // and shells, where a name cannot be quoted.
            if !paks_types::rules::is_env_name(name) {
                return bad(format!("`{name}` is not an environment variable name"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.platforms {
            if !seen.insert(p) {
                return bad(format!("platform `{p}` is named twice"));
            }
        }
        if let Err(reason) = crate::system::check_accounts(&self.accounts) {
            return bad(reason);
        }
        if self.user.is_some() && self.accounts.run_as.is_some() {
            return bad("both `user` and `accounts.run-as` name the user: keep one".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field() {
        let spec = ImageSpec::parse(
            r#"
from = "127.0.0.1:5000/base/busybox:1"
packages = ["hello", "zlib@^1.3"]
tag = "127.0.0.1:5000/acme/app:1"
platforms = ["linux/amd64", "linux/arm64"]
entrypoint = ["hello"]
cmd = ["world"]
workdir = "/work"
user = "1000"
layer-budget = 50
compression = "zstd"
[env]
A = "1"
[labels]
team = "hpc"
"#,
            "image.toml",
        )
        .unwrap();
        assert_eq!(spec.base(), Some("127.0.0.1:5000/base/busybox:1"));
        assert_eq!(spec.packages, ["hello", "zlib@^1.3"]);
        assert_eq!(spec.platforms().len(), 2);
        assert_eq!(spec.layer_budget, 50);
        assert_eq!(spec.compression, LayerCompression::Zstd);
        assert_eq!(spec.env["A"], "1");
        assert_eq!(spec.labels["team"], "hpc");
    }

    #[test]
    fn scratch_is_no_base_and_defaults_apply() {
        let spec = ImageSpec::parse("from = \"scratch\"\npackages = [\"a\"]", "x").unwrap();
        assert_eq!(spec.base(), None);
        assert_eq!(spec.layer_budget, DEFAULT_LAYER_BUDGET);
        assert_eq!(spec.compression, LayerCompression::Gzip);
        assert_eq!(spec.platforms(), [Platform::host()]);
    }

    #[test]
    fn a_spec_may_leave_the_packages_to_the_command_line() {
        let spec =
            ImageSpec::parse("from = \"scratch\"\n[accounts]\nrun-as = \"root\"", "x").unwrap();
        assert!(spec.packages.is_empty());
        let err = spec.check("x").unwrap_err().to_string();
        assert!(err.contains("no packages"), "{err}");
    }

    #[test]
    fn refuses_bad_specs_with_the_reason() {
        for (text, said) in [
            ("packages = [\"a\"]\nlayer-budget = 200", "must be 2 to 127"),
            ("packages = [\"a\"]\nfrm = \"x\"", "unknown field"),
            (
                "packages = [\"a\"]\n[env]\n\"A=B\" = \"1\"",
                "not an environment variable",
            ),
            (
                "packages = [\"a\"]\nplatforms = [\"linux/amd64\", \"linux/amd64\"]",
                "named twice",
            ),
            (
                "packages = [\"a\"]\nplatforms = [\"amd64\"]",
                "os/architecture",
            ),
        ] {
            let e = ImageSpec::parse(text, "image.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(said), "{text}: {e}");
            assert!(e.contains("image.toml"), "{e}");
        }
    }
}
