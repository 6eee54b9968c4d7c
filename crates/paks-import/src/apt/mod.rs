//! Debian packages by name, through the machine's apt: which packages an empty system needs
//! to install some names ([`Apt::resolve`], apt's own choice of dependencies, alternatives
//! and virtual packages), and their `.deb` files fetched into a cache ([`Apt::download`]).
//!
//! apt is asked, never imitated: `apt-get -s` with an empty dpkg status (`/dev/null`)
//! prints the `Inst` lines of what it would unpack, in unpack order, and `apt-get download
//! --print-uris` names each file with the sha256 the signed archive lists for it. Both run
//! with `LC_ALL=C`, since their output is parsed; the parsing is strict, so a changed apt
//! fails loudly rather than importing the wrong set.

mod download;
mod request;
mod simulate;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use paks_types::Digest;

pub use download::cache_dir;
pub use request::AptRequest;
pub use simulate::parse_simulation;

/// One package apt chose: a name, a version and an architecture it can download.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AptPackage {
    /// The package name, without an architecture qualifier (`libc6`).
    pub name: String,
    /// The version, verbatim (`2.36-9+deb12u4`, `1:2.39.5-0+deb12u3`).
    pub version: String,
    /// The package's architecture (`amd64`, `all`, `i386`).
    pub architecture: String,
    /// apt named it with its architecture (`libc6:i386`): not the machine's own.
    pub foreign: bool,
}

impl AptPackage {
    /// The argument that names exactly this package to `apt-get` (`libc6=2.36-9`,
    /// `libc6:i386=2.36-9`).
    pub fn spec(&self) -> String {
        if self.foreign {
            format!("{}:{}={}", self.name, self.architecture, self.version)
        } else {
            format!("{}={}", self.name, self.version)
        }
    }
}

impl std::fmt::Display for AptPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.spec())
    }
}

/// A `.deb` in the cache, checked against the sha256 apt's archive lists for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedDeb {
    pub package: AptPackage,
    pub path: PathBuf,
    pub sha256: Digest,
    pub size: u64,
    /// It was in the cache already (and matched); nothing was downloaded.
    pub cached: bool,
}

/// The machine's apt.
#[derive(Debug, Clone)]
pub struct Apt {
    program: OsString,
}

impl Default for Apt {
    fn default() -> Self {
        Self {
            program: "apt-get".into(),
        }
    }
}

impl Apt {
    /// apt run as `program` instead of `apt-get` from `PATH`.
    pub fn with_program(program: impl Into<OsString>) -> Self {
        Self {
            program: program.into(),
        }
    }

    /// The packages to import for `requests`: with `closure`, everything an empty system
    /// needs to install them, in apt's unpack order (dependencies first); without, only
    /// the packages the requests name, at the versions apt chose.
    pub fn resolve(
        &self,
        requests: &[AptRequest],
        closure: bool,
    ) -> Result<Vec<AptPackage>, AptError> {
        let all = self.simulate(requests)?;
        if closure {
            return Ok(all);
        }
        simulate::select(requests, &all)
    }
}

/// Why apt could not resolve or fetch packages.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    /// A request that is not `name[:arch][=version|/release]`.
    #[error("`{request}` is not a package name for apt: {reason}")]
    Request { request: String, reason: String },
    /// apt could not be started.
    #[error("cannot run `{program}`")]
    Run {
        program: String,
        #[source]
        source: io::Error,
    },
    /// apt ran and refused; `reasons` is what it said (its `E:` lines).
    #[error("apt cannot {action} `{requests}`: {reasons}")]
    Refused {
        action: &'static str,
        requests: String,
        reasons: String,
    },
    /// apt printed something this reader does not understand.
    #[error("unexpected output from `apt-get {command}`: `{line}`: {reason}")]
    Output {
        command: &'static str,
        line: String,
        reason: String,
    },
    /// apt installs a request under another package's name (a virtual package), and the
    /// closure was not asked for, so there is no one package to take.
    #[error("apt installs no package named `{request}`: it is provided by another package")]
    NotSelected { request: String },
    /// A downloaded `.deb` is not the file apt's archive lists.
    #[error(
        "`{file}` has sha256 `{actual}` ({actual_size} bytes), but apt lists `{expected}` ({expected_size} bytes)"
    )]
    Digest {
        file: String,
        expected: Digest,
        expected_size: u64,
        actual: Digest,
        actual_size: u64,
    },
    /// Reading or writing the cache failed.
    #[error("failed to {what} `{path}`")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl AptError {
    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Request { .. } => Some(
                "name a Debian package as `name`, `name=version`, `name/release` or `name:arch`"
                    .to_owned(),
            ),
            Self::Run { .. } => Some(
                "importing Debian packages by name needs apt (`apt-get`) on this machine; import `.deb` files instead".to_owned(),
            ),
            Self::Refused { .. } => Some(
                "check the name and version with `apt-cache policy NAME`; `apt-get update` refreshes apt's package lists".to_owned(),
            ),
            Self::NotSelected { request } => Some(format!(
                "name the package that provides it (`apt-cache showpkg {request}` lists them), or add --closure to let apt choose"
            )),
            Self::Output { .. } | Self::Digest { .. } | Self::Io { .. } => None,
        }
    }
}
