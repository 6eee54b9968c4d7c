//! Docker's credential-helper protocol: `docker-credential-<name> get|store|erase`, one
//! request on standard input, one answer on standard output.
//!
//! - `get`: in, the server URL; out, `{"ServerURL", "Username", "Secret"}`, or exit
//!   status 1 with `credentials not found in native keychain` when there are none. A
//!   `Username` of `<token>` means `Secret` is an identity token, not a password.
//! - `store`: in, `{"ServerURL", "Username", "Secret"}`.
//! - `erase`: in, the server URL.
//!
//! A helper may hang (a locked keychain waiting for a password prompt nobody sees) or
//! babble: each run is bounded in time and in output.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Login;

/// How long one helper run may take.
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a helper's stdout or stderr is read.
const MAX_OUTPUT: u64 = 1024 * 1024;
/// What the helpers of docker/docker-credential-helpers print when they have nothing.
const NOT_FOUND: &str = "credentials not found";
/// The `Username` that marks an identity token.
const TOKEN_USER: &str = "<token>";

/// The key a helper files `host`'s credentials under: Docker Hub's historical URL, else
/// `host[:port]` (what `docker login HOST` stores).
pub(super) fn server_url(host: &str) -> String {
    if host == "docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        host.to_owned()
    }
}

/// The program of helper `name`; names with path characters are refused, so that a
/// config file cannot point at an arbitrary program.
pub(super) fn program(name: &str) -> Result<String, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("`{name}` is not a credential helper name"));
    }
    Ok(format!("docker-credential-{name}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    username: String,
    secret: String,
}

/// Ask helper `name` for `server_url`'s credentials: `Ok(None)` when it has none; `Err`
/// is a message for a warning.
pub(super) fn get(
    name: &str,
    server_url: &str,
    timeout: Duration,
) -> Result<Option<Login>, String> {
    let out = run(name, "get", server_url.as_bytes(), timeout)?;
    if !out.success {
        if out.stdout.contains(NOT_FOUND) || out.stderr.contains(NOT_FOUND) {
            return Ok(None);
        }
        return Err(failed(name, "get", &out));
    }
    let answer: Answer = serde_json::from_str(out.stdout.trim()).map_err(|e| {
        format!("credential helper `docker-credential-{name} get` answered invalid JSON: {e}")
    })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Login::new(answer.username, answer.secret)))
}

/// Store `login` for `server_url` in helper `name`.
pub(super) fn store(name: &str, server_url: &str, login: &Login) -> Result<(), String> {
    let (username, secret) = match login {
        Login::Basic { username, password } => (username.as_str(), password.as_str()),
        Login::IdentityToken(t) => (TOKEN_USER, t.as_str()),
    };
    let input =
        serde_json::json!({"ServerURL": server_url, "Username": username, "Secret": secret});
    let out = run(name, "store", input.to_string().as_bytes(), TIMEOUT)?;
    if out.success {
        Ok(())
    } else {
        Err(failed(name, "store", &out))
    }
}

/// Erase `server_url`'s credentials from helper `name`; whether there were any.
pub(super) fn erase(name: &str, server_url: &str) -> Result<bool, String> {
    // Helpers report erasing nothing in their own words (`pass`: "… is not in the
    // password store"): ask first, so that only a real failure is an error.
    if get(name, server_url, TIMEOUT)?.is_none() {
        return Ok(false);
    }
    let out = run(name, "erase", server_url.as_bytes(), TIMEOUT)?;
    if out.success {
        Ok(true)
    } else if out.stdout.contains(NOT_FOUND) || out.stderr.contains(NOT_FOUND) {
        Ok(false)
    } else {
        Err(failed(name, "erase", &out))
    }
}

fn failed(name: &str, action: &str, out: &Finished) -> String {
    let said = [out.stderr.trim(), out.stdout.trim()]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("nothing");
    format!("credential helper `docker-credential-{name} {action}` failed: {said}")
}

struct Finished {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Run `docker-credential-<name> <action>` with `input` on stdin, for `timeout` at most.
fn run(name: &str, action: &str, input: &[u8], timeout: Duration) -> Result<Finished, String> {
    run_program(&program(name)?, action, input, timeout)
}

fn run_program(
    program: &str,
    action: &str,
    input: &[u8],
    timeout: Duration,
) -> Result<Finished, String> {
    let shown = format!("`{program} {action}`");
    let mut child = Command::new(program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("credential helper `{program}` is not on `PATH`")
            }
            _ => format!("cannot run credential helper {shown}: {e}"),
        })?;
    // A few hundred bytes: they fit the pipe even if the helper never reads them.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let (tx, rx) = mpsc::channel();
    for (i, pipe) in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = (&mut pipe).take(MAX_OUTPUT).read_to_end(&mut buf);
                // Drain the rest, so that a babbling helper exits rather than blocks.
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            }
            let _ = tx.send((i, buf));
        });
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "credential helper {shown} did not answer within {} s",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for credential helper {shown}: {e}")),
        }
    };
    // The pipes close when the helper exits, unless it left a child holding them: give
    // the readers a moment, not forever.
    let mut streams = [Vec::new(), Vec::new()];
    let grace = Instant::now() + Duration::from_secs(1);
    for _ in 0..2 {
        match rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
            Ok((i, buf)) => streams[i] = buf,
            Err(_) => break,
        }
    }
    let [stdout, stderr] = streams;
    Ok(Finished {
        success: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join("docker-credential-test");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn a_hanging_helper_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let helper = script(dir.path(), "exec sleep 600");
        let e = run_program(&helper, "get", b"x", Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(e.contains("did not answer within 1 s"), "{e}");
    }

    #[test]
    fn a_babbling_helper_is_read_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let helper = script(dir.path(), "head -c 5000000 /dev/zero; echo done >&2");
        let out = run_program(&helper, "get", b"x", TIMEOUT).unwrap();
        assert!(out.success);
        assert_eq!(out.stdout.len() as u64, MAX_OUTPUT);
        assert_eq!(out.stderr, "done\n");
    }

    #[test]
    fn names_with_paths_are_refused() {
        assert!(program("../../bin/sh").is_err());
        assert!(program("").is_err());
        assert_eq!(program("pass").unwrap(), "docker-credential-pass");
    }
}
