//! Where an image comes from: a registry, an OCI image layout, a `docker save` archive;
//! and choosing the host's manifest from an index.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use paks_oci::{Descriptor, ImageIndex};
use paks_types::Platform;

use crate::error::InspectError;
use crate::isa::IsaLevel;

/// An image to inspect: a registry reference, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`
/// (a `.pak` is one) or `docker-archive:FILE[:NAME:TAG]`; paks-oci's one parser for
/// every command.
pub type ImageSource = paks_oci::Location;

/// Which manifest of an index to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectOptions {
    /// The OS and architecture wanted (and the variant, for architectures other than
    /// `amd64`).
    pub platform: Platform,
    /// For `amd64`: the highest level the host runs. Among `v2`/`v3`/`v4` variants the
    /// highest at most this is chosen; `None` chooses the generic build.
    pub max_level: Option<IsaLevel>,
}

impl Default for InspectOptions {
    /// This machine's OS and architecture, the generic build.
    fn default() -> Self {
        Self {
            platform: Platform::host(),
            max_level: None,
        }
    }
}

/// The highest generic x86-64 level among archspec target names (`x86_64_v3`).
pub fn best_level<S: AsRef<str>>(targets: &[S]) -> Option<IsaLevel> {
    targets
        .iter()
        .filter(|t| t.as_ref().starts_with("x86_64"))
        .filter_map(|t| IsaLevel::parse(t.as_ref()))
        .max()
}

fn platform_string(p: &paks_oci::Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The index entry for the wanted platform, and the platforms of the other entries for
/// the same OS and architecture.
pub(crate) fn choose(
    image: &str,
    index: &ImageIndex,
    options: &InspectOptions,
) -> Result<(Descriptor, Vec<String>), InspectError> {
    let want = &options.platform;
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
        })
        .collect();
    if candidates.is_empty() {
        // An index without platforms (a layout's `index.json` with one image).
        if let [only] = index.manifests.as_slice()
            && only.platform.is_none()
        {
            return Ok((only.clone(), Vec::new()));
        }
        let offered: Vec<String> = index
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref().map(platform_string))
            .collect();
        return Err(InspectError::image(
            image,
            format!(
                "no manifest for `{}/{}` (the index offers: {})",
                want.os,
                want.architecture,
                if offered.is_empty() {
                    "no platforms".to_owned()
                } else {
                    offered.join(", ")
                }
            ),
        ));
    }
    let variant = |d: &Descriptor| d.platform.as_ref().and_then(|p| p.variant.clone());
    let chosen = if want.architecture == "amd64" {
        let level = |d: &Descriptor| {
            variant(d)
                .and_then(|v| IsaLevel::parse(&v))
                .unwrap_or(IsaLevel::V1)
        };
        let max = options.max_level.unwrap_or(IsaLevel::V1);
        candidates
            .iter()
            .filter(|d| level(d) <= max)
            .max_by_key(|d| level(d))
            .or_else(|| candidates.iter().min_by_key(|d| level(d)))
            .copied()
    } else {
        candidates
            .iter()
            .find(|d| variant(d) == want.variant)
            .or_else(|| candidates.iter().find(|d| variant(d).is_none()))
            .or(candidates.first())
            .copied()
    }
    .expect("candidates is not empty");
    let alternatives = candidates
        .iter()
        .filter(|d| d.digest != chosen.digest)
        .filter_map(|d| d.platform.as_ref().map(platform_string))
        .collect();
    Ok((chosen.clone(), alternatives))
}

/// `docker save`'s `manifest.json` entries.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A `docker save` tar: where each member is, to read config and layers in place.
pub(crate) struct DockerArchive {
    path: PathBuf,
    members: BTreeMap<String, (u64, u64)>,
    links: BTreeMap<String, String>,
}

impl DockerArchive {
    pub fn open(path: &Path) -> Result<Self, InspectError> {
        let file = File::open(path).map_err(InspectError::io(path))?;
        let mut archive = tar::Archive::new(io::BufReader::new(file));
        let mut members = BTreeMap::new();
        let mut links = BTreeMap::new();
        for entry in archive.entries().map_err(InspectError::io(path))? {
            let entry = entry.map_err(InspectError::io(path))?;
            let name = crate::rootfs::clean(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.header().size().map_err(InspectError::io(path))?;
                    members.insert(name, (entry.raw_file_position(), size));
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let target = if entry.header().entry_type() == tar::EntryType::Symlink {
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                        normalise(&format!("{dir}/{target}"))
                    } else {
                        crate::rootfs::clean(&target)
                    };
                    links.insert(name, target);
                }
                _ => {}
            }
        }
        Ok(Self {
            path: path.to_owned(),
            members,
            links,
        })
    }

    /// A member's content, streamed from the file.
    pub fn member(&self, name: &str) -> Result<io::Take<File>, InspectError> {
        let mut name = crate::rootfs::clean(name);
        for _ in 0..8 {
            match self.links.get(&name) {
                Some(t) => name.clone_from(t),
                None => break,
            }
        }
        let &(offset, size) = self.members.get(&name).ok_or_else(|| {
            InspectError::image(
                format!("docker-archive:{}", self.path.display()),
                format!("the archive has no `{name}`"),
            )
        })?;
        let mut file = File::open(&self.path).map_err(InspectError::io(&self.path))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(InspectError::io(&self.path))?;
        Ok(file.take(size))
    }

    pub fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, InspectError> {
        let mut out = Vec::new();
        self.member(name)?
            .take(limit)
            .read_to_end(&mut out)
            .map_err(InspectError::io(&self.path))?;
        Ok(out)
    }

    /// The config and layer member names of the image named `name` (`repo:tag`; tools
    /// write `docker.io/repo:tag`, which matches too), or of the first image.
    pub fn image(&self, name: Option<&str>) -> Result<(String, Vec<String>), InspectError> {
        let source = format!("docker-archive:{}", self.path.display());
        let bytes = self.read("manifest.json", 16 * 1024 * 1024)?;
        let entries: Vec<ArchiveManifest> =
            serde_json::from_slice(&bytes).map_err(|source_err| InspectError::Json {
                image: source.clone(),
                what: "`manifest.json`",
                source: source_err,
            })?;
        let entry = match name {
            Some(n) => entries.into_iter().find(|e| {
                e.repo_tags
                    .iter()
                    .flatten()
                    .any(|t| t == n || t.ends_with(&format!("/{n}")))
            }),
            None => entries.into_iter().next(),
        }
        .ok_or_else(|| {
            InspectError::image(
                &source,
                match name {
                    Some(n) => format!("no image tagged `{n}` in `manifest.json`"),
                    None => "`manifest.json` lists no image".to_owned(),
                },
            )
        })?;
        Ok((entry.config, entry.layers))
    }
}

/// `a/./b/../c` → `a/c`, without a leading `/`.
fn normalise(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(variant: Option<&str>, arch: &str, n: u8) -> Descriptor {
        let mut d = Descriptor::new(
            paks_oci::OCI_MANIFEST,
            paks_types::Digest::sha256_of(&[n]),
            1,
        );
        d.platform = Some(paks_oci::Platform {
            architecture: arch.into(),
            os: "linux".into(),
            os_version: None,
            os_features: vec![],
            variant: variant.map(str::to_owned),
            features: vec![],
        });
        d
    }

    #[test]
    fn chooses_the_best_variant_the_host_runs() {
        let index = ImageIndex {
            manifests: vec![
                entry(None, "amd64", 1),
                entry(Some("v3"), "amd64", 2),
                entry(Some("v4"), "amd64", 3),
                entry(Some("v8"), "arm64", 4),
            ],
            ..ImageIndex::default()
        };
        let amd = |max| InspectOptions {
            platform: "linux/amd64".parse().unwrap(),
            max_level: max,
        };
        let (d, alt) = choose("x", &index, &amd(Some(IsaLevel::V3))).unwrap();
        assert_eq!(d.digest, index.manifests[1].digest);
        assert_eq!(alt, ["linux/amd64", "linux/amd64/v4"]);
        let (d, _) = choose("x", &index, &amd(None)).unwrap();
        assert_eq!(d.digest, index.manifests[0].digest);
        let (d, _) = choose("x", &index, &amd(Some(IsaLevel::V4))).unwrap();
        assert_eq!(d.digest, index.manifests[2].digest);
        let arm = InspectOptions {
            platform: "linux/arm64/v8".parse().unwrap(),
            max_level: None,
        };
        assert_eq!(
            choose("x", &index, &arm).unwrap().0.digest,
            index.manifests[3].digest
        );
        let s390 = InspectOptions {
            platform: "linux/s390x".parse().unwrap(),
            max_level: None,
        };
        let e = choose("x", &index, &s390).unwrap_err().to_string();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/amd64/v3"),
            "{e}"
        );
    }

    #[test]
    fn best_generic_level() {
        assert_eq!(
            best_level(&["skylake_avx512", "x86_64_v4", "x86_64_v3", "x86_64"]),
            Some(IsaLevel::V4)
        );
        assert_eq!(best_level(&["x86_64"]), Some(IsaLevel::V1));
        assert_eq!(best_level(&["neoverse_n1", "aarch64"]), None);
        assert_eq!(normalise("a/./b/../c"), "a/c");
    }
}
