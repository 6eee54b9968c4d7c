//! The content-addressed install tree.
//!
//! ```text
//! <root>/store/<id>/              installed prefixes, complete or absent
//! <root>/store/.<id>.install-*    an install in progress (same filesystem, renamed when done)
//! <root>/state/installed/<id>.json   the record that makes a prefix installed; written last
//! <root>/state/views/<hash>.json  the views that keep packages alive
//! <root>/state/locks/<id>.lock    one lock per id; `state/store.lock` is shared by writers, exclusive for gc
//!                                 (taken in one order: the store lock, then ids sorted; see `lock`)
//! <root>/cache/unpacked/<id>@…   prefixes `remove` kept, for a re-install by rename
//! <cache>/blobs/sha256/<hex>      downloaded blobs: `<root>/cache` unless the store uses
//!                                 another [`Cache`] (the CLI's: one per user), see `cache`
//! ```
//! A kill at any moment leaves either no prefix, or a complete one: a prefix is extracted
//! into a temporary directory beside its final place, synced, and renamed. A complete
//! prefix without a record (killed between rename and record) is adopted by the next
//! install and removed by `gc`.

mod cache;
mod env;
mod error;
mod gc;
mod install;
mod lock;
mod record;
mod unpacked;
mod verify;
mod view;

use std::path::{Path, PathBuf};

pub use cache::{Cache, KINDS as CACHE_KINDS, PrunePolicy, PruneReport, Usage as CacheUsage};
pub use env::{EnvSet, EnvValue};
pub use error::{StoreError, StoreErrorKind, is_machine_failure};
pub use gc::GcReport;
pub use install::{
    InstallOutcome, InstallRequest, Installable, LayerSource, OpenedPak, open_pak, parse_config,
};
pub use lock::{DEFAULT_LOCK_TIMEOUT, LOCK_TIMEOUT_ENV, Lock};
pub use record::Record;
pub use view::{ViewInfo, ViewOptions};

use paks_types::{CANONICAL_ROOT, PackageId};

/// The environment variable that overrides the install root.
pub const ROOT_ENV: &str = "PAKS_ROOT";

/// An install tree.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// The download cache (`<root>/cache` unless set with [`Store::using_cache`]).
    cache: PathBuf,
    /// The cache's lock, held shared while this store is in use.
    cache_lock: Option<std::sync::Arc<Lock>>,
    /// How long to wait for a lock another process holds.
    lock_timeout: std::time::Duration,
}

impl Store {
    /// Open (creating if needed) the install tree at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()?.join(root)
        };
        for dir in [
            "store",
            "state/installed",
            "state/views",
            "state/locks",
            "cache/blobs/sha256",
        ] {
            fs_err::create_dir_all(root.join(dir))?;
        }
        Ok(Self {
            cache: root.join("cache"),
            cache_lock: None,
            root,
            lock_timeout: lock::timeout_from_env(),
        })
    }

    /// The default root: `/opt/paks` for root, `$XDG_DATA_HOME/paks` (usually
    /// `~/.local/share/paks`) for everyone else.
    pub fn default_root() -> PathBuf {
        if rustix::process::geteuid().is_root() {
            return PathBuf::from(CANONICAL_ROOT);
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| Path::new(v).is_absolute())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        data.join("paks")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/store`.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Where the prefix of `id` is (or would be) installed.
    pub fn prefix(&self, id: &PackageId) -> PathBuf {
        self.store_dir().join(id.to_string())
    }

    /// Where the download cache keeps the blob `digest` (verified before it gets there).
    pub fn cache_blob(&self, digest: &paks_types::Digest) -> PathBuf {
        self.cache
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Whether this tree is at the canonical root, where nothing is relocated.
    pub fn is_canonical(&self) -> bool {
        self.root == Path::new(CANONICAL_ROOT)
    }

    fn state(&self, rel: &str) -> PathBuf {
        self.root.join("state").join(rel)
    }

    /// The lock file of `id`.
    fn id_lock_path(&self, id: &PackageId) -> PathBuf {
        self.state(&format!("locks/{id}.lock"))
    }

    /// The store lock (shared: writers; exclusive: gc) and then the locks of `ids`, each
    /// exclusive or shared, in the global order (sorted by id) so that two commands
    /// never wait for each other.
    fn lock_ids(
        &self,
        store: lock::Mode,
        ids: &std::collections::BTreeMap<PackageId, lock::Mode>,
    ) -> Result<lock::Held, StoreError> {
        let wanted = std::iter::once((self.state("store.lock"), store))
            .chain(ids.iter().map(|(id, mode)| (self.id_lock_path(id), *mode)));
        lock::Held::take(wanted, self.lock_timeout)
    }

    /// Writers (install, remove, view) share the store lock; gc takes it alone, so gc
    /// never sees a half-done install and never deletes what one is about to depend on.
    fn writer_lock(&self) -> Result<lock::Held, StoreError> {
        self.lock_ids(lock::Mode::Shared, &std::collections::BTreeMap::default())
    }

    fn gc_lock(&self) -> Result<lock::Held, StoreError> {
        self.lock_ids(
            lock::Mode::Exclusive,
            &std::collections::BTreeMap::default(),
        )
    }

    /// The store lock (shared) and the exclusive lock of `id`.
    fn id_lock(&self, id: &PackageId) -> Result<lock::Held, StoreError> {
        let ids = std::collections::BTreeMap::from([(id.clone(), lock::Mode::Exclusive)]);
        self.lock_ids(lock::Mode::Shared, &ids)
    }
}
