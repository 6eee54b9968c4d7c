//! Small object operations shared by uploads and collection: each one call to the store,
//! run on the storage's runtime, with a missing object as `None`/`false` rather than an
//! error and every other failure as `StorageError::Io` naming the key.

use std::time::SystemTime;

use futures_util::TryStreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore as _, ObjectStoreExt as _, PutPayload};

use super::S3Storage;
use crate::storage::{Result, StorageError};

/// `what` failed on `key`; a missing object keeps the `NotFound` kind (scrub relies on it).
pub(super) fn failed(what: &str, key: &ObjectPath, e: object_store::Error) -> StorageError {
    let kind = match e {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        _ => std::io::ErrorKind::Other,
    };
    StorageError::io(
        format!("failed to {what} `{key}`"),
        std::io::Error::new(kind, e),
    )
}

/// An object's size and last-modified time.
#[derive(Debug, Clone)]
pub(super) struct Stat {
    pub size: u64,
    pub modified: SystemTime,
}

impl From<&ObjectMeta> for Stat {
    fn from(meta: &ObjectMeta) -> Self {
        Self {
            size: meta.size,
            modified: meta.last_modified.into(),
        }
    }
}

impl S3Storage {
    /// The object at `rel` (relative to the prefix), or `None`.
    pub(super) fn stat(&self, rel: &str) -> Result<Option<Stat>> {
        let store = self.store();
        let key = self.key(rel);
        let k = key.clone();
        match self.run(async move { store.head(&k).await }) {
            Ok(meta) => Ok(Some(Stat::from(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(failed("stat", &key, e)),
        }
    }

    /// Writes `bytes` to `rel` (the store makes a single put atomic).
    pub(super) fn put_object(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let store = self.store();
        let key = self.key(rel);
        let k = key.clone();
        self.run(async move { store.put(&k, PutPayload::from(bytes)).await })
            .map(drop)
            .map_err(|e| failed("write", &key, e))
    }

    /// The bytes of `rel`, or `None`. Only for small objects.
    pub(super) fn read_object(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let store = self.store();
        let key = self.key(rel);
        let k = key.clone();
        match self.run(async move { store.get(&k).await?.bytes().await }) {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(failed("read", &key, e)),
        }
    }

    /// Deletes `rel`; a missing object is no error (S3 does not say whether it existed).
    pub(super) fn delete_object(&self, rel: &str) -> Result<()> {
        let store = self.store();
        let key = self.key(rel);
        let k = key.clone();
        match self.run(async move { store.delete(&k).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed("delete", &key, e)),
        }
    }

    /// Every object under `rel` (a folder, ending in `/`), as (key relative to the
    /// prefix, stat), in key order.
    pub(super) fn list_under(&self, rel: &str) -> Result<Vec<(String, Stat)>> {
        let store = self.store();
        let key = self.key(rel.trim_end_matches('/'));
        let k = key.clone();
        let mut found: Vec<ObjectMeta> = self
            .run(async move { store.list(Some(&k)).try_collect().await })
            .map_err(|e| failed("list", &key, e))?;
        found.sort_unstable_by(|a, b| a.location.cmp(&b.location));
        let strip = if self.config.prefix.is_empty() {
            0
        } else {
            self.config.prefix.len() + 1
        };
        Ok(found
            .iter()
            .map(|m| (m.location.as_ref()[strip..].to_owned(), Stat::from(m)))
            .collect())
    }
}
