//! paks-inspect against real ELF files (compiled here with gcc, and Debian's own), layers
//! built in memory, OCI layouts, docker archives and a real registry.

mod binaries;
mod images;
mod registry;
mod support;
mod verdicts;
