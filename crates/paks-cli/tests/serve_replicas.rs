//! Two `paks serve --storage s3://…` replicas on one bucket of a real Garage cluster
//! (3 nodes on 127.0.0.1), each talking to a different node: what one acknowledges the
//! other serves at once, an upload session moves between them, a node killed with SIGKILL
//! in the middle of a push loses nothing acknowledged, and 16 clients racing to move one
//! tag through both replicas leave it naming one of the manifests they pushed.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{Env, noise, paks_bin, text};
use paks_testkit::raw_http::{exchange, header};
use paks_testkit::{Garage, PaksServe, busybox_layout, skopeo};
use paks_types::Digest;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Two replicas on `garage` under `prefix`: the first on node 0, the second on node 1.
fn replicas(garage: &Garage, dir: &Path, prefix: &str) -> [PaksServe; 2] {
    [0, 1].map(|node| {
        PaksServe::start_garage(
            Path::new(paks_bin()),
            &dir.join(format!("root{node}")),
            garage,
            node,
            prefix,
            &[],
        )
    })
}

/// Appends a query to a Location that may already have one.
fn with_query(location: &str, query: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}{query}")
}

/// Opens an upload session on `addr`; its Location.
fn open_session(addr: SocketAddr, repo: &str) -> String {
    let (status, head, body) = exchange(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(status, 202, "{head}{}", text(&body));
    header(&head, "location").unwrap().to_owned()
}

/// Sends `chunk` at `offset` (a `PATCH`) to the session at `location` on `addr`: (status, head,
/// body).
fn patch(addr: SocketAddr, location: &str, offset: usize, chunk: &[u8]) -> (u16, String, Vec<u8>) {
    let range = format!("{offset}-{}", offset + chunk.len() - 1);
    exchange(
        addr,
        "PATCH",
        location,
        &[
            ("content-type", "application/octet-stream"),
            ("content-range", &range),
        ],
        chunk,
    )
}

/// Closes the session with `PUT ?digest=` (and an optional last chunk).
fn finish(
    addr: SocketAddr,
    location: &str,
    digest: &Digest,
    last: &[u8],
) -> (u16, String, Vec<u8>) {
    exchange(
        addr,
        "PUT",
        &with_query(location, &format!("digest={digest}")),
        &[("content-type", "application/octet-stream")],
        last,
    )
}

/// Uploads `bytes` to `repo` through `addr` in one PUT; the status.
fn push_blob(addr: SocketAddr, repo: &str, bytes: &[u8]) -> u16 {
    let location = open_session(addr, repo);
    finish(addr, &location, &Digest::sha256_of(bytes), bytes).0
}

/// GET of blob `digest` of `repo` through `addr`: (status, body).
fn get_blob(addr: SocketAddr, repo: &str, digest: &Digest) -> (u16, Vec<u8>) {
    let (status, _, body) = exchange(addr, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
    (status, body)
}

/// GET of manifest `reference` of `repo` through `addr`: (status, body).
fn get_manifest(addr: SocketAddr, repo: &str, reference: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = exchange(
        addr,
        "GET",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("accept", OCI_MANIFEST)],
        b"",
    );
    (status, body)
}

/// A manifest over the empty config `config`, with `layers` and a distinguishing
/// annotation.
fn manifest(config: &Digest, layers: &[(&Digest, usize)], note: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.to_string(), "size": 2},
        "layers": layers.iter().map(|(d, n)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": n
        })).collect::<Vec<_>>(),
        "annotations": {"note": note},
    }))
    .unwrap()
}

#[test]
fn a_push_through_one_replica_is_pullable_through_the_other_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = replicas(Garage::shared(), dir.path(), "replicas-push");
    // skopeo in through A, out through B.
    let layout = dir.path().join("layout");
    let digest = busybox_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{}/acme/busybox:1", a.host()),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/acme/busybox:1", b.host()),
    ]);
    assert_eq!(Digest::sha256_of(raw.as_bytes()), digest);
    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/acme/busybox:1", b.host()),
        &format!("oci:{}:1", back.display()),
    ]);
    assert!(back.join("blobs/sha256").join(digest.hex()).is_file());

    // paks push through B, install through A.
    let builder = Env::new();
    builder.build("libgreet");
    let hello = builder.build("hello");
    builder.ok(&[
        "push",
        hello.to_str().unwrap(),
        &format!("{}/acme/hello", b.host()),
    ]);
    let user = Env::new();
    user.ok(&["install", &format!("{}/acme/hello:1.0.0", a.host())]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

#[test]
fn a_chunked_upload_started_on_one_replica_finishes_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = replicas(Garage::shared(), dir.path(), "replicas-chunked");
    let (a, b) = (a.addr(), b.addr());
    let bytes = noise(3 << 20, 7);
    let digest = Digest::sha256_of(&bytes);
    let (one, rest) = bytes.split_at(1 << 20);
    let (two, three) = rest.split_at(1 << 20);
    let location = open_session(a, "acme/chunked");
    let (status, head, body) = patch(b, &location, 0, one);
    assert_eq!(status, 202, "{head}{}", text(&body));
    // B's answer says where the session goes on, and A agrees.
    let (status, head, _) = exchange(a, "GET", &location, &[], b"");
    assert_eq!(status, 204, "{head}");
    assert_eq!(header(&head, "range"), Some("0-1048575"), "{head}");
    let (status, head, body) = patch(a, &location, one.len(), two);
    assert_eq!(status, 202, "{head}{}", text(&body));
    let (status, head, body) = finish(b, &location, &digest, three);
    assert_eq!(status, 201, "{head}{}", text(&body));
    for addr in [a, b] {
        let (status, body) = get_blob(addr, "acme/chunked", &digest);
        assert_eq!(status, 200);
        assert!(body == bytes, "the blob read back whole through {addr}");
    }
    // The session is gone on both.
    for addr in [a, b] {
        let (status, head, _) = exchange(addr, "GET", &location, &[], b"");
        assert_eq!(status, 404, "{head}");
    }
}

/// A 50 MiB blob pushed through replica A in 5 MiB chunks, with node 2 of the cluster
/// (which neither replica talks to) killed with SIGKILL between two chunks: with two nodes
/// of three the bucket still has its quorum, so the push either completes or fails with an
/// error answer (never a hang or a broken connection), and everything acknowledged before
/// the kill stays pullable through both replicas, with the node down and after its restart.
#[test]
fn a_garage_node_killed_during_a_push_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut garage = Garage::start();
    let [a, b] = replicas(&garage, dir.path(), "kill");
    let (a, b) = (a.addr(), b.addr());
    let repo = "acme/kill";

    // Acknowledged before the kill: a config, a layer and a manifest naming them.
    let config = b"{}".to_vec();
    let layer = noise(1 << 20, 1);
    assert_eq!(push_blob(a, repo, &config), 201);
    assert_eq!(push_blob(b, repo, &layer), 201);
    let (config_digest, layer_digest) = (Digest::sha256_of(&config), Digest::sha256_of(&layer));
    let before = manifest(&config_digest, &[(&layer_digest, layer.len())], "before");
    let (status, head, body) = exchange(
        a,
        "PUT",
        &format!("/v2/{repo}/manifests/before"),
        &[("content-type", OCI_MANIFEST)],
        &before,
    );
    assert_eq!(status, 201, "{head}{}", text(&body));

    let big = noise(50 << 20, 2);
    let big_digest = Digest::sha256_of(&big);
    let location = open_session(a, repo);
    let mut acknowledged = 0;
    let mut failed = None;
    for (i, chunk) in big.chunks(5 << 20).enumerate() {
        if i == 4 {
            garage.kill(2);
        }
        let (status, head, body) = patch(a, &location, acknowledged, chunk);
        if status == 202 {
            acknowledged += chunk.len();
            assert_eq!(
                header(&head, "range"),
                Some(format!("0-{}", acknowledged - 1).as_str())
            );
        } else {
            failed = Some((status, head, body));
            break;
        }
    }
    let outcome = match failed {
        None => finish(a, &location, &big_digest, b""),
        Some(answer) => answer,
    };
    let (status, head, body) = &outcome;
    let pushed = *status == 201;
    if !pushed {
        // A clean failure: an answer with a status and a registry error body.
        assert!(*status >= 400, "{head}{}", text(body));
        let error: serde_json::Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("not a JSON error ({e}): {head}{}", text(body)));
        assert!(error["errors"][0]["code"].is_string(), "{error}");
    }

    let check = |when: &str| {
        for addr in [a, b] {
            let (status, got) = get_manifest(addr, repo, "before");
            assert_eq!(status, 200, "{when}, through {addr}");
            assert!(got == before, "{when}, through {addr}");
            for (digest, bytes) in [(&config_digest, &config), (&layer_digest, &layer)] {
                let (status, got) = get_blob(addr, repo, digest);
                assert_eq!(status, 200, "{when}, {digest} through {addr}");
                assert!(&got == bytes, "{when}, {digest} through {addr}");
            }
            let (status, got) = get_blob(addr, repo, &big_digest);
            if pushed {
                assert_eq!(status, 200, "{when}, the big blob through {addr}");
                assert!(got == big, "{when}, the big blob through {addr}");
            } else {
                assert_eq!(status, 404, "{when}: a failed push leaves nothing readable");
            }
        }
    };
    check("with node 2 down");
    garage.restart(2);
    check("after node 2 restarted");
}

/// 16 clients, half through each replica, each push a different manifest to one tag at the
/// same time: nothing fails, every manifest acknowledged with 201 is pullable by digest
/// through both replicas, and the tag names one of them (the same through both).
#[test]
fn sixteen_clients_racing_for_one_tag_through_two_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = replicas(Garage::shared(), dir.path(), "replicas-race");
    let addrs = [a.addr(), b.addr()];
    let repo = "acme/race";
    assert_eq!(push_blob(addrs[0], repo, b"{}"), 201);
    let config = Digest::sha256_of(b"{}");
    let manifests: Vec<Vec<u8>> = (0..16)
        .map(|i| manifest(&config, &[], &format!("client {i}")))
        .collect();

    let results = race(&addrs, repo, &manifests, |_| None);
    let won: Vec<usize> = (0..16).filter(|i| results[*i].0 == 201).collect();
    for (i, (status, answer)) in results.iter().enumerate() {
        assert_eq!(*status, 201, "client {i}: {answer}");
    }
    assert_tag_names_one_of(&addrs, repo, &manifests, &won);

    // The same with `If-Match` on the digest every client read: on Garage (no conditional
    // PutObject) compare-and-swap holds per replica only, so at most one client through
    // each replica wins, every other gets 412, and the tag names a winner.
    let (_, current) = get_manifest(addrs[0], repo, "t");
    let read = format!("\"{}\"", Digest::sha256_of(&current));
    let manifests: Vec<Vec<u8>> = (0..16)
        .map(|i| manifest(&config, &[], &format!("conditional client {i}")))
        .collect();
    let results = race(&addrs, repo, &manifests, |_| Some(read.clone()));
    let won: Vec<usize> = (0..16).filter(|i| results[*i].0 == 201).collect();
    for (i, (status, answer)) in results.iter().enumerate() {
        assert!(
            *status == 201 || *status == 412,
            "client {i}: {status} {answer}"
        );
    }
    assert!(!won.is_empty(), "some client wins: {results:?}");
    for replica in 0..2 {
        let through: Vec<_> = won.iter().filter(|i| *i % 2 == replica).collect();
        assert!(through.len() <= 1, "one winner per replica: {through:?}");
    }
    assert_tag_names_one_of(&addrs, repo, &manifests, &won);
}

/// Client `i` PUTs `manifests[i]` to tag `t` through replica `i % 2`, all at once, with
/// `If-Match: if_match(i)` when given; each client's (status, body).
fn race(
    addrs: &[SocketAddr; 2],
    repo: &str,
    manifests: &[Vec<u8>],
    if_match: impl Fn(usize) -> Option<String>,
) -> Vec<(u16, String)> {
    let barrier = std::sync::Barrier::new(manifests.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = manifests
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let (barrier, condition) = (&barrier, if_match(i));
                scope.spawn(move || {
                    let mut headers = vec![("content-type", OCI_MANIFEST)];
                    if let Some(c) = &condition {
                        headers.push(("if-match", c.as_str()));
                    }
                    barrier.wait();
                    let (status, head, answer) = exchange(
                        addrs[i % 2],
                        "PUT",
                        &format!("/v2/{repo}/manifests/t"),
                        &headers,
                        body,
                    );
                    (status, format!("{head}{}", text(&answer)))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Every manifest of `won` reads back by digest through both replicas, and tag `t` names
/// one of them, the same through both.
fn assert_tag_names_one_of(
    addrs: &[SocketAddr; 2],
    repo: &str,
    manifests: &[Vec<u8>],
    won: &[usize],
) {
    for &i in won {
        let digest = Digest::sha256_of(&manifests[i]);
        for addr in addrs {
            let (status, got) = get_manifest(*addr, repo, &digest.to_string());
            assert_eq!(status, 200, "client {i}'s manifest through {addr}");
            assert!(got == manifests[i]);
        }
    }
    let (status, tagged) = get_manifest(addrs[0], repo, "t");
    assert_eq!(status, 200);
    assert!(
        won.iter().any(|&i| manifests[i] == tagged),
        "the tag names a manifest some client pushed with 201: {}",
        text(&tagged)
    );
    assert_eq!(
        get_manifest(addrs[1], repo, "t").1,
        tagged,
        "both replicas agree"
    );
}
