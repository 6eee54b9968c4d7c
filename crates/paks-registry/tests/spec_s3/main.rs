//! The distribution spec suite (`tests/spec/`) again, every scenario on the S3 backend:
//! one real Garage cluster (3 nodes on 127.0.0.1) for the binary, a key prefix per server.
//! The scenarios are the spec suite's own files, not copies.

#[path = "../spec/support.rs"]
mod support;

/// These scenarios run on `S3Storage` over Garage.
const BACKEND: support::Backend = support::Backend::Garage;

#[path = "../spec/auth.rs"]
mod auth;
#[path = "../spec/conditional.rs"]
mod conditional;
#[path = "../spec/content_discovery.rs"]
mod content_discovery;
#[path = "../spec/content_management.rs"]
mod content_management;
#[path = "../spec/pull.rs"]
mod pull;
#[path = "../spec/push.rs"]
mod push;
#[path = "../spec/service.rs"]
mod service;
