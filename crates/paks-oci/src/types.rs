//! The OCI image spec's JSON objects that a distribution client reads and writes:
//! descriptors, platforms, image manifests and image indexes (image-spec v1.1).

use std::collections::BTreeMap;

use paks_types::Digest;
use serde::{Deserialize, Serialize};

/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.docker.distribution.manifest.v2+json`
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// `application/vnd.docker.distribution.manifest.list.v2+json`
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// `application/vnd.oci.image.config.v1+json`
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.oci.empty.v1+json`: the config of artifacts without one; its content is `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The annotation that names a manifest in an image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The content of the empty descriptor ([`OCI_EMPTY`]): `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";

/// The descriptor of [`EMPTY_JSON`], the config of artifacts that have none.
pub fn empty_descriptor() -> Descriptor {
    Descriptor::new(
        OCI_EMPTY,
        Digest::sha256_of(EMPTY_JSON),
        EMPTY_JSON.len() as u64,
    )
}

/// The manifest media types a client accepts, for the `Accept` header.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// A content descriptor (image-spec `descriptor.md`): what a piece of content is, its
/// digest and its size. Fields this type does not model (`urls`, `data`) are dropped when
/// it is parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// REQUIRED: the media type of the referenced content.
    pub media_type: String,
    /// REQUIRED: the digest of the referenced content.
    pub digest: Digest,
    /// REQUIRED: the size of the referenced content in bytes.
    pub size: u64,
    /// OPTIONAL: arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// OPTIONAL (in an index's `manifests`): the platform the manifest is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// OPTIONAL: the type of an artifact when the descriptor points to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor with only the three required fields.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    /// The `org.opencontainers.image.ref.name` annotation.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_REF_NAME)
            .map(String::as_str)
    }
}

/// The platform of an index entry (image-spec `image-index.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// REQUIRED: the CPU architecture, with Go's names (`amd64`, `arm64`).
    pub architecture: String,
    /// REQUIRED: the operating system, with Go's names (`linux`).
    pub os: String,
    /// OPTIONAL: the operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OPTIONAL: mandatory OS features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// OPTIONAL: the CPU variant (`v8`, `v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// RESERVED by the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl From<&paks_types::Platform> for Platform {
    fn from(p: &paks_types::Platform) -> Self {
        Self {
            architecture: p.architecture.clone(),
            os: p.os.clone(),
            os_version: None,
            os_features: Vec::new(),
            variant: p.variant.clone(),
            features: Vec::new(),
        }
    }
}

fn schema_version_2() -> u32 {
    2
}

/// An OCI image manifest (image-spec `manifest.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// REQUIRED: `2`.
    #[serde(default = "schema_version_2")]
    pub schema_version: u32,
    /// SHOULD be `application/vnd.oci.image.manifest.v1+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// OPTIONAL (REQUIRED when the config is the empty descriptor): the artifact's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// REQUIRED: the configuration blob.
    pub config: Descriptor,
    /// The layers, base first (the spec requires the field; it may be empty).
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// OPTIONAL: the manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// OPTIONAL: arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (image-spec `image-index.md`); also the referrers list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// REQUIRED: `2`.
    #[serde(default = "schema_version_2")]
    pub schema_version: u32,
    /// SHOULD be `application/vnd.oci.image.index.v1+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// OPTIONAL: the artifact's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// REQUIRED (may be empty): the manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// OPTIONAL: the manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// OPTIONAL: arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Default for ImageIndex {
    fn default() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: BTreeMap::new(),
        }
    }
}

impl ImageIndex {
    /// The JSON bytes (compact; field order fixed, annotations sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an index serialises")
    }
}

impl ImageManifest {
    /// The JSON bytes (compact; field order fixed, annotations sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest serialises")
    }

    /// An artifact manifest (image-spec 1.1, as ORAS writes them): `artifactType`, the
    /// empty config ([`EMPTY_JSON`], which must be in the repository too), `layers` and
    /// an optional `subject`, the manifest it is attached to. No timestamp annotation, so
    /// attaching the same content twice gives the same digest.
    pub fn artifact(
        artifact_type: impl Into<String>,
        layers: Vec<Descriptor>,
        subject: Option<Descriptor>,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            artifact_type: Some(artifact_type.into()),
            config: empty_descriptor(),
            layers,
            subject,
            annotations,
        }
    }
}

/// A manifest as the registry stores it: its raw bytes, exactly (digests are of bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Manifest {
    /// A manifest of `bytes` (sha256).
    pub fn new(media_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            digest: Digest::sha256_of(&bytes),
            media_type: media_type.into(),
            bytes,
        }
    }

    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }

    /// A descriptor of this manifest: media type, digest and size.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            &self.media_type,
            self.digest.clone(),
            self.bytes.len() as u64,
        )
    }

    /// The descriptor that lists this manifest among the referrers of its subject, as the
    /// distribution spec defines it: `artifactType` from the manifest's `artifactType`, else
    /// (for an image manifest) its config's media type; its annotations copied.
    pub fn referrer_descriptor(&self) -> Result<Descriptor, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Any {
            artifact_type: Option<String>,
            config: Option<Config>,
            #[serde(default)]
            annotations: BTreeMap<String, String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Config {
            media_type: String,
        }
        let any: Any = serde_json::from_slice(&self.bytes)?;
        let mut d = self.descriptor();
        d.artifact_type = any
            .artifact_type
            .filter(|t| !t.is_empty())
            .or(any.config.map(|c| c.media_type));
        d.annotations = any.annotations;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_json_matches_the_spec() {
        let d = Digest::sha256_of(b"{}");
        let mut desc = Descriptor::new(OCI_MANIFEST, d.clone(), 2);
        desc.platform = Some(Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            os_version: None,
            os_features: vec![],
            variant: Some("v8".into()),
            features: vec![],
        });
        desc.artifact_type = Some("application/x".into());
        let json = serde_json::to_value(&desc).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": 2,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                "artifactType": "application/x"
            })
        );
        let back: Descriptor = serde_json::from_value(json).unwrap();
        assert_eq!(back, desc);
    }

    #[test]
    fn referrer_descriptor_takes_artifact_type_and_annotations() {
        let cfg = Descriptor::new("application/vnd.example.sbom", Digest::sha256_of(b"{}"), 2);
        let mut m = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: cfg,
            layers: vec![],
            subject: None,
            annotations: BTreeMap::from([("a".into(), "b".into())]),
        };
        let man = Manifest::new(OCI_MANIFEST, m.to_bytes());
        let d = man.referrer_descriptor().unwrap();
        assert_eq!(
            d.artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
        assert_eq!(d.annotations["a"], "b");
        assert_eq!(d.size, man.bytes.len() as u64);
        m.artifact_type = Some("application/vnd.example.sig".into());
        let d = Manifest::new(OCI_MANIFEST, m.to_bytes())
            .referrer_descriptor()
            .unwrap();
        assert_eq!(
            d.artifact_type.as_deref(),
            Some("application/vnd.example.sig")
        );
    }
}
