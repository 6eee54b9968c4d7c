//! Images composed on pull: `compose/<namespace>/<pkg>[/<pkg>…]` is a derived repository
//! made from the package repositories `<namespace>/<pkg>`.
//!
//! A `GET`/`HEAD` of one of its manifests by tag reaches [`prepare`] (after the registry
//! checked that the client may pull every source): the tag names versions ([`resolve`]),
//! the packages and their dependencies are read from the storage, composed by
//! [`paks_image::Composer`] exactly as `paks image build` composes them, and written into
//! the storage ([`storage`]); then the registry's own handlers answer. A reference by
//! digest is answered only if that image was composed before.
//!
//! A composition is keyed by what it is made of (the builds' manifest digests, the base
//! image's digest, the platforms): a repeated pull costs the resolution (a few small reads)
//! and a lookup; concurrent pulls of one key compose once.

pub mod resolve;
pub mod storage;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use paks_image::{Base, Composer, ImageError, ImageSpec, PlatformInput};
use paks_oci::{DOCKER_MANIFEST_LIST, ImageManifest, OCI_INDEX, Repository};
use paks_registry::api::{ApiError, Code};
use paks_registry::extension::ManifestRequest;
use paks_registry::names::RepoName;
use paks_registry::storage::{ManifestRefs, Storage};
use paks_types::{Digest, Platform};

use crate::Catalog;
use resolve::{Root, storage_error};

/// The first component of every composed repository.
pub const PREFIX: &str = "compose";

/// The package repositories `repo` is composed from, if it is a `compose/…` repository
/// (`compose/debian/python3/git` → `debian/python3`, `debian/git`).
pub fn sources(repo: &RepoName) -> Option<Vec<RepoName>> {
    let rest = repo.as_str().strip_prefix(PREFIX)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let namespace = parts.next()?;
    let packages: Vec<RepoName> = parts
        .filter_map(|p| RepoName::parse(&format!("{namespace}/{p}")).ok())
        .collect();
    // A name with no package still counts as derived (read-only); it composes nothing.
    Some(packages)
}

/// What composes: a scratch directory for the composer's blob cache (layers it repacks),
/// the compositions made, and a lock per composition being made.
pub struct Composing {
    scratch: tempfile::TempDir,
    store: paks_store::Store,
    client: paks_oci::Client,
    /// Composition key → the digest its tag names.
    made: Mutex<HashMap<String, Digest>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Composing {
    pub fn new() -> std::io::Result<Self> {
        let scratch = tempfile::Builder::new().prefix("paks-compose-").tempdir()?;
        let store = paks_store::Store::open(scratch.path()).map_err(std::io::Error::other)?;
        // Never used to reach a registry: every blob comes from the storage.
        let client = paks_oci::Client::new(paks_oci::ClientConfig::default())
            .map_err(std::io::Error::other)?;
        Ok(Self {
            scratch,
            store,
            client,
            made: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Where the composer's scratch files are (removed when the server stops).
    pub fn scratch(&self) -> &std::path::Path {
        self.scratch.path()
    }
}

/// Makes the manifest `request` asks for exist in the storage.
pub async fn prepare(catalog: Catalog, request: ManifestRequest) -> Result<(), ApiError> {
    let Some(ctx) = catalog.context().cloned() else {
        return Err(ApiError::internal("the catalogue has not started"));
    };
    // By digest: only what was composed before (the registry answers, or says unknown).
    if request.reference.contains(':') {
        return Ok(());
    }
    let packages = sources(&request.repo).unwrap_or_default();
    if packages.is_empty() {
        return Err(ApiError::new(
            Code::NameUnknown,
            format!(
                "`{}` names no package: pull `{PREFIX}/<namespace>/<package>[/<package>…]`",
                request.repo
            ),
        ));
    }
    let composing = catalog.composing()?;
    let storage = ctx.storage.clone();
    let tag = request.reference.clone();
    let base_name = catalog.options().compose_base.clone();
    let only_manifest = !accepts_index(request.accept.as_deref());
    let plan = tokio::task::spawn_blocking({
        let storage = storage.clone();
        move || {
            plan(
                storage.as_ref(),
                &packages,
                &tag,
                base_name.as_deref(),
                only_manifest,
            )
        }
    })
    .await
    .map_err(ApiError::internal)??;
    refuse_unreadable(&ctx.access, &request, &plan)?;
    let lock = {
        let mut locks = composing.locks.lock().expect("not poisoned");
        locks.entry(plan.key.clone()).or_default().clone()
    };
    let _held = lock.lock().await;
    let known = composing
        .made
        .lock()
        .expect("not poisoned")
        .get(&plan.key)
        .cloned();
    let repo = request.repo.clone();
    let tag = request.reference.clone();
    if let Some(digest) = known {
        // Made before: point the tag at it again (a newer version may have moved it).
        let retagged = tokio::task::spawn_blocking({
            let storage = storage.clone();
            move || retag(storage.as_ref(), &repo, &digest, &tag)
        })
        .await
        .map_err(ApiError::internal)??;
        if retagged {
            return Ok(());
        }
    }
    let digest = compose(
        &composing,
        storage,
        &request.repo,
        &request.reference,
        plan.inputs,
    )
    .await?;
    composing
        .made
        .lock()
        .expect("not poisoned")
        .insert(plan.key, digest);
    Ok(())
}

/// Refuses a composition that would hand the client layers of a repository it may not
/// pull: the name grants pull on the packages it names, and their dependencies live in
/// repositories of their own, which the users file may keep from this client.
fn refuse_unreadable(
    access: &paks_registry::auth::AccessControl,
    request: &ManifestRequest,
    plan: &Plan,
) -> Result<(), ApiError> {
    let hidden: std::collections::BTreeSet<&str> = plan
        .inputs
        .iter()
        .flat_map(|i| &i.packages)
        .map(|f| f.repo.name.as_str())
        .filter(|repo| !crate::access::may_pull(access, &request.identity, repo))
        .collect();
    if hidden.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = hidden.iter().map(|r| format!("`{r}`")).collect();
    Err(ApiError::new(
        Code::Denied,
        format!(
            "`{}` needs the dependencies in {}, which {} may not pull",
            request.repo,
            names.join(", "),
            request.identity.user().map_or_else(
                || "an anonymous client".to_owned(),
                |u| format!("user `{u}`")
            )
        ),
    )
    .with_status(axum::http::StatusCode::FORBIDDEN))
}

/// Whether an `Accept` header lets the client read an index (no header: any manifest).
fn accepts_index(accept: Option<&str>) -> bool {
    accept.is_none_or(|a| {
        a.split(',').any(|t| {
            let t = t.split(';').next().unwrap_or_default().trim();
            t == OCI_INDEX || t == DOCKER_MANIFEST_LIST || t == "*/*"
        })
    })
}

/// What one request composes: each platform's input, and the composition's key.
struct Plan {
    key: String,
    inputs: Vec<PlatformInput>,
}

/// Resolves `tag` of `packages`, their closures per platform and the base. Blocking.
fn plan(
    storage: &dyn Storage,
    packages: &[RepoName],
    tag: &str,
    base_name: Option<&str>,
    only_manifest: bool,
) -> Result<Plan, ApiError> {
    let positions = resolve::positions(tag, packages)?;
    let roots: Vec<Root> = packages
        .iter()
        .zip(&positions)
        .map(|(repo, position)| resolve::root(storage, repo, position))
        .collect::<Result<_, _>>()?;
    let mut platforms = resolve::common_platforms(&roots)?;
    if only_manifest {
        // A client that reads no index gets the registry host's platform.
        let host = Platform::host();
        if !platforms.contains(&host) {
            return Err(ApiError::new(
                Code::ManifestUnknown,
                format!(
                    "the client accepts no index, and the packages have no build for this registry's platform `{host}` (they have {})",
                    platforms
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        platforms = vec![host];
    }
    let mut inputs = Vec::new();
    let mut key = String::new();
    for platform in platforms {
        let explicit: Vec<(RepoName, Digest)> = roots
            .iter()
            .map(|r| (r.repo.clone(), r.builds[&platform].clone()))
            .collect();
        let packages = resolve::closure(storage, &explicit)?;
        let base = match base_name {
            Some(name) => Some(base_from_storage(storage, name, &platform)?),
            None => None,
        };
        let _ = write!(
            key,
            "{platform} {} base={};",
            explicit
                .iter()
                .map(|(_, d)| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
            base.as_ref()
                .map(|b| b.digest.to_string())
                .unwrap_or_default()
        );
        inputs.push(PlatformInput {
            platform,
            packages,
            explicit: explicit.into_iter().map(|(_, d)| d).collect(),
            base,
        });
    }
    Ok(Plan { key, inputs })
}

/// `--compose-base REPO:TAG` for `platform`, from the storage.
fn base_from_storage(
    storage: &dyn Storage,
    name: &str,
    platform: &Platform,
) -> Result<Base, ApiError> {
    let bad = |reason: &str| {
        ApiError::new(
            Code::ManifestUnknown,
            format!("the base image `{name}` (`--compose-base`) {reason}"),
        )
    };
    let (repo, reference) = name
        .rsplit_once('@')
        .or_else(|| name.rsplit_once(':'))
        .ok_or_else(|| bad("is not `REPO:TAG`"))?;
    let repo = RepoName::parse(repo).map_err(|e| bad(&format!("names no repository: {e}")))?;
    let mut digest = match reference.parse::<Digest>() {
        Ok(d) => d,
        Err(_) => storage
            .resolve_tag(&repo, reference)
            .map_err(storage_error)?
            .ok_or_else(|| bad("is not in this registry"))?,
    };
    let manifest = |digest: &Digest| {
        storage
            .get_manifest(&repo, digest)
            .map_err(storage_error)?
            .ok_or_else(|| bad("is not in this registry"))
    };
    let mut stored = manifest(&digest)?;
    if stored.media_type.contains("index") || stored.media_type.contains("list") {
        digest = paks_image::base_platform(name, &stored.bytes, platform).map_err(image_error)?;
        stored = manifest(&digest)?;
    }
    let parsed: ImageManifest = serde_json::from_slice(&stored.bytes)
        .map_err(|e| bad(&format!("has a manifest that does not parse: {e}")))?;
    let config = resolve::blob_bytes(storage, &repo, &parsed.config.digest, 16 << 20)?
        .ok_or_else(|| bad("lacks its config"))?;
    paks_image::base_of(
        name,
        Repository {
            registry: resolve::STORAGE_REGISTRY.to_owned(),
            name: repo.to_string(),
        },
        digest,
        parsed,
        &config,
        platform,
    )
    .map_err(image_error)
}

/// Points `tag` at `digest` if it is still stored; `false` when it is not.
fn retag(
    storage: &dyn Storage,
    repo: &RepoName,
    digest: &Digest,
    tag: &str,
) -> Result<bool, ApiError> {
    if storage
        .resolve_tag(repo, tag)
        .map_err(storage_error)?
        .as_ref()
        == Some(digest)
    {
        return Ok(true);
    }
    let Some(stored) = storage.get_manifest(repo, digest).map_err(storage_error)? else {
        return Ok(false);
    };
    // Its references were checked when it was stored; it is the same bytes.
    storage
        .put_manifest(repo, digest, &stored, &ManifestRefs::default(), &[tag])
        .map_err(storage_error)?;
    Ok(true)
}

/// Composes each input with the code of `paks image build` and stores the result.
async fn compose(
    composing: &Composing,
    storage: Arc<dyn Storage>,
    repo: &RepoName,
    tag: &str,
    inputs: Vec<PlatformInput>,
) -> Result<Digest, ApiError> {
    let composer = Composer {
        client: composing.client.clone(),
        store: &composing.store,
        reporter: &paks_types::NoReporter,
        local: Some(Arc::new(storage::StorageBlobs(storage.clone()))),
    };
    let spec = ImageSpec::default();
    let mut images = Vec::with_capacity(inputs.len());
    for input in &inputs {
        images.push(composer.compose(&spec, input).await.map_err(image_error)?);
    }
    let (repo, tag) = (repo.clone(), tag.to_owned());
    tokio::task::spawn_blocking(move || storage::store(storage.as_ref(), &repo, &images, &tag))
        .await
        .map_err(ApiError::internal)?
        .map_err(storage_error)
}

/// A composition that failed, as the client's answer.
fn image_error(e: ImageError) -> ApiError {
    if matches!(e, ImageError::Io(_)) {
        return ApiError::internal_with("composing the image failed", e);
    }
    let hint = e
        .hint()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default();
    ApiError::new(
        Code::ManifestUnknown,
        format!("cannot compose the image: {e}{hint}"),
    )
}
