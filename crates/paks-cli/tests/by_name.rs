//! Install by name: a signed index built from a `paks serve` namespace, repositories over
//! `oci://`, `http://` (a static export served by `python3 -m http.server`) and `file://`,
//! trust refusals, resolution errors, and project environments with a lockfile and an
//! offline `paks sync`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, paks_bin, text};
use paks_testkit::{HttpServer, PaksServe, skopeo};

/// A registry with libgreet, hello and hello-script pushed to `acme`, and a signing key.
struct Published {
    server: PaksServe,
    builder: Env,
    key: PathBuf,
    public: PathBuf,
}

impl Published {
    fn new() -> Self {
        let builder = Env::new();
        let server = PaksServe::start(
            Path::new(paks_bin()),
            &builder.dir.path().join("registry-data"),
            &[],
        );
        builder.build("libgreet");
        let hello = builder.build("hello");
        let script = builder.build("hello-script");
        let ns = format!("{}/acme", server.host());
        builder.ok(&["push", hello.to_str().unwrap(), &format!("{ns}/hello")]);
        builder.ok(&[
            "push",
            script.to_str().unwrap(),
            &format!("{ns}/hello-script"),
        ]);
        let key = builder.dir.path().join("key.pem");
        let public_line = builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        assert!(public_line.starts_with("paks-ed25519 "), "{public_line}");
        let public = key.with_extension("pub");
        assert!(public.is_file());
        let mut this = Self {
            server,
            builder,
            key,
            public,
        };
        this.index();
        this
    }

    fn ns(&self) -> String {
        format!("{}/acme", self.server.host())
    }

    fn index(&mut self) -> String {
        self.builder.ok(&[
            "index",
            "build",
            &self.ns(),
            "--sign",
            self.key.to_str().unwrap(),
        ])
    }

    fn oci_url(&self) -> String {
        format!("oci://{}", self.ns())
    }
}

/// `paks repo add NAME URL --key KEY` for `env`.
fn add_repo(env: &Env, name: &str, url: &str, key: &Path) -> std::process::Output {
    env.run(&["repo", "add", name, url, "--key", key.to_str().unwrap()])
}

#[test]
fn install_by_name_from_a_signed_oci_repository() {
    let p = Published::new();
    let user = Env::new();
    let added = add_repo(&user, "acme", &p.oci_url(), &p.public);
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(
        text(&added.stderr).contains("3 packages"),
        "{}",
        text(&added.stderr)
    );
    let found = user.ok(&["search", "hello"]);
    assert!(
        found.contains("hello ") && found.contains("hello-script"),
        "{found}"
    );
    let info = user.ok(&["info", "libgreet"]);
    assert!(
        info.contains("not installed") && info.contains("1.0.0"),
        "{info}"
    );
    let out = user.run(&["install", "hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Installed 2 packages"), "{stderr}");
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
    // A requirement picks among versions; an impossible one explains itself.
    user.ok(&["install", "hello-script@^0.2"]);
    let err = user.fails(&["install", "hello>=2"], 1);
    assert!(err.contains("hello"), "{err}");
    assert!(err.contains(">=2") || err.contains("2.0.0"), "{err}");
    let err = user.fails(&["install", "helo"], 1);
    assert!(err.contains("hello"), "a did-you-mean: {err}");
}

#[test]
fn trust_refusals() {
    let mut p = Published::new();
    let user = Env::new();
    // Without a key, and without --allow-unsigned: refused before anything is fetched.
    let err = user.fails(&["repo", "add", "acme", &p.oci_url()], 1);
    assert!(err.contains("--allow-unsigned"), "{err}");
    // Another key than the one that signed: refused.
    let other = user.dir.path().join("other.pem");
    user.ok(&["key", "generate", "--out", other.to_str().unwrap()]);
    let err = user.fails(
        &[
            "repo",
            "add",
            "acme",
            &p.oci_url(),
            "--key",
            other.with_extension("pub").to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("refused"), "{err}");
    assert!(user.ok(&["repo", "list"]).is_empty());
    // An unsigned index is accepted only with --allow-unsigned.
    assert!(
        add_repo(&user, "acme", &p.oci_url(), &p.public)
            .status
            .success()
    );
    // Rollback: keep the current index aside, publish a newer one, then put the old back.
    let index_repo = format!("docker://{}/paks-index", p.ns());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("{index_repo}:latest"),
        &format!("{index_repo}:old"),
    ]);
    p.index();
    user.ok(&["repo", "update"]);
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("{index_repo}:old"),
        &format!("{index_repo}:latest"),
    ]);
    let err = user.fails(&["repo", "update"], 1);
    assert!(
        err.to_lowercase().contains("rollback") || err.contains("older"),
        "{err}"
    );
    // A tampered index (signature no longer matches) is refused.
    let unsigned_user = Env::new();
    p.builder.ok(&["index", "build", &p.ns()]);
    let err = unsigned_user.fails(
        &[
            "repo",
            "add",
            "acme",
            &p.oci_url(),
            "--key",
            p.public.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("refused"), "{err}");
    unsigned_user.ok(&["repo", "add", "acme", &p.oci_url(), "--allow-unsigned"]);
    unsigned_user.ok(&["install", "hello"]);
}

#[test]
fn static_repositories_over_http_and_from_a_directory() {
    let p = Published::new();
    let export = p.builder.dir.path().join("static");
    p.builder
        .ok(&["index", "export", &p.ns(), export.to_str().unwrap()]);
    assert!(export.join("index.yaml").is_file());
    let paks: Vec<String> = std::fs::read_dir(&export)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pak"))
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(paks.len(), 3, "{paks:?}");
    let http = HttpServer::start(&export);
    let user = Env::new();
    user.ok(&[
        "repo",
        "add",
        "mirror",
        &format!("http://127.0.0.1:{}/", http.port()),
        "--key",
        p.public.to_str().unwrap(),
    ]);
    user.ok(&["install", "hello"]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
    drop(http);
    // A directory of .pak files becomes a static repository with `paks index build DIR`.
    let dir = p.builder.dir.path().join("from-paks");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&p.builder.out).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pak") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    p.builder.ok(&[
        "index",
        "build",
        dir.to_str().unwrap(),
        "--sign",
        p.key.to_str().unwrap(),
    ]);
    let local = Env::new();
    assert!(
        add_repo(
            &local,
            "local",
            &format!("file://{}", dir.display()),
            &p.public
        )
        .status
        .success()
    );
    local.ok(&["install", "hello"]);
    assert_eq!(
        local.ok(&["run", "hello", "--", "hello"]),
        "Hello, world!\n"
    );
    // The same directory as a file:// repository (the USB stick case).
    let usb = Env::new();
    usb.ok(&[
        "repo",
        "add",
        "usb",
        &format!("file://{}", export.display()),
        "--key",
        p.public.to_str().unwrap(),
    ]);
    usb.ok(&["install", "hello", "hello-script"]);
    assert_eq!(
        usb.ok(&["run", "hello-script", "--", "hello-script"]),
        "Hello from a script!\n"
    );
}

#[test]
fn projects_lock_sync_and_sync_offline() {
    let p = Published::new();
    let user = Env::new();
    assert!(
        add_repo(&user, "acme", &p.oci_url(), &p.public)
            .status
            .success()
    );
    let proj = user.dir.path().join("proj");
    user.ok(&["env", "init", proj.to_str().unwrap()]);
    let proj_s = proj.to_str().unwrap();
    user.ok(&["add", "hello", "--project", proj_s]);
    let manifest = std::fs::read_to_string(proj.join("paks.toml")).unwrap();
    assert!(manifest.contains("hello = \"^1.0.0\""), "{manifest}");
    let lock = std::fs::read_to_string(proj.join("paks.lock")).unwrap();
    assert!(
        lock.contains("libgreet") && lock.contains("sha256:"),
        "{lock}"
    );
    assert!(proj.join(".paks/view/bin/hello").exists());
    // A lock naming a digest the index does not list is refused.
    let digest_start = lock.find("digest = \"sha256:").unwrap() + "digest = \"sha256:".len();
    let mut forged_lock = lock.clone();
    forged_lock.replace_range(digest_start..digest_start + 64, &"0".repeat(64));
    std::fs::write(proj.join("paks.lock"), &forged_lock).unwrap();
    user.ok(&["remove", "--force", "hello"]);
    let err = user.fails(&["sync", "--project", proj_s], 1);
    assert!(err.contains("does not list"), "{err}");
    std::fs::write(proj.join("paks.lock"), &lock).unwrap();
    user.ok(&["sync", "--project", proj_s]);
    // Re-locking changes nothing.
    user.ok(&["lock", "--project", proj_s]);
    assert_eq!(
        std::fs::read_to_string(proj.join("paks.lock")).unwrap(),
        lock
    );
    // The environment activates the project's packages: `paks env` prints it, and
    // `paks shell` runs a shell inside it.
    let env = user.ok(&["env", "--project", proj_s]);
    assert!(env.contains("PATH"), "{env}");
    let mut shell = user
        .cmd()
        .args(["shell", "--project", proj_s])
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut shell.stdin.take().unwrap(),
        b"hello; echo \"env=$PAKS_ENV\"\n",
    )
    .unwrap();
    let shell = shell.wait_with_output().unwrap();
    assert!(shell.status.success());
    assert_eq!(
        text(&shell.stdout),
        format!("Hello, world!\nenv={}\n", proj.display())
    );
    // A second project shares the store: nothing is installed twice.
    let other = user.dir.path().join("other");
    user.ok(&["env", "init", other.to_str().unwrap()]);
    let out = user.run(&["add", "hello", "--project", other.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Installed 0 packages"),
        "{}",
        text(&out.stderr)
    );
    // Offline: with the registry gone, a fresh sync after removing the packages works
    // from the cache and the cached, verified indexes.
    user.ok(&["remove", "--force", "hello"]);
    user.ok(&["gc"]);
    drop(p);
    let out = user.run(&["sync", "--offline", "--project", proj_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Installed 2 packages"),
        "{}",
        text(&out.stderr)
    );
    let hello = proj.join(".paks/view/bin/hello");
    let run = Command::new(&hello).output().unwrap();
    assert_eq!(text(&run.stdout), "Hello, world!\n");
}
