//! Store poisoning (issue 12): a `.pak` that claims another package's id, and archives
//! whose metadata lies about themselves. Each forged archive is a real one re-packed with
//! one lie (`tests/forge/forge.py`, python3's tarfile), every digest recomputed.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, forge, paks_bin, text, tree};
use paks_testkit::PaksServe;

/// `paks info --json` of an archive or an installed package.
fn info(env: &Env, what: &str) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["info", what, "--json"])).unwrap()
}

/// The manifest digest the install record of `id` in `env` holds.
fn recorded_manifest(env: &Env, id: &str) -> String {
    let path = env.root.join(format!("state/installed/{id}.json"));
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    record["manifest"].as_str().unwrap().to_owned()
}

/// libgreet and hello-script built, libgreet pushed to a `paks serve` namespace, and a
/// forged archive: hello-script's content under libgreet's id, name and version.
struct Scene {
    server: PaksServe,
    builder: Env,
    evil: PathBuf,
    id: String,
    real_manifest: String,
    real_tree: Vec<String>,
}

impl Scene {
    fn new() -> Self {
        let builder = Env::new();
        let server = PaksServe::start(
            Path::new(paks_bin()),
            &builder.dir.path().join("registry-data"),
            &[],
        );
        let real = builder.build("libgreet");
        let script = builder.build("hello-script");
        let id = info(&builder, real.to_str().unwrap())["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The real package, as a fresh root installs it.
        let clean = Env::new();
        clean.ok(&["install", real.to_str().unwrap()]);
        let real_tree = tree(&clean.store().join(&id));
        let real_manifest = recorded_manifest(&clean, &id);
        let evil = builder.dir.path().join("evil.pak");
        forge(
            &script,
            &evil,
            &serde_json::json!({"id": id, "name": "libgreet", "version": "1.0.0"}),
        );
        builder.ok(&[
            "push",
            real.to_str().unwrap(),
            &format!("{}/acme/libgreet", server.host()),
        ]);
        Self {
            server,
            builder,
            evil,
            id,
            real_manifest,
            real_tree,
        }
    }

    fn reference(&self) -> String {
        format!("{}/acme/libgreet:1.0.0", self.server.host())
    }

    /// Install the forged archive into `env`: it claims the id, and nothing in it can be
    /// checked against anything (the user asked for this file).
    fn install_evil(&self, env: &Env) {
        env.ok(&["install", self.evil.to_str().unwrap()]);
        assert!(
            env.store().join(&self.id).join("bin/hello-script").exists(),
            "the forged content is installed under the real id"
        );
    }

    /// The store has the real content under the id, its record the real manifest, and the
    /// user was told about the replaced build.
    fn assert_real_wins(&self, env: &Env, stderr: &str) {
        assert_eq!(tree(&env.store().join(&self.id)), self.real_tree);
        assert_eq!(recorded_manifest(env, &self.id), self.real_manifest);
        assert!(
            stderr.contains(&self.id) && stderr.contains(&self.real_manifest),
            "the replacement is reported by id and digest: {stderr}"
        );
    }
}

#[test]
fn a_forged_id_is_replaced_by_the_real_package_from_a_registry() {
    let scene = Scene::new();
    let env = Env::new();
    scene.install_evil(&env);
    let out = env.run(&["install", &scene.reference()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    scene.assert_real_wins(&env, &text(&out.stderr));
}

#[test]
fn a_removed_forged_package_does_not_come_back_from_the_unpacked_cache() {
    let scene = Scene::new();
    let env = Env::new();
    scene.install_evil(&env);
    env.ok(&["remove", &scene.id]);
    let out = env.run(&["install", &scene.reference()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(tree(&env.store().join(&scene.id)), scene.real_tree);
    assert_eq!(recorded_manifest(&env, &scene.id), scene.real_manifest);
}

#[test]
fn a_forged_id_is_replaced_by_the_real_package_from_a_signed_index() {
    let scene = Scene::new();
    let key = scene.builder.dir.path().join("key.pem");
    scene
        .builder
        .ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    let ns = format!("{}/acme", scene.server.host());
    scene
        .builder
        .ok(&["index", "build", &ns, "--sign", key.to_str().unwrap()]);
    let env = Env::new();
    env.ok(&[
        "repo",
        "add",
        "acme",
        &format!("oci://{ns}"),
        "--key",
        key.with_extension("pub").to_str().unwrap(),
    ]);
    scene.install_evil(&env);
    let out = env.run(&["install", "libgreet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    scene.assert_real_wins(&env, &text(&out.stderr));
}

/// Install `evil` into a fresh root: it must fail with exit 1, leave nothing installed,
/// and say `why`.
fn refused(evil: &Path, why: &[&str]) {
    let env = Env::new();
    let err = env.fails(&["install", evil.to_str().unwrap()], 1);
    for w in why {
        assert!(err.contains(w), "expected `{w}` in: {err}");
    }
    assert!(
        env.store_entries().iter().all(|e| e.starts_with('.')),
        "{:?}",
        env.store_entries()
    );
    assert_eq!(env.ok(&["list"]), "");
}

#[test]
fn metadata_that_disagrees_with_itself_is_refused() {
    let builder = Env::new();
    let good = builder.build("hello-script");
    let id = info(&builder, good.to_str().unwrap())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = builder.dir.path();
    let hash = id.split('-').next().unwrap();
    let zeros = "0".repeat(64);
    let cases = [
        (
            "name",
            serde_json::json!({"name": "libgreet"}),
            vec!["libgreet", "hello-script"],
        ),
        (
            "version",
            serde_json::json!({"version": "9.9.9"}),
            vec!["9.9.9", "0.2.0"],
        ),
        (
            "annotation",
            serde_json::json!({"annotation_id": format!("{hash}-libgreet-1.0.0")}),
            vec!["io.paks.package.id", "libgreet-1.0.0"],
        ),
        (
            "diff_id",
            serde_json::json!({"diff_id": format!("sha256:{zeros}")}),
            vec!["diff", &zeros],
        ),
        (
            "media type",
            serde_json::json!({"media_type": "application/x-paks-surprise"}),
            vec!["application/x-paks-surprise"],
        ),
    ];
    for (what, options, why) in cases {
        let evil = dir.join(format!("evil-{}.pak", what.replace(' ', "-")));
        forge(&good, &evil, &options);
        eprintln!("case: {what}");
        refused(&evil, &why);
    }
}

#[test]
fn a_layer_that_unpacks_beyond_its_claimed_size_is_refused() {
    let builder = Env::new();
    let good = builder.build("hello-script");
    let evil = builder.dir.path().join("bomb.pak");
    // Claims 100 bytes; unpacks 4 MiB of zeros (a few KiB compressed, far under the
    // ratio limit's floor).
    forge(
        &good,
        &evil,
        &serde_json::json!({"add_file": ["share/zeros", 4 << 20], "size": 100}),
    );
    refused(&evil, &["100", "unpack"]);
}

#[test]
fn a_package_does_not_install_on_a_dependency_from_another_build() {
    let scene = Scene::new();
    // hello was built against the real libgreet and pins its manifest digest.
    let hello = scene.builder.build("hello");
    let env = Env::new();
    scene.install_evil(&env);
    let out = env.run(&["install", hello.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&scene.id) && stderr.contains(&scene.real_manifest),
        "the error names the dependency and the digest hello was built against: {stderr}"
    );
    let hello_id = info(&scene.builder, hello.to_str().unwrap())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!env.store().join(&hello_id).exists(), "nothing installed");
    // With the real libgreet installed (from the registry), hello installs.
    env.ok(&["install", &scene.reference()]);
    env.ok(&["install", hello.to_str().unwrap()]);
    assert!(env.store().join(&hello_id).join("bin/hello").exists());
}
