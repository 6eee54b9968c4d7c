//! The everyday project loop, as uv and pixi users expect it: `paks run CMD` (lock, sync,
//! run, exit status passed through), `paks shell -c`, `paks add` writing caret
//! requirements, `paks remove` of dependencies, `paks lock --upgrade[-package]`,
//! `paks tree` and `paks outdated`, against a real signed `file://` repository of packages
//! built here.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use common::{Env, text};

/// A static repository (a directory of `.pak` files with a signed `index.yaml`), and the
/// builder that made its packages.
struct Repo {
    builder: Env,
    dir: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

impl Repo {
    /// lib 1.0.0; mid 1.0.0 (needs lib); tool 1.0.0 and app 1.0.0 (need mid); other 1.0.0.
    fn new() -> Self {
        let builder = Env::new();
        let dir = builder.dir.path().join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        let key = builder.dir.path().join("key.pem");
        builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        let public = key.with_extension("pub");
        let repo = Self {
            builder,
            dir,
            key,
            public,
        };
        repo.publish("lib", "1.0.0", &[]);
        repo.publish("mid", "1.0.0", &["lib"]);
        repo.publish("tool", "1.0.0", &["mid"]);
        repo.publish("app", "1.0.0", &["mid"]);
        repo.publish("other", "1.0.0", &[]);
        repo.index();
        repo
    }

    /// Builds `name` `version` (a `bin/NAME` that prints both; each dependency `^1`), and
    /// puts it in the repository. Dependencies pin what the builder has installed.
    fn publish(&self, name: &str, version: &str, deps: &[&str]) {
        let recipe = self.builder.dir.path().join(format!("{name}-{version}"));
        std::fs::create_dir_all(&recipe).unwrap();
        let mut needs = String::new();
        for d in deps {
            needs.push_str(d);
            needs.push_str(" = \"^1\"\n");
        }
        std::fs::write(
            recipe.join("paks.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\n\n[dependencies]\n{needs}\n[build]\nscript = '''\nmkdir -p \"$PREFIX/bin\"\nprintf '#!/bin/sh\\necho {name} {version}\\n' > \"$PREFIX/bin/{name}\"\nchmod +x \"$PREFIX/bin/{name}\"\n'''\n"
            ),
        )
        .unwrap();
        let pak = self.builder.build_dir(&recipe);
        let pak = Path::new(pak.trim());
        std::fs::copy(pak, self.dir.join(pak.file_name().unwrap())).unwrap();
    }

    /// Signs a new index of the directory.
    fn index(&self) {
        self.builder.ok(&[
            "index",
            "build",
            self.dir.to_str().unwrap(),
            "--sign",
            self.key.to_str().unwrap(),
        ]);
    }

    /// A user with this repository configured and an empty project `proj`.
    fn user(&self) -> (Env, PathBuf) {
        let user = Env::new();
        user.ok(&[
            "repo",
            "add",
            "local",
            &format!("file://{}", self.dir.display()),
            "--key",
            self.public.to_str().unwrap(),
        ]);
        let proj = user.dir.path().join("proj");
        user.ok(&["env", "init", proj.to_str().unwrap()]);
        (user, proj)
    }
}

/// `paks ARGS` run in `dir`.
fn run_in(user: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    user.cmd().current_dir(dir).args(args).output().unwrap()
}

fn ok_in(user: &Env, dir: &Path, args: &[&str]) -> String {
    let out = run_in(user, dir, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn manifest(proj: &Path) -> String {
    std::fs::read_to_string(proj.join("paks.toml")).unwrap()
}

fn lock(proj: &Path) -> String {
    std::fs::read_to_string(proj.join("paks.lock")).unwrap()
}

/// The `(name, version)` of every package in the project's lock.
fn locked(proj: &Path) -> Vec<(String, String)> {
    let lock: toml_edit::DocumentMut = lock(proj).parse().unwrap();
    let Some(packages) = lock["package"].as_array_of_tables() else {
        // No packages: `package = []`.
        assert!(lock["package"].as_array().unwrap().is_empty());
        return Vec::new();
    };
    packages
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn run_in_a_project_locks_syncs_and_passes_the_exit_status_through() {
    let repo = Repo::new();
    let (user, proj) = repo.user();
    // A hand-written requirement, never locked: `paks run` locks and syncs first.
    let mut m = manifest(&proj);
    m.push_str("tool = \"^1\"\n");
    std::fs::write(proj.join("paks.toml"), m).unwrap();
    let sub = proj.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    assert_eq!(ok_in(&user, &sub, &["run", "tool"]), "tool 1.0.0\n");
    assert!(lock(&proj).contains("name = \"mid\""));
    assert!(proj.join(".paks/view/bin/tool").exists());
    // The command's own flags are its own; `PAKS_ENV` names the project.
    assert_eq!(
        ok_in(&user, &sub, &["run", "sh", "-c", "echo \"$PAKS_ENV\"; mid"]),
        format!("{}\nmid 1.0.0\n", proj.display())
    );
    // After `--`, everything is the command, a later `--` too.
    assert_eq!(
        ok_in(
            &user,
            &sub,
            &["run", "--", "sh", "-c", "echo $1", "--", "x"]
        ),
        "x\n"
    );
    // The exit status is the command's: a code, or the signal that ended it.
    let out = run_in(&user, &sub, &["run", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let out = run_in(&user, &sub, &["run", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.signal(), Some(15), "{:?}", out.status);
    // With `--project`, from anywhere.
    let elsewhere = user.dir.path();
    assert_eq!(
        ok_in(
            &user,
            elsewhere,
            &["run", "--project", proj.to_str().unwrap(), "tool"]
        ),
        "tool 1.0.0\n"
    );
    // The package form keeps working: packages, `--`, the command.
    assert_eq!(
        ok_in(&user, elsewhere, &["run", "tool", "--", "tool"]),
        "tool 1.0.0\n"
    );
    let out = run_in(
        &user,
        elsewhere,
        &["run", "tool", "--", "sh", "-c", "exit 3"],
    );
    assert_eq!(out.status.code(), Some(3));
    // Outside a project, a bare command says how to name packages.
    let out = run_in(&user, elsewhere, &["run", "tool"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no project `paks.toml`"), "{err}");
    assert!(err.contains("paks run PACKAGE... -- COMMAND..."), "{err}");
}

#[test]
fn shell_c_runs_in_the_environment_and_passes_the_exit_status_through() {
    let repo = Repo::new();
    let (user, proj) = repo.user();
    ok_in(&user, &proj, &["add", "tool"]);
    let out = user
        .cmd()
        .current_dir(&proj)
        .env("SHELL", "/bin/sh")
        .args(["shell", "-c", "tool; exit 5"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "tool 1.0.0\n");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    // Not an error of paks: nothing is printed about the shell.
    assert!(
        !text(&out.stderr).contains("error"),
        "{}",
        text(&out.stderr)
    );
    let out = user
        .cmd()
        .current_dir(&proj)
        .env("SHELL", "/bin/sh")
        .args(["shell", "-c", "true"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // An interactive shell's exit status is passed through too.
    let mut shell = user
        .cmd()
        .current_dir(&proj)
        .env("SHELL", "/bin/sh")
        .arg("shell")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut shell.stdin.take().unwrap(), b"mid; exit 4\n").unwrap();
    let out = shell.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "mid 1.0.0\n");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn add_writes_a_caret_requirement_unless_one_is_given() {
    let repo = Repo::new();
    let (user, proj) = repo.user();
    ok_in(&user, &proj, &["add", "tool", "other@>=1.0"]);
    let m = manifest(&proj);
    assert!(m.contains("tool = \"^1.0.0\"\n"), "{m}");
    assert!(m.contains("other = \">=1.0\"\n"), "{m}");
    // The lock was made from what paks.toml says now: locking again changes nothing.
    let before = lock(&proj);
    assert!(before.contains("\"tool@^1.0.0\""), "{before}");
    let out = run_in(&user, &proj, &["lock"]);
    assert!(
        text(&out.stderr).contains("(paks.lock unchanged)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(lock(&proj), before);
}

#[test]
fn remove_drops_dependencies_in_a_project_and_installed_packages_elsewhere() {
    let repo = Repo::new();
    let (user, proj) = repo.user();
    ok_in(&user, &proj, &["add", "tool", "other"]);
    // Comments and the layout of the rest survive the edit.
    let m = manifest(&proj).replace("other = \"^1.0.0\"\n", "other   = \"^1.0.0\" # by hand\n");
    std::fs::write(proj.join("paks.toml"), &m).unwrap();
    ok_in(&user, &proj, &["lock"]);
    let out = run_in(&user, &proj, &["remove", "tol"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("`tol` is not a dependency"), "{err}");
    assert!(err.contains("did you mean `tool`?"), "{err}");
    assert!(err.contains("paks remove --installed tol"), "{err}");
    assert_eq!(manifest(&proj), m);
    ok_in(&user, &proj, &["remove", "tool"]);
    assert_eq!(manifest(&proj), m.replace("tool = \"^1.0.0\"\n", ""));
    assert_eq!(locked(&proj), pairs(&[("other", "1.0.0")]));
    assert!(!proj.join(".paks/view/bin/tool").exists());
    assert!(proj.join(".paks/view/bin/other").exists());
    // The packages stay installed: `--installed` removes them from the store, in a project too.
    let list = user.ok(&["list"]);
    assert!(list.contains("tool"), "{list}");
    ok_in(&user, &proj, &["remove", "--installed", "tool"]);
    assert!(!user.ok(&["list"]).contains("tool "));
    // The last one too: an empty lock and an empty environment.
    ok_in(&user, &proj, &["remove", "other"]);
    assert_eq!(locked(&proj), pairs(&[]));
    assert!(!proj.join(".paks/view/bin/other").exists());
    // In the project, a name that is only installed is not taken for a dependency.
    let out = run_in(&user, &proj, &["remove", "mid"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(user.ok(&["list"]).contains("mid "));
    // Outside a project, `paks remove` removes installed packages, as before; a recipe's
    // `paks.toml` (it has `[dependencies]` too) is no project.
    let recipe = repo.builder.dir.path().join("mid-1.0.0");
    let before = std::fs::read_to_string(recipe.join("paks.toml")).unwrap();
    ok_in(&user, &recipe, &["remove", "mid"]);
    assert_eq!(
        std::fs::read_to_string(recipe.join("paks.toml")).unwrap(),
        before
    );
    assert!(!user.ok(&["list"]).contains("mid "));
}

#[test]
fn lock_upgrade_outdated_and_upgrade_package() {
    let repo = Repo::new();
    let (user, proj) = repo.user();
    ok_in(&user, &proj, &["add", "tool", "other"]);
    let first = pairs(&[
        ("lib", "1.0.0"),
        ("mid", "1.0.0"),
        ("other", "1.0.0"),
        ("tool", "1.0.0"),
    ]);
    assert_eq!(locked(&proj), first);
    assert_eq!(ok_in(&user, &proj, &["outdated"]), "");
    // New versions: tool 1.1.0 pins mid 1.1.0, which pins lib 1.1.0; tool 2.0.0 is
    // outside `^1.0.0`.
    repo.publish("lib", "1.1.0", &[]);
    repo.publish("mid", "1.1.0", &["lib"]);
    repo.publish("tool", "1.1.0", &["mid"]);
    repo.publish("tool", "2.0.0", &["mid"]);
    repo.publish("other", "1.1.0", &[]);
    repo.index();
    assert_eq!(
        ok_in(&user, &proj, &["outdated"]),
        "name   current    allowed    newest     repository\n\
         lib    1.0.0      1.1.0      1.1.0      local\n\
         mid    1.0.0      1.1.0      1.1.0      local\n\
         other  1.0.0      1.1.0      1.1.0      local\n\
         tool   1.0.0      1.1.0      2.0.0      local\n"
    );
    let json = ok_in(&user, &proj, &["outdated", "--json"]);
    let tool: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["name"] == "tool")
        .unwrap();
    assert_eq!(
        tool,
        serde_json::json!({"type": "outdated", "name": "tool", "current": "1.0.0", "allowed": "1.1.0", "newest": "2.0.0", "repository": "local"})
    );
    // A plain lock keeps what is locked.
    ok_in(&user, &proj, &["lock"]);
    assert_eq!(locked(&proj), first);
    // One package, and what it forces; `other` stays.
    let out = run_in(&user, &proj, &["lock", "--upgrade-package", "tol"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("did you mean `tool`?"));
    ok_in(&user, &proj, &["lock", "--upgrade-package", "tool"]);
    assert_eq!(
        locked(&proj),
        pairs(&[
            ("lib", "1.1.0"),
            ("mid", "1.1.0"),
            ("other", "1.0.0"),
            ("tool", "1.1.0"),
        ])
    );
    // Everything, within the requirements.
    ok_in(&user, &proj, &["lock", "--upgrade"]);
    assert_eq!(
        locked(&proj),
        pairs(&[
            ("lib", "1.1.0"),
            ("mid", "1.1.0"),
            ("other", "1.1.0"),
            ("tool", "1.1.0"),
        ])
    );
    ok_in(&user, &proj, &["sync"]);
    let out = ok_in(&user, &proj, &["outdated"]);
    assert_eq!(
        out,
        "name  current    allowed    newest     repository\n\
         tool  1.1.0      1.1.0      2.0.0      local\n"
    );
    // Installed packages: what `paks install NAME` would take now.
    user.ok(&["install", "other@=1.0.0"]);
    let out = user.ok(&["outdated", "--installed"]);
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["other", "1.0.0", "1.1.0", "1.1.0", "-"]),
        "{out}"
    );
}

#[test]
fn tree_of_the_lock_and_of_installed_packages() {
    let repo = Repo::new();
    let (user, proj) = repo.user();
    ok_in(&user, &proj, &["add", "tool", "app"]);
    assert_eq!(
        ok_in(&user, &proj, &["tree"]),
        "app 1.0.0\n\
         └── mid 1.0.0\n    \
             └── lib 1.0.0\n\
         \n\
         tool 1.0.0\n\
         └── mid 1.0.0 (*)\n"
    );
    assert_eq!(
        ok_in(&user, &proj, &["tree", "--invert", "lib"]),
        "lib 1.0.0\n\
         └── mid 1.0.0\n    \
             ├── app 1.0.0\n    \
             └── tool 1.0.0\n"
    );
    assert_eq!(
        ok_in(&user, &proj, &["tree", "--depth", "1"]),
        "app 1.0.0\n\
         └── mid 1.0.0\n\
         \n\
         tool 1.0.0\n\
         └── mid 1.0.0\n"
    );
    let json = ok_in(&user, &proj, &["tree", "--json"]);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "tree");
    assert_eq!(lines[0]["name"], "app");
    assert_eq!(
        lines[0]["dependencies"][0]["dependencies"][0]["name"],
        "lib"
    );
    assert_eq!(lines[1]["dependencies"][0]["name"], "mid");
    assert_eq!(lines[1]["dependencies"][0]["repeated"], true);
    let inverted: serde_json::Value =
        serde_json::from_str(&ok_in(&user, &proj, &["tree", "-i", "lib", "--json"])).unwrap();
    assert_eq!(inverted["dependents"][0]["name"], "mid");
    assert_eq!(inverted["dependents"][0]["dependents"][1]["name"], "tool");
    // One package's subtree, a dependency too.
    assert_eq!(
        ok_in(&user, &proj, &["tree", "mid"]),
        "mid 1.0.0\n\
         └── lib 1.0.0\n"
    );
    let out = run_in(&user, &proj, &["tree", "--invert", "lip"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("did you mean `lib`?"));
    // Installed packages, from anywhere: all of them, or one.
    assert_eq!(
        user.ok(&["tree", "--installed", "tool"]),
        "tool 1.0.0\n\
         └── mid 1.0.0\n    \
             └── lib 1.0.0\n"
    );
    let all = user.ok(&["tree", "--installed"]);
    assert!(
        all.contains("app 1.0.0\n") && all.contains("tool 1.0.0\n"),
        "{all}"
    );
}
