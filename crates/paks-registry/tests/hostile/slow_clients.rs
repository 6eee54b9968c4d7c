//! Slow writers and non-reading readers must not take the server's blocking threads:
//! reads keep being answered while they stall.

use std::time::Duration;

use crate::support::{OCI_MANIFEST, Server, drain, pattern};

/// The blocking-thread cap of the test server; the stalled clients outnumber it.
const BLOCKING_THREADS: usize = 4;

/// Uploads that declare a 1 MiB body, send 1 KiB and stall, and blob GETs that never read
/// their 20 MiB answer, more of each than there are blocking threads: a manifest GET is
/// still answered.
#[test]
fn reads_are_answered_while_slow_clients_stall() {
    let s = Server::start(BLOCKING_THREADS, |_| {});
    let manifest = s.push_image("acme/app", "v1");
    let big = s.push_blob("acme/app", &pattern(20 * 1024 * 1024));

    let mut stalled = Vec::new();
    for _ in 0..BLOCKING_THREADS * 3 {
        let location = s.start_upload("acme/app");
        stalled.push(s.send_head(
            "PATCH",
            &location,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", "1048576"),
            ],
            &[1u8; 1024],
        ));
    }
    for _ in 0..BLOCKING_THREADS * 3 {
        stalled.push(s.send_head("GET", &format!("/v2/acme/app/blobs/{big}"), &[], b""));
    }
    // Give the server time to take up every stalled request.
    std::thread::sleep(Duration::from_millis(500));

    let a = s
        .request(
            "GET",
            "/v2/acme/app/manifests/v1",
            &[("Accept", OCI_MANIFEST)],
            b"",
            Duration::from_secs(20),
        )
        .expect("a manifest GET is answered while slow clients stall");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.body, manifest);
    drop(stalled);
}

/// A body that stalls past the idle timeout fails the request, and the session keeps the
/// bytes that arrived: the client resumes from there and commits.
#[test]
fn a_stalled_upload_is_cut_off_and_stays_resumable() {
    let s = Server::start(BLOCKING_THREADS, |c| {
        c.limits.body_idle_timeout = Duration::from_secs(1);
    });
    let location = s.start_upload("acme/app");
    let mut stalled = s.send_head(
        "PATCH",
        &location,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "4096"),
        ],
        &[1u8; 1024],
    );
    // The server gives up on the body and closes (after an error answer).
    assert!(
        drain(&mut stalled, Duration::from_secs(30)).is_some(),
        "the stalled PATCH was not cut off within 30 s"
    );
    let a = s.must("GET", &location, &[], b"");
    assert_eq!(a.status, 204, "{}", a.text());
    assert_eq!(a.header("range"), Some("0-1023"));

    let a = s.must(
        "PATCH",
        &location,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "1024-4095"),
        ],
        &[1u8; 3072],
    );
    assert_eq!(a.status, 202, "{}", a.text());
    let digest = paks_types::Digest::sha256_of(&[1u8; 4096]);
    let sep = if location.contains('?') { '&' } else { '?' };
    let a = s.must("PUT", &format!("{location}{sep}digest={digest}"), &[], b"");
    assert_eq!(a.status, 201, "{}", a.text());
}

/// A client that does not take its answer is dropped after the send idle timeout, and a
/// client that never finishes its request head after the header timeout.
#[test]
fn clients_that_stop_reading_or_sending_are_dropped() {
    let s = Server::start(BLOCKING_THREADS, |c| {
        c.limits.send_idle_timeout = Duration::from_secs(1);
        c.limits.header_timeout = Duration::from_secs(1);
    });
    let size = 20 * 1024 * 1024;
    let big = s.push_blob("acme/app", &pattern(size));
    let mut reader = s.send_head("GET", &format!("/v2/acme/app/blobs/{big}"), &[], b"");
    std::thread::sleep(Duration::from_secs(4));
    let got = drain(&mut reader, Duration::from_secs(30)).expect("the connection ends");
    assert!(
        got < size,
        "the whole blob ({got} bytes) was sent to a client that did not read"
    );

    let mut half = std::net::TcpStream::connect(s.addr).unwrap();
    std::io::Write::write_all(&mut half, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(
        drain(&mut half, Duration::from_secs(30)).is_some(),
        "a half-sent request head was held for over 30 s"
    );
}

/// One client may hold only so many connections; the others are closed at once, and a
/// new one is accepted when one of its connections ends.
#[test]
fn connections_per_client_are_bounded() {
    let s = Server::start(BLOCKING_THREADS, |c| {
        c.limits.connections_per_client = 4;
    });
    let held: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = std::net::TcpStream::connect(s.addr).unwrap();
    assert_eq!(
        drain(&mut extra, Duration::from_secs(30)),
        Some(0),
        "a fifth connection was not closed"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let a = s.must("GET", "/v2/", &[], b"");
    assert_eq!(a.status, 200);
}
