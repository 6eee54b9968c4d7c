//! The synthetic packages: names, versions, builds, dependencies and their OCI objects, all
//! from one seed, so the same arguments always give the same registry, byte for byte.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use paks_archive::{
    Compression, Encoder, package_annotations, tar_append_dir as append_dir, tar_header as header,
};
use paks_oci::{Descriptor, ImageIndex, ImageManifest, OCI_CONFIG, Platform as OciPlatform};
use paks_registry::names::RepoName;
use paks_registry::storage::{ManifestRefs, StoredManifest};
use paks_remote::format;
use paks_types::{
    ConfigRootfs, Digest, ImageConfig, META_SCHEMA, PackageDep, PackageId, PackageKind,
    PackageMeta, PackageName, Platform, Version, VersionReq, id_hash,
};

/// Words that names and summaries are made of.
pub(crate) const WORDS: &[&str] = &[
    "amber", "anchor", "apex", "arrow", "aspen", "atlas", "aurora", "axis", "badger", "basalt",
    "beacon", "birch", "bison", "blaze", "bloom", "bolt", "bramble", "breeze", "brook", "cactus",
    "canyon", "cedar", "cinder", "cipher", "citrus", "clover", "cobalt", "comet", "coral",
    "cosmos", "crane", "crystal", "cypress", "dahlia", "delta", "dune", "eagle", "ember", "falcon",
    "fern", "fjord", "flint", "forge", "fox", "frost", "garnet", "geyser", "glacier", "granite",
    "grove", "harbor", "hazel", "heron", "hollow", "horizon", "indigo", "iris", "ivory", "jade",
    "jasper", "juniper", "kelp", "kestrel", "lagoon", "lantern", "larch", "lava", "lichen",
    "lotus", "lynx", "magma", "maple", "marble", "meadow", "mesa", "meteor", "mist", "moss",
    "nebula", "nectar", "nimbus", "nova", "oak", "oasis", "obsidian", "onyx", "orbit", "orchid",
    "osprey", "otter", "pebble", "pine", "pixel", "plume", "polar", "prism", "pulsar", "quartz",
    "quill", "raven", "reef", "ridge", "river", "robin", "ruby", "saffron", "sage", "sapphire",
    "sequoia", "shale", "sierra", "signal", "slate", "solar", "sparrow", "spruce", "stone",
    "storm", "summit", "swift", "tango", "thistle", "thunder", "tidal", "timber", "topaz",
    "tundra", "umber", "vapor", "velvet", "vertex", "violet", "vortex", "walnut", "willow", "wren",
    "yarrow", "zenith", "zephyr", "zinc",
];

/// What the summaries say a package is.
pub(crate) const KINDS: &[&str] = &[
    "library",
    "command-line tool",
    "daemon",
    "compiler",
    "parser",
    "codec",
    "database driver",
    "network client",
    "test framework",
    "plugin",
    "language runtime",
    "build helper",
];

pub(crate) const LICENSES: &[&str] = &[
    "MIT",
    "Apache-2.0",
    "BSD-3-Clause",
    "GPL-3.0-or-later",
    "MPL-2.0",
];

/// A small deterministic generator (splitmix64): no dependency, same stream everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n as u64).expect("below n fits usize")
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A blob to store: its digest and bytes.
pub struct Blob {
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

/// A manifest to store, with what it references and the tags that point at it.
pub struct Manifest {
    pub digest: Digest,
    pub stored: StoredManifest,
    pub refs: ManifestRefs,
    pub tags: Vec<String>,
}

/// One package's repository: blobs first, then manifests in an order the storage accepts
/// (builds before the indexes over them).
pub struct Repository {
    pub repo: RepoName,
    pub blobs: Vec<Blob>,
    pub manifests: Vec<Manifest>,
    /// Builds (one per build manifest).
    pub builds: usize,
    pub versions: usize,
    /// The newest version's tag.
    pub newest: String,
    /// How many packages its builds depend on.
    pub dependencies: usize,
}

/// What dependents pin: a package's newest baseline build.
struct Pinned {
    name: PackageName,
    version: Version,
    id: PackageId,
    manifest: Digest,
}

/// Makes the packages one after another; a package depends only on earlier ones, so the
/// graph has no cycles and every pin names a build that exists.
pub struct Generator {
    rng: Rng,
    namespace: String,
    seed: u64,
    used: HashSet<String>,
    pinned: Vec<Pinned>,
    /// Each package depends on exactly the one before it.
    pub chain: bool,
}

impl Generator {
    pub fn new(namespace: &str, seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            namespace: namespace.to_owned(),
            seed,
            used: HashSet::new(),
            pinned: Vec::new(),
            chain: false,
        }
    }

    fn name(&mut self, index: usize) -> String {
        unique_name(&mut self.rng, &mut self.used, index)
    }

    /// 0–4 dependencies on earlier packages (mostly recent ones, as real graphs lean on
    /// a core), each pinned to that package's newest baseline build.
    fn dependencies(&mut self) -> Vec<PackageDep> {
        let mut deps = BTreeSet::new();
        if self.chain {
            deps.extend(self.pinned.len().checked_sub(1));
        } else if !self.pinned.is_empty() {
            for _ in 0..self.rng.below(5) {
                // Mostly recent packages, as real dependency graphs lean on a core.
                let span = self.pinned.len().min(2000);
                let dep = if self.rng.below(3) == 0 {
                    self.rng.below(self.pinned.len())
                } else {
                    self.pinned.len() - 1 - self.rng.below(span)
                };
                deps.insert(dep);
            }
        }
        deps.iter()
            .map(|&d| {
                let p = &self.pinned[d];
                PackageDep {
                    name: p.name.clone(),
                    req: VersionReq::parse(&format!("^{}.{}", p.version.major, p.version.minor))
                        .expect("a caret requirement parses"),
                    id: p.id.clone(),
                    digest: Some(p.manifest.clone()),
                }
            })
            .collect()
    }

    /// Package number `index`: 1–5 versions, 1–2 builds each (baseline, and an
    /// `x86_64_v3` build for about a third of the versions), 0–4 dependencies.
    pub fn package(&mut self, index: usize) -> Repository {
        let name = self.name(index);
        let package = PackageName::new(&name).expect("generated names are valid");
        let repo = RepoName::parse(&format!("{}/{name}", self.namespace))
            .expect("generated repository names are valid");
        let summary = format!(
            "{} {} for {} {} data",
            capitalise(self.rng.pick(WORDS)),
            self.rng.pick(KINDS),
            self.rng.pick(WORDS),
            self.rng.pick(WORDS),
        );
        let license = self.rng.pick(LICENSES).to_owned();
        let dependencies = self.dependencies();
        let files = if self.rng.below(4) == 0 {
            1 + self.rng.below(400)
        } else {
            1 + self.rng.below(30)
        };
        let count = 1 + self.rng.below(5);
        let mut version = Version::new(
            self.rng.below(3) as u64,
            self.rng.below(10) as u64,
            self.rng.below(5) as u64,
        );
        let mut out = Repository {
            repo: repo.clone(),
            blobs: Vec::new(),
            manifests: Vec::new(),
            builds: 0,
            versions: count,
            newest: String::new(),
            dependencies: dependencies.len(),
        };
        let mut newest = None;
        for _ in 0..count {
            let targets: &[Option<&str>] = if self.rng.below(3) == 0 {
                &[None, Some("x86_64_v3")]
            } else {
                &[None]
            };
            let meta = Meta {
                name: &package,
                version: &version,
                summary: &summary,
                license: &license,
                dependencies: &dependencies,
                files,
            };
            let mut index = format::version_index(&package, &version);
            for target in targets {
                let (id, descriptor) = self.build(&meta, *target, &mut out);
                if target.is_none() {
                    newest = Some((id, descriptor.digest.clone()));
                }
                format::put_build(&mut index, descriptor);
            }
            out.manifests.push(index_manifest(&index, &version));
            version = next_version(&version, &mut self.rng);
        }
        let (id, manifest) = newest.expect("every version has a baseline build");
        out.newest = format::version_tag(id.version());
        self.pinned.push(Pinned {
            name: package,
            version: id.version().clone(),
            id,
            manifest,
        });
        out
    }

    /// One build: its layer, config and manifest into `out`; returns its id and its entry
    /// for the version index.
    fn build(
        &mut self,
        meta: &Meta<'_>,
        target: Option<&str>,
        out: &mut Repository,
    ) -> (PackageId, Descriptor) {
        let hash = id_hash(
            format!(
                "benchgen {} {} {} {:?}",
                self.seed, meta.name, meta.version, target
            )
            .as_bytes(),
        );
        let id = PackageId::new(hash, meta.name.clone(), meta.version.clone())
            .expect("a generated id is valid");
        let layer = layer(&id, meta.files);
        let platform: Platform = "linux/amd64".parse().expect("a valid platform");
        let config = config(meta, &id, target, &layer);
        let config_bytes = serde_json::to_vec(&config).expect("a config serialises");
        let config_digest = Digest::sha256_of(&config_bytes);
        let layer_digest = Digest::sha256_of(&layer.blob);
        let mut annotations = package_annotations(&config.paks);
        annotations.insert(format::ANNOTATION_GLIBC.to_owned(), "2.34".to_owned());
        if let Some(t) = target {
            annotations.insert(format::ANNOTATION_TARGET.to_owned(), t.to_owned());
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(format::MANIFEST.to_owned()),
            artifact_type: None,
            config: Descriptor::new(OCI_CONFIG, config_digest.clone(), config_bytes.len() as u64),
            layers: vec![Descriptor::new(
                Compression::default().layer_media_type(),
                layer_digest.clone(),
                layer.blob.len() as u64,
            )],
            subject: None,
            annotations: annotations.clone(),
        };
        let bytes = manifest.to_bytes();
        let digest = Digest::sha256_of(&bytes);
        let sizes = vec![
            (config_digest.clone(), config_bytes.len() as u64),
            (layer_digest.clone(), layer.blob.len() as u64),
        ];
        out.blobs.push(Blob {
            digest: config_digest.clone(),
            bytes: config_bytes,
        });
        out.blobs.push(Blob {
            digest: layer_digest.clone(),
            bytes: layer.blob,
        });
        let mut entry = Descriptor::new(format::MANIFEST, digest.clone(), bytes.len() as u64);
        entry.platform = Some(OciPlatform::from(&platform));
        entry.annotations = BTreeMap::from([(format::ANNOTATION_ID.to_owned(), id.to_string())]);
        for key in format::ENTRY_ANNOTATIONS {
            if let Some(value) = annotations.get(key) {
                entry.annotations.insert(key.to_owned(), value.clone());
            }
        }
        out.manifests.push(Manifest {
            digest,
            stored: StoredManifest {
                media_type: format::MANIFEST.to_owned(),
                bytes,
            },
            refs: ManifestRefs {
                blobs: vec![config_digest, layer_digest],
                sizes,
                ..ManifestRefs::default()
            },
            tags: vec![format::build_tag(&id)],
        });
        out.builds += 1;
        (id, entry)
    }
}

/// A version index as a manifest to store, tagged with the version.
fn index_manifest(index: &ImageIndex, version: &Version) -> Manifest {
    let bytes = index.to_bytes();
    Manifest {
        digest: Digest::sha256_of(&bytes),
        refs: ManifestRefs {
            manifests: index.manifests.iter().map(|d| d.digest.clone()).collect(),
            sizes: index
                .manifests
                .iter()
                .map(|d| (d.digest.clone(), d.size))
                .collect(),
            ..ManifestRefs::default()
        },
        stored: StoredManifest {
            media_type: format::INDEX.to_owned(),
            bytes,
        },
        tags: vec![format::version_tag(version)],
    }
}

/// A build's config: the layer's diff id and the package's metadata.
fn config(meta: &Meta<'_>, id: &PackageId, target: Option<&str>, layer: &Layer) -> ImageConfig {
    let platform: Platform = "linux/amd64".parse().expect("a valid platform");
    ImageConfig {
        architecture: "amd64".to_owned(),
        os: "linux".to_owned(),
        variant: None,
        config: BTreeMap::new(),
        rootfs: ConfigRootfs {
            kind: "layers".to_owned(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        paks: PackageMeta {
            schema: META_SCHEMA,
            name: meta.name.clone(),
            version: meta.version.clone(),
            id: id.clone(),
            platform: platform.clone(),
            summary: Some(meta.summary.to_owned()),
            license: Some(meta.license.to_owned()),
            homepage: Some(format!("https://{}.invalid/", meta.name)),
            dependencies: meta.dependencies.to_vec(),
            env: Vec::new(),
            relocation: paks_types::Relocation::default(),
            files: layer.entries,
            size: layer.size,
            contents: layer.contents.clone(),
            needs: paks_types::PackageNeeds {
                glibc: Some("2.34".to_owned()),
                isa_level: target.map(|_| "x86-64-v3".to_owned()),
                isa_source: target.map(|_| "gnu-property".to_owned()),
                ..paks_types::PackageNeeds::default()
            },
            kind: PackageKind::Store,
            origin: None,
            test: None,
        },
    }
}

/// What the builds of one version share.
struct Meta<'a> {
    name: &'a PackageName,
    version: &'a Version,
    summary: &'a str,
    license: &'a str,
    dependencies: &'a [PackageDep],
    files: usize,
}

/// A package layer as `paks build` lays it out: `opt/`, `opt/paks/`, `opt/paks/store/` and
/// the prefix first, then the prefix's entries, sorted, times and owners zero, gzip.
struct Layer {
    blob: Vec<u8>,
    diff_id: Digest,
    /// Entries in the prefix (files and directories).
    entries: u64,
    /// Bytes of its regular files.
    size: u64,
    /// Its files, relative and sorted (the config's `contents`).
    contents: Vec<String>,
}

fn layer(id: &PackageId, files: usize) -> Layer {
    let name = id.name().as_str();
    let mut paths = BTreeSet::new();
    paths.insert(format!("bin/{name}"));
    for k in 1..files {
        paths.insert(match k % 4 {
            0 => format!("lib/lib{name}-{k}.so"),
            1 => format!("share/{name}/data-{k}.txt"),
            2 => format!("include/{name}/part{k}.h"),
            _ => format!("share/doc/{name}/note-{k}.md"),
        });
    }
    let mut dirs = BTreeSet::new();
    for p in &paths {
        let mut at = 0;
        while let Some(slash) = p[at..].find('/') {
            dirs.insert(p[..at + slash].to_owned());
            at += slash + 1;
        }
    }
    let prefix = format!("opt/paks/store/{id}/");
    let mut entries: Vec<(String, bool)> = dirs
        .into_iter()
        .map(|d| (d, true))
        .chain(paths.iter().map(|p| (p.clone(), false)))
        .collect();
    entries.sort();
    let mut builder = tar::Builder::new(Vec::new());
    for dir in ["opt/", "opt/paks/", "opt/paks/store/", &prefix] {
        append_dir(&mut builder, dir.as_bytes()).expect("writing to memory");
    }
    let mut size = 0;
    for (path, dir) in &entries {
        let full = format!("{prefix}{path}");
        if *dir {
            append_dir(&mut builder, format!("{full}/").as_bytes()).expect("writing to memory");
            continue;
        }
        let text = format!("{id} {path}\n").repeat(1 + path.len() % 7);
        let mode = if path.starts_with("bin/") {
            0o755
        } else {
            0o644
        };
        let mut h = header(tar::EntryType::Regular, mode, text.len() as u64);
        builder
            .append_data(&mut h, &full, text.as_bytes())
            .expect("writing to memory");
        size += text.len() as u64;
    }
    let tar = builder.into_inner().expect("writing to memory");
    let diff_id = Digest::sha256_of(&tar);
    let mut encoder = Encoder::new(Vec::new(), Compression::default()).expect("a valid level");
    std::io::Write::write_all(&mut encoder, &tar).expect("writing to memory");
    let blob = encoder.finish().expect("writing to memory");
    Layer {
        blob,
        diff_id,
        entries: entries.len() as u64 + 1,
        size,
        contents: paths.into_iter().collect(),
    }
}

/// A new unique name: a word, two words, or words with a number (`lib` first now and
/// then), as real package sets have; `index` makes a name already `used` unique.
pub(crate) fn unique_name(rng: &mut Rng, used: &mut HashSet<String>, index: usize) -> String {
    let a = rng.pick(WORDS);
    let b = rng.pick(WORDS);
    let mut name = match rng.below(6) {
        0 => a.to_owned(),
        1 | 2 => format!("{a}-{b}"),
        3 => format!("lib{a}{}", rng.below(10)),
        4 => format!("{a}-{b}{}", 2 + rng.below(20)),
        _ => format!("py-{a}-{b}"),
    };
    if !used.insert(name.clone()) {
        name = format!("{name}-{index}");
        used.insert(name.clone());
    }
    name
}

/// The next version: a patch, minor or major step.
pub(crate) fn next_version(v: &Version, rng: &mut Rng) -> Version {
    match rng.below(6) {
        0 => Version::new(v.major + 1, 0, 0),
        1 | 2 => Version::new(v.major, v.minor + 1, 0),
        _ => Version::new(v.major, v.minor, v.patch + 1),
    }
}

pub(crate) fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_packages() {
        let mut a = Generator::new("bench", 7);
        let mut b = Generator::new("bench", 7);
        for i in 0..50 {
            let (x, y) = (a.package(i), b.package(i));
            assert_eq!(x.repo, y.repo);
            let digests = |r: &Repository| -> Vec<Digest> {
                r.manifests.iter().map(|m| m.digest.clone()).collect()
            };
            assert_eq!(digests(&x), digests(&y));
        }
    }

    #[test]
    fn a_layer_hashes_to_its_diff_id_and_lists_its_contents() {
        let id: PackageId = format!("{}-amber-1.0.0", "0".repeat(32)).parse().unwrap();
        let l = layer(&id, 9);
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2_free_gunzip(&l.blob), &mut tar).unwrap();
        assert_eq!(Digest::sha256_of(&tar), l.diff_id);
        assert_eq!(l.contents.len(), 9);
        assert!(l.contents.contains(&"bin/amber".to_owned()));
    }

    /// The archive crate's decoder, which reads what `paks` reads.
    fn flate2_free_gunzip(blob: &[u8]) -> impl std::io::Read + '_ {
        paks_archive::decompress(blob).unwrap()
    }
}
