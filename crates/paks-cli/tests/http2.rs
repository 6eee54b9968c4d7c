//! HTTP/2 where the registry offers it: over TLS, the client `paks` uses (`paks_oci::Client`
//! under `paks_remote::Remote`) negotiates h2 by ALPN with `paks serve` and carries a whole
//! pull on one connection; over plain HTTP it speaks HTTP/1.1 (never h2 by prior knowledge:
//! registries that do not speak it would break). Counted by the server's `/metrics`.
//!
//! The client, not the `paks` binary, is driven here: `paks` reaches a loopback registry
//! over plain HTTP, and a test may not look up real names; the client's `resolve` sends
//! `registry.paks.invalid` to 127.0.0.1 without DNS.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::{Env, paks_bin, text};
use paks_oci::{Client, ClientConfig, Reference};
use paks_testkit::PaksServe;

/// The registry's name in its certificate and in references.
const NAME: &str = "registry.paks.invalid";
const PACKAGES: usize = 20;

/// A self-signed certificate for [`NAME`] in `dir` (cert.pem, key.pem).
fn certificate(dir: &Path) {
    common::self_signed_certificate(
        dir,
        &format!("/CN={NAME}"),
        &format!("subjectAltName=DNS:{NAME}"),
        // A leaf, not a CA: webpki refuses a CA certificate as the server's own.
        &[
            "basicConstraints=critical,CA:FALSE",
            "extendedKeyUsage=serverAuth",
        ],
    );
}

/// A sample of the server's `/metrics` (0 when absent), read with curl over TLS: one
/// HTTP/1.1 connection and request.
fn metric(dir: &Path, addr: SocketAddr, series: &str) -> u64 {
    let out = Command::new("curl")
        .args(["-sSf", "--http1.1", "--cacert"])
        .arg(dir.join("cert.pem"))
        .args(["--resolve", &format!("{NAME}:{}:127.0.0.1", addr.port())])
        .arg(format!("https://{NAME}:{}/metrics", addr.port()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().unwrap())
}

const H2: &str = r#"paks_registry_http_version_requests_total{version="2"}"#;
const CONNECTIONS: &str = "paks_registry_connections_accepted_total";

#[test]
fn a_pull_over_tls_negotiates_http2_on_one_connection() {
    let env = Env::new();
    let dir = env.dir.path();
    certificate(dir);
    let data = dir.join("registry-data");
    let summary = paks_benchgen::generate(
        &data,
        &paks_benchgen::Options {
            packages: PACKAGES,
            seed: 2,
            namespace: "h2".to_owned(),
            writers: 2,
            chain: false,
        },
    )
    .unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let server = PaksServe::start(
        Path::new(paks_bin()),
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let addr = server.addr();
    let refs: Vec<Reference> = summary
        .packages
        .iter()
        .map(|p| {
            format!("{NAME}:{}/{}:{}", addr.port(), p.repository, p.newest)
                .parse()
                .unwrap()
        })
        .collect();
    let client = Client::new(ClientConfig {
        resolve: vec![(NAME.to_owned(), addr)],
        extra_roots: vec![std::fs::read(&cert).unwrap()],
        ..ClientConfig::default()
    })
    .unwrap();
    let store = paks_store::Store::open(&dir.join("root")).unwrap();
    let remote = paks_remote::Remote::new(client, &store);
    let host = paks_host::HostProfile::from_env().unwrap();

    let connections = metric(dir, addr, CONNECTIONS);
    let pulled = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(remote.pull_many(&refs, &host, &paks_types::NoReporter))
        .unwrap();
    assert_eq!(pulled.len(), PACKAGES);
    let blobs: usize = pulled.iter().map(|p| p.downloaded_blobs).sum();
    assert!(blobs >= PACKAGES, "{blobs} layers downloaded");
    // Every request of the pull (manifests, configs, layers) went over HTTP/2, on one or
    // two connections (measured 2; 21 before the first request to a registry went alone,
    // when every request sent before ALPN had finished opened its own); the second
    // `/metrics` read is one more.
    let h2 = metric(dir, addr, H2);
    assert!(h2 >= 3 * PACKAGES as u64, "{h2} HTTP/2 requests");
    let opened = metric(dir, addr, CONNECTIONS) - connections - 1;
    assert!(opened <= 2, "the pull opened {opened} connections");
}

/// The plain-HTTP registry (loopback) is spoken to in HTTP/1.1.
#[test]
fn plain_http_stays_http1() {
    let env = Env::new();
    let server = common::serve(&env);
    let client = Client::new(ClientConfig::default()).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(client.ping(&server.host()))
        .unwrap();
    let (status, head, body) =
        paks_testkit::raw_http::exchange(server.addr(), "GET", "/metrics", &[], b"");
    assert_eq!(status, 200, "{head}");
    let body = text(&body);
    assert!(
        body.contains("paks_registry_http_version_requests_total{version=\"1.1\"} 2\n"),
        "{body}"
    );
    assert!(!body.contains(H2), "{body}");
}
