//! The referrers tag fallback (distribution spec v1.1, "Referrers Tag Schema"): for
//! registries without the referrers API, the referrers of a manifest are listed in an
//! image index tagged `sha256-<hex>`, which clients read, extend and write back.
//!
//! Two writers doing that at once can lose each other's entries. So each write is
//! conditional (`If-None-Match: *` to create the tag, `If-Match: "<digest>"` to replace
//! it): a registry that honours the condition (`paks serve`) answers 412 to the writer
//! that read a stale index, which reads again and retries. A registry that ignores the
//! condition (distribution 2.8) overwrites; for it the writer waits a moment after its
//! write (longer than a concurrent writer's read-to-write step usually takes), reads the
//! tag again, and writes its entry again while it is missing. That narrows the race; it
//! cannot close it (see `docs/trust.md`). distribution also answers 500 to a read or write
//! of a tag that another request is writing; that is taken as a lost round too.

use std::time::Duration;

use paks_types::Digest;

use super::Client;
use super::manifests::TagCondition;
use crate::error::{ErrorKind, OciError};
use crate::reference::{Repository, referrers_tag};
use crate::types::{Descriptor, OCI_INDEX};

/// Reads of the tag (each maybe followed by a write) before giving up.
const ROUNDS: u32 = 40;
/// The least wait after a write before checking that the entry stayed.
const SETTLE: Duration = Duration::from_millis(150);

/// A random wait in `[SETTLE, 2 × SETTLE)`, so writers that collided spread out.
fn settle() -> Duration {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
    SETTLE + SETTLE.mul_f64(f64::from(u32::try_from(random % 1000).expect("< 1000")) / 1000.0)
}

impl Client {
    /// Add `descriptor` to the referrers of `subject` kept in the `sha256-<hex>` tag's
    /// index, for registries without the referrers API. Other content of the index is
    /// kept; an entry already there (by digest) is not added twice. Conditional writes
    /// and a check after each write keep concurrent writers from losing each other's
    /// entries (fully where the registry honours `If-Match`; see the module docs).
    pub async fn add_referrer_fallback(
        &self,
        repo: &Repository,
        subject: &Digest,
        descriptor: Descriptor,
    ) -> Result<(), OciError> {
        let tag = repo.reference_tag(&referrers_tag(subject));
        let what = format!("failed to add referrer `{}` to `{tag}`", descriptor.digest);
        let entry = serde_json::to_value(&descriptor).expect("a descriptor serialises");
        let digest = descriptor.digest.to_string();
        // Whether the entry was seen after a write and a wait.
        let mut checked = false;
        for _ in 0..ROUNDS {
            let (condition, mut doc) = match self.get_manifest(&tag).await {
                Ok(m) => (
                    TagCondition::Names(m.digest.clone()),
                    referrers_index(&m.media_type, &m.bytes).ok_or_else(|| {
                        OciError::from(ErrorKind::Protocol {
                            what: what.clone(),
                            url: tag.to_string(),
                            message: format!(
                                "the tag holds a `{}`, not an image index; it is left alone",
                                m.media_type
                            ),
                        })
                    })?,
                ),
                Err(e) if e.is_not_found() => (
                    TagCondition::Absent,
                    serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": OCI_INDEX,
                        "manifests": [],
                    }),
                ),
                Err(e) if e.status() == Some(500) => {
                    tokio::time::sleep(settle() / 4).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let manifests = doc
                .get_mut("manifests")
                .and_then(serde_json::Value::as_array_mut)
                .expect("checked by referrers_index");
            let present = manifests
                .iter()
                .any(|m| m.get("digest").and_then(serde_json::Value::as_str) == Some(&digest));
            if present {
                if checked {
                    return Ok(());
                }
                // There, but maybe only just: a writer that read before it may still
                // write over it. Look again after a while.
                checked = true;
                tokio::time::sleep(settle()).await;
                continue;
            }
            checked = false;
            manifests.push(entry.clone());
            let bytes = serde_json::to_vec(&doc).expect("JSON serialises");
            match self
                .put_manifest_with(&tag, OCI_INDEX, &bytes, Some(&condition))
                .await
            {
                Ok(_) => {
                    checked = true;
                    tokio::time::sleep(settle()).await;
                }
                // Another writer moved the tag since it was read: read it again.
                Err(e) if matches!(e.status(), Some(412 | 500)) => {
                    tokio::time::sleep(settle() / 4).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ErrorKind::Protocol {
            what,
            url: tag.to_string(),
            message: format!(
                "the entry did not stay in the index through {ROUNDS} reads (other writers kept replacing it)"
            ),
        }
        .into())
    }
}

/// The referrers index in a tag, as JSON (fields this client does not model kept), or
/// `None` when the tag holds something else.
fn referrers_index(media_type: &str, bytes: &[u8]) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    (media_type == OCI_INDEX && v.get("manifests").is_some_and(serde_json::Value::is_array))
        .then_some(v)
}
