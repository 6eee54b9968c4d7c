//! Where things live: the user configuration (`$XDG_CONFIG_HOME/paks/config.toml`) shared
//! by every install root, `paks config get|set|list`, the one download cache per user
//! (`$XDG_CACHE_HOME/paks`) shared between roots, `paks cache dir|info|prune|clean`, and
//! `paks gc` pruning it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Env, text};

/// A signed static repository (`file://`) of libgreet, hello and hello-script.
struct Site {
    builder: Env,
    dir: PathBuf,
    public: String,
}

impl Site {
    fn new() -> Self {
        let builder = Env::new();
        for example in ["libgreet", "hello", "hello-script"] {
            builder.build(example);
        }
        let key = builder.dir.path().join("key.pem");
        let public = builder
            .ok(&["key", "generate", "--out", key.to_str().unwrap()])
            .trim()
            .to_owned();
        let dir = builder.dir.path().join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&builder.out).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pak") {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        builder.ok(&[
            "index",
            "build",
            dir.to_str().unwrap(),
            "--sign",
            key.to_str().unwrap(),
        ]);
        Self {
            builder,
            dir,
            public,
        }
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// A user: a home with XDG directories, and any number of install roots that use them.
struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn config_file(&self) -> PathBuf {
        self.home.path().join("config/paks/config.toml")
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache/paks")
    }

    fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_file().parent().unwrap()).unwrap();
        std::fs::write(self.config_file(), text).unwrap();
    }

    /// `paks` in `root`, with this user's defaults (no per-test overrides).
    fn cmd(&self, root: &Env) -> Command {
        let mut c = root.cmd();
        c.env_remove("PAKS_CACHE_DIR")
            .env_remove("PAKS_CONFIG")
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"));
        c
    }

    fn run(&self, root: &Env, args: &[&str]) -> Output {
        self.cmd(root).args(args).output().unwrap()
    }

    fn ok(&self, root: &Env, args: &[&str]) -> String {
        let out = self.run(root, args);
        assert!(
            out.status.success(),
            "paks {args:?} failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn fails(&self, root: &Env, args: &[&str], code: i32) -> String {
        let out = self.run(root, args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "paks {args:?}: stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    fn cache_info(&self, root: &Env) -> serde_json::Value {
        serde_json::from_str(&self.ok(root, &["cache", "info", "--json"])).unwrap()
    }
}

fn repository_toml(name: &str, url: &str, key: &str) -> String {
    format!("[[repository]]\nname = \"{name}\"\nurl = \"{url}\"\nkeys = [\"{key}\"]\n")
}

/// Bytes of the regular files under `dir` (each inode once), but lock files (their
/// content is the last holder's pid).
fn disk_bytes(dir: &Path) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                todo.push(e.path());
            } else if meta.is_file()
                && e.path().extension().is_none_or(|x| x != "lock")
                && seen.insert(std::os::unix::fs::MetadataExt::ino(&meta))
            {
                total += meta.len();
            }
        }
    }
    total
}

#[test]
fn a_repository_in_the_user_config_serves_every_root_from_one_cache() {
    let site = Site::new();
    let user = User::new();
    user.write_config(&repository_toml("site", &site.url(), &site.public));
    let (first, second) = (Env::new(), Env::new());
    assert_eq!(
        user.ok(&first, &["cache", "dir"]).trim(),
        user.cache_dir().to_str().unwrap()
    );
    let listed = user.ok(&first, &["repo", "list", "--json"]);
    let repo: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(repo["name"], "site");
    assert_eq!(repo["scope"], "user");

    user.ok(&first, &["install", "hello"]);
    assert_eq!(
        user.ok(&first, &["run", "hello", "--", "hello"]),
        "Hello, world!\n"
    );
    let info = user.cache_info(&first);
    assert_eq!(info["kinds"]["paks"]["entries"], 2, "{info}");
    assert!(
        !first.root.join("cache/paks").exists(),
        "the root keeps no copy of its own"
    );
    // Another root of the same user installs from the cache: offline works.
    let out = user.run(&second, &["install", "--offline", "hello"]);
    assert!(
        !out.status.success(),
        "no cached index in a new root yet: {}",
        text(&out.stderr)
    );
    user.ok(&second, &["repo", "update"]);
    std::fs::rename(&site.dir, site.dir.with_extension("gone")).unwrap();
    user.ok(&second, &["install", "--offline", "hello"]);
    assert_eq!(
        user.ok(&second, &["run", "hello", "--", "hello"]),
        "Hello, world!\n"
    );
    assert_eq!(user.cache_info(&second), info, "nothing was fetched twice");
}

#[test]
fn the_roots_repositories_come_before_the_users_and_shadow_them_by_name() {
    let user = User::new();
    user.write_config(&format!(
        "{}{}",
        repository_toml("shared", "file:///from-user", "paks-ed25519 AAAA"),
        repository_toml("extra", "file:///extra", "paks-ed25519 AAAA")
    ));
    let root = Env::new();
    std::fs::create_dir_all(&root.root).unwrap();
    std::fs::write(
        root.root.join("repos.toml"),
        repository_toml("shared", "file:///from-root", "paks-ed25519 AAAA"),
    )
    .unwrap();
    let listed: Vec<serde_json::Value> = user
        .ok(&root, &["repo", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String, String)> = listed
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["url"].as_str().unwrap().to_owned(),
                r["scope"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("shared".into(), "file:///from-root".into(), "root".into()),
            ("extra".into(), "file:///extra".into(), "user".into()),
        ]
    );
}

#[test]
fn config_set_get_and_list_keep_the_file_and_say_where_values_come_from() {
    let user = User::new();
    let root = Env::new();
    user.write_config("# my settings\ninsecure = [\"registry.invalid:5000\"] # the lab\n");
    user.ok(&root, &["config", "set", "defaults.jobs", "3"]);
    user.ok(
        &root,
        &["config", "set", "forge.\"github.com\".registry", "ghcr.io"],
    );
    let file = std::fs::read_to_string(user.config_file()).unwrap();
    assert_eq!(
        file,
        "# my settings\ninsecure = [\"registry.invalid:5000\"] # the lab\n\n[defaults]\njobs = 3\n\n[forge.\"github.com\"]\nregistry = \"ghcr.io\"\n"
    );
    assert_eq!(user.ok(&root, &["config", "get", "defaults.jobs"]), "3\n");
    assert_eq!(
        user.ok(&root, &["config", "get", "forge.\"github.com\".registry"]),
        "ghcr.io\n"
    );
    let shown = user
        .ok(&root, &["config", "list"])
        .replace(user.home.path().to_str().unwrap(), "[HOME]");
    insta::assert_snapshot!(shown, @r#"
    defaults.jobs = 3  # [HOME]/config/paks/config.toml
    insecure = ["registry.invalid:5000"]  # [HOME]/config/paks/config.toml
    cache.dir = "[HOME]/cache/paks"  # default
    cache.max-age = "30d"  # default
    forge."github.com".registry = "ghcr.io"  # [HOME]/config/paks/config.toml
    "#);
    let list = |extra: &[(&str, &str)]| -> Vec<serde_json::Value> {
        let mut c = user.cmd(&root);
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c.args(["config", "list", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let find = |all: &[serde_json::Value], key: &str| {
        all.iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no `{key}` in {all:?}"))
            .clone()
    };
    let file_name = user.config_file().display().to_string();
    let all = list(&[]);
    assert!(all.iter().all(|s| s["type"] == "config"), "{all:?}");
    let jobs = find(&all, "defaults.jobs");
    assert_eq!(
        (&jobs["value"], jobs["origin"].as_str()),
        (&serde_json::json!(3), Some(file_name.as_str()))
    );
    let dir = find(&all, "cache.dir");
    assert_eq!(dir["value"], user.cache_dir().to_str().unwrap());
    assert_eq!(dir["origin"], "default");
    assert_eq!(find(&all, "cache.max-age")["value"], "30d");
    // The environment wins over the file, and says so.
    let all = list(&[("PAKS_JOBS", "5"), ("PAKS_CACHE_DIR", "/elsewhere")]);
    let jobs = find(&all, "defaults.jobs");
    assert_eq!(
        (&jobs["value"], jobs["origin"].as_str()),
        (&serde_json::json!(5), Some("env PAKS_JOBS"))
    );
    assert_eq!(find(&all, "cache.dir")["origin"], "env PAKS_CACHE_DIR");

    // Nothing unknown or invalid reaches the file.
    let err = user.fails(&root, &["config", "set", "defaults.colour", "blue"], 1);
    assert!(err.contains("colour") && err.contains(&file_name), "{err}");
    let err = user.fails(&root, &["config", "set", "cache.max-age", "a while"], 1);
    assert!(
        err.contains("cache.max-age") && err.contains("a while"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(user.config_file()).unwrap(), file);
    let err = user.fails(&root, &["config", "get", "defaults.registry"], 1);
    assert!(err.contains("`defaults.registry` is not set"), "{err}");
}

#[test]
fn an_unknown_key_in_the_user_config_is_an_error_naming_the_file_and_key() {
    let user = User::new();
    let root = Env::new();
    user.write_config("[defaults]\njobs = 2\nregistyr = \"ghcr.io\"\n");
    let err = user.fails(&root, &["list"], 1);
    assert!(
        err.contains(user.config_file().to_str().unwrap()) && err.contains("registyr"),
        "{err}"
    );
    // `paks config` still runs, to show and mend it.
    user.ok(&root, &["config", "list"]);
}

#[test]
fn gc_and_cache_prune_keep_recent_downloads_and_drop_them_by_policy() {
    let site = Site::new();
    let user = User::new();
    user.write_config(&repository_toml("site", &site.url(), &site.public));
    let root = Env::new();
    user.ok(&root, &["install", "hello", "hello-script"]);
    let cached = user.cache_info(&root);
    let cached_bytes = cached["size"].as_u64().unwrap();
    assert_eq!(cached["kinds"]["paks"]["entries"], 3, "{cached}");
    assert!(cached_bytes > 0);
    // The default keeps what was used within 30 days, here and in what a root made before
    // the shared cache kept in its own `cache/` (collected by the same rule).
    let legacy = root.root.join("cache/blobs/sha256/0123abcd");
    std::fs::write(&legacy, [0; 100]).unwrap();
    let touched = Command::new("touch")
        .args(["-d", "40 days ago"])
        .arg(&legacy)
        .status()
        .unwrap();
    assert!(touched.success());
    let gc: serde_json::Value = serde_json::from_str(&user.ok(&root, &["gc", "--json"])).unwrap();
    assert!(!legacy.exists());
    assert_eq!(gc["cache"]["removed"], 1, "{gc}");
    assert_eq!(gc["cache"]["freed"], 100, "{gc}");
    assert_eq!(gc["cache"]["size"], cached_bytes, "{gc}");
    // A size bound keeps the most recently used, and a dry run keeps everything.
    let dry: serde_json::Value = serde_json::from_str(&user.ok(
        &root,
        &["cache", "prune", "--max-size", "1", "--dry-run", "--json"],
    ))
    .unwrap();
    assert_eq!(dry["type"], "cache-prune");
    assert_eq!(dry["removed"].as_array().unwrap().len(), 3, "{dry}");
    assert_eq!(dry["freed"], cached_bytes);
    assert_eq!(user.cache_info(&root)["size"], cached_bytes);
    // `[cache] max-age = "0"`: gc keeps nothing the installed packages no longer need.
    user.ok(&root, &["config", "set", "cache.max-age", "0"]);
    let before = disk_bytes(&root.root) + disk_bytes(&user.cache_dir());
    let gc: serde_json::Value = serde_json::from_str(&user.ok(&root, &["gc", "--json"])).unwrap();
    assert_eq!(gc["cache"]["freed"], cached_bytes, "{gc}");
    let after = disk_bytes(&root.root) + disk_bytes(&user.cache_dir());
    assert_eq!(before - after, cached_bytes);
    assert_eq!(user.cache_info(&root)["entries"], 0);
    assert_eq!(
        user.ok(&root, &["run", "hello", "--", "hello"]),
        "Hello, world!\n",
        "installed packages need nothing from the cache"
    );
    // `cache clean` empties it, temporaries too.
    std::fs::write(user.cache_dir().join("blobs/sha256/.dead.part"), b"x").unwrap();
    user.ok(&root, &["cache", "clean"]);
    assert!(!user.cache_dir().join("blobs/sha256/.dead.part").exists());
}

#[test]
fn a_root_on_another_file_system_than_the_cache_installs_removes_and_reinstalls() {
    let site = Site::new();
    let user = User::new();
    // /dev/shm is a tmpfs: not the file system of the temporary directories.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    user.write_config(&format!(
        "[cache]\ndir = \"{}\"\n\n{}",
        shm.path().display(),
        repository_toml("site", &site.url(), &site.public)
    ));
    let root = Env::new();
    assert_eq!(
        user.ok(&root, &["cache", "dir"]).trim(),
        shm.path().to_str().unwrap()
    );
    user.ok(&root, &["install", "hello"]);
    assert!(shm.path().join("paks").read_dir().unwrap().count() >= 2);
    user.ok(&root, &["remove", "hello"]);
    user.ok(&root, &["install", "hello"]);
    assert_eq!(
        user.ok(&root, &["run", "hello", "--", "hello"]),
        "Hello, world!\n"
    );
    let _ = &site.builder;
}

#[test]
fn cache_clean_waits_for_a_command_of_another_root_that_uses_the_cache() {
    // A build holds the cache (shared) from start to end; this one waits in its build
    // script until the test lets it go.
    let user = User::new();
    let building = Env::new();
    let recipe = building.dir.path().join("waiter");
    std::fs::create_dir_all(&recipe).unwrap();
    std::fs::write(
        recipe.join("paks.toml"),
        "[package]\nname = \"waiter\"\nversion = \"1.0.0\"\n\n[build]\nscript = \"\"\"\nwhile [ ! -e /recipe/go ]; do sleep 0.05; done\nmkdir -p \"$PREFIX/share\"\necho ok > \"$PREFIX/share/ok\"\n\"\"\"\n",
    )
    .unwrap();
    let child = user
        .cmd(&building)
        .args(["build", recipe.to_str().unwrap(), "--out"])
        .arg(&building.out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = building.out.join("waiter-1.0.0.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while !log.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the build never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let other = Env::new();
    let out = user
        .cmd(&other)
        .env("PAKS_LOCK_TIMEOUT", "0.2")
        .args(["cache", "clean"])
        .output()
        .unwrap();
    std::fs::write(recipe.join("go"), b"").unwrap();
    let built = child.wait_with_output().unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    assert!(!out.status.success(), "clean did not wait for the build");
    let err = text(&out.stderr);
    assert!(err.contains("cache.lock"), "{err}");
    // Once the build is done, the cache is free.
    user.ok(&other, &["cache", "clean"]);
}

#[test]
fn repo_add_and_remove_with_user_edit_the_user_file_for_every_root() {
    let site = Site::new();
    let user = User::new();
    user.write_config("# mine\n[defaults]\njobs = 2 # two is enough\n");
    let (first, second) = (Env::new(), Env::new());
    user.ok(
        &first,
        &[
            "repo",
            "add",
            "--user",
            "site",
            &site.url(),
            "--key",
            &site.public,
        ],
    );
    assert!(
        !first.root.join("repos.toml").exists(),
        "the root's file is not touched"
    );
    let file = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(
        file.starts_with("# mine\n[defaults]\njobs = 2 # two is enough\n"),
        "{file}"
    );
    let listed = user.ok(&second, &["repo", "list"]);
    assert!(
        listed.contains("site") && listed.contains("user)"),
        "{listed}"
    );
    user.ok(&second, &["install", "hello"]);
    assert_eq!(
        user.ok(&second, &["run", "hello", "--", "hello"]),
        "Hello, world!\n"
    );
    // Without `--user`, remove looks in the root's own file.
    let err = user.fails(&second, &["repo", "remove", "site"], 1);
    assert!(err.contains("no repository is named `site`"), "{err}");
    user.ok(&second, &["repo", "remove", "--user", "site"]);
    assert_eq!(
        std::fs::read_to_string(user.config_file()).unwrap(),
        "# mine\n[defaults]\njobs = 2 # two is enough\n"
    );
    assert_eq!(user.ok(&first, &["repo", "list"]), "");
}

#[test]
fn commands_that_download_nothing_make_no_cache() {
    let user = User::new();
    let root = Env::new();
    user.ok(&root, &["list"]);
    user.fails(&root, &["env", "nothing-installed"], 1);
    assert!(!user.cache_dir().exists());
    user.ok(&root, &["cache", "info"]);
    assert!(user.cache_dir().join("blobs/sha256").is_dir());
}
