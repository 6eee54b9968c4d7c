//! The distribution spec v1.1, behaviour by behaviour, against an in-process server on
//! 127.0.0.1. Each test quotes the part of the spec it checks.

mod support;

mod auth;
mod conditional;
mod content_discovery;
mod content_management;
mod pull;
mod push;
mod service;
