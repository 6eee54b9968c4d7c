//! Locks that never lie: `paks sync`, `paks env` and `paks shell` notice a `paks.lock`
//! that no longer matches `paks.toml` and re-lock (or, with `--locked`, refuse); strict
//! project files; recipes are not projects.

mod common;

use std::path::Path;

use common::{Env, ScriptRepo};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// `paks.toml` with the `hello-script` line set to `req`, or removed for `None`.
fn with_hello_script(manifest: &str, req: Option<&str>) -> String {
    let mut out = String::new();
    for line in manifest.lines() {
        if line.starts_with("hello-script = ") {
            if let Some(req) = req {
                out.push_str("hello-script = \"");
                out.push_str(req);
                out.push_str("\"\n");
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A user with the repository as `acme` and a project locked and synced with hello-script.
fn synced_project(repo: &ScriptRepo) -> (Env, std::path::PathBuf) {
    let user = Env::new();
    repo.add_to(&user, "acme");
    let proj = user.dir.path().join("proj");
    user.ok(&["env", "init", proj.to_str().unwrap()]);
    user.ok(&["add", "hello-script", "--project", proj.to_str().unwrap()]);
    assert!(proj.join(".paks/view/bin/hello-script").exists());
    (user, proj)
}

#[test]
fn a_stale_lock_is_relocked_or_refused_never_installed() {
    let repo = ScriptRepo::new();
    let (user, proj) = synced_project(&repo);
    let p = proj.to_str().unwrap();
    let manifest = proj.join("paks.toml");
    let lock = read(&proj.join("paks.lock"));

    // A requirement nothing satisfies: the lock is stale, and re-locking fails (exit 1)
    // instead of installing the old lock.
    let edited = with_hello_script(&read(&manifest), Some("^9"));
    assert!(edited.contains("hello-script = \"^9\""), "{edited}");
    write(&manifest, &edited);
    let err = user.fails(&["sync", "--project", p], 1);
    assert!(err.contains("hello-script"), "{err}");
    assert_eq!(
        read(&proj.join("paks.lock")),
        lock,
        "a failed re-lock writes nothing"
    );
    // `paks env` and `paks shell` check too.
    user.fails(&["env", "--project", p], 1);
    user.fails(&["shell", "--project", p], 1);

    // `--locked` names what differs; `--frozen` installs the lock as it is.
    let err = user.fails(&["sync", "--locked", "--project", p], 1);
    assert!(
        err.contains("`hello-script@^9`") && err.contains("`hello-script@^0.2.0`"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    user.ok(&["sync", "--frozen", "--project", p]);
    let err = user.fails(&["env", "--locked", "--project", p], 1);
    assert!(err.contains("out of date"), "{err}");
    // Project `paks run` too: it never runs in the environment of a stale lock.
    let err = user.fails(
        &["run", "--locked", "--project", p, "--", "hello-script"],
        1,
    );
    assert!(err.contains("out of date"), "{err}");
    user.fails(&["run", "--project", p, "--", "hello-script"], 1);
    let out = user
        .cmd()
        .env("PAKS_LOCKED", "1")
        .args(["sync", "--project", p])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "PAKS_LOCKED=1 is --locked");
    assert!(common::text(&out.stderr).contains("out of date"));

    // Removing the dependency: sync re-locks to nothing and the view is empty.
    write(&manifest, &with_hello_script(&edited, None));
    user.ok(&["sync", "--project", p]);
    let relocked = read(&proj.join("paks.lock"));
    assert!(!relocked.contains("hello-script"), "{relocked}");
    assert!(!proj.join(".paks/view/bin/hello-script").exists());

    // Adding it back by hand: `paks env` re-locks and syncs before printing.
    write(
        &manifest,
        &format!("{}hello-script = \"^0.2\"\n", read(&manifest)),
    );
    let env = user.ok(&["env", "--project", p]);
    assert!(env.contains("HELLO_SCRIPT_DATA"), "{env}");
    let relocked = read(&proj.join("paks.lock"));
    assert!(relocked.contains("hello-script@^0.2"), "{relocked}");
    // Now fresh: `--locked` passes.
    user.ok(&["sync", "--locked", "--project", p]);
}

#[test]
fn unknown_tables_and_keys_in_a_project_are_errors_with_a_suggestion() {
    let repo = ScriptRepo::new();
    let user = Env::new();
    repo.add_to(&user, "acme");
    let proj = user.dir.path().join("typo");
    std::fs::create_dir_all(&proj).unwrap();
    let p = proj.to_str().unwrap();
    // Today's mistake: a misspelt table resolved nothing and succeeded.
    write(
        &proj.join("paks.toml"),
        "[dependecies]\nhello-script = \"*\"\n",
    );
    let err = user.fails(&["lock", "--project", p], 1);
    assert!(err.contains("`[dependecies]`"), "{err}");
    assert!(err.contains("did you mean `[dependencies]`"), "{err}");
    assert!(!proj.join("paks.lock").exists());
    write(
        &proj.join("paks.toml"),
        "[project]\nname = \"x\"\nplatform = [\"linux/amd64\"]\n",
    );
    let err = user.fails(&["sync", "--project", p], 1);
    assert!(
        err.contains("`platform`") && err.contains("`platforms`"),
        "{err}"
    );
    // `[environment]`, the old name of `[project]`, is still read.
    write(
        &proj.join("paks.toml"),
        "[environment]\nname = \"x\"\n[dependencies]\nhello-script = \"*\"\n",
    );
    user.ok(&["sync", "--project", p]);
    assert!(proj.join(".paks/view/bin/hello-script").exists());
    // `paks env init` writes `[project]`.
    let fresh = user.dir.path().join("fresh");
    user.ok(&["env", "init", fresh.to_str().unwrap()]);
    assert!(read(&fresh.join("paks.toml")).contains("[project]"));
}

#[test]
fn a_recipe_is_not_a_project() {
    let user = Env::new();
    // A recipe with `[dependencies]`: before, `paks add` in it turned it into a project.
    let recipe = user.dir.path().join("hello");
    std::fs::create_dir_all(&recipe).unwrap();
    let text = read(&common::examples().join("hello/paks.toml"));
    write(&recipe.join("paks.toml"), &text);
    let out = user
        .cmd()
        .args(["add", "hello-script"])
        .current_dir(&recipe)
        .output()
        .unwrap();
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a package recipe"), "{err}");
    assert!(err.contains("paks env init"), "{err}");
    assert_eq!(
        read(&recipe.join("paks.toml")),
        text,
        "the recipe is untouched"
    );
    // Walking up from inside a recipe stops at it with the same message.
    let src = recipe.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let out = user
        .cmd()
        .args(["sync"])
        .current_dir(&src)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(common::text(&out.stderr).contains("is a package recipe"));
}

#[test]
fn remove_in_a_broken_project_is_an_error_not_a_store_removal() {
    let repo = ScriptRepo::new();
    let (user, proj) = synced_project(&repo);
    let manifest = proj.join("paks.toml");
    write(
        &manifest,
        &read(&manifest).replace("[dependencies]", "[dependecies]"),
    );
    let out = user
        .cmd()
        .args(["remove", "hello-script"])
        .current_dir(&proj)
        .output()
        .unwrap();
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("did you mean `[dependencies]`"), "{err}");
    assert!(
        user.ok(&["list"]).contains("hello-script"),
        "the installed package stays"
    );
}
