//! Access control: anonymous read on and off, users with per-repository rights, and the
//! bearer token flow that clients follow after a `401` challenge.

use paks_registry::auth::{AccessControl, hash_password};
use paks_types::Digest;
use reqwest::Method;

use crate::support::Server;

fn users(anonymous_pull: bool) -> AccessControl {
    let alice = hash_password("alice-pw");
    let bob = hash_password("bob-pw");
    let anonymous = if anonymous_pull {
        "[[anonymous]]\nrepositories = [\"public/*\"]\nactions = [\"pull\"]\n"
    } else {
        ""
    };
    let text = format!(
        r#"{anonymous}
[[users]]
name = "alice"
password = "{alice}"
[[users.access]]
repositories = ["acme/*", "public/*"]
actions = ["pull", "push", "delete"]

[[users]]
name = "bob"
password = "{bob}"
[[users.access]]
repositories = ["acme/*"]
actions = ["pull"]
"#
    );
    AccessControl::parse(&text, std::path::Path::new("users.toml")).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use data_encoding::BASE64;
    format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    )
}

/// Follows a challenge: GET the realm with the scope, return `Bearer <token>`.
async fn token(s: &Server, challenge: &str, credentials: Option<&str>) -> String {
    let field = |name: &str| -> Option<String> {
        let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
        let end = challenge[start..].find('"')? + start;
        Some(challenge[start..end].to_owned())
    };
    let realm = field("realm").expect("a realm");
    let mut url = format!("{realm}?service={}", field("service").unwrap());
    if let Some(scope) = field("scope") {
        url = format!("{url}&scope={scope}");
    }
    let headers: Vec<(&str, &str)> = credentials.iter().map(|c| ("authorization", *c)).collect();
    let a = s.send(Method::GET, &url, &headers, None).await;
    a.assert_status(200);
    format!("Bearer {}", a.json()["token"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_flow_grants_what_users_may_do() {
    let s = Server::start_with(users(true), None).await;
    // The base check challenges anonymous clients with the token realm.
    let a = s.get("/v2/").await;
    a.assert_error(401, "UNAUTHORIZED");
    let challenge = a.header("www-authenticate").unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"http://127.0.0.1:"),
        "{challenge}"
    );
    assert!(challenge.contains("/token\""), "{challenge}");

    // alice pushes to acme/app through a token scoped by the challenge.
    let alice = basic("alice", "alice-pw");
    let a = s
        .send(Method::POST, "/v2/acme/app/blobs/uploads/", &[], None)
        .await;
    a.assert_error(401, "UNAUTHORIZED");
    let challenge = a.header("www-authenticate").unwrap().to_owned();
    assert!(
        challenge.contains("scope=\"repository:acme/app:push\""),
        "{challenge}"
    );
    let bearer = token(&s, &challenge, Some(&alice)).await;
    let a = s
        .send(
            Method::POST,
            "/v2/acme/app/blobs/uploads/",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    a.assert_status(202);

    // Basic credentials work directly too.
    s.send(Method::GET, "/v2/", &[("authorization", &alice)], None)
        .await
        .assert_status(200);
    s.send(
        Method::GET,
        "/v2/",
        &[("authorization", &basic("alice", "wrong"))],
        None,
    )
    .await
    .assert_error(401, "UNAUTHORIZED");

    // bob may pull acme/* but not push: 403 DENIED, no new token would help.
    let bob = basic("bob", "bob-pw");
    s.send(
        Method::POST,
        "/v2/acme/app/blobs/uploads/",
        &[("authorization", &bob)],
        None,
    )
    .await
    .assert_error(403, "DENIED");
    s.send(
        Method::GET,
        "/v2/acme/app/tags/list",
        &[("authorization", &bob)],
        None,
    )
    .await
    .assert_status(404); // allowed; the repository just has no manifests yet
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_read_on_and_off() {
    let on = Server::start_with(users(true), None).await;
    let alice = basic("alice", "alice-pw");
    // alice publishes an image to public/ and to acme/
    for server in [&on] {
        for repo in ["public/img", "acme/img"] {
            let location = server
                .send(
                    Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/"),
                    &[("authorization", &alice)],
                    None,
                )
                .await;
            location.assert_status(202);
        }
    }
    // anonymous may read public/* without credentials (the repository has no manifests
    // yet, so the answer is NAME_UNKNOWN, not a refusal), and through an anonymous token
    on.get("/v2/public/img/tags/list")
        .await
        .assert_error(404, "NAME_UNKNOWN");
    let url = format!(
        "{}/token?service=paks&scope=repository:public/img:pull",
        on.base
    );
    let t = on.send(Method::GET, &url, &[], None).await;
    t.assert_status(200);
    let bearer = format!("Bearer {}", t.json()["token"].as_str().unwrap());
    on.send(
        Method::GET,
        "/v2/public/img/tags/list",
        &[("authorization", &bearer)],
        None,
    )
    .await
    .assert_error(404, "NAME_UNKNOWN");
    // acme/* stays closed, with or without an anonymous token
    let a = on.get("/v2/acme/img/tags/list").await;
    a.assert_error(401, "UNAUTHORIZED");
    let bearer = token(&on, a.header("www-authenticate").unwrap(), None).await;
    on.send(
        Method::GET,
        "/v2/acme/img/tags/list",
        &[("authorization", &bearer)],
        None,
    )
    .await
    .assert_error(401, "UNAUTHORIZED");

    // without anonymous rules, an anonymous token grants nothing
    let off = Server::start_with(users(false), None).await;
    let a = off.get("/v2/public/img/tags/list").await;
    a.assert_error(401, "UNAUTHORIZED");
    let url = format!(
        "{}/token?service=paks&scope=repository:public/img:pull",
        off.base
    );
    let t = off.send(Method::GET, &url, &[], None).await;
    if t.status.as_u16() == 200 {
        let bearer = format!("Bearer {}", t.json()["token"].as_str().unwrap());
        off.send(
            Method::GET,
            "/v2/public/img/tags/list",
            &[("authorization", &bearer)],
            None,
        )
        .await
        .assert_error(401, "UNAUTHORIZED");
    } else {
        t.assert_status(401);
    }
}

/// A cross-repository mount reads the `from` repository: the 401 challenge names `pull` on
/// it beside `push` on the target, so that a token client gets a token that mounts (rather
/// than one that silently turns the mount into an upload); a token without it is asked to
/// widen, and a client who may not read `from` gets an upload session.
#[tokio::test(flavor = "multi_thread")]
async fn the_mount_challenge_names_the_from_repository() {
    let s = Server::start_with(users(false), None).await;
    let alice = basic("alice", "alice-pw");
    let digest = Digest::sha256_of(b"mounted bytes");
    let a = s
        .send(
            Method::POST,
            &format!("/v2/acme/src/blobs/uploads/?digest={digest}"),
            &[
                ("authorization", &alice),
                ("content-type", "application/octet-stream"),
            ],
            Some(b"mounted bytes".to_vec()),
        )
        .await;
    a.assert_status(201);

    let mount = format!("/v2/acme/dst/blobs/uploads/?mount={digest}&from=acme/src");
    let a = s.send(Method::POST, &mount, &[], None).await;
    a.assert_error(401, "UNAUTHORIZED");
    let challenge = a.header("www-authenticate").unwrap().to_owned();
    assert!(
        challenge.contains("repository:acme/dst:push")
            && challenge.contains("repository:acme/src:pull"),
        "{challenge}"
    );
    let bearer = token(&s, &challenge, Some(&alice)).await;
    let a = s
        .send(Method::POST, &mount, &[("authorization", &bearer)], None)
        .await;
    a.assert_status(201);
    assert_eq!(
        a.header("docker-content-digest"),
        Some(digest.to_string().as_str())
    );

    // A token for the target alone is asked to widen.
    let narrow = token(
        &s,
        r#"Bearer realm="/token",service="paks",scope="repository:acme/other:pull,push""#,
        Some(&alice),
    )
    .await;
    let a = s
        .send(
            Method::POST,
            &format!("/v2/acme/other/blobs/uploads/?mount={digest}&from=acme/src"),
            &[("authorization", &narrow)],
            None,
        )
        .await;
    a.assert_error(401, "UNAUTHORIZED");
    let challenge = a.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("repository:acme/src:pull"),
        "{challenge}"
    );
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // bob may read acme/src but not push: 403. A user who may push but not read `from`
    // gets a session (the spec's fallback), not a challenge.
    let a = s
        .send(
            Method::POST,
            &mount,
            &[("authorization", &basic("bob", "bob-pw"))],
            None,
        )
        .await;
    a.assert_error(403, "DENIED");
    let a = s
        .send(
            Method::POST,
            &format!("/v2/public/dst/blobs/uploads/?mount={digest}&from=private/src"),
            &[("authorization", &alice)],
            None,
        )
        .await;
    a.assert_status(202);
}
