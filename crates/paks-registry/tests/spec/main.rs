//! The distribution spec v1.1, behaviour by behaviour, against an in-process server on
//! 127.0.0.1. Each test quotes the part of the spec it checks.

mod support;

/// These scenarios run on the filesystem backend (`tests/spec_s3` runs them on S3).
const BACKEND: support::Backend = support::Backend::Dir;

mod auth;
mod conditional;
mod content_discovery;
mod content_management;
mod pull;
mod push;
mod service;
