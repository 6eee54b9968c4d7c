//! Scrubbing: re-hash every blob, and check every link (a manifest's bytes exist and
//! everything it references resolves in its repository; tags point at linked manifests;
//! blob links have their bytes).

use std::collections::HashSet;

use paks_types::{Digest, error_chain};
use serde::Serialize;

use super::{Damage, ParsedManifest, RefKind, damage_text};
use crate::names::RepoName;
use crate::storage::{Result, Storage, StorageError};

/// What a scrub found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    pub blobs_checked: usize,
    pub bytes_checked: u64,
    /// Blobs whose bytes do not hash to their name.
    pub corrupt: Vec<CorruptBlob>,
    /// Blobs that could not be read.
    pub unreadable: Vec<UnreadableBlob>,
    /// Manifests checked for their links.
    pub manifests_checked: usize,
    /// Broken links: manifests without bytes, references that do not resolve, tags that
    /// point nowhere, blob links without bytes.
    pub damaged: Vec<Damage>,
}

impl ScrubReport {
    /// Whether every blob read back as its digest and every link resolved.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.unreadable.is_empty() && self.damaged.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CorruptBlob {
    pub digest: Digest,
    /// The digest of the bytes actually stored.
    pub actual: Digest,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnreadableBlob {
    pub digest: Digest,
    /// The error, with its causes.
    pub error: String,
}

/// Re-hashes every blob and checks every link; see the module docs.
pub fn scrub(storage: &dyn Storage) -> Result<ScrubReport> {
    let mut report = ScrubReport::default();
    let mut present = HashSet::new();
    for blob in storage.list_blobs()? {
        match storage.rehash_blob(&blob.digest) {
            Ok(actual) => {
                report.blobs_checked += 1;
                report.bytes_checked += blob.size;
                if actual != blob.digest {
                    report.corrupt.push(CorruptBlob {
                        digest: blob.digest.clone(),
                        actual,
                    });
                }
                present.insert(blob.digest);
            }
            // Collected since it was listed.
            Err(StorageError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => report.unreadable.push(UnreadableBlob {
                digest: blob.digest,
                error: error_chain(&e),
            }),
        }
    }
    for repo in storage.list_repositories()? {
        check_links(storage, &repo, &present, &mut report)?;
    }
    Ok(report)
}

fn check_links(
    storage: &dyn Storage,
    repo: &RepoName,
    present: &HashSet<Digest>,
    report: &mut ScrubReport,
) -> Result<()> {
    let damaged = &mut report.damaged;
    let mut push = |problem: String| damaged.push(Damage::new(repo, problem));
    let manifests: HashSet<Digest> = storage.list_manifests(repo)?.into_iter().collect();
    let mut sorted: Vec<&Digest> = manifests.iter().collect();
    sorted.sort();
    for digest in sorted {
        let manifest = match storage.get_manifest(repo, digest) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => {
                push(damage_text(&e));
                continue;
            }
        };
        report.manifests_checked += 1;
        let parsed = match ParsedManifest::parse(&manifest.bytes) {
            Ok(p) => p,
            Err(e) => {
                push(format!("manifest `{digest}` cannot be parsed: {e}"));
                continue;
            }
        };
        for (reference, kind) in parsed.references() {
            let broken = match kind {
                RefKind::Foreign => None,
                RefKind::Blob => match storage.open_blob(repo, &reference)? {
                    Some(_) => None,
                    None if present.contains(&reference) => Some("is not linked in the repository"),
                    None => Some("is missing"),
                },
                RefKind::Manifest => (!manifests.contains(&reference)
                    && storage.get_manifest(repo, &reference)?.is_none())
                .then_some("is not linked in the repository"),
            };
            if let Some(why) = broken {
                push(format!(
                    "manifest `{digest}` references `{reference}`, which {why}"
                ));
            }
        }
    }
    for tag in storage.list_tags(repo)?.unwrap_or_default() {
        match storage.resolve_tag(repo, &tag) {
            // Re-checked: the tag may have moved to a manifest pushed since the listing.
            Ok(Some(d)) if !manifests.contains(&d) && storage.get_manifest(repo, &d)?.is_none() => {
                push(format!(
                    "tag `{tag}` points at manifest `{d}`, which is not linked in the repository"
                ));
            }
            Ok(_) => {}
            Err(e) => push(damage_text(&e)),
        }
    }
    for digest in storage.list_linked_blobs(repo)? {
        // Re-checked: uploaded since the listing.
        if !present.contains(&digest) && storage.open_blob(repo, &digest)?.is_none() {
            push(format!(
                "blob `{digest}` is linked but its bytes are missing"
            ));
        }
    }
    Ok(())
}
