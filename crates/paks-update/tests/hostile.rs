//! Hostile upstreams against the Fetcher: a local file that never ends, a server that
//! drips its body, a body without `Content-Length` past the limit, a redirect to `file:`.
//! Real servers on 127.0.0.1 and a real FIFO; no timed assertions (only the error kinds).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use paks_update::{FetchError, FetchOptions, Fetcher};

fn get(url: &str, options: FetchOptions) -> Result<Vec<u8>, FetchError> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(Fetcher::new(options).get(url))
}

fn small(max_body: u64) -> FetchOptions {
    FetchOptions {
        max_body,
        ..FetchOptions::default()
    }
}

/// A server that reads each request's head, then hands the connection to `answer`.
fn server(answer: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let answer = std::sync::Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                answer(stream);
            });
        }
    });
    base
}

/// A `file:` URL naming something that never ends (a FIFO whose writer keeps it open, as
/// `/dev/zero` or `/dev/stdin` would) is read only up to the limit, not until memory runs
/// out.
#[test]
fn a_local_file_that_never_ends_is_cut_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("listing");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let path = fifo.clone();
    std::thread::spawn(move || {
        let mut writer = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let chunk = vec![b'1'; 64 * 1024];
        // Past the limit, then held open: the end never comes.
        for _ in 0..8 {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
        loop {
            std::thread::sleep(Duration::from_hours(1));
        }
    });
    let url = format!("file://{}", fifo.display());
    let err = get(&url, small(64 * 1024)).unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
}

/// A body sent without `Content-Length` and without end is cut at the limit.
#[test]
fn an_endless_body_without_length_is_cut_at_the_limit() {
    let base = server(|mut stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'v'; 64 * 1024];
        while stream.write_all(&chunk).is_ok() {}
    });
    let err = get(&format!("{base}/list"), small(1 << 20)).unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
}

/// A declared length past the limit is refused before the body is read.
#[test]
fn a_declared_length_past_the_limit_is_refused() {
    let base = server(|mut stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\nv1");
        std::thread::sleep(Duration::from_hours(1));
    });
    let err = get(&format!("{base}/list"), small(1 << 20)).unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
}

/// Headers, then one byte a second: the per-request timeout ends it.
#[test]
fn a_dripping_body_ends_at_the_request_timeout() {
    let base = server(|mut stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        while stream.write_all(b"1").is_ok() {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let options = FetchOptions {
        timeout: Duration::from_secs(2),
        ..FetchOptions::default()
    };
    let err = get(&format!("{base}/list"), options).unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
}

/// A redirect to `file:///etc/passwd` is not followed, and a redirect loop ends.
#[test]
fn redirects_to_files_and_in_loops_are_not_followed() {
    let base = server(|mut stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let err = get(&format!("{base}/list"), small(1 << 20)).unwrap_err();
    assert!(!format!("{err:?}").contains("root:"), "{err:?}");
    assert!(
        matches!(
            err,
            FetchError::Status { status: 302, .. } | FetchError::Http { .. }
        ),
        "{err:?}"
    );

    let looping = server(|mut stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let err = get(&format!("{looping}/list"), small(1 << 20)).unwrap_err();
    assert!(
        matches!(err, FetchError::Http { .. } | FetchError::Status { .. }),
        "{err:?}"
    );
}
