//! Portable, multi-platform locks: a lock names repositories by URL (not by nickname) and
//! pins a build per environment (platform and microarchitecture target), so a lock made on
//! one host with one repository nickname installs the right build on another.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, ScriptRepo, text};

/// A static repository (a signed index over a directory of `.pak` files) holding
/// hello-script 0.2.0 in three builds: the real one (linux/amd64, baseline), and two
/// re-packed from it, one for linux/arm64 and one for linux/amd64 targeting `x86_64_v4`.
/// (The registry form of several builds of one platform is `targets_in_registry.rs`.)
struct ThreeBuilds {
    /// Owns the directory the repository is in.
    _builder: Env,
    public: PathBuf,
    url: String,
    baseline: String,
    arm64: String,
    v4: String,
}

fn id_with_hash(id: &str, c: char) -> String {
    let (_, rest) = id.split_once('-').unwrap();
    format!("{}-{rest}", c.to_string().repeat(32))
}

/// `<name>-<version>-<hash>.pak` for an id `<hash>-<name>-<version>`.
fn pak_name(id: &str) -> String {
    let (hash, rest) = id.split_once('-').unwrap();
    format!("{rest}-{hash}.pak")
}

impl ThreeBuilds {
    fn new() -> Self {
        let builder = Env::new();
        let pak = builder.build("hello-script");
        let name = pak.file_name().unwrap().to_str().unwrap();
        let hash = name.trim_end_matches(".pak").rsplit('-').next().unwrap();
        let baseline = format!("{hash}-hello-script-0.2.0");
        let arm64 = id_with_hash(&baseline, '1');
        let v4 = id_with_hash(&baseline, '2');
        let dir = builder.dir.path().join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&pak, dir.join(pak_name(&baseline))).unwrap();
        common::forge(
            &pak,
            &dir.join(pak_name(&arm64)),
            &serde_json::json!({"id": arm64, "paks": {"platform": "linux/arm64"}}),
        );
        common::forge(
            &pak,
            &dir.join(pak_name(&v4)),
            &serde_json::json!({"id": v4, "annotations": {"io.paks.target": "x86_64_v4"}}),
        );
        let key = builder.dir.path().join("key.pem");
        builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        builder.ok(&[
            "index",
            "build",
            dir.to_str().unwrap(),
            "--sign",
            key.to_str().unwrap(),
        ]);
        Self {
            public: key.with_extension("pub"),
            url: format!("file://{}", dir.display()),
            _builder: builder,
            baseline,
            arm64,
            v4,
        }
    }

    fn add_to(&self, env: &Env, name: &str) {
        env.ok(&[
            "repo",
            "add",
            name,
            &self.url,
            "--key",
            self.public.to_str().unwrap(),
        ]);
    }
}

/// A host profile file in `env`'s directory.
fn profile(env: &Env, name: &str, json: &str) -> PathBuf {
    let path = env.dir.path().join(format!("{name}.json"));
    std::fs::write(&path, json).unwrap();
    path
}

fn run_as(env: &Env, host: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env("PAKS_HOST_PROFILE", host)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok_as(env: &Env, host: &Path, dir: &Path, args: &[&str]) -> (String, String) {
    let out = run_as(env, host, dir, args);
    assert!(out.status.success(), "paks {args:?}: {}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

fn fails_as(env: &Env, host: &Path, dir: &Path, args: &[&str]) -> String {
    let out = run_as(env, host, dir, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "paks {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// The id the project's view links `bin/hello-script` into.
fn viewed_id(proj: &Path) -> String {
    let link = std::fs::read_link(proj.join(".paks/view/bin/hello-script")).unwrap();
    let link = link.to_str().unwrap();
    let after = &link[link.find("store/").unwrap() + "store/".len()..];
    after.split('/').next().unwrap().to_owned()
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The maker's side: an x86-64-v3 host locks a project for two platforms and a target,
/// and syncs; returns the maker and the project.
fn maker_locks(three: &ThreeBuilds) -> (Env, PathBuf) {
    let url = &three.url;
    // The maker: an x86-64-v3 host that calls the repository `acme`.
    let maker = Env::new();
    three.add_to(&maker, "acme");
    let v3 = profile(
        &maker,
        "v3",
        r#"{"os": "linux", "arch": "amd64", "microarch": "x86_64_v3"}"#,
    );
    let proj = maker.dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("paks.toml"),
        "[project]\nname = \"p\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\ntargets = [\"x86_64_v4\"]\n\n[dependencies]\nhello-script = \"*\"\n",
    )
    .unwrap();
    let (out, _) = ok_as(&maker, &v3, &proj, &["lock", "--json"]);
    let lines = json_lines(&out);
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "lock");
    assert_eq!(last["changed"], true);
    assert_eq!(
        last["environments"],
        serde_json::json!(["linux/amd64", "linux/amd64+x86_64_v4", "linux/arm64"])
    );
    let by_env: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "package")
        .map(|l| {
            (
                l["environments"][0].as_str().unwrap().to_owned(),
                l["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        by_env.contains(&("linux/amd64".into(), three.baseline.clone())),
        "{by_env:?}"
    );
    assert!(
        by_env.contains(&("linux/amd64+x86_64_v4".into(), three.v4.clone())),
        "{by_env:?}"
    );
    assert!(
        by_env.contains(&("linux/arm64".into(), three.arm64.clone())),
        "{by_env:?}"
    );
    let lock = std::fs::read_to_string(proj.join("paks.lock")).unwrap();
    assert!(lock.contains("version = 2\n"), "{lock}");
    assert!(lock.contains(&format!("url = \"{url}\"")), "{lock}");
    assert!(!lock.contains("acme\""), "no nickname in the lock: {lock}");
    // Same input, same bytes.
    let (out, _) = ok_as(&maker, &v3, &proj, &["lock", "--json"]);
    assert_eq!(json_lines(&out).last().unwrap()["changed"], false);
    assert_eq!(
        std::fs::read_to_string(proj.join("paks.lock")).unwrap(),
        lock
    );
    // The maker's own host (v3) gets the baseline build: v4 is too new for it.
    ok_as(&maker, &v3, &proj, &["sync", "--locked"]);
    assert_eq!(viewed_id(&proj), three.baseline);
    // A one-off check for another platform shows its build and writes nothing.
    let (out, err) = ok_as(&maker, &v3, &proj, &["lock", "--platform", "linux/arm64"]);
    assert_eq!(out, "hello-script 0.2.0 linux/arm64\n", "{err}");
    assert!(err.contains("not written"), "{err}");
    assert_eq!(
        std::fs::read_to_string(proj.join("paks.lock")).unwrap(),
        lock
    );
    (maker, proj)
}

#[test]
fn a_lock_made_here_installs_the_right_build_elsewhere() {
    let three = ThreeBuilds::new();
    let url = three.url.clone();
    let (_maker, proj) = maker_locks(&three);

    // Another user calls the repository `upstream`; the project is copied over.
    let user = Env::new();
    three.add_to(&user, "upstream");
    let copy = user.dir.path().join("proj");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["paks.toml", "paks.lock"] {
        std::fs::copy(proj.join(f), copy.join(f)).unwrap();
    }
    // An x86-64-v4 host gets the v4 build.
    let v4 = profile(
        &user,
        "v4",
        r#"{"os": "linux", "arch": "amd64", "microarch": "x86_64_v4"}"#,
    );
    let (out, _) = ok_as(&user, &v4, &copy, &["sync", "--locked", "--json"]);
    let lines = json_lines(&out);
    let sync = lines.last().unwrap();
    assert_eq!(sync["type"], "sync");
    assert_eq!(sync["environment"], "linux/amd64+x86_64_v4");
    assert_eq!(sync["installed"], 1);
    assert_eq!(sync["relocked"], false);
    assert_eq!(lines[0]["id"], three.v4.as_str());
    assert_eq!(lines[0]["installed"], true);
    assert_eq!(viewed_id(&copy), three.v4);
    // `paks tree` draws this host's environment, not every platform's build.
    let (drawn, _) = ok_as(&user, &v4, &copy, &["tree"]);
    assert_eq!(drawn.matches("hello-script").count(), 1, "{drawn}");
    // An arm64 host chooses the arm64 build; this amd64 machine's store then refuses to
    // install it, naming it (the store checks the real platform, not the faked one).
    let arm = profile(
        &user,
        "arm",
        r#"{"os": "linux", "arch": "arm64", "microarch": "neoverse_n1"}"#,
    );
    let out = run_as(&user, &arm, &copy, &["sync", "--locked"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&three.arm64) && err.contains("linux/arm64"),
        "{err}"
    );
    // A host of a platform the lock does not cover: a clear error and what to do.
    let ppc = profile(&user, "ppc", r#"{"os": "linux", "arch": "ppc64le"}"#);
    let err = fails_as(&user, &ppc, &copy, &["sync", "--frozen"]);
    assert!(
        err.contains("no environment for this host (`linux/ppc64le`"),
        "{err}"
    );
    assert!(err.contains("add `linux/ppc64le` to `platforms`"), "{err}");

    // A user without the repository: the error names its URL and how to add it.
    let stranger = Env::new();
    let err = fails_as(&stranger, &v4, &copy, &["sync", "--frozen"]);
    assert!(err.contains(&format!("`{url}`")), "{err}");
    assert!(err.contains(&format!("paks repo add NAME {url}")), "{err}");

    // Dropping a platform from paks.toml makes the lock stale.
    let manifest = std::fs::read_to_string(copy.join("paks.toml")).unwrap();
    std::fs::write(
        copy.join("paks.toml"),
        manifest.replace(", \"linux/arm64\"", ""),
    )
    .unwrap();
    let err = fails_as(&user, &v4, &copy, &["sync", "--locked"]);
    assert!(err.contains("[project] asks for"), "{err}");
    let (_, err) = ok_as(&user, &v4, &copy, &["sync"]);
    assert!(err.contains("Re-locking"), "{err}");
    let relocked = std::fs::read_to_string(copy.join("paks.lock")).unwrap();
    assert!(!relocked.contains("linux/arm64"), "{relocked}");
}

#[test]
fn a_version_1_lock_is_relocked_or_refused_with_a_clear_message() {
    let repo = ScriptRepo::new();
    let user = Env::new();
    repo.add_to(&user, "acme");
    let proj = user.dir.path().join("proj");
    user.ok(&["env", "init", proj.to_str().unwrap()]);
    let p = proj.to_str().unwrap();
    user.ok(&["add", "hello-script", "--project", p]);
    // What paks wrote before version 2 (nicknames, no environments).
    std::fs::write(
        proj.join("paks.lock"),
        "version = 1\nrequests = [\"hello-script\"]\n",
    )
    .unwrap();
    let err = user.fails(&["sync", "--locked", "--project", p], 1);
    assert!(err.contains("lock format version 1"), "{err}");
    let err = user.fails(&["sync", "--frozen", "--project", p], 1);
    assert!(err.contains("lock format version 1"), "{err}");
    let out = user.run(&["sync", "--project", p]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lock = std::fs::read_to_string(proj.join("paks.lock")).unwrap();
    assert!(lock.contains("version = 2"), "{lock}");
}

#[test]
fn a_repository_trusted_with_other_keys_than_the_lock_is_refused() {
    let repo = ScriptRepo::new();
    let maker = Env::new();
    repo.add_to(&maker, "acme");
    let proj = maker.dir.path().join("proj");
    maker.ok(&["env", "init", proj.to_str().unwrap()]);
    maker.ok(&["add", "hello-script", "--project", proj.to_str().unwrap()]);
    let lock = std::fs::read_to_string(proj.join("paks.lock")).unwrap();
    let start = lock.find("keys = [\"").unwrap() + "keys = [\"".len();
    let keyid = &lock[start..start + 64];
    // The lock was made when the index was signed by another key.
    std::fs::write(proj.join("paks.lock"), lock.replace(keyid, &"0".repeat(64))).unwrap();
    let user = Env::new();
    repo.add_to(&user, "mirror");
    let p = proj.to_str().unwrap();
    let err = user.fails(&["sync", "--frozen", "--project", p], 1);
    assert!(err.contains("trusted here with other keys"), "{err}");
    assert!(err.contains(&"0".repeat(64)), "{err}");
    // With the lock's key, the same sync works.
    std::fs::write(proj.join("paks.lock"), &lock).unwrap();
    user.ok(&["sync", "--frozen", "--project", p]);
    assert!(proj.join(".paks/view/bin/hello-script").exists());
}
