//! Where indexes live: an OCI artifact in `<namespace>/paks-index:latest`, or
//! `index.yaml` in a static repository served over HTTP(S) or in a directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use paks_oci::{Client, Descriptor, ImageManifest, OCI_EMPTY, OCI_MANIFEST, Reference, Repository};
use reqwest::Url;

use crate::error::{IndexError, IndexErrorKind, io_err};
use crate::schema::{INDEX_FILE, INDEX_MEDIA_TYPE, INDEX_REPOSITORY, INDEX_TAG, SignedIndex};

/// The largest index read: far above what a large repository needs (about 1 KiB per
/// build), low enough to refuse an endless answer.
pub const INDEX_LIMIT: u64 = 256 * 1024 * 1024;

/// Where a repository's index is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSource {
    /// `oci://REGISTRY/NAMESPACE`: the artifact `NAMESPACE/paks-index:latest`.
    Oci(Repository),
    /// `https://HOST/PATH/` (plain `http://` only where the client allows it: loopback
    /// and insecure hosts): `index.yaml` there.
    Http(Url),
    /// `file:///DIR` (or an absolute path): `DIR/index.yaml`.
    File(PathBuf),
}

impl FromStr for IndexSource {
    type Err = IndexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| {
            IndexError::from(IndexErrorKind::Source {
                value: s.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if let Some(rest) = s.strip_prefix("oci://") {
            let rest = rest.trim_end_matches('/');
            let (registry, name) = rest.split_once('/').unwrap_or((rest, ""));
            if !paks_oci::is_valid_registry(registry) {
                return Err(bad("expected `oci://REGISTRY/NAMESPACE`"));
            }
            if !name.is_empty() && !paks_oci::is_valid_repository_name(name) {
                return Err(bad("the namespace is not a valid repository path"));
            }
            return Ok(Self::Oci(Repository {
                registry: registry.to_owned(),
                name: name.to_owned(),
            }));
        }
        if s.starts_with('/') {
            return Ok(Self::File(PathBuf::from(s)));
        }
        let url = Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        match url.scheme() {
            "http" | "https" => Ok(Self::Http(url)),
            "file" => url
                .to_file_path()
                .map(Self::File)
                .map_err(|()| bad("expected `file:///DIR`")),
            _ => Err(bad("expected `oci://`, `https://`, `http://` or `file://`")),
        }
    }
}

impl fmt::Display for IndexSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oci(ns) => f.write_str(&crate::build::oci_source(ns)),
            Self::Http(url) => write!(f, "{url}"),
            Self::File(dir) => write!(f, "file://{}", dir.display()),
        }
    }
}

impl IndexSource {
    /// Where the index document is: a reference, a URL or a path.
    pub fn index_location(&self) -> String {
        match self {
            Self::Oci(ns) => index_repository(ns).reference_tag(INDEX_TAG).to_string(),
            Self::Http(url) => http_index_url(url).to_string(),
            Self::File(dir) => file_index_path(dir).display().to_string(),
        }
    }

    /// Where a static repository's flat `file` is (a URL or a path), for `Http` and
    /// `File` sources; `None` for a registry, or a `file` that is not a plain name.
    pub fn file_location(&self, file: &str) -> Option<String> {
        if !crate::schema::is_plain_file_name(file) {
            return None;
        }
        match self {
            Self::Oci(_) => None,
            Self::Http(url) => http_index_url(url).join(file).ok().map(|u| u.to_string()),
            Self::File(dir) => Some(
                file_index_path(dir)
                    .with_file_name(file)
                    .display()
                    .to_string(),
            ),
        }
    }
}

/// `index.yaml` beside a URL: the URL itself when it names a `.yaml` or `.json` file, else
/// `index.yaml` in the directory it names (with or without its final `/`).
pub(crate) fn http_index_url(url: &Url) -> Url {
    let path = url.path();
    if is_index_file_name(Path::new(path)) {
        return url.clone();
    }
    let mut dir = url.clone();
    if !path.ends_with('/') {
        dir.set_path(&format!("{path}/"));
    }
    dir.join(INDEX_FILE).expect("a file name joins")
}

/// Whether a path names an index document itself (`….yaml`, `….json`), not a directory.
fn is_index_file_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("json"))
}

pub(crate) fn file_index_path(dir: &Path) -> PathBuf {
    if is_index_file_name(dir) {
        dir.to_owned()
    } else {
        dir.join(INDEX_FILE)
    }
}

/// The repository holding a namespace's index.
pub fn index_repository(namespace: &Repository) -> Repository {
    Repository {
        registry: namespace.registry.clone(),
        name: if namespace.name.is_empty() {
            INDEX_REPOSITORY.to_owned()
        } else {
            format!("{}/{INDEX_REPOSITORY}", namespace.name)
        },
    }
}

/// An index as fetched: parsed (not yet trusted), its bytes, and where it came from.
#[derive(Debug, Clone)]
pub struct FetchedIndex {
    pub signed: SignedIndex,
    pub raw: Vec<u8>,
    pub location: String,
}

/// Store `signed` as the OCI artifact `<namespace>/paks-index:latest`: an image manifest
/// with `artifactType` [`INDEX_MEDIA_TYPE`], the empty config, and one layer (the signed
/// index document, [`SignedIndex::to_bytes`]). Returns the manifest's reference by digest.
pub async fn push_index(
    client: &Client,
    namespace: &Repository,
    signed: &SignedIndex,
) -> Result<Reference, IndexError> {
    let generated = signed.signed.generated.to_string();
    let version = signed.signed.version;
    push_index_document(client, namespace, &signed.to_bytes(), &generated, version).await
}

/// Store a signed index document (a schema-1 index or a schema-2 root) as the artifact
/// `<namespace>/paks-index:latest`, annotated with its `generated` and `version`.
pub async fn push_index_document(
    client: &Client,
    namespace: &Repository,
    bytes: &[u8],
    generated: &str,
    version: u64,
) -> Result<Reference, IndexError> {
    let repo = index_repository(namespace);
    let empty = client.push_blob_bytes(&repo, b"{}").await?;
    let layer = client.push_blob_bytes(&repo, bytes).await?;
    let mut layer_descriptor = Descriptor::new(INDEX_MEDIA_TYPE, layer, bytes.len() as u64);
    layer_descriptor
        .annotations
        .insert("org.opencontainers.image.title".into(), INDEX_FILE.into());
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: Some(INDEX_MEDIA_TYPE.into()),
        config: Descriptor::new(OCI_EMPTY, empty, 2),
        layers: vec![layer_descriptor],
        subject: None,
        annotations: [
            (
                "org.opencontainers.image.created".to_owned(),
                generated.to_owned(),
            ),
            ("io.paks.index.version".to_owned(), version.to_string()),
        ]
        .into(),
    };
    let reference = repo.reference_tag(INDEX_TAG);
    let digest = client
        .put_manifest(&reference, OCI_MANIFEST, &manifest.to_bytes())
        .await?;
    Ok(reference.with_digest(&digest))
}

/// Fetch the index of `source`. Parsed and checked for schema and canonical form, but not
/// trusted: pass it to [`crate::check`].
pub async fn fetch_index(
    client: &Client,
    source: &IndexSource,
) -> Result<FetchedIndex, IndexError> {
    let location = source.index_location();
    let raw = match source {
        IndexSource::Oci(ns) => fetch_artifact(client, ns).await?,
        IndexSource::Http(url) => fetch_http(client, &http_index_url(url)).await?,
        IndexSource::File(dir) => {
            let path = file_index_path(dir);
            match tokio::fs::read(&path).await {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(IndexErrorKind::NoIndex { location }.into());
                }
                Err(e) => return Err(io_err("read", path)(e)),
            }
        }
    };
    let signed = SignedIndex::from_slice(&raw, &location)?;
    Ok(FetchedIndex {
        signed,
        raw,
        location,
    })
}

pub(crate) async fn fetch_artifact(
    client: &Client,
    namespace: &Repository,
) -> Result<Vec<u8>, IndexError> {
    let repo = index_repository(namespace);
    let reference = repo.reference_tag(INDEX_TAG);
    Ok(fetch_artifact_at(client, &reference).await?.0)
}

/// The index document of the artifact `reference` (a tag or a digest of
/// `<namespace>/paks-index`), and the digest of its manifest.
pub(crate) async fn fetch_artifact_at(
    client: &Client,
    reference: &Reference,
) -> Result<(Vec<u8>, paks_types::Digest), IndexError> {
    let repo = Repository {
        registry: reference.registry.clone(),
        name: reference.repository.clone(),
    };
    let manifest = match client.get_manifest(reference).await {
        Ok(m) => m,
        Err(e) if e.is_not_found() => {
            return Err(IndexErrorKind::NoIndex {
                location: reference.to_string(),
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let not_index = |reason: String| {
        IndexError::from(IndexErrorKind::NotAnIndexArtifact {
            reference: reference.to_string(),
            reason,
        })
    };
    if manifest.media_type != OCI_MANIFEST {
        return Err(not_index(format!(
            "it is a `{}`, not an image manifest",
            manifest.media_type
        )));
    }
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| not_index(format!("its manifest does not parse: {e}")))?;
    if parsed.artifact_type.as_deref() != Some(INDEX_MEDIA_TYPE) {
        return Err(not_index(format!(
            "its `artifactType` is {:?}, not `{INDEX_MEDIA_TYPE}`",
            parsed.artifact_type
        )));
    }
    let [layer] = parsed.layers.as_slice() else {
        return Err(not_index(format!(
            "it has {} layers, not 1",
            parsed.layers.len()
        )));
    };
    if layer.media_type != INDEX_MEDIA_TYPE {
        return Err(not_index(format!(
            "its layer is a `{}`, not `{INDEX_MEDIA_TYPE}`",
            layer.media_type
        )));
    }
    if layer.size > INDEX_LIMIT {
        return Err(not_index(format!(
            "its index is {} bytes, more than the {INDEX_LIMIT} read",
            layer.size
        )));
    }
    let bytes = client
        .pull_blob_bytes(&repo, &layer.digest, INDEX_LIMIT)
        .await?;
    Ok((bytes, manifest.digest))
}

/// Whether `client` may use plain HTTP to `url`'s host (loopback, or configured insecure).
fn plain_http_allowed(client: &Client, url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    client
        .base_url(&host_port)
        .is_ok_and(|base| base.scheme() == "http")
}

/// GET `url` (following redirects only where the plain-HTTP rule allows); `Ok(None)` for
/// a 404, an error for any other failure.
async fn http_get(client: &Client, url: &Url) -> Result<Option<reqwest::Response>, IndexError> {
    http_get_with(client, url, reqwest::header::HeaderMap::new()).await
}

/// [`http_get`] with extra request `headers`; a `304 Not Modified` answer (to a
/// conditional request) is returned as it is.
pub(crate) async fn http_get_with(
    client: &Client,
    url: &Url,
    headers: reqwest::header::HeaderMap,
) -> Result<Option<reqwest::Response>, IndexError> {
    if url.scheme() == "http" && !plain_http_allowed(client, url) {
        return Err(IndexErrorKind::Fetch {
            url: url.to_string(),
            reason: "refusing plain HTTP to a host that is neither loopback nor insecure".into(),
        }
        .into());
    }
    let policy_client = client.clone();
    let http = reqwest::Client::builder()
        .user_agent(&client.config().user_agent)
        .connect_timeout(client.config().timeout)
        .read_timeout(client.config().timeout)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else if attempt.url().scheme() == "https"
                || (attempt.url().scheme() == "http"
                    && plain_http_allowed(&policy_client, attempt.url()))
            {
                attempt.follow()
            } else {
                attempt.error("refusing a redirect to plain HTTP")
            }
        }))
        .build()
        .map_err(|source| IndexErrorKind::Http {
            url: url.to_string(),
            source,
        })?;
    let resp = http
        .get(url.clone())
        .headers(headers)
        .send()
        .await
        .map_err(|source| IndexErrorKind::Http {
            url: url.to_string(),
            source,
        })?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Some(resp));
    }
    if !status.is_success() {
        return Err(IndexErrorKind::HttpStatus {
            url: url.to_string(),
            status: status.as_u16(),
        }
        .into());
    }
    Ok(Some(resp))
}

/// GET a static repository's index, reading at most [`INDEX_LIMIT`] bytes.
async fn fetch_http(client: &Client, url: &Url) -> Result<Vec<u8>, IndexError> {
    fetch_http_limited(client, url, INDEX_LIMIT, "the index")
        .await?
        .ok_or_else(|| {
            IndexErrorKind::NoIndex {
                location: url.to_string(),
            }
            .into()
        })
}

/// GET `url` under the plain-HTTP rules, reading at most `limit` bytes of `what`;
/// `Ok(None)` for a 404.
pub(crate) async fn fetch_http_limited(
    client: &Client,
    url: &Url,
    limit: u64,
    what: &str,
) -> Result<Option<Vec<u8>>, IndexError> {
    let Some(resp) = http_get(client, url).await? else {
        return Ok(None);
    };
    read_limited(resp, url, limit, what).await.map(Some)
}

/// The body of `resp` (from `url`), refused past `limit` bytes of `what`.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    url: &Url,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, IndexError> {
    let http_err = |source| {
        IndexError::from(IndexErrorKind::Http {
            url: url.to_string(),
            source,
        })
    };
    let too_large = || {
        IndexError::from(IndexErrorKind::Fetch {
            url: url.to_string(),
            reason: format!("{what} is larger than {limit} bytes"),
        })
    };
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Downloads a static repository's file (`IndexSource::file_location`, an `http(s)://`
/// URL) to `dest` (through a temporary file beside it, renamed when complete), under the
/// same plain-HTTP and redirect rules as the index; `progress` gets the bytes as they come.
/// Returns its size. The caller verifies the content against the index.
pub async fn download_file(
    client: &Client,
    location: &str,
    dest: &Path,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<u64, IndexError> {
    use tokio::io::AsyncWriteExt as _;
    let url = Url::parse(location).map_err(|e| IndexErrorKind::Fetch {
        url: location.to_owned(),
        reason: format!("not a URL: {e}"),
    })?;
    let Some(mut resp) = http_get(client, &url).await? else {
        return Err(IndexErrorKind::HttpStatus {
            url: url.to_string(),
            status: 404,
        }
        .into());
    };
    let tmp = paks_types::fs::temp_sibling(dest, "download");
    let result = async {
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .map_err(io_err("create", &tmp))?;
        let mut size = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|source| IndexErrorKind::Http {
            url: url.to_string(),
            source,
        })? {
            out.write_all(&chunk).await.map_err(io_err("write", &tmp))?;
            size += chunk.len() as u64;
            progress(chunk.len() as u64);
        }
        out.flush().await.map_err(io_err("write", &tmp))?;
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(io_err("rename into place", dest))?;
        Ok::<_, IndexError>(size)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write `signed` as `dir/index.yaml`, atomically. Returns the path.
pub fn write_index_file(dir: &Path, signed: &SignedIndex) -> Result<PathBuf, IndexError> {
    let path = dir.join(INDEX_FILE);
    paks_types::fs::write_atomic(&path, &signed.to_bytes()).map_err(io_err("write", &path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_locate_files() {
        let s: IndexSource = "oci://127.0.0.1:5000/acme".parse().unwrap();
        assert_eq!(
            s,
            IndexSource::Oci(Repository {
                registry: "127.0.0.1:5000".into(),
                name: "acme".into()
            })
        );
        assert_eq!(s.index_location(), "127.0.0.1:5000/acme/paks-index:latest");
        assert_eq!(s.to_string(), "oci://127.0.0.1:5000/acme");
        assert_eq!(s.file_location("x.pak"), None);
        let root: IndexSource = "oci://ghcr.io".parse().unwrap();
        assert_eq!(root.index_location(), "ghcr.io/paks-index:latest");

        for (text, index, file) in [
            (
                "https://h.example/repo/",
                "https://h.example/repo/index.yaml",
                "https://h.example/repo/a.pak",
            ),
            (
                "https://h.example/repo",
                "https://h.example/repo/index.yaml",
                "https://h.example/repo/a.pak",
            ),
            (
                "http://127.0.0.1:8000/r/index.yaml",
                "http://127.0.0.1:8000/r/index.yaml",
                "http://127.0.0.1:8000/r/a.pak",
            ),
            (
                "file:///srv/repo",
                "/srv/repo/index.yaml",
                "/srv/repo/a.pak",
            ),
            ("/srv/repo/", "/srv/repo/index.yaml", "/srv/repo/a.pak"),
        ] {
            let s: IndexSource = text.parse().unwrap();
            assert_eq!(s.index_location(), index, "{text}");
            assert_eq!(s.file_location("a.pak").unwrap(), file, "{text}");
            assert_eq!(s.file_location("../a.pak"), None);
        }
        for bad in [
            "ftp://x/",
            "oci://",
            "oci://UPPER/x",
            "oci://r/Acme",
            "relative/dir",
        ] {
            let err = bad.parse::<IndexSource>().unwrap_err();
            assert!(
                matches!(err.kind(), IndexErrorKind::Source { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn plain_http_only_to_loopback_and_insecure_hosts() {
        let client = Client::new(paks_oci::ClientConfig {
            insecure: vec!["mirror.lan".into()],
            ..paks_oci::ClientConfig::default()
        })
        .unwrap();
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(plain_http_allowed(&client, &url("http://127.0.0.1:8000/")));
        assert!(plain_http_allowed(&client, &url("http://localhost/")));
        assert!(plain_http_allowed(&client, &url("http://mirror.lan/")));
        assert!(!plain_http_allowed(&client, &url("http://example.com/")));
    }

    #[tokio::test]
    async fn refuses_plain_http_elsewhere_before_connecting() {
        let client = Client::new(paks_oci::ClientConfig::default()).unwrap();
        let source: IndexSource = "http://example.invalid/repo/".parse().unwrap();
        let err = fetch_index(&client, &source).await.unwrap_err();
        assert!(matches!(err.kind(), IndexErrorKind::Fetch { .. }), "{err}");
    }
}
