//! Hostile upstreams against the Fetcher: a local file that never ends, a server that
//! drips its body, a body without `Content-Length` past the limit, a redirect to `file:`.
//! Real servers on 127.0.0.1 and a real FIFO; no timed assertions (only the error kinds).

use std::fmt::Write as _;
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

/// An `[update] url` that reads as an option of `git ls-remote` (`--upload-pack=CMD`) is
/// refused or taken as a repository, never as an option: the command does not run.
#[test]
fn a_git_url_that_reads_as_an_option_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let text = format!(
        "[package]\nname = \"tool\"\nversion = \"1.0.0\"\n[build]\nscript = \"true\"\n\
         [update]\nstrategy = \"git-tags\"\nurl = \"--upload-pack=touch {}\"\n",
        marker.display()
    );
    let recipe = match paks_recipe::Recipe::from_str(&text, std::path::Path::new("paks.toml")) {
        // Refused when the recipe is read: nothing can run.
        Err(e) => {
            assert!(e.to_string().contains("upload-pack"), "{e}");
            return;
        }
        Ok(recipe) => recipe,
    };
    let fetcher = Fetcher::new(FetchOptions::default());
    let result = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(paks_update::check(&recipe, &fetcher));
    assert!(!marker.exists(), "git ran the upload pack");
    assert!(result.is_err(), "{result:?}");
}

/// A listing page of 4 MiB (a quarter of the body limit), every entry a link with its own version:
/// read in time proportional to its size (each match finds its link and its earlier
/// sighting without scanning all of them), so a hostile page cannot stall a check.
#[test]
fn a_listing_of_many_links_is_read_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut page = String::new();
    let mut n = 0u64;
    while page.len() < 4 << 20 {
        let (major, minor) = (n / 1000, n % 1000);
        let _ = writeln!(
            page,
            "<a href=\"tool-{major}.{minor}.tar.gz\">tool-{major}.{minor}.tar.gz</a>"
        );
        n += 1;
    }
    let listing = dir.path().join("index.html");
    std::fs::write(&listing, &page).unwrap();
    let text = format!(
        "[package]\nname = \"tool\"\nversion = \"0.0.1\"\n[build]\nscript = \"true\"\n\
         [update]\nstrategy = \"listing\"\nurl = \"file://{}\"\nregex = 'tool-([0-9.]+)\\.tar\\.gz'\n",
        listing.display()
    );
    let recipe = paks_recipe::Recipe::from_str(&text, std::path::Path::new("paks.toml")).unwrap();
    let target = paks_update::target(&recipe).unwrap();
    let fetcher = Fetcher::new(FetchOptions::default());
    let found = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(paks_update::upstream_versions(&target, &fetcher))
        .unwrap();
    assert_eq!(found.len() as u64, n);
    let last = format!("{}.{}", (n - 1) / 1000, (n - 1) % 1000);
    let newest = found
        .iter()
        .max_by(|a, b| a.version.cmp(&b.version))
        .unwrap();
    assert_eq!(newest.upstream.text(), last);
    assert!(
        newest
            .url
            .as_deref()
            .unwrap()
            .ends_with(&format!("tool-{last}.tar.gz"))
    );
}
