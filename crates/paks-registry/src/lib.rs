//! The embedded OCI registry behind `paks serve`.
//!
//! - [`names`]: the distribution spec's grammar for repository names, tags and references.
//! - [`storage`]: the [`Storage`](storage::Storage) trait and its filesystem implementation.
//! - [`gc`]: mark-and-sweep garbage collection and `scrub`, written against the trait.
//! - [`extension`]: what `paks serve` adds (the catalogue, images composed on pull) without
//!   the registry knowing it.
//! - [`replica`]: what replicas over one bucket share (the token key).

pub mod api;
pub mod auth;
pub mod extension;
pub mod gc;
mod idle;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod names;
pub mod replica;
pub mod server;
pub mod storage;
pub mod tls;
