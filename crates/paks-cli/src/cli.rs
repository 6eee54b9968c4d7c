//! The command line. The doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use paks_registry::limits::Limits;

use crate::env_vars;

/// paks: build packages once, store them in any OCI registry, install them fast.
#[derive(Debug, Parser)]
#[command(name = "paks", version = env!("PAKS_VERSION"), max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The install root [default: /opt/paks as root, else ~/.local/share/paks]
    #[arg(long, global = true, env = env_vars::ROOT, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// How many installs and build jobs run at once (transfers: at least 4) [default: `defaults.jobs` of the user configuration, else the number of CPUs]
    #[arg(long, short = 'j', global = true, env = env_vars::JOBS, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print only errors
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what is done (for builds: the build log)
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Reach this registry over plain HTTP (loopback registries always may)
    #[arg(long, global = true, env = env_vars::INSECURE, value_delimiter = ',', value_name = "HOST")]
    pub insecure: Vec<String>,
    /// The longest `Retry-After` (seconds) a registry may ask for; a longer one fails at once [default: 60]
    #[arg(long, global = true, env = env_vars::MAX_RETRY_WAIT, value_name = "SECONDS")]
    pub max_retry_wait: Option<u64>,
    /// How long one registry transfer (a blob, a manifest) may take in all, retries included [default: 3600]
    #[arg(long, global = true, env = env_vars::TRANSFER_DEADLINE, value_name = "SECONDS")]
    pub transfer_deadline: Option<u64>,
    /// When to colour output: `auto` (on a terminal, unless `NO_COLOR` is set), `always` or `never`
    #[arg(long, global = true, env = env_vars::COLOR, value_name = "WHEN", default_value = "auto", hide_possible_values = true)]
    pub color: crate::printer::ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install packages by name, from `.pak` archives or from registry references
    ///
    /// Names are looked up in the configured repositories (`hello`, `zlib@^1.3`,
    /// `'cmake>=3.20,<4'`); references are `REGISTRY/NAMESPACE/NAME:VERSION`.
    Install(InstallArgs),
    /// Find packages in the configured repositories by name or summary
    Search(SearchArgs),
    /// Show a package: installed (by name or id) or an archive (by path)
    Info(InfoArgs),
    /// List installed packages
    #[command(visible_alias = "ls")]
    List(JsonArgs),
    /// Remove project dependencies, or installed packages
    ///
    /// In a project: remove dependencies from `paks.toml`, then lock and sync. Outside a
    /// project, or with `--installed`: remove installed packages.
    #[command(visible_aliases = ["uninstall", "rm"])]
    Remove(RemoveArgs),
    /// Run a command in the project's environment, or with installed packages
    ///
    /// In a project, the project is locked and synced first. Elsewhere:
    /// `paks run PACKAGE... -- COMMAND`.
    Run(RunArgs),
    /// Print shell commands that activate packages: `eval "$(paks env hello)"`
    Env(EnvArgs),
    /// Start a shell with the project's environment active, or run `-c CMD` in it
    Shell(ShellArgs),
    /// Add packages to the project's `paks.toml`, then lock and sync
    Add(AddArgs),
    /// Resolve the project's `paks.toml` into `paks.lock` (every build pinned by digest)
    Lock(LockArgs),
    /// Install exactly what `paks.lock` pins and build the project's view
    ///
    /// No network is needed when the cache has every pinned build.
    Sync(SyncArgs),
    /// Show the dependency tree of the project's lock, or of installed packages
    Tree(TreeArgs),
    /// List newer versions: of the project's lock, installed packages, or recipes
    Outdated(OutdatedArgs),
    /// Symlink trees that merge packages into one prefix
    #[command(subcommand)]
    View(ViewCommand),
    /// Remove unneeded packages and leftovers, then prune the download cache
    ///
    /// Removes packages that nothing needs and the leftovers of interrupted work, then
    /// prunes the download cache by `[cache] max-age` (default 30 days) and `max-size`.
    Gc(GcArgs),
    /// Build a package from a recipe directory or `git+URL#REV`, and install it
    Build(BuildArgs),
    /// Push package archives and the dependencies the registry lacks
    ///
    /// The target is a repository (`REGISTRY/NAMESPACE/NAME`) or a namespace.
    Push(PushArgs),
    /// Download a package and its dependencies into the cache, verified, without installing
    Pull(PullArgs),
    /// Copy packages and images between registries, OCI layouts and archives
    ///
    /// OCI layouts are `oci:DIR[:TAG]`, archives `oci-archive:FILE[:TAG]`.
    Copy(CopyArgs),
    /// Save credentials for a registry
    Login(LoginArgs),
    /// Forget the credentials saved for a registry
    Logout(LogoutArgs),
    /// Package repositories: registry namespaces or static `index.yaml` directories
    ///
    /// A repository is a registry namespace with an index, or a static `index.yaml`
    /// repository.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Build, sign and export the index of a registry namespace
    #[command(subcommand, name = "index")]
    IndexCmd(IndexCommand),
    /// Signing keys for indexes
    #[command(subcommand)]
    Key(KeyCommand),
    /// Container images from packages: one layer per package, no rebuild
    #[command(subcommand)]
    Image(ImageCommand),
    /// Write a multi-stage Dockerfile that builds an image spec's image with `docker build`
    Containerize(ContainerizeArgs),
    /// What an image needs, per binary and overall, read without running or unpacking it
    Inspect(InspectArgs),
    /// Will an image run here (or on `--host`)? Exit 0: it runs; 1: it will not
    Compat(CompatArgs),
    /// Compute an image's labels and, with `--push`, write them into it
    ///
    /// The labels are the supercontainers ones and `io.paks.*`.
    Label(LabelArgs),
    /// What this host is: CPU level, glibc, libstdc++, MPI, GPUs, container limits
    ///
    /// The CPU level is its microarchitecture (such as `x86-64-v3`).
    Host(HostArgs),
    /// The user configuration (`~/.config/paks/config.toml`), shared by every install root
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The download cache, shared by every install root of the user
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Run an OCI registry on this machine; also `gc`, `scrub`, `passwd`
    ///
    /// The registry follows the OCI distribution spec v1.1.
    Serve(ServeArgs),
    /// Print a shell completion script: `source <(paks completions bash)`
    Completions(CompletionsArgs),
    /// Write man pages into a directory, or `paks.1` to stdout
    ///
    /// The pages are `paks.1`, `paks-install.1`, and one per command.
    Man(ManArgs),
    /// Turn Debian and Alpine packages into rootfs packages (`.pak` files), and push them
    #[command(subcommand)]
    Import(ImportCommand),
    /// Sysroots: a tree to chroot into, made of packages, like `mmdebstrap DIR`
    #[command(subcommand)]
    Sysroot(SysrootCommand),
    /// Check a build's signature, provenance, test results and SBOM in its registry
    ///
    /// Each requirement passes or fails with its reason; exit 1 when a required one fails.
    Verify(VerifyArgs),
    /// Print the SBOM of a build or a file; `paks sbom diff A B` compares two
    Sbom(SbomArgs),
    /// Known vulnerabilities of a build's components, from OSV advisories, offline
    ///
    /// Exit 0: none found; 1: some found (or the request failed).
    Audit(AuditArgs),
    /// Run a package's own test script against the build, and attach the signed result
    ///
    /// The build and its dependencies are installed into a fresh temporary root; the
    /// script runs in the build sandbox without network, the package read-only. The
    /// result, passed or failed, is signed and attached to the build in its registry.
    /// Exit 1 when a test failed.
    Test(TestArgs),
    /// Attach a file to a manifest in a registry, as `oras attach` does
    ///
    /// The file becomes an OCI artifact whose subject is REF (an SBOM, a signature, test
    /// results). It is listed by the referrers API, or by the `sha256-<hex>` tag where the
    /// registry has no such API.
    Attach(AttachArgs),
    /// Show the tree of artifacts attached to a manifest, as `oras discover` does
    Discover(DiscoverArgs),
    /// Work on recipes: `paks recipe bump DIR` moves one to a new upstream version
    #[command(subcommand)]
    Recipe(RecipeCommand),
    /// Bring a directory of recipes up to date: bump, build, test and push what passes
    ///
    /// For each recipe with a newer upstream version: the bump is committed on a git branch
    /// (one commit per package), then built, tested and pushed; a summary says what
    /// happened to each. No forge is contacted: open the pull request from CI.
    Update(UpdateArgs),
    /// Dockerfiles' base images: check them, pin them to digests, update them
    #[command(subcommand)]
    Dockerfile(DockerfileCommand),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
    #[command(flatten)]
    pub run: ServeRunArgs,
}

#[derive(Debug, Args)]
pub struct ServeRunArgs {
    /// The registry's data directory (created if missing)
    #[arg(long, env = env_vars::SERVE_ROOT, default_value = "registry-data", value_name = "DIR")]
    pub root: PathBuf,
    /// Keep the data in a bucket instead, over the S3 API (several replicas may share it):
    /// `s3://BUCKET[/PREFIX]?endpoint=URL&region=NAME`, credentials from `AWS_ACCESS_KEY_ID`
    /// and `AWS_SECRET_ACCESS_KEY` (see docs/scale-out.md)
    #[arg(long, env = env_vars::SERVE_STORAGE, value_name = "URL")]
    pub storage: Option<String>,
    /// The address to listen on; port 0 picks a free one
    #[arg(long, env = env_vars::SERVE_LISTEN, default_value = "127.0.0.1:5000", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// PEM certificate chain: serve HTTPS (needs `--tls-key`)
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Users, passwords and rights (TOML; see docs/serve-auth.md). Without it anyone may pull and push
    #[arg(long, env = env_vars::SERVE_AUTH, value_name = "FILE")]
    pub auth: Option<PathBuf>,
    /// A directory served as static files outside `/v2/` (a static package index)
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Request logs as JSON lines instead of text
    #[arg(long)]
    pub log_json: bool,
    /// A plain registry: no catalogue pages, no JSON API, no images composed on pull
    #[arg(long)]
    pub no_catalog: bool,
    /// An image of this registry (`REPO:TAG`) that images composed on pull start from (default: none)
    #[arg(long, env = env_vars::SERVE_COMPOSE_BASE, value_name = "REPO:TAG")]
    pub compose_base: Option<String>,
    #[command(flatten)]
    pub limits: ServeLimitArgs,
    /// A file of at least 32 random bytes (hex or raw, not world-readable) that signs bearer
    /// tokens; replicas sharing it accept each other's tokens (`paks serve token-key` makes one)
    #[arg(long, env = env_vars::SERVE_TOKEN_KEY, value_name = "FILE")]
    pub token_key: Option<PathBuf>,
    /// Seconds between the catalogue's checks for what other replicas wrote to the storage
    #[arg(long, default_value_t = paks_catalog::WATCH_INTERVAL.as_secs(), value_name = "SECONDS")]
    pub catalog_refresh: u64,
}

/// What one client, and all clients together, may hold (see docs/serve.md, "Limits").
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct ServeLimitArgs {
    /// Open connections per client address; more are closed at once
    #[arg(long, default_value_t = Limits::default().connections_per_client, value_name = "N")]
    pub max_connections_per_client: usize,
    /// Seconds a client may take to send a request's headers (also the keep-alive idle time)
    #[arg(long, default_value_t = Limits::default().header_timeout.as_secs(), value_name = "SECONDS")]
    pub header_timeout: u64,
    /// Seconds a request body may go without a byte; an upload keeps what arrived
    #[arg(long, default_value_t = Limits::default().body_idle_timeout.as_secs(), value_name = "SECONDS")]
    pub body_idle_timeout: u64,
    /// Seconds an answer may go without the client taking a byte
    #[arg(long, default_value_t = Limits::default().send_idle_timeout.as_secs(), value_name = "SECONDS")]
    pub send_idle_timeout: u64,
    /// Open upload sessions in the whole registry
    #[arg(long, default_value_t = Limits::default().upload_sessions, value_name = "N")]
    pub max_uploads: usize,
    /// Open upload sessions per client address
    #[arg(long, default_value_t = Limits::default().upload_sessions_per_client, value_name = "N")]
    pub max_uploads_per_client: usize,
    /// Seconds after which an upload session that received nothing is removed
    #[arg(long, default_value_t = Limits::default().upload_expiry.as_secs(), value_name = "SECONDS")]
    pub upload_expiry: u64,
    /// Password checks (argon2) running at once; more get 429
    #[arg(long, default_value_t = Limits::default().password_checks, value_name = "N")]
    pub max_password_checks: usize,
    /// Failed logins a client address may make in a burst
    #[arg(long, default_value_t = Limits::default().login_failures_per_client, value_name = "N")]
    pub login_failures_per_client: u32,
    /// Failed logins a user name may see in a burst
    #[arg(long, default_value_t = Limits::default().login_failures_per_user, value_name = "N")]
    pub login_failures_per_user: u32,
    /// Seconds after which one more failed login is allowed once a burst is used
    #[arg(long, default_value_t = Limits::default().login_failure_refill.as_secs(), value_name = "SECONDS")]
    pub login_failure_refill: u64,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// Delete blobs no manifest references (after a grace period) and stale uploads
    Gc(ServeGcArgs),
    /// Re-hash every stored blob and report the damaged ones (exit 1 if any)
    Scrub(ServeScrubArgs),
    /// Hash a password read from stdin for the users file (argon2id)
    Passwd,
    /// Print a new random token key (hex) for `--token-key`, shared by replicas
    TokenKey,
}

#[derive(Debug, Args)]
pub struct ServeGcArgs {
    /// The registry's data directory
    #[arg(long, env = env_vars::SERVE_ROOT, default_value = "registry-data", value_name = "DIR")]
    pub root: PathBuf,
    /// The registry's bucket instead (`s3://…`, as `paks serve --storage`)
    #[arg(long, env = env_vars::SERVE_STORAGE, value_name = "URL")]
    pub storage: Option<String>,
    /// Only report what would be deleted
    #[arg(long)]
    pub dry_run: bool,
    /// Keep unreferenced blobs younger than this many seconds (uploads a push may still use)
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub grace: u64,
    /// Remove upload sessions untouched for this many seconds
    #[arg(long, default_value_t = 86400, value_name = "SECONDS")]
    pub upload_max_age: u64,
    /// Remove temporary files and broken upload sessions that killed writers left,
    /// once untouched for this many seconds
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub leftover_max_age: u64,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeScrubArgs {
    /// The registry's data directory
    #[arg(long, env = env_vars::SERVE_ROOT, default_value = "registry-data", value_name = "DIR")]
    pub root: PathBuf,
    /// The registry's bucket instead (`s3://…`, as `paks serve --storage`)
    #[arg(long, env = env_vars::SERVE_STORAGE, value_name = "URL")]
    pub storage: Option<String>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A directory holding `paks.toml`, or `git+URL[#REV]` of a repository holding one
    pub recipe: String,
    /// Where the archive and build log go
    #[arg(long, short, default_value = "out", env = env_vars::OUT, value_name = "DIR")]
    pub out: PathBuf,
    /// Skip the recipe's tests
    #[arg(long)]
    pub no_test: bool,
    /// Only write the archive; do not install it
    #[arg(long)]
    pub no_install: bool,
    /// Layer compression: `gzip` (every runtime reads it), `zstd` (4x faster to unpack), or `none`
    #[arg(long, env = env_vars::COMPRESSION, default_value = "gzip", value_parser = ["gzip", "zstd", "none"])]
    pub compression: String,
    /// The most bytes a URL source without a declared `size` may have [default: 4 GiB]
    #[arg(long, env = env_vars::MAX_SOURCE_SIZE, value_name = "BYTES")]
    pub max_source_size: Option<u64>,
    /// Give up a source download after this many seconds without data [default: 60]
    #[arg(long, env = env_vars::SOURCE_STALL_TIMEOUT, value_name = "SECONDS")]
    pub source_stall_timeout: Option<u64>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Package archives, or references such as `127.0.0.1:5000/acme/hello:1.0.0` or `…@sha256:…`
    #[arg(required = true, value_name = "PAK|REF")]
    pub paks: Vec<String>,
    /// Install as dependencies: `paks gc` removes them once nothing needs them
    #[arg(long)]
    pub as_dependency: bool,
    /// Resolve names against the cached indexes, without the network
    #[arg(long)]
    pub offline: bool,
    /// Print what was installed as JSON lines
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub trust: NoVerifyArgs,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Package archives
    #[arg(required = true, value_name = "PAK")]
    pub paks: Vec<std::path::PathBuf>,
    /// A repository (`127.0.0.1:5000/acme/hello`) or a namespace (`127.0.0.1:5000/acme`), guessed from the last component unless `--namespace` or `--repository` says; a `:TAG` also tags the version pushed
    #[arg(required = true, value_name = "TARGET")]
    pub target: String,
    /// Print what was pushed as JSON lines
    #[arg(long)]
    pub json: bool,
    /// TARGET is a namespace: each package goes to `TARGET/NAME`
    #[arg(long, conflicts_with = "repository")]
    pub namespace: bool,
    /// TARGET is the repository of the archives given (builds of one package), whatever its name
    #[arg(long)]
    pub repository: bool,
    /// Sign with this private key (PEM): attach to each build its SBOM, its provenance (signed) and a signature
    #[arg(long, env = env_vars::SIGN_KEY, value_name = "KEY.pem")]
    pub sign: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Package names (`NAME`, `NAME@REQ`), resolved from the configured repositories as `paks install` does, or references: `REGISTRY/NAMESPACE/NAME:VERSION`, a build tag, or `…@sha256:…`
    #[arg(required = true, value_name = "REF")]
    pub references: Vec<String>,
    /// Print what was pulled as JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// A package or image reference, `oci:DIR[:TAG]` or `oci-archive:FILE[:TAG]`
    pub source: String,
    /// A namespace (`REGISTRY/NAMESPACE`) or repository, `REGISTRY/REPO:TAG` to name the image exactly, `oci:DIR[:TAG]` or `oci-archive:FILE[:TAG]`
    pub destination: String,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry host, e.g. `ghcr.io` or `127.0.0.1:5000`
    pub registry: String,
    /// The user name
    #[arg(long, short)]
    pub username: String,
    /// Read the password (or token) from standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// Print where the credentials were saved as a JSON line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry host
    pub registry: String,
    /// Print where credentials were removed from as a JSON line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// In a project: the command and its arguments. Elsewhere: packages to activate (name,
    /// name@version or id), then `--`, then the command
    #[arg(value_name = "COMMAND|PACKAGE", allow_hyphen_values = true)]
    pub packages: Vec<std::ffi::OsString>,
    /// The command and its arguments, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub mode: LockModeArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub command: Option<EnvCommand>,
    /// Packages to activate (name, name@version or id); none: the project's environment
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<String>,
    /// The project directory (default: the nearest with a `paks.toml` environment)
    #[arg(long, env = env_vars::PROJECT, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the variables as a JSON line (`{"type": "env", "variables": {…}}`) instead of shell commands
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub mode: LockModeArgs,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// An installed package (name, name@version or id) or a `.pak` file; with `--registry`, a package repository (`acme/hello`)
    pub package: String,
    /// Ask the catalogue of a `paks serve` registry (`HOST:PORT`) instead of the store
    #[arg(long, value_name = "HOST:PORT")]
    pub registry: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Dependencies of the project, or installed packages (name, name@version or id)
    #[arg(required = true, value_name = "PACKAGE")]
    pub packages: Vec<String>,
    /// Remove installed packages from the store, even inside a project
    #[arg(long)]
    pub installed: bool,
    /// Remove installed packages even when other packages or views still need them (implies `--installed`)
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print what was removed as JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only say what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ViewCommand {
    /// Create or replace a view of packages and their dependencies
    Create {
        /// Where the view goes
        path: PathBuf,
        /// Packages (name, name@version or id)
        #[arg(required = true, value_name = "PACKAGE")]
        packages: Vec<String>,
        /// Where two packages provide one path, keep the first instead of failing
        #[arg(long)]
        ignore_conflicts: bool,
        /// Print the view created as a JSON line
        #[arg(long)]
        json: bool,
    },
    /// Remove a view
    Remove {
        /// The view's path
        path: PathBuf,
        /// Print the view removed as a JSON line
        #[arg(long)]
        json: bool,
    },
    /// List views
    List(JsonArgs),
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Start a project: write `DIR/paks.toml` with an empty `[dependencies]` table
    Init {
        /// The project directory (created if missing)
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Print the file written as a JSON line
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Part of a package name or summary
    pub term: String,
    /// Search the catalogue of a `paks serve` registry (`HOST:PORT`) instead of the repositories' indexes
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "offline")]
    pub registry: Option<String>,
    /// Use the cached indexes, no network
    #[arg(long)]
    pub offline: bool,
    /// Print JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Add a repository (its index is fetched and verified now)
    Add {
        /// A short name for it
        name: String,
        /// `oci://REGISTRY/NAMESPACE`, `https://HOST/PATH/`, `http://127.0.0.1:PORT/PATH/` or `file:///DIR`
        url: String,
        /// A public key (`paks-ed25519 …`, or a file holding one) that must sign its index
        #[arg(long = "key", value_name = "KEY|FILE")]
        keys: Vec<String>,
        /// Accept an index that no trusted key signed
        #[arg(long)]
        allow_unsigned: bool,
        /// Give it the highest priority (default: the lowest)
        #[arg(long)]
        first: bool,
        /// Add it to the user configuration (every root), not to this root's `repos.toml`
        #[arg(long)]
        user: bool,
        /// Print what was added as a JSON line
        #[arg(long)]
        json: bool,
        /// The evidence every package from it must carry to be installed: any of `signed`, `provenance`, `tested`, `sbom`, comma-separated; checked with `--key`
        #[arg(long, value_name = "LIST")]
        require: Option<paks_attest::Require>,
        /// How many distinct `--key` keys must sign its sharded index's root (default 1)
        #[arg(long, value_name = "N")]
        threshold: Option<u32>,
    },
    /// List the repositories, highest priority first: the root's, then the user's
    List(JsonArgs),
    /// Remove a repository
    Remove {
        name: String,
        /// Remove it from the user configuration, not from this root's `repos.toml`
        #[arg(long)]
        user: bool,
        /// Print what was removed as a JSON line
        #[arg(long)]
        json: bool,
    },
    /// Fetch and verify the repositories' indexes
    Update(JsonArgs),
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// (Re)build the index of a registry namespace from its tags, sign it and push it there;
    /// or, given a directory of `.pak` files, write its `index.yaml` (a static repository)
    Build {
        /// `REGISTRY/NAMESPACE`, such as `127.0.0.1:5000/acme`, or a directory of `.pak` files
        namespace: String,
        /// The private key (PEM) to sign with; repeat it to sign with several keys
        #[arg(long, value_name = "KEY.pem")]
        sign: Vec<PathBuf>,
        /// Days until the index expires (clients refuse it after)
        #[arg(long, default_value_t = 30)]
        expires_days: u64,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// `single`: one document (schema 1); `sharded`: a signed root and one shard per
        /// package (schema 2), which clients fetch as they need them
        #[arg(long, value_enum, default_value_t, env = env_vars::INDEX_FORMAT)]
        format: crate::index_sharded::IndexFormat,
        /// The keys the new root names to sign the next one: public keys or files,
        /// comma-separated (default: the `--sign` keys); a key rotation is a root signed
        /// by enough old and new keys
        #[arg(long, value_name = "PUB,…", value_delimiter = ',')]
        root_keys: Vec<String>,
        /// How many distinct root keys must sign the next root (default 1)
        #[arg(long, value_name = "N")]
        threshold: Option<u32>,
    },
    /// Write the namespace's index as a static repository: `index.yaml`, flat `.pak` files and their attachments
    Export {
        /// `REGISTRY/NAMESPACE`
        namespace: String,
        /// The output directory
        dir: PathBuf,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an ed25519 key pair: KEY.pem (private, 0600) and KEY.pub
    Generate {
        /// Where the private key goes
        #[arg(long, short, default_value = "paks-key.pem", value_name = "KEY.pem")]
        out: PathBuf,
        /// Print the files and the public key as a JSON line (instead of the public key alone)
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project directory (default: the nearest with a `paks.toml` environment)
    #[arg(long, env = env_vars::PROJECT, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Use the cached indexes, no network
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Packages, as for `paks install`: `hello`, `zlib@^1.3`, `'cmake>=3.20,<4'`
    #[arg(required = true, value_name = "PACKAGE")]
    pub packages: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print JSON lines: the requirements written, then what was locked and installed
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub trust: NoVerifyArgs,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub mode: LockModeArgs,
    /// Print JSON lines: what was locked and installed
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub trust: NoVerifyArgs,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// Print the profile as JSON (a file others can use with `--host` or `PAKS_HOST_PROFILE`)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// `REGISTRY/REPO:TAG` (or `@sha256:…`), `oci:DIR[:TAG]` or `docker-archive:FILE.tar`
    pub image: String,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompatArgs {
    /// `REGISTRY/REPO:TAG` (or `@sha256:…`), `oci:DIR[:TAG]` or `docker-archive:FILE.tar`
    pub image: String,
    /// A host profile (`paks host --json` of another machine) instead of this host
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    /// Print the verdict as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// `REGISTRY/REPO:TAG`
    pub image: String,
    /// Write the labels into the image's config and push the new manifest (the tag moves)
    #[arg(long)]
    pub push: bool,
    /// Print the labels as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Compose an image: base layers, one layer per package in dependency order, and a
    /// view layer; pushed (mounting the packages' layers), or written to `oci:DIR:TAG` or
    /// `docker-archive:FILE`
    Build(ImageBuildArgs),
}

#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// Packages: `NAME`, `NAME@REQ` (from the configured repositories) or references
    /// (`REGISTRY/NAMESPACE/NAME:VERSION`); added to the spec's
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<String>,
    /// An image spec (`image.toml`); flags override its fields
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// The base image (`REGISTRY/NAME:TAG`), or `scratch`
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<String>,
    /// The image's name: where it is pushed, or its name in `--output`
    #[arg(short = 't', long, value_name = "REGISTRY/NAME:TAG")]
    pub tag: Option<String>,
    /// Write to `oci:DIR[:TAG]` or `docker-archive:FILE` instead of pushing to `--tag`
    #[arg(short = 'o', long, value_name = "DEST")]
    pub output: Option<String>,
    /// Platforms (`linux/amd64,linux/arm64`): several make a multi-platform index
    #[arg(long, value_delimiter = ',', value_name = "OS/ARCH")]
    pub platform: Vec<String>,
    /// The entrypoint: a command line split at spaces, or a JSON array
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// The default arguments: a command line split at spaces, or a JSON array
    #[arg(long, value_name = "CMD")]
    pub cmd: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    #[arg(long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// `NAME=VALUE`, set last (repeatable)
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// `KEY=VALUE` (repeatable)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The most layers the image may have (default 100; at most 127)
    #[arg(long, value_name = "N")]
    pub layer_budget: Option<usize>,
    /// `gzip` (default: every runtime reads it) or `zstd`
    #[arg(long, value_name = "KIND")]
    pub compression: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// Write the image's SBOM (SPDX JSON: every package and the base image) to this file
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub trust: NoVerifyArgs,
}

#[derive(Debug, Args)]
pub struct ContainerizeArgs {
    /// The image spec (`image.toml`)
    pub file: std::path::PathBuf,
    /// An image holding the `paks` binary at `/usr/local/bin/paks`, for the install stage
    #[arg(long, value_name = "IMAGE", default_value = "paks:latest")]
    pub paks_image: String,
}

/// How a project command treats `paks.lock` when it no longer matches `paks.toml`.
#[derive(Debug, Args, Clone, Copy)]
pub struct LockModeArgs {
    /// Fail if `paks.lock` is missing or out of date instead of re-locking
    #[arg(long, env = env_vars::LOCKED, value_parser = clap::builder::BoolishValueParser::new(), conflicts_with = "frozen")]
    pub locked: bool,
    /// Use `paks.lock` as it is, without checking it against `paks.toml`
    #[arg(long, env = env_vars::FROZEN, value_parser = clap::builder::BoolishValueParser::new())]
    pub frozen: bool,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Run this command with `$SHELL -c` instead of an interactive shell
    #[arg(short = 'c', value_name = "COMMAND")]
    pub command: Option<std::ffi::OsString>,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub mode: LockModeArgs,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Take the newest allowed version of every package, not the locked ones
    #[arg(long, conflicts_with = "upgrade_package")]
    pub upgrade: bool,
    /// Take the newest allowed version of this package (and what it forces); repeatable
    #[arg(long, value_name = "NAME")]
    pub upgrade_package: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Resolve for this platform only (`linux/arm64`), to check it; writes nothing
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// With `--platform`, or for the host's platform: resolve for this microarchitecture target; writes nothing
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Print JSON lines: what was locked, and whether the lock changed
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Show installed packages instead of the project's lock
    #[arg(long)]
    pub installed: bool,
    /// Only the tree of this package (with `--installed`: name, name@version or id)
    #[arg(value_name = "NAME")]
    pub package: Option<String>,
    /// Show who depends on NAME, down to what was asked for
    #[arg(long, short = 'i', value_name = "NAME")]
    pub invert: Option<String>,
    /// Show at most N levels below the top
    #[arg(long, short = 'd', value_name = "N")]
    pub depth: Option<usize>,
    /// Print one JSON line per top-level package, its dependencies nested
    #[arg(long)]
    pub json: bool,
    /// The project directory (default: the nearest with a `paks.toml` environment)
    #[arg(long, env = env_vars::PROJECT, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// Check installed packages instead of the project's lock
    #[arg(long, conflicts_with = "recipes")]
    pub installed: bool,
    /// Check the recipes under DIR (each `paks.toml`) for newer upstream releases
    #[arg(long, value_name = "DIR")]
    pub recipes: Option<PathBuf>,
    /// Print JSON lines
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub mode: LockModeArgs,
    /// With `--recipes`: ask upstream again instead of using what was seen within
    /// `update.ttl` (1 hour by default)
    #[arg(long, requires = "recipes")]
    pub refresh: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the value of a setting in effect (`defaults.jobs`, `cache.dir`, ...)
    Get { key: String },
    /// Write a setting into the user configuration file, keeping its comments
    Set { key: String, value: String },
    /// Every setting in effect, and where its value comes from
    List(JsonArgs),
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory
    Dir,
    /// How much the cache holds, per kind of entry
    Info(JsonArgs),
    /// Remove entries unused for longer than `--max-age`, or beyond `--max-size` (default:
    /// the `[cache]` settings, else 30 days and no size bound)
    Prune(CachePruneArgs),
    /// Remove everything in the cache
    Clean(CacheCleanArgs),
}

#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// Keep entries used within this long (`30d`, `12h`, `90m`, `0`)
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// Keep at most this much, the most recently used first (`10GiB`, `500MB`)
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Only say what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CacheCleanArgs {
    /// Only say what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory for one page per command (created if missing); without it `paks.1` goes to stdout
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SysrootCommand {
    /// Write the tree an image of PACKAGES would hold into a directory
    ///
    /// The image is the one `paks image build --from scratch PACKAGES` composes; its
    /// layers are extracted in order into DIR, which must be absent or empty. With
    /// `--tar` or `--oci`, every argument is a package and DIR is not written.
    Create(SysrootCreateArgs),
}

#[derive(Debug, Args)]
pub struct SysrootCreateArgs {
    /// The directory (absent or empty), then the packages: `NAME`, `NAME@REQ` or
    /// `REGISTRY/NAMESPACE/NAME:VERSION`
    #[arg(value_name = "DIR PACKAGE", num_args = 1..)]
    pub args: Vec<String>,
    /// An image spec (`image.toml`) for the packages and accounts; its `from` is ignored
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The platform (`linux/amd64`); default: the spec's first, or this host's
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Write the tree as one deterministic tar file instead of a directory
    #[arg(long, value_name = "FILE", conflicts_with = "oci")]
    pub tar: Option<PathBuf>,
    /// Write the image as an OCI image layout instead (tag `latest`)
    #[arg(long, value_name = "DIR")]
    pub oci: Option<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import `.deb` files, or every `.deb` in directories, as one batch
    ///
    /// Dependencies satisfied inside the batch are pinned by digest; maintainer scripts
    /// are not run (each package lists those it has).
    Deb(ImportDebArgs),
    /// Import Alpine `.apk` files, or every `.apk` in directories, as one batch
    ///
    /// Each package must be signed by a key in `--keys`, unless `--allow-untrusted`.
    /// Dependencies (`so:` and `cmd:` names too) satisfied inside the batch are pinned by
    /// digest; maintainer scripts are not run.
    Apk(ImportApkArgs),
}

#[derive(Debug, Args)]
pub struct ImportDebArgs {
    /// `.deb` files, directories whose `.deb` files are all imported, or package names
    /// that apt fetches (`python3`, `hello=2.10-3`, `git/bookworm-backports`)
    #[arg(required = true, value_name = "PATH|NAME")]
    pub paths: Vec<PathBuf>,
    /// With package names, also import everything apt would install with them on an
    /// empty system (no recommends). `.deb` files are taken as they are: what they need
    /// beyond the batch is listed as not imported
    #[arg(long)]
    pub closure: bool,
    /// Where to write the `.pak` files
    #[arg(long, value_name = "DIR", default_value = "paks-import")]
    pub out: std::path::PathBuf,
    /// The platform of `Architecture: all` packages; every other package must be for it [default: this host's]
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<paks_types::Platform>,
    /// Push every package written to this namespace (`127.0.0.1:5000/debian`)
    #[arg(long, value_name = "REGISTRY/NAMESPACE")]
    pub push: Option<String>,
    /// Print each package and a summary as JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportApkArgs {
    /// `.apk` files, or directories whose `.apk` files are all imported
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A directory of trusted public keys (`*.pub`, as `/etc/apk/keys`)
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Import packages that are unsigned or signed by a key not in `--keys`
    #[arg(long)]
    pub allow_untrusted: bool,
    /// Where to write the `.pak` files
    #[arg(long, value_name = "DIR", default_value = "paks-import")]
    pub out: PathBuf,
    /// The platform of `noarch` packages; every other package must be for it [default: this host's]
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<paks_types::Platform>,
    /// Push every package written to this namespace (`127.0.0.1:5000/alpine`)
    #[arg(long, value_name = "REGISTRY/NAMESPACE")]
    pub push: Option<String>,
    /// Print each package and a summary as JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The build: `REGISTRY/NAMESPACE/NAME:VERSION` (the build for this host) or `…@sha256:…`
    #[arg(value_name = "REF")]
    pub reference: String,
    /// A trusted public key (`paks-ed25519 …`, or a file holding one); repeatable
    #[arg(long = "key", required = true, value_name = "KEY|FILE")]
    pub keys: Vec<String>,
    /// What must pass: any of `signed`, `provenance`, `tested`, `sbom`, comma-separated, or `none`
    #[arg(long, value_name = "LIST", default_value = "signed")]
    pub require: paks_attest::Require,
    /// Print JSON lines: one per check, then the verdict
    #[arg(long)]
    pub json: bool,
}

/// `--no-verify`, for the commands that install or use packages from repositories.
#[derive(Debug, Args)]
pub struct NoVerifyArgs {
    /// Use packages even when they fail their repository's trust policy (`paks repo add --require`); warns what it skipped
    #[arg(long)]
    pub no_verify: bool,
}

/// What an SBOM is read from: a build in a registry, a `.pak` or a file.
const SBOM_SOURCE: &str = "REF|PAK|FILE";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SbomArgs {
    #[command(subcommand)]
    pub command: Option<SbomCommand>,
    /// A build in a registry (`REGISTRY/NAMESPACE/NAME:VERSION`: its attached SBOM), a
    /// `.pak` (the SBOM beside it, else one made from it) or an SBOM file (SPDX or
    /// `CycloneDX` JSON)
    #[arg(required = true, value_name = SBOM_SOURCE)]
    pub source: Option<String>,
    /// Print the SBOM in this format: `spdx` or `cyclonedx` [default: as stored]
    #[arg(long, value_enum)]
    pub format: Option<SbomFormatArg>,
    /// Print the components as JSON lines instead of the document
    #[arg(long)]
    pub json: bool,
}

/// An SBOM format on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomFormatArg {
    /// SPDX 2.3 JSON
    Spdx,
    /// `CycloneDX` 1.5 JSON
    Cyclonedx,
}

#[derive(Debug, Subcommand)]
pub enum SbomCommand {
    /// Components added, removed and changed (version, checksum, license) from A to B
    Diff(SbomDiffArgs),
}

#[derive(Debug, Args)]
pub struct SbomDiffArgs {
    /// The older SBOM: a build in a registry, a `.pak` or a file
    #[arg(value_name = "A")]
    pub from: String,
    /// The newer SBOM, in any of the same forms
    #[arg(value_name = "B")]
    pub to: String,
    /// Print each difference as a JSON line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// A build in a registry, a `.pak` or an SBOM file
    #[arg(value_name = SBOM_SOURCE)]
    pub source: String,
    /// A directory of OSV advisories (`*.json`, subdirectories too), such as an unzipped
    /// osv.dev export
    #[arg(long, env = env_vars::OSV_DIR, value_name = "DIR")]
    pub osv: PathBuf,
    /// Print each vulnerability and a summary as JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// A package name (`hello`, `hello@^1`) from the configured repositories, or a reference (`REGISTRY/NAMESPACE/NAME:VERSION`, `…@sha256:…`)
    #[arg(
        value_name = "REF|NAME",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub package: Option<String>,
    /// Test the newest version of every package in this namespace's index
    #[arg(long, value_name = "REGISTRY/NAMESPACE")]
    pub all: Option<String>,
    /// The private key (PEM) that signs the result
    #[arg(long, value_name = "KEY.pem")]
    pub sign: Option<PathBuf>,
    /// Run the test only: do not attach the result
    #[arg(long)]
    pub no_attach: bool,
    /// Print each result, and with `--all` a summary, as JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The manifest to attach to: `REGISTRY/REPOSITORY:TAG` or `…@sha256:…`
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The file to attach (at most 64 MiB)
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,
    /// The artifact's type, such as `application/spdx+json`
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: String,
    /// The media type of the file's layer; by default the artifact type
    #[arg(long, value_name = "TYPE")]
    pub media_type: Option<String>,
    /// An annotation of the artifact's manifest, `KEY=VALUE`; may be repeated
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Print what was attached as a JSON line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The manifest whose referrers to show: `REGISTRY/REPOSITORY:TAG` or `…@sha256:…`
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Only the artifacts of this type directly attached to REF (with all that refer to them)
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Print each artifact as a JSON line, with its depth
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Move a recipe to a new upstream version: the version, each download's URL and
    /// `sha256`, each git source's commit; the file's formatting and comments kept
    Bump(RecipeBumpArgs),
}

#[derive(Debug, Args)]
pub struct RecipeBumpArgs {
    /// The recipe's directory (or its `paks.toml`)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The version to move to [default: the newest upstream version]
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Print the change as a unified diff instead of writing the file
    #[arg(long)]
    pub patch: bool,
    /// Print what changed as a JSON line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The directory of recipes (each subdirectory with a `paks.toml`)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Only these packages (by name); may be repeated
    #[arg(long = "package", short = 'p', value_name = "NAME")]
    pub packages: Vec<String>,
    /// Build each bumped recipe
    #[arg(long)]
    pub build: bool,
    /// Run each built package's tests (implies `--build`)
    #[arg(long)]
    pub test: bool,
    /// Push what built (and passed its tests) to this namespace: `REGISTRY/NAMESPACE` (implies `--build`)
    #[arg(long, value_name = "REGISTRY/NAMESPACE")]
    pub push: Option<String>,
    /// Sign what is pushed with this private key (PEM), as `paks push --sign` does
    #[arg(long, value_name = "KEY.pem", requires = "push")]
    pub sign: Option<PathBuf>,
    /// The git branch the bumps are committed on [default: `paks/update-<date>`]
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Where built `.pak` files go [default: `out` in the current directory]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print each package's outcome and the summary as JSON lines
    #[arg(long)]
    pub json: bool,
    /// Also write the summary as Markdown to this file (a pull request's body)
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DockerfileCommand {
    /// Per `FROM`: is it pinned, is its digest current, are there newer tags
    ///
    /// Exit 0: everything pinned and current; 1: something is stale or unpinned.
    Check(DockerfileCheckArgs),
    /// Pin each `FROM IMAGE:TAG` to the digest the registry serves for the tag
    ///
    /// A multi-platform tag is pinned to its image index, never to one platform's
    /// manifest. Nothing else in the file changes.
    Pin(DockerfilePinArgs),
    /// Move each `FROM` to the newest compatible tag and its digest, and rewrite the
    /// `org.opencontainers.image.base.*` labels to match
    Update(DockerfileUpdateArgs),
}

#[derive(Debug, Args)]
pub struct DockerfileCheckArgs {
    /// Dockerfiles, or directories searched for them (`Dockerfile`, `*.Dockerfile`, `Dockerfile.*`, `Containerfile`, `*.containerfile`)
    #[arg(value_name = "PATH", default_value = "Dockerfile")]
    pub paths: Vec<PathBuf>,
    /// Print each `FROM` as a JSON line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DockerfilePinArgs {
    /// Dockerfiles, or directories searched for them
    #[arg(value_name = "PATH", default_value = "Dockerfile")]
    pub paths: Vec<PathBuf>,
    /// Print the change as a unified diff instead of writing the files
    #[arg(long, conflicts_with = "json")]
    pub patch: bool,
    /// Print each change as a JSON line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DockerfileUpdateArgs {
    /// Dockerfiles, or directories searched for them
    #[arg(value_name = "PATH", default_value = "Dockerfile")]
    pub paths: Vec<PathBuf>,
    /// The largest step a tag may take: `patch` (3.12.1 → 3.12.2), `minor` (3.12 → 3.13) or `major`
    #[arg(long, value_name = "LEVEL", default_value = "minor")]
    pub level: UpdateLevel,
    /// Print the change as a unified diff instead of writing the files
    #[arg(long, conflicts_with = "json")]
    pub patch: bool,
    /// Print each change as a JSON line
    #[arg(long)]
    pub json: bool,
}

/// How far `paks dockerfile update` may move a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UpdateLevel {
    Patch,
    Minor,
    Major,
}
