//! Computed labels (`docs/labels.md` defines each), and writing labels into an image's
//! config in a registry.

use std::collections::BTreeMap;

use paks_oci::{Client, Reference};
use serde_json::Value;

use crate::error::InspectError;
use crate::report::ImageReport;
use crate::verdict::short;

pub const LABEL_MPI: &str = "org.supercontainers.mpi";
pub const LABEL_GPU: &str = "org.supercontainers.gpu";
pub const LABEL_GLIBC: &str = "org.supercontainers.glibc";
pub const LABEL_ISA_LEVEL: &str = "io.paks.isa-level";
pub const LABEL_ISA_LEVEL_SOURCE: &str = "io.paks.isa-level-source";
pub const LABEL_GLIBC_REQUIRED: &str = "io.paks.glibc.required";
pub const LABEL_GLIBCXX_REQUIRED: &str = "io.paks.glibcxx.required";
pub const LABEL_GLIBC_PROVIDED: &str = "io.paks.glibc.provided";

/// The labels a report implies. A label whose fact is absent (no MPI, no CUDA, no x86
/// code, no glibc needed) is left out.
pub fn computed_labels(report: &ImageReport) -> BTreeMap<String, String> {
    let s = &report.summary;
    let mut labels = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        labels.insert(k.to_owned(), v);
    };
    if let Some(mpi) = &s.mpi {
        put(LABEL_MPI, mpi.abi.clone());
    }
    if let Some(cuda) = &s.cuda {
        put(
            LABEL_GPU,
            cuda.version
                .as_ref()
                .map_or_else(|| "cuda".to_owned(), |v| format!("cuda:{v}")),
        );
    }
    if let Some(req) = &s.glibc_required {
        put(LABEL_GLIBC, short(&req.version));
        put(LABEL_GLIBC_REQUIRED, short(&req.version));
    }
    if let Some(req) = &s.glibcxx_required {
        put(LABEL_GLIBCXX_REQUIRED, req.version.to_string());
    }
    if let Some(v) = &s.image_glibc {
        put(LABEL_GLIBC_PROVIDED, short(v));
    }
    if let Some(isa) = &s.isa {
        put(LABEL_ISA_LEVEL, isa.level.as_str().to_owned());
        put(LABEL_ISA_LEVEL_SOURCE, isa.source.as_str().to_owned());
    }
    labels
}

/// Image configs larger than this are refused.
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

/// Add or replace `labels` in the config of the image `reference` names: the new config
/// is pushed, then a manifest like the old one (same layers, fields and media types) that
/// points to it, under the reference's tag (which moves) or else by digest. Returns the
/// new manifest's reference, by digest (and tag).
pub async fn label(
    client: &Client,
    reference: &Reference,
    labels: &BTreeMap<String, String>,
) -> Result<Reference, InspectError> {
    let image = reference.to_string();
    let repo = reference.repo();
    let manifest = client
        .get_manifest(reference)
        .await
        .map_err(InspectError::oci(&image))?;
    if manifest.is_index() {
        return Err(InspectError::image(
            &image,
            "is an index: label each platform's manifest, by digest",
        ));
    }
    let json_err = |what| {
        let image = image.clone();
        move |source| InspectError::Json {
            image,
            what,
            source,
        }
    };
    let mut doc: Value =
        serde_json::from_slice(&manifest.bytes).map_err(json_err("image manifest"))?;
    let config_desc: paks_oci::Descriptor =
        serde_json::from_value(doc["config"].clone()).map_err(json_err("manifest `config`"))?;
    let config_bytes = client
        .pull_blob_bytes(&repo, &config_desc.digest, CONFIG_LIMIT)
        .await
        .map_err(InspectError::oci(&image))?;
    let mut config: Value =
        serde_json::from_slice(&config_bytes).map_err(json_err("image config"))?;
    let Some(root) = config.as_object_mut() else {
        return Err(InspectError::image(
            &image,
            "the image config is not a JSON object",
        ));
    };
    let inner = root
        .entry("config")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !inner.is_object() {
        *inner = Value::Object(serde_json::Map::new());
    }
    let map = inner
        .as_object_mut()
        .expect("made an object above")
        .entry("Labels")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !map.is_object() {
        *map = Value::Object(serde_json::Map::new());
    }
    let map = map.as_object_mut().expect("made an object above");
    for (k, v) in labels {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    let new_config = serde_json::to_vec(&config).expect("JSON serialises");
    let config_digest = client
        .push_blob_bytes(&repo, &new_config)
        .await
        .map_err(InspectError::oci(&image))?;
    doc["config"]["digest"] = Value::String(config_digest.to_string());
    doc["config"]["size"] = Value::from(new_config.len());
    let new_manifest = serde_json::to_vec(&doc).expect("JSON serialises");
    let digest = paks_types::Digest::sha256_of(&new_manifest);
    let target = match &reference.tag {
        Some(t) => repo.reference_tag(t),
        None => repo.reference_digest(&digest),
    };
    client
        .put_manifest(&target, &manifest.media_type, &new_manifest)
        .await
        .map_err(InspectError::oci(&image))?;
    Ok(Reference {
        digest: Some(digest),
        ..target
    })
}
