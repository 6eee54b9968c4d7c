//! Who sees what in the catalogue, against a real `paks serve --auth`: each user's search,
//! repositories, packages (with reverse dependencies) and images hold only what they may
//! pull; bad passwords get a Basic challenge; and the token endpoint grants a composed
//! repository `compose/<ns>/<a>/<b>` only to who may pull every source.
//!
//! The catalogue is asked in this process over the server's data, with the same users
//! file, through `access::viewer` as every page and API handler does.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, catalog_over, paks_bin, run_with_stdin, text};
use paks_catalog::access;
use paks_registry::auth::Identity;
use paks_testkit::PaksServe;

/// `paks serve passwd` for `password`.
fn hash(password: &str) -> String {
    let out = run_with_stdin(
        Command::new(paks_bin()).args(["serve", "passwd"]),
        format!("{password}\n").as_bytes(),
    );
    assert!(out.status.success());
    text(&out.stdout).trim().to_owned()
}

fn basic(user: &str, password: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let value = data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes());
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Basic {value}").parse().unwrap(),
    );
    headers
}

/// The repositories the token endpoint grants pull of, asked for `scope`.
fn granted(host: &str, login: Option<&str>, scope: &str) -> Vec<String> {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-f"]);
    if let Some(login) = login {
        curl.args(["-u", login]);
    }
    let out = curl
        .arg(format!("http://{host}/token?service=paks&scope={scope}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token for {scope}: {}",
        text(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = answer["token"].as_str().unwrap();
    let claims = data_encoding::BASE64URL_NOPAD
        .decode(token.split('.').next().unwrap().as_bytes())
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
    claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["actions"].as_array().unwrap().iter().any(|a| a == "pull"))
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[allow(clippy::too_many_lines)] // one registry, every viewer in turn
fn each_viewer_sees_only_what_they_may_pull() {
    let env = Env::new();
    let users = env.dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            r#"[[anonymous]]
repositories = ["public/*"]
actions = ["pull"]

[[users]]
name = "alice"
password = "{}"
[[users.access]]
repositories = ["acme/*", "public/*"]
actions = ["pull", "push"]

[[users]]
name = "carol"
password = "{}"
[[users.access]]
repositories = ["acme/hello"]
actions = ["pull"]
"#,
            hash("alice-pw"),
            hash("carol-pw")
        ),
    )
    .unwrap();
    let data = env.dir.path().join("data");
    let server = PaksServe::start(
        Path::new(paks_bin()),
        &data,
        &["--auth", users.to_str().unwrap()],
    );
    let host = server.host();
    // hello (with its dependency libgreet) in acme/, libgreet alone in public/.
    let libgreet = env.build("libgreet");
    let hello = env.build("hello");
    for (pak, to) in [(&hello, "acme"), (&libgreet, "public")] {
        let out = env
            .cmd()
            .args(["push", pak.to_str().unwrap(), &format!("{host}/{to}")])
            .env(paks_oci::env_var_for(&host), "alice:alice-pw")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    let (catalog, access) = catalog_over(&data, Some(&users));
    let viewer = |headers: &http::HeaderMap| {
        access::viewer(&access, headers).unwrap_or_else(|r| panic!("{headers:?} refused: {r:?}"))
    };
    let anonymous = viewer(&http::HeaderMap::new());
    let alice = viewer(&basic("alice", "alice-pw"));
    let carol = viewer(&basic("carol", "carol-pw"));
    assert_eq!(anonymous, Identity::Anonymous);
    assert_eq!(alice, Identity::User("alice".into()));

    let names = |who: &Identity| -> Vec<String> {
        catalog
            .repositories(who)
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(names(&anonymous), ["public/libgreet"]);
    assert_eq!(names(&carol), ["acme/hello", "public/libgreet"]);
    assert_eq!(
        names(&alice),
        ["acme/hello", "acme/libgreet", "public/libgreet"]
    );
    let found = |who: &Identity, q: &str| -> Vec<String> {
        catalog
            .search(q, who, 50)
            .packages
            .into_iter()
            .map(|p| p.repository)
            .collect()
    };
    assert_eq!(found(&anonymous, "greet"), ["public/libgreet"]);
    assert_eq!(found(&anonymous, "hello"), Vec::<String>::new());
    assert_eq!(found(&carol, "hello"), ["acme/hello"]);
    assert!(catalog.package("acme/hello", &anonymous).is_none());
    assert!(catalog.package("acme/libgreet", &carol).is_none());
    assert!(catalog.package("acme/hello", &carol).is_some());

    // Reverse dependencies show only packages the viewer may pull.
    let reverse = |who: &Identity| -> Vec<String> {
        catalog
            .package("public/libgreet", who)
            .unwrap()
            .reverse_dependencies
            .into_iter()
            .map(|r| r.repository)
            .collect()
    };
    assert_eq!(reverse(&alice), ["acme/hello"]);
    assert_eq!(reverse(&anonymous), Vec::<String>::new());

    // Images: the package build of acme/hello, and its layer's package.
    assert!(
        catalog
            .image("acme/hello", "1.0.0", &anonymous)
            .unwrap()
            .is_none()
    );
    let image = catalog
        .image("acme/hello", "1.0.0", &carol)
        .unwrap()
        .unwrap();
    assert_eq!(image.layers.len(), 1);

    // A wrong password is a 401 that asks the browser to log in.
    let refused = access::viewer(&access, &basic("alice", "wrong")).unwrap_err();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()[http::header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    // A bearer token from the token endpoint is a viewer too (issued here: the server's
    // tokens are signed with its own per-process key).
    let token = access
        .issue_token(
            std::net::Ipv4Addr::LOCALHOST.into(),
            basic("carol", "carol-pw")[http::header::AUTHORIZATION]
                .to_str()
                .ok(),
            &paks_registry::auth::TokenQuery {
                service: Some("paks".into()),
                scopes: vec!["repository:acme/hello:pull".into()],
                account: None,
            },
        )
        .unwrap();
    let mut bearer = http::HeaderMap::new();
    bearer.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}", token.token).parse().unwrap(),
    );
    assert_eq!(viewer(&bearer), Identity::User("carol".into()));
    let mut forged = http::HeaderMap::new();
    forged.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}x", token.token).parse().unwrap(),
    );
    assert_eq!(access::viewer(&access, &forged).unwrap_err().status(), 401);

    // Composed repositories: pull only for who may pull every source.
    let both = "repository:compose/acme/hello/libgreet:pull";
    assert_eq!(
        granted(&host, Some("alice:alice-pw"), both),
        ["compose/acme/hello/libgreet"]
    );
    assert_eq!(
        granted(&host, Some("carol:carol-pw"), both),
        Vec::<String>::new()
    );
    assert_eq!(
        granted(
            &host,
            Some("carol:carol-pw"),
            "repository:compose/acme/hello:pull"
        ),
        ["compose/acme/hello"]
    );
    assert_eq!(
        granted(&host, None, "repository:compose/public/libgreet:pull,push"),
        ["compose/public/libgreet"]
    );
    assert!(catalog.may_pull(&alice, "compose/acme/hello/libgreet"));
    assert!(!catalog.may_pull(&carol, "compose/acme/hello/libgreet"));
}
