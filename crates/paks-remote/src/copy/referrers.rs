//! The referrers of what a copy moves: found in the source (registry or layout), and
//! listed in the destination.

use std::collections::BTreeSet;

use paks_oci::layout::Layout;
use paks_oci::{ImageManifest, Manifest, Repository};
use paks_types::Digest;

use super::{Node, Source};
use crate::{Remote, RemoteError, RemoteErrorKind, by_digest};

impl Remote<'_> {
    /// Appends the referrers of every node (and theirs, breadth first, so that a subject
    /// is always copied before what refers to it).
    pub(super) async fn collect_registry_referrers(
        &self,
        nodes: &mut Vec<Node>,
        seen: &mut BTreeSet<Digest>,
    ) -> Result<(), RemoteError> {
        let mut next = 0;
        while next < nodes.len() {
            let Source::Registry(repo) = nodes[next].source.clone() else {
                unreachable!("nodes collected from a registry come from it")
            };
            let repo_name = nodes[next].repo_name.clone();
            let subject = nodes[next].digest.clone();
            next += 1;
            for found in self.client.referrers(&repo, &subject, None).await? {
                if !seen.insert(found.digest.clone()) {
                    continue;
                }
                let here = by_digest(&repo, &found.digest);
                let manifest = self.client.get_manifest(&here).await?;
                let blobs = referrer_blobs(&manifest.bytes, &here.to_string())?;
                nodes.push(Node {
                    source: Source::Registry(repo.clone()),
                    repo_name: repo_name.clone(),
                    digest: manifest.digest,
                    media_type: manifest.media_type,
                    bytes: manifest.bytes,
                    tags: vec![],
                    blobs,
                    package: false,
                    subject: Some(subject.clone()),
                });
            }
        }
        Ok(())
    }

    /// Makes sure the registry lists `referrer` among the referrers of `subject`: a
    /// registry with the referrers API does so when the manifest is put; for one without
    /// (distribution 2.8), it is added to the `sha256-<hex>` tag's index. Checking the
    /// list (rather than the `OCI-Subject` header) also mends a fallback index that lost
    /// the entry, and adds nothing twice.
    pub(super) async fn list_referrer(
        &self,
        repo: &Repository,
        subject: &Digest,
        referrer: &Manifest,
    ) -> Result<(), RemoteError> {
        let listed = self.client.referrers(repo, subject, None).await?;
        if listed.iter().any(|d| d.digest == referrer.digest) {
            return Ok(());
        }
        let descriptor = referrer.referrer_descriptor().map_err(|e| {
            RemoteError::from(RemoteErrorKind::NotAPackage {
                reference: by_digest(repo, &referrer.digest).to_string(),
                reason: format!("its manifest does not parse: {e}"),
            })
        })?;
        self.client
            .add_referrer_fallback(repo, subject, descriptor)
            .await?;
        Ok(())
    }
}

/// The blobs of a referrer's manifest (an image manifest: config and layers).
fn referrer_blobs(bytes: &[u8], reference: &str) -> Result<Vec<(Digest, u64)>, RemoteError> {
    let parsed: ImageManifest = serde_json::from_slice(bytes).map_err(|e| {
        RemoteError::from(RemoteErrorKind::NotAPackage {
            reference: reference.to_owned(),
            reason: format!("its referrer manifest does not parse: {e}"),
        })
    })?;
    Ok(super::blobs_of(&parsed))
}

/// Appends the referrers that `layout` holds for every node, breadth first (a subject
/// before what refers to it).
pub(super) fn collect_layout_referrers(
    layout: &Layout,
    nodes: &mut Vec<Node>,
) -> Result<(), RemoteError> {
    let mut seen: BTreeSet<Digest> = nodes.iter().map(|n| n.digest.clone()).collect();
    let mut next = 0;
    while next < nodes.len() {
        let subject = nodes[next].digest.clone();
        let repo_name = nodes[next].repo_name.clone();
        next += 1;
        for found in layout.referrers(&subject)? {
            if !seen.insert(found.digest.clone()) {
                continue;
            }
            let bytes = layout.read_blob(&found.digest)?;
            let blobs = referrer_blobs(&bytes, &found.digest.to_string())?;
            nodes.push(Node {
                source: Source::Layout,
                repo_name: repo_name.clone(),
                digest: found.digest,
                media_type: found.media_type,
                bytes,
                tags: vec![],
                blobs,
                package: false,
                subject: Some(subject.clone()),
            });
        }
    }
    Ok(())
}
