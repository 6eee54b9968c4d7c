//! "Content management": deleting manifests (by digest, and tags), and blobs.

use reqwest::Method;

use crate::support::Server;

/// "DELETE /v2/<name>/manifests/<digest> … 202 Accepted"; afterwards "404 Not Found". Tags
/// that pointed at it go too.
#[tokio::test(flavor = "multi_thread")]
async fn delete_manifest_by_digest() {
    let s = Server::start().await;
    let (_, d) = s.push_image("acme/app", "v1", b"img").await;
    let path = format!("/v2/acme/app/manifests/{d}");
    s.send(Method::DELETE, &path, &[], None)
        .await
        .assert_status(202);
    s.get(&path).await.assert_error(404, "MANIFEST_UNKNOWN");
    s.get("/v2/acme/app/manifests/v1")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    s.send(Method::DELETE, &path, &[], None)
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
}

/// "DELETE /v2/<name>/manifests/<tag> … 202 Accepted" removes the tag; the manifest stays
/// reachable by digest and by its other tags.
#[tokio::test(flavor = "multi_thread")]
async fn delete_by_tag_removes_only_the_tag() {
    let s = Server::start().await;
    let (m, d) = s.push_image("acme/app", "v1", b"img").await;
    s.put_manifest("acme/app", "stable", crate::support::OCI_MANIFEST, &m)
        .await
        .assert_status(201);
    s.send(Method::DELETE, "/v2/acme/app/manifests/v1", &[], None)
        .await
        .assert_status(202);
    s.get("/v2/acme/app/manifests/v1")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    s.get(&format!("/v2/acme/app/manifests/{d}"))
        .await
        .assert_status(200);
    s.get("/v2/acme/app/manifests/stable")
        .await
        .assert_status(200);
    let tags = s.get("/v2/acme/app/tags/list").await.json();
    assert_eq!(tags["tags"], serde_json::json!(["stable"]));
}

/// "DELETE /v2/<name>/blobs/<digest> … 202 Accepted"; then the blob is unknown there.
#[tokio::test(flavor = "multi_thread")]
async fn delete_blob() {
    let s = Server::start().await;
    let d = s.push_blob("acme/app", b"to delete").await;
    let other = s.push_blob("acme/other", b"to delete").await;
    assert_eq!(d, other);
    let path = format!("/v2/acme/app/blobs/{d}");
    s.send(Method::DELETE, &path, &[], None)
        .await
        .assert_status(202);
    s.get(&path).await.assert_error(404, "BLOB_UNKNOWN");
    s.send(Method::DELETE, &path, &[], None)
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    // the other repository's link is untouched
    s.get(&format!("/v2/acme/other/blobs/{d}"))
        .await
        .assert_status(200);
}
