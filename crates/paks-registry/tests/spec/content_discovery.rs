//! "Content discovery": tags with pagination, referrers with filters, the catalog.

use paks_types::Digest;
use reqwest::Method;

use crate::support::{OCI_INDEX, OCI_MANIFEST, Server, image_manifest};

/// "GET /v2/<name>/tags/list … the tags MUST be in lexical order"; "?n=<integer>" limits the
/// count and a `Link` header names the next page; "?last=<tagname>" starts after a tag.
#[tokio::test(flavor = "multi_thread")]
async fn tags_sorted_and_paginated() {
    let s = Server::start().await;
    let config = s.push_blob("acme/app", b"{}").await;
    let m = image_manifest(&config, &[], None, None);
    for tag in ["v2", "v10", "latest", "A", "v1"] {
        s.put_manifest("acme/app", tag, OCI_MANIFEST, &m)
            .await
            .assert_status(201);
    }
    let a = s.get("/v2/acme/app/tags/list").await;
    a.assert_status(200);
    assert_eq!(
        a.json(),
        serde_json::json!({"name": "acme/app", "tags": ["A", "latest", "v1", "v10", "v2"]})
    );
    assert!(a.header("link").is_none());
    let a = s.get("/v2/acme/app/tags/list?n=2").await;
    assert_eq!(a.json()["tags"], serde_json::json!(["A", "latest"]));
    let link = a.header("link").unwrap().to_owned();
    assert_eq!(
        link,
        "</v2/acme/app/tags/list?n=2&last=latest>; rel=\"next\""
    );
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let a = s.get(next).await;
    assert_eq!(a.json()["tags"], serde_json::json!(["v1", "v10"]));
    let a = s.get("/v2/acme/app/tags/list?n=2&last=v10").await;
    assert_eq!(a.json()["tags"], serde_json::json!(["v2"]));
    assert!(a.header("link").is_none());
    let a = s.get("/v2/acme/app/tags/list?n=0").await;
    assert_eq!(a.json()["tags"], serde_json::json!([]));
    s.get("/v2/acme/app/tags/list?n=lots")
        .await
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
    s.get("/v2/acme/nothing/tags/list")
        .await
        .assert_error(404, "NAME_UNKNOWN");
}

/// "GET /v2/<name>/referrers/<digest> … MUST return … an image index" of the manifests
/// whose subject is <digest>; "?artifactType=" filters, and then "MUST include
/// OCI-Filters-Applied: artifactType"; an unknown subject gives 200 and an empty list.
#[tokio::test(flavor = "multi_thread")]
async fn referrers_with_artifact_type_filter() {
    let s = Server::start().await;
    let (m, d) = s.push_image("acme/app", "v1", b"img").await;
    let config = s.push_blob("acme/app", b"{}").await;
    let mut pushed = Vec::new();
    let kinds = [
        "application/spdx+json",
        "application/vnd.paks.sig",
        "application/spdx+json",
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let content = format!("{kind} {i}");
        let layer = s.push_blob("acme/app", content.as_bytes()).await;
        let r = image_manifest(
            &config,
            &[(&layer, content.len())],
            Some((&d, m.len())),
            Some(kind),
        );
        let rd = Digest::sha256_of(&r);
        s.put_manifest("acme/app", &rd.to_string(), OCI_MANIFEST, &r)
            .await
            .assert_status(201);
        pushed.push((kind, rd, r.len()));
    }
    let a = s.get(&format!("/v2/acme/app/referrers/{d}")).await;
    a.assert_status(200);
    assert_eq!(a.header("content-type"), Some(OCI_INDEX));
    assert!(a.header("oci-filters-applied").is_none());
    let index = a.json();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for (kind, rd, size) in &pushed {
        let entry = listed
            .iter()
            .find(|e| e["digest"] == rd.to_string())
            .unwrap_or_else(|| panic!("{rd} is listed"));
        assert_eq!(entry["artifactType"], *kind);
        assert_eq!(entry["size"], *size);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
    }
    let a = s
        .get(&format!(
            "/v2/acme/app/referrers/{d}?artifactType=application/spdx%2Bjson"
        ))
        .await;
    assert_eq!(a.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(a.json()["manifests"].as_array().unwrap().len(), 2);
    let unknown = Digest::sha256_of(b"nobody refers to me");
    let a = s.get(&format!("/v2/acme/app/referrers/{unknown}")).await;
    a.assert_status(200);
    assert_eq!(a.json()["manifests"], serde_json::json!([]));
    // deleting a referrer removes it from the list
    s.send(
        Method::DELETE,
        &format!("/v2/acme/app/manifests/{}", pushed[1].1),
        &[],
        None,
    )
    .await
    .assert_status(202);
    let a = s.get(&format!("/v2/acme/app/referrers/{d}")).await;
    assert_eq!(a.json()["manifests"].as_array().unwrap().len(), 2);
}

/// "GET /v2/_catalog" lists repositories in order, with `n`/`last` pagination.
#[tokio::test(flavor = "multi_thread")]
async fn catalog_with_pagination() {
    let s = Server::start().await;
    for repo in ["zeta", "acme/app", "acme", "acme/app/sub"] {
        s.push_image(repo, "v1", repo.as_bytes()).await;
    }
    let a = s.get("/v2/_catalog").await;
    a.assert_status(200);
    assert_eq!(
        a.json()["repositories"],
        serde_json::json!(["acme", "acme/app", "acme/app/sub", "zeta"])
    );
    let a = s.get("/v2/_catalog?n=3").await;
    assert_eq!(
        a.json()["repositories"],
        serde_json::json!(["acme", "acme/app", "acme/app/sub"])
    );
    assert_eq!(
        a.header("link"),
        Some("</v2/_catalog?n=3&last=acme/app/sub>; rel=\"next\"")
    );
    let a = s.get("/v2/_catalog?n=3&last=acme/app/sub").await;
    assert_eq!(a.json()["repositories"], serde_json::json!(["zeta"]));
}
