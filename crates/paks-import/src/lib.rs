//! Foreign packages read into paks: Debian `.deb` files (this round: their control data,
//! versions and data tarball), Alpine `.apk` files; later, imported as rootfs packages.
//!
//! Everything here reads hostile input: sizes are bounded, and every refusal names the
//! member or field and the value (see [`ImportError`]).

mod error;

pub mod deb;

pub use error::ImportError;
