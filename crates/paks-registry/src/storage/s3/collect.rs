//! Garbage collection, leftovers and scrubbing with several replicas writing at once.
//! (Being built: collection and scrubbing answer "not built yet".)

use std::time::SystemTime;

use paks_types::Digest;

use super::{S3Storage, not_built};
use crate::storage::{Collection, Leftover, Result};

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

    pub(super) fn rehash(&self, _digest: &Digest) -> Result<Digest> {
        Err(not_built("re-hash blobs"))
    }
}
