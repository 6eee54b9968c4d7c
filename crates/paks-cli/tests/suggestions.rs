//! "Did you mean" for package names looked up in the repositories: `paks install`, `add`,
//! `pull`, `info` and `search` of a misspelt name name the closest names the repositories
//! have, against a real `paks serve` with a signed index.

mod common;

use common::{Env, ScriptRepo};

/// A user root with the fixture's repository added as `acme`.
fn user_of(repo: &ScriptRepo) -> Env {
    let user = Env::new();
    repo.add_to(&user, "acme");
    user
}

#[test]
fn misspelt_names_get_the_closest_repository_names() {
    let repo = ScriptRepo::new();
    let user = user_of(&repo);
    let project = user.dir.path().join("project");
    user.ok(&["env", "init", project.to_str().unwrap()]);
    for args in [
        &["install", "hello-scrpt"][..],
        &["install", "hello-scrpt@^0.2"],
        &["add", "hello-scrpt", "--project", project.to_str().unwrap()],
        &["pull", "hello-scrpt"],
        &["info", "hello-scrpt"],
    ] {
        let err = user.fails(args, 1);
        assert!(
            err.contains("did you mean `hello-script`?"),
            "{args:?}: {err}"
        );
        // An unknown name is unknown everywhere: not reported as one platform's failure.
        assert!(!err.contains("cannot resolve for"), "{args:?}: {err}");
    }
    // Nothing was written or installed on the way.
    assert!(user.ok(&["list"]).is_empty());
    let manifest = std::fs::read_to_string(project.join("paks.toml")).unwrap();
    assert!(!manifest.contains("hello"), "{manifest}");
}

#[test]
fn names_far_from_any_get_no_suggestion() {
    let repo = ScriptRepo::new();
    let user = user_of(&repo);
    for args in [&["install", "python"][..], &["info", "python"]] {
        let err = user.fails(args, 1);
        assert!(!err.contains("did you mean"), "{args:?}: {err}");
    }
}

#[test]
fn a_search_without_hits_suggests_close_names() {
    let repo = ScriptRepo::new();
    let user = user_of(&repo);
    let out = user.cmd().args(["search", "helo-scirpt"]).output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "no hit, no data");
    let err = common::text(&out.stderr);
    assert!(err.contains("No package matches `helo-scirpt`"), "{err}");
    assert!(err.contains("did you mean `hello-script`?"), "{err}");

    // `--json`: the summary line, which ends every search, carries the suggestions.
    let json = user.ok(&["search", "helo-scirpt", "--json"]);
    let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(line["type"], "search", "{json}");
    assert_eq!(line["hits"], 0, "{json}");
    assert_eq!(line["suggestions"], serde_json::json!(["hello-script"]));
    let json = user.ok(&["search", "hello", "--json"]);
    let types: Vec<String> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
        .collect();
    assert_eq!(types, [r#""package""#, r#""search""#], "{json}");

    // A stranger gets no suggestion.
    let out = user.cmd().args(["search", "python"]).output().unwrap();
    let err = common::text(&out.stderr);
    assert!(err.contains("No package matches `python`"), "{err}");
    assert!(!err.contains("did you mean"), "{err}");
}
