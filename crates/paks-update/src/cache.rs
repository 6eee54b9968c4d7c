//! What upstream listed, kept for a while: one JSON file per (strategy, location) under the
//! user's cache directory (`<cache>/update/<sha256 of the key>.json`), with the time it
//! was fetched. An entry younger than the TTL answers instead of the network; `refresh`
//! ignores the stored entries (and rewrites them).
//!
//! What is kept is the *unfiltered* list (every version the location showed), so that a
//! recipe's filters (`versions`, `ignore`, pre-releases) can change without a refetch, and
//! two recipes with different filters on one location share it. Within one run, recipes
//! that share a key also share one fetch: the second waits for the first (in flight).

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use crate::check::{CheckError, Target};
use crate::{Fetcher, Release, Strategy};

/// How long an entry answers for, unless configured otherwise (`[update] ttl`): upstream
/// releases come days apart, and an hour keeps a CI job that runs several steps (check,
/// then bump) from asking each host twice.
pub const DEFAULT_TTL: Duration = Duration::from_hours(1);

/// What identifies one upstream list: how it is looked for and where. `detail` holds what
/// else shapes the unfiltered list (a listing's `regex`, a JSON `path`), empty when nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Key {
    pub strategy: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Key {
    /// The key of `strategy` at `location`, shaped by `detail`.
    pub fn new(strategy: Strategy, location: &str, detail: &str) -> Self {
        Self {
            strategy: strategy.as_str().to_owned(),
            location: location.to_owned(),
            detail: detail.to_owned(),
        }
    }

    /// The entry's file name: the sha256 of the key, so that any URL makes a safe name.
    fn file_name(&self) -> String {
        let mut hash = Sha256::new();
        for part in [&self.strategy, &self.location, &self.detail] {
            // Length-prefixed, so that no two keys hash the same text.
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        format!("{:x}.json", hash.finalize())
    }
}

/// One stored entry, as written on disk.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    key: Key,
    /// When it was fetched, in seconds since the Unix epoch.
    fetched: u64,
    value: serde_json::Value,
}

/// The update cache of one run: the stored entries, and the fetches in flight.
pub struct Cache {
    /// `None`: nothing stored, only the sharing within the run.
    dir: Option<PathBuf>,
    ttl: Duration,
    refresh: bool,
    /// One cell per key: the first caller fills it, the others wait for it.
    cells: Mutex<HashMap<Key, Arc<OnceCell<serde_json::Value>>>>,
}

impl Cache {
    /// A cache stored in `dir` (created when first written), its entries good for `ttl`.
    pub fn new(dir: impl Into<PathBuf>, ttl: Duration) -> Self {
        Self {
            dir: Some(dir.into()),
            ttl,
            refresh: false,
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// A cache that stores nothing: only fetches shared within the run.
    pub fn in_memory() -> Self {
        Self {
            dir: None,
            ttl: Duration::ZERO,
            refresh: false,
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// Whether stored entries are ignored (each key fetched once again, and stored).
    #[must_use]
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.refresh = refresh;
        self
    }

    /// Where the entries are stored, if anywhere.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The value for `key`: from this run, else a fresh stored entry, else `fetch`'s
    /// (then stored). A failed fetch is not kept: the next caller tries again.
    ///
    /// # Errors
    /// `fetch`'s error. A stored entry that cannot be read or written is ignored: the
    /// cache only saves work, it never makes a check fail.
    pub async fn get_or_fetch<T, E, Fut>(
        &self,
        key: &Key,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        Fut: Future<Output = Result<T, E>>,
    {
        let cell = {
            let mut cells = self
                .cells
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(cells.entry(key.clone()).or_default())
        };
        let mut fetched = None;
        let value = cell
            .get_or_try_init(|| async {
                if let Some(value) = self.stored(key) {
                    // Shaped by another version of paks: as if it were not there.
                    if T::deserialize(&value).is_ok() {
                        return Ok(value);
                    }
                }
                let value = fetch().await?;
                let json = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
                self.store(key, &json);
                fetched = Some(value);
                Ok(json)
            })
            .await?;
        Ok(match fetched {
            Some(value) => value,
            None => T::deserialize(value).expect("the values of one key have one type"),
        })
    }

    fn path(&self, key: &Key) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.join(key.file_name()))
    }

    /// The stored value of `key`, when there is one younger than the TTL.
    fn stored(&self, key: &Key) -> Option<serde_json::Value> {
        if self.refresh {
            return None;
        }
        let bytes = std::fs::read(self.path(key)?).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        let age = now().checked_sub(entry.fetched)?;
        (entry.key == *key && Duration::from_secs(age) < self.ttl).then_some(entry.value)
    }

    fn store(&self, key: &Key, value: &serde_json::Value) {
        let Some(path) = self.path(key) else { return };
        let entry = Entry {
            key: key.clone(),
            fetched: now(),
            value: value.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // Best effort by design (see `get_or_fetch`): a read-only cache costs requests only.
        let _ = paks_types::fs::write_atomic(&path, &bytes);
    }
}

/// One release as kept: what [`Release`] is rebuilt from.
#[derive(Serialize, Deserialize)]
struct Kept {
    upstream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
}

/// [`crate::upstream_versions`] through `fetcher`'s cache. The key is the target's
/// strategy and location, with its package name (a `NAME-` tag prefix is read off),
/// `regex` and `path` as the detail: everything that shapes the unfiltered list.
///
/// # Errors
/// As [`crate::upstream_versions`].
pub async fn upstream_versions(
    target: &Target,
    fetcher: &Fetcher,
) -> Result<Vec<Release>, CheckError> {
    let detail = serde_json::json!([target.name, target.regex, target.path]).to_string();
    let key = Key::new(target.strategy, &target.location, &detail);
    let kept: Vec<Kept> = fetcher
        .cached(&key, || async {
            let releases = crate::upstream_versions(target, fetcher).await?;
            Ok::<_, CheckError>(
                releases
                    .into_iter()
                    .map(|r| Kept {
                        upstream: r.upstream.text().to_owned(),
                        url: r.url,
                        tag: r.tag,
                        commit: r.commit,
                    })
                    .collect(),
            )
        })
        .await?;
    Ok(kept
        .into_iter()
        .filter_map(|k| {
            let upstream = paks_types::LooseVersion::parse(&k.upstream)?;
            Some(Release {
                version: upstream.to_semver(),
                upstream,
                url: k.url,
                tag: k.tag,
                commit: k.commit,
            })
        })
        .collect())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(location: &str) -> Key {
        Key::new(Strategy::GitTags, location, "")
    }

    #[tokio::test]
    async fn a_fresh_entry_answers_and_refresh_ignores_it() {
        let dir = tempfile::tempdir().unwrap();
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(vec!["1.0".to_owned(), "1.1".to_owned()])
        };
        let first: Vec<String> = Cache::new(dir.path(), DEFAULT_TTL)
            .get_or_fetch(&key("a"), fetch)
            .await
            .unwrap();
        let again: Vec<String> = Cache::new(dir.path(), DEFAULT_TTL)
            .get_or_fetch(&key("a"), fetch)
            .await
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the second run read the file"
        );
        let _: Vec<String> = Cache::new(dir.path(), DEFAULT_TTL)
            .refresh(true)
            .get_or_fetch(&key("a"), fetch)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "--refresh fetched again");
        let _: Vec<String> = Cache::new(dir.path(), Duration::ZERO)
            .get_or_fetch(&key("a"), fetch)
            .await
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "an expired entry is fetched again"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn one_key_is_fetched_once_per_run_and_failures_are_not_kept() {
        let cache = Cache::in_memory();
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, String>(vec![1, 2, 3])
        };
        let x = key("x");
        let (a, b) = tokio::join!(
            cache.get_or_fetch::<Vec<u8>, _, _>(&x, fetch),
            cache.get_or_fetch::<Vec<u8>, _, _>(&x, fetch),
        );
        assert_eq!(a.unwrap(), b.unwrap());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let failed: Result<Vec<u8>, String> = cache
            .get_or_fetch(&key("y"), || async { Err("down".to_owned()) })
            .await;
        assert!(failed.is_err());
        let retried: Vec<u8> = cache.get_or_fetch(&key("y"), fetch).await.unwrap();
        assert_eq!(retried, vec![1, 2, 3]);
    }

    #[test]
    fn keys_name_distinct_files() {
        let a = Key::new(Strategy::Listing, "http://h/x", "ab");
        let b = Key::new(Strategy::Listing, "http://h/xa", "b");
        assert_ne!(a.file_name(), b.file_name());
        assert_ne!(
            a.file_name(),
            Key::new(Strategy::Json, "http://h/x", "ab").file_name()
        );
    }
}
