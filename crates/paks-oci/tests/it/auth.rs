//! Authentication against `docker-registry`: htpasswd (Basic) and token auth (Bearer,
//! JWTs from the test's token service).

use paks_oci::{Credentials, Digest, ErrorKind, OCI_MANIFEST, PushedBlob, Repository};
use paks_testkit::{DockerRegistry, RegistryAuth};

use crate::support::token::{ISSUER, SERVICE, TokenConfig, TokenServer};
use crate::support::{TestImage, client, random_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_basic_auth() {
    let registry = DockerRegistry::start_with(&RegistryAuth::Htpasswd {
        user: "alice".into(),
        password: "s3cret".into(),
    });
    let host = registry.host().to_owned();
    let repo: Repository = format!("{host}/team/app").parse().unwrap();

    let anonymous = client(Credentials::none());
    let e = anonymous.ping(&host).await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Unauthorized {
                status: 401,
                had_credentials: false,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.hint().unwrap(), format!("run `paks login {host}`"));

    let wrong = client(Credentials::from_parts([(host.as_str(), "alice", "wrong")]));
    let e = wrong.ping(&host).await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Unauthorized {
                had_credentials: true,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("`{host}` refused the credentials")),
        "{e}"
    );

    let alice = client(Credentials::from_parts([(
        host.as_str(),
        "alice",
        "s3cret",
    )]));
    alice.ping(&host).await.unwrap();
    let image = TestImage::new("basic");
    let digest = image.push(&alice, &repo, "v1").await;
    let m = alice.get_manifest(&repo.reference_tag("v1")).await.unwrap();
    assert_eq!(m.digest, digest);
    // Without a ping first: the 401 is answered on the spot.
    let fresh = client(Credentials::from_parts([(
        host.as_str(),
        "alice",
        "s3cret",
    )]));
    assert_eq!(fresh.list_tags(&repo).await.unwrap(), ["v1"]);
    let e = anonymous
        .get_manifest(&repo.reference_tag("v1"))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unauthorized { .. }), "{e}");
}

async fn token_setup(oauth_style: bool) -> (TokenServer, DockerRegistry) {
    let tokens = TokenServer::start(TokenConfig {
        user: "bob".into(),
        password: "hunter2".into(),
        oauth_style,
    })
    .await;
    let registry = DockerRegistry::start_with(&RegistryAuth::Token {
        realm: tokens.realm(),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        root_cert_pem: tokens.cert_pem.clone(),
    });
    (tokens, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_from_the_token_service() {
    let (tokens, registry) = token_setup(false).await;
    let host = registry.host().to_owned();
    let bob = client(Credentials::from_parts([(host.as_str(), "bob", "hunter2")]));
    bob.ping(&host).await.unwrap();

    let src: Repository = format!("{host}/team/src").parse().unwrap();
    let dst: Repository = format!("{host}/team/dst").parse().unwrap();
    let image = TestImage::new("bearer");
    let digest = image.push(&bob, &src, "1.0").await;
    let got = bob
        .get_manifest(&src.reference_digest(&digest))
        .await
        .unwrap();
    assert_eq!(got.bytes, image.manifest);

    // A mount needs pull on the source too: one token for both scopes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer");
    std::fs::write(&path, &image.layer).unwrap();
    let layer = Digest::sha256_of(&image.layer);
    let pushed = bob
        .push_blob(
            &dst,
            &layer,
            image.layer.len() as u64,
            &path,
            Some(&src),
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(pushed, PushedBlob::Mounted);

    let issued = tokens.issued.lock().unwrap().clone();
    assert!(issued.contains(&vec![]), "ping: no scope: {issued:?}");
    assert!(
        issued.contains(&vec!["repository:team/src:pull,push".to_owned()]),
        "a push asks for push and pull: {issued:?}"
    );
    assert!(
        issued.contains(&vec![
            "repository:team/dst:pull,push".to_owned(),
            "repository:team/src:pull".to_owned()
        ]),
        "{issued:?}"
    );
    // Tokens are cached per scope: pushing two blobs and a manifest took one token.
    let push_tokens = issued
        .iter()
        .filter(|s| *s == &vec!["repository:team/src:pull,push".to_owned()])
        .count();
    assert_eq!(push_tokens, 1, "{issued:?}");

    // Deleting asks for `delete`.
    bob.delete_manifest(&src.reference_digest(&digest))
        .await
        .unwrap();
    assert!(
        tokens
            .issued
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.contains(&"repository:team/src:delete".to_owned()))
    );

    // Anonymous users get a token without access: the registry still refuses.
    let anonymous = client(Credentials::none());
    let e = anonymous.list_tags(&src).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unauthorized { status: 401, .. }),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("paks login"));
    // Wrong credentials: the token service refuses.
    let wrong = client(Credentials::from_parts([(host.as_str(), "bob", "nope")]));
    let e = wrong.ping(&host).await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Unauthorized {
                had_credentials: true,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("failed to get a token for `{host}`")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_style_access_token_and_chunked_push() {
    let (_tokens, registry) = token_setup(true).await;
    let host = registry.host().to_owned();
    let bob = crate::support::client_with(paks_oci::ClientConfig {
        credentials: Credentials::from_parts([(host.as_str(), "bob", "hunter2")]),
        chunk_size: 1024 * 1024,
        ..paks_oci::ClientConfig::default()
    });
    let repo: Repository = format!("{host}/team/big").parse().unwrap();
    let data = random_bytes(3 * 1024 * 1024 + 17, 30);
    let digest = Digest::sha256_of(&data);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();
    assert_eq!(
        bob.push_blob(&repo, &digest, data.len() as u64, &src, None, &|_| {})
            .await
            .unwrap(),
        PushedBlob::Uploaded
    );
    let dest = dir.path().join("dest");
    bob.pull_blob(&repo, &digest, Some(data.len() as u64), &dest, &|_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let m = TestImage::new("oauth");
    m.push(&bob, &repo, "x").await;
    assert_eq!(
        bob.head_manifest(&repo.reference_tag("x"))
            .await
            .unwrap()
            .map(|h| h.2),
        Some(OCI_MANIFEST.to_owned())
    );
}
