//! Package archives: deterministic layers and `.pak` files (write), and extraction that
//! treats every archive as hostile (read).
//!
//! - [`write_layer`] turns a directory into a reproducible tar layer rooted at a prefix
//!   (`opt/paks/store/<id>`), compressed with [`Compression`], and says what it wrote in a
//!   [`LayerInfo`].
//! - [`extract_layer`] unpacks such a layer, from any source, into an empty directory,
//!   refusing anything that could write outside it (see its docs for the rules), within
//!   [`Limits`].
//! - [`write_pak`] and [`PakReader`] write and read a `.pak`: one package build as an OCI
//!   image layout in a tar, which `skopeo copy oci-archive:…` understands.
//! - [`rootfs::write_layer_from_tar`] rewrites a foreign package's data tar into a
//!   deterministic layer rooted at `/` (absolute symlinks and setuid bits kept).
//! - [`rootfs_extract::extract_rootfs_layer`] unpacks image layers, one after another,
//!   into the root of a tree (a sysroot), resolving symlinks inside it and applying
//!   whiteouts.

mod decode;
mod dirfd;
mod entries;
mod error;
mod extract;
mod layer;
pub mod pak;
mod path;
mod pax_size;
mod pipe;
pub mod rootfs;
pub mod rootfs_extract;

pub use decode::{Decoder, decompress};
pub use error::ArchiveError;
pub use extract::{ExtractStats, Limits, RATIO_FLOOR, extract_layer, extract_layer_verified};
pub use layer::{
    Compression, Encoder, LayerInfo, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_LAYER_ZSTD, write_layer,
};
pub use layer::{
    append_dir as tar_append_dir, append_symlink as tar_append_symlink, header as tar_header,
};
pub use pak::{PakInfo, PakReader, package_annotations, write_pak};
