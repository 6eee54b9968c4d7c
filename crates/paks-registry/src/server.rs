//! The HTTP server: the API under `/v2/`, the token endpoint, `/metrics`, static files,
//! request logs; plain HTTP or TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::error::ErrorCode;
use crate::api::sessions::UploadSessions;
use crate::api::{self, ApiError, AppState, Code, Route};
use crate::auth::{AccessControl, Action, Need};
use crate::extension::{Extension, ExtensionContext, ManifestRequest};
use crate::idle::IdleBody;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::storage::{Storage, StorageError};

/// What `paks serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where the registry's data lives (a directory, or a bucket shared by replicas).
    pub storage: crate::storage::Location,
    pub listen: SocketAddr,
    /// PEM certificate chain and key; plain HTTP without them.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The users file; without it everyone may do everything.
    pub auth: Option<PathBuf>,
    /// A directory served as static files outside `/v2/`.
    pub static_dir: Option<PathBuf>,
    /// Bounds on what clients may hold (connections, idle time, uploads, logins).
    pub limits: Limits,
    /// What the server adds to the registry (the catalogue, images composed on pull).
    pub extension: Option<Extensions>,
    /// A file holding the key that signs bearer tokens, shared by replicas (see
    /// [`crate::replica`]); without it each process makes a random one.
    pub token_key: Option<PathBuf>,
}

/// An [`Extension`] in a [`ServeConfig`].
#[derive(Clone)]
pub struct Extensions(pub Arc<dyn Extension>);

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Extensions")
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the registry data at `{0}`")]
    Storage(crate::storage::Location, #[source] StorageError),
    #[error("cannot listen on `{0}`")]
    Bind(SocketAddr, #[source] std::io::Error),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("the server stopped")]
    Serve(#[source] std::io::Error),
    #[error("the static directory `{}` is not a directory", .0.display())]
    StaticDir(PathBuf),
    #[error(transparent)]
    TokenKey(#[from] crate::replica::TokenKeyError),
}

/// Everything the router shares.
#[derive(Clone)]
struct Shared {
    api: AppState,
    access: Arc<AccessControl>,
    metrics: Arc<Metrics>,
    tls: bool,
    extension: Option<Arc<dyn Extension>>,
}

/// Builds the whole application, with the default [`Limits`].
pub fn app(
    storage: Arc<dyn Storage>,
    access: Arc<AccessControl>,
    static_dir: Option<PathBuf>,
    tls: bool,
) -> Router {
    build(storage, access, static_dir, tls, Limits::default(), None).0
}

/// Builds the whole application with an [`Extension`], with the default [`Limits`]. The
/// access control should already know the extension's derived repositories
/// ([`with_derived_repos`]).
pub fn app_with(
    storage: Arc<dyn Storage>,
    access: Arc<AccessControl>,
    static_dir: Option<PathBuf>,
    tls: bool,
    extension: Arc<dyn Extension>,
) -> Router {
    build(
        storage,
        access,
        static_dir,
        tls,
        Limits::default(),
        Some(extension),
    )
    .0
}

/// `access`, told which repositories `extension` derives (see [`crate::extension`]).
pub fn with_derived_repos(access: AccessControl, extension: &Arc<dyn Extension>) -> AccessControl {
    let extension = extension.clone();
    access.with_derived(Arc::new(move |repo: &str| {
        let repo = crate::names::RepoName::parse(repo).ok()?;
        let sources = extension.derived_from(&repo)?;
        Some(sources.iter().map(ToString::to_string).collect())
    }))
}

/// Builds the application and the state its background tasks need.
fn build(
    storage: Arc<dyn Storage>,
    access: Arc<AccessControl>,
    static_dir: Option<PathBuf>,
    tls: bool,
    limits: Limits,
    extension: Option<Arc<dyn Extension>>,
) -> (Router, AppState) {
    let metrics = Arc::new(Metrics::default());
    let extension_routes = extension.as_ref().map(|e| {
        e.start(ExtensionContext {
            storage: storage.clone(),
            access: access.clone(),
            tls,
        })
    });
    let shared = Shared {
        api: AppState {
            storage,
            metrics: metrics.clone(),
            sessions: Arc::new(UploadSessions::new(&limits)),
            limits: Arc::new(limits),
            tag_locks: Arc::default(),
        },
        access: access.clone(),
        metrics,
        tls,
        extension,
    };
    let mut router = Router::new()
        .route("/v2", axum::routing::any(v2))
        .route("/v2/", axum::routing::any(v2))
        .route("/v2/{*rest}", axum::routing::any(v2))
        .route("/metrics", get(metrics_page))
        .with_state(shared.clone())
        .merge(
            Router::new()
                .route("/token", get(crate::auth::token_handler))
                .with_state(access),
        );
    if let Some(routes) = extension_routes {
        router = router.merge(routes);
    }
    router = match static_dir {
        Some(dir) => router.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => router.fallback(not_found),
    };
    let api = shared.api.clone();
    (
        router.layer(middleware::from_fn_with_state(shared, observe)),
        api,
    )
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

async fn metrics_page(State(shared): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

/// What a request under `/v2/` needs.
fn need(route: &Route, method: &Method) -> Need {
    let repo = route.repo().cloned();
    let actions = match (route, method) {
        (Route::Base | Route::Catalog, _) => vec![],
        (_, &Method::GET | &Method::HEAD) => vec![Action::Pull],
        (Route::Manifest(..) | Route::Blob(..), &Method::DELETE) => vec![Action::Delete],
        _ => vec![Action::Push],
    };
    Need {
        repo,
        actions,
        catalog: matches!(route, Route::Catalog),
        mount_from: None,
    }
}

/// The `from` repository of a cross-repository mount (`POST …/uploads/?mount=&from=`).
fn mount_from(route: &Route, request: &Request) -> Option<crate::names::RepoName> {
    if !matches!(route, Route::UploadStart(_)) {
        return None;
    }
    let query = api::query_pairs(request.uri().query());
    api::query_get(&query, "mount")?;
    crate::names::RepoName::parse(api::query_get(&query, "from")?).ok()
}

fn realm(shared: &Shared, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if shared.tls { "https" } else { "http" };
    format!("{scheme}://{host}/token")
}

async fn v2(State(shared): State<Shared>, request: Request) -> Response {
    let route = match api::parse_route(request.uri().path()) {
        Some(Ok(route)) => route,
        Some(Err(e)) => return e.into_response(),
        None => return not_found().await,
    };
    let derived = shared
        .extension
        .as_ref()
        .zip(route.repo())
        .and_then(|(e, repo)| e.derived_from(repo));
    if derived.is_some() && !matches!(*request.method(), Method::GET | Method::HEAD) {
        return read_only(&route);
    }
    let idle = shared.api.limits.body_idle_timeout;
    let mut request = request.map(|body| IdleBody::wrap(body, idle));
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let realm = realm(&shared, request.headers());
    let mut need = need(&route, request.method());
    let from = mount_from(&route, &request);
    need.mount_from.clone_from(&from);
    // With a users file, the base check asks anonymous clients to authenticate, so that
    // `login` checks the password and clients learn the token realm up front.
    if matches!(route, Route::Base) && authorization.is_none() && !shared.access.is_open() {
        return refuse(crate::auth::Denial {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHORIZED",
            message: "authentication required".into(),
            challenge: Some(format!(
                "Bearer realm=\"{realm}\",service=\"{}\"",
                crate::auth::SERVICE
            )),
            retry_after: None,
        });
    }
    let access = shared.access.clone();
    let auth = authorization.clone();
    let client = crate::listen::ClientAddr::ip_of(&request);
    let (n, r) = (need.clone(), realm.clone());
    let decision =
        tokio::task::spawn_blocking(move || access.authorize_from(client, auth.as_deref(), &n, &r))
            .await;
    let identity = match decision {
        Ok(Ok(identity)) => identity,
        Ok(Err(denial)) => return refuse(denial),
        Err(e) => return ApiError::internal(format!("authorization failed: {e}")).into_response(),
    };
    // A mount also reads the `from` repository; without that right it becomes an upload.
    if let Some(from) = from {
        let from_need = Need::repo(from, &[Action::Pull]);
        let allowed = shared
            .access
            .authorize_from(client, authorization.as_deref(), &from_need, "")
            .is_ok();
        let bearer = authorization.as_deref().is_some_and(|a| {
            a.get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        });
        // A token too narrow for a client who may read `from`: ask for a wider one, as
        // the first challenge did, rather than silently uploading.
        if !allowed && bearer && shared.access.may(identity.user(), &from_need) {
            return refuse(crate::auth::Denial::insufficient_scope(
                &realm,
                &need,
                "the token does not grant pull on the `from` repository of the mount",
            ));
        }
        request
            .extensions_mut()
            .insert(api::uploads::MountAllowed(allowed));
    }
    if let Some(refusal) = too_large(&route, &request) {
        return refusal;
    }
    let written = match &route {
        Route::Manifest(repo, _) if matches!(*request.method(), Method::PUT | Method::DELETE) => {
            Some(repo.clone())
        }
        _ => None,
    };
    if let (Some(extension), Some(_)) = (&shared.extension, &derived)
        && let Err(e) = prepare_derived(extension, &route, accept(&request), &identity).await
    {
        let mut response = e.into_response();
        response.extensions_mut().insert(identity);
        return response;
    }
    let mut response = api::handle(shared.api.clone(), route, request).await;
    if let (Some(extension), Some(repo)) = (&shared.extension, written)
        && response.status().is_success()
    {
        extension.changed(&repo);
    }
    response.extensions_mut().insert(identity);
    response
}

fn accept(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A write to a derived repository: refused.
fn read_only(route: &Route) -> Response {
    ApiError::new(
        Code::Denied,
        format!(
            "`{}` is made on pull from other repositories; it cannot be written",
            route.repo().map(ToString::to_string).unwrap_or_default()
        ),
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
    .into_response()
}

/// Asks the extension to store a derived repository's manifest before it is read.
async fn prepare_derived(
    extension: &Arc<dyn Extension>,
    route: &Route,
    accept: Option<String>,
    identity: &crate::auth::Identity,
) -> Result<(), ApiError> {
    let Route::Manifest(repo, reference) = route else {
        return Ok(());
    };
    extension
        .prepare_manifest(ManifestRequest {
            repo: repo.clone(),
            reference: reference.clone(),
            identity: identity.clone(),
            accept,
        })
        .await
}

/// Refuses a manifest whose declared size is over the limit before reading any of it.
fn too_large(route: &Route, request: &Request) -> Option<Response> {
    if !matches!(route, Route::Manifest(..)) || request.method() != Method::PUT {
        return None;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())?;
    (declared > api::MAX_MANIFEST_SIZE as u64).then(|| {
        ApiError::new(
            Code::ManifestInvalid,
            format!(
                "the manifest's `Content-Length: {declared}` is over the limit of {} bytes",
                api::MAX_MANIFEST_SIZE
            ),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        .into_response()
    })
}

/// Removes upload sessions that received nothing for the expiry time: those this process
/// opened (unless a request is writing them) and those on disk that nobody touched for as
/// long (left by an earlier process).
async fn expire_uploads(api: AppState) {
    let expiry = api.sessions.expiry();
    let every = (expiry / 4).clamp(Duration::from_secs(1), Duration::from_mins(1));
    loop {
        tokio::time::sleep(every).await;
        let storage = api.storage.clone();
        let Ok(on_disk) = api::blocking(move || storage.list_uploads()).await else {
            continue;
        };
        for (id, _lock) in api.sessions.expired() {
            match on_disk.iter().find(|u| u.id == id) {
                Some(upload) => expire_one(&api, &upload.repo, &id).await,
                None => api.sessions.closed(&id),
            }
        }
        let cutoff = SystemTime::now().checked_sub(expiry);
        for upload in &on_disk {
            let stale = cutoff.is_some_and(|c| upload.modified < c);
            if stale && !api.sessions.knows(&upload.id) {
                expire_one(&api, &upload.repo, &upload.id).await;
            }
        }
    }
}

async fn expire_one(api: &AppState, repo: &crate::names::RepoName, id: &str) {
    let storage = api.storage.clone();
    let (r, i) = (repo.clone(), id.to_owned());
    let removed = api::blocking(move || storage.cancel_upload(&r, &i)).await;
    api.sessions.closed(id);
    if let Ok(true) = removed {
        api.upload_ended(false);
        tracing::info!(
            target: "paks::registry",
            "removed upload session `{id}` of `{repo}`: it received nothing for {} s",
            api.sessions.expiry().as_secs()
        );
    }
}

/// Logs each request and counts it in the metrics.
async fn observe(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    shared.metrics.record_version(request.version());
    let path = request.uri().path().to_owned();
    let label = crate::metrics::Route::of_path(&path);
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let sent = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if method != Method::HEAD {
        shared.metrics.add_sent(sent);
    }
    shared
        .metrics
        .record_request(&method, label, status, elapsed);
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    if let Some(code) = code {
        shared.metrics.record_error(code.as_str());
    }
    let user = response
        .extensions()
        .get::<crate::auth::Identity>()
        .and_then(|i| i.user().map(str::to_owned))
        .unwrap_or_default();
    tracing::info!(
        target: "paks::access",
        method = %method,
        path = %path,
        status,
        bytes = sent,
        ms = elapsed.as_secs_f64() * 1000.0,
        user = %user,
        error = code.map_or("", Code::as_str),
    );
    response
}

/// Opens the storage, binds, calls `ready` with the bound address and scheme, and serves
/// until `shutdown` completes.
pub async fn run(
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr, &'static str),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let token_key = config
        .token_key
        .as_deref()
        .map(crate::replica::read_token_key)
        .transpose()?;
    let storage = crate::storage::open(&config.storage)
        .map_err(|e| ServeError::Storage(config.storage.clone(), e))?;
    let mut access = match &config.auth {
        Some(path) => AccessControl::load(path)?,
        None => AccessControl::open(),
    }
    .with_limits(&config.limits);
    if let Some(key) = &token_key {
        access = access.with_token_key(key);
    }
    let extension = config.extension.map(|e| e.0);
    if let Some(e) = &extension {
        access = with_derived_repos(access, e);
    }
    if let Some(dir) = &config.static_dir
        && !dir.is_dir()
    {
        return Err(ServeError::StaticDir(dir.clone()));
    }
    let tls = config
        .tls
        .as_ref()
        .map(|(cert, key)| crate::tls::load_tls(cert, key))
        .transpose()?;
    let limits = config.limits.clone();
    let (app, api) = build(
        storage,
        Arc::new(access),
        config.static_dir.clone(),
        tls.is_some(),
        config.limits,
        extension,
    );
    let metrics = api.metrics.clone();
    let expiry = tokio::spawn(expire_uploads(api));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Bind(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Bind(config.listen, e))?;
    ready(addr, if tls.is_some() { "https" } else { "http" });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let served =
        crate::listen::serve(listener, acceptor, app, &limits, Some(&metrics), shutdown).await;
    expiry.abort();
    served.map_err(ServeError::Serve)
}

/// A refusal as a spec error (so metrics and logs see its code).
fn refuse(denial: crate::auth::Denial) -> Response {
    let code = match denial.status {
        StatusCode::FORBIDDEN => Code::Denied,
        StatusCode::TOO_MANY_REQUESTS => Code::TooManyRequests,
        _ => Code::Unauthorized,
    };
    let mut e = ApiError::new(code, denial.message).with_status(denial.status);
    if let Some(challenge) = &denial.challenge {
        e = e.with_header(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(secs) = denial.retry_after {
        e = e.with_header(header::RETRY_AFTER, &secs.to_string());
    }
    e.into_response()
}
