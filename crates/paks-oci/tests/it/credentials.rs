//! Credentials found in files: Docker's identity tokens, exchanged at the token service
//! as `OAuth2` refresh tokens (a form POST, never a URL), and podman's namespaced entries
//! chosen per repository.

use paks_oci::{CredentialPaths, Credentials, Repository};

use crate::support::client;
use crate::support::server::{Handler, Reply, Server};

/// A registry whose token service takes only the refresh token `refresh-xyz` and whose
/// API takes only the access token it hands out.
async fn registry_with_refresh_tokens() -> Server {
    Server::start(Handler::sync(|req| {
        let host = req.header("host").unwrap_or_default().to_owned();
        match (req.method.as_str(), req.path()) {
            ("POST", "/token") => {
                let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                if get("grant_type") == Some("refresh_token")
                    && get("refresh_token") == Some("refresh-xyz")
                    && get("service") == Some("svc")
                {
                    Reply::json(200, &serde_json::json!({"access_token": "access-abc"}))
                } else {
                    Reply::status(401)
                }
            }
            (_, "/token") => Reply::status(405),
            _ if req.header("authorization") == Some("Bearer access-abc") => {
                Reply::json(200, &serde_json::json!({}))
            }
            _ => Reply::with(
                401,
                &[(
                    "WWW-Authenticate",
                    &format!("Bearer realm=\"http://{host}/token\",service=\"svc\""),
                )],
                Vec::new(),
            ),
        }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_token_is_exchanged_by_post() {
    let server = registry_with_refresh_tokens().await;
    let host = server.host();
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("config.json");
    std::fs::write(
        &docker,
        serde_json::json!({"auths": {&host: {"auth": "", "identitytoken": "refresh-xyz"}}})
            .to_string(),
    )
    .unwrap();
    let paths = CredentialPaths {
        docker: Some(docker),
        ..CredentialPaths::default()
    };
    let creds = Credentials::load_from(&paths, []);
    assert!(creds.warnings().is_empty(), "{:?}", creds.warnings());
    client(creds).ping(&host).await.unwrap();
    let requests = server.requests();
    let token = requests.iter().find(|r| r.path() == "/token").unwrap();
    assert_eq!(token.method, "POST");
    // The secret travels in the body only.
    assert!(!token.target.contains("refresh-xyz"), "{}", token.target);

    // A wrong refresh token is refused, naming the registry.
    let wrong = Credentials::from_parts([(host.as_str(), "<token>", "stale")]);
    let e = client(wrong).ping(&host).await.unwrap_err();
    assert!(e.to_string().contains(&host), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_namespaced_entries_pick_by_repository() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    // "a:1", "b:2"
    std::fs::write(
        &auth,
        r#"{"auths": {"reg.example.com": {"auth": "YTox"}, "reg.example.com/team": {"auth": "Yjoy"}}}"#,
    )
    .unwrap();
    let creds = Credentials::load_from(
        &CredentialPaths {
            containers: vec![dir.path().join("missing.json"), auth],
            ..CredentialPaths::default()
        },
        [],
    );
    let user = |repo: &str| {
        let r: Repository = format!("reg.example.com/{repo}").parse().unwrap();
        creds
            .lookup(&r.registry, Some(&r.name))
            .and_then(|l| l.basic().map(|(u, _)| u.to_owned()))
    };
    assert_eq!(user("team/app").as_deref(), Some("b"));
    assert_eq!(user("other/app").as_deref(), Some("a"));
}
