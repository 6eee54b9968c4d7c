//! Manifests, tags and referrers. A push writes, in this order, the manifest's bytes (as a
//! blob), its link in the repository (holding the media type), its referrer entry, then its
//! tags: a reader that finds a tag always finds the manifest it names.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use paks_types::Digest;

use super::conditional::{parse_tag, write_tag_if};
use super::objects::{all, delete, get, head, put};
use super::{S3Storage, keys};
use crate::names::{RepoName, valid_tag};
use crate::storage::fs::files::{digest_of, subject_of};
use crate::storage::{
    Descriptor, ManifestRefs, Result, StorageError, StoredManifest, TagCondition, TagWrite,
};

/// Refuses a tag outside the grammar (which keeps it one key segment, never `.` or `..`).
fn checked_tag(tag: &str) -> Result<&str> {
    if valid_tag(tag) {
        Ok(tag)
    } else {
        Err(StorageError::io(
            format!("`{tag}` is not a valid tag"),
            std::io::ErrorKind::InvalidInput.into(),
        ))
    }
}

impl S3Storage {
    pub(super) fn manifest_in(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>> {
        let store = self.store();
        let (link, blob) = (
            self.key(&keys::manifest_link(repo, digest)),
            self.key(&keys::blob(digest)),
        );
        let (media_type, bytes) =
            self.run({
                let (store, link) = (Arc::clone(&store), link.clone());
                async move {
                    futures_util::future::try_join(get(&*store, &link), get(&*store, &blob)).await
                }
            })?;
        let Some(media_type) = media_type else {
            return Ok(None);
        };
        let media_type = String::from_utf8(media_type.to_vec()).map_err(|_| {
            StorageError::Corrupt(format!("manifest link `{link}` does not hold a media type"))
        })?;
        match bytes {
            Some(bytes) => Ok(Some(StoredManifest {
                media_type,
                bytes: bytes.to_vec(),
            })),
            // Unlinked and collected while we read: gone, not damaged.
            None if self
                .run(async move { head(&*store, &link).await })?
                .is_none() =>
            {
                Ok(None)
            }
            None => Err(StorageError::Corrupt(format!(
                "manifest `{digest}` is linked in `{repo}` but its blob `{}` is missing",
                self.key(&keys::blob(digest))
            ))),
        }
    }

    /// Checks that every ref is linked in `repo` and its bytes exist, and that the declared
    /// sizes match.
    fn check_refs(&self, repo: &RepoName, refs: &ManifestRefs) -> Result<()> {
        let checks: Vec<_> = refs
            .blobs
            .iter()
            .map(|d| (d.clone(), self.key(&keys::blob_link(repo, d)), false))
            .chain(
                refs.manifests
                    .iter()
                    .map(|d| (d.clone(), self.key(&keys::manifest_link(repo, d)), true)),
            )
            .map(|(d, link, manifest)| (self.key(&keys::blob(&d)), d, link, manifest))
            .collect();
        let store = self.store();
        let sizes: HashMap<Digest, u64> = self
            .run(async move {
                all(checks.into_iter().map(|(blob, digest, link, manifest)| {
                    let store = Arc::clone(&store);
                    async move {
                        let (link, blob) = futures_util::future::try_join(
                            head(&*store, &link),
                            head(&*store, &blob),
                        )
                        .await?;
                        match (link, blob) {
                            (Some(_), Some(meta)) => Ok((digest, meta.size)),
                            _ if manifest => Err(StorageError::ManifestUnknown(digest)),
                            _ => Err(StorageError::BlobUnknown(digest)),
                        }
                    }
                }))
                .await
            })?
            .into_iter()
            .collect();
        for (digest, declared) in &refs.sizes {
            // Content is immutable by digest: a size checked now stays true.
            let actual = match sizes.get(digest) {
                Some(size) => *size,
                None => {
                    self.head_object(&keys::blob(digest))?
                        .ok_or_else(|| StorageError::BlobUnknown(digest.clone()))?
                        .size
                }
            };
            if actual != *declared {
                return Err(StorageError::SizeMismatch {
                    digest: digest.clone(),
                    declared: *declared,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Stores the manifest, its link and its referrer entry (no tags).
    fn store_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
    ) -> Result<()> {
        let actual = digest_of(digest.algorithm(), &manifest.bytes);
        if actual != *digest {
            return Err(StorageError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        // Touched before the checks: a collection running now keeps what they find.
        let touched: Vec<Digest> = refs
            .blobs
            .iter()
            .chain(&refs.manifests)
            .chain(std::iter::once(digest))
            .cloned()
            .collect();
        self.touch(&touched)?;
        self.check_refs(repo, refs)?;
        self.put_object(&keys::blob(digest), manifest.bytes.clone())?;
        self.put_object(
            &keys::manifest_link(repo, digest),
            manifest.media_type.clone(),
        )?;
        if let Some((subject, descriptor)) = &refs.subject {
            let rel = keys::referrer(repo, subject, digest);
            let json = serde_json::to_vec(descriptor)
                .map_err(|e| StorageError::io(format!("failed to encode `{rel}`"), e.into()))?;
            self.put_object(&rel, json)?;
        }
        Ok(())
    }

    pub(super) fn put_manifest_in(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tags: &[&str],
    ) -> Result<()> {
        let tag_keys = tags
            .iter()
            .map(|t| Ok(self.key(&keys::tag(repo, checked_tag(t)?))))
            .collect::<Result<Vec<_>>>()?;
        self.store_manifest(repo, digest, manifest, refs)?;
        // Last: a tag is only ever seen after the manifest it names.
        let (store, text) = (self.store(), Bytes::from(digest.to_string()));
        self.run(async move {
            all(tag_keys.into_iter().map(|key| {
                let (store, text) = (Arc::clone(&store), text.clone());
                async move { put(&*store, &key, text).await }
            }))
            .await
            .map(drop)
        })
    }

    /// [`crate::storage::Storage::put_manifest_if`] by compare-and-swap (only on a store
    /// that honours conditional puts).
    pub(super) fn put_manifest_swapping(
        &self,
        repo: &RepoName,
        digest: &Digest,
        manifest: &StoredManifest,
        refs: &ManifestRefs,
        tag: &str,
        condition: &TagCondition,
    ) -> Result<TagWrite> {
        let key = self.key(&keys::tag(repo, checked_tag(tag)?));
        self.store_manifest(repo, digest, manifest, refs)?;
        let (store, condition, digest) = (self.store(), condition.clone(), digest.clone());
        self.run(async move { write_tag_if(&*store, &key, &condition, &digest).await })
    }

    pub(super) fn tag_in(&self, repo: &RepoName, tag: &str) -> Result<Option<Digest>> {
        let key = self.key(&keys::tag(repo, checked_tag(tag)?));
        let store = self.store();
        match self.run({
            let key = key.clone();
            async move { get(&*store, &key).await }
        })? {
            Some(bytes) => parse_tag(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn tags_in(&self, repo: &RepoName) -> Result<Option<Vec<String>>> {
        let kids = self.list_children(&keys::repo(repo))?;
        if !kids
            .iter()
            .any(|k| matches!(k.as_str(), "_manifests" | "_blobs" | "_tags"))
        {
            return Ok(None);
        }
        let mut tags: Vec<String> = self
            .list_objects(&keys::tags(repo))?
            .iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .filter(|t| valid_tag(t))
            .collect();
        tags.sort_unstable();
        Ok(Some(tags))
    }

    pub(super) fn delete_manifest_in(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let link = keys::manifest_link(repo, digest);
        if self.head_object(&link)?.is_none() {
            return Ok(false);
        }
        let subject = self
            .get_object(&keys::blob(digest))?
            .and_then(|bytes| subject_of(&bytes));
        if !self.delete_object(&link)? {
            return Ok(false);
        }
        // The tags naming it, and its referrer entry (under its subject if known, else
        // wherever it is).
        let wanted = digest.clone();
        let tags = self.list_objects(&keys::tags(repo))?;
        let referrers = if let Some(subject) = &subject {
            vec![self.key(&keys::referrer(repo, subject, digest))]
        } else {
            let name = keys::referrer_name(digest);
            self.list_objects(&keys::all_referrers(repo))?
                .into_iter()
                .map(|m| m.location)
                .filter(|l| l.filename() == Some(name.as_str()))
                .collect()
        };
        let store = self.store();
        self.run(async move {
            all(tags.into_iter().map(|meta| {
                let (store, wanted) = (Arc::clone(&store), wanted.clone());
                async move {
                    let named = get(&*store, &meta.location).await?;
                    if named.is_some_and(|b| parse_tag(&meta.location, &b).ok() == Some(wanted)) {
                        delete(&*store, &meta.location).await?;
                    }
                    Ok(())
                }
            }))
            .await?;
            all(referrers.into_iter().map(|key| {
                let store = Arc::clone(&store);
                async move { delete(&*store, &key).await }
            }))
            .await
        })?;
        Ok(true)
    }

    pub(super) fn delete_tag_in(&self, repo: &RepoName, tag: &str) -> Result<bool> {
        self.delete_object(&keys::tag(repo, checked_tag(tag)?))
    }

    pub(super) fn referrers_of(
        &self,
        repo: &RepoName,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>> {
        let mut entries: Vec<_> = self
            .list_objects(&keys::referrers(repo, subject))?
            .into_iter()
            .map(|m| m.location)
            // The entries' names are ours: `<alg>-<hex>.json`, lower case.
            .filter(|l| {
                l.filename()
                    .is_some_and(|n| std::path::Path::new(n).extension() == Some("json".as_ref()))
            })
            .collect();
        entries.sort_unstable();
        let store = self.store();
        let found = self.run(async move {
            all(entries.into_iter().map(|key| {
                let store = Arc::clone(&store);
                async move { Ok((get(&*store, &key).await?, key)) }
            }))
            .await
        })?;
        found
            .into_iter()
            // Removed by a concurrent delete: skipped.
            .filter_map(|(bytes, key)| bytes.map(|b| (b, key)))
            .map(|(bytes, key)| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    StorageError::Corrupt(format!(
                        "referrer entry `{key}` is not a descriptor: {e}"
                    ))
                })
            })
            .collect()
    }
}
