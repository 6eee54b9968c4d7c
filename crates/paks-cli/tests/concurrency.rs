//! Concurrent `paks` processes on one root (issue 13): installs of overlapping packages in
//! opposite orders, a removal between an install's dependency levels, and a lock held for
//! too long. Every wait is bounded: a hang fails the test instead of hanging it.

mod common;

use std::io::Write as _;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, slow_pak, text};

/// Far longer than any of these installs takes on a loaded machine; only a deadlock
/// reaches it.
const HANG: Duration = Duration::from_mins(2);

/// Wait for every child, killing all of them (and failing) if they are not done by `HANG`.
fn wait_all(children: Vec<Child>, what: &str) -> Vec<Output> {
    let deadline = Instant::now() + HANG;
    let mut children: Vec<Option<Child>> = children.into_iter().map(Some).collect();
    loop {
        let done = children
            .iter_mut()
            .all(|c| c.as_mut().unwrap().try_wait().unwrap().is_some());
        if done {
            break;
        }
        if Instant::now() > deadline {
            for c in children.iter_mut().flatten() {
                let _ = c.kill();
                let _ = c.wait();
            }
            panic!("{what}: still running after {HANG:?}, a deadlock");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    children
        .iter_mut()
        .map(|c| c.take().unwrap().wait_with_output().unwrap())
        .collect()
}

fn spawn(env: &Env, args: &[&str]) -> Child {
    env.cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait (bounded) until an install in `env` is extracting: its temporary directory exists.
fn wait_extracting(env: &Env) {
    let deadline = Instant::now() + HANG;
    while !env.store_entries().iter().any(|e| e.starts_with('.')) {
        assert!(Instant::now() < deadline, "the install never started");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn installs_of_the_same_packages_in_opposite_orders_never_deadlock() {
    let builder = Env::new();
    // One slow package and one quick one: the first process holds the slow one's lock
    // while it extracts, the second takes the quick one's meanwhile; each then wants the
    // other's unless locks are taken in one order.
    let big = slow_pak(&builder, 24);
    let script = builder.build("hello-script").display().to_string();
    for round in 0..3 {
        let env = Env::new();
        let first = spawn(&env, &["-j1", "install", &big, &script]);
        wait_extracting(&env);
        let second = spawn(&env, &["-j1", "install", &script, &big]);
        // gc waits for installs, and only for them: it ends once they do.
        let gc = spawn(&env, &["gc", "--dry-run"]);
        let outputs = wait_all(vec![first, second, gc], &format!("round {round}"));
        for out in &outputs {
            assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        }
        assert_eq!(env.ok(&["list"]).lines().count(), 2, "round {round}");
    }
    // The race as reported: two small packages, both processes started at once.
    let lib = builder.build("libgreet").display().to_string();
    for round in 0..10 {
        let env = Env::new();
        let first = spawn(&env, &["-j1", "install", &lib, &script]);
        let second = spawn(&env, &["-j1", "install", &script, &lib]);
        let outputs = wait_all(vec![first, second], &format!("small round {round}"));
        for out in &outputs {
            assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        }
        assert_eq!(env.ok(&["list"]).lines().count(), 2, "round {round}");
    }
}

#[test]
fn a_removal_during_an_install_waits_and_cannot_take_a_dependency_away() {
    let builder = Env::new();
    let big = slow_pak(&builder, 24);
    let lib = builder.build("libgreet").display().to_string();
    let hello = builder.build("hello").display().to_string();
    let env = Env::new();
    env.ok(&["install", &lib]);
    // Level 0: big (slow) and libgreet (installed); level 1: hello, which needs libgreet.
    let install = spawn(&env, &["install", &big, &lib, &hello]);
    wait_extracting(&env);
    let remove = spawn(&env, &["remove", "libgreet"]);
    let outputs = wait_all(vec![install, remove], "install and remove");
    assert!(
        outputs[0].status.success(),
        "the install: {}",
        text(&outputs[0].stderr)
    );
    // The removal waited for the install, and then hello needed libgreet.
    assert_eq!(outputs[1].status.code(), Some(1));
    assert!(
        text(&outputs[1].stderr).contains("still needed"),
        "{}",
        text(&outputs[1].stderr)
    );
    assert_eq!(env.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

#[test]
fn a_lock_held_too_long_is_reported_with_its_holder() {
    let builder = Env::new();
    let lib = builder.build("libgreet");
    let id = serde_json::from_str::<serde_json::Value>(&builder.ok(&[
        "info",
        lib.to_str().unwrap(),
        "--json",
    ]))
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let env = Env::new();
    env.ok(&["list"]); // creates the tree
    // This test process holds the package's lock, as another paks would: flock, and its
    // pid in the file.
    let mut held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(env.root.join(format!("state/locks/{id}.lock")))
        .unwrap();
    held.lock().unwrap();
    writeln!(held, "{}", std::process::id()).unwrap();
    let mut waiter = env.cmd();
    waiter
        .env("PAKS_LOCK_TIMEOUT", "0.5")
        .args(["install", lib.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = wait_all(
        vec![waiter.spawn().unwrap()],
        "an install waiting for a lock",
    )
    .pop()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("held by process {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("PAKS_LOCK_TIMEOUT"), "{err}");
    assert_eq!(env.ok(&["list"]), "");
    // Released, the same install goes through.
    held.unlock().unwrap();
    env.ok(&["install", lib.to_str().unwrap()]);
}
