//! References and publishing as skopeo and ORAS users write them: transports
//! (`docker://`, `oci:`, `oci-archive:`, `.pak`, `docker-archive:`) for `inspect`,
//! `compat`, `copy` and `pull`; short names on a default registry; host names that do
//! not resolve.

mod common;

use std::path::Path;

use common::{Env, paks_bin, text};
use paks_testkit::{PaksServe, busybox_layout, skopeo};

/// A registry host that does not resolve fails at once (one attempt, no backoff), with a
/// hint that names the host and the way to work offline.
#[test]
fn a_host_that_does_not_resolve_is_tried_once_with_an_offline_hint() {
    let env = Env::new();
    for args in [
        &["install", "nosuch.invalid/acme/hello:1.0"][..],
        &["pull", "docker://nosuch.invalid/acme/hello:1.0"][..],
    ] {
        let err = env.fails(args, 1);
        assert!(err.contains("failed after 1 attempt(s)"), "{args:?}: {err}");
        assert!(
            err.contains("hint: `nosuch.invalid` does not resolve") && err.contains("--offline"),
            "{args:?}: {err}"
        );
    }
}

/// A `.pak` (or `oci-archive:` of one, or the package pushed to a registry) is inspected,
/// and judged as a package: it brings no libc, and runs here on the host's; a host of
/// another architecture or with an older glibc than it declares will not run it.
#[test]
fn a_package_is_inspected_from_its_archive_and_judged_as_a_package() {
    let env = Env::new();
    env.build("libgreet");
    let pak = env.build("hello");
    let pak = pak.to_str().unwrap();
    let from_pak: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", pak, "--json"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let id = from_pak["package"]["id"].as_str().unwrap().to_owned();
    assert!(id.contains("-hello-"), "{from_pak}");
    assert!(
        from_pak["summary"]["binaries"].as_u64().unwrap() >= 1,
        "{from_pak}"
    );
    let archive: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", &format!("oci-archive:{pak}"), "--json"]))
            .unwrap();
    assert_eq!(archive["package"]["id"], from_pak["package"]["id"]);
    assert_eq!(archive["summary"], from_pak["summary"]);

    // Here it runs: its libc is the host's, not one the "image" lacks.
    let here = env.ok(&["compat", pak]);
    assert!(here.contains(": runs"), "{here}");
    assert!(!here.contains("libc.so.6"), "{here}");

    let arm = env.dir.path().join("arm.json");
    std::fs::write(&arm, r#"{"arch": "arm64"}"#).unwrap();
    let out = env.run(&["compat", pak, "--host", arm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "the package `{id}` is for `linux/amd64`; this host is `linux/arm64"
        )),
        "{said}"
    );

    let old = env.dir.path().join("old-glibc.json");
    std::fs::write(&old, r#"{"glibc": "2.1.0"}"#).unwrap();
    let out = env.run(&["compat", pak, "--host", old.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let verdict: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(verdict["verdict"]["status"], "will-not-run", "{verdict}");
    let reasons = verdict["verdict"]["reasons"].to_string();
    assert!(reasons.contains("this host has 2.1"), "{reasons}");

    // The same package in a registry, by reference: judged as a package too.
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
    let pushed = env.ok(&["push", pak, &format!("{}/acme/hello", server.host())]);
    let reference = pushed.lines().next().unwrap().trim().to_owned();
    let there = env.ok(&["compat", &format!("docker://{reference}")]);
    assert!(there.contains(": runs"), "{there}");
    // `paks copy` of the `.pak` to a namespace: the package's repository, its version tag.
    env.ok(&["copy", pak, &format!("{}/mirror", server.host())]);
    let there = env.ok(&["compat", &format!("{}/mirror/hello:1.0.0", server.host())]);
    assert!(there.contains(": runs"), "{there}");
    assert!(!there.contains("libc.so.6"), "{there}");
}

/// A short name (for `compat`, `inspect`, `image build --from`) is on `[defaults]
/// registry` when configured; with none, on Docker Hub under `library/`, with a hint
/// saying so. (The Docker Hub case goes through a proxy
/// whose name does not resolve: nothing leaves this machine.)
#[test]
fn short_names_use_the_configured_registry_or_docker_hub_with_a_hint() {
    let env = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
    let layout = env.dir.path().join("layout");
    busybox_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{}/acme/busybox:1", server.host()),
    ]);
    let config = env.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[defaults]\nregistry = \"{}\"\n", server.host()),
    )
    .unwrap();
    let out = env
        .cmd()
        .env("PAKS_CONFIG", &config)
        .args(["compat", "acme/busybox:1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with(&format!("{}/acme/busybox:1: runs", server.host())),
        "{said}"
    );
    assert!(
        !text(&out.stderr).contains("hint:"),
        "{}",
        text(&out.stderr)
    );

    // `paks image build --from` takes the same short names.
    let script = env.build("hello-script");
    env.ok(&[
        "push",
        script.to_str().unwrap(),
        &format!("{}/acme", server.host()),
    ]);
    let app = env.dir.path().join("app");
    let out = env
        .cmd()
        .env("PAKS_CONFIG", &config)
        .args([
            "image",
            "build",
            &format!("{}/acme/hello-script:0.2.0", server.host()),
            "--from",
            "acme/busybox:1",
            "--output",
            &format!("oci:{}:app", app.display()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let image: serde_json::Value = serde_json::from_str(&env.ok(&[
        "inspect",
        &format!("oci:{}:app", app.display()),
        "--json",
    ]))
    .unwrap();
    assert!(
        image["binaries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["path"].as_str().unwrap().ends_with("bin/busybox")),
        "{image}"
    );

    let out = env
        .cmd()
        .env("PAKS_CONFIG", env.dir.path().join("none.toml"))
        .env("HTTPS_PROXY", "http://proxy.invalid:3128")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .args(["inspect", "ubuntu:24.04"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "hint: `ubuntu:24.04` is taken as `docker.io/library/ubuntu:24.04`; set `[defaults] registry`"
        ),
        "{err}"
    );
    assert!(err.contains("/v2/library/ubuntu/manifests/24.04"), "{err}");
}

/// Any OCI image (not only packages) copies between registries, `oci:` layouts and
/// `oci-archive:` files, blobs included, and skopeo reads every copy.
#[test]
fn any_image_copies_between_registries_layouts_and_archives() {
    let env = Env::new();
    let a = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("a"), &[]);
    let b = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("b"), &[]);
    let layout = env.dir.path().join("layout");
    let digest = busybox_layout(&layout, "1");

    // oci: → registry A, named exactly.
    let in_a = format!("{}/acme/busybox:1", a.host());
    env.ok(&["copy", &format!("oci:{}:1", layout.display()), &in_a]);
    let digest_in = |image: &str| -> String {
        let raw = skopeo(&["inspect", "--tls-verify=false", image]);
        let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        v["Digest"].as_str().unwrap().to_owned()
    };
    assert_eq!(digest_in(&format!("docker://{in_a}")), digest.to_string());

    // registry A → oci: and oci-archive:, each read back by skopeo.
    let copied = env.dir.path().join("copied");
    env.ok(&[
        "copy",
        &format!("docker://{in_a}"),
        &format!("oci:{}:v1", copied.display()),
    ]);
    let archive = env.dir.path().join("busybox.tar");
    env.ok(&[
        "copy",
        &in_a,
        &format!("oci-archive:{}:v1", archive.display()),
    ]);
    for image in [
        format!("oci:{}:v1", copied.display()),
        format!("oci-archive:{}:v1", archive.display()),
    ] {
        let raw = skopeo(&["inspect", "--raw", &image]);
        let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert!(
            v["layers"].as_array().is_some_and(|l| !l.is_empty()),
            "{image}: {raw}"
        );
    }

    // oci-archive: → registry B, under another name; the same image arrives.
    let in_b = format!("{}/other/bb:2", b.host());
    env.ok(&[
        "copy",
        &format!("oci-archive:{}:v1", archive.display()),
        &format!("docker://{in_b}"),
    ]);
    assert_eq!(digest_in(&format!("docker://{in_b}")), digest.to_string());
    let config = skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!("docker://{in_b}"),
    ]);
    assert!(config.contains("\"architecture\""), "{config}");

    // inspect and compat read every transport.
    for image in [
        format!("oci-archive:{}:v1", archive.display()),
        format!("oci:{}:v1", copied.display()),
        format!("docker://{in_b}"),
    ] {
        let said = env.ok(&["compat", &image]);
        assert!(said.contains(": runs"), "{image}: {said}");
    }

    // A transport a command cannot use is refused with a hint, before any work.
    let err = env.fails(&["pull", &format!("oci:{}:v1", copied.display())], 1);
    assert!(err.contains("`paks pull` reads from registries"), "{err}");
    let err = env.fails(
        &[
            "copy",
            &in_a,
            &format!("docker-archive:{}", env.dir.path().join("x.tar").display()),
        ],
        1,
    );
    assert!(
        err.contains("does not read or write `docker-archive:"),
        "{err}"
    );
}

/// `paks push` tags the version it pushes with a free-form tag, puts archives exactly
/// where `--repository` or `--namespace` says (today's guess still works), and `paks
/// pull NAME` resolves from the configured repositories into the cache, installing
/// nothing.
#[test]
fn push_tags_and_explicit_targets_and_pull_by_name() {
    let builder = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &builder.dir.path().join("data"), &[]);
    let host = server.host();
    let greet = builder.build("libgreet");
    let hello = builder.build("hello");
    let (greet, hello) = (greet.to_str().unwrap(), hello.to_str().unwrap());
    let raw = |image: &str| {
        skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
    };

    // The guess (the last component is the package's name) with an extra tag: the tag
    // is the version's index.
    builder.ok(&["push", hello, &format!("{host}/acme/hello:latest")]);
    assert_eq!(
        raw(&format!("{host}/acme/hello:latest")),
        raw(&format!("{host}/acme/hello:1.0.0"))
    );

    // `--repository`: any name; the dependency goes to the namespace above it.
    builder.ok(&[
        "push",
        hello,
        &format!("{host}/site/tools/greeter:stable"),
        "--repository",
    ]);
    let stable: serde_json::Value =
        serde_json::from_str(&raw(&format!("{host}/site/tools/greeter:stable"))).unwrap();
    assert_eq!(
        stable["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{stable}"
    );
    raw(&format!("{host}/site/tools/libgreet:1.0.0"));

    // `--namespace`: the last component is a namespace although it is a package's name.
    builder.ok(&[
        "push",
        greet,
        &format!("{host}/other/libgreet"),
        "--namespace",
    ]);
    raw(&format!("{host}/other/libgreet/libgreet:1.0.0"));

    // A tag or a repository takes the builds of one version only.
    for args in [
        &["push", greet, hello, &format!("{host}/acme/x:t")][..],
        &[
            "push",
            greet,
            hello,
            &format!("{host}/acme/x"),
            "--repository",
        ][..],
    ] {
        let err = builder.fails(args, 1);
        assert!(
            err.contains("receives the builds of one package version"),
            "{err}"
        );
    }

    // Pull by name: resolved from a signed repository, into the cache only.
    let public = sign_index(&builder, &format!("{host}/acme"));
    let user = Env::new();
    add_repository(&user, &format!("{host}/acme"), &public);
    let pulled = user.ok(&["pull", "hello@^1", "--json"]);
    let ids: Vec<String> = pulled
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["type"], "pull", "{l}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{pulled}");
    assert!(
        ids.iter().any(|i| i.contains("-hello-")) && ids.iter().any(|i| i.contains("-libgreet-")),
        "{pulled}"
    );
    assert!(
        user.store_entries().is_empty(),
        "{:?}",
        user.store_entries()
    );
    // What was pulled installs offline.
    drop(server);
    user.ok(&["install", "hello", "--offline"]);
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

/// `paks build` of a recipe whose dependency is not installed fetches it from the
/// configured repositories (as spack does) and builds; with no repository configured the
/// build fails as before, saying what is missing.
#[test]
fn build_fetches_a_missing_dependency_from_the_repositories() {
    let builder = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &builder.dir.path().join("data"), &[]);
    let host = server.host();
    let greet = builder.build("libgreet");
    builder.ok(&["push", greet.to_str().unwrap(), &format!("{host}/acme")]);
    let public = sign_index(&builder, &format!("{host}/acme"));

    let user = Env::new();
    let recipe = common::examples().join("hello");
    let err = user.build_dir_fails(&recipe);
    assert!(
        err.contains("dependency `libgreet ^1.0` is not installed"),
        "{err}"
    );

    add_repository(&user, &format!("{host}/acme"), &public);
    let out = user
        .cmd()
        .args([
            "build",
            recipe.to_str().unwrap(),
            "--out",
            user.out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(
        said.contains("Fetching the dependency `libgreet ^1.0` from the repositories"),
        "{said}"
    );
    let entries = user.store_entries();
    assert!(
        entries.iter().any(|e| e.ends_with("-libgreet-1.0.0")),
        "{entries:?}"
    );
    assert!(
        entries.iter().any(|e| e.ends_with("-hello-1.0.0")),
        "{entries:?}"
    );
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

/// Sign an index of the namespace `ns` with a new key; returns the public key's path.
fn sign_index(builder: &Env, ns: &str) -> std::path::PathBuf {
    let key = builder.dir.path().join("key.pem");
    builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    builder.ok(&["index", "build", ns, "--sign", key.to_str().unwrap()]);
    key.with_extension("pub")
}

/// `paks repo add acme oci://NS --key PUBLIC` for `user`.
fn add_repository(user: &Env, ns: &str, public: &Path) {
    user.ok(&[
        "repo",
        "add",
        "acme",
        &format!("oci://{ns}"),
        "--key",
        public.to_str().unwrap(),
    ]);
}

/// `paks install HOST/OWNER/REPO[@REV]` for a configured forge: the package at the
/// forge's registry when it is published there, else a build of the repository's
/// `paks.toml` over git at `REV`. (The forge is a `.invalid` host mapped by the user
/// config to a local `paks serve` and `file://` git repositories.)
#[test]
fn install_from_a_forge_uses_its_registry_else_builds_from_git() {
    let builder = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &builder.dir.path().join("data"), &[]);
    let host = server.host();
    let script = builder.build("hello-script");
    builder.ok(&[
        "push",
        script.to_str().unwrap(),
        &format!("{host}/acme/hello-script"),
    ]);

    // A project that is not published: a git repository with the recipe at its top.
    let git_root = builder.dir.path().join("git");
    let project = git_root.join("acme/greeter");
    std::fs::create_dir_all(&project).unwrap();
    for file in ["paks.toml", "hello-script.in"] {
        std::fs::copy(
            common::examples().join("hello-script").join(file),
            project.join(file),
        )
        .unwrap();
    }
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    git(&["init", "--quiet"]);
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", "recipe"]);
    git(&["tag", "v0.2.0"]);

    let config = builder.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[forge.\"forge.invalid\"]\nregistry = \"{host}\"\ngit = \"file://{}\"\n",
            git_root.display()
        ),
    )
    .unwrap();
    let install = |env: &Env, what: &str| {
        let out = env
            .cmd()
            .env("PAKS_CONFIG", &config)
            .args(["install", what])
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
        text(&out.stderr)
    };

    let user = Env::new();
    let said = install(&user, "forge.invalid/acme/hello-script");
    assert!(
        said.contains(&format!("is published as `{host}/acme/hello-script:0.2.0`")),
        "{said}"
    );
    assert!(!said.contains("Building"), "{said}");
    assert_eq!(
        user.ok(&["run", "hello-script", "--", "hello-script"]),
        "Hello from a script!\n"
    );

    let other = Env::new();
    let said = install(&other, "forge.invalid/acme/greeter@v0.2.0");
    assert!(
        said.contains(&format!(
            "Building `file://{}/acme/greeter` at `v0.2.0`",
            git_root.display()
        )),
        "{said}"
    );
    assert!(
        other
            .store_entries()
            .iter()
            .any(|e| e.ends_with("-hello-script-0.2.0")),
        "{:?}",
        other.store_entries()
    );
    assert_eq!(
        other.ok(&["run", "hello-script", "--", "hello-script"]),
        "Hello from a script!\n"
    );
}
