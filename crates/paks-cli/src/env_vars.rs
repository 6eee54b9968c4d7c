//! Every environment variable paks reads, in one place.

/// The install root (`--root`).
pub const ROOT: &str = "PAKS_ROOT";
/// How many downloads, installs or build jobs run at once (`--jobs`).
pub const JOBS: &str = "PAKS_JOBS";
/// Output directory of `paks build` (`--out`).
pub const OUT: &str = "PAKS_OUT";
/// Disables colour (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Registries reached over plain HTTP although not on loopback, comma-separated (`--insecure`).
pub const INSECURE: &str = "PAKS_INSECURE";
/// The longest `Retry-After` honoured, in seconds (`--max-retry-wait`).
pub const MAX_RETRY_WAIT: &str = "PAKS_MAX_RETRY_WAIT";
/// The deadline of one registry transfer, in seconds (`--transfer-deadline`).
pub const TRANSFER_DEADLINE: &str = "PAKS_TRANSFER_DEADLINE";
/// The data directory of `paks serve` (`--root` of `paks serve`).
pub const SERVE_ROOT: &str = "PAKS_SERVE_ROOT";
/// Where `paks serve` keeps its data instead of `--root`: `s3://BUCKET[/PREFIX]?endpoint=…` (`--storage`).
pub const SERVE_STORAGE: &str = "PAKS_SERVE_STORAGE";
/// The address `paks serve` listens on (`--listen`).
pub const SERVE_LISTEN: &str = "PAKS_SERVE_LISTEN";
/// The users file of `paks serve` (`--auth`).
pub const SERVE_AUTH: &str = "PAKS_SERVE_AUTH";
/// The base image of images `paks serve` composes on pull (`--compose-base`).
pub const SERVE_COMPOSE_BASE: &str = "PAKS_SERVE_COMPOSE_BASE";
/// `paks serve --token-key`: the file holding the key that signs bearer tokens.
pub const SERVE_TOKEN_KEY: &str = "PAKS_SERVE_TOKEN_KEY";
/// Log filter of `paks serve` (tracing's `EnvFilter` syntax; default `info`).
pub const LOG: &str = "PAKS_LOG";
/// The project directory of `paks add/lock/sync/shell/env` (`--project`).
pub const PROJECT: &str = "PAKS_PROJECT";
/// Layer compression of `paks build` (`--compression`).
pub const COMPRESSION: &str = "PAKS_COMPRESSION";
/// How long to wait, in seconds, for a store lock another paks process holds (read by
/// `paks-store`).
#[allow(dead_code)] // documents the variable; paks-store reads it
pub const LOCK_TIMEOUT: &str = paks_store::LOCK_TIMEOUT_ENV;
/// The size limit of a URL source without a declared `size`, in bytes (`--max-source-size`).
pub const MAX_SOURCE_SIZE: &str = "PAKS_MAX_SOURCE_SIZE";
/// Seconds without data before a source download is given up (`--source-stall-timeout`).
pub const SOURCE_STALL_TIMEOUT: &str = "PAKS_SOURCE_STALL_TIMEOUT";
/// Registry logins for one registry each: `PAKS_REGISTRY_AUTH_<HOST>=user:password` (read
/// by `paks-oci`; see docs/credentials.md).
#[allow(dead_code)] // documents the variables; paks-oci reads them
pub const REGISTRY_AUTH_PREFIX: &str = paks_oci::ENV_AUTH_PREFIX;
/// The registry that `PAKS_REGISTRY_USERNAME`/`PAKS_REGISTRY_PASSWORD` are for (read by
/// `paks-oci`).
#[allow(dead_code)] // documents the variable; paks-oci reads it
pub const REGISTRY: &str = paks_oci::ENV_REGISTRY;
/// The user configuration file (default: `$XDG_CONFIG_HOME/paks/config.toml`).
pub const CONFIG: &str = "PAKS_CONFIG";
/// The download cache directory (default: `$XDG_CACHE_HOME/paks`, `[cache] dir`).
pub const CACHE_DIR: &str = "PAKS_CACHE_DIR";
/// When to colour output: `auto`, `always` or `never` (`--color`).
pub const COLOR: &str = "PAKS_COLOR";
/// Forces colour into files and pipes (<https://bixense.com/clicolors/>), unless
/// `NO_COLOR` or `--color never` says otherwise.
pub const CLICOLOR_FORCE: &str = "CLICOLOR_FORCE";
/// Fail instead of re-locking a stale `paks.lock` (`--locked`), for CI.
pub const LOCKED: &str = "PAKS_LOCKED";
/// Use `paks.lock` as it is, unchecked (`--frozen`).
pub const FROZEN: &str = "PAKS_FROZEN";
/// The private key `paks push` signs attachments with (`--sign`).
pub const SIGN_KEY: &str = "PAKS_SIGN_KEY";

/// The directory of OSV advisories `paks audit` reads (`--osv`).
pub const OSV_DIR: &str = "PAKS_OSV_DIR";

/// `paks index build --format`: `single` or `sharded`.
pub const INDEX_FORMAT: &str = "PAKS_INDEX_FORMAT";
