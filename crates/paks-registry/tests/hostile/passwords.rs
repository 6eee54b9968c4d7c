//! Wrong passwords cost argon2 (~19 MiB, tens of ms) each: only a few run at once, the
//! rest get 429 with `Retry-After`, and a client that keeps failing must wait.

use std::sync::{Arc, Barrier};

use data_encoding::BASE64;
use paks_registry::auth::hash_password;

use crate::support::Server;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    )
}

/// A server whose users file has `alice` (password `alice-secret`) with every right.
fn server(
    configure: impl FnOnce(&mut paks_registry::limits::Limits),
) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nname = \"alice\"\npassword = \"{}\"\n[[users.access]]\nrepositories = [\"*\"]\nactions = [\"*\"]\n",
            hash_password("alice-secret")
        ),
    )
    .unwrap();
    let s = Server::start(16, |c| {
        c.auth = Some(users);
        configure(&mut c.limits);
    });
    (s, dir)
}

/// Many concurrent wrong passwords: beyond the pool of verifications they get 429 with
/// `Retry-After`, and a logged-in user is answered meanwhile.
#[test]
fn concurrent_wrong_passwords_beyond_the_pool_get_429() {
    let (s, _dir) = server(|l| {
        l.password_checks = 2;
        l.login_failures_per_client = 10_000;
        l.login_failures_per_user = 10_000;
    });
    let s = Arc::new(s);
    let alice = basic("alice", "alice-secret");
    let a = s.must(
        "GET",
        "/v2/acme/app/tags/list",
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(a.status, 404, "{}", a.text()); // past authentication: the repository is empty

    let n = 40;
    let start = Arc::new(Barrier::new(n + 1));
    let storm: Vec<_> = (0..n)
        .map(|i| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                let wrong = basic("alice", &format!("guess-{i}"));
                start.wait();
                let a = s.must(
                    "GET",
                    "/v2/acme/app/tags/list",
                    &[("Authorization", &wrong)],
                    b"",
                );
                (a.status, a.header("retry-after").map(str::to_owned))
            })
        })
        .collect();
    start.wait();
    let a = s.must(
        "GET",
        "/v2/acme/app/tags/list",
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(
        a.status,
        404,
        "a logged-in user was refused during the storm: {}",
        a.text()
    );
    let answers: Vec<_> = storm.into_iter().map(|t| t.join().unwrap()).collect();
    let throttled = answers.iter().filter(|(status, _)| *status == 429).count();
    assert!(throttled > 0, "no wrong password got 429: {answers:?}");
    for (status, retry_after) in &answers {
        assert!(matches!(status, 401 | 429), "{answers:?}");
        if *status == 429 {
            assert!(
                retry_after
                    .as_deref()
                    .is_some_and(|r| r.parse::<u64>().is_ok_and(|r| r >= 1)),
                "{answers:?}"
            );
        }
    }
}

/// One client that keeps failing gets 429 once its budget is used, on the API and on the
/// token endpoint alike; credentials verified before still work.
#[test]
fn repeated_failures_from_one_client_are_limited() {
    let (s, _dir) = server(|l| {
        l.login_failures_per_client = 3;
    });
    let alice = basic("alice", "alice-secret");
    assert_eq!(
        s.must("GET", "/v2/", &[("Authorization", &alice)], b"")
            .status,
        200
    );
    let wrong = basic("alice", "guess");
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            s.must("GET", "/v2/", &[("Authorization", &wrong)], b"")
                .status
        })
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429]);
    let a = s.must("GET", "/v2/", &[("Authorization", &wrong)], b"");
    assert_eq!(a.status, 429, "{}", a.text());
    assert!(a.header("retry-after").is_some());
    assert!(a.text().contains("TOOMANYREQUESTS"), "{}", a.text());
    let a = s.must(
        "GET",
        "/token?scope=repository:acme/app:pull",
        &[("Authorization", &wrong)],
        b"",
    );
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(
        s.must("GET", "/v2/", &[("Authorization", &alice)], b"")
            .status,
        200
    );
}
