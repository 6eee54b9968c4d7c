//! One request each: get, head, put, delete and list objects, with errors that name the key.
//! The async functions take any store (the conditional writes are unit-tested on one that
//! honours conditions); the methods run them on the storage's runtime.

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt as _};

use super::S3Storage;
use crate::storage::{Result, StorageError};

/// `what` failed on `key`.
pub(super) fn failed(what: &str, key: &ObjectPath, e: object_store::Error) -> StorageError {
    StorageError::io(
        format!("failed to {what} `{key}`"),
        std::io::Error::other(e),
    )
}

/// The bytes of `key`, or `None` if there is no such object.
pub(super) async fn get(store: &dyn ObjectStore, key: &ObjectPath) -> Result<Option<Bytes>> {
    let read = async { store.get(key).await?.bytes().await };
    match read.await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(failed("read", key, e)),
    }
}

/// The metadata of `key`, or `None` if there is no such object.
pub(super) async fn head(store: &dyn ObjectStore, key: &ObjectPath) -> Result<Option<ObjectMeta>> {
    match store.head(key).await {
        Ok(meta) => Ok(Some(meta)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(failed("stat", key, e)),
    }
}

/// Writes `bytes` to `key` (last writer wins).
pub(super) async fn put(store: &dyn ObjectStore, key: &ObjectPath, bytes: Bytes) -> Result<()> {
    store
        .put(key, bytes.into())
        .await
        .map(drop)
        .map_err(|e| failed("write", key, e))
}

/// Deletes `key`; returns whether it existed (a concurrent delete may also say so).
pub(super) async fn delete(store: &dyn ObjectStore, key: &ObjectPath) -> Result<bool> {
    if head(store, key).await?.is_none() {
        return Ok(false);
    }
    match store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
        Err(e) => Err(failed("delete", key, e)),
    }
}

/// Every object under `prefix`, at any depth.
pub(super) async fn list(store: &dyn ObjectStore, prefix: &ObjectPath) -> Result<Vec<ObjectMeta>> {
    store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|e| failed("list", prefix, e))
}

/// The names of the "directories" right under `prefix` (one listing with a delimiter).
pub(super) async fn children(store: &dyn ObjectStore, prefix: &ObjectPath) -> Result<Vec<String>> {
    let listed = store
        .list_with_delimiter(Some(prefix))
        .await
        .map_err(|e| failed("list", prefix, e))?;
    Ok(listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_owned))
        .collect())
}

impl S3Storage {
    pub(super) fn get_object(&self, rel: &str) -> Result<Option<Bytes>> {
        let (store, key) = (self.store(), self.key(rel));
        self.run(async move { get(&*store, &key).await })
    }

    pub(super) fn head_object(&self, rel: &str) -> Result<Option<ObjectMeta>> {
        let (store, key) = (self.store(), self.key(rel));
        self.run(async move { head(&*store, &key).await })
    }

    pub(super) fn put_object(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<()> {
        let (store, key, bytes) = (self.store(), self.key(rel), bytes.into());
        self.run(async move { put(&*store, &key, bytes).await })
    }

    pub(super) fn delete_object(&self, rel: &str) -> Result<bool> {
        let (store, key) = (self.store(), self.key(rel));
        self.run(async move { delete(&*store, &key).await })
    }

    pub(super) fn list_objects(&self, rel: &str) -> Result<Vec<ObjectMeta>> {
        let (store, key) = (self.store(), self.key(rel));
        self.run(async move { list(&*store, &key).await })
    }

    pub(super) fn list_children(&self, rel: &str) -> Result<Vec<String>> {
        let (store, key) = (self.store(), self.key(rel));
        self.run(async move { children(&*store, &key).await })
    }
}

/// How many requests one listing or check keeps in flight.
const CONCURRENCY: usize = 16;

/// Runs `futures`, [`CONCURRENCY`] at a time; their results in order.
pub(super) async fn all<T>(
    futures: impl IntoIterator<Item = impl Future<Output = Result<T>>>,
) -> Result<Vec<T>> {
    futures_util::stream::iter(futures)
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}
