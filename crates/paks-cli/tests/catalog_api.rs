//! The catalogue's JSON API on a real `paks serve` with pushed example packages: each
//! route's exact answer, its errors, caching, who sees what, schemathesis against the
//! OpenAPI document, and `paks search/info --registry` over the API.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, paks_bin, password_hash, text};
use paks_testkit::PaksServe;
use serde_json::Value;

/// A `paks serve` holding libgreet, hello (which needs libgreet) and hello-script in `acme`.
struct Served {
    server: PaksServe,
    builder: Env,
}

impl Served {
    fn new() -> Self {
        Self::start(&[], None)
    }

    /// `paks serve SERVE_ARGS`, the packages pushed as `login` (`user:password`) if given.
    fn start(serve_args: &[&str], login: Option<&str>) -> Self {
        let builder = Env::new();
        let server = PaksServe::start(
            Path::new(paks_bin()),
            &builder.dir.path().join("registry-data"),
            serve_args,
        );
        // How paks finds a login for one registry (docs/credentials.md).
        let variable = format!(
            "PAKS_REGISTRY_AUTH_{}",
            server.host().replace(['.', ':'], "_")
        );
        let ns = format!("{}/acme", server.host());
        for example in ["libgreet", "hello", "hello-script"] {
            let pak = builder.build(example);
            let mut push = builder.cmd();
            if let Some(login) = login {
                push.env(&variable, login);
            }
            let out = push
                .args(["push", pak.to_str().unwrap(), &format!("{ns}/{example}")])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let this = Self { server, builder };
        // The catalogue reads pushes off the request's thread: wait until it lists them
        // (bounded by a number of tries, not by time).
        let auth: Vec<String> = login.map(|l| format!("-u{l}")).into_iter().collect();
        let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
        for _ in 0..600 {
            let (status, _, body) = curl(&this.url("/api/v1/search?q="), &auth);
            if status == 200 && serde_json::from_str::<Value>(&body).unwrap()["total"] == 3 {
                return this;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the catalogue never listed the 3 packages");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.host())
    }
}

/// `curl URL ARGS…`: the status, the headers (lower-case names) and the body.
fn curl(url: &str, args: &[&str]) -> (u16, Vec<(String, String)>, String) {
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "-D", "-", "-o", "-"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {url}: {}", text(&out.stderr));
    let all = text(&out.stdout);
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A JSON answer with digests, package hashes and sizes replaced (they change with the
/// toolchain), pretty-printed for a snapshot.
fn redact(body: &str) -> String {
    fn walk(key: &str, v: &mut Value) {
        match v {
            Value::String(s) if s.starts_with("sha256:") => *s = "[digest]".into(),
            Value::String(s) if key == "id" => {
                *s = format!("[hash]-{}", s.split_once('-').map_or("", |(_, r)| r));
            }
            Value::Number(_) if matches!(key, "size" | "layer_size" | "files") => {
                *v = "[n]".into();
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(key, v)),
            Value::Object(m) => m.iter_mut().for_each(|(k, v)| walk(k, v)),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(body).unwrap();
    walk("", &mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn each_route_answers_the_model_as_json() {
    let s = Served::new();
    let (status, headers, body) = curl(&s.url("/api/v1/search?q=hello"), &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    insta::assert_snapshot!("search_hello", redact(&body));
    let (status, _, body) = curl(&s.url("/api/v1/search?q=&limit=1"), &[]);
    assert_eq!(status, 200);
    let cut: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            cut["total"].as_u64(),
            cut["packages"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    let (status, _, body) = curl(&s.url("/api/v1/repositories"), &[]);
    assert_eq!(status, 200);
    insta::assert_snapshot!("repositories", redact(&body));
    let (status, headers, body) = curl(&s.url("/api/v1/packages/acme/libgreet"), &[]);
    assert_eq!(status, 200);
    insta::assert_snapshot!("package_libgreet", redact(&body));
    // A package changes on push: clients revalidate, and an unchanged one costs a 304.
    assert_eq!(header(&headers, "cache-control"), Some("private, no-cache"));
    let etag = header(&headers, "etag").unwrap().to_owned();
    let (status, _, body) = curl(
        &s.url("/api/v1/packages/acme/libgreet"),
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!((status, body.as_str()), (304, ""));
    let (status, _, body) = curl(&s.url("/api/v1/packages/acme/hello"), &[]);
    assert_eq!(status, 200);
    insta::assert_snapshot!("package_hello", redact(&body));
    let (status, headers, body) = curl(&s.url("/api/v1/openapi.json"), &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn errors_are_json_with_the_status_that_says_why() {
    let s = Served::new();
    let cases = [
        (
            "/api/v1/packages/acme/nothing",
            vec![],
            404,
            "no package `acme/nothing`",
        ),
        (
            "/api/v1/search?limit=0",
            vec![],
            400,
            "limit `0` is out of range",
        ),
        (
            "/api/v1/search?limit=501",
            vec![],
            400,
            "limit `501` is out of range",
        ),
        ("/api/v1/search?limit=many", vec![], 400, "bad search query"),
        ("/api/v1/nowhere", vec![], 404, "no such API route"),
        (
            "/api/v1/verdict",
            vec![
                "-X",
                "POST",
                "-H",
                "Content-Type: text/plain",
                "--data",
                "{}",
            ],
            415,
            "not `application/json`",
        ),
        (
            "/api/v1/verdict",
            vec![
                "-H",
                "Content-Type: application/json",
                "--data",
                "{\"repository\": 1}",
            ],
            400,
            "the verdict request is not valid",
        ),
    ];
    for (path, args, want, message) in cases {
        let (status, headers, body) = curl(&s.url(path), &args);
        assert_eq!(status, want, "{path}: {body}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/json"),
            "{path}"
        );
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(message),
            "{path}: {body}"
        );
    }
    // A body over 1 MiB is refused before it is parsed.
    let big = s.builder.dir.path().join("big.json");
    std::fs::write(&big, format!("{{\"host\": \"{}\"}}", "x".repeat(2 << 20))).unwrap();
    let (status, _, body) = curl(
        &s.url("/api/v1/verdict"),
        &[
            "-H",
            "Content-Type: application/json",
            // No `100 Continue` first: the refusal is the only answer.
            "-H",
            "Expect:",
            "--data-binary",
            &format!("@{}", big.display()),
        ],
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("over 1048576 bytes"), "{body}");
}

/// A users file: anonymous may pull `acme/libgreet` only; alice may do anything.
fn users_file(dir: &Path) -> PathBuf {
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!(
            "[[anonymous]]\nrepositories = [\"acme/libgreet\"]\nactions = [\"pull\"]\n\
             [[users]]\nname = \"alice\"\npassword = \"{}\"\n\
             [[users.access]]\nrepositories = [\"*\"]\nactions = [\"*\"]\n",
            password_hash("s3cret")
        ),
    )
    .unwrap();
    path
}

#[test]
fn each_viewer_sees_what_they_may_pull() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let login = "alice:s3cret";
    let s = Served::start(&["--auth", users.to_str().unwrap()], Some(login));
    let names = |args: &[&str]| -> Vec<String> {
        let (status, _, body) = curl(&s.url("/api/v1/search?q="), args);
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["repository"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&[]), ["acme/libgreet"]);
    assert_eq!(names(&["-u", login]).len(), 3);
    // What anonymous may not pull is as unknown as what does not exist.
    let (status, _, body) = curl(&s.url("/api/v1/packages/acme/hello"), &[]);
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = curl(&s.url("/api/v1/packages/acme/hello"), &["-u", login]);
    assert_eq!(status, 200);
    // Wrong credentials: a JSON 401 that asks for a login.
    let (status, headers, body) = curl(&s.url("/api/v1/repositories"), &["-u", "alice:wrong"]);
    assert_eq!(status, 401, "{body}");
    assert!(
        header(&headers, "www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
}

/// The pinned schemathesis, in a venv under the user's cache (made here when missing, as
/// `scripts/deps` makes it).
fn schemathesis() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"),
        PathBuf::from,
    );
    let venv = cache.join("paks-schemathesis/venv-4.32.5");
    let bin = venv.join("bin/schemathesis");
    if !bin.is_file() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv {}", venv.display());
        let installed = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "schemathesis==4.32.5",
            ])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install schemathesis==4.32.5");
    }
    bin
}

/// schemathesis generates requests from the OpenAPI document (examples, boundary values,
/// random and invalid data) and checks every answer against it: no 5xx, status codes and
/// content types the document lists, bodies that match their schemas, invalid input
/// refused. All its checks, one worker, a fixed seed.
#[test]
fn schemathesis_finds_nothing() {
    let s = Served::new();
    let reports = s.builder.dir.path().join("schemathesis");
    // The path parameter is a package that exists, so that answers reach the `Package`
    // schema (random names only find 404s; `errors_are_json…` covers those).
    let config = s.builder.dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        "[parameters]\n\"path.repository\" = \"acme/hello\"\n",
    )
    .unwrap();
    let out = Command::new(schemathesis())
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(s.url("/api/v1/openapi.json"))
        .args([
            "--checks",
            "all",
            "--workers",
            "1",
            "--seed",
            "18",
            "--max-examples",
            "50",
        ])
        .arg("--report-dir")
        .arg(&reports)
        .current_dir(s.builder.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "schemathesis failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // It did test every operation of the document.
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Tested: 5"), "{stdout}");
    // The packages route reached real packages (the verdict's random bodies name none).
    assert!(
        !stdout.contains("- GET /api/v1/packages/{repository}"),
        "{stdout}"
    );
}

#[test]
fn search_and_info_over_the_registry_api() {
    let s = Served::new();
    let user = Env::new();
    let host = s.server.host();
    let table = user.ok(&["search", "hello", "--registry", &host]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("hello ") && lines[0].ends_with("[acme/hello]"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("hello-script ") && lines[1].contains("[acme/hello-script]"),
        "{table}"
    );
    let json = user.ok(&["search", "shared", "--registry", &host, "--json"]);
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{json}");
    assert_eq!(lines[0]["type"], "package");
    assert_eq!(lines[0]["repository"], "acme/libgreet");
    assert_eq!(lines[0]["versions"], serde_json::json!(["1.0.0"]));
    assert_eq!(
        (&lines[1]["type"], &lines[1]["total"]),
        (&"search".into(), &1.into())
    );
    // Nothing found is not an error.
    let none = user.run(&["search", "zzz", "--registry", &host]);
    assert!(none.status.success());
    assert!(
        text(&none.stderr).contains("No package of"),
        "{}",
        text(&none.stderr)
    );

    let info = user.ok(&["info", "acme/hello", "--registry", &host]);
    assert!(
        info.starts_with("acme/hello  (store, 1 version)\n"),
        "{info}"
    );
    assert!(info.contains("needs libgreet ^1.0 (1.0.0)"), "{info}");
    let info = user.ok(&["info", "acme/libgreet", "--registry", &host]);
    assert!(info.contains("used by acme/hello 1.0.0"), "{info}");
    let json = user.ok(&["info", "acme/hello", "--registry", &host, "--json"]);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["type"], "registry-package");
    assert_eq!(
        v["versions"][0]["builds"][0]["dependencies"][0]["name"],
        "libgreet"
    );

    let err = user.fails(&["info", "acme/nothing", "--registry", &host], 1);
    assert!(err.contains("no package `acme/nothing`"), "{err}");
    assert!(err.contains("paks search TERM --registry"), "{err}");
}

#[test]
fn a_registry_without_the_catalogue_is_named_as_such() {
    let builder = Env::new();
    let server = PaksServe::start(
        Path::new(paks_bin()),
        &builder.dir.path().join("data"),
        &["--no-catalog"],
    );
    let err = builder.fails(&["search", "hello", "--registry", &server.host()], 1);
    assert!(err.contains("is not a paks serve registry"), "{err}");
    assert!(err.contains("paks repo add"), "{err}");
    let err = builder.fails(&["info", "acme/hello", "--registry", &server.host()], 1);
    assert!(err.contains("is not a paks serve registry"), "{err}");
}

#[test]
fn images_and_their_verdicts() {
    let s = Served::new();
    let host = s.server.host();
    s.builder.ok(&[
        "image",
        "build",
        &format!("{host}/acme/hello:1.0.0"),
        "--tag",
        &format!("{host}/acme/app:1"),
    ]);
    let (status, _, body) = curl(&s.url("/api/v1/images/acme/app?ref=1"), &[]);
    assert_eq!(status, 200, "{body}");
    let image: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&image["repository"], &image["reference"]),
        (&"acme/app".into(), &"1".into())
    );
    let packages: Vec<&str> = image["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["package"]["repository"].as_str())
        .collect();
    assert!(packages.contains(&"acme/hello"), "{body}");
    let (status, _, body) = curl(&s.url("/api/v1/images/acme/app?ref=2"), &[]);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no image `acme/app:2`"), "{body}");
    // Found by schemathesis: an empty reference was a storage failure (500).
    let (status, _, body) = curl(&s.url("/api/v1/images/acme/app?ref="), &[]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("is not a tag or digest"), "{body}");

    let profile = s.builder.ok(&["host", "--json"]);
    let request = format!("{{\"repository\": \"acme/app\", \"ref\": \"1\", \"host\": {profile}}}");
    let (status, _, body) = curl(
        &s.url("/api/v1/verdict"),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &request,
        ],
    );
    assert_eq!(status, 200, "{body}");
    let verdict: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(verdict["repository"], "acme/app");
    assert_eq!(verdict["status"], "runs", "this host built it: {body}");
    let bad = "{\"repository\": \"acme/app\", \"host\": {\"os\": \"\", \"arch\": \"\"}}";
    let (status, _, body) = curl(
        &s.url("/api/v1/verdict"),
        &["-H", "Content-Type: application/json", "--data-binary", bad],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("host profile is not valid"), "{body}");
}
