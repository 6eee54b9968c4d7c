//! The base endpoint, name and tag grammar, sha512, metrics and static files.

use paks_registry::auth::AccessControl;
use paks_types::Digest;
use reqwest::Method;

use crate::support::{OCI_MANIFEST, Server, image_manifest, with_query};

/// "GET /v2/ … 200 OK" — the end-1 check clients make first.
#[tokio::test(flavor = "multi_thread")]
async fn base_answers_200() {
    let s = Server::start().await;
    let a = s.get("/v2/").await;
    a.assert_status(200);
    assert_eq!(
        a.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
}

/// "<name> MUST match the following regular expression …" — a bad name is `NAME_INVALID`
/// (400) and creates nothing.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_names_are_refused_and_create_nothing() {
    let s = Server::start().await;
    for bad in ["Acme/app", "acme//app", "acme/app-", "a/_x", "a..b"] {
        let a = s
            .send(
                Method::POST,
                &format!("/v2/{bad}/blobs/uploads/"),
                &[],
                None,
            )
            .await;
        a.assert_error(400, "NAME_INVALID");
        s.get(&format!("/v2/{bad}/tags/list"))
            .await
            .assert_error(400, "NAME_INVALID");
    }
    let long = "a".repeat(256);
    s.get(&format!("/v2/{long}/tags/list"))
        .await
        .assert_error(400, "NAME_INVALID");
    let catalog = s.get("/v2/_catalog").await.json();
    assert_eq!(catalog["repositories"], serde_json::json!([]));
    let repos = s.dir.path().join("repos");
    let children = std::fs::read_dir(&repos).map_or(0, Iterator::count);
    assert_eq!(children, 0, "nothing was created under {}", repos.display());
}

/// "<reference> as a tag MUST be at most 128 characters in length and MUST match
/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`."
#[tokio::test(flavor = "multi_thread")]
async fn invalid_tags_are_refused() {
    let s = Server::start().await;
    let config = s.push_blob("acme/app", b"{}").await;
    let manifest = image_manifest(&config, &[], None, None);
    for bad in [".hidden", "-x", &"t".repeat(129)] {
        s.put_manifest("acme/app", bad, OCI_MANIFEST, &manifest)
            .await
            .assert_error(400, "MANIFEST_INVALID");
    }
    let tags = s.get("/v2/acme/app/tags/list").await.json();
    assert_eq!(tags["tags"], serde_json::json!([]));
}

/// sha512 digests work for blobs and manifests, as the image spec registers them.
#[tokio::test(flavor = "multi_thread")]
async fn sha512_blobs_and_manifests() {
    let s = Server::start().await;
    let bytes = b"a sha512 blob";
    let digest = Digest::sha512_of(bytes);
    let location = s.start_upload("acme/app").await;
    s.send(
        Method::PUT,
        &with_query(&location, &format!("digest={digest}")),
        &[("content-type", "application/octet-stream")],
        Some(bytes.to_vec()),
    )
    .await
    .assert_status(201);
    let a = s.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    a.assert_status(200);
    assert_eq!(a.body, bytes);
    let config = s.push_blob("acme/app", b"{}").await;
    let manifest = image_manifest(&config, &[(&digest, bytes.len())], None, None);
    let md = Digest::sha512_of(&manifest);
    let a = s
        .put_manifest("acme/app", &md.to_string(), OCI_MANIFEST, &manifest)
        .await;
    a.assert_status(201);
    assert_eq!(
        a.header("docker-content-digest"),
        Some(md.to_string().as_str())
    );
    let a = s.get(&format!("/v2/acme/app/manifests/{md}")).await;
    a.assert_status(200);
    assert_eq!(a.body, manifest);
    // a wrong sha512 is DIGEST_INVALID
    let wrong = Digest::sha512_of(b"other");
    s.put_manifest("acme/app", &wrong.to_string(), OCI_MANIFEST, &manifest)
        .await
        .assert_error(400, "DIGEST_INVALID");
}

/// Malformed digests in URLs are `DIGEST_INVALID`.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_digests_are_refused() {
    let s = Server::start().await;
    s.get("/v2/acme/app/blobs/sha256:xyz")
        .await
        .assert_error(400, "DIGEST_INVALID");
    s.get("/v2/acme/app/referrers/md5:00")
        .await
        .assert_error(400, "DIGEST_INVALID");
}

/// `/metrics` exposes request, byte, error and upload counters in Prometheus text format.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_bytes_errors_and_uploads() {
    let s = Server::start().await;
    s.push_blob("acme/app", b"0123456789").await;
    s.get("/v2/acme/app/manifests/missing").await;
    let _open = s.start_upload("acme/app").await;
    let a = s.get("/metrics").await;
    a.assert_status(200);
    let text = String::from_utf8(a.body).unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
    };
    assert!(value("paks_registry_http_requests_total{") >= 1.0);
    assert!(value("paks_registry_received_bytes_total") >= 10.0);
    assert!(value("paks_registry_errors_total{code=\"MANIFEST_UNKNOWN\"}") >= 1.0);
    assert!((value("paks_registry_upload_sessions") - 1.0).abs() < f64::EPSILON);
    assert!(value("paks_registry_uploads_committed_total") >= 1.0);
}

/// `--static DIR` serves files outside `/v2/` (the static index repository).
#[tokio::test(flavor = "multi_thread")]
async fn static_files_are_served() {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("index.yaml"), "apiVersion: v1\n").unwrap();
    let s = Server::start_with(AccessControl::open(), Some(files.path().to_owned())).await;
    let a = s.get("/index.yaml").await;
    a.assert_status(200);
    assert_eq!(a.body, b"apiVersion: v1\n");
    s.get("/absent.tgz").await.assert_status(404);
    s.get("/../../etc/passwd").await.assert_status(404);
    // the API still wins under /v2/
    s.get("/v2/").await.assert_status(200);
}
