//! "Push": monolithic and chunked uploads, mounts, manifests, subjects and their checks.

use paks_types::Digest;
use reqwest::Method;

use crate::support::{OCI_INDEX, OCI_MANIFEST, Server, image_manifest, with_query};

/// "POST /v2/<name>/blobs/uploads/ … 202 Accepted … Location" then
/// "PUT <location>?digest=<digest> … 201 Created … Location: <blob-location>".
#[tokio::test(flavor = "multi_thread")]
async fn post_then_put_monolithic() {
    let s = Server::start().await;
    let bytes = vec![7u8; 100_000];
    let digest = Digest::sha256_of(&bytes);
    let location = s.start_upload("acme/app").await;
    assert!(
        location.starts_with("/v2/acme/app/blobs/uploads/"),
        "{location}"
    );
    let a = s
        .send(
            Method::PUT,
            &with_query(&location, &format!("digest={digest}")),
            &[("content-type", "application/octet-stream")],
            Some(bytes.clone()),
        )
        .await;
    s.assert_blob_created(&a, "acme/app", &digest, &bytes).await;
}

/// "POST /v2/<name>/blobs/uploads/?digest=<digest> … with the blob as the body … 201 Created".
#[tokio::test(flavor = "multi_thread")]
async fn single_post_with_digest() {
    let s = Server::start().await;
    let digest = Digest::sha256_of(b"one request");
    let a = s
        .send(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?digest={digest}"),
            &[("content-type", "application/octet-stream")],
            Some(b"one request".to_vec()),
        )
        .await;
    s.assert_blob_created(&a, "acme/app", &digest, b"one request")
        .await;
    // a wrong digest is refused and leaves nothing behind
    let wrong = Digest::sha256_of(b"something else");
    s.send(
        Method::POST,
        &format!("/v2/acme/app/blobs/uploads/?digest={wrong}"),
        &[("content-type", "application/octet-stream")],
        Some(b"one request!".to_vec()),
    )
    .await
    .assert_error(400, "DIGEST_INVALID");
    s.head(&format!("/v2/acme/app/blobs/{wrong}"))
        .await
        .assert_status(404);
}

/// "PATCH <location> … Content-Range: <range> … 202 Accepted … Range: 0-<end>"; a chunk
/// out of order "MUST … 416 Requested Range Not Satisfiable" and the upload keeps its state;
/// "GET <location> … 204 No Content … Range"; the last chunk may come with the PUT.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_with_an_out_of_order_chunk() {
    let s = Server::start().await;
    let bytes: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::sha256_of(&bytes);
    let location = s.start_upload("acme/app").await;
    let patch = |from: usize, to: usize| {
        let range = format!("{from}-{}", to - 1);
        let body = bytes[from..to].to_vec();
        let location = location.clone();
        let s = &s;
        async move {
            s.send(
                Method::PATCH,
                &location,
                &[
                    ("content-type", "application/octet-stream"),
                    ("content-range", &range),
                ],
                Some(body),
            )
            .await
        }
    };
    let a = patch(0, 10_000).await;
    a.assert_status(202);
    assert_eq!(a.header("range"), Some("0-9999"));
    let next = a.header("location").unwrap().to_owned();
    // skip a chunk: 416, state unchanged
    let a = patch(20_000, 30_000).await;
    a.assert_status(416);
    assert_eq!(a.header("range"), Some("0-9999"));
    let status = s.get(&next).await;
    status.assert_status(204);
    assert_eq!(status.header("range"), Some("0-9999"));
    assert!(status.header("location").is_some());
    patch(10_000, 20_000).await.assert_status(202);
    let a = s
        .send(
            Method::PUT,
            &with_query(&next, &format!("digest={digest}")),
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", "20000-29999"),
            ],
            Some(bytes[20_000..].to_vec()),
        )
        .await;
    a.assert_status(201);
    assert_eq!(
        s.get(&format!("/v2/acme/app/blobs/{digest}")).await.body,
        bytes
    );
    // the session is gone after the PUT
    s.get(&next).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

/// A chunk without Content-Range (streamed) is appended; a PUT with a wrong digest is
/// `DIGEST_INVALID` and the blob does not appear.
#[tokio::test(flavor = "multi_thread")]
async fn streamed_chunks_and_wrong_digest() {
    let s = Server::start().await;
    let location = s.start_upload("acme/app").await;
    for part in [&b"abc"[..], b"def"] {
        s.send(Method::PATCH, &location, &[], Some(part.to_vec()))
            .await
            .assert_status(202);
    }
    assert_eq!(s.get(&location).await.header("range"), Some("0-5"));
    let wrong = Digest::sha256_of(b"abcdeX");
    s.send(
        Method::PUT,
        &with_query(&location, &format!("digest={wrong}")),
        &[],
        None,
    )
    .await
    .assert_error(400, "DIGEST_INVALID");
    s.head(&format!("/v2/acme/app/blobs/{wrong}"))
        .await
        .assert_status(404);
    s.head(&format!(
        "/v2/acme/app/blobs/{}",
        Digest::sha256_of(b"abcdef")
    ))
    .await
    .assert_status(404);
    // a PUT without `digest` is refused
    let location = s.start_upload("acme/app").await;
    s.send(Method::PUT, &location, &[], None)
        .await
        .assert_error(400, "DIGEST_INVALID");
}

/// "DELETE /v2/<name>/blobs/uploads/<reference> … 204 No Content"; afterwards the
/// session is unknown (404 `BLOB_UPLOAD_UNKNOWN`).
#[tokio::test(flavor = "multi_thread")]
async fn cancel_an_upload() {
    let s = Server::start().await;
    let location = s.start_upload("acme/app").await;
    s.send(Method::PATCH, &location, &[], Some(b"partial".to_vec()))
        .await
        .assert_status(202);
    s.send(Method::DELETE, &location, &[], None)
        .await
        .assert_status(204);
    s.get(&location)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    s.send(Method::DELETE, &location, &[], None)
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    // ids that are not ours are unknown, never paths
    s.get("/v2/acme/app/blobs/uploads/..%2F..%2Fetc")
        .await
        .assert_status(404);
}

/// "POST /v2/<name>/blobs/uploads/?mount=<digest>&from=`<other_name>` … 201 Created" when the
/// source has the blob; "202 Accepted" with an upload session when it does not.
#[tokio::test(flavor = "multi_thread")]
async fn cross_repository_mount() {
    let s = Server::start().await;
    let d = s.push_blob("acme/base", b"shared layer").await;
    let a = s
        .send(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?mount={d}&from=acme/base"),
            &[],
            None,
        )
        .await;
    s.assert_blob_created(&a, "acme/app", &d, b"shared layer")
        .await;
    let missing = Digest::sha256_of(b"elsewhere");
    let a = s
        .send(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?mount={missing}&from=acme/base"),
            &[],
            None,
        )
        .await;
    a.assert_status(202);
    let location = a.header("location").unwrap();
    s.get(location).await.assert_status(204);
}

/// "PUT /v2/<name>/manifests/<reference> … 201 Created … Location"; by tag and by digest;
/// an index over pushed manifests.
#[tokio::test(flavor = "multi_thread")]
async fn manifests_and_indexes_by_tag_and_digest() {
    let s = Server::start().await;
    let (m1, d1) = s.push_image("acme/app", "amd64", b"x86").await;
    let config = s.push_blob("acme/app", b"{}").await;
    let layer = s.push_blob("acme/app", b"arm").await;
    let m2 = image_manifest(&config, &[(&layer, 3)], None, None);
    let d2 = Digest::sha256_of(&m2);
    let a = s
        .put_manifest("acme/app", &d2.to_string(), OCI_MANIFEST, &m2)
        .await;
    a.assert_status(201);
    assert_eq!(
        a.header("location"),
        Some(format!("/v2/acme/app/manifests/{d2}").as_str())
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d1.to_string(), "size": m1.len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": d2.to_string(), "size": m2.len(),
             "platform": {"os": "linux", "architecture": "arm64"}}
        ]
    }))
    .unwrap();
    s.put_manifest("acme/app", "1.0", OCI_INDEX, &index)
        .await
        .assert_status(201);
    let a = s.get("/v2/acme/app/manifests/1.0").await;
    assert_eq!(a.body, index);
    assert_eq!(a.header("content-type"), Some(OCI_INDEX));
    // a digest reference that does not match the body is DIGEST_INVALID
    s.put_manifest("acme/app", &d1.to_string(), OCI_MANIFEST, &m2)
        .await
        .assert_error(400, "DIGEST_INVALID");
}

/// "If a manifest … references blobs that do not exist … `MANIFEST_BLOB_UNKNOWN`"; an index
/// whose children are missing is refused the same way. Nothing is tagged.
#[tokio::test(flavor = "multi_thread")]
async fn manifests_with_missing_blobs_are_refused() {
    let s = Server::start().await;
    let config = s.push_blob("acme/app", b"{}").await;
    let missing = Digest::sha256_of(b"not uploaded");
    let m = image_manifest(&config, &[(&missing, 12)], None, None);
    let a = s.put_manifest("acme/app", "v1", OCI_MANIFEST, &m).await;
    a.assert_error(404, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        a.json()["errors"][0]["detail"]["digest"],
        missing.to_string()
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing.to_string(), "size": 1}]
    }))
    .unwrap();
    s.put_manifest("acme/app", "v2", OCI_INDEX, &index)
        .await
        .assert_error(404, "MANIFEST_BLOB_UNKNOWN");
    let tags = s.get("/v2/acme/app/tags/list").await.json();
    assert_eq!(tags["tags"], serde_json::json!([]));
    // a body that is not a manifest is MANIFEST_INVALID
    s.put_manifest("acme/app", "v3", OCI_MANIFEST, b"{\"schemaVersion\": 2")
        .await
        .assert_error(400, "MANIFEST_INVALID");
    // a mediaType that contradicts Content-Type is MANIFEST_INVALID
    s.put_manifest("acme/app", "v4", OCI_INDEX, &m)
        .await
        .assert_error(400, "MANIFEST_INVALID");
}

/// "If … the manifest has a subject … the registry MUST respond with … OCI-Subject: <digest>".
/// The subject itself need not exist.
#[tokio::test(flavor = "multi_thread")]
async fn subject_is_answered_with_oci_subject() {
    let s = Server::start().await;
    let (m, d) = s.push_image("acme/app", "v1", b"img").await;
    let config = s.push_blob("acme/app", b"{}").await;
    let sbom = image_manifest(
        &config,
        &[],
        Some((&d, m.len())),
        Some("application/spdx+json"),
    );
    let a = s
        .put_manifest(
            "acme/app",
            &Digest::sha256_of(&sbom).to_string(),
            OCI_MANIFEST,
            &sbom,
        )
        .await;
    a.assert_status(201);
    assert_eq!(a.header("oci-subject"), Some(d.to_string().as_str()));
    let ghost = Digest::sha256_of(b"no such subject");
    let orphan = image_manifest(&config, &[], Some((&ghost, 5)), Some("x/y"));
    let a = s
        .put_manifest("acme/app", "orphan", OCI_MANIFEST, &orphan)
        .await;
    a.assert_status(201);
    assert_eq!(a.header("oci-subject"), Some(ghost.to_string().as_str()));
}

/// Many clients push the same blob at once (shared base layers): every upload succeeds
/// and the blob is whole. Concurrent pushes to one tag leave one of the pushed values.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_uploads_of_one_blob_and_pushes_to_one_tag() {
    let s = std::sync::Arc::new(Server::start().await);
    let bytes: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i * 7).to_le_bytes()[0])
        .collect();
    let digest = Digest::sha256_of(&bytes);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(async move {
            let repo = format!("acme/r{}", i % 4);
            assert_eq!(s.push_blob(&repo, &bytes).await, Digest::sha256_of(&bytes));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let a = s.get(&format!("/v2/acme/r0/blobs/{digest}")).await;
    assert_eq!(Digest::sha256_of(&a.body), digest);

    let mut tasks = Vec::new();
    let mut digests = Vec::new();
    for i in 0..10 {
        let content = format!("layer {i}").into_bytes();
        let config = s.push_blob("acme/tag", b"{}").await;
        let layer = s.push_blob("acme/tag", &content).await;
        let m = image_manifest(&config, &[(&layer, content.len())], None, None);
        digests.push(Digest::sha256_of(&m).to_string());
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_manifest("acme/tag", "latest", OCI_MANIFEST, &m)
                .await
                .assert_status(201);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let a = s.head("/v2/acme/tag/manifests/latest").await;
    a.assert_status(200);
    assert!(digests.contains(&a.header("docker-content-digest").unwrap().to_owned()));
}

/// The next version of the spec: "PUT /v2/<name>/manifests/<digest>?tag=<tag>[&tag=…]"
/// pushes by digest and tags in one request, answering with one `OCI-Tag` header per tag.
#[tokio::test(flavor = "multi_thread")]
async fn push_by_digest_with_tags() {
    let s = Server::start().await;
    let config = s.push_blob("acme/app", b"{}").await;
    let layer = s.push_blob("acme/app", b"layer").await;
    let manifest = image_manifest(&config, &[(&layer, 5)], None, None);
    let digest = Digest::sha256_of(&manifest);
    let a = s
        .put_manifest(
            "acme/app",
            &format!("{digest}?tag=v1&tag=latest"),
            OCI_MANIFEST,
            &manifest,
        )
        .await;
    a.assert_status(201);
    let tags: Vec<&str> = a
        .headers
        .get_all("oci-tag")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(tags, ["v1", "latest"]);
    for tag in ["v1", "latest"] {
        let got = s.get(&format!("/v2/acme/app/manifests/{tag}")).await;
        got.assert_status(200);
        assert_eq!(got.body, manifest);
    }
    let listed = s.get("/v2/acme/app/tags/list").await.json();
    assert_eq!(listed["tags"], serde_json::json!(["latest", "v1"]));
    // A bad tag refuses the whole push.
    let a = s
        .put_manifest(
            "acme/app",
            &format!("{digest}?tag=ok&tag=-bad"),
            OCI_MANIFEST,
            &manifest,
        )
        .await;
    a.assert_error(400, "MANIFEST_INVALID");
    s.get("/v2/acme/app/manifests/ok").await.assert_status(404);
}
