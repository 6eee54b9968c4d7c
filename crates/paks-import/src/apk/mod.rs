//! Alpine packages (`.apk`, format v2) and repository indexes (`APKINDEX.tar.gz`).
//!
//! An `.apk` is three gzip streams, concatenated:
//! 1. optionally, a **signature stream**: a tar (without end-of-archive blocks) of
//!    `.SIGN.RSA.<keyname>` (RSA PKCS#1 v1.5 over sha1) or `.SIGN.RSA256.<keyname>` (over
//!    sha256) files, each signing the control stream's *compressed* bytes;
//! 2. the **control stream**: a tar (also cut) of `.PKGINFO` and maintainer scripts;
//!    `.PKGINFO`'s `datahash` is the sha256 of the data stream's compressed bytes;
//! 3. the **data stream**: a tar of the files, each with a PAX record
//!    `APK-TOOLS.checksum.SHA1`.
//!
//! [`ApkPackage::open`] reads and checks 1 and 2, verifies `datahash` over 3, then hands
//! the data tar to the caller ([`ApkPackage::into_data`]) untouched: its entries are
//! untrusted and go to a hardened extractor. An `APKINDEX.tar.gz` is a signature stream
//! and a gzip'd tar of `DESCRIPTION` and `APKINDEX` ([`ApkIndex::read`]); its `C:` lines
//! name each package's control stream ([`IndexEntry::check_package`]).
//!
//! Every size read from input is bounded ([`Limits`]).

mod convert;
mod depend;
mod error;
mod index;
mod keys;
mod package;
mod pkginfo;
mod signature;
mod streams;

pub use convert::{APK_FORMAT_TAG, ApkTrust, convert_apk, platform_of};
pub use depend::{Dependency, VersionOp};
pub use error::ApkError;
pub use index::{ApkIndex, IndexEntry, parse_apkindex};
pub use keys::Keyring;
pub use package::{ApkPackage, DataReader, Limits, Script, ScriptKind};
/// Alpine versions and apk's order of them live in `paks-types`, for whatever compares them.
pub use paks_types::AlpineVersion;
pub use pkginfo::PkgInfo;
pub use signature::{SignatureAlgorithm, SignatureStatus};
pub use streams::StreamDigests;
