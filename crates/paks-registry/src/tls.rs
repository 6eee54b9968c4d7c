//! TLS for `paks serve`: load a certificate and key, and serve a router over rustls with
//! HTTP/1.1 and HTTP/2.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use crate::listen::HANDSHAKE_TIMEOUT;

/// A certificate or key that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to read the TLS file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the certificate file `{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`); pass the certificate chain, server certificate first",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "the key file `{}` holds no PEM private key (PKCS#8 `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`); pass the unencrypted key of the certificate",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error(
        "the certificate `{}` and the key `{}` cannot be used together; check that the key belongs to the first certificate",
        cert.display(),
        key.display()
    )]
    Config {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Loads a PEM certificate chain (server certificate first) and its private key (PKCS#8,
/// PKCS#1 RSA or SEC1 EC) into a server configuration offering `h2` and `http/1.1`.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read {
            path: cert.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let private_key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|source| TlsError::Read {
            path: key.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey {
            path: key.to_owned(),
        })?;
    let config_error = |source| TlsError::Config {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    };
    // Explicitly ring: the process may hold more than one provider, and then rustls has no
    // default to pick.
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(config_error)?
    .with_no_client_auth()
    .with_single_cert(certs, private_key)
    .map_err(config_error)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS on `listener` with the default [`Limits`](crate::limits::Limits)
/// until `shutdown` completes; see [`crate::listen::serve`].
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = crate::limits::Limits::default();
    crate::listen::serve(
        listener,
        Some(TlsAcceptor::from(tls)),
        app,
        &limits,
        None,
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use axum::routing::get;

    struct Cert {
        dir: tempfile::TempDir,
        pem: String,
    }

    impl Cert {
        fn new() -> Self {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
            Self {
                dir,
                pem: cert.pem(),
            }
        }

        fn cert(&self) -> PathBuf {
            self.dir.path().join("cert.pem")
        }

        fn key(&self) -> PathBuf {
            self.dir.path().join("key.pem")
        }
    }

    #[tokio::test]
    async fn serves_https_and_survives_plain_http() {
        let cert = Cert::new();
        let tls = load_tls(&cert.cert(), &cert.key()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route("/hello", get(|| async { "hello over tls" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_tls(listener, tls, app, async {
            let _ = stopped.await;
        }));

        let client = reqwest::Client::builder()
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .tls_certs_only([reqwest::Certificate::from_pem(cert.pem.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let url = format!("https://localhost:{port}/hello");
        let get = || async {
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        };
        assert_eq!(get().await, "hello over tls");

        // Plain HTTP to the TLS port fails, and only that connection.
        let plain = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/hello"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(plain.is_err(), "{plain:?}");
        assert_eq!(get().await, "hello over tls");

        // HTTP/2 is negotiated by ALPN, and spoken.
        assert_eq!(h2_settings_frame_type(&cert.pem, port).await, 4);

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
        );
    }

    /// Negotiates `h2` by ALPN, sends the HTTP/2 preface and an empty SETTINGS frame, and
    /// returns the type of the server's first frame (SETTINGS is 4).
    async fn h2_settings_frame_type(cert_pem: &str, port: u16) -> u8 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut cert_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .unwrap();
        let mut frame_header = [0u8; 9];
        tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut frame_header))
            .await
            .unwrap()
            .unwrap();
        frame_header[3]
    }

    #[test]
    fn load_errors_name_the_file() {
        let cert = Cert::new();
        let missing = cert.dir.path().join("missing.pem");
        let err = load_tls(&missing, &cert.key()).unwrap_err();
        assert!(
            matches!(&err, TlsError::Read { path, .. } if *path == missing),
            "{err:?}"
        );

        // A key where the certificate should be, and the other way round.
        let err = load_tls(&cert.key(), &cert.key()).unwrap_err();
        assert!(
            matches!(&err, TlsError::NoCertificate { path } if *path == cert.key()),
            "{err:?}"
        );
        assert!(err.to_string().contains("key.pem"), "{err}");
        let err = load_tls(&cert.cert(), &cert.cert()).unwrap_err();
        assert!(
            matches!(&err, TlsError::NoKey { path } if *path == cert.cert()),
            "{err:?}"
        );

        // A key that does not belong to the certificate.
        let other = Cert::new();
        let err = load_tls(&cert.cert(), &other.key()).unwrap_err();
        assert!(matches!(err, TlsError::Config { .. }), "{err:?}");

        let config = load_tls(&cert.cert(), &cert.key()).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
