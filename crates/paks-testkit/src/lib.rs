//! Test harnesses shared by the crates' integration tests: real registries (Debian's
//! `docker-registry`, `paks serve`), skopeo, umoci, podman, and a runnable busybox image.
//!
//! Everything here binds or talks to `127.0.0.1` only, cleans up when dropped, and fails
//! loudly: a missing tool or a failed command panics with the tool's stderr, never skips
//! (`scripts/deps` installs the Debian packages).

mod busybox;
mod docker_registry;
mod garage;
mod hostile_server;
mod http_server;
mod layered;
mod multi_arch;
mod paks_serve;
mod podman;
pub mod raw_http;
mod sbom_validators;
mod upstream;

use std::ffi::OsStr;
use std::process::{Command, Output};

pub use busybox::{busybox_glibc_layout, busybox_glibc_layout_with, busybox_layout};
pub use docker_registry::{DockerRegistry, RegistryAuth};
pub use garage::{GARAGE_BUCKET, GARAGE_VERSION, Garage, GarageNode, garage_binary};
pub use hostile_server::{HostileRequest, HostileServer, trickle, write_head};
pub use http_server::HttpServer;
pub use layered::layered_layout;
pub use multi_arch::multi_arch_layout;
pub use paks_serve::PaksServe;
pub use podman::{Podman, unmount_below};
pub use sbom_validators::{assert_valid_cyclonedx, assert_valid_spdx};
pub use upstream::{Upstream, UpstreamRelease};

/// A free TCP port on 127.0.0.1 (bound, then released for a child process to take: a
/// race that callers retry on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

/// Run `skopeo --insecure-policy ARGS` (tests do not depend on the host's
/// `policy.json`); returns its stdout, panics with its stderr if it fails.
pub fn skopeo<S: AsRef<OsStr>>(args: &[S]) -> String {
    text(&run_ok(Command::new("skopeo").arg("--insecure-policy").args(args)).stdout)
}

/// Run `umoci ARGS`; returns its stdout, panics with its stderr if it fails.
pub fn umoci<S: AsRef<OsStr>>(args: &[S]) -> String {
    text(&run_ok(Command::new("umoci").args(args)).stdout)
}

/// Run `command` to completion; panics if it cannot start (naming the program, which is
/// most likely not installed).
pub fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    command.output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}): is it installed? `scripts/deps` installs it")
    })
}

/// Run `command` and require success; panics with its stderr otherwise.
pub fn run_ok(command: &mut Command) -> Output {
    let out = run(command);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}",
        describe(command),
        out.status,
        text(&out.stderr)
    );
    out
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `program arg arg...`, for messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
