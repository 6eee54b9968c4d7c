//! Garbage collection, leftovers and scrubbing with several replicas writing at once.
//!
//! ```text
//! gc/touch/<alg>/<hex>     empty; its last-modified time is when a push last needed the blob
//! ```
//!
//! No lock spans processes, so a collection is mark, grace period and sweep, with the
//! store's clock as the only clock that matters for pushes:
//! - every write that makes a blob needed (a manifest naming it, an upload committing it,
//!   a mount, a HEAD of it) first [`S3Storage::touch`]es it, and only then checks that it
//!   exists and writes what references it;
//! - [`gc::collect`](crate::gc::collect) marks from the manifests it lists after
//!   [`S3Storage::begin`]; an unmarked blob is deleted only when its object and its touch
//!   are both older than the grace period, the touch being re-read right before the delete.
//!
//!   The bytes are copied aside (server-side) before the delete and the touch is read again
//!   after it: a push that touched the blob in between gets it back.
//!
//! So a push that touched a blob before the collector's last read of the touch keeps it
//! (restored if need be); a push whose check ran after the delete finds the blob gone and
//! fails. What remains: a client reading the blob in the instant between the delete and
//! the restore gets a 404, and a collector killed in that instant leaves the bytes under
//! `gc/trash/` (a leftover) instead of restoring them (docs/scale-out.md).
//! Two collectors may run at once: each applies the same rules, so neither deletes what a
//! push protected.

use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use object_store::ObjectStoreExt as _;
use paks_oci::StreamHasher;
use paks_types::Digest;

use super::objects::all;
use super::{S3Storage, keys};
use crate::names::RepoName;
use crate::storage::{Collection, Leftover, Result, StorageError};

impl S3Storage {
    /// Records that a push is about to reference `digests` (a manifest naming them, an
    /// upload or mount of them), so that a collection running now or later keeps them.
    /// Called *before* the push checks that they exist.
    pub(super) fn touch(&self, digests: &[Digest]) -> Result<()> {
        let store = self.store();
        let keys: Vec<_> = digests.iter().map(|d| self.key(&keys::touch(d))).collect();
        self.run(async move {
            all(keys.into_iter().map(|k| {
                let store = std::sync::Arc::clone(&store);
                async move { super::objects::put(&*store, &k, bytes::Bytes::new()).await }
            }))
            .await?;
            Ok(())
        })
    }

    /// When blob `digest` was last touched, if ever. `HEAD` answers in whole seconds:
    /// rounded up, so a touch never looks older than it is.
    fn touched(&self, digest: &Digest) -> Result<Option<SystemTime>> {
        Ok(self
            .head_object(&keys::touch(digest))?
            .map(|m| SystemTime::from(m.last_modified) + Duration::from_secs(1)))
    }

    /// Server-side copy of `from` to `to` (both relative to the prefix).
    fn copy_object(&self, from: &str, to: &str) -> Result<()> {
        let (store, from, to) = (self.store(), self.key(from), self.key(to));
        let f = from.clone();
        self.run(async move { store.copy(&f, &to).await })
            .map_err(|e| super::objects::failed("copy", &from, e))
    }

    pub(super) fn begin(&self) -> Box<dyn Collection + '_> {
        Box::new(S3Collection { storage: self })
    }

    /// Session pieces whose marker is gone (a removal or a start cut short), and touches
    /// of blobs that are gone, last modified before `before`.
    pub(super) fn leftovers(&self, before: SystemTime) -> Result<Vec<Leftover>> {
        let sessions = self.all_uploads()?;
        let live: std::collections::HashSet<&str> =
            sessions.iter().map(|u| u.id.as_str()).collect();
        let uploads = self.key(keys::UPLOADS);
        let mut found = Vec::new();
        for meta in self.list_sorted(keys::UPLOADS)? {
            let modified: SystemTime = meta.last_modified.into();
            let id = meta
                .location
                .prefix_match(&uploads)
                .and_then(|mut parts| parts.next());
            if let Some(id) = id
                && !live.contains(id.as_ref())
                && modified < before
            {
                found.push(self.leftover(&meta));
            }
        }
        let touches = self.key(&format!("{}touch", keys::GC));
        for meta in self.list_sorted(&format!("{}touch/", keys::GC))? {
            let modified: SystemTime = meta.last_modified.into();
            let digest = super::blobs::digest_at(&meta.location);
            if modified < before
                && meta.location.prefix_match(&touches).is_some()
                && let Some(digest) = digest
                && self.head_object(&keys::blob(&digest))?.is_none()
            {
                found.push(self.leftover(&meta));
            }
        }
        // Bytes a collector set aside and did not get to delete (it was killed).
        for meta in self.list_sorted(&format!("{}trash/", keys::GC))? {
            if SystemTime::from(meta.last_modified) < before {
                found.push(self.leftover(&meta));
            }
        }
        Ok(found)
    }

    fn leftover(&self, meta: &object_store::ObjectMeta) -> Leftover {
        let full = meta.location.as_ref();
        let rel = if self.config.prefix.is_empty() {
            full
        } else {
            &full[self.config.prefix.len() + 1..]
        };
        Leftover {
            path: rel.into(),
            size: meta.size,
        }
    }

    pub(super) fn remove_left(&self, leftover: &Leftover) -> Result<()> {
        let rel = leftover.path.to_str().unwrap_or_default();
        // Only what `leftovers` finds: nothing outside sessions and touches, no `..`.
        let ours =
            rel.starts_with(keys::UPLOADS) || rel.starts_with(&format!("{}touch/", keys::GC));
        if !ours || rel.split('/').any(|p| p.is_empty() || p == "..") {
            return Err(StorageError::Corrupt(format!(
                "`{rel}` is not a leftover of the S3 storage"
            )));
        }
        self.delete_object(rel).map(drop)
    }

    /// Streams blob `digest` through a hasher (an error of kind `NotFound` if it is gone).
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
        sum.map_err(|e| {
            let kind = match e {
                object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
                _ => std::io::ErrorKind::Other,
            };
            StorageError::io(
                format!("failed to read `{key}`"),
                std::io::Error::new(kind, e),
            )
        })
    }
}

/// A running collection. It holds nothing: see the module docs for why none is needed.
struct S3Collection<'a> {
    storage: &'a S3Storage,
}

impl Collection for S3Collection<'_> {
    fn remove_blob_if_unused(
        &mut self,
        digest: &Digest,
        unused_since: SystemTime,
        linked_in: &[RepoName],
    ) -> Result<bool> {
        let s = self.storage;
        let blob = keys::blob(digest);
        let Some(meta) = s.head_object(&blob)? else {
            return Ok(false);
        };
        // Whole seconds from `HEAD`, rounded up as in `touched`.
        if SystemTime::from(meta.last_modified) + Duration::from_secs(1) >= unused_since {
            return Ok(false);
        }
        let touched = |s: &S3Storage| -> Result<bool> {
            Ok(s.touched(digest)?.is_some_and(|t| t >= unused_since))
        };
        if touched(s)? {
            return Ok(false);
        }
        // A push may touch the blob and find it between that read and the delete: the
        // bytes are set aside first (a server-side copy), the touch is read once more
        // after the delete, and a push that came in between gets its blob back.
        let trash = keys::trash(digest);
        s.copy_object(&blob, &trash)?;
        s.delete_object(&blob)?;
        if touched(s)? {
            s.copy_object(&trash, &blob)?;
            s.delete_object(&trash)?;
            return Ok(false);
        }
        s.delete_object(&trash)?;
        let links = linked_in
            .iter()
            .map(|repo| s.key(&keys::blob_link(repo, digest)))
            .collect();
        s.delete_keys(links)?;
        Ok(true)
    }

    fn remove_dangling_links(&mut self, digest: &Digest, linked_in: &[RepoName]) -> Result<usize> {
        let s = self.storage;
        // A commit touches, then writes the blob, then the link: a link whose blob is
        // missing but whose touch is recent may be a commit half-way.
        let recent = SystemTime::now() - Duration::from_mins(10);
        if s.head_object(&keys::blob(digest))?.is_some()
            || s.touched(digest)?.is_some_and(|t| t >= recent)
        {
            return Ok(0);
        }
        let mut removed = 0;
        for repo in linked_in {
            if s.delete_object(&keys::blob_link(repo, digest))? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
