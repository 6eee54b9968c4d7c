//! Building the examples, installing, running, and the environment.

mod common;

use std::os::unix::fs::MetadataExt as _;

use common::{Env, examples, text};

#[test]
fn build_install_run_the_examples() {
    let env = Env::new();
    let libgreet = env.build("libgreet");
    let hello = env.build("hello");
    let script = env.build("hello-script");
    for pak in [&libgreet, &hello, &script] {
        assert!(pak.is_file(), "{}", pak.display());
        assert_eq!(pak.extension().unwrap(), "pak");
    }
    assert_eq!(env.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
    assert_eq!(
        env.ok(&["run", "hello", "--", "hello", "paks"]),
        "Hello, paks!\n"
    );
    assert_eq!(
        env.ok(&["run", "hello-script", "--", "hello-script"]),
        "Hello from a script!\n"
    );

    let list = env.ok(&["list", "--json"]);
    let names: Vec<String> = list
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["hello", "hello-script", "libgreet"]);

    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["info", "hello", "--json"])).unwrap();
    assert_eq!(info["dependencies"][0]["name"], "libgreet");
    assert_eq!(info["explicit"], true);
    let pak_info = env.ok(&["info", hello.to_str().unwrap()]);
    assert!(pak_info.starts_with("hello 1.0.0\n"), "{pak_info}");
    assert!(
        pak_info.contains("depends on:   libgreet ^1.0"),
        "{pak_info}"
    );

    // A second install of the same archives changes nothing.
    let again = env.run(&[
        "install",
        libgreet.to_str().unwrap(),
        hello.to_str().unwrap(),
    ]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("Audited 2 packages"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn env_output_activates_packages_in_a_shell() {
    let env = Env::new();
    env.build("libgreet");
    env.build("hello");
    env.build("hello-script");
    let exports = env.ok(&["env", "hello", "hello-script"]);
    assert!(exports.contains("export LD_LIBRARY_PATH="), "{exports}");
    assert!(exports.contains("export PKG_CONFIG_PATH="), "{exports}");
    let script = format!(
        "{exports}\nhello && hello-script && printf '%s\\n' \"$HELLO_SCRIPT_DATA\" && pkg-config --modversion greet"
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "Hello, world!");
    assert_eq!(lines[1], "Hello from a script!");
    assert!(
        lines[2].starts_with(env.store().to_str().unwrap())
            && lines[2].ends_with("/share/hello-script"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "1.0.0");
}

#[test]
fn archives_are_reproducible_and_ids_cover_inputs() {
    let a = Env::new();
    let b = Env::new();
    for example in ["libgreet", "hello", "hello-script"] {
        let pa = a.build(example);
        let pb = b.build(example);
        assert_eq!(
            pa.file_name(),
            pb.file_name(),
            "{example}: same inputs, same id"
        );
        assert!(
            std::fs::read(&pa).unwrap() == std::fs::read(&pb).unwrap(),
            "{example}: the archives differ"
        );
    }
    // A changed input changes the id.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hello-script");
    std::fs::create_dir(&copy).unwrap();
    for f in ["paks.toml", "hello-script.in"] {
        std::fs::copy(examples().join("hello-script").join(f), copy.join(f)).unwrap();
    }
    let original_text = std::fs::read_to_string(copy.join("hello-script.in")).unwrap();
    std::fs::write(
        copy.join("hello-script.in"),
        format!("{original_text}# a changed comment\n"),
    )
    .unwrap();
    let original = a.build("hello-script");
    let changed = a.build_dir(&copy);
    assert_ne!(
        original.file_name().unwrap().to_str().unwrap(),
        changed.trim().rsplit('/').next().unwrap()
    );
}

#[test]
fn install_from_archives_into_a_fresh_root() {
    let builder = Env::new();
    let paks: Vec<String> = ["libgreet", "hello"]
        .iter()
        .map(|e| builder.build(e).display().to_string())
        .collect();
    let user = Env::new();
    // Dependencies first, whatever the order given.
    let out = user.run(&["install", &paks[1], &paks[0]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Installed 2 packages"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");

    // A removal keeps the prefix in the unpacked cache; installing again renames it back
    // (the same inode), and gc empties the cache.
    let id = user
        .store_entries()
        .into_iter()
        .find(|e| e.ends_with("-hello-1.0.0"))
        .unwrap();
    let installed = user.store().join(&id).join("bin/hello");
    let inode = std::fs::metadata(&installed).unwrap().ino();
    user.ok(&["remove", "hello"]);
    assert!(!installed.exists());
    // Kept under the id and the manifest it came from (`<id>@sha256-<hex>`).
    let unpacked: Vec<String> = std::fs::read_dir(user.root.join("cache/unpacked"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(unpacked.len(), 1, "{unpacked:?}");
    assert!(
        unpacked[0].starts_with(&format!("{id}@sha256-")),
        "{unpacked:?}"
    );
    let cached = user
        .root
        .join("cache/unpacked")
        .join(&unpacked[0])
        .join("bin/hello");
    assert_eq!(std::fs::metadata(&cached).unwrap().ino(), inode);
    user.ok(&["install", &paks[1]]);
    assert_eq!(
        std::fs::metadata(&installed).unwrap().ino(),
        inode,
        "reinstalled from the unpacked cache"
    );
    assert!(!cached.exists());
    user.ok(&["remove", "hello"]);
    user.ok(&["gc"]);
    assert!(!cached.exists(), "gc empties the unpacked cache");
}

#[test]
fn missing_dependency_is_a_clear_error() {
    let env = Env::new();
    let err = env.fails(
        &[
            "build",
            examples().join("hello").to_str().unwrap(),
            "--out",
            env.out.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains("error: dependency `libgreet ^1.0` is not installed"),
        "{err}"
    );
    assert!(
        err.contains("hint: build or install `libgreet` first"),
        "{err}"
    );

    let builder = Env::new();
    builder.build("libgreet");
    let hello = builder.build("hello");
    let err = env.fails(&["install", hello.to_str().unwrap()], 1);
    assert!(
        err.contains("needs `") && err.contains("-libgreet-1.0.0`, which is not installed"),
        "{err}"
    );
    assert!(
        env.store_entries().is_empty(),
        "nothing was installed: {:?}",
        env.store_entries()
    );
}

#[test]
fn invalid_recipe_names_file_line_and_field() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("paks.toml"),
        "[package]\nname = \"bad\"\nversion = \"1.0\"\n[build]\nscript = \"true\"\n",
    )
    .unwrap();
    let err = env.fails(&["build", dir.path().to_str().unwrap()], 1);
    assert!(err.contains("paks.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("`package.version`"), "{err}");
}

#[test]
fn a_recipe_file_that_is_a_symlink_is_refused_without_reading_its_target() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    // What a cloned repository could hold: `paks.toml -> /etc/shadow`; here a planted
    // secret whose first line a TOML error would quote.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "root:TOPSECRET:19000:0:99999:7:::\n").unwrap();
    let recipe = dir.path().join("recipe");
    std::fs::create_dir(&recipe).unwrap();
    std::os::unix::fs::symlink(&secret, recipe.join("paks.toml")).unwrap();
    let err = env.fails(&["build", recipe.to_str().unwrap()], 1);
    assert!(!err.contains("TOPSECRET"), "{err}");
    assert!(err.contains("is a symbolic link"), "{err}");
    assert!(env.store_entries().is_empty());
}

#[test]
fn failing_build_script_shows_the_log() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("paks.toml"),
        "[package]\nname = \"broken\"\nversion = \"1.0.0\"\n[build]\nscript = \"echo compiling; echo 'oops: no compiler' >&2; exit 3\"\n",
    )
    .unwrap();
    let err = env.build_dir_fails(dir.path());
    assert!(
        err.contains("error: the build script of `broken` failed (exit status: 3)"),
        "{err}"
    );
    assert!(err.contains("| oops: no compiler"), "{err}");
}

#[test]
fn builds_have_no_network_and_a_read_only_host() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
mkdir -p "$PREFIX/share"
if touch /etc/paks-escape 2>/dev/null; then echo host-writable > "$PREFIX/share/result"; exit 0; fi
if test "$(tail -n +3 /proc/net/dev | grep -vc '^ *lo:')" -gt 0; then echo network > "$PREFIX/share/result"; exit 0; fi
echo sealed > "$PREFIX/share/result"
"#;
    std::fs::write(
        dir.path().join("paks.toml"),
        format!(
            "[package]\nname = \"probe\"\nversion = \"1.0.0\"\n[build]\nscript = '''{script}'''\n"
        ),
    )
    .unwrap();
    env.build_dir(dir.path());
    let record = env.ok(&["info", "probe", "--json"]);
    let prefix = serde_json::from_str::<serde_json::Value>(&record).unwrap()["prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        std::fs::read_to_string(format!("{prefix}/share/result")).unwrap(),
        "sealed\n"
    );
    assert!(!std::path::Path::new("/etc/paks-escape").exists());
}

#[test]
fn build_from_a_git_repository_at_a_tag() {
    let env = Env::new();
    let repo = tempfile::tempdir().unwrap();
    for f in ["paks.toml", "hello-script.in"] {
        std::fs::copy(examples().join("hello-script").join(f), repo.path().join(f)).unwrap();
    }
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "v1.2"]);
    git(&["tag", "v1.2"]);
    std::fs::write(
        repo.path().join("hello-script.in"),
        "#!/bin/sh\necho later\n",
    )
    .unwrap();
    git(&["commit", "-qam", "later"]);
    let url = format!("git+file://{}#v1.2", repo.path().display());
    let pak = env.ok(&["build", &url, "--out", env.out.to_str().unwrap()]);
    assert_eq!(std::path::Path::new(pak.trim()).extension().unwrap(), "pak");
    assert_eq!(
        env.ok(&["run", "hello-script", "--", "hello-script"]),
        "Hello from a script!\n"
    );
    let manifest = paks_manifest_annotations(pak.trim());
    assert_eq!(
        manifest["org.opencontainers.image.source"],
        format!("file://{}", repo.path().display())
    );
    assert_eq!(
        manifest["org.opencontainers.image.revision"]
            .as_str()
            .unwrap()
            .len(),
        40
    );
}

/// The manifest annotations of a `.pak`, read with skopeo (a third-party OCI tool).
fn paks_manifest_annotations(pak: &str) -> serde_json::Value {
    let raw = paks_testkit::skopeo(&["inspect", "--raw", &format!("oci-archive:{pak}")]);
    serde_json::from_str::<serde_json::Value>(&raw).unwrap()["annotations"].clone()
}
