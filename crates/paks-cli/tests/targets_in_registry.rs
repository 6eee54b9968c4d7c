//! Several builds of one platform in a registry: a baseline and microarchitecture builds
//! (`io.paks.target`) of one version share its version index, and every way of choosing a
//! build (install by reference, the signed index, a project lock) picks the best one the
//! (faked) host can run.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, ScriptRepo, text};

/// The id `<c…c>-<name>-<version>` of another build of `id`'s version.
fn id_with_hash(id: &str, c: char) -> String {
    let (_, rest) = id.split_once('-').unwrap();
    format!("{}-{rest}", c.to_string().repeat(32))
}

/// hello-script 0.2.0 on a real `paks serve`: the real (baseline) build pushed, and
/// re-packed builds of it beside it, ready to push.
struct Builds {
    repo: ScriptRepo,
    baseline: String,
}

impl Builds {
    fn new() -> Self {
        let repo = ScriptRepo::new();
        let name = repo.pak.file_name().unwrap().to_str().unwrap();
        let hash = name.trim_end_matches(".pak").rsplit('-').next().unwrap();
        let baseline = format!("{hash}-hello-script-0.2.0");
        Self { repo, baseline }
    }

    /// A build of the same version re-packed with hash `c…c` and `target` (none: a
    /// baseline), pushed; returns its id.
    fn push(&self, c: char, target: Option<&str>) -> String {
        let id = id_with_hash(&self.baseline, c);
        let (hash, rest) = id.split_once('-').unwrap();
        let pak = self
            .repo
            .builder
            .dir
            .path()
            .join(format!("{rest}-{hash}.pak"));
        let annotations = target.map_or(
            serde_json::json!({}),
            |t| serde_json::json!({"io.paks.target": t}),
        );
        common::forge(
            &self.repo.pak,
            &pak,
            &serde_json::json!({"id": id, "annotations": annotations}),
        );
        self.repo.push(&pak);
        id
    }

    /// The version index of 0.2.0 as another OCI client (skopeo) reads it.
    fn version_index(&self) -> (String, serde_json::Value) {
        let raw = paks_testkit::skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/hello-script:0.2.0", self.repo.ns()),
        ]);
        let parsed = serde_json::from_str(&raw).unwrap();
        (raw, parsed)
    }

    /// `(platform, target, id)` of each entry of the version index, in order.
    fn entries(&self) -> Vec<(String, Option<String>, String)> {
        let (_, index) = self.version_index();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let p = &m["platform"];
                (
                    format!(
                        "{}/{}",
                        p["os"].as_str().unwrap(),
                        p["architecture"].as_str().unwrap()
                    ),
                    m["annotations"]["io.paks.target"]
                        .as_str()
                        .map(str::to_owned),
                    m["annotations"]["io.paks.package.id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect()
    }
}

/// A host profile file: an amd64 host of microarchitecture `microarch`.
fn amd64_host(env: &Env, microarch: &str) -> PathBuf {
    let path = env.dir.path().join(format!("{microarch}.json"));
    std::fs::write(
        &path,
        format!(r#"{{"os": "linux", "arch": "amd64", "microarch": "{microarch}"}}"#),
    )
    .unwrap();
    path
}

fn ok_as(env: &Env, host: &Path, dir: &Path, args: &[&str]) -> String {
    let out = env
        .cmd()
        .env("PAKS_HOST_PROFILE", host)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "paks {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The one build `paks install REF` puts in a fresh store on an amd64 host of
/// `microarch`.
fn installed_by_reference(builds: &Builds, microarch: &str) -> String {
    let user = Env::new();
    let host = amd64_host(&user, microarch);
    let reference = format!("{}/hello-script:0.2.0", builds.repo.ns());
    ok_as(&user, &host, user.dir.path(), &["install", &reference]);
    let installed: Vec<String> = user
        .store_entries()
        .into_iter()
        .filter(|e| e.contains("hello-script"))
        .collect();
    let [one] = installed.as_slice() else {
        panic!("one build installed on a {microarch} host: {installed:?}");
    };
    one.clone()
}

fn amd64(target: Option<&str>, id: &str) -> (String, Option<String>, String) {
    (
        "linux/amd64".to_owned(),
        target.map(str::to_owned),
        id.to_owned(),
    )
}

#[test]
fn a_version_index_keeps_each_target_build_and_install_picks_the_best() {
    let builds = Builds::new();
    let base = builds.baseline.clone();
    let v4 = builds.push('4', Some("x86_64_v4"));
    // Both builds are listed, the baseline first (what a generic OCI client takes).
    assert_eq!(
        builds.entries(),
        [amd64(None, &base), amd64(Some("x86_64_v4"), &v4)]
    );
    // Pushing the same build again changes nothing, to the byte.
    let (before, _) = builds.version_index();
    builds.push('4', Some("x86_64_v4"));
    assert_eq!(builds.version_index().0, before);

    assert_eq!(installed_by_reference(&builds, "x86_64_v4"), v4);
    assert_eq!(installed_by_reference(&builds, "x86_64_v3"), base);
    assert_eq!(installed_by_reference(&builds, "x86_64"), base);

    let v3 = builds.push('3', Some("x86_64_v3"));
    assert_eq!(
        builds.entries(),
        [
            amd64(None, &base),
            amd64(Some("x86_64_v3"), &v3),
            amd64(Some("x86_64_v4"), &v4)
        ]
    );
    assert_eq!(installed_by_reference(&builds, "x86_64_v3"), v3);
    assert_eq!(installed_by_reference(&builds, "x86_64_v4"), v4);
    // A host newer than every target runs the best of them.
    assert_eq!(installed_by_reference(&builds, "sapphirerapids"), v4);

    // A new baseline replaces only the baseline.
    let base2 = builds.push('b', None);
    assert_eq!(
        builds.entries(),
        [
            amd64(None, &base2),
            amd64(Some("x86_64_v3"), &v3),
            amd64(Some("x86_64_v4"), &v4)
        ]
    );
    assert_eq!(installed_by_reference(&builds, "x86_64"), base2);
}

/// The id the project's view links `bin/hello-script` into.
fn viewed_id(proj: &Path) -> String {
    let link = std::fs::read_link(proj.join(".paks/view/bin/hello-script")).unwrap();
    let link = link.to_str().unwrap();
    let after = &link[link.find("store/").unwrap() + "store/".len()..];
    after.split('/').next().unwrap().to_owned()
}

#[test]
fn the_signed_index_and_a_project_lock_pin_each_target_build() {
    let builds = Builds::new();
    let base = builds.baseline.clone();
    let v3 = builds.push('3', Some("x86_64_v3"));
    let v4 = builds.push('4', Some("x86_64_v4"));
    builds.repo.index();

    let user = Env::new();
    builds.repo.add_to(&user, "acme");
    let host = amd64_host(&user, "x86_64");
    // The signed index lists every build of the version, with its target.
    let info = ok_as(
        &user,
        &host,
        user.dir.path(),
        &["info", "hello-script", "--json"],
    );
    let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    let mut listed: Vec<(String, Option<String>)> = info["entry"]["versions"]["0.2.0"]["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap().to_owned(),
                b["target"].as_str().map(str::to_owned),
            )
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (base.clone(), None),
        (v3.clone(), Some("x86_64_v3".to_owned())),
        (v4.clone(), Some("x86_64_v4".to_owned())),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    let proj = user.dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("paks.toml"),
        "[project]\nname = \"p\"\nplatforms = [\"linux/amd64\"]\ntargets = [\"x86_64_v3\", \"x86_64_v4\"]\n\n[dependencies]\nhello-script = \"*\"\n",
    )
    .unwrap();
    let out = ok_as(&user, &host, &proj, &["lock", "--json"]);
    let mut pinned: Vec<(String, String)> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["type"] == "package")
        .map(|l| {
            (
                l["environments"][0].as_str().unwrap().to_owned(),
                l["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pinned.sort();
    assert_eq!(
        pinned,
        [
            ("linux/amd64".to_owned(), base.clone()),
            ("linux/amd64+x86_64_v3".to_owned(), v3.clone()),
            ("linux/amd64+x86_64_v4".to_owned(), v4.clone()),
        ]
    );
    for (microarch, want) in [("x86_64_v4", &v4), ("x86_64", &base), ("x86_64_v3", &v3)] {
        let host = amd64_host(&user, microarch);
        ok_as(&user, &host, &proj, &["sync", "--locked"]);
        assert_eq!(&viewed_id(&proj), want, "on a {microarch} host");
    }
}

#[test]
fn a_generic_oci_client_takes_the_baseline() {
    let builds = Builds::new();
    builds.push('4', Some("x86_64_v4"));
    let (_, index) = builds.version_index();
    let baseline = &index["manifests"][0];
    assert_eq!(
        baseline["annotations"]["io.paks.package.id"],
        builds.baseline.as_str()
    );
    let baseline_digest = baseline["digest"].as_str().unwrap().to_owned();
    // skopeo chooses by platform only: the first amd64 entry, the baseline.
    let layout = builds.repo.builder.dir.path().join("layout");
    paks_testkit::skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--override-os=linux",
        "--override-arch=amd64",
        &format!("docker://{}/hello-script:0.2.0", builds.repo.ns()),
        &format!("oci:{}:copied", layout.display()),
    ]);
    let copied: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(copied["manifests"][0]["digest"], baseline_digest.as_str());
}

#[test]
fn a_version_without_a_build_this_cpu_runs_is_refused_with_what_it_has() {
    let builds = Builds::new();
    // Another version with only an x86_64_v4 build.
    let id = id_with_hash(&builds.baseline, '4').replace("0.2.0", "0.3.0");
    let pak = builds.repo.builder.dir.path().join("only-v4.pak");
    common::forge(
        &builds.repo.pak,
        &pak,
        &serde_json::json!({"id": id, "version": "0.3.0",
            "annotations": {"io.paks.target": "x86_64_v4"}}),
    );
    builds.repo.push(&pak);
    let user = Env::new();
    let host = amd64_host(&user, "x86_64_v3");
    let reference = format!("{}/hello-script:0.3.0", builds.repo.ns());
    let out = user
        .cmd()
        .env("PAKS_HOST_PROFILE", &host)
        .args(["install", &reference])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "has no build that runs on `linux/amd64` here (it has `linux/amd64 (x86_64_v4)`)"
        ),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    assert!(
        user.store_entries()
            .iter()
            .all(|e| !e.contains("hello-script"))
    );
    // The host that runs it gets it.
    let v4 = amd64_host(&user, "x86_64_v4");
    ok_as(&user, &v4, user.dir.path(), &["install", &reference]);
    assert!(user.store_entries().contains(&id));
}
