//! Sharded repositories (index schema 2) on the client: the signed root is cached beside
//! a schema-1 repository's index, each shard by digest in the user's cache
//! (`index-shards/sha256/<hex>`), and only the shards a command touches are loaded: the
//! names asked for and, transitively, their dependencies' names, fetched concurrently
//! (at most `jobs` at once). The packages loaded form a schema-1 [`Index`] view, so the
//! resolver, `require_listed` and every command read a sharded repository unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use paks_index::{Index, PackageEntry, Root, Shard, ShardRef};
use paks_types::PackageName;

use crate::Failure;
use crate::commands::{Ctx, user_error};
use crate::repos::{Loaded, index_failure, trust_failure};

/// A repository's accepted index: a schema-1 index, or a root and the (so far empty)
/// view of its packages.
pub struct Accepted {
    pub index: Index,
    pub root: Option<Root>,
}

impl Loaded {
    /// How many packages the repository offers (a sharded one: how many its root lists,
    /// fetched or not).
    pub fn package_count(&self) -> usize {
        self.root
            .as_ref()
            .map_or(self.index.packages.len(), |r| r.shards.len())
    }

    /// Every package name the repository offers.
    pub fn names(&self) -> Vec<PackageName> {
        match &self.root {
            Some(root) => root.shards.keys().cloned().collect(),
            None => self.index.packages.keys().cloned().collect(),
        }
    }
}

/// Where what tells whether repository `name`'s index changed is kept.
pub fn freshness_path(root: &Path, name: &str) -> PathBuf {
    root.join("repos").join(format!("{name}.index.fresh.json"))
}

/// The freshness recorded with the cached index `cache`, if both are there.
pub fn freshness(root: &Path, name: &str, cache: &Path) -> Option<paks_index::Freshness> {
    if !cache.is_file() {
        return None;
    }
    let bytes = fs_err::read(freshness_path(root, name)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Records `fresh` for repository `name` (after its index was cached).
pub fn save_freshness(
    root: &Path,
    name: &str,
    fresh: &paks_index::Freshness,
) -> Result<(), Failure> {
    let bytes = serde_json::to_vec(fresh).expect("freshness serialises");
    paks_types::fs::write_atomic(&freshness_path(root, name), &bytes)?;
    Ok(())
}

/// The shard cache: one per user, like the download cache it sits in.
fn cache_dir(ctx: &Ctx) -> PathBuf {
    crate::cache::dir_and_origin(&ctx.config)
        .0
        .join("index-shards")
        .join("sha256")
}

/// Loads into `loaded`'s sharded repositories the packages `names` and, if `transitive`,
/// every name their builds depend on (in any repository), from the cache or, unless
/// `offline`, the repository.
pub fn fill(
    ctx: &Ctx,
    loaded: &mut [Loaded],
    names: &[PackageName],
    offline: bool,
    transitive: bool,
) -> Result<(), Failure> {
    if loaded.iter().all(|l| l.root.is_none()) {
        return Ok(());
    }
    let cache = cache_dir(ctx);
    let client = if offline {
        None
    } else {
        Some(crate::remote::client(ctx)?)
    };
    let runtime = crate::remote::runtime()?;
    let mut seen = BTreeSet::new();
    let mut frontier: Vec<PackageName> = names.to_vec();
    while !frontier.is_empty() {
        frontier.retain(|n| seen.insert(n.clone()));
        let mut wanted: Vec<(usize, PackageName, ShardRef)> = Vec::new();
        for (i, l) in loaded.iter().enumerate() {
            let Some(root) = &l.root else { continue };
            for name in &frontier {
                if let Some(r) = root.shards.get(name)
                    && !l.index.packages.contains_key(name)
                {
                    wanted.push((i, name.clone(), r.clone()));
                }
            }
        }
        let view: &[Loaded] = loaded;
        let shards = runtime.block_on(async {
            use futures_util::StreamExt as _;
            futures_util::stream::iter(wanted.iter().map(|(i, name, r)| {
                let (l, client, cache) = (&view[*i], client.as_ref(), &cache);
                async move { load_shard(client, l, cache, name, r).await.map(|s| (*i, s)) }
            }))
            .buffer_unordered(ctx.jobs.max(1))
            .collect::<Vec<_>>()
            .await
        });
        let mut next = Vec::new();
        for shard in shards {
            let (i, shard) = shard?;
            loaded[i]
                .index
                .packages
                .insert(shard.name.clone(), shard.package);
        }
        if transitive {
            for l in loaded.iter() {
                for name in &frontier {
                    if let Some(entry) = l.index.packages.get(name) {
                        next.extend(dependency_names(entry));
                    }
                }
            }
        }
        frontier = next;
    }
    for l in loaded.iter().filter(|l| l.root.is_some()) {
        paks_index::check_entries(&l.index).map_err(|e| trust_failure(&l.entry.name, e))?;
    }
    Ok(())
}

fn dependency_names(entry: &PackageEntry) -> impl Iterator<Item = PackageName> + '_ {
    entry
        .versions
        .values()
        .flat_map(|v| &v.builds)
        .flat_map(|b| &b.dependencies)
        .map(|d| d.name.clone())
}

/// One shard: from the cache if a verified copy is there (a copy that no longer verifies
/// is fetched again, not trusted), else fetched, verified and cached.
async fn load_shard(
    client: Option<&paks_oci::Client>,
    l: &Loaded,
    cache: &Path,
    name: &PackageName,
    r: &ShardRef,
) -> Result<Shard, Failure> {
    let path = cache.join(r.digest.hex());
    match fs_err::read(&path) {
        Ok(bytes) => {
            if let Ok(shard) = paks_index::parse_shard(&bytes, name, r, &path.display().to_string())
            {
                return Ok(shard);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let Some(client) = client else {
        return Err(user_error(
            format!(
                "offline, and the cache lacks the index shard of package `{name}` (`{}`) of repository `{}`",
                r.digest, l.entry.name
            ),
            Some("run the command once with the network to fill the cache".into()),
        ));
    };
    let (shard, bytes) = paks_index::fetch_shard(client, &l.source, name, r)
        .await
        .map_err(|e| Failure {
            error: format!(
                "cannot load package `{name}` from repository `{}`",
                l.entry.name
            )
            .into(),
            detail: Some(format!("  Caused by: {e}")),
            ..index_failure(e)
        })?;
    fs_err::create_dir_all(cache)?;
    paks_types::fs::write_atomic(&path, &bytes)?;
    Ok(shard)
}

/// The names of the sharded repositories' roots that contain `term` (search reads names
/// only there: a summary is in a shard, and fetching every shard defeats sharding).
pub fn names_matching(loaded: &[Loaded], term: &str) -> Vec<PackageName> {
    let term = term.to_lowercase();
    loaded
        .iter()
        .filter_map(|l| l.root.as_ref())
        .flat_map(|r| r.shards.keys())
        .filter(|n| n.as_str().contains(&term))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
