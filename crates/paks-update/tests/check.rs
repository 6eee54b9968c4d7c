//! Upstream checks against real upstreams on this machine: git repositories reached as
//! `file://`, `python3 -m http.server` serving listings and JSON, a `docker-registry`
//! holding tags.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use paks_recipe::{Recipe, Strategy};
use paks_testkit::{HttpServer, run_ok};
use paks_update::{Check, CheckError, FetchError, FetchOptions, Fetcher, Release};

const SHA: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn recipe(text: &str) -> Recipe {
    Recipe::from_str(text, Path::new("paks.toml")).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// A recipe `name` at `version` with `sources` and `update` (TOML) appended.
fn recipe_with(name: &str, version: &str, sources: &str, update: &str) -> Recipe {
    recipe(&format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\n\n{sources}\n[build]\nscript = \"true\"\n\n{update}\n"
    ))
}

fn check(recipe: &Recipe) -> Result<Check, CheckError> {
    let fetcher = Fetcher::new(FetchOptions::default());
    runtime().block_on(paks_update::check(recipe, &fetcher))
}

fn newest(recipe: &Recipe) -> Release {
    check(recipe)
        .expect("the check succeeds")
        .newest
        .expect("a version is found")
}

fn upstream(recipe: &Recipe) -> Vec<Release> {
    let fetcher = Fetcher::new(FetchOptions::default());
    let target = paks_update::target(recipe).unwrap();
    runtime()
        .block_on(paks_update::upstream_versions(&target, &fetcher))
        .unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run_ok(
        Command::new("git")
            .current_dir(dir)
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
            .args(args),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository whose commits carry `tags` (`(tag, annotated)` per commit, in order);
/// returns its `file://` URL and each tag's commit.
fn repository(dir: &Path, commits: &[&[(&str, bool)]]) -> (String, HashMap<String, String>) {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut commit_of = HashMap::new();
    for (i, tags) in commits.iter().enumerate() {
        std::fs::write(dir.join("file"), i.to_string()).unwrap();
        git(dir, &["add", "file"]);
        git(dir, &["commit", "-q", "-m", &format!("commit {i}")]);
        let head = git(dir, &["rev-parse", "HEAD"]);
        for (tag, annotated) in *tags {
            if *annotated {
                git(dir, &["tag", "-a", "-m", tag, tag]);
            } else {
                git(dir, &["tag", tag]);
            }
            commit_of.insert((*tag).to_owned(), head.clone());
        }
    }
    (format!("file://{}", dir.display()), commit_of)
}

fn git_source(url: &str, commit: &str) -> String {
    format!("[[source]]\ngit = \"{url}\"\ncommit = \"{commit}\"\n")
}

/// v1.0 (lightweight), v1.1.0 (annotated), v1.1.1 and v1.2.0-rc1, v2.0.0, and tags that
/// are not versions.
fn tool_repository(dir: &Path) -> (String, HashMap<String, String>) {
    repository(
        dir,
        &[
            &[("v1.0", false)],
            &[("v1.1.0", true), ("nightly", false)],
            &[("v1.1.1", false), ("v1.2.0-rc1", true)],
            &[("v2.0.0", true), ("latest", false)],
        ],
    )
}

#[test]
fn git_tags_give_the_newest_release_with_its_tag_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commits) = tool_repository(dir.path());
    let recipe = recipe_with("tool", "1.0.0", &git_source(&url, &commits["v1.0"]), "");
    let check = check(&recipe).unwrap();
    assert_eq!(check.strategy, Strategy::GitTags);
    assert!(check.inferred, "no [update]: inferred from the git source");
    assert_eq!(check.location, url);
    assert!(check.is_outdated());
    let newest = check.newest.unwrap();
    assert_eq!(newest.version.to_string(), "2.0.0");
    assert_eq!(newest.upstream.text(), "v2.0.0");
    assert_eq!(newest.tag.as_deref(), Some("v2.0.0"));
    // An annotated tag is peeled to its commit.
    assert_eq!(newest.commit.as_deref(), Some(commits["v2.0.0"].as_str()));

    let all: Vec<String> = upstream(&recipe)
        .iter()
        .map(|r| r.upstream.text().to_owned())
        .collect();
    assert_eq!(all, ["v1.0", "v1.1.0", "v1.1.1", "v1.2.0-rc1", "v2.0.0"]);
}

#[test]
fn filters_choose_among_git_tags() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commits) = tool_repository(dir.path());
    let source = git_source(&url, &commits["v1.0"]);
    let newest_with = |update: &str| {
        let recipe = recipe_with("tool", "1.0.0", &source, &format!("[update]\n{update}"));
        newest(&recipe).upstream.text().to_owned()
    };
    assert_eq!(newest_with("versions = \"<2\""), "v1.1.1");
    assert_eq!(newest_with("ignore = [\"v2\\\\..*\"]"), "v1.1.1");
    // `ignore` matches the whole text: `2` alone ignores nothing.
    assert_eq!(newest_with("ignore = [\"2\"]"), "v2.0.0");
    assert_eq!(
        newest_with("versions = \"<2\"\nprereleases = true"),
        "v1.2.0-rc1"
    );
    // A pre-release counts when its release does: 1.2.0 is not in `<1.2`.
    assert_eq!(
        newest_with("versions = \"<1.2\"\nprereleases = true"),
        "v1.1.1"
    );
    assert_eq!(
        newest_with("strategy = \"git-tags\"\nregex = '^v(1\\.\\d+\\.\\d+)$'"),
        "1.1.1"
    );
    assert_eq!(
        newest_with("regex = '^v(?P<version>1\\.\\d+)\\.0$'"),
        "1.1",
        "the group `version`"
    );
}

#[test]
fn name_prefixed_and_underscored_tags_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commits) = repository(
        dir.path(),
        &[
            &[("curl-8_4_0", false)],
            &[("curl-8_5_0", true), ("other-9_0_0", false)],
        ],
    );
    let recipe = recipe_with(
        "curl",
        "8.4.0",
        &git_source(&url, &commits["curl-8_4_0"]),
        "",
    );
    let newest = newest(&recipe);
    assert_eq!(newest.version.to_string(), "8.5.0");
    assert_eq!(newest.upstream.text(), "8_5_0");
    assert_eq!(newest.tag.as_deref(), Some("curl-8_5_0"));
}

#[test]
fn of_two_spellings_the_one_like_the_current_tag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commits) = repository(
        dir.path(),
        &[
            &[("v1.0.0", false)],
            &[("2.0.0", false)],
            &[("1.5.0", false), ("v1.5.0", false)],
        ],
    );
    let with_v = recipe_with("tool", "1.0.0", &git_source(&url, &commits["v1.0.0"]), "");
    // 2.0.0 has one spelling, so it wins over any spelling of 1.5.0.
    assert_eq!(newest(&with_v).tag.as_deref(), Some("2.0.0"));
    let capped = |commit: &str| {
        recipe_with(
            "tool",
            "1.0.0",
            &git_source(&url, commit),
            "[update]\nversions = \"<2\"",
        )
    };
    assert_eq!(
        newest(&capped(&commits["v1.0.0"])).tag.as_deref(),
        Some("v1.5.0")
    );
    let (url2, commits2) = {
        let dir2 = dir.path().join("plain");
        std::fs::create_dir(&dir2).unwrap();
        repository(
            &dir2,
            &[&[("1.0.0", false)], &[("1.5.0", false), ("v1.5.0", false)]],
        )
    };
    let plain = recipe_with("tool", "1.0.0", &git_source(&url2, &commits2["1.0.0"]), "");
    assert_eq!(newest(&plain).tag.as_deref(), Some("1.5.0"));
}

#[test]
fn a_missing_git_repository_is_a_network_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("nothing").display());
    let recipe = recipe_with("tool", "1.0.0", &git_source(&url, &"a".repeat(40)), "");
    let err = check(&recipe).unwrap_err();
    assert!(matches!(err, CheckError::Git { .. }), "{err:?}");
    assert!(err.is_network());
    let message = err.to_string();
    assert!(message.contains(&format!("`{url}`")), "{message}");
    assert!(message.contains("`tool`"), "{message}");
}

/// A directory served by `python3 -m http.server`: zlib tarballs and release JSON.
fn downloads() -> (tempfile::TempDir, HttpServer) {
    let dir = tempfile::tempdir().unwrap();
    let pub_dir = dir.path().join("pub");
    std::fs::create_dir(&pub_dir).unwrap();
    for file in [
        "zlib-1.2.13.tar.gz",
        "zlib-1.3.tar.gz",
        "zlib-1.3.1.tar.gz",
        "zlib-1.3.1.tar.gz.asc",
        "zlib-1.4-rc1.tar.gz",
        "zlib-latest.tar.gz",
        "other-9.0.tar.gz",
    ] {
        std::fs::write(pub_dir.join(file), file).unwrap();
    }
    let server = HttpServer::start(dir.path());
    (dir, server)
}

fn is_404(err: &CheckError) -> bool {
    matches!(
        err,
        CheckError::Fetch {
            source: FetchError::Status { status: 404, .. },
            ..
        }
    )
}

fn url_source(url: &str) -> String {
    format!("[[source]]\nurl = \"{url}\"\nsha256 = \"{SHA}\"\n")
}

#[test]
fn a_download_directory_listing_is_inferred_and_read() {
    let (_dir, server) = downloads();
    let base = format!("{}/pub/", server.url());
    let recipe = recipe_with(
        "zlib",
        "1.3.0",
        &url_source(&format!("{base}zlib-1.3.tar.gz")),
        "",
    );
    let check = check(&recipe).unwrap();
    assert_eq!(check.strategy, Strategy::Listing);
    assert!(check.inferred);
    assert_eq!(check.location, base);
    let newest = check.newest.unwrap();
    assert_eq!(newest.upstream.text(), "1.3.1");
    assert_eq!(
        newest.url.as_deref(),
        Some(format!("{base}zlib-1.3.1.tar.gz").as_str())
    );
    let all: Vec<String> = upstream(&recipe)
        .iter()
        .map(|r| r.upstream.text().to_owned())
        .collect();
    assert_eq!(all, ["1.2.13", "1.3", "1.3.1", "1.4-rc1"]);

    let with_pre = recipe_with(
        "zlib",
        "1.3.0",
        &url_source(&format!("{base}zlib-1.3.tar.gz")),
        "[update]\nprereleases = true",
    );
    assert_eq!(newest_text(&with_pre), "1.4-rc1");
}

fn newest_text(recipe: &Recipe) -> String {
    newest(recipe).upstream.text().to_owned()
}

#[test]
fn a_local_download_directory_is_listed_too() {
    let (dir, _server) = downloads();
    // Not a version the pattern reads (a space), but a name the page must carry.
    std::fs::write(dir.path().join("pub/zlib-1.3.2 (copy).tar.gz"), "").unwrap();
    let base = format!("file://{}/pub/", dir.path().display());
    let recipe = recipe_with(
        "zlib",
        "1.3.0",
        &url_source(&format!("{base}zlib-1.3.tar.gz")),
        "",
    );
    let newest = newest(&recipe);
    assert_eq!(newest.upstream.text(), "1.3.1");
    assert_eq!(
        newest.url.as_deref(),
        Some(format!("{base}zlib-1.3.1.tar.gz").as_str())
    );
}

#[test]
fn a_listing_with_its_own_url_and_regex() {
    let (_dir, server) = downloads();
    let recipe = recipe_with(
        "other",
        "8.0.0",
        "[[source]]\npath = \"src\"\n",
        &format!(
            "[update]\nstrategy = \"listing\"\nurl = \"{}/pub/\"\nregex = 'other-([0-9.]+)\\.tar'",
            server.url()
        ),
    );
    let check = check(&recipe).unwrap();
    assert!(!check.inferred);
    assert_eq!(check.newest.unwrap().upstream.text(), "9.0");
}

#[test]
fn a_missing_listing_is_a_404_with_a_hint() {
    let (_dir, server) = downloads();
    let url = format!("{}/nowhere/", server.url());
    let recipe = recipe_with(
        "zlib",
        "1.3.0",
        &url_source(&format!("{}/pub/zlib-1.3.tar.gz", server.url())),
        &format!("[update]\nurl = \"{url}\""),
    );
    let err = check(&recipe).unwrap_err();
    assert!(is_404(&err), "{err:?}");
    assert!(err.to_string().contains(&format!("`{url}`")), "{err}");
    assert!(err.hint().unwrap().contains("`url`"));
}

#[test]
fn a_file_name_without_the_version_needs_a_regex() {
    let recipe = recipe_with(
        "zlib",
        "1.3.0",
        &url_source("http://127.0.0.1:9/pub/zlib-latest.tar.gz"),
        "",
    );
    let err = check(&recipe).unwrap_err();
    assert!(matches!(err, CheckError::NoVersionInUrl { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains("`regex`"));
    assert!(!err.is_network());
}

#[test]
fn only_path_sources_leave_nothing_to_check() {
    // The package is made from what is beside the recipe: nothing upstream, never checked.
    let recipe = recipe_with("tool", "1.0.0", "[[source]]\npath = \"src\"\n", "");
    let local = check(&recipe).unwrap();
    assert_eq!(local.strategy, Strategy::None);
    assert!(local.inferred);
    assert!(local.newest.is_none());

    let frozen = recipe_with(
        "tool",
        "1.0.0",
        "[[source]]\npath = \"src\"\n",
        "[update]\nstrategy = \"none\"",
    );
    let check = check(&frozen).unwrap();
    assert_eq!(check.strategy, Strategy::None);
    assert!(check.newest.is_none());
    assert!(!check.is_outdated());
}

/// Release JSON beside the listing: a GitHub-like list, a document that is not JSON.
fn releases() -> (tempfile::TempDir, HttpServer) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("releases.json"),
        r#"[{"tag_name":"v0.9.0","draft":false},{"tag_name":"v1.4.2"},{"tag_name":"v1.5.0-beta.1"},{"tag_name":"weekly"},{"name":"no tag"}]"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("index.json"),
        r#"{"versions":{"2.1":{"date":"x"},"2.10":{},"2.9":{}},"latest":"2.10"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.json"), "{\"tag_name\": ").unwrap();
    let server = HttpServer::start(dir.path());
    (dir, server)
}

fn json_recipe(url: &str, path: &str, more: &str) -> Recipe {
    recipe_with(
        "tool",
        "1.0.0",
        "[[source]]\npath = \"src\"\n",
        &format!("[update]\nstrategy = \"json\"\nurl = \"{url}\"\npath = \"{path}\"\n{more}"),
    )
}

#[test]
fn json_paths_find_versions() {
    let (_dir, server) = releases();
    let list = format!("{}/releases.json", server.url());
    let check = check(&json_recipe(&list, "*.tag_name", "")).unwrap();
    assert_eq!(check.strategy, Strategy::Json);
    assert_eq!(check.location, list);
    assert_eq!(check.newest.unwrap().upstream.text(), "v1.4.2");
    assert_eq!(
        newest_text(&json_recipe(&list, "*.tag_name", "prereleases = true")),
        "v1.5.0-beta.1"
    );
    assert_eq!(
        newest_text(&json_recipe(
            &list,
            "*.tag_name",
            "regex = '^v(\\d+\\.\\d+)'"
        )),
        "1.5",
        "a regex extracts from each value"
    );
    let index = format!("{}/index.json", server.url());
    assert_eq!(newest_text(&json_recipe(&index, "versions.*", "")), "2.10");
    assert_eq!(newest_text(&json_recipe(&index, "latest", "")), "2.10");
}

#[test]
fn json_errors_name_the_url_and_path() {
    let (_dir, server) = releases();
    let broken = format!("{}/broken.json", server.url());
    let err = check(&json_recipe(&broken, "*.tag_name", "")).unwrap_err();
    assert!(matches!(err, CheckError::Json { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("`{broken}`")), "{err}");

    let list = format!("{}/releases.json", server.url());
    let err = check(&json_recipe(&list, "releases.*.tag_name", "")).unwrap_err();
    assert!(matches!(err, CheckError::JsonPath { .. }), "{err:?}");
    assert!(err.to_string().contains("`releases.*.tag_name`"), "{err}");
    assert!(err.hint().unwrap().contains("`path`"));
    assert!(!err.is_network());

    let missing = format!("{}/gone.json", server.url());
    let err = check(&json_recipe(&missing, "*.tag_name", "")).unwrap_err();
    assert!(is_404(&err), "{err:?}");
    assert!(err.is_network());
}

#[test]
fn registry_tags_give_the_newest_image_version() {
    use paks_oci::{Client, ClientConfig, EMPTY_JSON, ImageManifest, OCI_MANIFEST, Repository};

    let registry = paks_testkit::DockerRegistry::start();
    let location = format!("{}/library/base", registry.host());
    let repo: Repository = location.parse().unwrap();
    let client = Client::new(ClientConfig::default()).unwrap();
    let manifest =
        ImageManifest::artifact("application/x.paks.test", vec![], None, BTreeMap::new());
    runtime().block_on(async {
        client.push_blob_bytes(&repo, EMPTY_JSON).await.unwrap();
        for tag in ["3.19", "3.20", "3.20-slim", "3.21.0-rc1", "latest", "3.9"] {
            client
                .put_manifest(&repo.reference_tag(tag), OCI_MANIFEST, &manifest.to_bytes())
                .await
                .unwrap();
        }
    });
    let recipe = recipe_with(
        "base",
        "3.19.0",
        "[[source]]\npath = \"src\"\n",
        &format!("[update]\nstrategy = \"oci-tags\"\nurl = \"{location}\""),
    );
    let found = check(&recipe).unwrap();
    assert_eq!(found.strategy, Strategy::OciTags);
    assert_eq!(found.location, location);
    let newest = found.newest.unwrap();
    assert_eq!(newest.upstream.text(), "3.20");
    assert_eq!(newest.version.to_string(), "3.20.0");

    let missing = recipe_with(
        "base",
        "3.19.0",
        "[[source]]\npath = \"src\"\n",
        &format!(
            "[update]\nstrategy = \"oci-tags\"\nurl = \"{}/library/none\"",
            registry.host()
        ),
    );
    let err = check(&missing).unwrap_err();
    assert!(matches!(err, CheckError::Registry { .. }), "{err:?}");
    assert!(err.to_string().contains("/library/none`"), "{err}");
}

#[test]
fn downloads_from_github_are_checked_as_its_git_tags() {
    // Only the target is computed: nothing reaches github.com.
    let recipe = recipe_with(
        "zlib",
        "1.3.0",
        &url_source("https://github.com/madler/zlib/releases/download/v1.3/zlib-1.3.tar.gz"),
        "",
    );
    let target = paks_update::target(&recipe).unwrap();
    assert_eq!(target.strategy, Strategy::GitTags);
    assert!(target.inferred);
    assert_eq!(target.location, "https://github.com/madler/zlib.git");

    let listed = recipe_with(
        "zlib",
        "1.3.0",
        &url_source("https://zlib.invalid/fossils/zlib-1.3.tar.gz"),
        "",
    );
    let target = paks_update::target(&listed).unwrap();
    assert_eq!(target.strategy, Strategy::Listing);
    assert_eq!(target.location, "https://zlib.invalid/fossils/");
    assert_eq!(
        target.regex.as_deref(),
        Some(r"zlib-(?P<version>[0-9][0-9A-Za-z._-]*?)\.tar\.gz")
    );
}

#[test]
fn a_git_server_that_never_answers_times_out() {
    // Accepts connections and never answers: `git ls-remote` waits until killed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let url = format!("http://127.0.0.1:{port}/tool.git");
    let recipe = recipe_with("tool", "1.0.0", &git_source(&url, &"a".repeat(40)), "");
    let fetcher = Fetcher::new(FetchOptions {
        timeout: std::time::Duration::from_secs(1),
        ..FetchOptions::default()
    });
    let err = runtime()
        .block_on(paks_update::check(&recipe, &fetcher))
        .unwrap_err();
    assert!(matches!(err, CheckError::GitTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("`{url}`")), "{err}");
    // Git and the helper it started for HTTP (`git-remote-http URL`) are both gone.
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
            .any(|cmdline| String::from_utf8_lossy(&cmdline).contains(&url))
    };
    for _ in 0..100 {
        if !running() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("a process reaching `{url}` still runs after the timeout");
}
