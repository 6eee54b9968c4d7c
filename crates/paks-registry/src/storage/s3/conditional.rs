//! Conditional tag writes across replicas. Where the store honours `If-Match` and
//! `If-None-Match` on `PutObject` (AWS S3 does, as do `MinIO` and R2), a tag is written by
//! compare-and-swap: read it with its `ETag`, check the condition, write it on the condition
//! that it is unchanged (or still absent), and start over if another writer came first.
//! Garage 2.5 ignores both headers, so on it the write falls back to the API's per-process
//! lock ([`crate::storage::Storage::put_manifest_if`]'s default). [`honours_conditions`]
//! tells the two apart once, when the storage opens.

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, UpdateVersion};
use paks_types::Digest;

use super::objects::{failed, put};
use crate::storage::{Result, StorageError, TagCondition, TagWrite};

/// The digest a tag object holds.
pub(super) fn parse_tag(key: &ObjectPath, bytes: &[u8]) -> Result<Digest> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| StorageError::Corrupt(format!("tag object `{key}` does not hold a digest")))
}

/// Whether `store` refuses a `PutObject` with `If-None-Match: *` over an existing object:
/// writes `key` twice, the second time on that condition, then removes it. A store that
/// answers the second write with anything but "it exists" does not honour conditions.
pub(super) async fn honours_conditions(store: &dyn ObjectStore, key: &ObjectPath) -> Result<bool> {
    put(store, key, Bytes::from_static(b"probe")).await?;
    let second = store
        .put_opts(
            key,
            Bytes::from_static(b"again").into(),
            PutMode::Create.into(),
        )
        .await;
    // Best effort: a probe left behind is one small object.
    let _ = store.delete(key).await;
    match second {
        Ok(_) => Ok(false),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => Ok(true),
        Err(e) => {
            tracing::warn!(key = %key, error = %e, "a conditional PutObject failed: taking conditional writes as not honoured");
            Ok(false)
        }
    }
}

/// Points tag object `key` at `digest` if the tag meets `condition`, as a compare-and-swap.
/// Correct only on a store that honours conditional puts.
pub(super) async fn write_tag_if(
    store: &dyn ObjectStore,
    key: &ObjectPath,
    condition: &TagCondition,
    digest: &Digest,
) -> Result<TagWrite> {
    loop {
        let current = match store.get(key).await {
            Ok(got) => {
                let version = UpdateVersion {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                };
                let bytes = got.bytes().await.map_err(|e| failed("read", key, e))?;
                Some((parse_tag(key, &bytes)?, version))
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(failed("read", key, e)),
        };
        let named = current.as_ref().map(|(d, _)| d);
        if !condition.holds(named) {
            return Ok(TagWrite::Refused {
                current: named.cloned(),
            });
        }
        let mode = current.map_or(PutMode::Create, |(_, v)| PutMode::Update(v));
        let text = Bytes::from(digest.to_string());
        match store.put_opts(key, text.into(), mode.into()).await {
            Ok(_) => return Ok(TagWrite::Written),
            // Another writer changed the tag since we read it: check the condition again.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(e) => return Err(failed("write", key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The compare-and-swap on a store that honours conditions. `InMemory` is used here ONLY
    //! because Garage (the store every other S3 test runs against) ignores conditional puts,
    //! so this code path cannot be exercised on it; the probe's answer on Garage is tested
    //! in `tests/s3/core.rs`.

    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_store_that_honours_conditions_is_recognised() {
        let store = InMemory::new();
        let key = ObjectPath::from("probes/x");
        assert!(block_on(honours_conditions(&store, &key)).unwrap());
        assert!(
            block_on(store.head(&key)).is_err(),
            "the probe is removed afterwards"
        );
    }

    #[test]
    fn a_tag_is_swapped_only_while_the_condition_holds() {
        let store = InMemory::new();
        let key = ObjectPath::from("repos/r/_tags/t");
        let (a, b, c) = (
            Digest::sha256_of(b"a"),
            Digest::sha256_of(b"b"),
            Digest::sha256_of(b"c"),
        );
        block_on(async {
            let w = |cond, d| {
                let (store, key) = (&store, &key);
                async move { write_tag_if(store, key, &cond, d).await.unwrap() }
            };
            assert_eq!(
                w(TagCondition::Matches(a.clone()), &b).await,
                TagWrite::Refused { current: None }
            );
            assert_eq!(
                w(TagCondition::Exists, &b).await,
                TagWrite::Refused { current: None }
            );
            assert_eq!(w(TagCondition::Absent, &a).await, TagWrite::Written);
            assert_eq!(
                w(TagCondition::Absent, &b).await,
                TagWrite::Refused {
                    current: Some(a.clone())
                }
            );
            assert_eq!(
                w(TagCondition::Matches(a.clone()), &b).await,
                TagWrite::Written
            );
            assert_eq!(
                w(TagCondition::Matches(a.clone()), &c).await,
                TagWrite::Refused {
                    current: Some(b.clone())
                }
            );
            assert_eq!(w(TagCondition::Exists, &c).await, TagWrite::Written);
        });
        let stored = block_on(async { store.get(&key).await.unwrap().bytes().await.unwrap() });
        assert_eq!(parse_tag(&key, &stored).unwrap(), c);
    }

    #[test]
    fn concurrent_swaps_from_one_digest_let_exactly_one_writer_win() {
        // Sixteen writers all expect the tag to name `base`: exactly one may move it.
        let store = Arc::new(InMemory::new());
        let key = ObjectPath::from("repos/r/_tags/race");
        let base = Digest::sha256_of(b"base");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        runtime.block_on(async {
            write_tag_if(&*store, &key, &TagCondition::Absent, &base)
                .await
                .unwrap();
            let writers: Vec<_> = (0..16u8)
                .map(|i| {
                    let (store, key, base) = (Arc::clone(&store), key.clone(), base.clone());
                    tokio::spawn(async move {
                        let mine = Digest::sha256_of(&[i]);
                        write_tag_if(&*store, &key, &TagCondition::Matches(base), &mine)
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut won = 0;
            for w in writers {
                if w.await.unwrap() == TagWrite::Written {
                    won += 1;
                }
            }
            assert_eq!(won, 1, "one compare-and-swap from `base` succeeds");
        });
    }
}
