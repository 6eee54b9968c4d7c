//! `paks dockerfile pin` and `paks dockerfile check` against real registries on 127.0.0.1
//! (`paks serve` and Debian's `docker-registry`) holding multi-platform images pushed with
//! `skopeo copy --all`: a tag is pinned to its image index's digest (what `skopeo inspect
//! --raw` serves), a pin goes stale when the tag moves and is re-pinned, `--patch` writes
//! nothing, and a file with nothing to pin keeps every byte.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Env, text};
use paks_testkit::{DockerRegistry, multi_arch_layout, skopeo};
use paks_types::Digest;
use serde_json::Value;

/// Push a two-platform image (its layers made from `content`) as `target` (`HOST/REPO:TAG`).
fn push(target: &str, content: &str) {
    let layout = tempfile::tempdir().unwrap();
    multi_arch_layout(layout.path(), "t", content);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:t", layout.path().display()),
        &format!("docker://{target}"),
    ]);
}

/// The digest of what the registry serves for `target`, as skopeo reads it; the
/// document must be an image index.
fn index_digest(target: &str) -> Digest {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]);
    let doc: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(doc["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(doc["manifests"].as_array().unwrap().len(), 2);
    Digest::sha256_of(raw.as_bytes())
}

/// `paks dockerfile ARGS` run in `dir`.
fn dockerfile(env: &Env, dir: &Path, args: &[&str]) -> Output {
    env.cmd()
        .arg("dockerfile")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert!(v["type"].is_string(), "no `type`: {l}");
            v
        })
        .collect()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A `docker-registry` holding `base:1` (a two-platform image), and a test directory.
struct Scene {
    registry: DockerRegistry,
    env: Env,
    /// `HOST/base:1`.
    image: String,
}

impl Scene {
    fn new() -> Self {
        let registry = DockerRegistry::start();
        let image = format!("{}/base:1", registry.host());
        push(&image, "one");
        Self {
            registry,
            env: Env::new(),
            image,
        }
    }

    fn dir(&self) -> &Path {
        self.env.dir.path()
    }

    fn host(&self) -> &str {
        self.registry.host()
    }
}

/// A Dockerfile with every kind of `FROM`: an image with `--platform` and an alias, one
/// through an `ARG`, a stage reference and `scratch`.
fn every_kind(host: &str) -> String {
    format!(
        "# syntax=docker/dockerfile:1\n\
         ARG PY=3.12\n\
         FROM --platform=$BUILDPLATFORM {host}/acme/python:3.12-slim AS build\n\
         RUN echo hi > /x\n\
         FROM {host}/acme/python:${{PY}}-slim\n\
         FROM build AS again\n\
         FROM scratch\n\
         COPY --from=build /x /x\n"
    )
}

/// On both registries: the tag is pinned to the digest of its index, with `--platform`,
/// the alias and every other byte kept; the `ARG` image is reported and left.
fn pins_to_the_index(host: &str) {
    let env = Env::new();
    let dir = env.dir.path();
    let image = format!("{host}/acme/python:3.12-slim");
    push(&image, "3.12");
    let digest = index_digest(&image);
    let before = every_kind(host);
    std::fs::write(dir.join("Dockerfile"), &before).unwrap();

    let out = dockerfile(&env, dir, &["pin"]);
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("Dockerfile:3  {image} → {image}@{digest}\n")
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "Dockerfile:5  {host}/acme/python:${{PY}}-slim not pinned: uses ARG `PY`"
        )),
        "{err}"
    );
    assert!(err.contains("Pinned 1 of 1 image in 1 file"), "{err}");
    let after = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert_eq!(
        after,
        before.replacen(&format!("{image} AS"), &format!("{image}@{digest} AS"), 1)
    );

    // Again: nothing changes, and JSON says so.
    let out = dockerfile(&env, dir, &["pin", "--json"]);
    assert_exit(&out, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["type"], "pin");
    assert_eq!(lines[0]["file"], "Dockerfile");
    assert_eq!(lines[0]["line"], 3);
    assert_eq!(lines[0]["digest"], digest.to_string());
    assert_eq!(lines[0]["changed"], false);
    assert_eq!(lines[1]["type"], "skip");
    assert_eq!(lines[1]["args"], serde_json::json!(["PY"]));
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        after
    );
}

#[test]
fn pins_a_multi_platform_tag_to_its_index_on_paks_serve() {
    let env = Env::new();
    let server = common::serve(&env);
    pins_to_the_index(&server.host());
}

#[test]
fn pins_a_multi_platform_tag_to_its_index_on_docker_registry() {
    let registry = DockerRegistry::start();
    pins_to_the_index(registry.host());
}

#[test]
fn check_reports_a_moved_tag_as_stale_and_pin_repins_it() {
    let registry = DockerRegistry::start();
    let host = registry.host();
    let env = Env::new();
    let dir = env.dir.path();
    let image = format!("{host}/base:1.0");
    push(&image, "one");
    std::fs::write(dir.join("Dockerfile"), format!("FROM {image}\n")).unwrap();

    // Unpinned: exit 1.
    let out = dockerfile(&env, dir, &["check"]);
    assert_exit(&out, 1);
    assert_eq!(
        text(&out.stdout),
        format!("Dockerfile:1  {image}  unpinned\n")
    );
    assert!(text(&out.stderr).contains("hint: `paks dockerfile pin` pins them"));

    assert_exit(&dockerfile(&env, dir, &["pin"]), 0);
    let first = index_digest(&image);
    let out = dockerfile(&env, dir, &["check"]);
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("Dockerfile:1  {image}@{first}  current\n")
    );

    // The tag moves, and a newer tag appears: stale, exit 1.
    push(&image, "two");
    push(&format!("{host}/base:1.1"), "newer");
    let second = index_digest(&image);
    assert_ne!(first, second);
    let out = dockerfile(&env, dir, &["check"]);
    assert_exit(&out, 1);
    assert_eq!(
        text(&out.stdout),
        format!(
            "Dockerfile:1  {image}@{first}  stale: `1.0` serves `{second}` now; newer tags: 1.1\n"
        )
    );
    let out = dockerfile(&env, dir, &["check", "--json"]);
    assert_exit(&out, 1);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    let from = &lines[0];
    assert_eq!(from["type"], "from");
    assert_eq!(from["file"], "Dockerfile");
    assert_eq!(from["line"], 1);
    assert_eq!(from["stage"], 0);
    assert_eq!(from["pinned"], true);
    assert_eq!(from["current"], false);
    assert_eq!(from["digest"], first.to_string());
    assert_eq!(from["latest_digest"], second.to_string());
    assert_eq!(from["newer_tags"], serde_json::json!(["1.1"]));
    assert_eq!(lines[1]["type"], "summary");
    assert_eq!(lines[1]["stale"], 1);

    // Re-pinned to what the tag serves now.
    let out = dockerfile(&env, dir, &["pin"]);
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("Dockerfile:1  {image}@{first} → {image}@{second}\n")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        format!("FROM {image}@{second}\n")
    );
    assert_exit(&dockerfile(&env, dir, &["check"]), 0);
}

#[test]
fn patch_prints_a_diff_and_writes_nothing() {
    let scene = Scene::new();
    let (env, dir, image) = (&scene.env, scene.dir(), &scene.image);
    let digest = index_digest(image);
    let before = format!("FROM {image} AS base\nRUN true\nFROM base\nRUN false\n");
    std::fs::write(dir.join("Dockerfile"), &before).unwrap();

    let out = dockerfile(env, dir, &["pin", "--patch", "Dockerfile"]);
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!(
            "--- a/Dockerfile\n+++ b/Dockerfile\n@@ -1,4 +1,4 @@\n-FROM {image} AS base\n+FROM {image}@{digest} AS base\n RUN true\n FROM base\n RUN false\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        before
    );
    // The diff applies.
    std::fs::write(dir.join("change.patch"), &out.stdout).unwrap();
    let apply = std::process::Command::new("patch")
        .args(["-p1", "--dry-run", "-i", "change.patch"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", text(&apply.stderr));
}

#[test]
fn files_with_nothing_to_pin_keep_every_byte() {
    let scene = Scene::new();
    let (env, dir, image) = (&scene.env, scene.dir(), &scene.image);
    let digest = index_digest(image);
    // CRLF, comments inside a continuation, odd spacing, a current pin, a stage, scratch.
    let files = [
        (
            "Dockerfile",
            format!(
                "# c\r\nFROM   {image}@{digest}   as   b\r\nRUN a \\\r\n# inside\r\n  b\r\nFROM b\r\n"
            ),
        ),
        ("scratch.Dockerfile", "FROM scratch\nCOPY x /x".to_owned()),
    ];
    for (name, body) in &files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let out = dockerfile(env, dir, &["pin", "."]);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "");
    for (name, body) in &files {
        assert_eq!(
            &std::fs::read_to_string(dir.join(name)).unwrap(),
            body,
            "{name}"
        );
    }
    let out = dockerfile(env, dir, &["check", "."]);
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("./Dockerfile:2  {image}@{digest}  current\n")
    );
}

#[test]
fn an_unknown_tag_is_named_and_an_unreachable_registry_exits_2() {
    let scene = Scene::new();
    let (env, dir, host) = (&scene.env, scene.dir(), scene.host());
    std::fs::write(dir.join("Dockerfile"), format!("FROM {host}/base:9\n")).unwrap();
    for command in ["pin", "check"] {
        let out = dockerfile(env, dir, &[command]);
        assert_exit(&out, 1);
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("error: tag `9` of `{host}/base` does not exist")),
            "{err}"
        );
        assert!(err.contains("used in `Dockerfile:1`"), "{err}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        format!("FROM {host}/base:9\n")
    );

    let port = paks_testkit::free_port();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM 127.0.0.1:{port}/base:1\n"),
    )
    .unwrap();
    let out = dockerfile(env, dir, &["check"]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains(&format!(
            "error: failed to resolve `127.0.0.1:{port}/base:1`"
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn directories_are_searched_for_dockerfiles() {
    let scene = Scene::new();
    let (env, dir, image) = (&scene.env, scene.dir(), &scene.image);
    let tree = dir.join("tree");
    for path in [
        "Dockerfile",
        "svc/api.Dockerfile",
        "svc/Dockerfile.dev",
        "web/Containerfile",
        "web/x.containerfile",
        ".hidden/Dockerfile",
        "svc/Dockerfile.dockerignore",
        "README.md",
    ] {
        let p = tree.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("FROM {image}\n")).unwrap();
    }
    std::os::unix::fs::symlink(tree.join("svc"), tree.join("link")).unwrap();
    std::os::unix::fs::symlink(tree.join("Dockerfile"), tree.join("linked.Dockerfile")).unwrap();

    let out = dockerfile(env, dir, &["pin", "--json", "tree"]);
    assert_exit(&out, 0);
    let files: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| l["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        files,
        [
            "tree/Dockerfile",
            "tree/svc/Dockerfile.dev",
            "tree/svc/api.Dockerfile",
            "tree/web/Containerfile",
            "tree/web/x.containerfile",
        ]
    );
    for skipped in [
        ".hidden/Dockerfile",
        "svc/Dockerfile.dockerignore",
        "README.md",
    ] {
        assert_eq!(
            std::fs::read_to_string(tree.join(skipped)).unwrap(),
            format!("FROM {image}\n"),
            "{skipped}"
        );
    }
    let out = dockerfile(env, dir, &["pin", "nothing-here"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("error: `nothing-here` does not exist"));
}

#[test]
fn a_registry_that_wants_a_login_is_asked_with_the_users_credentials() {
    let registry = DockerRegistry::start_with_user("alice", "secret");
    let host = registry.host();
    let image = format!("{host}/private:1");
    let layout = tempfile::tempdir().unwrap();
    multi_arch_layout(layout.path(), "t", "private");
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:secret",
        &format!("oci:{}:t", layout.path().display()),
        &format!("docker://{image}"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "alice:secret",
        &format!("docker://{image}"),
    ]);
    let digest = Digest::sha256_of(raw.as_bytes());
    let env = Env::new();
    let dir = env.dir.path();
    std::fs::write(dir.join("Dockerfile"), format!("FROM {image}\n")).unwrap();

    let out = dockerfile(&env, dir, &["pin"]);
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("error: `{host}` refused access to `{image}`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("hint: log in with `paks login {host}`")),
        "{err}"
    );

    let out = env
        .cmd()
        .args(["dockerfile", "pin"])
        .current_dir(dir)
        .env(paks_oci::env_var_for(host), "alice:secret")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        format!("FROM {image}@{digest}\n")
    );
}

/// A registry that serves the image but will not list its tags (as some let a user pull
/// but not list): the check still answers, and says that newer tags are unknown.
#[test]
fn tags_that_cannot_be_listed_are_a_warning() {
    let digest = Digest::sha256_of(b"index");
    let header_digest = digest.clone();
    let server = paks_testkit::HostileServer::start(move |req, stream| {
        if req.path().ends_with("/tags/list") {
            let body = r#"{"errors":[{"code":"DENIED","message":"no listing"}]}"#;
            paks_testkit::write_head(
                stream,
                403,
                &[
                    ("content-type", "application/json".to_owned()),
                    ("content-length", body.len().to_string()),
                ],
            )?;
            return std::io::Write::write_all(stream, body.as_bytes());
        }
        paks_testkit::write_head(
            stream,
            200,
            &[
                (
                    "content-type",
                    "application/vnd.oci.image.index.v1+json".to_owned(),
                ),
                ("content-length", "2".to_owned()),
                ("docker-content-digest", header_digest.to_string()),
            ],
        )
    });
    let env = Env::new();
    let dir = env.dir.path();
    let image = format!("{}/base:1.0@{digest}", server.host());
    std::fs::write(dir.join("Dockerfile"), format!("FROM {image}\n")).unwrap();
    let out = dockerfile(&env, dir, &["check"]);
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("Dockerfile:1  {image}  current\n")
    );
    let err = text(&out.stderr);
    assert!(err.contains("its newer tags are not listed"), "{err}");
}
