//! Misbehaving registries, from a server that puts exactly the chosen bytes on the wire.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paks_oci::{ClientConfig, Credentials, Digest, ErrorKind, OCI_INDEX, OCI_MANIFEST, Repository};
use sha2::Digest as _;

use crate::support::server::{Counters, Handler, Reply, Request, Server, serve_range};
use crate::support::{TestImage, client, client_with, entries, progress_counter, random_bytes};

fn repo(server: &Server) -> Repository {
    format!("{}/fault/x", server.host()).parse().unwrap()
}

/// A server for one blob: each GET is answered by `reply(attempt, request, data)`.
async fn blob_server(
    data: Vec<u8>,
    reply: impl Fn(u64, &Request, &[u8]) -> Reply + Send + Sync + 'static,
) -> Server {
    let counters = Counters::default();
    Server::start(Handler::sync(move |req| {
        let n = counters.bump("get");
        reply(n, req, &data)
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_byte_is_refused_naming_both_digests_and_leaves_nothing() {
    let data = random_bytes(300_000, 10);
    let digest = Digest::sha256_of(&data);
    let mut bad = data.clone();
    bad[123_456] ^= 1;
    let actual = Digest::sha256_of(&bad);
    let server = blob_server(data.clone(), move |_, _, _| {
        Reply::with(200, &[], bad.clone())
    })
    .await;
    let client = client(Credentials::none());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("blob");
    let e = client
        .pull_blob(
            &repo(&server),
            &digest,
            Some(data.len() as u64),
            &dest,
            &|_| {},
        )
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e.kind(), ErrorKind::DigestMismatch { .. }),
        "{msg}"
    );
    assert!(msg.contains(&format!("expected `{digest}`")), "{msg}");
    assert!(msg.contains(&format!("`{actual}`")), "{msg}");
    assert!(e.hint().is_some());
    assert!(
        entries(dir.path()).is_empty(),
        "no file and no temp file: {:?}",
        entries(dir.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_long_a_blob_is_refused_while_streaming() {
    let data = random_bytes(10_000, 11);
    let digest = Digest::sha256_of(&data);
    let server = blob_server(data.clone(), |_, _, d| {
        Reply::with(200, &[], [d, b"more"].concat())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let e = client(Credentials::none())
        .pull_blob(
            &repo(&server),
            &digest,
            Some(data.len() as u64),
            &dir.path().join("b"),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::SizeMismatch { .. }), "{e}");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_download_resumes_with_range_and_is_verified() {
    let data = random_bytes(1_000_000, 12);
    let digest = Digest::sha256_of(&data);
    let server = blob_server(data.clone(), |n, req, d| {
        let (status, headers, body) = serve_range(req, d, true);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match n {
            // The first answer dies after 400 000 bytes.
            1 => Reply::Truncated {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
                body,
                cut: 400_000,
            },
            _ => Reply::with(status, &headers, body),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("blob");
    let (got, progress) = progress_counter();
    client(Credentials::none())
        .pull_blob(
            &repo(&server),
            &digest,
            Some(data.len() as u64),
            &dest,
            &progress,
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(
        got.load(std::sync::atomic::Ordering::Relaxed),
        data.len() as u64
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("range"), None);
    assert_eq!(reqs[1].header("range"), Some("bytes=400000-"));
    assert_eq!(entries(dir.path()), ["blob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_download_restarts_when_range_is_ignored() {
    let data = random_bytes(1_000_000, 13);
    let digest = Digest::sha256_of(&data);
    let server = blob_server(data.clone(), |n, _, d| match n {
        1 => Reply::Truncated {
            status: 200,
            headers: vec![],
            body: d.to_vec(),
            cut: 300_000,
        },
        _ => Reply::with(200, &[], d.to_vec()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("blob");
    let (got, progress) = progress_counter();
    client(Credentials::none())
        .pull_blob(
            &repo(&server),
            &digest,
            Some(data.len() as u64),
            &dest,
            &progress,
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(
        got.load(std::sync::atomic::Ordering::Relaxed),
        data.len() as u64,
        "progress counts every byte once"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("range"), Some("bytes=300000-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_keeps_dying_without_progress_gives_up() {
    let data = random_bytes(100_000, 14);
    let digest = Digest::sha256_of(&data);
    let server = blob_server(data.clone(), |_, _, _| Reply::Drop).await;
    let client = client_with(ClientConfig {
        retries: 2,
        ..ClientConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let e = client
        .pull_blob(
            &repo(&server),
            &digest,
            None,
            &dir.path().join("b"),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Connection { attempts: 3, .. }),
        "{e}"
    );
    assert_eq!(server.requests().len(), 3);
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_is_retried_after_retry_after() {
    let image = TestImage::new("429");
    let manifest = image.manifest.clone();
    let counters = Counters::default();
    let server = Server::start(Handler::sync(move |_| {
        if counters.bump("n") == 1 {
            Reply::with(429, &[("retry-after", "0")], "slow down")
        } else {
            Reply::with(200, &[("content-type", OCI_MANIFEST)], manifest.clone())
        }
    }))
    .await;
    let started = Instant::now();
    let m = client(Credentials::none())
        .get_manifest(&repo(&server).reference_tag("1"))
        .await
        .unwrap();
    assert_eq!(m.bytes, image.manifest);
    assert_eq!(server.requests().len(), 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_forever_fails_after_the_retries() {
    let server = Server::start(Handler::sync(|_| Reply::with(503, &[], "down"))).await;
    let client = client_with(ClientConfig {
        retries: 3,
        retry_delay: Duration::from_millis(50),
        ..ClientConfig::default()
    });
    let started = Instant::now();
    let e = client
        .get_manifest(&repo(&server).reference_tag("1"))
        .await
        .unwrap_err();
    assert_eq!(
        server.requests().len(),
        4,
        "the first attempt and 3 retries"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.status(), Some(503));
    let msg = e.to_string();
    assert!(
        msg.contains("503 Service Unavailable: down (after 4 attempts)"),
        "{msg}"
    );
    assert!(msg.contains("/v2/fault/x/manifests/1"), "{msg}");
    // A 404 is not retried.
    let server = Server::start(Handler::sync(|_| Reply::json(404, &serde_json::json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})))).await;
    let e = client
        .get_manifest(&repo(&server).reference_tag("1"))
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert!(
        e.to_string()
            .ends_with("answered 404 Not Found: MANIFEST_UNKNOWN: manifest unknown"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_over_4_mib_are_refused() {
    let big = format!(
        "{{\"mediaType\":\"{OCI_INDEX}\",\"pad\":\"{}\"}}",
        "x".repeat(4 * 1024 * 1024)
    )
    .into_bytes();
    let sized = big.clone();
    let server = Server::start(Handler::sync(move |req| {
        if req.path().ends_with("/sized") {
            Reply::with(200, &[("content-type", OCI_INDEX)], sized.clone())
        } else {
            Reply::Unsized {
                status: 200,
                headers: vec![("content-type".into(), OCI_INDEX.into())],
                body: sized.clone(),
            }
        }
    }))
    .await;
    let client = client(Credentials::none());
    let e = client
        .get_manifest(&repo(&server).reference_tag("sized"))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::ManifestTooLarge { size: Some(n), .. } if *n == big.len() as u64),
        "{e}"
    );
    let e = client
        .get_manifest(&repo(&server).reference_tag("unsized"))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::ManifestTooLarge { size: None, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("larger than the limit of 4194304 bytes"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_digests_are_checked() {
    let image = TestImage::new("digests");
    let manifest = image.manifest.clone();
    let lie = Digest::sha256_of(b"something else");
    let lie_header = lie.to_string();
    let server = Server::start(Handler::sync(move |req| {
        let mut headers = vec![("content-type", OCI_MANIFEST)];
        if req.path().ends_with("/lying") {
            headers.push(("docker-content-digest", lie_header.as_str()));
        }
        Reply::with(200, &headers, manifest.clone())
    }))
    .await;
    let client = client(Credentials::none());
    let r = repo(&server);
    let m = client
        .get_manifest(&r.reference_tag("honest"))
        .await
        .unwrap();
    assert_eq!(m.digest, image.manifest_digest());
    let e = client
        .get_manifest(&r.reference_tag("lying"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&format!("expected `{lie}`")), "{e}");
    let e = client
        .get_manifest(&r.reference_digest(&lie))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::DigestMismatch { .. }), "{e}");
    assert!(
        e.to_string().contains(&image.manifest_digest().to_string()),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_elsewhere_is_refused_without_connecting() {
    // A loopback registry whose token realm and blob redirect point to plain HTTP on
    // another host: both refused before any connection (no DNS lookup either).
    let server = Server::start(Handler::sync(|req| {
        if req.path().contains("/blobs/") {
            Reply::with(
                307,
                &[("location", "http://registry.example.invalid/storage/blob")],
                "",
            )
        } else {
            Reply::with(
                401,
                &[(
                    "www-authenticate",
                    r#"Bearer realm="http://registry.example.invalid/token",service="x""#,
                )],
                "",
            )
        }
    }))
    .await;
    let client = client(Credentials::none());
    let started = Instant::now();
    let e = client.ping(&server.host()).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::PlainHttpRefused { host, .. } if host == "registry.example.invalid"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "refusing plain HTTP to `registry.example.invalid` (`http://registry.example.invalid/token?service=x`)"
    );
    assert_eq!(
        e.hint().unwrap(),
        "if `registry.example.invalid` is a trusted registry without TLS, use `--insecure registry.example.invalid`"
    );
    // A fresh client, that has not yet been told about the token realm.
    let client = crate::support::client(Credentials::none());
    let dir = tempfile::tempdir().unwrap();
    let e = client
        .pull_blob(
            &repo(&server),
            &Digest::sha256_of(b"x"),
            None,
            &dir.path().join("b"),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::PlainHttpRefused { .. }),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_keep_authorization_on_the_same_host_only() {
    let data = random_bytes(50_000, 15);
    let digest = Digest::sha256_of(&data);
    let storage_data = data.clone();
    let storage = Server::start(Handler::sync(move |_| {
        Reply::with(200, &[], storage_data.clone())
    }))
    .await;
    // The same server, named `localhost`: another host for the client.
    let storage_url = format!("http://localhost:{}/storage/blob", storage.addr.port());
    let registry_data = data.clone();
    let registry = Server::start(Handler::sync(move |req| {
        if req.header("authorization") != Some("Basic dTpw") {
            return Reply::with(401, &[("www-authenticate", r#"Basic realm="test""#)], "");
        }
        match req.path() {
            "/v2/" => Reply::status(200),
            p if p.ends_with("/same-host") => Reply::with(200, &[], registry_data.clone()),
            p if p.contains("/blobs/") && p.starts_with("/v2/fault/x/") => {
                Reply::with(307, &[("location", &storage_url)], "")
            }
            p if p.contains("/blobs/") => {
                Reply::with(307, &[("location", "/v2/fault/same-host")], "")
            }
            _ => Reply::status(404),
        }
    }))
    .await;
    let client = client(Credentials::from_parts([(registry.host(), "u", "p")]));
    client.ping(&registry.host()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    client
        .pull_blob(
            &repo(&registry),
            &digest,
            Some(data.len() as u64),
            &dir.path().join("a"),
            &|_| {},
        )
        .await
        .unwrap();
    let at_storage = storage.requests();
    assert_eq!(at_storage.len(), 1);
    assert_eq!(
        at_storage[0].header("authorization"),
        None,
        "credentials stay with the registry"
    );
    assert_eq!(
        at_storage[0].header("host"),
        Some(format!("localhost:{}", storage.addr.port()).as_str())
    );

    let other: Repository = format!("{}/fault/y", registry.host()).parse().unwrap();
    client
        .pull_blob(
            &other,
            &digest,
            Some(data.len() as u64),
            &dir.path().join("b"),
            &|_| {},
        )
        .await
        .unwrap();
    let last = registry.requests().pop().unwrap();
    assert_eq!(last.path(), "/v2/fault/same-host");
    assert_eq!(
        last.header("authorization"),
        Some("Basic dTpw"),
        "same host: credentials follow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_follow_link_pagination() {
    let all: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    let tags = all.clone();
    let server = Server::start(Handler::sync(move |req| {
        if req.path() == "/v2/fault/loop/tags/list" {
            return Reply::with(
                200,
                &[("link", r#"</v2/fault/loop/tags/list>; rel="next""#)],
                r#"{"name":"fault/loop","tags":["a"]}"#,
            );
        }
        let last = req.query("last");
        let start = last.map_or(0, |l| tags.iter().position(|t| *t == l).unwrap() + 1);
        let page: Vec<&String> = tags.iter().skip(start).take(3).collect();
        let body = serde_json::json!({"name": "fault/x", "tags": page}).to_string();
        if start + 3 < tags.len() {
            let link = format!(
                r#"</v2/fault/x/tags/list?n=3&last={}>; rel="next""#,
                page.last().unwrap()
            );
            Reply::with(200, &[("link", link.as_str())], body)
        } else {
            Reply::with(200, &[], body)
        }
    }))
    .await;
    let client = client(Credentials::none());
    assert_eq!(client.list_tags(&repo(&server)).await.unwrap(), all);
    assert_eq!(server.requests().len(), 3);
    let looping: Repository = format!("{}/fault/loop", server.host()).parse().unwrap();
    assert_eq!(
        client.list_tags(&looping).await.unwrap(),
        ["a"],
        "a link back to a seen page ends the walk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_api_filters_here_unless_the_registry_did() {
    let subject = Digest::sha256_of(b"subject");
    let entries = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": Digest::sha256_of(b"a").to_string(), "size": 1, "artifactType": "application/a"},
            {"mediaType": OCI_MANIFEST, "digest": Digest::sha256_of(b"b").to_string(), "size": 1, "artifactType": "application/b"},
        ]
    })
    .to_string();
    let server = Server::start(Handler::sync(move |req| {
        let applied = req.path().starts_with("/v2/fault/filtering/");
        let mut headers = vec![("content-type", OCI_INDEX)];
        if applied && req.query("artifactType").is_some() {
            headers.push(("oci-filters-applied", "artifactType"));
        }
        Reply::with(200, &headers, entries.clone())
    }))
    .await;
    let client = client(Credentials::none());
    let plain = repo(&server);
    assert_eq!(
        client
            .referrers(&plain, &subject, None)
            .await
            .unwrap()
            .len(),
        2
    );
    let only_a = client
        .referrers(&plain, &subject, Some("application/a"))
        .await
        .unwrap();
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].artifact_type.as_deref(), Some("application/a"));
    let req = server.requests().pop().unwrap();
    assert_eq!(req.path(), format!("/v2/fault/x/referrers/{subject}"));
    assert_eq!(req.query("artifactType").as_deref(), Some("application/a"));
    assert_eq!(req.header("accept"), Some(OCI_INDEX));
    // A registry that says it filtered is believed.
    let filtering: Repository = format!("{}/fault/filtering", server.host())
        .parse()
        .unwrap();
    assert_eq!(
        client
            .referrers(&filtering, &subject, Some("application/a"))
            .await
            .unwrap()
            .len(),
        2
    );
}

/// An upload endpoint: sessions in memory, chunked `PATCH`es, status `GET`s, closing `PUT`s
/// that check the digest. `drop_patch` makes the n-th PATCH read `cut` bytes, keep them
/// and drop the connection; `forget_session` makes status GETs answer 404.
struct UploadServer {
    server: Server,
    stored: Arc<Mutex<Vec<Vec<u8>>>>,
}

async fn upload_server(drop_patch: u64, cut: usize, forget_session: bool) -> UploadServer {
    let stored: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let counters = Counters::default();
    let (cut_counters, s) = (counters.clone(), stored.clone());
    let server = Server::start(Handler {
        cut: Box::new(move |req| {
            (req.method == "PATCH" && cut_counters.bump("patch-head") == drop_patch).then_some(cut)
        }),
        handle: Box::new(move |req| {
            let reply = upload_reply(&req, &s, &counters, forget_session);
            Box::pin(async move { reply })
        }),
    })
    .await;
    UploadServer { server, stored }
}

fn upload_reply(
    req: &Request,
    stored: &Mutex<Vec<Vec<u8>>>,
    counters: &Counters,
    forget: bool,
) -> Reply {
    let mut sessions = stored.lock().unwrap();
    let path = req.path().to_owned();
    let session_of = |p: &str| p.rsplit('/').next().and_then(|s| s.parse::<usize>().ok());
    let range = |len: usize| format!("0-{}", len.saturating_sub(1));
    match req.method.as_str() {
        "HEAD" => Reply::status(404),
        "POST" => {
            sessions.push(Vec::new());
            let loc = format!("/v2/fault/x/blobs/uploads/{}", sessions.len() - 1);
            Reply::with(202, &[("location", loc.as_str()), ("range", "0-0")], "")
        }
        "PATCH" => {
            let id = session_of(&path).unwrap();
            let start: usize = req
                .header("content-range")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse().ok())
                .unwrap();
            let data = &mut sessions[id];
            if start != data.len() {
                return Reply::with(416, &[("range", range(data.len()).as_str())], "");
            }
            data.extend_from_slice(&req.body);
            let r = range(data.len());
            Reply::with(
                202,
                &[("location", path.as_str()), ("range", r.as_str())],
                "",
            )
        }
        "GET" => {
            counters.bump("status");
            if forget {
                return Reply::status(404);
            }
            let id = session_of(&path).unwrap();
            let r = range(sessions[id].len());
            Reply::with(
                204,
                &[("location", path.as_str()), ("range", r.as_str())],
                "",
            )
        }
        "PUT" => {
            let id = session_of(&path).unwrap();
            let data = &mut sessions[id];
            data.extend_from_slice(&req.body);
            let actual = format!("sha256:{:x}", sha2::Sha256::digest(&data[..]));
            if req.query("digest") == Some(actual.clone()) {
                Reply::with(201, &[("docker-content-digest", actual.as_str())], "")
            } else {
                Reply::json(
                    400,
                    &serde_json::json!({"errors": [{"code": "DIGEST_INVALID"}]}),
                )
            }
        }
        _ => Reply::status(405),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_resumes_where_the_session_stands() {
    let mib = 1024 * 1024;
    let up = upload_server(2, 300_000, false).await;
    let data = random_bytes(3 * mib + mib / 2, 16);
    let digest = Digest::sha256_of(&data);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();
    let client = client_with(ClientConfig {
        chunk_size: mib as u64,
        ..ClientConfig::default()
    });
    let (sent, progress) = progress_counter();
    let pushed = client
        .push_blob(
            &repo(&up.server),
            &digest,
            data.len() as u64,
            &src,
            None,
            &progress,
        )
        .await
        .unwrap();
    assert_eq!(pushed, paks_oci::PushedBlob::Uploaded);
    assert_eq!(
        sent.load(std::sync::atomic::Ordering::Relaxed),
        data.len() as u64
    );
    assert_eq!(up.stored.lock().unwrap().len(), 1, "one session");
    assert_eq!(up.stored.lock().unwrap()[0], data);
    let ranges: Vec<String> = up
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.header("content-range").unwrap().to_owned())
        .collect();
    let resumed = mib + 300_000;
    assert_eq!(
        ranges,
        [
            format!("0-{}", mib - 1),
            format!("{mib}-{}", 2 * mib - 1),
            format!("{resumed}-{}", resumed + mib - 1),
            format!("{}-{}", resumed + mib, resumed + 2 * mib - 1),
            format!("{}-{}", resumed + 2 * mib, data.len() - 1),
        ]
    );
    let methods: Vec<String> = up.server.requests().into_iter().map(|r| r.method).collect();
    assert!(
        methods.contains(&"GET".to_owned()),
        "asked for the session's status: {methods:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_starts_over_when_the_session_is_lost() {
    let mib = 1024 * 1024;
    let up = upload_server(2, 100_000, true).await;
    let data = random_bytes(2 * mib + 10, 17);
    let digest = Digest::sha256_of(&data);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();
    let client = client_with(ClientConfig {
        chunk_size: mib as u64,
        ..ClientConfig::default()
    });
    client
        .push_blob(
            &repo(&up.server),
            &digest,
            data.len() as u64,
            &src,
            None,
            &|_| {},
        )
        .await
        .unwrap();
    let sessions = up.stored.lock().unwrap();
    assert_eq!(sessions.len(), 2, "a second session");
    assert_eq!(sessions[1], data);
}
