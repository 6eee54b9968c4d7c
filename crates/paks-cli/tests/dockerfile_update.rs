//! `paks dockerfile update`: each `FROM` moved to the newest compatible tag and pinned to
//! the digest of its image index, the final stage's `org.opencontainers.image.base.*`
//! labels rewritten, every other byte kept; against `paks serve` and Debian's
//! `docker-registry` holding multi-arch images pushed with skopeo, and built with buildah.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Env, text};
use paks_types::Digest;
use serde_json::{Value, json};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const NAME: &str = "org.opencontainers.image.base.name";
const DIGEST: &str = "org.opencontainers.image.base.digest";

/// The tags of `acme/python` in the test registries: each a distinct two-platform index.
const TAGS: &[&str] = &[
    "3.12-slim",
    "3.13-slim",
    "3.14-slim",
    "4.0-slim",
    "3.12.1-slim",
    "3.12.3-slim",
    "3.13.0-slim",
    "3.12-alpine3.19",
    "3.13-alpine3.19",
    "3.13-alpine3.20",
    "3.15.0rc1-slim",
    "latest",
];

/// A registry holding `acme/python` at every tag of [`TAGS`], and the index digest of each.
struct Images {
    host: String,
    digests: std::collections::HashMap<&'static str, String>,
}

impl Images {
    /// Push every tag of [`TAGS`] to the registry at `host` with `skopeo copy --all`.
    fn push(host: &str) -> Self {
        let layout = tempfile::tempdir().unwrap();
        let mut digests = std::collections::HashMap::new();
        for tag in TAGS {
            let digest = multiarch_layout(layout.path(), tag);
            paks_testkit::skopeo(&[
                "copy",
                "--all",
                "--dest-tls-verify=false",
                &format!("oci:{}:{tag}", layout.path().display()),
                &format!("docker://{host}/acme/python:{tag}"),
            ]);
            digests.insert(*tag, digest.to_string());
        }
        Self {
            host: host.to_owned(),
            digests,
        }
    }

    /// `HOST/acme/python`.
    fn repo(&self) -> String {
        format!("{}/acme/python", self.host)
    }

    /// `HOST/acme/python:TAG`.
    fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repo())
    }

    /// `HOST/acme/python:TAG@sha256:…`, pinned to the tag's index.
    fn pinned(&self, tag: &str) -> String {
        format!("{}@{}", self.image(tag), self.digest(tag))
    }

    fn digest(&self, tag: &str) -> &str {
        &self.digests[tag]
    }
}

/// Add to the OCI layout in `dir`, under `tag`, an image index over two manifests of the
/// static busybox image: the host's platform (runnable) and the other of amd64/arm64
/// (the same layer, a config naming that architecture). The index is annotated with its
/// tag, so that each tag has its own digest. Returns the index's digest.
fn multiarch_layout(dir: &Path, tag: &str) -> Digest {
    let host = paks_testkit::busybox_layout(dir, &format!("{tag}-host"));
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
    };
    let put = |bytes: &[u8]| {
        let digest = Digest::sha256_of(bytes);
        std::fs::write(dir.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
        digest
    };
    let host_manifest = blob(&host.to_string());
    let manifest: Value = serde_json::from_slice(&host_manifest).unwrap();
    let mut config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let host_arch = config["architecture"].as_str().unwrap().to_owned();
    let other_arch = if host_arch == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    config["architecture"] = other_arch.into();
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = put(&config);
    let mut other = manifest.clone();
    other["config"] =
        json!({"mediaType": CONFIG, "digest": config_digest.to_string(), "size": config.len()});
    let other = serde_json::to_vec(&other).unwrap();
    let other_digest = put(&other);
    let entry = |digest: &Digest, size: usize, arch: &str| {
        json!({"mediaType": MANIFEST, "digest": digest.to_string(), "size": size,
               "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            entry(&host, host_manifest.len(), &host_arch),
            entry(&other_digest, other.len(), other_arch),
        ],
        "annotations": {"org.example.tag": tag},
    }))
    .unwrap();
    let digest = put(&index);
    let index_json = dir.join("index.json");
    let mut layout: Value = serde_json::from_slice(&std::fs::read(&index_json).unwrap()).unwrap();
    layout["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": INDEX,
        "digest": digest.to_string(),
        "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }));
    std::fs::write(&index_json, serde_json::to_vec(&layout).unwrap()).unwrap();
    digest
}

/// A directory holding `Dockerfile` with `text`.
fn project(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), text).unwrap();
    dir
}

fn dockerfile(dir: &tempfile::TempDir) -> String {
    std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap()
}

/// `paks dockerfile update ARGS` run in `dir`, with its output.
fn update(env: &Env, dir: &tempfile::TempDir, args: &[&str]) -> std::process::Output {
    env.cmd()
        .current_dir(dir.path())
        .args(["dockerfile", "update"])
        .args(args)
        .output()
        .unwrap()
}

/// Like [`update`], requiring success; returns stdout.
fn update_ok(env: &Env, dir: &tempfile::TempDir, args: &[&str]) -> String {
    let out = update(env, dir, args);
    assert!(
        out.status.success(),
        "paks dockerfile update {args:?} failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The base-image labels as `base_label_edits` adds them after a `FROM`.
fn labels(name: &str, digest: &str, eol: &str) -> String {
    format!("LABEL {NAME}=\"{name}\" \\{eol}      {DIGEST}=\"{digest}\"{eol}")
}

#[test]
fn moves_each_from_to_the_newest_tag_of_its_shape_and_labels_the_final_stage() {
    let env = Env::new();
    let server = common::serve(&env);
    let py = Images::push(&server.host());
    let repo = py.repo();
    let original = format!(
        "# syntax=docker/dockerfile:1\n\
         ARG OLD={repo}:3.12-slim\n\
         # The build stage.\n\
         FROM {repo}:3.12-slim AS build\n\
         LABEL {NAME}=\"{repo}:3.12-slim\"\n\
         COPY . /src\n\
         \n\
         FROM {repo}:3.12-alpine3.19 AS tools\n\
         FROM ${{OLD}} AS old\n\
         \n\
         FROM build\n\
         LABEL maintainer=\"me\"\n\
         COPY --from=tools /etc /tools\n"
    );
    let dir = project(&original);
    let stdout = update_ok(&env, &dir, &[]);
    // The stage label is gone (the final stage is not built on that stage's labels);
    // the final stage, built on `build`, is labelled with `build`'s new base. The image
    // written with an ARG stays: rewriting it would lose the ARG.
    let expected = format!(
        "# syntax=docker/dockerfile:1\n\
         ARG OLD={repo}:3.12-slim\n\
         # The build stage.\n\
         FROM {} AS build\n\
         COPY . /src\n\
         \n\
         FROM {} AS tools\n\
         FROM ${{OLD}} AS old\n\
         \n\
         FROM build\n\
         {}\
         LABEL maintainer=\"me\"\n\
         COPY --from=tools /etc /tools\n",
        py.pinned("3.14-slim"),
        py.pinned("3.13-alpine3.19"),
        labels(&py.image("3.14-slim"), py.digest("3.14-slim"), "\n"),
    );
    assert_eq!(dockerfile(&dir), expected);
    assert_eq!(
        stdout,
        format!(
            "Dockerfile:4  {repo}:3.12-slim → {}\nDockerfile:8  {repo}:3.12-alpine3.19 → {}\n",
            py.pinned("3.14-slim"),
            py.pinned("3.13-alpine3.19")
        )
    );

    // A second run finds nothing to do and leaves every byte.
    let again = update(&env, &dir, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");
    assert_eq!(
        text(&again.stderr),
        "Dockerfile:8  ${OLD} not pinned: uses ARG `OLD`\nUpdated 0 of 2 images in 0 files\n"
    );
    assert_eq!(dockerfile(&dir), expected);
}

#[test]
fn levels_bound_the_step_and_every_from_is_pinned() {
    let env = Env::new();
    let registry = paks_testkit::DockerRegistry::start();
    let py = Images::push(registry.host());
    let repo = py.repo();
    let original = format!(
        "FROM {repo}:3.12.1-slim AS a\n\
         FROM {repo}:3.12-slim AS b\n\
         FROM {repo}:latest AS c\n\
         FROM {repo}:3.15.0rc1-slim AS d\n\
         FROM {repo}:4.0-slim@sha256:{} AS e\n\
         FROM scratch\n\
         LABEL {NAME}=\"{repo}:3.12-slim\"\n\
         COPY --from=a / /\n",
        "0".repeat(64)
    );
    // (level, expected tag for each of a, b, c, d, e)
    let cases = [
        (
            "patch",
            [
                "3.12.3-slim",
                "3.12-slim",
                "latest",
                "3.15.0rc1-slim",
                "4.0-slim",
            ],
        ),
        (
            "minor",
            [
                "3.13.0-slim",
                "3.14-slim",
                "latest",
                "3.15.0rc1-slim",
                "4.0-slim",
            ],
        ),
        (
            "major",
            [
                "3.13.0-slim",
                "4.0-slim",
                "latest",
                "3.15.0rc1-slim",
                "4.0-slim",
            ],
        ),
    ];
    for (level, tags) in cases {
        let dir = project(&original);
        let stdout = update_ok(&env, &dir, &["--level", level, "--json"]);
        let expected = format!(
            "FROM {} AS a\nFROM {} AS b\nFROM {} AS c\nFROM {} AS d\nFROM {} AS e\n\
             FROM scratch\nCOPY --from=a / /\n",
            py.pinned(tags[0]),
            py.pinned(tags[1]),
            py.pinned(tags[2]),
            py.pinned(tags[3]),
            py.pinned(tags[4]),
        );
        assert_eq!(dockerfile(&dir), expected, "--level {level}");
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5, "{stdout}");
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["type"], "update", "{line}");
            assert_eq!(line["file"], "Dockerfile");
            assert_eq!(line["line"], i + 1);
            assert_eq!(line["to"], py.pinned(tags[i]));
            assert_eq!(line["digest"], py.digest(tags[i]));
        }
        assert_eq!(lines[0]["from"], format!("{repo}:3.12.1-slim"));
    }
}

#[test]
fn patch_prints_what_update_writes_and_writes_nothing() {
    let env = Env::new();
    let server = common::serve(&env);
    let py = Images::push(&server.host());
    let repo = py.repo();
    let original = format!(
        "ARG APP=1\n\
         FROM {repo}:3.12.1-slim\n\
         LABEL {DIGEST}='sha256:{}' \\\n      org.example.keep=yes\n\
         RUN echo hi\n",
        "1".repeat(64)
    );
    let dir = project(&original);
    let diff = update_ok(&env, &dir, &["--patch"]);
    assert_eq!(dockerfile(&dir), original, "--patch writes nothing");
    assert!(
        diff.starts_with("--- a/Dockerfile\n+++ b/Dockerfile\n"),
        "{diff}"
    );

    // The diff, applied by `patch -p1` to a copy, gives what update writes.
    let copy = project(&original);
    let mut patch = std::process::Command::new("patch");
    patch.args(["-p1", "--quiet"]).current_dir(copy.path());
    let out = common::run_with_stdin(&mut patch, diff.as_bytes());
    assert!(out.status.success(), "patch -p1: {}", text(&out.stderr));
    update_ok(&env, &dir, &[]);
    let updated = dockerfile(&dir);
    assert_eq!(dockerfile(&copy), updated);
    // The existing digest label is replaced in its quoting style, the missing name
    // label is added after the FROM.
    assert_eq!(
        updated,
        format!(
            "ARG APP=1\n\
             FROM {}\n\
             LABEL {NAME}=\"{}\"\n\
             LABEL {DIGEST}='{}' \\\n      org.example.keep=yes\n\
             RUN echo hi\n",
            py.pinned("3.13.0-slim"),
            py.image("3.13.0-slim"),
            py.digest("3.13.0-slim"),
        )
    );
    // Nothing left to change: an empty patch.
    assert_eq!(update_ok(&env, &dir, &["--patch"]), "");
}

#[test]
fn a_crlf_dockerfile_keeps_its_line_endings() {
    let env = Env::new();
    let registry = paks_testkit::DockerRegistry::start();
    let py = Images::push(registry.host());
    let repo = py.repo();
    let original = format!(
        "# escape=`\r\n\
         FROM {repo}:3.12-alpine3.20\r\n\
         RUN echo one `\r\n    two\r\n"
    );
    let dir = project(&original);
    update_ok(&env, &dir, &[]);
    let expected = format!(
        "# escape=`\r\n\
         FROM {}\r\n\
         LABEL {NAME}=\"{}\" `\r\n      {DIGEST}=\"{}\"\r\n\
         RUN echo one `\r\n    two\r\n",
        py.pinned("3.13-alpine3.20"),
        py.image("3.13-alpine3.20"),
        py.digest("3.13-alpine3.20"),
    );
    assert_eq!(dockerfile(&dir), expected);
    assert!(!expected.replace("\r\n", "").contains('\n'));
}

#[test]
fn failures_say_what_and_leave_the_file() {
    let env = Env::new();
    let registry = paks_testkit::DockerRegistry::start();
    let py = Images::push(registry.host());
    let repo = py.repo();

    // A tag the registry does not have (and nothing newer of its shape): the user's.
    let original = format!("FROM {repo}:9.9-slim\n");
    let dir = project(&original);
    let out = update(&env, &dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("tag `9.9-slim` of `{repo}` does not exist")),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(dockerfile(&dir), original);

    // A registry nobody answers at: the machine's (or network's).
    let closed = paks_testkit::free_port();
    let original = format!("FROM 127.0.0.1:{closed}/acme/python:3.12-slim\n");
    let dir = project(&original);
    let out = update(&env, &dir, &["--transfer-deadline", "5"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(dockerfile(&dir), original);
}

/// `buildah ARGS` with a throw-away store under `dir` (vfs: no overlay mounts needed).
fn buildah(dir: &Path, args: &[&str]) -> String {
    let out = paks_testkit::run_ok(
        std::process::Command::new("buildah")
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--runroot")
            .arg(dir.join("runroot"))
            .args(["--storage-driver", "vfs"])
            .args(args),
    );
    text(&out.stdout)
}

/// Build the `Dockerfile` in `context` with buildah (chroot isolation: no runtime, no
/// network setup) as `tag`; returns `buildah inspect` of the image.
fn build(store: &Path, context: &Path, tag: &str) -> Value {
    buildah(
        store,
        &[
            "bud",
            "--isolation",
            "chroot",
            "--tls-verify=false",
            "--quiet",
            "-t",
            tag,
            context.to_str().unwrap(),
        ],
    );
    serde_json::from_str(&buildah(store, &["inspect", "--type", "image", tag])).unwrap()
}

#[test]
fn buildah_builds_the_pinned_and_the_updated_dockerfile() {
    let env = Env::new();
    let server = common::serve(&env);
    let py = Images::push(&server.host());
    let repo = py.repo();
    let dir = project(&format!(
        "FROM {repo}:3.12-slim\n\
         COPY hello.txt /hello.txt\n\
         RUN [\"/bin/busybox\", \"cp\", \"/hello.txt\", \"/copied.txt\"]\n"
    ));
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let store = tempfile::tempdir().unwrap();

    // Pinned: built from the index the tag named, on this host's platform.
    env.cmd()
        .current_dir(dir.path())
        .args(["dockerfile", "pin"])
        .output()
        .map(|out| assert!(out.status.success(), "pin: {}", text(&out.stderr)))
        .unwrap();
    assert!(dockerfile(&dir).starts_with(&format!("FROM {}\n", py.pinned("3.12-slim"))));
    let pinned = build(store.path(), dir.path(), "localhost/pinned:1");
    let annotations = &pinned["ImageAnnotations"];
    assert_eq!(
        annotations[NAME],
        format!("{repo}@{}", py.digest("3.12-slim")),
        "buildah records the base it pulled: {annotations}"
    );

    // Updated: a newer tag, its index digest, and the labels the image carries.
    update_ok(&env, &dir, &[]);
    let updated = build(store.path(), dir.path(), "localhost/updated:1");
    let labels = &updated["OCIv1"]["config"]["Labels"];
    assert_eq!(labels[NAME], py.image("3.14-slim"), "{labels}");
    assert_eq!(labels[DIGEST], py.digest("3.14-slim"), "{labels}");
    assert_eq!(
        updated["ImageAnnotations"][NAME],
        format!("{repo}@{}", py.digest("3.14-slim"))
    );
    // The RUN ran the base image's busybox (the build would have failed otherwise); the
    // image is the base's layer and the build's.
    let layers = updated["OCIv1"]["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        2,
        "the base's layer and the build's: {layers:?}"
    );
    buildah(store.path(), &["rmi", "--all", "--force"]);
}

#[test]
fn a_directory_is_walked_and_platform_and_untagged_images_are_kept_as_written() {
    let env = Env::new();
    let registry = paks_testkit::DockerRegistry::start();
    let py = Images::push(registry.host());
    let repo = py.repo();
    let dir = project(&format!(
        "FROM --platform=linux/arm64 {repo}:3.13-slim AS x\n"
    ));
    std::fs::create_dir(dir.path().join("app")).unwrap();
    std::fs::write(
        dir.path().join("app/Containerfile"),
        format!("FROM {repo}\nCOPY . /\n"),
    )
    .unwrap();
    let stdout = update_ok(&env, &dir, &[".", "--json"]);
    assert_eq!(
        dockerfile(&dir),
        format!(
            "FROM --platform=linux/arm64 {} AS x\n{}",
            py.pinned("3.14-slim"),
            labels(&py.image("3.14-slim"), py.digest("3.14-slim"), "\n")
        )
    );
    // No tag stands for `latest`, which the pin now says.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app/Containerfile")).unwrap(),
        format!(
            "FROM {}\n{}COPY . /\n",
            py.pinned("latest"),
            labels(&py.image("latest"), py.digest("latest"), "\n")
        )
    );
    let files: BTreeSet<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["file"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(files.len(), 2, "{stdout}");
    assert_eq!(update_ok(&env, &dir, &[".", "--patch"]), "");
}
