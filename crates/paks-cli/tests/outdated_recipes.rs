//! `paks outdated --recipes DIR` against real upstreams on this machine: git repositories
//! reached as `file://`, and `tests/outdated/upstream.py` (Python's `http.server`, one
//! thread per request, each held 50 ms) serving listings and JSON on loopback ports, whose
//! log says what was asked and how many requests were in flight.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Env, git, text};

/// `upstream.py` serving `dir` on `ports` ports; killed on drop.
struct Upstream {
    child: Child,
    ports: Vec<u16>,
    log: PathBuf,
}

impl Upstream {
    fn start(dir: &Path, ports: usize) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/outdated/upstream.py");
        let log = dir.with_extension("log");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir)
            .arg(&log)
            .arg(ports.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ports = line
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        Self { child, ports, log }
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// The requests so far: (port, path, in flight on its port, in flight on all ports).
    fn requests(&self) -> Vec<(u16, String, usize, usize)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (
                    f[0].parse().unwrap(),
                    f[1].to_owned(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                )
            })
            .collect()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A recipe `name` at `version` in `dir`, with `rest` (sources, `[update]`) appended.
fn recipe(dir: &Path, name: &str, version: &str, rest: &str) {
    write(
        &dir.join("paks.toml"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\n\n{rest}\n[build]\nscript = \"true\"\n"
        ),
    );
}

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A git repository in `dir` with one commit per tag; returns its URL and the first
/// commit.
fn repository(dir: &Path, tags: &[&str]) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    let mut first = String::new();
    for (i, tag) in tags.iter().enumerate() {
        std::fs::write(dir.join("file"), i.to_string()).unwrap();
        git(dir, &["add", "file"]);
        git(dir, &["commit", "-q", "-m", tag]);
        git(dir, &["tag", tag]);
        if i == 0 {
            first = git(dir, &["rev-parse", "HEAD"]);
        }
    }
    (format!("file://{}", dir.display()), first)
}

/// Every line of `stdout` is a JSON object with a `type`; returns them.
fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["type"].is_string(), "no type: {l}");
            v
        })
        .collect()
}

/// `text` with `dir` and the upstream's ports replaced by placeholders.
fn redact(text: &str, dir: &Path, upstream: &Upstream) -> String {
    let mut text = text.replace(&dir.display().to_string(), "[DIR]");
    for (i, port) in upstream.ports.iter().enumerate() {
        text = text.replace(&format!(":{port}/"), &format!(":[PORT{i}]/"));
    }
    text
}

/// The scenario of the first tests: four recipes found by three strategies, two outdated,
/// and two recipes where none must be looked for (hidden, `out/`).
struct Recipes {
    env: Env,
    dir: PathBuf,
    upstream: Upstream,
}

fn recipes() -> Recipes {
    let env = Env::new();
    let base = env.dir.path();
    let www = base.join("www");
    write(&www.join("curl/curl-8.5.0.tar.gz"), "old");
    write(&www.join("curl/curl-8.6.0.tar.gz"), "new");
    write(&www.join("curl/curl-8.6.0.tar.gz.asc"), "sig");
    write(
        &www.join("jq/releases.json"),
        r#"[{"tag_name": "jq-1.7.1"}, {"tag_name": "jq-1.7"}, {"tag_name": "jq-1.8.0rc1"}]"#,
    );
    let upstream = Upstream::start(&www, 2);
    let (zlib_git, zlib_commit) = repository(&base.join("git/zlib"), &["v1.3.0", "v1.3.1"]);
    let dir = base.join("recipes");
    recipe(
        &dir.join("libs/zlib"),
        "zlib",
        "1.3.0",
        &format!("[[source]]\ngit = \"{zlib_git}\"\ncommit = \"{zlib_commit}\"\n"),
    );
    recipe(
        &dir.join("curl"),
        "curl",
        "8.5.0",
        &format!(
            "[[source]]\nurl = \"{}/curl/curl-8.5.0.tar.gz\"\nsha256 = \"{SHA}\"\n",
            upstream.url(0)
        ),
    );
    recipe(
        &dir.join("jq"),
        "jq",
        "1.7.1",
        &format!(
            "[[source]]\npath = \"src\"\n\n[update]\nstrategy = \"json\"\nurl = \"{}/jq/releases.json\"\npath = \"*.tag_name\"\n",
            upstream.url(1)
        ),
    );
    recipe(
        &dir.join("frozen"),
        "frozen",
        "0.1.0",
        "[[source]]\npath = \"src\"\n\n[update]\nstrategy = \"none\"\n",
    );
    // Never looked at: a hidden directory, `out/` (where builds go), a symlink.
    write(&dir.join(".hidden/paks.toml"), "not a recipe");
    write(&dir.join("out/x/paks.toml"), "not a recipe");
    std::os::unix::fs::symlink(dir.join("jq"), dir.join("link-to-jq")).unwrap();
    Recipes { env, dir, upstream }
}

#[test]
fn a_table_of_recipes_outdated_ones_marked_exit_1() {
    let r = recipes();
    let out = r
        .env
        .run(&["outdated", "--recipes", r.dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let base = r.env.dir.path();
    insta::assert_snapshot!(redact(&text(&out.stdout), base, &r.upstream), @r"
      NAME    CURRENT  NEWEST  FOUND BY
    * curl    8.5.0    8.6.0   listing http://127.0.0.1:[PORT0]/curl/ (inferred)
      frozen  0.1.0    -       none
      jq      1.7.1    1.7.1   json http://127.0.0.1:[PORT1]/jq/releases.json
    * zlib    1.3.0    1.3.1   git-tags file://[DIR]/git/zlib (inferred)
    ");
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "error: 4 recipes checked: 2 outdated, 0 failed\nhint: `paks update {}` bumps them; `paks recipe bump DIR` bumps one",
            r.dir.display()
        )
    );
}

#[test]
fn json_lines_one_per_recipe_then_a_summary() {
    let r = recipes();
    let out = r
        .env
        .run(&["outdated", "--recipes", r.dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 5);
    let zlib = &lines[3];
    assert_eq!(zlib["type"], "recipe");
    assert_eq!(zlib["name"], "zlib");
    assert_eq!(zlib["dir"], r.dir.join("libs/zlib").display().to_string());
    assert_eq!(zlib["current"], "1.3.0");
    assert_eq!(zlib["newest"], "1.3.1");
    assert_eq!(zlib["upstream"], "v1.3.1");
    assert_eq!(zlib["outdated"], true);
    assert_eq!(zlib["strategy"], "git-tags");
    assert_eq!(zlib["inferred"], true);
    let jq = &lines[2];
    assert_eq!(
        (&jq["newest"], &jq["outdated"], &jq["inferred"]),
        (&"1.7.1".into(), &false.into(), &false.into()),
        "the pre-release does not count"
    );
    assert_eq!(lines[1]["newest"], serde_json::Value::Null);
    assert_eq!(
        lines[4],
        serde_json::json!({"type": "summary", "recipes": 4, "outdated": 2, "errors": 0})
    );
}

#[test]
fn all_current_exits_0_and_one_recipe_directory_is_checked_alone() {
    let r = recipes();
    let jq = r.dir.join("jq");
    let out = r.env.run(&["outdated", "--recipes", jq.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2, "the header and jq");
    assert_eq!(
        text(&out.stderr).trim(),
        "1 recipe checked: 0 outdated, 0 failed"
    );
}

#[test]
fn a_broken_recipe_is_reported_and_the_others_still_checked() {
    let r = recipes();
    write(&r.dir.join("broken/paks.toml"), "[package\nname = 1");
    let out = r
        .env
        .run(&["outdated", "--recipes", r.dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "a wrong recipe is the user's");
    let lines = json_lines(&out.stdout);
    let broken = &lines[0];
    assert_eq!(broken["type"], "error");
    assert_eq!(broken["dir"], r.dir.join("broken").display().to_string());
    assert_eq!(broken["network"], false);
    assert!(
        broken["error"].as_str().unwrap().contains("paks.toml"),
        "{broken}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &serde_json::json!({"type": "summary", "recipes": 5, "outdated": 2, "errors": 1})
    );

    // A host that does not answer: exit 2, the table still says what is known.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = gone.local_addr().unwrap().port();
    drop(gone);
    recipe(
        &r.dir.join("gone"),
        "gone",
        "1.0.0",
        &format!(
            "[[source]]\nurl = \"http://127.0.0.1:{port}/gone-1.0.0.tar.gz\"\nsha256 = \"{SHA}\"\n"
        ),
    );
    let out = r
        .env
        .run(&["outdated", "--recipes", r.dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("! broken  -        -       failed (recipe)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("! gone    -        -       failed (network)"),
        "{stdout}"
    );
    assert!(stdout.contains("* zlib"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("failed to fetch `http://127.0.0.1:{port}/`")),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 6 recipes checked: 2 outdated, 2 failed"),
        "{stderr}"
    );
}

#[test]
fn the_cache_answers_the_second_run_and_refresh_asks_again() {
    let r = recipes();
    // A second recipe of one package on the same listing: one request for both.
    recipe(
        &r.dir.join("variants/curl"),
        "curl",
        "8.6.0",
        &format!(
            "[[source]]\nurl = \"{}/curl/curl-8.6.0.tar.gz\"\nsha256 = \"{SHA}\"\n",
            r.upstream.url(0)
        ),
    );
    let args = ["outdated", "--recipes", r.dir.to_str().unwrap(), "--json"];
    let first = r.env.run(&args);
    let asked: Vec<String> = r.upstream.requests().into_iter().map(|q| q.1).collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked.contains(&"/curl/".to_owned()) && asked.contains(&"/jq/releases.json".to_owned())
    );
    let cached = r.env.dir.path().join("root/cache/update");
    assert_eq!(
        std::fs::read_dir(&cached).unwrap().count(),
        3,
        "one file per location"
    );

    let second = r.env.run(&args);
    assert_eq!(
        r.upstream.requests().len(),
        2,
        "the second run asked nobody"
    );
    assert_eq!(text(&first.stdout), text(&second.stdout));

    let mut refresh = args.to_vec();
    refresh.push("--refresh");
    let third = r.env.run(&refresh);
    assert_eq!(r.upstream.requests().len(), 4, "--refresh asked again");
    assert_eq!(text(&first.stdout), text(&third.stdout));

    // A TTL of 0 from the user configuration: every run asks.
    write(
        &r.env.dir.path().join("config.toml"),
        "[update]\nttl = \"0s\"\n",
    );
    r.env.run(&args);
    assert_eq!(r.upstream.requests().len(), 6);
}

#[test]
fn one_request_per_host_at_a_time_while_hosts_are_asked_at_once() {
    let env = Env::new();
    let www = env.dir.path().join("www");
    let dir = env.dir.path().join("recipes");
    let upstream = Upstream::start(&www, 2);
    for i in 0..16 {
        let name = format!("pkg{i}");
        let port = i % 2;
        write(&www.join(format!("{name}/{name}-1.{i}.0.tar.gz")), "x");
        recipe(
            &dir.join(&name),
            &name,
            "1.0.0",
            &format!(
                "[[source]]\nurl = \"{}/{name}/{name}-1.0.0.tar.gz\"\nsha256 = \"{SHA}\"\n",
                upstream.url(port)
            ),
        );
    }
    let out = env.run(&["outdated", "--recipes", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.last().unwrap()["outdated"], 15);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 16);
    for port in &upstream.ports {
        let most = requests.iter().filter(|q| q.0 == *port).map(|q| q.2).max();
        assert_eq!(most, Some(1), "port {port} saw two requests at once");
    }
    let together = requests.iter().map(|q| q.3).max().unwrap();
    assert_eq!(together, 2, "the two hosts were asked at once");
}

/// Recipes made only from what lies beside them (this repository's examples) have no
/// upstream: listed, never outdated, no failure (before, each was a failed check, exit 1).
#[test]
fn recipes_with_only_local_sources_are_listed_and_never_outdated() {
    let env = Env::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let out = env.run(&["outdated", "--recipes", examples.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for name in ["hello ", "hello-script ", "libgreet "] {
        let row = table
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {table}"));
        assert!(row.ends_with("none (only local sources)"), "{row}");
    }
    assert_eq!(
        text(&out.stderr).trim(),
        "3 recipes checked: 0 outdated, 0 failed"
    );
}
