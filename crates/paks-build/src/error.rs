use std::path::PathBuf;

use paks_types::{PackageName, Platform, Version, VersionReq};

/// Everything that can go wrong in a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Recipe(#[from] paks_recipe::RecipeError),
    #[error("no `paks.toml` in `{}`", dir.display())]
    NoRecipe { dir: PathBuf },
    #[error("`{name}` does not support this host's platform `{host}` (it lists {})", supported.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))]
    UnsupportedPlatform {
        name: PackageName,
        host: Platform,
        supported: Vec<Platform>,
    },
    #[error("dependency `{name} {req}` is not installed{}", if available.is_empty() { String::new() } else { format!(" (installed: {})", available.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")) })]
    MissingDependency {
        name: PackageName,
        req: VersionReq,
        available: Vec<Version>,
    },
    #[error("failed to download `{url}`")]
    Download {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{url}` sent more than {limit} bytes, {}", if *declared { "the size the recipe declares" } else { "the limit for a source" })]
    SourceTooLarge {
        url: String,
        limit: u64,
        /// Whether the limit is the recipe's `size` (else the builder's default).
        declared: bool,
    },
    #[error("failed to download `{url}`: no data for {} s", after.as_secs())]
    SourceStalled {
        url: String,
        after: std::time::Duration,
    },
    #[error("`{url}` sent {actual} bytes, but the recipe declares a `size` of {declared}")]
    SourceSize {
        url: String,
        declared: u64,
        actual: u64,
    },
    #[error("checksum mismatch for `{what}`: expected `{expected}`, got `{actual}`")]
    Checksum {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("`{command}` failed for `{url}`: {stderr}")]
    Git {
        command: String,
        url: String,
        stderr: String,
    },
    #[error("source archive `{}` holds `{entry}`, a device or FIFO; sources may hold files, directories and links only", archive.display())]
    SourceSpecialFile { archive: PathBuf, entry: String },
    #[error("failed to unpack `{}`: {stderr}", archive.display())]
    Unpack { archive: PathBuf, stderr: String },
    #[error("bubblewrap (`bwrap`) is not installed; builds run in its sandbox")]
    NoSandbox,
    #[error("the {stage} script of `{name}` failed ({status}); the log is `{}`", log.display())]
    Script {
        name: PackageName,
        stage: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("the build of `{name}` installed nothing into `$PREFIX`")]
    EmptyPrefix { name: PackageName },
    #[error("`{path}` is a symlink to `{target}`, outside the package")]
    LinkOutside { path: String, target: String },
    #[error(
        "`{path}` is a special file (socket, FIFO or device); packages hold files, directories and links only"
    )]
    SpecialFile { path: String },
    #[error(transparent)]
    Archive(#[from] paks_archive::ArchiveError),
    #[error(transparent)]
    Relocate(#[from] paks_relocate::RelocateError),
    #[error(transparent)]
    Store(#[from] paks_store::StoreError),
}

impl BuildError {
    /// Context to print under the message: the offending recipe line, or the end of a
    /// failed script's log.
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Recipe(e) => e.render_snippet(),
            Self::Script { tail, .. } => Some(tail.clone()),
            _ => None,
        }
    }

    /// The HTTP status a failed download was answered with (`404`: no such file).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Download { source, .. } => match source.downcast_ref::<ureq::Error>() {
                Some(ureq::Error::StatusCode(code)) => Some(*code),
                _ => None,
            },
            _ => None,
        }
    }

    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::MissingDependency { name, .. } => Some(format!(
                "build or install `{name}` first, e.g. `paks build <dir of {name}>`; `paks list` shows what is installed"
            )),
            Self::NoSandbox => Some("install it: `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap`".into()),
            Self::Script { log, .. } => Some(format!("see the whole log in `{}`; `paks build -v` prints it as the build runs", log.display())),
            Self::LinkOutside { .. } => Some("packages must be self-contained: copy the file, or link relatively inside `$PREFIX`".into()),
            Self::EmptyPrefix { .. } => Some("the build script must install into `$PREFIX`".into()),
            Self::SourceTooLarge { declared: true, .. } | Self::SourceSize { .. } => Some(
                "check the source's `size` and `sha256` in the recipe against the upstream file".into(),
            ),
            Self::SourceTooLarge { declared: false, .. } => Some(
                "declare the source's `size` in the recipe, or raise the limit with `--max-source-size` (`PAKS_MAX_SOURCE_SIZE`)".into(),
            ),
            Self::SourceStalled { .. } => Some(
                "the server stopped sending; try again, or allow longer pauses with `--source-stall-timeout` (`PAKS_SOURCE_STALL_TIMEOUT`)".into(),
            ),
            Self::Store(e) => e.hint(),
            _ => None,
        }
    }
}
