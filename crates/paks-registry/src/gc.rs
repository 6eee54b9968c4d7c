//! Garbage collection and scrubbing, written against the [`Storage`] trait.
//!
//! [`collect`] is mark and sweep, made safe beside live pushes by the storage's collection
//! barrier ([`Storage::begin_collection`]): a push that finished before the barrier has its
//! manifest listed by the mark; a push after it records (pins) what it needs, and
//! [`Collection::remove_blob_if_unused`] re-reads those pins under the storage's exclusive
//! lock before it deletes anything. The grace period is only an optimisation: it spares
//! blobs uploaded but not referenced yet, so that a slow client's next manifest finds them.
//!
//! Damage (a linked manifest whose bytes are gone or unreadable) does not stop a collection:
//! it is reported, and every blob linked in that repository is kept, since what the damaged
//! manifest referenced is unknown.

mod scrub;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paks_types::Digest;
use serde::{Deserialize, Serialize};

pub use scrub::{CorruptBlob, ScrubReport, UnreadableBlob, scrub};

use crate::names::RepoName;
use crate::storage::{Leftover, Result, Storage, StorageError};

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Unreferenced blobs touched less than this long before the collection started are
    /// kept: a push may be about to reference them.
    pub grace: Duration,
    /// Upload sessions idle for longer than this are cancelled.
    pub upload_max_age: Duration,
    /// Temporary files and broken session directories untouched for this long are
    /// removed: their writer is gone (no write takes anywhere near this long).
    pub leftover_max_age: Duration,
    /// Count and list what would go, delete nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_hours(1),
            upload_max_age: Duration::from_hours(24),
            leftover_max_age: Duration::from_hours(1),
            dry_run: false,
        }
    }
}

/// What a collection did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// Blobs referenced by a manifest (manifests included).
    pub blobs_kept: usize,
    /// Unreferenced blobs deleted, with their sizes.
    pub blobs_deleted: Vec<(Digest, u64)>,
    pub bytes_freed: u64,
    /// Stale upload sessions cancelled.
    pub uploads_purged: usize,
    /// Unreferenced blobs kept because they were touched within the grace period, or
    /// because a push needed them while the collection ran.
    pub blobs_in_grace: usize,
    /// Repository links to blobs whose bytes were already gone, removed.
    pub links_removed: usize,
    /// What killed writers left behind, removed.
    pub leftovers_removed: Vec<Leftover>,
    /// Damage found while marking; the repositories named keep all their blobs.
    pub damaged: Vec<Damage>,
    pub dry_run: bool,
}

/// Something wrong in the stored data, by repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    pub repo: String,
    /// What is wrong, naming the digest or tag.
    pub problem: String,
}

impl Damage {
    fn new(repo: &RepoName, problem: String) -> Self {
        Self {
            repo: repo.to_string(),
            problem,
        }
    }
}

/// Collects garbage: see the module docs.
pub fn collect(storage: &dyn Storage, options: &GcOptions) -> Result<GcReport> {
    let mut collection = storage.begin_collection()?;
    let started = SystemTime::now();
    let unused_since = started.checked_sub(options.grace).unwrap_or(UNIX_EPOCH);
    let mut report = GcReport {
        dry_run: options.dry_run,
        ..GcReport::default()
    };

    let mut marked = HashSet::new();
    let mut links: HashMap<Digest, Vec<RepoName>> = HashMap::new();
    for repo in storage.list_repositories()? {
        let linked = storage.list_linked_blobs(&repo)?;
        let damage_before = report.damaged.len();
        mark_repository(storage, &repo, &mut marked, &mut report.damaged)?;
        if report.damaged.len() > damage_before {
            marked.extend(linked.iter().cloned());
        }
        for digest in linked {
            links.entry(digest).or_default().push(repo.clone());
        }
    }

    let blobs = storage.list_blobs()?;
    let present: HashSet<Digest> = blobs.iter().map(|b| b.digest.clone()).collect();
    for blob in blobs {
        let linked_in = links.get(&blob.digest).map_or(&[][..], Vec::as_slice);
        if marked.contains(&blob.digest) {
            report.blobs_kept += 1;
        } else if blob.modified >= unused_since {
            report.blobs_in_grace += 1;
        } else if options.dry_run
            || collection.remove_blob_if_unused(&blob.digest, unused_since, linked_in)?
        {
            report.bytes_freed += blob.size;
            report.blobs_deleted.push((blob.digest, blob.size));
        } else {
            // Touched or pinned since it was listed: a push is using it.
            report.blobs_in_grace += 1;
        }
    }
    if !options.dry_run {
        for (digest, repos) in &links {
            if !present.contains(digest) {
                report.links_removed += collection.remove_dangling_links(digest, repos)?;
            }
        }
    }
    drop(collection);

    let stale_before = started
        .checked_sub(options.upload_max_age)
        .unwrap_or(UNIX_EPOCH);
    for upload in storage.list_uploads()? {
        if upload.modified < stale_before
            && (options.dry_run || storage.cancel_upload(&upload.repo, &upload.id)?)
        {
            report.uploads_purged += 1;
        }
    }
    let leftovers_before = started
        .checked_sub(options.leftover_max_age)
        .unwrap_or(UNIX_EPOCH);
    for leftover in storage.find_leftovers(leftovers_before)? {
        if !options.dry_run {
            storage.remove_leftover(&leftover)?;
        }
        report.leftovers_removed.push(leftover);
    }
    Ok(report)
}

/// Marks every manifest linked in `repo` and everything it references; records damage.
fn mark_repository(
    storage: &dyn Storage,
    repo: &RepoName,
    marked: &mut HashSet<Digest>,
    damaged: &mut Vec<Damage>,
) -> Result<()> {
    for digest in storage.list_manifests(repo)? {
        let manifest = match storage.get_manifest(repo, &digest) {
            Ok(Some(m)) => m,
            // Deleted since it was listed: what it referenced may go.
            Ok(None) => continue,
            Err(e) => {
                damaged.push(Damage::new(repo, damage_text(&e)));
                continue;
            }
        };
        // Marked even when damaged, so a re-push of the same bytes can repair it.
        marked.insert(digest.clone());
        match ParsedManifest::parse(&manifest.bytes) {
            Ok(parsed) => marked.extend(parsed.references().map(|(d, _)| d)),
            Err(e) => damaged.push(Damage::new(
                repo,
                format!("manifest `{digest}` cannot be parsed: {e}"),
            )),
        }
    }
    Ok(())
}

/// What a manifest references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    /// A config or layer that lives in this registry.
    Blob,
    /// A non-distributable layer (with `urls`): it may live elsewhere.
    Foreign,
    /// A child of an index.
    Manifest,
}

/// The parts of an image manifest, an index, or a Docker manifest (list) that reference
/// other content. `subject` is deliberately absent: a referrer does not keep its subject.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParsedManifest {
    config: Option<ParsedDescriptor>,
    layers: Option<Vec<ParsedDescriptor>>,
    manifests: Option<Vec<ParsedDescriptor>>,
    /// Docker schema 1.
    fs_layers: Option<Vec<Schema1Layer>>,
}

#[derive(Deserialize)]
struct ParsedDescriptor {
    digest: Digest,
    #[serde(default)]
    urls: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schema1Layer {
    blob_sum: Digest,
}

impl ParsedManifest {
    fn parse(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }

    fn references(self) -> impl Iterator<Item = (Digest, RefKind)> {
        let blob = |d: ParsedDescriptor| {
            let kind = if d.urls.is_empty() {
                RefKind::Blob
            } else {
                RefKind::Foreign
            };
            (d.digest, kind)
        };
        self.config
            .into_iter()
            .chain(self.layers.into_iter().flatten())
            .map(blob)
            .chain(
                self.manifests
                    .into_iter()
                    .flatten()
                    .map(|d| (d.digest, RefKind::Manifest)),
            )
            .chain(
                self.fs_layers
                    .into_iter()
                    .flatten()
                    .map(|l| (l.blob_sum, RefKind::Blob)),
            )
    }
}

/// What is wrong, for a damage report (which already says it is damage).
fn damage_text(e: &StorageError) -> String {
    match e {
        StorageError::Corrupt(what) => what.clone(),
        other => paks_types::error_chain(other),
    }
}
