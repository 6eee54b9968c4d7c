//! Garbage collection, leftovers and scrubbing with several replicas writing at once.
//! (Being built: collection and scrubbing answer "not built yet".)

use std::time::SystemTime;

use paks_types::Digest;

use futures_util::StreamExt as _;
use object_store::ObjectStoreExt as _;

use super::objects::failed;
use super::{S3Storage, keys, not_built};
use crate::storage::{Collection, Leftover, Result};
use paks_oci::StreamHasher;

impl S3Storage {
    /// Records that a push is about to reference `digests` (a manifest naming them, an
    /// upload or mount of them), so that a collection running now or later keeps them.
    /// Called *before* the push checks that they exist.
    pub(super) fn touch(&self, _digests: &[Digest]) -> Result<()> {
        Ok(())
    }

    pub(super) fn begin(&self) -> Result<Box<dyn Collection + '_>> {
        Err(not_built("collect garbage"))
    }

    pub(super) fn leftovers(&self, _before: SystemTime) -> Result<Vec<Leftover>> {
        Err(not_built("find leftovers"))
    }

    pub(super) fn remove_left(&self, _leftover: &Leftover) -> Result<()> {
        Err(not_built("remove leftovers"))
    }

    /// Streams blob `digest` through a hasher (`NotFound` if it is gone).
    pub(super) fn rehash(&self, digest: &Digest) -> Result<Digest> {
        let store = self.store();
        let key = self.key(&keys::blob(digest));
        let k = key.clone();
        let mut hasher = StreamHasher::new(digest.algorithm());
        let sum = self.run(async move {
            let mut stream = store.get(&k).await?.into_stream();
            while let Some(bytes) = stream.next().await {
                hasher.update(&bytes?);
            }
            Ok(hasher.finish())
        });
        sum.map_err(|e| failed("read", &key, e))
    }
}
