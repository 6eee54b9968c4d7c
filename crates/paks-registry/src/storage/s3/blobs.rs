//! Blobs and repository links: sizes, ranged reads, mounts, unlinks, and the listings that
//! garbage collection and the catalogue walk.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectMeta;
use object_store::path::Path as ObjectPath;
use paks_types::Digest;

use super::objects::{all, children, head};
use super::reader::RangeReader;
use super::{S3Storage, key_in, keys};
use crate::names::RepoName;
use crate::storage::{BlobInfo, BlobReader, Result};

/// The digest of an object stored as `…/<alg>/<hex>` (a blob or a link).
pub(super) fn digest_at(path: &ObjectPath) -> Option<Digest> {
    let parts: Vec<_> = path.parts().collect();
    let [.., alg, hex] = parts.as_slice() else {
        return None;
    };
    format!("{}:{}", alg.as_ref(), hex.as_ref()).parse().ok()
}

impl S3Storage {
    /// The metadata of blob `digest` if `link` exists and so does the blob.
    pub(super) fn linked_blob(&self, link: &str, digest: &Digest) -> Result<Option<ObjectMeta>> {
        let store = self.store();
        let (link, blob) = (self.key(link), self.key(&keys::blob(digest)));
        self.run(async move {
            let (link, blob) =
                futures_util::future::try_join(head(&*store, &link), head(&*store, &blob)).await?;
            Ok(link.and(blob))
        })
    }

    pub(super) fn blob_size_in(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        self.touch(std::slice::from_ref(digest))?;
        Ok(self
            .linked_blob(&keys::blob_link(repo, digest), digest)?
            .map(|m| m.size))
    }

    pub(super) fn open_blob_in(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<BlobReader>> {
        let Some(meta) = self.linked_blob(&keys::blob_link(repo, digest), digest)? else {
            return Ok(None);
        };
        let reader = RangeReader {
            store: self.store(),
            runtime: self.handle(),
            key: meta.location,
            size: meta.size,
            pos: 0,
            piece: Bytes::new(),
            piece_start: 0,
        };
        Ok(Some(BlobReader {
            reader: Box::new(reader),
            size: meta.size,
        }))
    }

    pub(super) fn mount(
        &self,
        from: &RepoName,
        to: &RepoName,
        digest: &Digest,
    ) -> Result<Option<u64>> {
        // Touched before the check, so a collection running now keeps what we find.
        self.touch(std::slice::from_ref(digest))?;
        let Some(meta) = self.linked_blob(&keys::blob_link(from, digest), digest)? else {
            return Ok(None);
        };
        self.put_object(&keys::blob_link(to, digest), Bytes::new())?;
        Ok(Some(meta.size))
    }

    /// The digests of the links under `rel` (`repos/<repo>/_blobs/` or `_manifests/`), sorted.
    pub(super) fn links_under(&self, rel: &str) -> Result<Vec<Digest>> {
        let mut out: Vec<Digest> = self
            .list_objects(rel)?
            .iter()
            .filter_map(|m| digest_at(&m.location))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    pub(super) fn all_blobs(&self) -> Result<Vec<BlobInfo>> {
        let mut out: Vec<BlobInfo> = self
            .list_objects(keys::BLOBS)?
            .into_iter()
            .filter_map(|m| {
                Some(BlobInfo {
                    digest: digest_at(&m.location)?,
                    size: m.size,
                    modified: m.last_modified.into(),
                })
            })
            .collect();
        out.sort_unstable_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Walks `repos/` one level at a time with delimiter listings (a repository's own
    /// objects are never listed): a name is a repository when it has `_manifests/` or
    /// `_blobs/`; every child not starting with `_` is a further name to look at.
    pub(super) fn repositories(&self) -> Result<Vec<RepoName>> {
        let (store, prefix) = (self.store(), self.config.prefix.clone());
        self.run(async move {
            let mut out = BTreeSet::new();
            let mut level = vec![String::new()];
            while !level.is_empty() {
                let listed = all(level.clone().into_iter().map(|name| {
                    let key = key_in(&prefix, &format!("{}{name}", keys::REPOS));
                    let store = Arc::clone(&store);
                    async move { children(&*store, &key).await }
                }))
                .await?;
                let mut next = Vec::new();
                for (name, kids) in level.iter().zip(listed) {
                    let is_repo = kids.iter().any(|k| k == "_manifests" || k == "_blobs");
                    if is_repo && let Ok(repo) = RepoName::parse(name) {
                        out.insert(repo);
                    }
                    next.extend(kids.into_iter().filter(|k| !k.starts_with('_')).map(|k| {
                        if name.is_empty() {
                            k
                        } else {
                            format!("{name}/{k}")
                        }
                    }));
                }
                level = next;
            }
            Ok(out.into_iter().collect())
        })
    }
}
