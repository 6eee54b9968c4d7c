//! One connection pool: a cold `paks install REF…` and `paks pull REF…` of many packages
//! reuse a bounded set of keep-alive connections to `paks serve`, however many packages
//! and requests there are, rather than opening one per package or per request (issue 20
//! measured 384 connections for the 384-package Debian closure). Counted by the server
//! (`paks_registry_connections_accepted_total`).

mod common;

use std::net::SocketAddr;

use common::{Env, text};
use paks_testkit::raw_http::exchange;

/// More packages than the bound below, so one connection per package would exceed it.
const PACKAGES: usize = 100;
/// Twice the client's requests at once (`paks_oci::REQUESTS_AT_ONCE`): a request gives up
/// its place once it has its response headers, so connections still reading a body (blob
/// transfers among them) come on top, and hyper keeps a connection it began opening for
/// a request that an idle one then served (measured: 32 to 47 for 60 packages). A pool
/// that works holds no more, whatever the count of packages or requests.
const BOUND: u64 = 2 * 32;

/// A counter or labelled sample of the server's `/metrics` (0 when absent).
fn metric(addr: SocketAddr, series: &str) -> u64 {
    let (status, head, body) = exchange(addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200, "{head}");
    text(&body)
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn connections(addr: SocketAddr) -> u64 {
    metric(addr, "paks_registry_connections_accepted_total")
}

fn requests(addr: SocketAddr) -> u64 {
    metric(
        addr,
        r#"paks_registry_http_version_requests_total{version="1.1"}"#,
    )
}

/// Runs `paks -j 2 <command> REF…` and returns (connections, requests) it made; the
/// `/metrics` request that reads them counts one connection and one request, taken off.
fn counted(env: &Env, addr: SocketAddr, command: &str, refs: &[String]) -> (u64, u64) {
    let (c0, r0) = (connections(addr), requests(addr));
    let mut args = vec!["-j", "2", command];
    args.extend(refs.iter().map(String::as_str));
    env.ok(&args);
    let (c1, r1) = (connections(addr), requests(addr));
    let counts = (c1 - c0 - 1, r1 - r0 - 1);
    eprintln!(
        "paks {command}: {} connections, {} requests",
        counts.0, counts.1
    );
    counts
}

#[test]
fn install_and_pull_of_many_packages_reuse_a_bounded_pool_of_connections() {
    let env = Env::new();
    let summary = paks_benchgen::generate(
        &env.dir.path().join("registry-data"),
        &paks_benchgen::Options {
            packages: PACKAGES,
            seed: 20,
            namespace: "pool".to_owned(),
            writers: 2,
            chain: false,
        },
    )
    .unwrap();
    let server = common::serve(&env);
    let addr = server.addr();
    let refs: Vec<String> = summary
        .packages
        .iter()
        .map(|p| format!("{}/{}:{}", server.host(), p.repository, p.newest))
        .collect();

    // Every package: its version's index, its build's manifest, config and layer, and its
    // dependencies'. Cold: nothing cached.
    let (conns, answered) = counted(&env, addr, "install", &refs);
    assert!(answered >= 4 * PACKAGES as u64, "{answered} requests");
    assert!(
        conns <= BOUND,
        "`paks install` of {PACKAGES} packages opened {conns} connections for {answered} requests"
    );
    assert!(env.store_entries().len() >= PACKAGES, "all installed");

    // `paks pull` into another root: the same over the cache-less path.
    let other = Env::new();
    let (conns, answered) = counted(&other, addr, "pull", &refs);
    assert!(answered >= 4 * PACKAGES as u64, "{answered} requests");
    assert!(
        conns <= BOUND,
        "`paks pull` of {PACKAGES} packages opened {conns} connections for {answered} requests"
    );
}
