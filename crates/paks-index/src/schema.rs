//! The index document (`docs/index-format.md`): every package, version and build of a
//! repository, and the signed envelope around it.

use std::collections::BTreeMap;

use paks_types::{Digest, PackageDep, PackageId, PackageKind, PackageName, Platform, Version};
use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IndexErrorKind};
use crate::time::Timestamp;
use crate::trust::TrustError;

/// The index schema this build writes. Readers refuse newer ones.
pub const SCHEMA: u32 = 1;

/// The repository, under a namespace, that holds the index artifact.
pub const INDEX_REPOSITORY: &str = "paks-index";
/// The tag of the current index artifact.
pub const INDEX_TAG: &str = "latest";
/// The artifact type of the index artifact, and the media type of its one layer.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.paks.index.v1+json";
/// The file name of a static repository's index.
pub const INDEX_FILE: &str = "index.yaml";
pub use paks_remote::format::{ANNOTATION_GLIBC, ANNOTATION_TARGET};

/// The package index of one repository (a registry namespace or a static directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// [`SCHEMA`] when written by this build.
    pub schema: u32,
    /// Increases with every index published for the repository; clients refuse a lower
    /// one than they last saw.
    pub version: u64,
    /// Clients refuse the index after this instant.
    pub expires: Timestamp,
    /// When it was built.
    pub generated: Timestamp,
    /// The repository it describes: `oci://REGISTRY/NAMESPACE`, or for an index built from
    /// a directory of `.pak` files, what the publisher named it.
    pub source: String,
    pub packages: BTreeMap<PackageName, PackageEntry>,
}

/// One package: its description (from its newest version) and its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageEntry {
    /// The repository name under the namespace (`g_plus_plus` for `g++`).
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Keyed by version; JSON orders them as strings, this map by semver precedence, so
    /// the last entry is the newest version.
    pub versions: BTreeMap<Version, VersionEntry>,
}

/// One version: the digest of its OCI image index (absent for static repositories built
/// from `.pak` files) and its builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    pub builds: Vec<BuildEntry>,
}

/// One build: everything a resolver needs to choose it without fetching its config, and
/// the digests an installer checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildEntry {
    pub id: PackageId,
    /// The digest of its OCI image manifest: what is installed, and what must be listed.
    pub digest: Digest,
    pub platform: Platform,
    /// The microarchitecture target (annotation `io.paks.target`), if it needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The minimum glibc (annotation `io.paks.glibc`, `2.36` read as `2.36.0`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<Version>,
    pub config: BlobEntry,
    pub layer: LayerEntry,
    /// Unpacked bytes of its regular files.
    pub size: u64,
    /// Entries in its prefix.
    pub files: u64,
    #[serde(default)]
    pub dependencies: Vec<PackageDep>,
    /// In a static repository, the `.pak` file beside `index.yaml` (a plain file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// What its layer holds: a store prefix, or an imported distribution package rooted
    /// at `/` (absent in indexes from before imports: `store`).
    #[serde(default, skip_serializing_if = "PackageKind::is_store")]
    pub kind: PackageKind,
    /// For an imported package, its distribution's version verbatim (`1:2.36-9+deb12u4`):
    /// what `search` shows instead of the semver form that orders it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_version: Option<String>,
}

impl BuildEntry {
    /// The version people read: the distribution's for an imported package, else `version`.
    pub fn shown_version(&self, version: &Version) -> String {
        self.distribution_version
            .clone()
            .unwrap_or_else(|| version.to_string())
    }
}

/// A blob: digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    pub digest: Digest,
    pub size: u64,
}

/// The package layer: digest, size and media type (which says its compression).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerEntry {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// A build found in an index, with the package and version that list it.
#[derive(Debug, Clone, Copy)]
pub struct FoundBuild<'a> {
    pub name: &'a PackageName,
    pub package: &'a PackageEntry,
    pub version: &'a Version,
    pub build: &'a BuildEntry,
}

impl Index {
    /// An empty index of `source`, version `version`, generated at `generated`.
    pub fn new(
        source: impl Into<String>,
        version: u64,
        generated: Timestamp,
        expires: Timestamp,
    ) -> Self {
        Self {
            schema: SCHEMA,
            version,
            expires,
            generated,
            source: source.into(),
            packages: BTreeMap::new(),
        }
    }

    /// The canonical JSON of this index: what signatures cover (see [`canonical_json`]).
    pub fn canonical_json(&self) -> Vec<u8> {
        canonical_json(&serde_json::to_value(self).expect("an index serialises"))
    }

    /// The sha256 of [`Index::canonical_json`]: two indexes with the same content digest
    /// are the same index.
    pub fn content_digest(&self) -> Digest {
        Digest::sha256_of(&self.canonical_json())
    }

    /// The package named `name`.
    pub fn package(&self, name: &str) -> Option<&PackageEntry> {
        let name = PackageName::new(name).ok()?;
        self.packages.get(&name)
    }

    /// The build whose manifest digest is `digest`.
    pub fn find_build(&self, digest: &Digest) -> Option<FoundBuild<'_>> {
        self.builds().find(|b| b.build.digest == *digest)
    }

    /// The build whose manifest digest is `digest`, or [`TrustError::NotListed`]: what an
    /// installer calls before installing anything by digest.
    pub fn require_listed(&self, digest: &Digest) -> Result<FoundBuild<'_>, TrustError> {
        self.find_build(digest)
            .ok_or_else(|| TrustError::NotListed {
                digest: digest.clone(),
                source_name: self.source.clone(),
                version: self.version,
            })
    }

    /// Every build, by package name, then version, then the order in the index.
    pub fn builds(&self) -> impl Iterator<Item = FoundBuild<'_>> {
        self.packages.iter().flat_map(|(name, package)| {
            package.versions.iter().flat_map(move |(version, v)| {
                v.builds.iter().map(move |build| FoundBuild {
                    name,
                    package,
                    version,
                    build,
                })
            })
        })
    }
}

/// A signature over the canonical JSON of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The sha256, in lower-case hex, of the signer's raw 32-byte ed25519 public key.
    pub keyid: String,
    /// The 64-byte ed25519 signature, standard base64 with padding.
    pub sig: String,
}

/// An index and its signatures (TUF-style envelope): what is stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIndex {
    pub signatures: Vec<Signature>,
    pub signed: Index,
}

impl SignedIndex {
    /// An index without signatures.
    pub fn unsigned(index: Index) -> Self {
        Self {
            signatures: Vec::new(),
            signed: index,
        }
    }

    /// The document as stored (`index.yaml`, the artifact's layer): pretty-printed JSON,
    /// which is also YAML.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("an index serialises");
        out.push(b'\n');
        out
    }

    /// Parse a stored document (`what` names it in errors). A newer schema is refused by
    /// name; so is a `signed` object that re-serializes differently (unknown fields,
    /// `null` for an absent field, a value spelled otherwise than paks spells it), since
    /// signatures are checked over the re-serialized form and must cover all of it.
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Self, IndexError> {
        let parse_err = |source| {
            IndexError::from(IndexErrorKind::Parse {
                what: what.to_owned(),
                source,
            })
        };
        let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(parse_err)?;
        if let Some(found) = raw
            .pointer("/signed/schema")
            .and_then(serde_json::Value::as_u64)
            && found > u64::from(SCHEMA)
        {
            return Err(TrustError::NewerSchema {
                found,
                supported: SCHEMA,
            }
            .into());
        }
        let signed: SignedIndex = serde_json::from_value(raw.clone()).map_err(parse_err)?;
        let reserialized = serde_json::to_value(&signed.signed).expect("an index serialises");
        let original = raw.get("signed").expect("parsed, so present");
        if canonical_json(&reserialized) != canonical_json(original) {
            return Err(IndexErrorKind::NotCanonical {
                what: what.to_owned(),
                reason: first_difference(original, &reserialized, ""),
            }
            .into());
        }
        for entry in signed.signed.packages.values() {
            entry.check_files(what)?;
        }
        Ok(signed)
    }
}

impl PackageEntry {
    /// Refuse a build whose `file` is not a plain file name (`what` names the document): a
    /// `file` is joined to the repository's location and to the cache directory, so an
    /// absolute path or a directory part would read or write elsewhere.
    pub(crate) fn check_files(&self, what: &str) -> Result<(), IndexError> {
        for version in self.versions.values() {
            for build in &version.builds {
                if let Some(file) = build.file.as_deref().filter(|f| !is_plain_file_name(f)) {
                    return Err(IndexErrorKind::FileNotPlain {
                        what: what.to_owned(),
                        id: build.id.to_string(),
                        file: file.to_owned(),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }
}

/// Where two JSON values first differ, as a JSON pointer with what each holds.
pub(crate) fn first_difference(
    read: &serde_json::Value,
    written: &serde_json::Value,
    at: &str,
) -> String {
    use serde_json::Value;
    match (read, written) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let here = format!("{at}/{k}");
                match b.get(k) {
                    Some(vb) if canonical_json(va) != canonical_json(vb) => {
                        return first_difference(va, vb, &here);
                    }
                    Some(_) => {}
                    None => {
                        return format!("`{here}` is not part of the schema (or not `null`-able)");
                    }
                }
            }
            match b.keys().find(|k| !a.contains_key(*k)) {
                Some(k) => format!("`{at}/{k}` is missing"),
                None => format!("`{at}` differs"),
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find(|(_, (x, y))| canonical_json(x) != canonical_json(y))
            .map_or_else(
                || format!("`{at}` differs"),
                |(i, (x, y))| first_difference(x, y, &format!("{at}/{i}")),
            ),
        _ => format!("`{at}` is `{read}`, which paks writes as `{written}`"),
    }
}

/// The canonical JSON of a value: object keys sorted by their UTF-8 bytes, no whitespace,
/// strings escaped as `serde_json` escapes them (`"`, `\` and control characters; other
/// characters as UTF-8), integers in decimal. Indexes hold no floating-point numbers.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("writing to a Vec");
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing to a Vec"),
    }
}

/// The flat file name of a build in a static repository: `<name>-<version>-<hash>.pak`,
/// as `paks build` names its output.
pub fn pak_file_name(id: &PackageId) -> String {
    format!("{}-{}-{}.pak", id.name(), id.version(), id.hash())
}

/// Whether `name` is a plain file name: no directory part, not `.` or `..`, no control
/// characters; what a static repository's `file` must be.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
pub(crate) mod tests {
    use paks_types::{VersionReq, id_hash};

    use super::*;

    pub(crate) fn sample_index(version: u64) -> Index {
        let name = PackageName::new("hello").unwrap();
        let v = Version::parse("1.0.0").unwrap();
        let id = PackageId::new(id_hash(b"hello"), name.clone(), v.clone()).unwrap();
        let dep_id = PackageId::new(
            id_hash(b"greet"),
            PackageName::new("libgreet").unwrap(),
            Version::new(1, 2, 0),
        )
        .unwrap();
        let build = BuildEntry {
            kind: PackageKind::Store,
            distribution_version: None,
            file: Some(pak_file_name(&id)),
            id,
            digest: Digest::sha256_of(b"manifest"),
            platform: "linux/amd64".parse().unwrap(),
            target: Some("x86_64_v3".into()),
            glibc: Some(Version::new(2, 36, 0)),
            config: BlobEntry {
                digest: Digest::sha256_of(b"config"),
                size: 600,
            },
            layer: LayerEntry {
                digest: Digest::sha256_of(b"layer"),
                size: 1234,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            },
            size: 4096,
            files: 7,
            dependencies: vec![PackageDep {
                name: dep_id.name().clone(),
                req: VersionReq::parse("^1.2").unwrap(),
                id: dep_id,
                digest: Some(Digest::sha256_of(b"dep")),
            }],
        };
        let mut index = Index::new(
            "oci://127.0.0.1:5000/acme",
            version,
            Timestamp::from_unix(1_700_000_000),
            Timestamp::from_unix(1_700_000_000 + 30 * 86_400),
        );
        index.packages.insert(
            name,
            PackageEntry {
                repository: "hello".into(),
                summary: Some("Says \"hello\" — politely".into()),
                license: Some("MIT".into()),
                homepage: None,
                versions: BTreeMap::from([(
                    v,
                    VersionEntry {
                        digest: Some(Digest::sha256_of(b"version index")),
                        builds: vec![build],
                    },
                )]),
            },
        );
        index
    }

    #[test]
    fn round_trips_through_json() {
        let signed = SignedIndex::unsigned(sample_index(3));
        let bytes = signed.to_bytes();
        let back = SignedIndex::from_slice(&bytes, "test").unwrap();
        assert_eq!(back, signed);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains(r#""media_type": "application/vnd.oci.image.layer.v1.tar+gzip""#),
            "{text}"
        );
        assert!(text.contains(r#""glibc": "2.36.0""#), "{text}");
        assert!(
            !text.contains("homepage"),
            "absent fields are omitted: {text}"
        );
    }

    #[test]
    fn canonical_json_is_sorted_compact_and_stable() {
        let value = serde_json::json!({"b": [1, {"z": "é\n", "a": null}], "a": true, "B": 2});
        assert_eq!(
            String::from_utf8(canonical_json(&value)).unwrap(),
            r#"{"B":2,"a":true,"b":[1,{"a":null,"z":"é\n"}]}"#
        );
        let index = sample_index(1);
        let c = index.canonical_json();
        assert_eq!(c, index.clone().canonical_json());
        let reparsed: Index = serde_json::from_slice(&c).unwrap();
        assert_eq!(reparsed.canonical_json(), c);
        assert!(!c.contains(&b'\n'));
        // Pinned: a change here breaks every signature in the field.
        let text = String::from_utf8(c).unwrap();
        assert!(text.starts_with(r#"{"expires":"2023-12-14T22:13:20Z","generated":"2023-11-14T22:13:20Z","packages":{"hello":{"license":"MIT","repository":"hello","summary":"Says \"hello\" — politely","versions":{"1.0.0":{"builds":[{"config":{"digest":"sha256:"#), "{text}");
        assert!(
            text.ends_with(r#""schema":1,"source":"oci://127.0.0.1:5000/acme","version":1}"#),
            "{text}"
        );
    }

    #[test]
    fn newer_schema_is_refused_by_name() {
        let mut value = serde_json::to_value(SignedIndex::unsigned(sample_index(1))).unwrap();
        value["signed"]["schema"] = 2.into();
        value["signed"]["something_new"] = "x".into();
        let err = SignedIndex::from_slice(&serde_json::to_vec(&value).unwrap(), "x").unwrap_err();
        assert!(
            matches!(
                err.trust(),
                Some(TrustError::NewerSchema {
                    found: 2,
                    supported: 1
                })
            ),
            "{err}"
        );
        assert!(
            err.hint().unwrap().contains("upgrade paks"),
            "{:?}",
            err.hint()
        );
    }

    #[test]
    fn non_canonical_content_is_refused() {
        let good = serde_json::to_value(SignedIndex::unsigned(sample_index(1))).unwrap();
        let mut extra = good.clone();
        extra["signed"]["packages"]["hello"]["mirror"] = "elsewhere".into();
        let mut null = good.clone();
        null["signed"]["packages"]["hello"]["homepage"] = serde_json::Value::Null;
        let mut spelled = good;
        spelled["signed"]["packages"]["hello"]["versions"]["1.0.0"]["builds"][0]["dependencies"]
            [0]["req"] = ">=1.2,<2".into();
        for (value, pointer) in [
            (extra, "/packages/hello/mirror"),
            (null, "/packages/hello/homepage"),
            (
                spelled,
                "/packages/hello/versions/1.0.0/builds/0/dependencies/0/req",
            ),
        ] {
            let err =
                SignedIndex::from_slice(&serde_json::to_vec(&value).unwrap(), "x").unwrap_err();
            assert!(
                matches!(err.kind(), IndexErrorKind::NotCanonical { .. }),
                "{err}"
            );
            assert!(err.to_string().contains(pointer), "{err}");
        }
    }

    #[test]
    fn finds_builds_by_digest() {
        let index = sample_index(1);
        let found = index.find_build(&Digest::sha256_of(b"manifest")).unwrap();
        assert_eq!(found.name.as_str(), "hello");
        assert_eq!(found.version, &Version::new(1, 0, 0));
        assert!(index.find_build(&Digest::sha256_of(b"config")).is_none());
        let err = index
            .require_listed(&Digest::sha256_of(b"other"))
            .unwrap_err();
        assert!(matches!(err, TrustError::NotListed { .. }), "{err}");
        assert!(
            err.to_string().contains("oci://127.0.0.1:5000/acme"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_plain_name_is_refused_on_parse() {
        for bad in ["/etc/passwd", "sub/x.pak", "../x.pak", ".."] {
            let mut index = sample_index(1);
            for entry in index.packages.values_mut() {
                for version in entry.versions.values_mut() {
                    for build in &mut version.builds {
                        build.file = Some(bad.to_owned());
                    }
                }
            }
            let bytes = serde_json::to_vec(&SignedIndex::unsigned(index)).unwrap();
            let err = SignedIndex::from_slice(&bytes, "index.yaml").unwrap_err();
            assert!(
                matches!(err.kind(), IndexErrorKind::FileNotPlain { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn plain_file_names() {
        assert!(is_plain_file_name("hello-1.0.0-abc.pak"));
        for bad in ["", ".", "..", "a/b", "../x", "a\\b", "a\nb"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
