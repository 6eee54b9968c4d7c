//! Limits on what one request and one client may claim: a manifest's declared size, and
//! open upload sessions (per client, in all, and for how long).

use std::time::Duration;

use crate::support::{OCI_MANIFEST, Server};

/// A manifest PUT declaring a terabyte is refused from its head, without waiting for
/// (or reading) the body.
#[test]
fn a_huge_manifest_is_refused_before_its_body() {
    let s = Server::start(4, |_| {});
    let mut stream = s.send_head(
        "PUT",
        "/v2/acme/app/manifests/v1",
        &[
            ("Content-Type", OCI_MANIFEST),
            ("Content-Length", "1000000000000"),
        ],
        b"{",
    );
    let raw = crate::support::read_all(&mut stream, Duration::from_secs(30))
        .expect("the PUT is answered without its body");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("MANIFEST_INVALID"), "{text}");
}

/// One client may open only so many sessions, and the registry only so many in all;
/// the next get 429, and finishing one makes room.
#[test]
fn upload_sessions_are_capped_per_client_and_in_all() {
    let s = Server::start(4, |c| {
        c.limits.upload_sessions_per_client = 3;
    });
    let open: Vec<String> = (0..3).map(|_| s.start_upload("acme/app")).collect();
    let a = s.must("POST", "/v2/acme/app/blobs/uploads/", &[], b"");
    assert_eq!(a.status, 429, "{}", a.text());
    assert!(a.text().contains("TOOMANYREQUESTS"), "{}", a.text());
    assert!(a.header("retry-after").is_some());
    // A monolithic upload needs a session too.
    let a = s.must(
        "POST",
        &format!(
            "/v2/acme/app/blobs/uploads/?digest={}",
            paks_types::Digest::sha256_of(b"x")
        ),
        &[],
        b"x",
    );
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(s.must("DELETE", &open[0], &[], b"").status, 204);
    s.start_upload("acme/app");

    let s = Server::start(4, |c| {
        c.limits.upload_sessions = 2;
    });
    s.start_upload("acme/app");
    s.start_upload("other/app");
    let a = s.must("POST", "/v2/third/app/blobs/uploads/", &[], b"");
    assert_eq!(a.status, 429, "{}", a.text());
}

/// A session that receives nothing for the expiry time is removed (files and all), and
/// stops counting against its client.
#[test]
fn idle_upload_sessions_expire() {
    let s = Server::start(4, |c| {
        c.limits.upload_expiry = Duration::from_secs(1);
        c.limits.upload_sessions_per_client = 1;
    });
    let location = s.start_upload("acme/app");
    let uploads = s.data().join("uploads");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 1);
    let mut gone = false;
    for _ in 0..300 {
        std::thread::sleep(Duration::from_millis(100));
        if std::fs::read_dir(&uploads).unwrap().count() == 0 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the idle session was not removed within 30 s");
    let a = s.must("GET", &location, &[], b"");
    assert_eq!(a.status, 404, "{}", a.text());
    assert!(a.text().contains("BLOB_UPLOAD_UNKNOWN"), "{}", a.text());
    s.start_upload("acme/app");
}
