//! Foreign packages read into paks: Debian `.deb` files (their control data, versions and
//! data tarball) and Alpine `.apk` files and `APKINDEX.tar.gz` indexes (signatures and
//! digests checked); and imported as paks rootfs packages ([`convert`]).
//!
//! Everything here reads hostile input: sizes are bounded, everything the format lets one
//! check (digests, signatures) is checked before the payload reaches the caller, and every
//! refusal names the member or field and the value (see [`ImportError`] and
//! [`apk::ApkError`]).

mod error;

pub mod apk;
pub mod convert;
pub mod deb;

pub use error::ImportError;
