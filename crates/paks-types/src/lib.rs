//! The vocabulary every paks crate shares.
//!
//! Types here are plain data with validation on construction: a [`PackageName`] or a
//! [`PackageId`] that exists is well-formed, so the crates above never re-check them.

/// Serialize and deserialize a type as its `Display` / `FromStr` string, so that JSON
/// holds `"sha256:…"`, `"linux/amd64"`, and invalid values fail to parse.
#[macro_export]
#[doc(hidden)]
macro_rules! serde_via_str {
    ($t:ty) => {
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub mod apkversion;
pub mod debversion;
mod digest;
pub mod distribution;
pub mod fs;
pub mod growing;
mod id;
pub mod loose;
mod meta;
mod name;
mod platform;
mod report;
pub mod rules;
pub mod semver_form;
pub mod similarity;
pub mod temp;

pub use apkversion::{AlpineVersion, AlpineVersionError};
pub use debversion::{DebianVersion, DebianVersionError};
pub use digest::{
    Digest, DigestAlgorithm, HashingReader, HashingWriter, Sha256Hasher, VerifyingReader,
};
pub use id::{PackageId, id_hash};
pub use loose::LooseVersion;
pub use meta::{
    Alternative, ConfigRootfs, EnvAction, EnvVar, ForeignFormat, IMAGE_PACKAGES_KEY, ImageConfig,
    Library, META_SCHEMA, Origin, PackageDep, PackageKind, PackageMeta, PackageNeeds, Relocation,
};
pub use name::PackageName;
pub use platform::Platform;
pub use report::{NoReporter, Reporter};
pub use semver::{Version, VersionReq};

/// An error and its causes on one line, joined by `: ` (for reports that list many
/// failures, where the CLI's `Caused by:` lines do not fit).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The root every package is built for. Installing there needs no relocation at all, so
/// package layers can go into container images unchanged.
pub const CANONICAL_ROOT: &str = "/opt/paks";

/// The store directory under [`CANONICAL_ROOT`], as it appears inside package layers.
pub const CANONICAL_STORE: &str = "/opt/paks/store";

/// Errors from parsing the shared vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error("invalid package name `{value}`: {reason}")]
    Name { value: String, reason: &'static str },
    #[error("invalid package id `{value}`: {reason}")]
    Id { value: String, reason: &'static str },
    #[error("invalid digest `{value}`: {reason}")]
    Digest { value: String, reason: &'static str },
    #[error("invalid platform `{value}`: {reason}")]
    Platform { value: String, reason: &'static str },
    /// A field of package metadata that breaks [`rules`]. `value` is shown escaped, so a
    /// hostile value cannot reach the terminal raw.
    #[error("invalid package metadata: `{field}` is `{value}`: {reason}")]
    Meta {
        field: String,
        value: String,
        reason: String,
    },
}
