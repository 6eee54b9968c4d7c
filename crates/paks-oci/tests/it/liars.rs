//! Registries that lie about sizes, ignore `Range`, trickle bytes or ask for absurd waits:
//! every transfer ends, with an error that says why, within bounded attempts and time.

use std::time::Duration;

use paks_oci::{ClientConfig, Credentials, Digest, ErrorKind, Repository};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::server::{Counters, Handler, Reply, Server, serve_range};
use crate::support::{client, client_with, entries, random_bytes};

fn repo(host: &str) -> Repository {
    format!("{host}/liar/x").parse().unwrap()
}

/// Today's main looped forever on these; a test that hangs proves nothing, so each one
/// fails after this.
const HANG: Duration = Duration::from_mins(1);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {HANG:?}"))
}

/// Pull `digest` (declared `size` bytes) from `host` into a fresh directory; it must fail.
/// Returns the error and the names left in the directory.
async fn pull_fails(
    client: &paks_oci::Client,
    host: &str,
    digest: &Digest,
    size: u64,
) -> (paks_oci::OciError, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let e = bounded(
        &format!("pulling {digest} from {host}"),
        client.pull_blob(
            &repo(host),
            digest,
            Some(size),
            &dir.path().join("b"),
            &|_| {},
        ),
    )
    .await
    .unwrap_err();
    (e, entries(dir.path()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_shorter_than_its_descriptor_is_a_hard_error() {
    let data = random_bytes(200_000, 21);
    let digest = Digest::sha256_of(&data);
    // The server ignores `Range` and sends the whole (shorter) blob every time.
    let server = Server::start(Handler::sync(move |_| Reply::with(200, &[], data.clone()))).await;
    let declared = 200_000 + 1_000;
    let (e, left) = pull_fails(
        &client(Credentials::none()),
        &server.host(),
        &digest,
        declared,
    )
    .await;
    assert!(
        matches!(
            e.kind(),
            ErrorKind::SizeMismatch {
                expected: 201_000,
                actual: 200_000,
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("200000") && msg.contains("201000"), "{msg}");
    assert_eq!(
        server.requests().len(),
        1,
        "a complete answer that is short is not retried"
    );
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_dies_at_the_same_byte_while_range_is_ignored_gives_up() {
    let data = random_bytes(1_000_000, 22);
    let digest = Digest::sha256_of(&data);
    let server = Server::start(Handler::sync(move |_| Reply::Truncated {
        status: 200,
        headers: vec![],
        body: data.clone(),
        cut: 300_000,
    }))
    .await;
    let client = client_with(ClientConfig {
        retries: 2,
        ..ClientConfig::default()
    });
    let (e, _) = pull_fails(&client, &server.host(), &digest, 1_000_000).await;
    assert!(
        matches!(e.kind(), ErrorKind::Connection { attempts: 3, .. }),
        "{e}"
    );
    assert_eq!(
        server.requests().len(),
        3,
        "restarting from zero to the same byte is no progress"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liar_that_progresses_a_little_each_time_is_bounded_in_attempts() {
    let data = random_bytes(1_000_000, 23);
    let digest = Digest::sha256_of(&data);
    // Honours `Range`, but every answer dies after 1000 bytes.
    let server = Server::start(Handler::sync(move |req| {
        let (status, headers, body) = serve_range(req, &data, true);
        Reply::Truncated {
            status,
            headers,
            body,
            cut: 1_000,
        }
    }))
    .await;
    let client = client_with(ClientConfig {
        transfer_attempts: 6,
        ..ClientConfig::default()
    });
    let (e, _) = pull_fails(&client, &server.host(), &digest, 1_000_000).await;
    assert!(
        matches!(e.kind(), ErrorKind::Connection { attempts: 6, .. }),
        "{e}"
    );
    assert_eq!(server.requests().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_beyond_the_maximum_wait_fails_at_once() {
    let server = Server::start(Handler::sync(|_| {
        Reply::with(429, &[("retry-after", "100000")], "come back tomorrow")
    }))
    .await;
    let client = client_with(ClientConfig {
        max_retry_wait: Duration::from_secs(5),
        ..ClientConfig::default()
    });
    let e = bounded(
        "Retry-After: 100000",
        client.get_manifest(&repo(&server.host()).reference_tag("1")),
    )
    .await
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e.kind(), ErrorKind::RetryAfterTooLong { .. }),
        "{msg}"
    );
    assert!(msg.contains("`100000` s"), "{msg}");
    assert!(msg.contains("5 s"), "{msg}");
    assert!(e.hint().unwrap().contains("PAKS_MAX_RETRY_WAIT"), "{e:?}");
    assert_eq!(server.requests().len(), 1);

    // A wait within the maximum is honoured.
    let counters = Counters::default();
    let server = Server::start(Handler::sync(move |_| {
        if counters.bump("n") == 1 {
            Reply::with(429, &[("retry-after", "1")], "once")
        } else {
            Reply::with(404, &[], "")
        }
    }))
    .await;
    let e = bounded(
        "Retry-After: 1",
        client.get_manifest(&repo(&server.host()).reference_tag("1")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    assert_eq!(server.requests().len(), 2);
}

/// A server that answers every request with a large `Content-Length` and then sends one
/// byte every 50 ms (for at most 30 s): no read ever times out, the body never ends.
async fn trickle_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ncontent-length: 1000000\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..600 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if s.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_transfer_stops_at_the_deadline() {
    let (addr, task) = trickle_server().await;
    let client = client_with(ClientConfig {
        transfer_deadline: Duration::from_secs(2),
        ..ClientConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(&addr.to_string());
    let digest = Digest::sha256_of(b"never");
    let e = bounded(
        "a trickled blob",
        client.pull_blob(
            &repo,
            &digest,
            Some(1_000_000),
            &dir.path().join("b"),
            &|_| {},
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Deadline { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&digest.to_string()), "{msg}");
    assert!(msg.contains("2 s"), "{msg}");
    assert!(
        e.hint().unwrap().contains("PAKS_TRANSFER_DEADLINE"),
        "{e:?}"
    );

    let e = bounded(
        "a trickled manifest",
        client.get_manifest(&repo.reference_tag("1")),
    )
    .await
    .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Deadline { .. }), "{e}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_stopped_in_one_process_resumes_in_the_next_from_its_part_file() {
    let data = random_bytes(1_000_000, 24);
    let digest = Digest::sha256_of(&data);
    let dying = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let server = Server::start(Handler::sync({
        let (dying, data) = (dying.clone(), data.clone());
        move |req| {
            let (status, headers, body) = serve_range(req, &data, true);
            if !dying.load(std::sync::atomic::Ordering::SeqCst) {
                return Reply::Truncated {
                    status,
                    cut: body.len(),
                    headers,
                    body,
                };
            }
            // While "dying", the first answer stops at byte 400000, the others at once.
            let cut = if req.header("range").is_none() {
                400_000
            } else {
                0
            };
            Reply::Truncated {
                status,
                headers,
                body,
                cut,
            }
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("b");
    let first = client_with(ClientConfig {
        retries: 1,
        ..ClientConfig::default()
    });
    let pull = |client: paks_oci::Client| {
        let (repo, digest, dest) = (repo(&server.host()), digest.clone(), dest.clone());
        async move {
            let pulled = client.pull_blob(&repo, &digest, Some(1_000_000), &dest, &|_| {});
            bounded("a pull", pulled).await
        }
    };
    let e = pull(first.clone()).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Connection { .. }), "{e}");
    drop(first);
    let part = dir.path().join(".b.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 400_000);

    // Another client (as another process would) continues where the part file ends.
    dying.store(false, std::sync::atomic::Ordering::SeqCst);
    let before = server.requests().len();
    pull(client(Credentials::none())).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let requests = server.requests();
    assert_eq!(requests[before].header("range"), Some("bytes=400000-"));
    assert_eq!(entries(dir.path()), ["b"]);
}
