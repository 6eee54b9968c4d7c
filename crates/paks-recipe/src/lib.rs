//! The `paks.toml` recipe format: parse with spans, validate, and report errors that name
//! the file, line, column and field.
//!
//! A [`Recipe`] returned by this crate is valid: names, versions, requirements, digests,
//! commits, paths and environment variables have all been checked, so the build crate
//! does not check them again. What can only be checked against the file system or the network
//! (that a `path` source exists, that a download matches its `sha256`) is left to it.
//!
//! The format is documented for users in `docs/recipe-format.md`.

mod check;
mod error;
mod parse;
mod spanned;
mod update;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use paks_types::{Digest, EnvVar, PackageName, Platform, Version, VersionReq};

pub use check::suggest;
pub use error::{InvalidRecipe, RecipeError};
pub use update::{Strategy, UpdateSpec};

/// The file name of a recipe in its directory.
pub const RECIPE_FILE: &str = "paks.toml";

pub use paks_types::rules::SEARCH_PATH_VARS;

/// A validated `paks.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// `[package]`: REQUIRED.
    pub package: Package,
    /// `[[source]]`: OPTIONAL, in file order, each unpacked or copied into the build
    /// directory in turn.
    pub sources: Vec<Source>,
    /// `[dependencies]`: run dependencies, also available at build time.
    pub dependencies: BTreeMap<PackageName, VersionReq>,
    /// `[build-dependencies]`: available at build time only. Never shares a name with
    /// [`Recipe::dependencies`].
    pub build_dependencies: BTreeMap<PackageName, VersionReq>,
    /// `build.script`: REQUIRED, not blank; run by `/bin/sh -eu` in the build directory.
    pub build_script: String,
    /// `test.script`: OPTIONAL; run after the build with the package on `PATH`.
    pub test_script: Option<String>,
    /// `[env]`: exported when the package is activated, in file order. Values may contain
    /// `{prefix}`, the installed prefix.
    pub env: Vec<EnvVar>,
    /// `[update]`: OPTIONAL. Where new upstream versions are found (`paks-update`).
    pub update: Option<UpdateSpec>,
}

/// `[package]`: what is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// REQUIRED.
    pub name: PackageName,
    /// REQUIRED. Semver.
    pub version: Version,
    /// OPTIONAL. One line for listings.
    pub summary: Option<String>,
    /// OPTIONAL. An SPDX license expression, kept as written.
    pub license: Option<String>,
    /// OPTIONAL. An `http` or `https` URL.
    pub homepage: Option<String>,
    /// OPTIONAL. The platforms the package builds for; empty means any.
    pub platforms: Vec<Platform>,
}

/// `[[source]]`: one input of the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    /// Where under the build directory the source goes: relative, normalised, without
    /// `..`; `.` by default.
    pub dest: PathBuf,
}

/// Where a source comes from, and what pins its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A file or directory beside the recipe.
    Path {
        /// Relative to the recipe's directory, normalised, without `..`.
        path: PathBuf,
        /// OPTIONAL. Only meaningful for a file; the build refuses it on a directory.
        sha256: Option<Digest>,
    },
    /// A download.
    Url {
        /// An `http`, `https` or `file` URL.
        url: String,
        /// REQUIRED. The digest of the downloaded file.
        sha256: Digest,
        /// Leading path components to strip when unpacking an archive; 1 by default.
        strip: u32,
        /// Whether to unpack an archive (`true` by default) or keep the file as it is.
        extract: bool,
        /// OPTIONAL. The size of the download in bytes: a longer download is cut off
        /// there (without it, the builder's default limit applies).
        size: Option<u64>,
    },
    /// A git checkout.
    Git {
        /// Any URL git can fetch: `https`, `http`, `ssh`, `git` or `file`.
        url: String,
        /// REQUIRED. The full object id, 40 (SHA-1) or 64 (SHA-256) lower-case hex
        /// digits.
        commit: String,
    },
}

impl Recipe {
    /// Reads and validates the recipe at `path`, which must be a regular file: a symbolic
    /// link is refused without being followed (`O_NOFOLLOW`), so that a recipe directory
    /// from elsewhere (a cloned repository) cannot make paks read, and quote in an error,
    /// another file such as `/etc/shadow`.
    pub fn from_file(path: &Path) -> Result<Self, RecipeError> {
        use std::io::Read as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        // Causes name the file as `fs-err` does.
        let read_err = |what: &str, e: std::io::Error| RecipeError::Read {
            path: path.to_owned(),
            source: std::io::Error::new(
                e.kind(),
                format!("failed to {what} file `{}`: {e}", path.display()),
            ),
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                    RecipeError::Symlink {
                        path: path.to_owned(),
                    }
                } else {
                    read_err("open", e)
                }
            })?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| read_err("read from", e))?;
        Self::from_str(&text, path)
    }

    /// Validates the recipe `text`; `file` only names it in errors.
    pub fn from_str(text: &str, file: &Path) -> Result<Self, RecipeError> {
        parse::recipe(text, file)
    }

    /// Whether the recipe builds for `platform`: it lists no platforms, or one that
    /// [runs on](Platform::runs_on) `platform`.
    pub fn supports(&self, platform: &Platform) -> bool {
        self.package.platforms.is_empty()
            || self.package.platforms.iter().any(|p| p.runs_on(platform))
    }
}
