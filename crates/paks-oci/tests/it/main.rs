//! Integration tests: everything against real servers on 127.0.0.1 that the tests start
//! and stop themselves. `docker-registry`, `skopeo`, `umoci` and `htpasswd` must be
//! installed; a missing one fails the tests.

mod support;

mod auth;
mod credentials;
mod distribution;
mod faults;
mod liars;
mod skopeo;
