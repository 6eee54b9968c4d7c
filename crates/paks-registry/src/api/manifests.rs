//! Manifests and indexes: GET/HEAD by tag or digest, PUT (with `subject`), DELETE.

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use paks_types::{Digest, DigestAlgorithm};
use serde::Deserialize;

use super::conditional::{self, Condition};
use super::{ApiError, AppState, Code, MAX_MANIFEST_SIZE, api_version, blocking, empty, hv};
use crate::names::{Reference, RepoName, valid_tag};
use crate::storage::{Descriptor, ManifestRefs, StoredManifest, TagWrite};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn reference(r: &str) -> Result<Reference, ApiError> {
    Reference::parse(r).map_err(|why| {
        let code = if r.contains(':') {
            Code::DigestInvalid
        } else {
            Code::ManifestInvalid
        };
        ApiError::new(code, why).with_detail(serde_json::json!({ "reference": r }))
    })
}

fn manifest_unknown(repo: &RepoName, r: &str) -> ApiError {
    ApiError::new(
        Code::ManifestUnknown,
        format!("manifest `{r}` is not in repository `{repo}`"),
    )
    .with_detail(serde_json::json!({ "reference": r }))
}

/// The digest a reference names in `repo`, if any.
async fn resolve(
    state: &AppState,
    repo: &RepoName,
    r: &Reference,
) -> Result<Option<Digest>, ApiError> {
    match r {
        Reference::Digest(d) => Ok(Some(d.clone())),
        Reference::Tag(t) => {
            let storage = state.storage.clone();
            let (repo, t) = (repo.clone(), t.clone());
            blocking(move || storage.resolve_tag(&repo, &t)).await
        }
    }
}

pub async fn get(
    state: &AppState,
    repo: RepoName,
    r: &str,
    with_body: bool,
) -> Result<Response, ApiError> {
    let parsed = reference(r)?;
    let digest = resolve(state, &repo, &parsed)
        .await?
        .ok_or_else(|| manifest_unknown(&repo, r))?;
    let storage = state.storage.clone();
    let (rp, d) = (repo.clone(), digest.clone());
    let manifest = blocking(move || storage.get_manifest(&rp, &d))
        .await?
        .ok_or_else(|| manifest_unknown(&repo, r))?;
    let len = manifest.bytes.len();
    let mut response = if with_body {
        (StatusCode::OK, manifest.bytes).into_response()
    } else {
        empty(StatusCode::OK, &[])
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(&manifest.media_type));
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert("docker-content-digest", hv(&digest.to_string()));
    api_version(h);
    Ok(response)
}

/// The parts of a manifest or index the registry reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parsed {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Desc>,
    layers: Option<Vec<Desc>>,
    manifests: Option<Vec<Desc>>,
    subject: Option<Desc>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Desc {
    media_type: Option<String>,
    digest: String,
    size: Option<u64>,
    #[serde(default)]
    urls: Vec<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::ManifestInvalid, message)
}

fn desc_digest(d: &Desc, what: &str) -> Result<Digest, ApiError> {
    d.digest
        .parse()
        .map_err(|e| invalid(format!("the {what} digest `{}` is invalid: {e}", d.digest)))
}

/// Checks a manifest body and lists what it references. Public for the fuzz targets.
pub fn inspect(
    bytes: &[u8],
    content_type: Option<&str>,
    digest: &Digest,
) -> Result<(String, ManifestRefs), ApiError> {
    let parsed: Parsed = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("the manifest is not valid JSON: {e}")))?;
    if parsed.schema_version != Some(2) {
        return Err(invalid("the manifest's `schemaVersion` must be 2"));
    }
    let media_type = match (content_type, parsed.media_type.as_deref()) {
        (Some(c), Some(m)) if c != m => {
            return Err(invalid(format!(
                "the manifest's `mediaType` is `{m}` but it was sent as `{c}`"
            )));
        }
        (Some(c), _) => c.to_owned(),
        (None, Some(m)) => m.to_owned(),
        (None, None) => {
            return Err(invalid(
                "the manifest has no `mediaType` and the request no `Content-Type`",
            ));
        }
    };
    let mut refs = ManifestRefs::default();
    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = parsed
                .config
                .as_ref()
                .ok_or_else(|| invalid("an image manifest needs a `config`"))?;
            let d = desc_digest(config, "config")?;
            refs.sizes.extend(config.size.map(|s| (d.clone(), s)));
            refs.blobs.push(d);
            for layer in parsed.layers.iter().flatten() {
                let d = desc_digest(layer, "layer")?;
                // Layers with `urls` (non-distributable) may live elsewhere.
                if layer.urls.is_empty() {
                    refs.sizes.extend(layer.size.map(|s| (d.clone(), s)));
                    refs.blobs.push(d);
                }
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            for m in parsed.manifests.iter().flatten() {
                let d = desc_digest(m, "manifest")?;
                refs.sizes.extend(m.size.map(|s| (d.clone(), s)));
                refs.manifests.push(d);
            }
        }
        other => {
            return Err(invalid(format!(
                "`{other}` is not a manifest media type this registry stores; use `{OCI_MANIFEST}` or `{OCI_INDEX}`"
            )));
        }
    }
    if let Some(subject) = &parsed.subject {
        let subject_digest = desc_digest(subject, "subject")?;
        let artifact_type = parsed
            .artifact_type
            .clone()
            .or_else(|| parsed.config.as_ref().and_then(|c| c.media_type.clone()));
        refs.subject = Some((
            subject_digest,
            Descriptor {
                media_type: media_type.clone(),
                digest: digest.clone(),
                size: bytes.len() as u64,
                artifact_type,
                annotations: parsed.annotations.clone(),
            },
        ));
    }
    Ok((media_type, refs))
}

pub async fn put(
    state: &AppState,
    repo: RepoName,
    r: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let parsed_ref = reference(r)?;
    let mut tags = query_tags(request.uri().query())?;
    let tagged_by_query = !tags.is_empty();
    if let Reference::Tag(t) = &parsed_ref {
        tags.insert(0, t.clone());
    }
    let condition = Condition::of(request.headers())?;
    if condition.is_some() && tags.len() != 1 {
        return Err(ApiError::new(
            Code::Unsupported,
            "`If-Match` and `If-None-Match` apply to a `PUT` of one tag",
        )
        .with_status(StatusCode::BAD_REQUEST));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty());
    let bytes = axum::body::to_bytes(request.into_body(), MAX_MANIFEST_SIZE)
        .await
        .map_err(|_| {
            ApiError::new(
                Code::SizeInvalid,
                format!(
                    "the manifest is larger than {MAX_MANIFEST_SIZE} bytes, or its body broke off"
                ),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
    state.received(bytes.len() as u64);
    let digest = match &parsed_ref {
        Reference::Digest(d) => {
            let actual = match d.algorithm() {
                DigestAlgorithm::Sha256 => Digest::sha256_of(&bytes),
                DigestAlgorithm::Sha512 => Digest::sha512_of(&bytes),
            };
            if &actual != d {
                return Err(ApiError::new(
                    Code::DigestInvalid,
                    format!("the manifest's digest is `{actual}`, not `{d}`"),
                ));
            }
            actual
        }
        Reference::Tag(_) => Digest::sha256_of(&bytes),
    };
    let (media_type, refs) = inspect(&bytes, content_type.as_deref(), &digest)?;
    let subject = refs.subject.as_ref().map(|(d, _)| d.to_string());
    let manifest = StoredManifest {
        media_type,
        bytes: bytes.to_vec(),
    };
    // Held until the tags are written: a condition checked now still holds then for the
    // writers of this process; the storage's conditional write covers other processes.
    let _locked = state.tag_locks.lock(&repo.to_string(), &tags).await;
    if let Some(condition) = &condition {
        // Refused before anything is stored when the tag has already moved.
        let current = resolve(state, &repo, &Reference::Tag(tags[0].clone())).await?;
        condition.check(&tags[0], current.as_ref())?;
    }
    let storage = state.storage.clone();
    let (rp, d) = (repo.clone(), digest.clone());
    let stored_tags = tags.clone();
    let written = blocking(move || {
        let tags: Vec<&str> = stored_tags.iter().map(String::as_str).collect();
        match condition {
            Some(c) => storage.put_manifest_if(&rp, &d, &manifest, &refs, tags[0], &c),
            None => storage
                .put_manifest(&rp, &d, &manifest, &refs, &tags)
                .map(|()| TagWrite::Written),
        }
    })
    .await?;
    if let TagWrite::Refused { current } = written {
        return Err(conditional::refused(&tags[0], current.as_ref()));
    }
    let mut headers = vec![
        ("location", format!("/v2/{repo}/manifests/{digest}")),
        ("docker-content-digest", digest.to_string()),
    ];
    if let Some(s) = subject {
        headers.push(("oci-subject", s));
    }
    let mut response = empty(StatusCode::CREATED, &headers);
    // Only for `?tag=`, as the spec's next version has it: one header per tag applied.
    if tagged_by_query {
        for tag in &tags {
            response.headers_mut().append("oci-tag", hv(tag));
        }
    }
    Ok(response)
}

/// The `tag` parameters of a manifest PUT's query (`?tag=a&tag=b`), each checked against
/// the tag grammar.
fn query_tags(query: Option<&str>) -> Result<Vec<String>, ApiError> {
    let mut tags = Vec::new();
    for pair in query.unwrap_or_default().split('&') {
        let Some(tag) = pair.strip_prefix("tag=") else {
            continue;
        };
        if !valid_tag(tag) {
            return Err(invalid(format!("`{tag}` is not a valid tag"))
                .with_detail(serde_json::json!({ "tag": tag })));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    Ok(tags)
}

pub async fn delete(state: &AppState, repo: RepoName, r: &str) -> Result<Response, ApiError> {
    let parsed = reference(r)?;
    let storage = state.storage.clone();
    let rp = repo.clone();
    let deleted = match parsed {
        Reference::Digest(d) => blocking(move || storage.delete_manifest(&rp, &d)).await?,
        Reference::Tag(t) => blocking(move || storage.delete_tag(&rp, &t)).await?,
    };
    if deleted {
        Ok(empty(StatusCode::ACCEPTED, &[]))
    } else {
        Err(manifest_unknown(&repo, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    #[test]
    fn image_manifests_list_config_layers_and_subject() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/x.sbom",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": d("c").to_string(), "size": 2},
            "layers": [
                {"mediaType": "x", "digest": d("l").to_string(), "size": 1},
                {"mediaType": "x", "digest": d("f").to_string(), "size": 1, "urls": ["https://x"]}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d("s").to_string(), "size": 1},
            "annotations": {"a": "b"}
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let me = Digest::sha256_of(&bytes);
        let (mt, refs) = inspect(&bytes, Some(OCI_MANIFEST), &me).unwrap();
        assert_eq!(mt, OCI_MANIFEST);
        assert_eq!(refs.blobs, vec![d("c"), d("l")]);
        let (subject, desc) = refs.subject.unwrap();
        assert_eq!(subject, d("s"));
        assert_eq!(desc.artifact_type.as_deref(), Some("application/x.sbom"));
        assert_eq!(desc.digest, me);
    }

    #[test]
    fn bad_manifests_are_refused() {
        let me = d("m");
        let cases = [
            serde_json::json!({"schemaVersion": 1, "mediaType": OCI_MANIFEST}),
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX}),
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST}),
            serde_json::json!({"schemaVersion": 2, "mediaType": "text/plain"}),
        ];
        for (i, c) in cases.iter().enumerate() {
            let bytes = serde_json::to_vec(c).unwrap();
            let ct = if i == 1 { Some(OCI_MANIFEST) } else { None };
            assert_eq!(
                inspect(&bytes, ct, &me).unwrap_err().code,
                Code::ManifestInvalid,
                "{c}"
            );
        }
        assert!(inspect(b"not json", Some(OCI_MANIFEST), &me).is_err());
    }
}
