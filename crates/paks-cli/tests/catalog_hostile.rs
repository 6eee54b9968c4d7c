//! The catalogue attacked from outside: a real `paks serve` holding a plain image (busybox
//! copied with skopeo), asked with malformed references and paths over raw HTTP. Nothing a
//! caller sends may make it answer 500 (a server fault, logged as a storage failure): a
//! malformed name or reference is the caller's mistake, answered as such.

mod common;

use common::Env;
use paks_testkit::raw_http::{exchange, header};
use paks_testkit::{PaksServe, busybox_layout, skopeo};

/// paks serve with busybox at `plain/busybox:1`.
fn serve_busybox() -> (Env, PaksServe) {
    let env = Env::new();
    let server = common::serve(&env);
    let layout = env.dir.path().join("busybox");
    busybox_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{}/plain/busybox:1", server.host()),
    ]);
    (env, server)
}

/// References that are neither a tag nor a digest (percent-encoded for the query).
const BAD_REFERENCES: [&str; 5] = [
    "sha256:zz",
    "a%20b",
    "..%2F..%2Fetc%2Fpasswd",
    "%3Cscript%3E",
    // 129 characters: one more than a tag may have.
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// The image page asked for a malformed `ref` said 500 "Cannot read this image: storage
/// I/O failed: `a b` is not a valid tag"; it is an image that is not there (404), for GET
/// and for the verdict form's POST, and the page still escapes what was asked.
#[test]
fn image_page_with_a_malformed_reference_is_not_found_not_a_server_error() {
    let (_env, server) = serve_busybox();
    let (status, _, body) = exchange(
        server.addr(),
        "GET",
        "/images/plain/busybox?ref=1",
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    for bad in BAD_REFERENCES {
        let path = format!("/images/plain/busybox?ref={bad}");
        for (method, body, content_type) in [
            ("GET", &b""[..], None),
            (
                "POST",
                &b"host=%7B%7D"[..],
                Some("application/x-www-form-urlencoded"),
            ),
        ] {
            let headers: Vec<(&str, &str)> = content_type
                .map(|c| ("Content-Type", c))
                .into_iter()
                .collect();
            let (status, head, page) = exchange(server.addr(), method, &path, &headers, body);
            let page = String::from_utf8_lossy(&page);
            assert_eq!(status, 404, "{method} {path}: {head}{page}");
            assert!(
                header(&head, "content-type").is_some_and(|c| c.starts_with("text/html")),
                "{head}"
            );
            assert!(page.contains("id=\"not-found\""), "{page}");
            assert!(!page.contains("<script>"), "{page}");
            assert!(!page.contains("storage"), "{page}");
        }
    }
    // Not logged as a storage failure either.
    assert!(
        !server.stderr().contains("is not a valid tag"),
        "{}",
        server.stderr()
    );
}

/// A repository path that is not UTF-8 (`%FF`) or holds a NUL got the router's plain-text
/// 400 ("Invalid URL: Cannot parse ..."), not the API's JSON error; every answer under
/// `/api/v1/` is JSON `{"error", "hint"}`.
#[test]
fn api_paths_that_are_not_utf8_answer_json_errors() {
    let (_env, server) = serve_busybox();
    for path in [
        "/api/v1/packages/plain/%FF",
        "/api/v1/packages/%C0%AE%C0%AE/x",
        "/api/v1/images/plain/%FF%FE",
        "/api/v1/images/plain/busybox%00",
        "/api/v1/packages/plain/%2e%2e%2f%2e%2e%2fetc",
    ] {
        let (status, head, body) = exchange(server.addr(), "GET", path, &[], b"");
        assert!(matches!(status, 400 | 404), "{path}: {head}");
        assert!(
            header(&head, "content-type").is_some_and(|c| c == "application/json"),
            "{path}: {head}{}",
            String::from_utf8_lossy(&body)
        );
        let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{error}"
        );
        assert!(error["hint"].is_string(), "{error}");
    }
}

/// The image page without `?ref=` chose the tag to show from the repository's tags before
/// asking whether the viewer may pull it, so its 404 for a hidden repository holding only
/// `1.36` said "No image secret/busybox:1.36", where one that does not exist says
/// `:latest`: the hidden repository's existence and its version leaked. A hidden image
/// and a missing one now look alike.
#[test]
fn image_page_of_a_hidden_repository_looks_like_a_missing_one() {
    let env = Env::new();
    let users = env.dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[anonymous]]\nrepositories = [\"public/*\"]\nactions = [\"pull\"]\n\n\
             [[users]]\nname = \"alice\"\npassword = \"{}\"\n[[users.access]]\n\
             repositories = [\"secret/*\", \"public/*\"]\nactions = [\"pull\", \"push\"]\n",
            common::password_hash("alice-pw")
        ),
    )
    .unwrap();
    let server = PaksServe::start(
        std::path::Path::new(common::paks_bin()),
        &env.dir.path().join("data"),
        &["--auth", users.to_str().unwrap()],
    );
    let layout = env.dir.path().join("busybox");
    busybox_layout(&layout, "1.36");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:alice-pw",
        &format!("oci:{}:1.36", layout.display()),
        &format!("docker://{}/secret/busybox:1.36", server.host()),
    ]);
    let get = |path: &str, auth: &[(&str, &str)]| {
        let (status, _, body) = exchange(server.addr(), "GET", path, auth, b"");
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    // Alice sees it, on its only tag.
    let alice = format!("Basic {}", data_encoding::BASE64.encode(b"alice:alice-pw"));
    let (status, page) = get("/images/secret/busybox", &[("Authorization", &alice)]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("1.36"), "{page}");
    // Anonymous: the same 404 as for a repository that is not there.
    let (hidden_status, hidden) = get("/images/secret/busybox", &[]);
    let (missing_status, missing) = get("/images/secret/nothing", &[]);
    assert_eq!((hidden_status, missing_status), (404, 404));
    assert!(!hidden.contains("1.36"), "{hidden}");
    assert_eq!(hidden.replace("busybox", "nothing"), missing);
}

/// Concurrent pulls of one composed name, of two names and of the same packages in the
/// other order, by GET and HEAD: no deadlock, every answer a 200, and one name always
/// the same manifest (composed once, not once per puller). Passed on arrival: kept as the
/// guard of the composer's per-key lock.
#[test]
fn concurrent_pulls_of_composed_images_agree() {
    let env = Env::new();
    let server = PaksServe::start(
        std::path::Path::new(common::paks_bin()),
        &env.dir.path().join("data"),
        &["--compose-base", "base/busybox:1"],
    );
    let host = server.host();
    env.build("libgreet");
    for example in ["hello", "hello-script"] {
        let pak = env.build(example);
        env.ok(&[
            "push",
            pak.to_str().unwrap(),
            &format!("{host}/acme/{example}"),
        ]);
    }
    let layout = env.dir.path().join("base");
    paks_testkit::busybox_glibc_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{host}/base/busybox:1"),
    ]);
    let names = [
        "compose/acme/hello",
        "compose/acme/hello/hello-script",
        "compose/acme/hello-script/hello",
    ];
    let accept = ("Accept", "application/vnd.oci.image.manifest.v1+json");
    let addr = server.addr();
    let answers: Vec<(String, u16, String, String)> = std::thread::scope(|s| {
        let pulls: Vec<_> = (0..12)
            .map(|i| {
                let name = names[i % names.len()];
                let method = if i % 2 == 0 { "GET" } else { "HEAD" };
                s.spawn(move || {
                    let (status, head, body) = exchange(
                        addr,
                        method,
                        &format!("/v2/{name}/manifests/latest"),
                        &[accept],
                        b"",
                    );
                    let digest = header(&head, "docker-content-digest")
                        .unwrap_or_default()
                        .to_owned();
                    (
                        name.to_owned(),
                        status,
                        digest,
                        String::from_utf8_lossy(&body).into_owned(),
                    )
                })
            })
            .collect();
        pulls.into_iter().map(|p| p.join().unwrap()).collect()
    });
    for name in names {
        let digests: std::collections::BTreeSet<&str> = answers
            .iter()
            .filter(|a| a.0 == name)
            .map(|(_, status, digest, body)| {
                assert_eq!(*status, 200, "{name}: {body}");
                assert!(digest.starts_with("sha256:"), "{name}: {digest}");
                digest.as_str()
            })
            .collect();
        assert_eq!(digests.len(), 1, "{name}: {digests:?}");
    }
    // Once more, after the rush: the same manifest.
    let (status, head, _) = exchange(
        addr,
        "HEAD",
        "/v2/compose/acme/hello/manifests/latest",
        &[accept],
        b"",
    );
    assert_eq!(status, 200);
    let first = answers.iter().find(|a| a.0 == names[0]).unwrap();
    assert_eq!(
        header(&head, "docker-content-digest"),
        Some(first.2.as_str())
    );
    // A package named twice, or with a dependency it brings anyway, is the same image:
    // each build is composed once.
    for same in ["compose/acme/hello/hello", "compose/acme/hello/libgreet"] {
        let (status, head, body) = exchange(
            addr,
            "GET",
            &format!("/v2/{same}/manifests/latest"),
            &[accept],
            b"",
        );
        assert_eq!(status, 200, "{same}: {}", String::from_utf8_lossy(&body));
        assert_eq!(
            header(&head, "docker-content-digest"),
            Some(first.2.as_str()),
            "{same}"
        );
    }
}

/// A chain of 3,000 packages, each depending on the one before (written straight into the
/// storage, as the benchmark writes its registry): pulling `compose/` of the last one
/// walked the chain by recursion and overflowed the stack, which killed the whole server
/// (every client's connection dropped). The walk is bounded: the pull is refused, with a
/// message that says why, and the server goes on answering.
#[test]
fn a_pull_of_a_very_deep_dependency_chain_is_refused_and_the_server_lives() {
    let env = Env::new();
    let data = env.dir.path().join("data");
    let summary = paks_benchgen::generate(
        &data,
        &paks_benchgen::Options {
            packages: 3000,
            seed: 7,
            namespace: "deep".to_owned(),
            writers: 2,
            chain: true,
        },
    )
    .unwrap();
    let last = summary.packages.last().unwrap();
    let server = PaksServe::start(std::path::Path::new(common::paks_bin()), &data, &[]);
    let path = format!("/v2/compose/{}/manifests/latest", last.repository);
    let (status, head, body) = exchange(server.addr(), "GET", &path, &[], b"");
    let body = String::from_utf8_lossy(&body);
    assert_ne!(status, 0, "the server died: {}", server.stderr());
    assert_eq!(status, 404, "{head}{body}");
    assert!(body.contains("more than"), "{body}");
    // Still serving; the graph page of that chain answers (its walk is bounded too).
    let (status, _, _) = exchange(server.addr(), "GET", "/v2/", &[], b"");
    assert_eq!(status, 200);
    // The catalogue reads the storage off the request threads: wait until it lists it.
    let graph = format!("/graph/{}", last.repository);
    let mut answer = exchange(server.addr(), "GET", &graph, &[], b"");
    for _ in 0..600 {
        if answer.0 != 404 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        answer = exchange(server.addr(), "GET", &graph, &[], b"");
    }
    let (status, _, page) = answer;
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("needs to run, itself included"), "{page}");
}
