//! `paks update`: the loop over a git repository of recipes whose upstream is a real web
//! server (`python3 -m http.server` serving tarballs and its directory listings), built in
//! the real sandbox and pushed to a real `paks serve`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Env, git, paks_bin, text};
use paks_testkit::HttpServer;
use paks_testkit::raw_http;
use sha2::Digest as _;

/// What the three recipes' upstreams publish: `good` has a 1.1.0 that passes its test,
/// `bad` a 1.1.0 whose test fails, `same` nothing newer than 1.0.0.
const UPSTREAM: &[(&str, &str, &str)] = &[
    ("good", "1.0.0", "ok"),
    ("good", "1.1.0", "ok"),
    ("bad", "1.0.0", "ok"),
    ("bad", "1.1.0", "broken"),
    ("same", "1.0.0", "ok"),
];

/// A git repository of three recipes at 1.0.0, their upstream, and an empty registry.
struct Fixture {
    env: Env,
    /// The git work tree; the recipes are in `recipes/`.
    repo: PathBuf,
    upstream: HttpServer,
    /// Each recipe's `paks.toml` as committed.
    originals: Vec<(String, String)>,
}

impl Fixture {
    fn new() -> Self {
        let env = Env::new();
        let files = env.dir.path().join("upstream");
        let mut digests = Vec::new();
        for (name, version, says) in UPSTREAM {
            digests.push((*name, *version, tarball(&files, name, version, says)));
        }
        let upstream = HttpServer::start(&files);
        let repo = env.dir.path().join("repo");
        let mut originals = Vec::new();
        for (name, version, digest) in digests.iter().filter(|(_, v, _)| *v == "1.0.0") {
            let dir = repo.join("recipes").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let recipe = recipe(upstream.port(), name, version, digest);
            std::fs::write(dir.join("paks.toml"), &recipe).unwrap();
            originals.push(((*name).to_owned(), recipe));
        }
        git(&repo, &["init", "--quiet", "-b", "main"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "recipes"]);
        Self {
            env,
            repo,
            upstream,
            originals,
        }
    }

    /// `paks update recipes ARGS` in the work tree, committing as a throw-away user.
    fn update(&self, args: &[&str]) -> Output {
        self.update_in(&self.repo, "recipes", args)
    }

    /// `paks update DIR ARGS` run in `cwd`.
    fn update_in(&self, cwd: &Path, dir: &str, args: &[&str]) -> Output {
        self.env
            .cmd()
            .current_dir(cwd)
            .args(["update", dir, "--out"])
            .arg(&self.env.out)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap()
    }

    fn recipe_text(&self, name: &str) -> String {
        std::fs::read_to_string(self.repo.join("recipes").join(name).join("paks.toml")).unwrap()
    }

    fn original(&self, name: &str) -> &str {
        &self.originals.iter().find(|(n, _)| n == name).unwrap().1
    }

    /// `URL/NAME/`, where a recipe's versions are listed.
    fn listing(&self, name: &str) -> String {
        format!("{}/{name}/", self.upstream.url())
    }
}

/// `DIR/NAME/NAME-VERSION.tar.gz` holding `NAME-VERSION/tool`, a script that prints
/// `says`; returns its sha256.
fn tarball(dir: &Path, name: &str, version: &str, says: &str) -> String {
    let staging = dir.join(".staging").join(format!("{name}-{version}"));
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("tool"), format!("#!/bin/sh\necho {says}\n")).unwrap();
    let into = dir.join(name);
    std::fs::create_dir_all(&into).unwrap();
    let file = into.join(format!("{name}-{version}.tar.gz"));
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&file)
        .arg("-C")
        .arg(staging.parent().unwrap())
        .arg(format!("{name}-{version}"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(dir.join(".staging")).unwrap();
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(std::fs::read(&file).unwrap()))
}

/// A recipe that installs the tarball's `tool` as `bin/NAME` and tests that it says `ok`;
/// its new versions are listed in the upstream's directory listing.
fn recipe(port: u16, name: &str, version: &str, sha256: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "{version}"
summary = "A tool that says ok"
license = "MIT"

[[source]]
url = "http://127.0.0.1:{port}/{name}/{name}-{version}.tar.gz"
sha256 = "{sha256}"

[build]
script = """
mkdir -p "$PREFIX/bin"
cp tool "$PREFIX/bin/{name}"
chmod +x "$PREFIX/bin/{name}"
"""

[test]
script = 'out=$({name}); echo "{name} says $out"; test "$out" = ok'

[update]
strategy = "listing"
url = "http://127.0.0.1:{port}/{name}/"
regex = '{name}-(?P<version>[0-9]+\.[0-9]+\.[0-9]+)\.tar\.gz'
"#
    )
}

/// The tags of `REPOSITORY` in the registry at `addr` (none when it does not exist).
fn tags(addr: std::net::SocketAddr, repository: &str) -> Vec<String> {
    let (status, _, body) = raw_http::exchange(
        addr,
        "GET",
        &format!("/v2/{repository}/tags/list"),
        &[],
        b"",
    );
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "{}", text(&body));
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    list["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v.is_object() && v["type"].is_string(), "{l}");
            v
        })
        .collect()
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario: three runs of the loop over one repository
fn updates_what_builds_and_passes_and_leaves_the_rest() {
    let f = Fixture::new();
    let registry = common::serve(&f.env);
    let ns = format!("{}/acme", registry.host());
    let key = f.env.dir.path().join("key.pem");
    f.env
        .ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    let md = f.env.dir.path().join("summary.md");
    let main = git(&f.repo, &["rev-parse", "HEAD"]);

    let run = f.update(&[
        "--build",
        "--test",
        "--push",
        &ns,
        "--sign",
        key.to_str().unwrap(),
        "--branch",
        "first",
        "--summary",
        md.to_str().unwrap(),
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");

    // One commit, on the branch, for `good` alone.
    assert_eq!(git(&f.repo, &["branch", "--show-current"]), "first");
    assert_eq!(
        git(&f.repo, &["rev-list", "--count", &format!("{main}..HEAD")]),
        "1"
    );
    let commit = git(&f.repo, &["rev-parse", "HEAD"]);
    let message = git(&f.repo, &["log", "-1", "--format=%B"]);
    let good_url = format!("{}good-1.1.0.tar.gz", f.listing("good"));
    assert!(
        message.starts_with(&format!(
            "good 1.0.0 → 1.1.0\n\nFound by listing at {}.\nSources:\n  {good_url} sha256:",
            f.listing("good")
        )),
        "{message}"
    );
    assert_eq!(
        git(&f.repo, &["show", "--name-only", "--format=", "HEAD"]),
        "recipes/good/paks.toml"
    );
    assert!(f.recipe_text("good").contains("version = \"1.1.0\""));
    assert!(f.recipe_text("good").contains(&good_url));
    // The failing recipe is as it was, and nothing is left uncommitted.
    assert_eq!(f.recipe_text("bad"), f.original("bad"));
    assert_eq!(f.recipe_text("same"), f.original("same"));
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "");

    // The registry has the new `good`, signed, and nothing of `bad`.
    let good_tags = tags(registry.addr(), "acme/good");
    assert!(good_tags.contains(&"1.1.0".to_owned()), "{good_tags:?}");
    assert!(!good_tags.contains(&"1.0.0".to_owned()), "{good_tags:?}");
    assert_eq!(tags(registry.addr(), "acme/bad"), Vec::<String>::new());
    f.env.ok(&[
        "verify",
        &format!("{ns}/good:1.1.0"),
        "--key",
        key.with_extension("pub").to_str().unwrap(),
    ]);

    // The table says so.
    let short = &commit[..12];
    let stdout = text(&run.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "NAME  FROM   TO     BUILD  TEST    PUSH  COMMIT",
            "bad   1.0.0  1.1.0  ok     FAILED  -     -",
            &format!("good  1.0.0  1.1.0  ok     ok      ok    {short}"),
        ],
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("bad: the test script of `bad` failed"),
        "{stdout}"
    );
    assert_eq!(
        lines[4],
        "3 recipes checked: 1 updated, 1 failed, 1 current; branch `first`"
    );
    assert!(stderr.contains("not updated: `bad`"), "{stderr}");

    // And the Markdown for the pull request.
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.starts_with(
            "## paks update\n\n3 recipes checked: 1 updated, 1 failed, 1 current; branch `first`.\n\n\
             | package | from | to | build | test | push | commit |\n\
             | --- | --- | --- | --- | --- | --- | --- |\n\
             | `bad` | 1.0.0 | 1.1.0 | ok | FAILED | - | - |\n"
        ),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| `good` | 1.0.0 | 1.1.0 | ok | ok | ok | {short} |\n"
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!("- `good`: listing at {}\n", f.listing("good"))),
        "{md}"
    );
    assert!(
        md.contains("### Not updated\n\n- `bad` 1.0.0 → 1.1.0: the test script of 'bad' failed"),
        "{md}"
    );
    // With the end of its log, which says why.
    assert!(md.contains("\n\n  ```text\n"), "{md}");
    assert!(md.contains("| bad says broken\n  ```\n"), "{md}");
    assert!(md.ends_with("  ```\n"), "{md}");

    // The same run from `main` again, in JSON lines, on the default branch.
    git(&f.repo, &["switch", "--quiet", "main"]);
    let run = f.update(&["--test", "--push", &ns, "--json"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let branch = git(&f.repo, &["branch", "--show-current"]);
    assert!(branch.starts_with("paks/update-20"), "{branch}");
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let bad = &lines[0];
    assert_eq!(
        (
            &bad["type"],
            &bad["name"],
            &bad["from"],
            &bad["to"],
            &bad["build"],
            &bad["test"],
            &bad["push"],
            &bad["commit"]
        ),
        (
            &"package".into(),
            &"bad".into(),
            &"1.0.0".into(),
            &"1.1.0".into(),
            &"passed".into(),
            &"failed".into(),
            &"skipped".into(),
            &serde_json::Value::Null
        )
    );
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .starts_with("the test script of `bad` failed")
    );
    assert!(
        bad["detail"].as_str().unwrap().contains("bad says broken"),
        "{bad}"
    );
    let good = &lines[1];
    assert_eq!(
        (&good["name"], &good["test"], &good["push"]),
        (&"good".into(), &"passed".into(), &"passed".into())
    );
    let good_commit = git(&f.repo, &["rev-parse", "HEAD"]);
    assert_eq!(good["commit"], good_commit.as_str());
    assert!(
        good["reference"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ns}/good@sha256:")),
        "{good}"
    );
    assert_eq!(
        lines[2],
        serde_json::json!({"type": "summary", "checked": 3, "current": 1, "updated": ["good"], "failed": ["bad"], "branch": branch})
    );

    // Running it again changes nothing: `good` is current, `bad` fails again.
    let before = git(&f.repo, &["rev-parse", "HEAD"]);
    let run = f.update(&["--test", "--push", &ns]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert_eq!(git(&f.repo, &["rev-parse", "HEAD"]), before);
    assert_eq!(git(&f.repo, &["branch", "--show-current"]), branch);
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "");
    assert_eq!(f.recipe_text("bad"), f.original("bad"));
    assert_eq!(tags(registry.addr(), "acme/bad"), Vec::<String>::new());
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("3 recipes checked: 0 updated, 1 failed, 2 current"),
        "{stdout}"
    );
}

#[test]
fn nothing_outdated_touches_no_branch_and_exits_0() {
    let f = Fixture::new();
    let main = git(&f.repo, &["rev-parse", "HEAD"]);
    let run = f.update(&["--package", "same", "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(
        json_lines(&run.stdout),
        [
            serde_json::json!({"type": "summary", "checked": 1, "current": 1, "updated": [], "failed": [], "branch": null})
        ]
    );
    assert_eq!(git(&f.repo, &["branch", "--show-current"]), "main");
    assert_eq!(git(&f.repo, &["rev-parse", "HEAD"]), main);
}

#[test]
fn without_build_the_bump_alone_is_committed() {
    let f = Fixture::new();
    // From below the work tree's top, as git's own paths are not.
    let run = f.update_in(
        &f.repo.join("recipes"),
        ".",
        &["--package", "bad", "--branch", "bumps"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(git(&f.repo, &["branch", "--show-current"]), "bumps");
    assert_eq!(
        git(&f.repo, &["log", "-1", "--format=%s"]),
        "bad 1.0.0 → 1.1.0"
    );
    assert!(f.recipe_text("bad").contains("version = \"1.1.0\""));
}

#[test]
fn a_dirty_recipe_to_update_refuses_and_is_named() {
    let f = Fixture::new();
    // A change in a recipe that is current does not stand in the way; one in a recipe
    // to update does.
    for name in ["good", "same"] {
        let file = f.repo.join("recipes").join(name).join("paks.toml");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("# local change\n");
        std::fs::write(&file, text).unwrap();
    }
    let run = f.update(&["--package", "good", "--package", "same"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error: uncommitted changes in the recipes to update: `recipes/good/paks.toml`\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: commit or stash them first"),
        "{stderr}"
    );
    assert_eq!(git(&f.repo, &["branch", "--show-current"]), "main");
    assert_eq!(git(&f.repo, &["branch", "--list"]), "* main");
    assert!(f.recipe_text("good").ends_with("# local change\n"));
}

#[test]
fn outside_a_git_work_tree_refuses_with_a_hint() {
    let env = Env::new();
    let recipes = env.dir.path().join("recipes");
    std::fs::create_dir_all(recipes.join("hello")).unwrap();
    std::fs::copy(
        common::examples().join("hello-script/paks.toml"),
        recipes.join("hello/paks.toml"),
    )
    .unwrap();
    let stderr = env.fails(&["update", recipes.to_str().unwrap()], 1);
    assert!(
        stderr.contains(&format!(
            "error: `{}` is not inside a git work tree",
            recipes.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: `paks update` commits each bump on a branch"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_package_is_refused() {
    let f = Fixture::new();
    let run = f.update(&["--package", "nope"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: no recipe of the package `nope` in the directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the recipes found are: `bad`, `good`, `same`"),
        "{stderr}"
    );
}

/// The example workflow is valid YAML, runs `paks update` as documented, and every paks
/// command and flag it uses exists.
#[test]
fn the_example_github_workflow_uses_real_commands() {
    let file = common::examples().join("ci/github-update.yml");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let workflow: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // YAML 1.1 reads the key `on` as `true`.
    let on = if workflow["on"].is_null() {
        &workflow["true"]
    } else {
        &workflow["on"]
    };
    assert!(on["schedule"][0]["cron"].is_string(), "{workflow}");
    let scripts: Vec<String> = workflow["jobs"]["update"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .map(|s| s.replace("\\\n", " "))
        .collect();
    let all = scripts.join("\n");
    assert!(
        all.contains("paks update recipes --build --test --push ghcr.io/OWNER/pkgs"),
        "{all}"
    );
    assert!(all.contains("--summary summary.md"), "{all}");
    assert!(
        all.contains("gh pr create") && all.contains("--body-file summary.md"),
        "{all}"
    );
    let mut checked = 0;
    for line in all.lines() {
        // `paks` where a command starts: first on the line, or after a pipe.
        let all_words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = all_words
            .iter()
            .enumerate()
            .position(|(i, w)| *w == "paks" && (i == 0 || all_words[i - 1] == "|"))
        else {
            continue;
        };
        let words = &all_words[at..];
        let help = std::process::Command::new(paks_bin())
            .args([words[1], "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "`paks {} --help`", words[1]);
        let help = text(&help.stdout);
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "`paks {}` has no `{flag}`:\n{help}",
                words[1]
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 2, "paks login and paks update: {all}");
}

#[test]
fn an_existing_branch_is_reused_only_when_it_descends_from_head() {
    let f = Fixture::new();
    // `old` holds work that `main` does not: someone else's branch.
    git(&f.repo, &["switch", "--quiet", "-c", "old"]);
    git(
        &f.repo,
        &["commit", "--quiet", "--allow-empty", "-m", "other work"],
    );
    git(&f.repo, &["switch", "--quiet", "main"]);
    git(
        &f.repo,
        &["commit", "--quiet", "--allow-empty", "-m", "main moved on"],
    );
    let run = f.update(&["--package", "bad", "--branch", "old"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: the branch `old` exists and does not descend from `HEAD`"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: give another `--branch`"), "{stderr}");
    assert_eq!(git(&f.repo, &["branch", "--show-current"]), "main");
    assert_eq!(f.recipe_text("bad"), f.original("bad"));

    // A branch ahead of `HEAD` (an earlier run's) is checked out and goes on.
    git(&f.repo, &["branch", "ahead"]);
    let run = f.update(&["--package", "bad", "--branch", "ahead"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("On the branch `ahead` (reused)"));
    assert_eq!(git(&f.repo, &["branch", "--show-current"]), "ahead");
    assert_eq!(
        git(&f.repo, &["log", "-2", "--format=%s"]),
        "bad 1.0.0 → 1.1.0\nmain moved on"
    );
}

#[test]
fn a_recipe_that_cannot_be_checked_is_reported_and_the_others_go_on() {
    let f = Fixture::new();
    // `gone`'s upstream listing answers 404.
    let dir = f.repo.join("recipes/gone");
    std::fs::create_dir_all(&dir).unwrap();
    let same = f.original("same").replace("same", "gone");
    std::fs::write(dir.join("paks.toml"), same).unwrap();
    git(&f.repo, &["add", "."]);
    git(&f.repo, &["commit", "--quiet", "-m", "gone"]);
    let run = f.update(&["--package", "gone", "--package", "bad", "--json"]);
    // The listing's failure is the network's: exit 2, after `bad` was updated.
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    let lines = json_lines(&run.stdout);
    let gone = lines.iter().find(|l| l["name"] == "gone").unwrap();
    assert_eq!(
        (&gone["check"], &gone["to"], &gone["commit"]),
        (
            &"failed".into(),
            &serde_json::Value::Null,
            &serde_json::Value::Null
        )
    );
    assert!(gone["error"].as_str().unwrap().contains("/gone/"), "{gone}");
    assert_eq!(lines.last().unwrap()["updated"], serde_json::json!(["bad"]));
    assert_eq!(lines.last().unwrap()["failed"], serde_json::json!(["gone"]));
    assert_eq!(
        git(&f.repo, &["log", "-1", "--format=%s"]),
        "bad 1.0.0 → 1.1.0"
    );
}
