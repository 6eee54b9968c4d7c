//! The embedded OCI registry behind `paks serve`.
//!
//! - [`names`]: the distribution spec's grammar for repository names, tags and references.
//! - [`storage`]: the [`Storage`](storage::Storage) trait and its filesystem implementation.
//! - [`gc`]: mark-and-sweep garbage collection and `scrub`, written against the trait.

pub mod api;
pub mod auth;
pub mod gc;
mod idle;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod names;
pub mod server;
pub mod storage;
pub mod tls;
