//! `paks` against registries that lie or stall, from a hostile server on 127.0.0.1:
//! every pull ends, within bounds the user can set, with an error that says why.

mod common;

use std::time::Duration;

use common::Env;
use paks_testkit::{HostileServer, trickle, write_head};

#[test]
fn a_registry_asking_to_wait_a_day_fails_at_once_with_a_hint() {
    let server = HostileServer::start(|_, s| {
        write_head(
            s,
            429,
            &[
                ("retry-after", "100000".into()),
                ("content-length", "0".into()),
            ],
        )
    });
    let env = Env::new();
    let reference = format!("{}/acme/hello:1.0.0", server.host());
    let err = env.fails(&["pull", &reference], 1);
    assert!(err.contains("asked to retry after `100000` s"), "{err}");
    assert!(err.contains("maximum wait of 60 s"), "{err}");
    assert!(err.contains("PAKS_MAX_RETRY_WAIT"), "{err}");
    assert_eq!(server.requests().len(), 1, "no retry after a refused wait");
}

#[test]
fn a_trickling_registry_is_given_up_at_the_transfer_deadline() {
    // Headers at once, then one byte every 100 ms of a declared megabyte (for at most
    // 60 s): no read ever times out.
    let server = HostileServer::start(|_, s| {
        write_head(
            s,
            200,
            &[
                (
                    "content-type",
                    "application/vnd.oci.image.index.v1+json".into(),
                ),
                ("content-length", "1000000".into()),
            ],
        )?;
        trickle(
            s,
            b" ",
            Duration::from_millis(100),
            1_000_000,
            Duration::from_mins(1),
        )
    });
    let env = Env::new();
    let reference = format!("{}/acme/hello:1.0.0", server.host());
    let out = env
        .cmd()
        .env("PAKS_TRANSFER_DEADLINE", "2")
        .args(["pull", &reference])
        .output()
        .unwrap();
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not done within the deadline of 2 s"), "{err}");
    assert!(err.contains("PAKS_TRANSFER_DEADLINE"), "{err}");
}
