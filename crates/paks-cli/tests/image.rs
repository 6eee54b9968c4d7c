//! `paks image build`: images composed from example packages on `paks serve`, checked with
//! skopeo, umoci (unpack, then `chroot` to run a packaged binary), podman (run and load).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, chroot_run, paks_bin, text};
use paks_testkit::{
    PaksServe, Podman, busybox_glibc_layout, busybox_glibc_layout_with, run_ok, skopeo,
};
use serde_json::Value;

/// paks serve with libgreet, hello and hello-script pushed to `acme/`, and a busybox +
/// glibc base image at `base/busybox:1`.
struct Fixture {
    env: Env,
    server: PaksServe,
}

impl Fixture {
    fn new() -> Self {
        let env = Env::new();
        let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
        env.build("libgreet");
        let hello = env.build("hello");
        let script = env.build("hello-script");
        let host = server.host();
        env.ok(&[
            "push",
            hello.to_str().unwrap(),
            &format!("{host}/acme/hello"),
        ]);
        env.ok(&[
            "push",
            script.to_str().unwrap(),
            &format!("{host}/acme/hello-script"),
        ]);
        let layout = env.dir.path().join("base");
        busybox_glibc_layout(&layout, "1");
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:1", layout.display()),
            &format!("docker://{host}/base/busybox:1"),
        ]);
        Self { env, server }
    }

    fn r(&self, path: &str) -> String {
        format!("{}/{path}", self.server.host())
    }

    fn build_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["image", "build", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.env.ok(&all)).unwrap()
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario, checked by each tool in turn
fn an_image_from_packages_mounts_every_layer_and_runs_in_podman_and_umoci() {
    let f = Fixture::new();
    let app = f.r("acme/app:1");
    let args = [
        &f.r("acme/hello:1.0.0"),
        &f.r("acme/hello-script:0.2.0"),
        "--from",
        &f.r("base/busybox:1"),
        "--tag",
        &app,
        "--entrypoint",
        "hello",
        "--label",
        "team=hpc",
        "--env",
        "GREETING_STYLE=plain",
    ];
    let built = f.build_json(&args);
    let image = &built["images"][0];
    // base + libgreet + hello + hello-script + view.
    assert_eq!(image["layers"], 5, "{built}");
    // Zero copy: the base and package layers were mounted, only the view was sent.
    assert_eq!(built["mounted"], 4, "{built}");
    assert_eq!(built["uploaded"], 1, "{built}");
    assert!(built["uploaded_bytes"].as_u64().unwrap() < 8192, "{built}");
    assert_eq!(built["downloaded_bytes"], 0, "{built}");
    let packages: Vec<&str> = image["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(packages.len(), 3);
    assert!(
        packages[0].ends_with("-libgreet-1.0.0"),
        "dependency first: {packages:?}"
    );

    // The same inputs give the same digest; nothing moves the second time.
    let again = f.build_json(&args);
    assert_eq!(again["digest"], built["digest"]);
    assert_eq!(again["uploaded"], 0, "{again}");

    // skopeo reads it: layers, labels, history per package, fixed time.
    let config: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!("docker://{app}"),
    ]))
    .unwrap();
    assert_eq!(config["config"]["Labels"]["team"], "hpc");
    assert_eq!(
        config["config"]["Labels"]["io.paks.packages"],
        packages.join(" "),
        "{config}"
    );
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert!(
        history.contains(&"paks image build: hello 1.0.0"),
        "{history:?}"
    );
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(
            &"PATH=/opt/paks/view/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ),
        "the view first, then the base's PATH: {env:?}"
    );
    assert!(env.contains(&"GREETING_STYLE=plain"), "{env:?}");

    // paks inspect tells which packages the image holds; the glibc label, computed from
    // what the packages' builds found, is what inspecting the whole image finds.
    let report: Value = serde_json::from_str(&f.env.ok(&["inspect", &app, "--json"])).unwrap();
    assert_eq!(report["packages"], serde_json::json!(packages), "{report}");
    let inspected: Value = serde_json::from_str(&f.env.ok(&["label", &app, "--json"])).unwrap();
    let inspected = &inspected["labels"];
    let glibc = &config["config"]["Labels"]["org.supercontainers.glibc"];
    assert!(glibc.is_string(), "{config}");
    assert_eq!(
        glibc, &inspected["org.supercontainers.glibc"],
        "{inspected}"
    );
    assert_eq!(
        config["config"]["Labels"]["io.paks.glibc.required"],
        inspected["io.paks.glibc.required"]
    );

    // skopeo copies it out; umoci unpacks it; the packaged binaries run under chroot.
    let layout = f.env.dir.path().join("copied");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{app}"),
        &format!("oci:{}:app", layout.display()),
    ]);
    assert_eq!(
        chroot_run(&layout, "app", &["hello", "umoci"]),
        "Hello, umoci!\n"
    );
    assert_eq!(
        chroot_run(&layout, "app", &["hello-script"]),
        "Hello from a script!\n"
    );

    // podman pulls and runs it: the entrypoint, and a binary found through PATH.
    let podman = Podman::new();
    podman.pull(&app, false);
    let out = podman.run(&app, &["podman"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, podman!\n");
    let out = podman.run_with(
        &["--entrypoint", "sh"],
        &app,
        &[
            "-c",
            ". /etc/profile.d/paks.sh && hello-script && echo $HELLO_SCRIPT_DATA",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("Hello from a script!\n/opt/paks/store/"),
        "{said}"
    );
}

#[test]
fn layouts_and_docker_archives_load_and_an_image_over_budget_merges_layers() {
    let f = Fixture::new();
    let dir = f.env.dir.path();
    let layout = dir.join("layout");
    let hello = f.r("acme/hello:1.0.0");
    let script = f.r("acme/hello-script:0.2.0");
    let base = f.r("base/busybox:1");
    let out = f.build_json(&[
        &hello,
        &script,
        "--from",
        &base,
        "--output",
        &format!("oci:{}:app", layout.display()),
    ]);
    assert_eq!(out["images"][0]["layers"], 5, "{out}");
    assert_eq!(chroot_run(&layout, "app", &["hello"]), "Hello, world!\n");

    // docker-archive: podman loads it under the name given.
    let archive = dir.join("app.tar");
    f.build_json(&[
        &hello,
        "--from",
        &base,
        "--tag",
        "localhost/paks-app:1",
        "--entrypoint",
        "hello",
        "--output",
        &format!("docker-archive:{}", archive.display()),
    ]);
    let podman = Podman::new();
    let loaded = podman.load(&archive);
    assert!(loaded.contains("localhost/paks-app:1"), "{loaded}");
    let run = podman.run("localhost/paks-app:1", &["archive"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "Hello, archive!\n");

    // A budget of 3 layers: the base, one for all three packages, the view.
    let merged_layout = dir.join("merged");
    let output = f.env.run(&[
        "image",
        "build",
        &hello,
        &script,
        "--from",
        &base,
        "--layer-budget",
        "3",
        "--json",
        "--output",
        &format!("oci:{}:small", merged_layout.display()),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("3 packages share one layer to stay within the budget of 3 layers"),
        "{stderr}"
    );
    let merged: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(merged["images"][0]["layers"], 3, "{merged}");
    assert_eq!(merged["images"][0]["merged"].as_array().unwrap().len(), 3);
    assert_eq!(
        chroot_run(&merged_layout, "small", &["hello", "merged"]),
        "Hello, merged!\n"
    );
    assert_eq!(
        chroot_run(&merged_layout, "small", &["hello-script"]),
        "Hello from a script!\n"
    );
    // Deterministic, merged layer included.
    let again: Value = serde_json::from_str(&f.env.ok(&[
        "image",
        "build",
        &hello,
        &script,
        "--from",
        &base,
        "--layer-budget",
        "3",
        "--json",
        "--output",
        &format!("oci:{}:small", merged_layout.display()),
    ]))
    .unwrap();
    assert_eq!(again["digest"], merged["digest"]);
    // skopeo validates the layout's blobs and copies it on.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:small", merged_layout.display()),
        &format!("docker://{}", f.r("acme/small:1")),
    ]);
}

#[test]
fn bad_specs_and_impossible_budgets_fail_with_the_reason() {
    let env = Env::new();
    let err = env.fails(&["image", "build", "--tag", "127.0.0.1:1/a/b:1"], 1);
    assert!(err.contains("no packages"), "{err}");
    let err = env.fails(&["image", "build", "127.0.0.1:1/a/b:1"], 1);
    assert!(err.contains("no destination"), "{err}");
    let err = env.fails(
        &[
            "image",
            "build",
            "127.0.0.1:1/a/b:1",
            "--tag",
            "x:1",
            "--layer-budget",
            "500",
        ],
        1,
    );
    assert!(err.contains("must be 2 to 127"), "{err}");
    let spec = env.dir.path().join("image.toml");
    std::fs::write(&spec, "packages = [\"hello\"]\nentrypont = [\"hello\"]\n").unwrap();
    let err = env.fails(
        &[
            "image",
            "build",
            "-f",
            spec.to_str().unwrap(),
            "--tag",
            "x:1",
        ],
        1,
    );
    assert!(
        err.contains("unknown field") && err.contains("image.toml"),
        "{err}"
    );
    let err = env.fails(&["image", "build", "a/b:1", "--output", "tar:x"], 1);
    assert!(
        err.contains("is not `oci:DIR[:TAG]` or `docker-archive:FILE`"),
        "{err}"
    );
}

#[test]
fn an_image_spec_file_and_containerize_pin_every_input() {
    let f = Fixture::new();
    let spec = f.env.dir.path().join("image.toml");
    std::fs::write(
        &spec,
        format!(
            "from = \"{}\"\npackages = [\"{}\"]\ntag = \"{}\"\nentrypoint = [\"hello\"]\n[labels]\nteam = \"hpc\"\n",
            f.r("base/busybox:1"),
            f.r("acme/hello:1.0.0"),
            f.r("acme/spec:1"),
        ),
    )
    .unwrap();
    let built = f.build_json(&["-f", spec.to_str().unwrap()]);
    assert_eq!(built["images"][0]["layers"], 4, "{built}");
    let podman = Podman::new();
    podman.pull(&f.r("acme/spec:1"), false);
    let run = podman.run(&f.r("acme/spec:1"), &["spec"]);
    assert_eq!(text(&run.stdout), "Hello, spec!\n", "{}", text(&run.stderr));

    let dockerfile = f.env.ok(&["containerize", spec.to_str().unwrap()]);
    let hello_digest = &built["images"][0]["packages"];
    assert!(hello_digest.is_array());
    assert!(
        dockerfile.contains("FROM paks:latest AS install"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains(&format!("{}@sha256:", f.r("acme/hello"))),
        "packages pinned by digest: {dockerfile}"
    );
    assert!(
        dockerfile.contains(&format!("FROM {}@sha256:", f.r("base/busybox"))),
        "base pinned by digest: {dockerfile}"
    );
    assert!(dockerfile.contains("COPY --from=install /opt/paks/store /opt/paks/store"));
    assert!(
        dockerfile.contains("ENV PATH=\"/opt/paks/view/bin:"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("LABEL \"team\"=\"hpc\""),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("ENTRYPOINT [\"hello\"]"),
        "{dockerfile}"
    );
}

#[test]
fn packages_by_name_from_a_signed_index_compose_the_same_image() {
    let f = Fixture::new();
    let ns = f.r("acme");
    let key = f.env.dir.path().join("key.pem");
    f.env
        .ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    f.env
        .ok(&["index", "build", &ns, "--sign", key.to_str().unwrap()]);
    f.env.ok(&[
        "repo",
        "add",
        "acme",
        &format!("oci://{ns}"),
        "--key",
        key.with_extension("pub").to_str().unwrap(),
    ]);
    let by_name = f.build_json(&[
        "hello",
        "hello-script",
        "--from",
        &f.r("base/busybox:1"),
        "--tag",
        &f.r("acme/named:1"),
    ]);
    let by_ref = f.build_json(&[
        &f.r("acme/hello:1.0.0"),
        &f.r("acme/hello-script:0.2.0"),
        "--from",
        &f.r("base/busybox:1"),
        "--tag",
        &f.r("acme/by-ref:1"),
    ]);
    assert_eq!(by_name["digest"], by_ref["digest"], "{by_name}\n{by_ref}");
    assert_eq!(by_name["uploaded"], 1, "only the view: {by_name}");
    let err = f
        .env
        .fails(&["image", "build", "hellp", "--tag", &f.r("acme/x:1")], 1);
    assert!(err.contains("hello"), "did you mean: {err}");
}

/// A second build of hello-script (a shell script, so any architecture runs it) listed
/// for linux/arm64 in its version index, as a multi-platform package would be.
fn add_arm64_build(server: &str) {
    use paks_oci::{
        Client, ClientConfig, Descriptor, ImageIndex, ImageManifest, OCI_CONFIG, OCI_INDEX,
        OCI_MANIFEST, Repository,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = Client::new(ClientConfig::default()).unwrap();
        let repo: Repository = format!("{server}/acme/hello-script").parse().unwrap();
        let version = repo.reference_tag("0.2.0");
        let mut index: ImageIndex =
            serde_json::from_slice(&client.get_manifest(&version).await.unwrap().bytes).unwrap();
        let amd64 = client
            .get_manifest(&repo.reference_digest(&index.manifests[0].digest))
            .await
            .unwrap();
        let mut manifest: ImageManifest = serde_json::from_slice(&amd64.bytes).unwrap();
        let mut config: Value = serde_json::from_slice(
            &client
                .pull_blob_bytes(&repo, &manifest.config.digest, 1 << 20)
                .await
                .unwrap(),
        )
        .unwrap();
        config["architecture"] = "arm64".into();
        config["paks"]["platform"] = "linux/arm64".into();
        let config = serde_json::to_vec(&config).unwrap();
        let digest = client.push_blob_bytes(&repo, &config).await.unwrap();
        manifest.config = Descriptor::new(OCI_CONFIG, digest, config.len() as u64);
        let bytes = manifest.to_bytes();
        let digest = client
            .put_manifest(&repo.reference_tag("0.2.0-arm64"), OCI_MANIFEST, &bytes)
            .await
            .unwrap();
        let mut entry = Descriptor::new(OCI_MANIFEST, digest, bytes.len() as u64);
        entry.platform = Some((&"linux/arm64".parse::<paks_types::Platform>().unwrap()).into());
        index.manifests.push(entry);
        client
            .put_manifest(&version, OCI_INDEX, &index.to_bytes())
            .await
            .unwrap();
    });
}

#[test]
fn several_platforms_make_an_index_of_images() {
    let f = Fixture::new();
    let script = f.r("acme/hello-script:0.2.0");
    // Without an arm64 build, the error names the platform and what there is.
    let err = f.env.fails(
        &[
            "image",
            "build",
            &script,
            "--platform",
            "linux/amd64,linux/arm64",
            "--tag",
            &f.r("acme/multi:1"),
        ],
        1,
    );
    assert!(
        err.contains("linux/arm64") && err.contains("linux/amd64"),
        "{err}"
    );

    add_arm64_build(&f.server.host());
    let multi = f.r("acme/multi:1");
    let built = f.build_json(&[
        &script,
        "--platform",
        "linux/amd64,linux/arm64",
        "--tag",
        &multi,
    ]);
    assert_eq!(built["images"].as_array().unwrap().len(), 2, "{built}");
    let raw: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{multi}"),
    ]))
    .unwrap();
    assert_eq!(
        raw["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{raw}"
    );
    let platforms: Vec<&str> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    assert_eq!(raw["manifests"][1]["digest"], built["images"][1]["digest"]);
    let arm: Value = serde_json::from_str(&skopeo(&[
        "--override-arch",
        "arm64",
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!("docker://{multi}"),
    ]))
    .unwrap();
    assert_eq!(arm["architecture"], "arm64");
    // A docker-archive holds one platform.
    let err = f.env.fails(
        &[
            "image",
            "build",
            &script,
            "--platform",
            "linux/amd64,linux/arm64",
            "--output",
            &format!(
                "docker-archive:{}",
                f.env.dir.path().join("x.tar").display()
            ),
        ],
        1,
    );
    assert!(err.contains("one platform"), "{err}");
    // An OCI layout takes the index; skopeo copies the amd64 image out of it.
    let layout = f.env.dir.path().join("multi");
    f.build_json(&[
        &script,
        "--platform",
        "linux/amd64,linux/arm64",
        "--output",
        &format!("oci:{}:multi", layout.display()),
    ]);
    skopeo(&[
        "copy",
        &format!("oci:{}:multi", layout.display()),
        &format!("oci:{}:amd64", f.env.dir.path().join("single").display()),
    ]);
}

#[test]
fn a_containerized_dockerfile_builds_with_podman_and_runs() {
    let f = Fixture::new();
    let dir = f.env.dir.path();
    // The install stage's image: busybox, glibc, and paks with the libraries it links.
    let stripped = dir.join("paks-stripped");
    run_ok(
        Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(paks_bin()),
    );
    let libdir = if cfg!(target_arch = "aarch64") {
        "lib/aarch64-linux-gnu"
    } else {
        "lib/x86_64-linux-gnu"
    };
    let (gcc_s, libm) = (
        format!("{libdir}/libgcc_s.so.1"),
        format!("{libdir}/libm.so.6"),
    );
    let host = |p: &str| Path::new("/").join(p);
    let tools = dir.join("tools");
    busybox_glibc_layout_with(
        &tools,
        "1",
        &[
            ("usr/local/bin/paks", &stripped),
            (&gcc_s, &host(&gcc_s)),
            (&libm, &host(&libm)),
        ],
    );
    let paks_image = f.r("tools/paks:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", tools.display()),
        &format!("docker://{paks_image}"),
    ]);

    let spec = dir.join("image.toml");
    std::fs::write(
        &spec,
        format!(
            "from = \"{}\"\npackages = [\"{}\"]\nentrypoint = [\"hello\"]\n[labels]\nteam = \"hpc\"\n",
            f.r("base/busybox:1"),
            f.r("acme/hello:1.0.0"),
        ),
    )
    .unwrap();
    let dockerfile = f.env.ok(&[
        "containerize",
        spec.to_str().unwrap(),
        "--paks-image",
        &paks_image,
    ]);
    let context = dir.join("context");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), &dockerfile).unwrap();

    let podman = Podman::new();
    run_ok(
        podman
            .command()
            .args([
                "build",
                "--isolation",
                "chroot",
                "--tls-verify=false",
                "--quiet",
                "-t",
                "localhost/contained:1",
            ])
            .arg(&context),
    );
    let out = podman.run("localhost/contained:1", &["containerized"]);
    assert!(out.status.success(), "{}\n{dockerfile}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, containerized!\n");
    let inspect = text(
        &run_ok(podman.command().args([
            "image",
            "inspect",
            "--format",
            "{{index .Labels \"team\"}}",
            "localhost/contained:1",
        ]))
        .stdout,
    );
    assert_eq!(inspect.trim(), "hpc");
}

#[test]
fn containerize_quotes_values_and_refuses_what_quoting_cannot_carry() {
    let f = Fixture::new();
    let spec = f.env.dir.path().join("image.toml");
    let write_spec = |extra: &str| {
        std::fs::write(
            &spec,
            format!(
                "from = \"{}\"\npackages = [\"{}\"]\ntag = \"{}\"\n{extra}",
                f.r("base/busybox:1"),
                f.r("acme/hello-script:0.2.0"),
                f.r("acme/quoted:1"),
            ),
        )
        .unwrap();
    };
    write_spec(
        "[env]\nGREETING = \"it's \\\"hi\\\" $HOME $(id) \\\\\"\n[labels]\n\"a\\\"b\" = \"say $(id) `id`\"\n",
    );
    let dockerfile = f.env.ok(&["containerize", spec.to_str().unwrap()]);
    assert!(
        dockerfile.contains(r#"ENV GREETING="it's \"hi\" \$HOME \$(id) \\""#),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains(r#"LABEL "a\"b"="say \$(id) `id`""#),
        "{dockerfile}"
    );
    // A line break would end the LABEL and start an instruction of the spec's choosing.
    write_spec("[labels]\nx = \"1\\nRUN touch /pwned\"\n");
    let err = f.env.fails(&["containerize", spec.to_str().unwrap()], 1);
    assert!(
        err.contains(r"cannot write the label value `1\nRUN touch /pwned` into a Dockerfile"),
        "{err}"
    );
    // An env name that is not a variable name is refused when the spec is read.
    write_spec("[env]\n\"X;touch /pwned;Y\" = \"1\"\n");
    let err = f.env.fails(&["containerize", spec.to_str().unwrap()], 1);
    assert!(err.contains("is not an environment variable name"), "{err}");
}
