//! Debian binary packages: deb822 control data ([`deb822`]), its typed fields
//! ([`control`], [`relation`]), and `.deb` files ([`package`], over [`ar`]).
//!
//! Versions are [`paks_types::DebianVersion`]: kept verbatim, ordered as dpkg orders.

pub mod ar;
pub mod control;
pub mod deb822;
pub mod package;
pub mod relation;

pub use control::{BinaryControl, Description, SourceRef};
pub use deb822::{Paragraph, parse_paragraphs};
pub use package::{Compression, DebControl, DebReader, Limits};
pub use relation::{Alternatives, Relation, VersionOp};
