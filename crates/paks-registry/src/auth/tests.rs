//! Tests of the users file, `authorize` and the token flow.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::http::header;
use data_encoding::BASE64URL_NOPAD;

use super::password::verify_password;
use super::token::{parse_scope, percent_decode, rfc3339};
use super::*;

const REALM: &str = "https://registry.test/token";

/// Hashing is slow: every test shares these.
static ALICE_HASH: LazyLock<String> = LazyLock::new(|| hash_password("alice-secret"));
static BOB_HASH: LazyLock<String> = LazyLock::new(|| hash_password("bob: secret"));

fn users_file(anonymous: &str) -> String {
    format!(
        r#"
{anonymous}

[[users]]
name = "alice"
password = "{alice}"
[[users.access]]
repositories = ["acme/*", "tools"]
actions = ["pull", "push"]
[[users.access]]
repositories = ["acme/scratch"]
actions = ["*"]

[[users]]
name = "bob"
password = "{bob}"
[[users.access]]
repositories = ["*"]
actions = ["pull"]
"#,
        alice = *ALICE_HASH,
        bob = *BOB_HASH,
    )
}

const PUBLIC_PULL: &str = r#"
[[anonymous]]
repositories = ["public/*"]
actions = ["pull"]
"#;

fn access() -> AccessControl {
    AccessControl::parse(&users_file(PUBLIC_PULL), Path::new("users.toml")).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    )
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

fn need(name: &str, actions: &[Action]) -> Need {
    Need::repo(repo(name), actions)
}

fn query(scopes: &[&str]) -> TokenQuery {
    TokenQuery {
        service: Some(SERVICE.into()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        account: None,
    }
}

fn parse_error(text: &str) -> String {
    let err = AccessControl::parse(text, Path::new("/etc/paks/users.toml")).unwrap_err();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str("\ncaused by: ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(message.contains("`/etc/paks/users.toml`"), "{message}");
    message
}

#[test]
fn parses_a_users_file() {
    let access = access();
    let policy = access.policy.as_ref().unwrap();
    assert_eq!(policy.users.len(), 2);
    let pull_push = Actions::of(&[Action::Pull, Action::Push]);
    assert_eq!(policy.rights(Some("alice"), "acme/x"), pull_push);
    assert_eq!(policy.rights(Some("alice"), "acme/x/y"), pull_push);
    assert_eq!(policy.rights(Some("alice"), "tools"), pull_push);
    assert_eq!(policy.rights(Some("alice"), "acme/scratch"), Actions::ALL);
    // `acme/*` is what is below `acme/`, not `acme` itself nor `acmex/…`.
    assert_eq!(policy.rights(Some("alice"), "acme"), Actions::default());
    assert_eq!(policy.rights(Some("alice"), "acmex/y"), Actions::default());
    assert_eq!(policy.rights(Some("alice"), "tools/x"), Actions::default());
    // Users have anonymous rights too.
    assert_eq!(
        policy.rights(Some("alice"), "public/a"),
        Actions::of(&[Action::Pull])
    );
    assert_eq!(policy.rights(None, "acme/x"), Actions::default());
    assert_eq!(
        policy.rights(Some("nobody"), "public/a"),
        Actions::of(&[Action::Pull])
    );
    assert!(policy.may_list_catalog(Some("bob")));
    assert!(!policy.may_list_catalog(Some("alice")));
    assert!(!policy.may_list_catalog(None));

    // An empty file: nobody may do anything.
    let empty = AccessControl::parse("", Path::new("users.toml")).unwrap();
    assert!(!empty.is_open());
    assert!(empty.authorize(None, &Need::base(), REALM).is_err());
}

#[test]
fn loads_from_a_file_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(&path, PUBLIC_PULL).unwrap();
    assert!(AccessControl::load(&path).is_ok());
    let missing = dir.path().join("missing.toml");
    let err = AccessControl::load(&missing).unwrap_err();
    assert!(
        matches!(&err, AuthError::Read { path, .. } if *path == missing),
        "{err:?}"
    );
}

#[test]
fn rejects_unknown_keys() {
    let message =
        parse_error("[[anonymous]]\nrepositories = [\"*\"]\nactions = [\"pull\"]\nallow = true\n");
    assert!(message.contains("unknown field `allow`"), "{message}");
    let message =
        parse_error(&users_file(PUBLIC_PULL).replace("repositories = [\"*\"]", "repos = [\"*\"]"));
    assert!(message.contains("unknown field `repos`"), "{message}");
    let message = parse_error("[server]\nport = 1\n");
    assert!(message.contains("unknown field `server`"), "{message}");
}

#[test]
fn rejects_bad_actions_and_patterns() {
    let message = parse_error("[[anonymous]]\nrepositories = [\"*\"]\nactions = [\"read\"]\n");
    assert!(message.contains("unknown variant `read`"), "{message}");
    assert!(message.contains("`pull`"), "{message}");
    let message = parse_error("[[anonymous]]\nrepositories = [\"Acme/*\"]\nactions = [\"pull\"]\n");
    assert!(
        message.contains("`Acme/*` is not a repository pattern"),
        "{message}"
    );
    assert!(message.contains("[[anonymous]]"), "{message}");
    let message = parse_error("[[anonymous]]\nrepositories = [\"a*\"]\nactions = [\"pull\"]\n");
    assert!(
        message.contains("`a*` is not a repository pattern"),
        "{message}"
    );
    let message = parse_error("[[anonymous]]\nrepositories = []\nactions = [\"pull\"]\n");
    assert!(message.contains("`repositories` is empty"), "{message}");
}

#[test]
fn rejects_bad_password_strings_and_duplicates() {
    let message = parse_error("[[users]]\nname = \"carol\"\npassword = \"hunter2\"\n");
    assert!(message.contains("password of user `carol`"), "{message}");
    assert!(message.contains("paks serve passwd"), "{message}");
    let message = parse_error(
        "[[users]]\nname = \"carol\"\npassword = \"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\n",
    );
    assert!(message.contains("not argon2"), "{message}");
    let message = parse_error(&format!(
        "[[users]]\nname = \"carol\"\npassword = \"{h}\"\n[[users]]\nname = \"carol\"\npassword = \"{h}\"\n",
        h = *ALICE_HASH
    ));
    assert!(
        message.contains("user `carol` is defined twice"),
        "{message}"
    );
    let message = parse_error(&format!(
        "[[users]]\nname = \"a:b\"\npassword = \"{}\"\n",
        *ALICE_HASH
    ));
    assert!(message.contains("`a:b` is not a user name"), "{message}");
}

#[test]
fn hash_password_round_trips() {
    let hash = &*ALICE_HASH;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    check_phc(hash).unwrap();
    assert!(verify_password("alice-secret", hash));
    assert!(!verify_password("alice-secret ", hash));
    // The salt is random.
    assert_ne!(hash_password("alice-secret"), *hash);
}

#[test]
fn basic_credentials() {
    let access = access();
    let alice = basic("alice", "alice-secret");
    assert_eq!(
        access.authorize(
            Some(&alice),
            &need("acme/x", &[Action::Pull, Action::Push]),
            REALM
        ),
        Ok(Identity::User("alice".into()))
    );
    // A password holding `:` and a space.
    assert_eq!(
        access.authorize(
            Some(&basic("bob", "bob: secret")),
            &need("acme/x", &[Action::Pull]),
            REALM
        ),
        Ok(Identity::User("bob".into()))
    );

    let wrong = access
        .authorize(
            Some(&basic("alice", "guess")),
            &need("acme/x", &[Action::Pull]),
            REALM,
        )
        .unwrap_err();
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code, "UNAUTHORIZED");
    assert_eq!(
        wrong.challenge.as_deref(),
        Some(
            r#"Bearer realm="https://registry.test/token",service="paks",scope="repository:acme/x:pull""#
        )
    );
    let unknown = access
        .authorize(
            Some(&basic("mallory", "x")),
            &need("public/x", &[Action::Pull]),
            REALM,
        )
        .unwrap_err();
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let lacking = access
        .authorize(Some(&alice), &need("acme/x", &[Action::Delete]), REALM)
        .unwrap_err();
    assert_eq!(lacking.status, StatusCode::FORBIDDEN);
    assert_eq!(lacking.code, "DENIED");
    assert_eq!(lacking.challenge, None);
    assert!(lacking.message.contains("`alice`"), "{}", lacking.message);
    assert!(
        lacking.message.contains("repository:acme/x:delete"),
        "{}",
        lacking.message
    );

    let garbage = access
        .authorize(Some("Basic !!!"), &Need::base(), REALM)
        .unwrap_err();
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        garbage.challenge.as_deref(),
        Some(r#"Bearer realm="https://registry.test/token",service="paks""#)
    );
}

#[test]
fn verified_credentials_are_cached_and_bounded() {
    let access = access();
    let alice = basic("alice", "alice-secret");
    let cached = || access.verified.lock().unwrap().len();
    access
        .authorize(Some(&alice), &need("tools", &[Action::Pull]), REALM)
        .unwrap();
    assert_eq!(cached(), 1);
    let start = std::time::Instant::now();
    for _ in 0..50 {
        access
            .authorize(Some(&alice), &need("tools", &[Action::Pull]), REALM)
            .unwrap();
    }
    // 50 argon2 runs would take over a second.
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(cached(), 1);
    // Failures are not remembered.
    let _ = access.authorize(Some(&basic("alice", "guess")), &Need::base(), REALM);
    assert_eq!(cached(), 1);
    // The cache keys on the password too.
    assert!(
        access
            .authorize(Some(&basic("alice", "alice-secreT")), &Need::base(), REALM)
            .is_err()
    );

    {
        let mut verified = access.verified.lock().unwrap();
        for i in 1..VERIFIED_CACHE_LIMIT {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            verified.insert(key, std::time::Instant::now());
        }
    }
    assert_eq!(cached(), VERIFIED_CACHE_LIMIT);
    access
        .authorize(Some(&basic("bob", "bob: secret")), &Need::base(), REALM)
        .unwrap();
    assert_eq!(cached(), 1);
}

#[test]
fn anonymous_access() {
    let access = access();
    assert_eq!(
        access.authorize(None, &need("public/x", &[Action::Pull]), REALM),
        Ok(Identity::Anonymous)
    );
    // Anonymous has a right, so it passes the base check.
    assert_eq!(
        access.authorize(None, &Need::base(), REALM),
        Ok(Identity::Anonymous)
    );
    let push = access
        .authorize(
            None,
            &need("public/x", &[Action::Pull, Action::Push]),
            REALM,
        )
        .unwrap_err();
    assert_eq!(push.status, StatusCode::UNAUTHORIZED);
    assert_eq!(push.code, "UNAUTHORIZED");
    assert_eq!(
        push.challenge.as_deref(),
        Some(
            r#"Bearer realm="https://registry.test/token",service="paks",scope="repository:public/x:pull,push""#
        )
    );
    let catalog = access.authorize(None, &Need::catalog(), REALM).unwrap_err();
    assert_eq!(
        catalog.challenge.as_deref(),
        Some(
            r#"Bearer realm="https://registry.test/token",service="paks",scope="registry:catalog:*""#
        )
    );

    // Without anonymous rules, the base check needs a login.
    let private = AccessControl::parse(&users_file(""), Path::new("users.toml")).unwrap();
    let base = private.authorize(None, &Need::base(), REALM).unwrap_err();
    assert_eq!(base.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        base.challenge.as_deref(),
        Some(r#"Bearer realm="https://registry.test/token",service="paks""#)
    );
    assert!(
        private
            .authorize(None, &need("public/x", &[Action::Pull]), REALM)
            .is_err()
    );
    assert_eq!(
        private.authorize(Some(&basic("bob", "bob: secret")), &Need::base(), REALM),
        Ok(Identity::User("bob".into()))
    );
    assert_eq!(
        private.authorize(Some(&basic("bob", "bob: secret")), &Need::catalog(), REALM),
        Ok(Identity::User("bob".into()))
    );
}

#[test]
fn open_access_allows_everything() {
    let open = AccessControl::open();
    assert!(open.is_open());
    let all = need("any/thing", &Action::ALL);
    assert_eq!(open.authorize(None, &all, REALM), Ok(Identity::Anonymous));
    assert_eq!(
        open.authorize(Some("Bearer junk"), &all, REALM),
        Ok(Identity::Anonymous)
    );
    let token = open
        .issue_token(UNKNOWN_CLIENT, None, &query(&["repository:any/thing:*"]))
        .unwrap();
    let claims = open.verify_token(&token.token, unix_now()).unwrap();
    assert_eq!(claims.access[0].actions, ["pull", "push", "delete"]);
}

#[test]
fn tokens_grant_what_was_asked_and_allowed() {
    let access = access();
    let alice = basic("alice", "alice-secret");
    let now = 1_700_000_000;
    let token = access
        .issue_token_at(
            UNKNOWN_CLIENT,
            Some(&alice),
            &query(&[
                "repository:acme/x:pull,push,delete",
                "repository:other:pull",
                "repository:public/y:pull,push",
                "registry:catalog:*",
                "repository:NOT VALID:pull",
                "nonsense",
            ]),
            now,
        )
        .unwrap();
    assert_eq!(token.token, token.access_token);
    assert_eq!(token.expires_in, 300);
    assert_eq!(token.issued_at, "2023-11-14T22:13:20Z");
    let claims = access.verify_token(&token.token, now).unwrap();
    assert_eq!(claims.sub.as_deref(), Some("alice"));
    assert_eq!(claims.exp, now + 300);
    let granted: Vec<(&str, Vec<&str>)> = claims
        .access
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.actions.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        granted,
        [("acme/x", vec!["pull", "push"]), ("public/y", vec!["pull"])]
    );

    let bearer = format!("Bearer {}", token.token);
    let authorize =
        |need: &Need| access.authorize_at(UNKNOWN_CLIENT, Some(&bearer), need, REALM, now + 10);
    assert_eq!(
        authorize(&need("acme/x", &[Action::Pull, Action::Push])),
        Ok(Identity::User("alice".into()))
    );
    assert_eq!(authorize(&Need::base()), Ok(Identity::User("alice".into())));
    // Alice may pull `tools`, but this token does not say so: fetch another.
    let narrow = authorize(&need("tools", &[Action::Pull])).unwrap_err();
    assert_eq!(narrow.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        narrow.challenge.as_deref(),
        Some(
            r#"Bearer realm="https://registry.test/token",service="paks",scope="repository:tools:pull",error="insufficient_scope""#
        )
    );
    // Alice may not delete `acme/x` whatever token she fetches.
    let denied = authorize(&need("acme/x", &[Action::Delete])).unwrap_err();
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.code, "DENIED");
    assert!(authorize(&Need::catalog()).is_err());
}

#[test]
fn anonymous_tokens() {
    let access = access();
    let now = 1_700_000_000;
    let token = access
        .issue_token_at(
            UNKNOWN_CLIENT,
            None,
            &query(&["repository:public/x:pull,push", "repository:acme/x:pull"]),
            now,
        )
        .unwrap();
    let claims = access.verify_token(&token.token, now).unwrap();
    assert_eq!(claims.sub, None);
    assert_eq!(claims.access.len(), 1);
    assert_eq!(claims.access[0].name, "public/x");
    assert_eq!(claims.access[0].actions, ["pull"]);
    let bearer = format!("Bearer {}", token.token);
    assert_eq!(
        access.authorize_at(
            UNKNOWN_CLIENT,
            Some(&bearer),
            &need("public/x", &[Action::Pull]),
            REALM,
            now
        ),
        Ok(Identity::Anonymous)
    );
    // Anonymous lacking a right gets a challenge, so that the client may log in.
    let push = access
        .authorize_at(
            UNKNOWN_CLIENT,
            Some(&bearer),
            &need("public/x", &[Action::Push]),
            REALM,
            now,
        )
        .unwrap_err();
    assert_eq!(push.status, StatusCode::UNAUTHORIZED);
    assert!(push.challenge.is_some());

    // Without anonymous rights, the token endpoint asks for credentials.
    let private = AccessControl::parse(&users_file(""), Path::new("users.toml")).unwrap();
    let refused = private
        .issue_token(UNKNOWN_CLIENT, None, &query(&["repository:public/x:pull"]))
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.challenge.as_deref(), Some(r#"Basic realm="paks""#));
    // And wrong credentials are refused, not downgraded to anonymous.
    let wrong = access
        .issue_token(
            UNKNOWN_CLIENT,
            Some(&basic("alice", "guess")),
            &query(&["repository:public/x:pull"]),
        )
        .unwrap_err();
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code, "UNAUTHORIZED");
}

#[test]
fn tampered_foreign_and_expired_tokens_are_refused() {
    let access = access();
    let now = 1_700_000_000;
    let alice = basic("alice", "alice-secret");
    let token = access
        .issue_token_at(
            UNKNOWN_CLIENT,
            Some(&alice),
            &query(&["repository:acme/x:pull"]),
            now,
        )
        .unwrap()
        .token;
    let pull = need("acme/x", &[Action::Pull]);
    let check = |token: &str, at: u64| {
        access.authorize_at(
            UNKNOWN_CLIENT,
            Some(&format!("Bearer {token}")),
            &pull,
            REALM,
            at,
        )
    };
    assert!(check(&token, now + 299).is_ok());

    // Claims rewritten to grant push, with the old signature.
    let (body, tag) = token.split_once('.').unwrap();
    let json = String::from_utf8(BASE64URL_NOPAD.decode(body.as_bytes()).unwrap()).unwrap();
    let forged = json.replace(r#"["pull"]"#, r#"["pull","push"]"#);
    assert_ne!(forged, json);
    let forged = format!("{}.{tag}", BASE64URL_NOPAD.encode(forged.as_bytes()));
    let refused = check(&forged, now).unwrap_err();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .challenge
            .unwrap()
            .ends_with(r#",error="invalid_token""#)
    );
    assert_eq!(refused.message, "the token is not valid");
    // A flipped signature bit, and garbage.
    let mut bytes = token.clone().into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    assert!(check(&String::from_utf8(bytes).unwrap(), now).is_err());
    assert!(check("not-a-token", now).is_err());
    assert!(check("", now).is_err());

    // Another server's token, unless they share the key.
    let other = access_with_key(b"shared");
    let foreign = other
        .issue_token_at(
            UNKNOWN_CLIENT,
            Some(&alice),
            &query(&["repository:acme/x:pull"]),
            now,
        )
        .unwrap()
        .token;
    assert!(check(&foreign, now).is_err());
    assert!(
        access_with_key(b"shared")
            .authorize_at(
                UNKNOWN_CLIENT,
                Some(&format!("Bearer {foreign}")),
                &pull,
                REALM,
                now
            )
            .is_ok()
    );

    let expired = check(&token, now + TOKEN_LIFETIME_SECS).unwrap_err();
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.message, "the token has expired");
}

fn access_with_key(key: &[u8]) -> AccessControl {
    AccessControl::parse(&users_file(PUBLIC_PULL), Path::new("users.toml"))
        .unwrap()
        .with_token_key(key)
}

#[test]
fn parses_token_queries() {
    let q = TokenQuery::parse(
        "service=paks&scope=repository%3Aacme%2Fx%3Apull%2Cpush&scope=repository:b:pull+registry:catalog:*&account=al%69ce&offline_token=true&scope=",
    );
    assert_eq!(q.service.as_deref(), Some("paks"));
    assert_eq!(q.account.as_deref(), Some("alice"));
    assert_eq!(
        q.scopes,
        [
            "repository:acme/x:pull,push",
            "repository:b:pull",
            "registry:catalog:*"
        ]
    );
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
    assert_eq!(percent_decode("%+1"), "% 1");
    assert_eq!(percent_decode("%C3%A9"), "é");
    assert_eq!(TokenQuery::parse(""), TokenQuery::default());

    let scope = parse_scope("repository(plugin):a/b:pull,push").unwrap();
    assert_eq!(
        (scope.kind, scope.name, scope.actions),
        ("repository", "a/b", "pull,push")
    );
    assert!(parse_scope("repository:nothing").is_none());
}

#[test]
fn formats_rfc3339() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
}

#[tokio::test]
async fn token_endpoint() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let access = Arc::new(access());
    let app = axum::Router::new()
        .route("/token", axum::routing::get(token_handler))
        .with_state(access.clone());
    let call = |auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::get(
                "/token?service=paks&scope=repository%3Aacme%2Fx%3Apull%2Cpush&scope=repository:tools:pull",
            );
            if let Some(auth) = auth {
                req = req.header(header::AUTHORIZATION, auth);
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (status, headers, json)
        }
    };

    let (status, headers, json) = call(Some(basic("alice", "alice-secret"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(json["expires_in"], 300);
    assert_eq!(json["token"], json["access_token"]);
    let bearer = format!("Bearer {}", json["token"].as_str().unwrap());
    for name in ["acme/x", "tools"] {
        assert!(
            access
                .authorize(Some(&bearer), &need(name, &[Action::Pull]), REALM)
                .is_ok()
        );
    }
    assert!(
        access
            .authorize(Some(&bearer), &need("acme/x", &[Action::Push]), REALM)
            .is_ok()
    );

    let (status, headers, json) = call(Some(basic("alice", "nope"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], r#"Basic realm="paks""#);
    assert_eq!(json["errors"][0]["code"], "UNAUTHORIZED");

    // Anonymous: a token, granting nothing of what was asked.
    let (status, _, json) = call(None).await;
    assert_eq!(status, StatusCode::OK);
    let bearer = format!("Bearer {}", json["token"].as_str().unwrap());
    assert!(
        access
            .authorize(Some(&bearer), &need("acme/x", &[Action::Pull]), REALM)
            .is_err()
    );
}

/// `compose/<ns>/<a>/<b>` is made from `<ns>/<a>` and `<ns>/<b>`.
fn with_compose(access: AccessControl) -> AccessControl {
    access.with_derived(Arc::new(|repo: &str| {
        let rest = repo.strip_prefix("compose/")?;
        let Some((ns, packages)) = rest.split_once('/') else {
            return Some(Vec::new());
        };
        Some(packages.split('/').map(|p| format!("{ns}/{p}")).collect())
    }))
}

#[test]
fn derived_repositories_are_pull_only_for_who_may_pull_every_source() {
    let access = with_compose(access());
    let need = |repo: &str, actions: &[Action]| Need::repo(RepoName::parse(repo).unwrap(), actions);
    // alice may pull and push acme/*: she may pull (only pull) what is composed from it.
    assert!(access.may(Some("alice"), &need("compose/acme/a/b", &[Action::Pull])));
    assert!(!access.may(Some("alice"), &need("compose/acme/a", &[Action::Push])));
    // One source she may not pull (`public/x` is anonymous-only here: she has it too, via
    // anonymous rules; `other/x` nobody grants her) is enough to refuse.
    assert!(!access.may(Some("alice"), &need("compose/other/a", &[Action::Pull])));
    // Anonymous may pull public/*, so compose/public/… too, but not one mixing in acme.
    assert!(access.may(None, &need("compose/public/x/y", &[Action::Pull])));
    assert!(!access.may(None, &need("compose/acme/a", &[Action::Pull])));
    // A derived name with no source grants nothing.
    assert!(!access.may(Some("bob"), &need("compose/acme", &[Action::Pull])));
    // Requests decide the same way as `may`.
    let pull = need("compose/acme/a", &[Action::Pull]);
    let who = access.authorize(Some(&basic("alice", "alice-secret")), &pull, REALM);
    assert_eq!(who.unwrap(), Identity::User("alice".into()));
    let anonymous = access.authorize(None, &pull, REALM);
    assert!(anonymous.is_err());
}
