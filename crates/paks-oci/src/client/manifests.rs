//! Manifests, tags and referrers.

use paks_types::Digest;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::http::{Body, Req, header_str, next_link, read_capped};
use super::{Client, MANIFEST_LIMIT, delete_scope, pull_scope, push_scope};
use crate::error::{ErrorKind, OciError};
use crate::hash::StreamHasher;
use crate::reference::{Reference, Repository, referrers_tag};
use crate::types::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, ImageIndex, MANIFEST_MEDIA_TYPES, Manifest,
    OCI_INDEX, OCI_MANIFEST,
};

/// What a registry answered to a manifest `PUT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// The `OCI-Subject` header: the registry recorded the manifest among the referrers
    /// of this digest, so no client-side fallback is needed.
    pub subject: Option<Digest>,
}

/// What a conditional manifest `PUT` requires of the tag it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCondition {
    /// The tag still names this manifest (`If-Match: "<digest>"`).
    Names(Digest),
    /// The tag does not exist yet (`If-None-Match: *`).
    Absent,
}

/// Pages of tags or referrers followed at most.
const MAX_PAGES: usize = 1000;
/// The largest tag list or referrers page read.
const LIST_LIMIT: u64 = 16 * 1024 * 1024;

/// Every manifest type, the index types first: a registry that picks by the order of
/// `Accept` (rather than serving what the tag holds) then serves a multi-platform tag's
/// index, never one platform's manifest.
fn accept_manifests() -> HeaderValue {
    let types = [
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        DOCKER_MANIFEST,
    ];
    debug_assert!(MANIFEST_MEDIA_TYPES.iter().all(|t| types.contains(t)));
    HeaderValue::from_str(&types.join(", ")).expect("media types are valid header values")
}

/// The media type of a `Content-Type`, without parameters.
fn media_type_of(resp: &reqwest::Response) -> Option<String> {
    let ct = header_str(resp, "content-type")?;
    let mt = ct.split(';').next().unwrap_or(ct).trim();
    (!mt.is_empty()).then(|| mt.to_owned())
}

/// The `mediaType` field of a JSON document, if it has one.
fn media_type_field(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Typed {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Typed>(bytes).ok()?.media_type
}

/// The media type of a fetched manifest: its `Content-Type` when that is a manifest type
/// (and then the `mediaType` field, if any, must agree), else the `mediaType` field.
fn manifest_media_type(content_type: Option<String>, bytes: &[u8]) -> Result<String, String> {
    let field = media_type_field(bytes);
    match (content_type, field) {
        (Some(ct), Some(f)) if MANIFEST_MEDIA_TYPES.contains(&ct.as_str()) && ct != f => Err(
            format!("`Content-Type` is `{ct}` but the manifest's `mediaType` is `{f}`"),
        ),
        (Some(ct), _) if MANIFEST_MEDIA_TYPES.contains(&ct.as_str()) => Ok(ct),
        (_, Some(f)) | (Some(f), None) => Ok(f),
        (None, None) => Err("no `Content-Type` and no `mediaType`".into()),
    }
}

impl Client {
    /// `GET /v2/`: checks that `registry` speaks the distribution API, and that the
    /// credentials are accepted (it drives the authentication flow).
    pub async fn ping(&self, registry: &str) -> Result<(), OciError> {
        let what = format!("failed to reach registry `{registry}`");
        let url = self.url(registry, "/v2/")?;
        let sent = self
            .send(Req {
                what: &what,
                registry: Some(registry),
                method: Method::GET,
                url,
                headers: HeaderMap::new(),
                body: Body::Empty,
                scopes: &[],
                retry: true,
            })
            .await?;
        if sent.resp.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(self.status_error(&what, &Method::GET, sent).await)
        }
    }

    fn manifest_url(&self, reference: &Reference) -> Result<Url, OciError> {
        self.url(
            &reference.registry,
            &format!(
                "/v2/{}/manifests/{}",
                reference.repository,
                reference.tag_or_digest()
            ),
        )
    }

    /// Fetch a manifest or index (OCI or Docker v2), at most 4 MiB. Fetched by digest, the
    /// bytes must hash to it; by tag, the digest is the bytes' sha256, and a
    /// `Docker-Content-Digest` that disagrees is refused.
    ///
    /// A manifest fetched by digest is fetched once per client and repository (callers
    /// asking at once wait for the one request): its bytes cannot change, and the closures
    /// of an install's packages share their dependencies (a cold install of 100 packages
    /// asked for one manifest 70 times).
    pub async fn get_manifest(&self, reference: &Reference) -> Result<Manifest, OciError> {
        let Some(digest) = &reference.digest else {
            return self.fetch_manifest(reference).await;
        };
        let key = (
            reference.registry.clone(),
            reference.repository.clone(),
            digest.clone(),
        );
        let cell = self
            .inner
            .manifests
            .lock()
            .expect("not poisoned")
            .entry(key)
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.fetch_manifest(reference))
            .await
            .cloned()
    }

    async fn fetch_manifest(&self, reference: &Reference) -> Result<Manifest, OciError> {
        let what = format!("failed to get manifest `{reference}`");
        let url = self.manifest_url(reference)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept_manifests());
        let scopes = [pull_scope(&reference.repository)];
        let mut attempt = 0;
        let (sent_url, header_digest, content_type, bytes) = loop {
            attempt += 1;
            let sent = self
                .send(Req {
                    what: &what,
                    registry: Some(&reference.registry),
                    method: Method::GET,
                    url: url.clone(),
                    headers: headers.clone(),
                    body: Body::Empty,
                    scopes: &scopes,
                    retry: true,
                })
                .await?;
            if sent.resp.status() != StatusCode::OK {
                return Err(self.status_error(&what, &Method::GET, sent).await);
            }
            let header_digest = header_str(&sent.resp, "docker-content-digest").map(str::to_owned);
            let content_type = media_type_of(&sent.resp);
            let sent_url = sent.url.to_string();
            let too_large = |size| {
                OciError::from(ErrorKind::ManifestTooLarge {
                    what: what.clone(),
                    url: sent_url.clone(),
                    size,
                    limit: MANIFEST_LIMIT,
                })
            };
            let within = self.inner.config.transfer_deadline;
            match read_capped(&what, sent, MANIFEST_LIMIT, within, too_large).await {
                Ok(bytes) => break (sent_url, header_digest, content_type, bytes),
                // A connection dropped mid-body: the whole request again.
                Err(e)
                    if matches!(e.kind(), ErrorKind::Connection { .. })
                        && attempt <= self.inner.config.retries =>
                {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let digest = match &reference.digest {
            Some(expected) => {
                let actual = StreamHasher::digest_of(expected.algorithm(), &bytes);
                if actual != *expected {
                    return Err(ErrorKind::DigestMismatch {
                        what,
                        url: sent_url,
                        expected: expected.clone(),
                        actual,
                    }
                    .into());
                }
                actual
            }
            None => Digest::sha256_of(&bytes),
        };
        if let Some(claimed) = header_digest {
            let claimed: Digest = claimed.parse().map_err(|_| ErrorKind::Protocol {
                what: what.clone(),
                url: sent_url.clone(),
                message: format!("invalid `Docker-Content-Digest` `{claimed}`"),
            })?;
            let actual = StreamHasher::digest_of(claimed.algorithm(), &bytes);
            if actual != claimed {
                return Err(ErrorKind::DigestMismatch {
                    what,
                    url: sent_url,
                    expected: claimed,
                    actual,
                }
                .into());
            }
        }
        let media_type =
            manifest_media_type(content_type, &bytes).map_err(|message| ErrorKind::Protocol {
                what,
                url: sent_url,
                message,
            })?;
        Ok(Manifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// `HEAD` a manifest: its digest, size and media type, or `None` if there is none.
    pub async fn head_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<(Digest, u64, String)>, OciError> {
        let what = format!("failed to check for manifest `{reference}`");
        let url = self.manifest_url(reference)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept_manifests());
        let sent = self
            .send(Req {
                what: &what,
                registry: Some(&reference.registry),
                method: Method::HEAD,
                url,
                headers,
                body: Body::Empty,
                scopes: &[pull_scope(&reference.repository)],
                retry: true,
            })
            .await?;
        match sent.resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(self.status_error(&what, &Method::HEAD, sent).await),
        }
        let digest =
            header_str(&sent.resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let size = header_str(&sent.resp, "content-length").and_then(|v| v.parse::<u64>().ok());
        let media_type = media_type_of(&sent.resp);
        if let (Some(d), Some(s), Some(mt)) = (
            digest.or_else(|| reference.digest.clone()),
            size,
            media_type,
        ) {
            return Ok(Some((d, s, mt)));
        }
        // The registry does not say enough: fetch it.
        let m = self.get_manifest(reference).await?;
        let size = m.bytes.len() as u64;
        Ok(Some((m.digest, size, m.media_type)))
    }

    /// Store a manifest under a tag or its digest; returns its digest (sha256, or the
    /// reference's algorithm when it has a digest, which must then match the bytes).
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        Ok(self
            .put_manifest_with(reference, media_type, bytes, None)
            .await?
            .digest)
    }

    /// [`put_manifest`](Self::put_manifest), and what the registry said about it: the
    /// `OCI-Subject` it answered with (a registry that indexes referrers itself sends it).
    /// With a `condition`, the tag is only written while it holds (`If-Match: "<digest>"`,
    /// `If-None-Match: *`); a registry that honours it answers 412 otherwise (an error
    /// whose [`status`](OciError::status) is 412), one that does not writes anyway.
    pub async fn put_manifest_with(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
        condition: Option<&TagCondition>,
    ) -> Result<PutManifest, OciError> {
        let what = format!("failed to push manifest `{reference}`");
        let digest = match &reference.digest {
            Some(d) => {
                let actual = StreamHasher::digest_of(d.algorithm(), bytes);
                if actual != *d {
                    return Err(ErrorKind::ManifestDigest {
                        what,
                        digest: d.clone(),
                        actual,
                    }
                    .into());
                }
                actual
            }
            None => Digest::sha256_of(bytes),
        };
        if let Some(field) = media_type_field(bytes)
            && field != media_type
        {
            return Err(ErrorKind::Protocol {
                what,
                url: reference.to_string(),
                message: format!("the manifest's `mediaType` is `{field}`, not `{media_type}`"),
            }
            .into());
        }
        // By tag when there is one (a digest is then only checked), else by digest.
        let target = match &reference.tag {
            Some(t) => t.clone(),
            None => digest.to_string(),
        };
        let url = self.url(
            &reference.registry,
            &format!("/v2/{}/manifests/{target}", reference.repository),
        )?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| ErrorKind::Protocol {
                what: what.clone(),
                url: url.to_string(),
                message: format!("`{media_type}` is not a valid media type"),
            })?,
        );
        match condition {
            Some(TagCondition::Names(d)) => headers.insert(
                header::IF_MATCH,
                HeaderValue::from_str(&format!("\"{d}\"")).expect("a digest is a header value"),
            ),
            Some(TagCondition::Absent) => {
                headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"))
            }
            None => None,
        };
        let sent = self
            .send(Req {
                what: &what,
                registry: Some(&reference.registry),
                method: Method::PUT,
                url,
                headers,
                body: Body::Bytes(bytes::Bytes::copy_from_slice(bytes)),
                scopes: &[push_scope(&reference.repository)],
                retry: true,
            })
            .await?;
        if !matches!(sent.resp.status(), StatusCode::CREATED | StatusCode::OK) {
            return Err(self.status_error(&what, &Method::PUT, sent).await);
        }
        if let Some(stored) =
            header_str(&sent.resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
            && stored.algorithm() == digest.algorithm()
            && stored != digest
        {
            return Err(ErrorKind::DigestMismatch {
                what,
                url: sent.url.to_string(),
                expected: digest,
                actual: stored,
            }
            .into());
        }
        let subject = header_str(&sent.resp, "oci-subject").and_then(|d| d.parse::<Digest>().ok());
        Ok(PutManifest { digest, subject })
    }

    /// Delete a manifest (by digest when the reference has one; registries such as
    /// distribution refuse deletes by tag).
    pub async fn delete_manifest(&self, reference: &Reference) -> Result<(), OciError> {
        if let Some(digest) = &reference.digest {
            self.inner.manifests.lock().expect("not poisoned").remove(&(
                reference.registry.clone(),
                reference.repository.clone(),
                digest.clone(),
            ));
        }
        let what = format!("failed to delete manifest `{reference}`");
        let url = self.manifest_url(reference)?;
        let sent = self
            .send(Req {
                what: &what,
                registry: Some(&reference.registry),
                method: Method::DELETE,
                url,
                headers: HeaderMap::new(),
                body: Body::Empty,
                scopes: &[delete_scope(&reference.repository)],
                retry: true,
            })
            .await?;
        if matches!(
            sent.resp.status(),
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT
        ) {
            Ok(())
        } else {
            Err(self.status_error(&what, &Method::DELETE, sent).await)
        }
    }

    /// GET pages of a JSON list, following `Link: <…>; rel="next"`; calls `page` with
    /// each body and response. Stops at a page already seen and after [`MAX_PAGES`].
    async fn pages(
        &self,
        what: &str,
        registry: &str,
        first: Url,
        headers: HeaderMap,
        scopes: &[String],
        mut page: impl FnMut(&[u8], &HeaderMap) -> Result<(), OciError>,
    ) -> Result<Option<()>, OciError> {
        let mut url = first;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            seen.insert(url.to_string());
            let sent = self
                .send(Req {
                    what,
                    registry: Some(registry),
                    method: Method::GET,
                    url: url.clone(),
                    headers: headers.clone(),
                    body: Body::Empty,
                    scopes,
                    retry: true,
                })
                .await?;
            match sent.resp.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED if seen.len() == 1 => {
                    // Only the first page may be "not there" (the caller decides).
                    return Ok(None);
                }
                _ => return Err(self.status_error(what, &Method::GET, sent).await),
            }
            let next = next_link(&sent.resp, &sent.url);
            let head = sent.resp.headers().clone();
            let body = self.read_small(what, sent, LIST_LIMIT).await?;
            page(&body, &head)?;
            match next {
                Some(n) if !seen.contains(n.as_str()) => url = n,
                _ => return Ok(Some(())),
            }
        }
        Err(ErrorKind::Protocol {
            what: what.to_owned(),
            url: url.to_string(),
            message: format!("more than {MAX_PAGES} pages"),
        }
        .into())
    }

    /// All tags of `repo`, following `Link` pagination (bounded).
    pub async fn list_tags(&self, repo: &Repository) -> Result<Vec<String>, OciError> {
        let url = self.url(&repo.registry, &format!("/v2/{}/tags/list", repo.name))?;
        self.paged_names(
            format!("failed to list the tags of `{repo}`"),
            &repo.registry,
            url,
            &[pull_scope(&repo.name)],
            "tags",
            None,
        )
        .await
    }

    /// The repositories of `registry` (`GET /v2/_catalog`), in the registry's order (lexical
    /// for distribution), following `Link` pagination (bounded). `n` asks for pages of that
    /// size; `last` starts after that repository name. Registries that do not offer the
    /// catalog (GHCR, Docker Hub) answer 404 or 401/403, returned as errors.
    pub async fn catalog(
        &self,
        registry: &str,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Vec<String>, OciError> {
        let mut url = self.url(registry, "/v2/_catalog")?;
        if let Some(n) = n {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        if let Some(last) = last {
            url.query_pairs_mut().append_pair("last", last);
        }
        self.paged_names(
            format!("failed to list the repositories of `{registry}`"),
            registry,
            url,
            &["registry:catalog:*".to_owned()],
            "repositories",
            Some("the registry does not offer the catalog API"),
        )
        .await
    }

    /// The strings of the JSON array `field` of every page of a paginated list; a 404 is an
    /// error (with `missing` as its message).
    async fn paged_names(
        &self,
        what: String,
        registry: &str,
        url: Url,
        scopes: &[String],
        field: &str,
        missing: Option<&str>,
    ) -> Result<Vec<String>, OciError> {
        let mut names = Vec::new();
        let found = self
            .pages(
                &what,
                registry,
                url.clone(),
                HeaderMap::new(),
                scopes,
                |body, _| {
                    let mut page: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_slice(body).map_err(|source| ErrorKind::Json {
                            what: what.clone(),
                            url: url.to_string(),
                            source,
                        })?;
                    let list: Option<Vec<String>> = match page.remove(field) {
                        None | Some(serde_json::Value::Null) => None,
                        Some(v) => {
                            Some(serde_json::from_value(v).map_err(|source| ErrorKind::Json {
                                what: what.clone(),
                                url: url.to_string(),
                                source,
                            })?)
                        }
                    };
                    names.extend(list.unwrap_or_default());
                    Ok(())
                },
            )
            .await?;
        if found.is_none() {
            return Err(ErrorKind::Http {
                what,
                method: "GET".into(),
                url: url.to_string(),
                status: 404,
                code: None,
                message: missing.map(str::to_owned),
                attempts: 1,
            }
            .into());
        }
        Ok(names)
    }

    /// The manifests whose `subject` is `subject`, optionally only those of
    /// `artifact_type`: from the referrers API, or, where a registry lacks it (404), from
    /// the `sha256-<hex>` tag's index. Filtered here when the registry did not
    /// (`OCI-Filters-Applied`).
    pub async fn referrers(
        &self,
        repo: &Repository,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, OciError> {
        let what = format!("failed to list the referrers of `{subject}` in `{repo}`");
        let mut url = self.url(
            &repo.registry,
            &format!("/v2/{}/referrers/{subject}", repo.name),
        )?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(OCI_INDEX));
        let mut found = Vec::new();
        let mut filtered = true;
        let api = self
            .pages(
                &what,
                &repo.registry,
                url.clone(),
                headers,
                &[pull_scope(&repo.name)],
                |body, resp| {
                    let index: ImageIndex =
                        serde_json::from_slice(body).map_err(|source| ErrorKind::Json {
                            what: what.clone(),
                            url: url.to_string(),
                            source,
                        })?;
                    let applied = resp
                        .get("oci-filters-applied")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
                    filtered &= applied;
                    found.extend(index.manifests);
                    Ok(())
                },
            )
            .await?;
        if api.is_none() {
            found = self.referrers_from_tag(repo, subject).await?;
            filtered = false;
        }
        if let Some(t) = artifact_type
            && !filtered
        {
            found.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(found)
    }

    /// The referrers list of the tag schema; empty when the tag is missing or does not
    /// hold an image index.
    async fn referrers_from_tag(
        &self,
        repo: &Repository,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>, OciError> {
        match self
            .get_manifest(&repo.reference_tag(&referrers_tag(subject)))
            .await
        {
            Ok(m) if m.media_type == OCI_INDEX => {
                Ok(serde_json::from_slice::<ImageIndex>(&m.bytes)
                    .map(|i| i.manifests)
                    .unwrap_or_default())
            }
            Ok(_) => Ok(Vec::new()),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}
