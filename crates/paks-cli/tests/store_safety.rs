//! The install tree under stress: kills, concurrent installs, relocation as another user,
//! views and gc.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Env, forge, paks_bin, text, tree};

/// A recipe with many files and some size, so that an install takes long enough to kill.
fn big_recipe(dir: &Path) -> PathBuf {
    let recipe = dir.join("big");
    std::fs::create_dir_all(&recipe).unwrap();
    let script = r#"
i=0
while [ $i -lt 40 ]; do
  mkdir -p "$PREFIX/share/d$i"
  j=0
  while [ $j -lt 100 ]; do
    head -c $(( (i * 100 + j) % 7 * 1000 + 2000 )) /dev/zero | tr '\0' "$(printf '\\%o' $((65 + j % 26)))" > "$PREFIX/share/d$i/f$j"
    j=$((j + 1))
  done
  i=$((i + 1))
done
head -c 40000000 /dev/urandom > "$PREFIX/share/blob"
"#;
    std::fs::write(
        recipe.join("paks.toml"),
        format!(
            "[package]\nname = \"big\"\nversion = \"1.0.0\"\n[build]\nscript = '''{script}'''\n"
        ),
    )
    .unwrap();
    recipe
}

/// Build the big recipe (without installing it); returns the archive's path.
fn big_pak(builder: &Env) -> String {
    let recipe = big_recipe(builder.dir.path());
    let out = builder.out.to_str().unwrap();
    builder
        .ok(&[
            "build",
            recipe.to_str().unwrap(),
            "--out",
            out,
            "--no-install",
        ])
        .trim()
        .to_owned()
}

fn record_count(env: &Env) -> usize {
    std::fs::read_dir(env.root.join("state/installed")).map_or(0, Iterator::count)
}

#[test]
fn kill_during_install_leaves_nothing_or_a_complete_prefix() {
    let builder = Env::new();
    let pak = big_pak(&builder);
    // The reference: an uninterrupted install.
    let reference = Env::new();
    reference.ok(&["install", &pak]);
    let id = reference.store_entries().pop().unwrap();
    let expected = tree(&reference.store().join(&id));
    assert!(expected.len() > 4000, "{}", expected.len());

    let mut saw_partial_work = false;
    for delay_ms in [1, 5, 15, 30, 60, 100, 150, 250, 400, 700] {
        let env = Env::new();
        let mut child = env
            .cmd()
            .args(["install", &pak])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SIGKILL: no cleanup code runs.
        child.kill().unwrap();
        child.wait().unwrap();
        let entries = env.store_entries();
        let prefix = env.store().join(&id);
        if prefix.exists() {
            assert_eq!(
                tree(&prefix),
                expected,
                "a prefix that exists is complete (killed after {delay_ms}ms)"
            );
        } else {
            assert_eq!(record_count(&env), 0, "no record without its prefix");
        }
        if entries.iter().any(|e| e.starts_with('.')) {
            saw_partial_work = true;
        }
        // Recovery: gc clears leftovers, and the install completes.
        env.ok(&["gc"]);
        assert!(
            env.store_entries().iter().all(|e| !e.starts_with('.')),
            "{:?}",
            env.store_entries()
        );
        env.ok(&["install", &pak]);
        assert_eq!(tree(&prefix), expected);
        assert_eq!(record_count(&env), 1);
    }
    assert!(
        saw_partial_work,
        "no kill landed during extraction: the test did not test anything"
    );
}

#[test]
fn concurrent_installs_of_one_package_make_one_intact_prefix() {
    let builder = Env::new();
    let pak = big_pak(&builder);
    for _round in 0..3 {
        let env = Env::new();
        let children: Vec<_> = (0..2)
            .map(|_| {
                env.cmd()
                    .args(["install", &pak])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let entries = env.store_entries();
        assert_eq!(entries.len(), 1, "one prefix and no leftovers: {entries:?}");
        assert_eq!(record_count(&env), 1);
        let reference = Env::new();
        reference.ok(&["install", &pak]);
        assert_eq!(
            tree(&env.store().join(&entries[0])),
            tree(&reference.store().join(&entries[0]))
        );
    }
}

/// `paks` as an unprivileged user: `nobody` when the tests run as root.
fn user_paks() -> Command {
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(paks_bin());
        c
    } else {
        Command::new(paks_bin())
    }
}

/// Run `paks ARGS` as an unprivileged user with the install root `root`.
fn as_user(root: &Path, args: &[&str]) -> std::process::Output {
    user_paks()
        .args(args)
        .env("PAKS_ROOT", root)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

fn running_as_root() -> bool {
    // `id -u` keeps the tests free of libc.
    text(&Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0"
}

/// A directory an unprivileged user can write, at `path`.
fn user_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    if running_as_root() {
        assert!(
            Command::new("chown")
                .args(["65534:65534", path.to_str().unwrap()])
                .status()
                .unwrap()
                .success()
        );
    }
}

#[test]
fn packages_relocate_to_longer_and_shorter_roots_as_an_unprivileged_user() {
    let builder = Env::new();
    let paks: Vec<String> = ["libgreet", "hello", "hello-script"]
        .iter()
        .map(|e| builder.build(e).display().to_string())
        .collect();
    // Everything the user reads must be world-readable.
    for dir in [builder.dir.path(), builder.out.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let long_parent = tempfile::tempdir().unwrap();
    std::fs::set_permissions(long_parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let long_root = long_parent
        .path()
        .join("a/much/longer/install/root/than/the/canonical/one/paks");
    // Shorter than `/opt/paks` (9 bytes): `/tmp/` and three characters.
    let short = tempfile::Builder::new()
        .prefix("")
        .rand_bytes(3)
        .tempdir_in("/tmp")
        .unwrap();
    let short_root = short.path().to_path_buf();
    assert!(
        short_root.as_os_str().len() < "/opt/paks".len(),
        "{}",
        short_root.display()
    );

    for root in [&long_root, &short_root] {
        user_dir(root);
        let mut args = vec!["install"];
        args.extend(paks.iter().map(String::as_str));
        let out = as_user(root, &args);
        assert!(
            out.status.success(),
            "install at {}: {}",
            root.display(),
            text(&out.stderr)
        );
        let run = |cmd: &[&str]| {
            let mut args = vec!["run"];
            args.extend_from_slice(cmd);
            let out = as_user(root, &args);
            assert!(
                out.status.success(),
                "{cmd:?} at {}: {}",
                root.display(),
                text(&out.stderr)
            );
            text(&out.stdout)
        };
        assert_eq!(run(&["hello", "--", "hello"]), "Hello, world!\n");
        assert_eq!(
            run(&["hello-script", "--", "hello-script"]),
            "Hello from a script!\n"
        );
        // The rewritten script names the new root, and pkg-config data too.
        let store = root.join("store");
        let script_prefix = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("hello-script-0.2.0"))
            .unwrap();
        let script = std::fs::read_to_string(script_prefix.join("bin/hello-script")).unwrap();
        assert!(
            script.contains(&format!(
                "{}/share/hello-script/greeting.txt",
                script_prefix.display()
            )),
            "{script}"
        );
        assert!(!script.contains("/opt/paks"), "{script}");
        let lib_prefix = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("libgreet-1.0.0"))
            .unwrap();
        let pc = std::fs::read_to_string(lib_prefix.join("lib/pkgconfig/greet.pc")).unwrap();
        assert!(
            pc.starts_with(&format!("prefix={}\n", lib_prefix.display())),
            "{pc}"
        );
        // Owned by the user, not root.
        if running_as_root() {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(std::fs::metadata(&lib_prefix).unwrap().uid(), 65534);
        }
    }
}

#[test]
fn canonical_root_rewrites_nothing() {
    // Installing at /opt/paks is the only way to see this; as root it is the default root.
    // A throw-away mount namespace would be cleaner; instead the test asserts on the archive:
    // the installed files at the canonical root are byte-identical to the layer's.
    let env = Env::new();
    let pak = env.build("hello-script");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("tar")
        .args([
            "-xf",
            pak.to_str().unwrap(),
            "-C",
            dir.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(out.success());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("blobs/sha256").join(manifest_digest)).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    assert!(
        Command::new("tar")
            .args(["-xzf"])
            .arg(dir.path().join("blobs/sha256").join(layer))
            .arg("-C")
            .arg(&rootfs)
            .status()
            .unwrap()
            .success()
    );
    let script = std::fs::read_dir(rootfs.join("opt/paks/store"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("bin/hello-script");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("exec cat \"/opt/paks/store/"),
        "the layer holds canonical paths: {text}"
    );
}

#[test]
fn views_merge_packages_and_keep_them_from_gc() {
    let env = Env::new();
    env.build("libgreet");
    env.build("hello");
    env.build("hello-script");
    let view = env.dir.path().join("myview");
    env.ok(&[
        "view",
        "create",
        view.to_str().unwrap(),
        "hello",
        "hello-script",
    ]);
    assert!(view.join("bin/hello").is_file());
    assert!(view.join("bin/hello-script").is_file());
    assert!(
        view.join("lib/libgreet.so.1").is_file(),
        "dependencies are in the view"
    );
    assert!(view.join("include/greet.h").is_file());
    let out = Command::new(view.join("bin/hello")).output().unwrap();
    assert_eq!(text(&out.stdout), "Hello, world!\n");
    let list = env.ok(&["view", "list", "--json"]);
    assert!(list.contains("\"type\":\"view\""), "{list}");

    // Removing a package a view needs is refused.
    let err = env.fails(&["remove", "hello"], 1);
    assert!(err.contains("is still needed by the view"), "{err}");
    // Re-creating replaces the view atomically.
    env.ok(&["view", "create", view.to_str().unwrap(), "hello-script"]);
    assert!(!view.join("bin/hello").exists());
    // A directory that is not a view is never replaced.
    let err = env.fails(&["view", "create", env.out.to_str().unwrap(), "hello"], 1);
    assert!(err.contains("is not a paks view"), "{err}");
    env.ok(&["view", "remove", view.to_str().unwrap()]);
    assert!(!view.exists());
}

#[test]
fn remove_and_gc_collect_what_nothing_needs() {
    let builder = Env::new();
    let libgreet = builder.build("libgreet");
    let hello = builder.build("hello");
    let env = Env::new();
    env.ok(&["install", "--as-dependency", libgreet.to_str().unwrap()]);
    env.ok(&["install", hello.to_str().unwrap()]);
    // libgreet is needed by hello: refused.
    let err = env.fails(&["remove", "libgreet"], 1);
    assert!(err.contains("is still needed by `"), "{err}");
    assert!(
        err.contains("hint: remove those first, or pass `--force`"),
        "{err}"
    );
    // gc keeps both while hello is installed explicitly.
    let report: serde_json::Value = serde_json::from_str(&env.ok(&["gc", "--json"])).unwrap();
    assert_eq!(report["removed"].as_array().unwrap().len(), 0);
    env.ok(&["remove", "hello"]);
    let dry: serde_json::Value =
        serde_json::from_str(&env.ok(&["gc", "--dry-run", "--json"])).unwrap();
    assert_eq!(dry["removed"].as_array().unwrap().len(), 1);
    assert_eq!(env.store_entries().len(), 1, "a dry run removes nothing");
    let report: serde_json::Value = serde_json::from_str(&env.ok(&["gc", "--json"])).unwrap();
    assert!(
        report["removed"][0]
            .as_str()
            .unwrap()
            .ends_with("-libgreet-1.0.0")
    );
    assert!(env.store_entries().is_empty(), "{:?}", env.store_entries());
    assert_eq!(env.ok(&["list"]), "");
}

#[test]
fn a_hostile_archive_is_refused_and_nothing_is_installed() {
    let builder = Env::new();
    let good = builder.build("hello-script");
    // Rewrite the layer so that one entry climbs out of the prefix, keeping the archive
    // otherwise valid (digests recomputed): only the extractor stands in the way.
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.pak");
    forge(
        &good,
        &evil,
        &serde_json::json!({"add_file": ["../../../../escaped", 5]}),
    );
    let env = Env::new();
    let sentinel = env.dir.path().join("escaped");
    let err = env.fails(&["install", evil.to_str().unwrap()], 1);
    assert!(
        err.contains("leaves the destination") || err.contains(".."),
        "{err}"
    );
    assert!(!sentinel.exists());
    assert!(
        env.store_entries().iter().all(|e| e.starts_with('.')) || env.store_entries().is_empty(),
        "{:?}",
        env.store_entries()
    );
    assert_eq!(record_count(&env), 0);
}

#[test]
fn gc_during_an_install_waits_and_removes_nothing_it_holds() {
    let builder = Env::new();
    let pak = big_pak(&builder);
    let env = Env::new();
    // gc is started once the install is extracting (its temporary directory exists).
    let install = env
        .cmd()
        .args(["install", &pak])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !env.store_entries().iter().any(|e| e.starts_with('.')) {
        assert!(
            std::time::Instant::now() < deadline,
            "the install never started extracting"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let gc = env.run(&["gc", "--json"]);
    assert!(gc.status.success(), "{}", text(&gc.stderr));
    let report: serde_json::Value = serde_json::from_slice(&gc.stdout).unwrap();
    assert_eq!(
        report["leftovers"].as_array().unwrap().len(),
        0,
        "gc waited: {report}"
    );
    assert_eq!(report["removed"].as_array().unwrap().len(), 0, "{report}");
    let out = install.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entries = env.store_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(record_count(&env), 1);
}

#[test]
fn an_unprivileged_user_gets_a_root_under_their_home() {
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let user_home = home.path().join("alice");
    user_dir(&user_home);
    let out = user_paks()
        .arg("list")
        .env_remove("PAKS_ROOT")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &user_home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = user_home.join(".local/share/paks");
    assert!(
        text(&out.stderr).contains(&format!(
            "No packages installed in `{}`",
            expected.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(expected.join("store").is_dir());
}
