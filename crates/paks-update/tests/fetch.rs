//! The Fetcher against a real HTTP server on 127.0.0.1 that answers from a script: one
//! retry after 429/503 (honouring `Retry-After` up to the limit), none after other
//! statuses, and the body limit.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use paks_update::{FetchError, FetchOptions, Fetcher};

/// A server answering each request with the next of `answers` (status, extra headers,
/// body); the last one repeats. Counts the requests.
struct Scripted {
    url: String,
    requests: Arc<AtomicUsize>,
}

fn scripted(answers: &[(u16, &str, &str)]) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/list", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let answers: Arc<Mutex<Vec<(u16, String, String)>>> = Arc::new(Mutex::new(
        answers
            .iter()
            .rev()
            .map(|(s, h, b)| (*s, (*h).to_owned(), (*b).to_owned()))
            .collect(),
    ));
    let count = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            count.fetch_add(1, Ordering::SeqCst);
            let (status, headers, body) = {
                let mut answers = answers.lock().unwrap();
                if answers.len() > 1 {
                    answers.pop().unwrap()
                } else {
                    answers[0].clone()
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
        }
    });
    Scripted { url, requests }
}

fn get(server: &Scripted, options: FetchOptions) -> Result<String, FetchError> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(Fetcher::new(options).get_text(&server.url))
}

#[test]
fn a_503_with_retry_after_is_retried_once() {
    let server = scripted(&[(503, "Retry-After: 0\r\n", ""), (200, "", "v1.2.3")]);
    assert_eq!(get(&server, FetchOptions::default()).unwrap(), "v1.2.3");
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
}

#[test]
fn a_429_is_retried_only_once() {
    let server = scripted(&[(429, "Retry-After: 0\r\n", "")]);
    let err = get(&server, FetchOptions::default()).unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
}

#[test]
fn a_wait_longer_than_the_limit_is_a_failure_now() {
    let server = scripted(&[(503, "Retry-After: 3600\r\n", ""), (200, "", "late")]);
    let err = get(&server, FetchOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), format!("`{}` answered 503", server.url));
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn other_statuses_are_not_retried() {
    let server = scripted(&[(404, "", "no"), (200, "", "yes")]);
    let err = get(&server, FetchOptions::default()).unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn bodies_over_the_limit_fail() {
    let server = scripted(&[(200, "", &"x".repeat(100))]);
    let options = FetchOptions {
        max_body: 99,
        ..FetchOptions::default()
    };
    let err = get(&server, options).unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 99, .. }),
        "{err}"
    );
}

#[test]
fn a_refused_connection_is_retried_then_reported() {
    // A port just released: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = format!("http://127.0.0.1:{port}/list");
    let err = runtime
        .block_on(Fetcher::new(FetchOptions::default()).get(&url))
        .unwrap_err();
    assert_eq!(err.to_string(), format!("failed to fetch `{url}`"));
}
