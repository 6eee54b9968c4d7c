//! "Pull": blobs and manifests by digest and tag, HEAD, and ranges.

use paks_types::Digest;
use reqwest::Method;

use crate::support::{OCI_MANIFEST, Server};

/// "GET /v2/<name>/blobs/<digest> … A GET request to an existing blob URL MUST provide
/// the expected blob, with a response code that MUST be 200 OK." Digest header included.
#[tokio::test(flavor = "multi_thread")]
async fn blob_get_returns_the_bytes_and_digest() {
    let s = Server::start().await;
    let d = s.push_blob("acme/app", b"hello blob").await;
    let a = s.get(&format!("/v2/acme/app/blobs/{d}")).await;
    a.assert_status(200);
    assert_eq!(a.body, b"hello blob");
    assert_eq!(
        a.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(a.header("content-length"), Some("10"));
}

/// "If the blob is not found in the repository, the response code MUST be 404 Not Found"
/// (`BLOB_UNKNOWN`) — also when it exists in another repository.
#[tokio::test(flavor = "multi_thread")]
async fn blobs_of_other_repositories_are_unknown() {
    let s = Server::start().await;
    let d = s.push_blob("acme/app", b"private").await;
    s.get(&format!("/v2/other/app/blobs/{d}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    let missing = Digest::sha256_of(b"never pushed");
    s.get(&format!("/v2/acme/app/blobs/{missing}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
}

/// "HEAD /v2/<name>/blobs/<digest> … 200 OK … no body", with the length of the blob.
#[tokio::test(flavor = "multi_thread")]
async fn blob_head_has_headers_and_no_body() {
    let s = Server::start().await;
    let d = s.push_blob("acme/app", b"0123456789").await;
    let a = s.head(&format!("/v2/acme/app/blobs/{d}")).await;
    a.assert_status(200);
    assert!(a.body.is_empty());
    assert_eq!(a.header("content-length"), Some("10"));
    assert_eq!(
        a.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    let missing = Digest::sha256_of(b"x");
    let a = s.head(&format!("/v2/acme/app/blobs/{missing}")).await;
    a.assert_status(404);
}

/// Range requests: "206 Partial Content" with `Content-Range`, suffix ranges, and
/// "416 Range Not Satisfiable" with `Content-Range: bytes */<size>` (RFC 9110).
#[tokio::test(flavor = "multi_thread")]
async fn blob_ranges() {
    let s = Server::start().await;
    let d = s.push_blob("acme/app", b"0123456789").await;
    let path = format!("/v2/acme/app/blobs/{d}");
    let a = s
        .send(Method::GET, &path, &[("range", "bytes=2-5")], None)
        .await;
    a.assert_status(206);
    assert_eq!(a.body, b"2345");
    assert_eq!(a.header("content-range"), Some("bytes 2-5/10"));
    let a = s
        .send(Method::GET, &path, &[("range", "bytes=7-")], None)
        .await;
    a.assert_status(206);
    assert_eq!(a.body, b"789");
    let a = s
        .send(Method::GET, &path, &[("range", "bytes=-4")], None)
        .await;
    a.assert_status(206);
    assert_eq!(a.body, b"6789");
    assert_eq!(a.header("content-range"), Some("bytes 6-9/10"));
    let a = s
        .send(Method::GET, &path, &[("range", "bytes=10-")], None)
        .await;
    a.assert_status(416);
    assert_eq!(a.header("content-range"), Some("bytes */10"));
    let a = s
        .send(Method::GET, &path, &[("range", "bytes=-0")], None)
        .await;
    a.assert_status(416);
    // A last position before the first is unsatisfiable too (the spec's conformance suite
    // sends `500-0`).
    for range in ["bytes=500-0", "bytes=4-2"] {
        let a = s.send(Method::GET, &path, &[("range", range)], None).await;
        a.assert_status(416);
        assert_eq!(a.header("content-range"), Some("bytes */10"), "{range}");
    }
}

/// "GET /v2/<name>/manifests/<reference> … <reference> MUST be either (a) the digest of the
/// manifest or (b) a tag"; the Content-Type is the manifest's media type, and
/// `Docker-Content-Digest` its digest. HEAD gives the same headers without the body.
#[tokio::test(flavor = "multi_thread")]
async fn manifests_by_tag_and_by_digest() {
    let s = Server::start().await;
    let (manifest, digest) = s.push_image("acme/app", "v1", b"layer").await;
    for reference in ["v1".to_owned(), digest.to_string()] {
        let a = s.get(&format!("/v2/acme/app/manifests/{reference}")).await;
        a.assert_status(200);
        assert_eq!(a.body, manifest);
        assert_eq!(a.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(
            a.header("docker-content-digest"),
            Some(digest.to_string().as_str())
        );
        let h = s.head(&format!("/v2/acme/app/manifests/{reference}")).await;
        h.assert_status(200);
        assert!(h.body.is_empty());
        assert_eq!(
            h.header("content-length"),
            Some(manifest.len().to_string().as_str())
        );
        assert_eq!(
            h.header("docker-content-digest"),
            Some(digest.to_string().as_str())
        );
    }
    s.get("/v2/acme/app/manifests/v2")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    s.get(&format!(
        "/v2/acme/app/manifests/{}",
        Digest::sha256_of(b"nope")
    ))
    .await
    .assert_error(404, "MANIFEST_UNKNOWN");
}
