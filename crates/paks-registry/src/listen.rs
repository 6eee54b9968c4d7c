//! The connection loop of `paks serve`, plain or TLS: a bound on connections per client
//! address, a deadline for request heads, an idle timeout for answers the client does not
//! take, and graceful shutdown. Each request carries its client's address
//! ([`ClientAddr`]) for the limits that count per client.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::idle::IdleIo;
use crate::limits::Limits;
use crate::metrics::Metrics;

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The address of the client that sent a request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl ClientAddr {
    /// The client's IP address in `request`, or the unspecified address when the request
    /// did not come through [`serve`] (an in-process router in tests).
    pub fn ip_of<B>(request: &axum::http::Request<B>) -> IpAddr {
        request
            .extensions()
            .get::<Self>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
    }
}

/// Open connections per client address.
#[derive(Default)]
struct ConnectionCounts(Mutex<HashMap<IpAddr, usize>>);

/// One counted connection; uncounted on drop.
struct Counted {
    counts: Arc<ConnectionCounts>,
    ip: IpAddr,
}

impl ConnectionCounts {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Counted> {
        let mut counts = self.0.lock().expect("not poisoned");
        let n = counts.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Counted {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().expect("not poisoned");
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` completes:
/// then it stops accepting, asks open connections to close once their requests are
/// answered, and returns when they have. Wrap the call in a timeout to bound that wait.
/// Accepted connections are counted in `metrics`, if given.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    limits: &Limits,
    metrics: Option<&Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let counts = Arc::new(ConnectionCounts::default());
    // Every connection task holds a receiver: `closed()` tells when all are gone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(target: "paks::registry", "failed to accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if let Some(m) = metrics {
            m.connection_accepted();
        }
        let Some(counted) = counts.enter(peer.ip(), limits.connections_per_client) else {
            tracing::debug!(
                target: "paks::registry",
                "closing a connection from {peer}: it has {} open", limits.connections_per_client
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = IdleIo::new(stream, limits.send_idle_timeout);
        let app = app.clone();
        let stop = stop_rx.clone();
        let header_timeout = limits.header_timeout;
        match &tls {
            None => {
                tokio::spawn(connection(stream, peer, app, header_timeout, stop, counted));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let tls_stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(target: "paks::registry", "TLS handshake with {peer} failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(target: "paks::registry", "TLS handshake with {peer} timed out");
                            return;
                        }
                    };
                    connection(tls_stream, peer, app, header_timeout, stop, counted).await;
                });
            }
        }
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
    Ok(())
}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it ends or the server stops.
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: axum::Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    counted: Counted,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let service = app.map_request(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ClientAddr(peer));
        request
    });
    let connection =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: "paks::registry", "connection with {peer} ended: {e}");
    }
    drop(stop);
    drop(counted);
}
