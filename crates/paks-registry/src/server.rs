//! The HTTP server: the API under `/v2/`, the token endpoint, `/metrics`, static files,
//! request logs; plain HTTP or TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::error::ErrorCode;
use crate::api::{self, ApiError, AppState, Code, Route};
use crate::auth::{AccessControl, Action, Need};
use crate::metrics::Metrics;
use crate::storage::{FsStorage, Storage, StorageError};

/// What `paks serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The registry's data directory.
    pub root: PathBuf,
    pub listen: SocketAddr,
    /// PEM certificate chain and key; plain HTTP without them.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The users file; without it everyone may do everything.
    pub auth: Option<PathBuf>,
    /// A directory served as static files outside `/v2/`.
    pub static_dir: Option<PathBuf>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the registry data at `{}`", .0.display())]
    Storage(PathBuf, #[source] StorageError),
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
}

/// Everything the router shares.
#[derive(Clone)]
struct Shared {
    api: AppState,
    access: Arc<AccessControl>,
    metrics: Arc<Metrics>,
    tls: bool,
}

/// Builds the whole application.
pub fn app(
    storage: Arc<dyn Storage>,
    access: Arc<AccessControl>,
    static_dir: Option<PathBuf>,
    tls: bool,
) -> Router {
    let metrics = Arc::new(Metrics::default());
    let shared = Shared {
        api: AppState {
            storage,
            metrics: metrics.clone(),
        },
        access: access.clone(),
        metrics,
        tls,
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
    router = match static_dir {
        Some(dir) => router.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => router.fallback(not_found),
    };
    router.layer(middleware::from_fn_with_state(shared, observe))
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
    }
}

fn realm(shared: &Shared, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if shared.tls { "https" } else { "http" };
    format!("{scheme}://{host}/token")
}

async fn v2(State(shared): State<Shared>, mut request: Request) -> Response {
    let route = match api::parse_route(request.uri().path()) {
        Some(Ok(route)) => route,
        Some(Err(e)) => return e.into_response(),
        None => return not_found().await,
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let realm = realm(&shared, request.headers());
    let need = need(&route, request.method());
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
        });
    }
    let access = shared.access.clone();
    let auth = authorization.clone();
    let decision =
        tokio::task::spawn_blocking(move || access.authorize(auth.as_deref(), &need, &realm)).await;
    let identity = match decision {
        Ok(Ok(identity)) => identity,
        Ok(Err(denial)) => return refuse(denial),
        Err(e) => return ApiError::internal(format!("authorization failed: {e}")).into_response(),
    };
    // A mount also reads the `from` repository.
    if let Route::UploadStart(_) = &route
        && let Some(from) = api::query_get(&api::query_pairs(request.uri().query()), "from")
            .and_then(|f| crate::names::RepoName::parse(f).ok())
    {
        let need = Need {
            repo: Some(from),
            actions: vec![Action::Pull],
            catalog: false,
        };
        let allowed = shared
            .access
            .authorize(authorization.as_deref(), &need, "")
            .is_ok();
        request
            .extensions_mut()
            .insert(api::uploads::MountAllowed(allowed));
    }
    let mut response = api::handle(shared.api.clone(), route, request).await;
    response.extensions_mut().insert(identity);
    response
}

/// Logs each request and counts it in the metrics.
async fn observe(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
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
    let storage =
        FsStorage::open(&config.root).map_err(|e| ServeError::Storage(config.root.clone(), e))?;
    let access = match &config.auth {
        Some(path) => AccessControl::load(path)?,
        None => AccessControl::open(),
    };
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
    let app = app(
        Arc::new(storage),
        Arc::new(access),
        config.static_dir.clone(),
        tls.is_some(),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Bind(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Bind(config.listen, e))?;
    if let Some(tls) = tls {
        ready(addr, "https");
        crate::tls::serve_tls(listener, tls, app, shutdown)
            .await
            .map_err(ServeError::Serve)
    } else {
        ready(addr, "http");
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Serve)
    }
}

/// A refusal as a spec error (so metrics and logs see its code).
fn refuse(denial: crate::auth::Denial) -> Response {
    let code = if denial.status == StatusCode::FORBIDDEN {
        Code::Denied
    } else {
        Code::Unauthorized
    };
    let mut e = ApiError::new(code, denial.message).with_status(denial.status);
    if let Some(challenge) = &denial.challenge {
        e = e.with_header(header::WWW_AUTHENTICATE, challenge);
    }
    e.into_response()
}
