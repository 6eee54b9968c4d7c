//! Synthetic package indexes for `bench/index-shards`: a schema-1 [`Index`] of N packages,
//! 5 versions each, 2 builds per version (`linux/amd64` and `linux/arm64`), made in memory
//! without any blob (an index only lists digests), and written as a static repository.
//!
//! Dependencies form a DAG shaped like real package sets: the first 1% of the packages
//! (at least one) are a **core** (think libc, zlib, openssl) that depend on 0–2 earlier
//! core packages; every other package has 0–4 dependencies, each from the core three times
//! out of four, else any earlier package. So a package's dependency closure stays small
//! (the core plus a few), as in Debian or the Python index, instead of reaching most of the index, as a
//! uniform random DAG of that degree would. Each build pins the newest build of the same
//! platform of each dependency, with a caret requirement on its version.
//!
//! `changed: Some(K)` gives package number K one more version (a release): exactly one
//! package's entry differs from the index made without it, since dependents keep the pins
//! they were built with.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use paks_index::{
    BlobEntry, BuildEntry, INDEX_FILE, Index, LayerEntry, PackageEntry, RootKeys, SignedRoot,
    SigningKey, Timestamp, VersionEntry, pak_file_name, shard_index, sign_root, write_index_file,
    write_sharded_dir,
};
use paks_types::{
    Digest, PackageDep, PackageId, PackageKind, PackageName, Platform, Version, VersionReq, id_hash,
};

use crate::synth::{KINDS, LICENSES, Rng, WORDS, capitalise, next_version, unique_name};

/// Versions per package.
pub const VERSIONS: usize = 5;
/// The platforms every version is built for.
pub const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

/// What index to make.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub packages: usize,
    pub seed: u64,
    /// The package (by number) that gets one more version.
    pub changed: Option<usize>,
    /// The index's `source`.
    pub source: String,
}

/// What dependents pin: a package's newest build per platform.
struct Newest {
    name: PackageName,
    version: Version,
    builds: Vec<(PackageId, Digest)>,
}

/// A synthetic index and its package names in the order made (the core first; a package
/// depends only on earlier ones).
pub struct Synthetic {
    pub index: Index,
    pub order: Vec<PackageName>,
}

/// The index `options` describe: version 1, generated at a fixed instant (so the same
/// options give the same bytes) and expiring ten years later.
pub fn synthetic_index(options: &IndexOptions) -> Synthetic {
    let mut rng = Rng::new(options.seed);
    let mut used = HashSet::new();
    let mut newest: Vec<Newest> = Vec::with_capacity(options.packages);
    let core = (options.packages / 100).max(1);
    let generated = Timestamp::from_unix(1_800_000_000);
    let expires = Timestamp::from_unix(1_800_000_000 + 10 * 365 * 86_400);
    let mut index = Index::new(options.source.clone(), 1, generated, expires);
    for i in 0..options.packages {
        let name = unique_name(&mut rng, &mut used, i);
        let name = PackageName::new(&name).expect("generated names are valid");
        let deps = dependencies(&mut rng, i, core);
        let summary = format!(
            "{} {} for {} {} data",
            capitalise(rng.pick(WORDS)),
            rng.pick(KINDS),
            rng.pick(WORDS),
            rng.pick(WORDS),
        );
        let license = rng.pick(LICENSES).to_owned();
        let size = 10_000 + rng.below(50_000_000) as u64;
        let files = 1 + rng.below(400) as u64;
        let mut version = Version::new(
            rng.below(3) as u64,
            rng.below(10) as u64,
            rng.below(5) as u64,
        );
        let count = VERSIONS + usize::from(options.changed == Some(i));
        let mut versions = BTreeMap::new();
        let mut pinned = None;
        for v in 0..count {
            let builds: Vec<BuildEntry> = PLATFORMS
                .iter()
                .enumerate()
                .map(|(p, platform)| {
                    let pins = deps
                        .iter()
                        .map(|&d| {
                            let dep = &newest[d];
                            let (id, digest) = &dep.builds[p];
                            PackageDep {
                                name: dep.name.clone(),
                                req: VersionReq::parse(&format!(
                                    "^{}.{}",
                                    dep.version.major, dep.version.minor
                                ))
                                .expect("a caret requirement parses"),
                                id: id.clone(),
                                digest: Some(digest.clone()),
                            }
                        })
                        .collect();
                    build(options.seed, &name, &version, platform, size, files, pins)
                })
                .collect();
            // Dependents pin the newest of the usual versions: the extra one of a changed
            // package is released after them.
            if v + 1 == VERSIONS {
                pinned = Some(Newest {
                    name: name.clone(),
                    version: version.clone(),
                    builds: builds
                        .iter()
                        .map(|b| (b.id.clone(), b.digest.clone()))
                        .collect(),
                });
            }
            let digest = Digest::sha256_of(format!("version index {name} {version}").as_bytes());
            versions.insert(
                version.clone(),
                VersionEntry {
                    digest: Some(digest),
                    builds,
                },
            );
            // The extra version of a changed package takes no random numbers, so that
            // every other package comes out as without the change.
            if v + 1 < VERSIONS {
                version = next_version(&version, &mut rng);
            } else if v + 1 < count {
                version = Version::new(version.major, version.minor, version.patch + 1);
            }
        }
        let repository = name.to_string();
        index.packages.insert(
            name.clone(),
            PackageEntry {
                repository,
                summary: Some(summary),
                license: Some(license),
                homepage: Some(format!("https://{name}.invalid/")),
                versions,
            },
        );
        newest.push(pinned.expect("every package has its usual versions"));
    }
    let order = newest.into_iter().map(|n| n.name).collect();
    Synthetic { index, order }
}

/// The packages (by number) that package `i` depends on: see the module documentation.
fn dependencies(rng: &mut Rng, i: usize, core: usize) -> BTreeSet<usize> {
    let mut deps = BTreeSet::new();
    if i == 0 {
        return deps;
    }
    let count = if i < core { rng.below(3) } else { rng.below(5) };
    for _ in 0..count {
        let dep = if i < core || rng.below(4) != 0 {
            rng.below(i.min(core))
        } else {
            rng.below(i)
        };
        deps.insert(dep);
    }
    deps
}

/// One build's entry; its digests are hashes of what it is (no blob exists).
fn build(
    seed: u64,
    name: &PackageName,
    version: &Version,
    platform: &str,
    size: u64,
    files: u64,
    dependencies: Vec<PackageDep>,
) -> BuildEntry {
    let what = format!("benchgen index {seed} {name} {version} {platform}");
    let hash = id_hash(what.as_bytes());
    let id = PackageId::new(hash, name.clone(), version.clone()).expect("a generated id is valid");
    let digest_of = |part: &str| Digest::sha256_of(format!("{what} {part}").as_bytes());
    BuildEntry {
        file: Some(pak_file_name(&id)),
        id,
        digest: digest_of("manifest"),
        platform: platform.parse::<Platform>().expect("a valid platform"),
        target: None,
        glibc: Some(Version::new(2, 34, 0)),
        config: BlobEntry {
            digest: digest_of("config"),
            size: 900 + files * 60,
        },
        layer: LayerEntry {
            digest: digest_of("layer"),
            size: size / 3,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
        },
        size,
        files,
        dependencies,
        kind: PackageKind::Store,
        distribution_version: None,
    }
}

/// What a build wrote.
pub struct Written {
    /// The size of `index.yaml` (the whole index, or the root).
    pub index_bytes: u64,
    /// Files written, `index.yaml` included.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Sign `index` with `key` and write it into `dir` as a static repository's `index.yaml`
/// (what `paks index build DIR --format single` writes).
pub fn write_single(index: &Index, key: &SigningKey, dir: &Path) -> Result<Written, String> {
    let path = write_index_file(dir, &paks_index::sign(index, key)).map_err(|e| e.to_string())?;
    let bytes = fs_err::metadata(&path).map_err(|e| e.to_string())?.len();
    Ok(Written {
        index_bytes: bytes,
        files: 1,
        bytes,
    })
}

/// Shard `index` over the root `dir` holds, if any (an incremental rebuild), sign the new
/// root with `key` and write it as `paks index build --format sharded` does
/// ([`write_sharded_dir`]: the shards `shards/` lacks, then `index.yaml`).
pub fn write_sharded(index: &Index, key: &SigningKey, dir: &Path) -> Result<Written, String> {
    let root_path = dir.join(INDEX_FILE);
    let previous = match fs_err::read(&root_path) {
        Ok(bytes) => Some(
            SignedRoot::from_slice(&bytes, &root_path.display().to_string())
                .map_err(|e| e.to_string())?
                .signed,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.to_string()),
    };
    let keys = std::slice::from_ref(key);
    let sharded = shard_index(index, previous.as_ref(), RootKeys::of(keys));
    let signed = sign_root(sharded.root, keys);
    let (path, report) = write_sharded_dir(dir, &signed, index).map_err(|e| e.to_string())?;
    let index_bytes = fs_err::metadata(&path).map_err(|e| e.to_string())?.len();
    Ok(Written {
        index_bytes,
        files: report.shards_written as u64 + 1,
        bytes: report.bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(changed: Option<usize>) -> IndexOptions {
        IndexOptions {
            packages: 300,
            seed: 7,
            changed,
            source: "bench".to_owned(),
        }
    }

    #[test]
    fn every_package_has_five_versions_of_two_builds_and_pins_listed_builds() {
        let index = synthetic_index(&options(None)).index;
        assert_eq!(index.packages.len(), 300);
        for package in index.packages.values() {
            assert_eq!(package.versions.len(), VERSIONS);
            for v in package.versions.values() {
                assert_eq!(v.builds.len(), PLATFORMS.len());
                for b in &v.builds {
                    for dep in &b.dependencies {
                        let found = index
                            .find_build(dep.digest.as_ref().expect("pinned by digest"))
                            .expect("a dependency pins a listed build");
                        assert_eq!(found.build.platform, b.platform);
                        assert!(dep.req.matches(found.version));
                    }
                }
            }
        }
    }

    #[test]
    fn a_change_alters_exactly_one_package() {
        let before = synthetic_index(&options(None)).index;
        let after = synthetic_index(&options(Some(123))).index;
        let differing: Vec<_> = before
            .packages
            .iter()
            .filter(|(name, entry)| after.packages.get(*name) != Some(entry))
            .collect();
        assert_eq!(differing.len(), 1);
        let (name, entry) = differing[0];
        assert_eq!(
            after.packages[name].versions.len(),
            entry.versions.len() + 1
        );
        assert_eq!(before.packages.len(), after.packages.len());
    }

    #[test]
    fn an_incremental_sharded_rebuild_writes_one_shard_and_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let pem = paks_index::generate_key().unwrap().private_pem;
        let key = SigningKey::from_pem(&pem).unwrap();
        let full = write_sharded(&synthetic_index(&options(None)).index, &key, dir.path()).unwrap();
        assert_eq!(full.files, 301);
        let again =
            write_sharded(&synthetic_index(&options(Some(5))).index, &key, dir.path()).unwrap();
        assert_eq!(again.files, 2, "one new shard and the root");
        assert!(again.bytes < full.bytes / 10);
        let root =
            SignedRoot::from_slice(&fs_err::read(dir.path().join(INDEX_FILE)).unwrap(), "root")
                .unwrap();
        assert_eq!(root.signed.version, 2);
        assert_eq!(root.signed.shards.len(), 300);
    }
}
