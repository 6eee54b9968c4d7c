//! Garbage collection and scrubbing, written against the [`Storage`] trait.
//!
//! [`collect`] is mark and sweep. Mark: every manifest linked in any repository, with the
//! blobs and child manifests it references. Sweep: every other blob is deleted with
//! [`Storage::remove_blob_if_unused`], which re-checks under the storage's lock that nobody
//! touched it since the collection started less the grace period. A push running at the
//! same time touches what it references under that lock, so it never loses a blob; blobs it
//! uploaded but has not referenced yet are kept by the grace period.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paks_types::Digest;
use serde::{Deserialize, Serialize};

use crate::names::RepoName;
use crate::storage::{Result, Storage, StorageError};

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Unreferenced blobs touched less than this long before the collection started are
    /// kept: a push may be about to reference them.
    pub grace: Duration,
    /// Upload sessions idle for longer than this are cancelled.
    pub upload_max_age: Duration,
    /// Count and list what would go, delete nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_hours(1),
            upload_max_age: Duration::from_hours(24),
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
    /// Unreferenced blobs kept because they were touched within the grace period.
    pub blobs_in_grace: usize,
    pub dry_run: bool,
}

/// Collects garbage: see the module docs. Fails, deleting nothing, if a linked manifest
/// cannot be parsed (its references are unknown, so nothing can safely be called garbage).
pub fn collect(storage: &dyn Storage, options: &GcOptions) -> Result<GcReport> {
    let started = SystemTime::now();
    let unused_since = started.checked_sub(options.grace).unwrap_or(UNIX_EPOCH);
    let mut report = GcReport {
        dry_run: options.dry_run,
        ..GcReport::default()
    };

    let mut marked = HashSet::new();
    for repo in storage.list_repositories()? {
        mark_repository(storage, &repo, &mut marked)?;
    }

    for blob in storage.list_blobs()? {
        if marked.contains(&blob.digest) {
            report.blobs_kept += 1;
        } else if blob.modified >= unused_since {
            report.blobs_in_grace += 1;
        } else if options.dry_run || storage.remove_blob_if_unused(&blob.digest, unused_since)? {
            report.bytes_freed += blob.size;
            report.blobs_deleted.push((blob.digest, blob.size));
        } else {
            // Touched since it was listed: a push is using it.
            report.blobs_in_grace += 1;
        }
    }

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
    Ok(report)
}

/// Marks every manifest linked in `repo` and everything it references.
fn mark_repository(
    storage: &dyn Storage,
    repo: &RepoName,
    marked: &mut HashSet<Digest>,
) -> Result<()> {
    for digest in storage.list_manifests(repo)? {
        // Deleted since it was listed: what it referenced may go.
        let Some(manifest) = storage.get_manifest(repo, &digest)? else {
            continue;
        };
        let parsed = ParsedManifest::parse(&manifest.bytes).map_err(|e| {
            StorageError::Corrupt(format!(
                "manifest `{digest}` in `{repo}` cannot be parsed ({e}); not collecting, since what it references is unknown"
            ))
        })?;
        marked.extend(parsed.references());
        marked.insert(digest);
    }
    Ok(())
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

    fn references(self) -> impl Iterator<Item = Digest> {
        let descriptors = self
            .config
            .into_iter()
            .chain(self.layers.into_iter().flatten())
            .chain(self.manifests.into_iter().flatten())
            .map(|d| d.digest);
        descriptors.chain(self.fs_layers.into_iter().flatten().map(|l| l.blob_sum))
    }
}

/// What a scrub found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    pub blobs_checked: usize,
    pub bytes_checked: u64,
    /// Blobs whose bytes do not hash to their name.
    pub corrupt: Vec<CorruptBlob>,
    /// Blobs that could not be read.
    pub unreadable: Vec<UnreadableBlob>,
}

impl ScrubReport {
    /// Whether every blob read back as its digest.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.unreadable.is_empty()
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

/// Re-hashes every blob and reports those whose bytes do not match their digest.
pub fn scrub(storage: &dyn Storage) -> Result<ScrubReport> {
    let mut report = ScrubReport::default();
    for blob in storage.list_blobs()? {
        match storage.rehash_blob(&blob.digest) {
            Ok(actual) => {
                report.blobs_checked += 1;
                report.bytes_checked += blob.size;
                if actual != blob.digest {
                    report.corrupt.push(CorruptBlob {
                        digest: blob.digest,
                        actual,
                    });
                }
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
    Ok(report)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Write as _;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::storage::{FsStorage, ManifestRefs, StoredManifest};

    const HOURS_AGO: Duration = Duration::from_hours(2);

    fn repo(name: &str) -> RepoName {
        RepoName::parse(name).unwrap()
    }

    fn blob(s: &FsStorage, r: &RepoName, bytes: &[u8]) -> Digest {
        let id = s.start_upload(r).unwrap();
        let mut w = s.upload_writer(r, &id).unwrap();
        w.write_all(bytes).unwrap();
        w.finish().unwrap();
        let d = Digest::sha256_of(bytes);
        s.commit_upload(r, &id, &d).unwrap();
        d
    }

    fn blob_path(s: &FsStorage, d: &Digest) -> PathBuf {
        let hex = d.hex();
        s.root()
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    fn age(path: &Path, by: Duration) {
        File::open(path)
            .unwrap()
            .set_modified(SystemTime::now() - by)
            .unwrap();
    }

    fn age_all_blobs(s: &FsStorage) {
        for b in s.list_blobs().unwrap() {
            age(&blob_path(s, &b.digest), HOURS_AGO);
        }
    }

    fn put(
        s: &FsStorage,
        r: &RepoName,
        json: &serde_json::Value,
        refs: &ManifestRefs,
        tag: Option<&str>,
    ) -> Digest {
        let m = StoredManifest {
            media_type: json["mediaType"]
                .as_str()
                .unwrap_or("application/json")
                .into(),
            bytes: serde_json::to_vec(json).unwrap(),
        };
        let d = Digest::sha256_of(&m.bytes);
        s.put_manifest(r, &d, &m, refs, tag).unwrap();
        d
    }

    fn image(
        s: &FsStorage,
        r: &RepoName,
        config: &Digest,
        layers: &[&Digest],
        tag: Option<&str>,
    ) -> Digest {
        let desc = |d: &Digest| serde_json::json!({"mediaType": "application/octet-stream", "digest": d.to_string(), "size": 1});
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc(config),
            "layers": layers.iter().map(|d| desc(d)).collect::<Vec<_>>(),
            "annotations": {"x": "y"},
        });
        let refs = ManifestRefs {
            blobs: std::iter::once(config)
                .chain(layers.iter().copied())
                .cloned()
                .collect(),
            ..ManifestRefs::default()
        };
        put(s, r, &json, &refs, tag)
    }

    /// A repository with a tagged image, plus an unreferenced blob, all old.
    struct Fixture {
        _dir: tempfile::TempDir,
        s: FsStorage,
        r: RepoName,
        kept: Vec<Digest>,
        orphan: Digest,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let r = repo("acme/app");
        let config = blob(&s, &r, b"{}");
        let layer = blob(&s, &r, b"layer bytes");
        let manifest = image(&s, &r, &config, &[&layer], Some("v1"));
        let orphan = blob(&s, &r, b"never referenced");
        age_all_blobs(&s);
        Fixture {
            _dir: dir,
            s,
            r,
            kept: vec![config, layer, manifest],
            orphan,
        }
    }

    #[test]
    fn referenced_blobs_stay_and_old_garbage_goes() {
        let f = fixture();
        let fresh = blob(&f.s, &f.r, b"just uploaded, manifest coming");
        let report = collect(&f.s, &GcOptions::default()).unwrap();
        assert_eq!(report.blobs_deleted, [(f.orphan.clone(), 16)]);
        assert_eq!(report.bytes_freed, 16);
        assert_eq!(report.blobs_kept, 3);
        assert_eq!(report.blobs_in_grace, 1);
        assert!(!report.dry_run);
        assert!(f.s.open_blob(&f.r, &f.orphan).unwrap().is_none());
        assert_eq!(f.s.blob_size(&f.r, &fresh).unwrap(), Some(30));
        for d in &f.kept {
            assert_eq!(f.s.rehash_blob(d).unwrap(), *d);
        }
        // A second run finds nothing more.
        let again = collect(&f.s, &GcOptions::default()).unwrap();
        assert!(again.blobs_deleted.is_empty());
        assert_eq!(again.blobs_kept, 3);
    }

    #[test]
    fn dry_run_deletes_nothing() {
        let f = fixture();
        let before = f.s.list_blobs().unwrap().len();
        let stale = f.s.start_upload(&f.r).unwrap();
        age(
            &f.s.root().join("uploads").join(&stale).join("data"),
            Duration::from_hours(48),
        );
        let options = GcOptions {
            dry_run: true,
            ..GcOptions::default()
        };
        let report = collect(&f.s, &options).unwrap();
        assert!(report.dry_run);
        assert_eq!(report.blobs_deleted, [(f.orphan.clone(), 16)]);
        assert_eq!(report.uploads_purged, 1);
        assert_eq!(f.s.list_blobs().unwrap().len(), before);
        assert_eq!(f.s.upload_size(&f.r, &stale).unwrap(), Some(0));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["blobs_deleted"][0][0], f.orphan.to_string());
    }

    #[test]
    fn stale_uploads_are_purged() {
        let f = fixture();
        let stale = f.s.start_upload(&f.r).unwrap();
        let active = f.s.start_upload(&f.r).unwrap();
        age(
            &f.s.root().join("uploads").join(&stale).join("data"),
            Duration::from_hours(48),
        );
        let report = collect(&f.s, &GcOptions::default()).unwrap();
        assert_eq!(report.uploads_purged, 1);
        assert_eq!(f.s.upload_size(&f.r, &stale).unwrap(), None);
        assert_eq!(f.s.upload_size(&f.r, &active).unwrap(), Some(0));
    }

    #[test]
    fn deleting_a_manifest_frees_what_only_it_referenced() {
        let f = fixture();
        let shared_layer = &f.kept[1];
        let other = repo("acme/other");
        f.s.mount_blob(&f.r, &other, &f.kept[0]).unwrap();
        f.s.mount_blob(&f.r, &other, shared_layer).unwrap();
        let own = blob(&f.s, &other, b"own layer");
        let doomed = image(&f.s, &other, &f.kept[0], &[shared_layer, &own], None);
        age_all_blobs(&f.s);
        assert!(f.s.delete_manifest(&other, &doomed).unwrap());
        let report = collect(&f.s, &GcOptions::default()).unwrap();
        let mut deleted: Vec<Digest> = report.blobs_deleted.into_iter().map(|(d, _)| d).collect();
        deleted.sort();
        let mut want = vec![f.orphan.clone(), own, doomed];
        want.sort();
        assert_eq!(deleted, want);
        assert_eq!(report.blobs_kept, 3);
        assert_eq!(f.s.rehash_blob(shared_layer).unwrap(), *shared_layer);
    }

    #[test]
    fn indexes_keep_their_children_and_referrers_keep_their_blobs() {
        let f = fixture();
        let child_config = blob(&f.s, &f.r, b"{\"arch\":\"arm64\"}");
        let child = image(&f.s, &f.r, &child_config, &[], None);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f.kept[2].to_string(), "size": 1},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child.to_string(), "size": 1},
            ],
        });
        let refs = ManifestRefs {
            manifests: vec![f.kept[2].clone(), child.clone()],
            ..ManifestRefs::default()
        };
        let index = put(&f.s, &f.r, &index, &refs, Some("multi"));
        age_all_blobs(&f.s);
        let report = collect(&f.s, &GcOptions::default()).unwrap();
        assert_eq!(report.blobs_deleted, [(f.orphan.clone(), 16)]);
        assert_eq!(report.blobs_kept, 6);
        for d in [&child_config, &child, &index] {
            assert_eq!(f.s.rehash_blob(d).unwrap(), *d);
        }
    }

    #[test]
    fn an_unparseable_manifest_stops_the_collection() {
        let f = fixture();
        let garbage = b"{ this is not json".to_vec();
        let d = Digest::sha256_of(&garbage);
        let m = StoredManifest {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            bytes: garbage,
        };
        f.s.put_manifest(&f.r, &d, &m, &ManifestRefs::default(), None)
            .unwrap();
        match collect(&f.s, &GcOptions::default()) {
            Err(StorageError::Corrupt(msg)) => assert!(msg.contains(&d.to_string()), "{msg}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            f.s.rehash_blob(&f.orphan).unwrap(),
            f.orphan,
            "nothing was deleted"
        );
    }

    #[test]
    fn scrub_finds_corrupt_and_unreadable_blobs() {
        let f = fixture();
        let clean = scrub(&f.s).unwrap();
        assert!(clean.is_clean(), "{clean:?}");
        assert_eq!(clean.blobs_checked, 4);

        let layer = &f.kept[1];
        std::fs::write(blob_path(&f.s, layer), b"flipped bits").unwrap();
        let unreadable = &f.orphan;
        let path = blob_path(&f.s, unreadable);
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();

        let report = scrub(&f.s).unwrap();
        assert!(!report.is_clean());
        assert_eq!(report.corrupt.len(), 1);
        assert_eq!(report.corrupt[0].digest, *layer);
        assert_eq!(report.corrupt[0].actual, Digest::sha256_of(b"flipped bits"));
        assert_eq!(report.unreadable.len(), 1);
        assert_eq!(report.unreadable[0].digest, *unreadable);
        assert!(
            report.unreadable[0]
                .error
                .contains(&path.display().to_string()),
            "{:?}",
            report.unreadable
        );
        assert_eq!(report.blobs_checked, 3);
    }
}
