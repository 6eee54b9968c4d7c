//! `paks_dockerfile::resolve` against Debian's `docker-registry` on 127.0.0.1: the digest
//! of a multi-platform tag is its index's, tags are listed, and a missing tag, a missing
//! repository and refused credentials each say so.

use paks_dockerfile::resolve::{self, ResolveError};
use paks_oci::{Client, ClientConfig, Digest};
use paks_testkit::{DockerRegistry, multi_arch_layout, skopeo};

fn client() -> Client {
    Client::new(ClientConfig {
        retries: 0,
        ..ClientConfig::default()
    })
    .unwrap()
}

/// Push the layout's `tag` to `registry/repo:tag` with every platform.
fn push_all(layout: &std::path::Path, tag: &str, target: &str) {
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:{tag}", layout.display()),
        &format!("docker://{target}"),
    ]);
}

/// The sha256 of the bytes the registry serves for `target`, as skopeo reads them; they
/// must be an OCI image index.
fn raw_digest(target: &str) -> Digest {
    raw_digest_of(target, "application/vnd.oci.image.index.v1+json")
}

/// The sha256 of the bytes the registry serves for `target`, a document of `media_type`.
fn raw_digest_of(target: &str, media_type: &str) -> Digest {
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    assert!(raw.status.success(), "{raw:?}");
    let doc: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(doc["mediaType"], media_type);
    Digest::sha256_of(&raw.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_platform_tag_resolves_to_its_index_digest() {
    let registry = DockerRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    multi_arch_layout(layout.path(), "1", "one");
    let target = format!("{}/base:1", registry.host());
    push_all(layout.path(), "1", &target);

    let reference = resolve::normalize(&target).unwrap();
    let digest = resolve::digest_of(&client(), &reference).await.unwrap();
    assert_eq!(digest, raw_digest(&target));

    // A reference that is already pinned is resolved by its tag: the digest it had is
    // not what is asked.
    let stale = reference.with_digest(&Digest::sha256_of(b"old"));
    assert_eq!(resolve::digest_of(&client(), &stale).await.unwrap(), digest);

    // The tag moves: the digest follows.
    multi_arch_layout(layout.path(), "1", "two");
    push_all(layout.path(), "1", &target);
    let moved = resolve::digest_of(&client(), &reference).await.unwrap();
    assert_ne!(moved, digest);
    assert_eq!(moved, raw_digest(&target));
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_listed() {
    let registry = DockerRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    for tag in ["3.11-slim", "3.12-slim", "3.12"] {
        multi_arch_layout(layout.path(), tag, tag);
        push_all(
            layout.path(),
            tag,
            &format!("{}/python:{tag}", registry.host()),
        );
    }
    let repo = resolve::normalize(&format!("{}/python", registry.host()))
        .unwrap()
        .repo();
    let mut tags = resolve::tags(&client(), &repo).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["3.11-slim", "3.12", "3.12-slim"]);

    let missing = resolve::normalize(&format!("{}/nothing", registry.host()))
        .unwrap()
        .repo();
    let e = resolve::tags(&client(), &missing).await.unwrap_err();
    assert!(matches!(e, ResolveError::UnknownRepository { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_tags_and_repositories_are_named() {
    let registry = DockerRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    multi_arch_layout(layout.path(), "1", "one");
    push_all(layout.path(), "1", &format!("{}/base:1", registry.host()));

    let host = registry.host();
    let e = resolve::digest_of(
        &client(),
        &resolve::normalize(&format!("{host}/base:9")).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("tag `9` of `{host}/base` does not exist")
    );
    assert!(!e.is_machine());

    let e = resolve::digest_of(
        &client(),
        &resolve::normalize(&format!("{host}/nope:1")).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("repository `{host}/nope` does not exist")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_are_an_auth_error() {
    let registry = DockerRegistry::start_with_user("alice", "secret");
    let reference = resolve::normalize(&format!("{}/base:1", registry.host())).unwrap();
    let e = resolve::digest_of(&client(), &reference).await.unwrap_err();
    assert!(matches!(e, ResolveError::Auth { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("`{}` refused access to `{reference}`", registry.host())
    );
    assert!(!e.is_machine());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_registry_is_a_machine_failure() {
    // A port nothing listens on (bound, then released).
    let port = paks_testkit::free_port();
    let reference = resolve::normalize(&format!("127.0.0.1:{port}/base:1")).unwrap();
    let e = resolve::digest_of(&client(), &reference).await.unwrap_err();
    assert!(e.is_machine(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_docker_manifest_list_resolves_to_its_own_digest() {
    let registry = DockerRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    multi_arch_layout(layout.path(), "1", "one");
    let target = format!("{}/docker:1", registry.host());
    // Docker's formats: a manifest list over two schema 2 manifests.
    skopeo(&[
        "copy",
        "--all",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.path().display()),
        &format!("docker://{target}"),
    ]);
    let digest = resolve::digest_of(&client(), &resolve::normalize(&target).unwrap())
        .await
        .unwrap();
    assert_eq!(
        digest,
        raw_digest_of(
            &target,
            "application/vnd.docker.distribution.manifest.list.v2+json"
        )
    );
}

/// A registry that, like some do, serves what the first type of `Accept` names: with the
/// index types first, the tag's index is what comes back. Without `Docker-Content-Digest`
/// on `HEAD`, the `GET`'s bytes are hashed.
#[tokio::test(flavor = "multi_thread")]
async fn the_index_types_are_asked_for_first_and_a_missing_digest_header_is_computed() {
    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let server = paks_testkit::HostileServer::start(move |req, stream| {
        use std::io::Write as _;
        let first = req
            .header("accept")
            .and_then(|a| a.split(',').next())
            .unwrap_or("")
            .trim()
            .to_owned();
        let by_first = first == "application/vnd.oci.image.index.v1+json";
        let mut headers = vec![
            ("content-type", first),
            ("content-length", index.len().to_string()),
        ];
        if req.path().ends_with("/manifests/tagged") {
            // A different digest unless the index is asked for first.
            let digest = if by_first {
                Digest::sha256_of(index)
            } else {
                Digest::sha256_of(b"one platform")
            };
            headers.push(("docker-content-digest", digest.to_string()));
        }
        paks_testkit::write_head(stream, 200, &headers)?;
        if req.method == "GET" {
            stream.write_all(index)?;
        }
        Ok(())
    });
    let host = server.host();
    for tag in ["tagged", "untagged-header"] {
        let reference = resolve::normalize(&format!("{host}/base:{tag}")).unwrap();
        let digest = resolve::digest_of(&client(), &reference).await.unwrap();
        assert_eq!(digest, Digest::sha256_of(index), "{tag}");
    }
    let methods: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path().contains("/manifests/"))
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect();
    assert_eq!(
        methods,
        [
            "HEAD /v2/base/manifests/tagged",
            "HEAD /v2/base/manifests/untagged-header",
            "GET /v2/base/manifests/untagged-header",
        ]
    );
}

/// Tag lists in pages (`Link: <…>; rel="next"`, as GHCR and Docker Hub send them) are
/// followed to the end.
#[tokio::test(flavor = "multi_thread")]
async fn paginated_tag_lists_are_followed() {
    let server = paks_testkit::HostileServer::start(|req, stream| {
        use std::io::Write as _;
        let (body, link) = if req.target.contains("last=b") {
            (r#"{"name":"base","tags":["c"]}"#, None)
        } else {
            (
                r#"{"name":"base","tags":["a","b"]}"#,
                Some("</v2/base/tags/list?n=2&last=b>; rel=\"next\"".to_owned()),
            )
        };
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            ("content-length", body.len().to_string()),
        ];
        if let Some(link) = link {
            headers.push(("link", link));
        }
        paks_testkit::write_head(stream, 200, &headers)?;
        stream.write_all(body.as_bytes())
    });
    let repo = resolve::normalize(&format!("{}/base", server.host()))
        .unwrap()
        .repo();
    assert_eq!(
        resolve::tags(&client(), &repo).await.unwrap(),
        ["a", "b", "c"]
    );
    assert_eq!(server.requests().len(), 2);
}
