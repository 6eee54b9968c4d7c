//! `paks attach` and `paks discover` against real registries: `paks serve` (the referrers
//! API) and Debian's `docker-registry` (the `sha256-<hex>` tag fallback); and the same
//! artifacts seen by other tools (skopeo, oras-py).

mod common;

use std::path::Path;

use common::{Env, paks_bin};
use paks_testkit::{DockerRegistry, PaksServe, busybox_layout, skopeo};

const SBOM: &str = "application/spdx+json";
const SIGNATURE: &str = "application/vnd.paks.signature.v1+json";
const TESTS: &str = "application/vnd.paks.test-results.v1+json";

/// Copies a small image (busybox) to `host/tools/hello:1.0` with skopeo; returns its
/// manifest digest.
fn push_subject(dir: &Path, host: &str) -> String {
    let layout = dir.join("layout");
    let digest = busybox_layout(&layout, "1.0");
    skopeo(&[
        "copy".to_owned(),
        "--dest-tls-verify=false".to_owned(),
        format!("oci:{}:1.0", layout.display()),
        format!("docker://{host}/tools/hello:1.0"),
    ]);
    digest.to_string()
}

/// `paks attach … --json`; returns the attached manifest's digest.
fn attach(env: &Env, reference: &str, artifact_type: &str, file: &Path, more: &[&str]) -> String {
    let mut args = vec![
        "attach",
        reference,
        file.to_str().unwrap(),
        "--artifact-type",
        artifact_type,
        "--json",
    ];
    args.extend_from_slice(more);
    let line: serde_json::Value = serde_json::from_str(env.ok(&args).trim()).unwrap();
    assert_eq!(line["type"], "attach");
    assert_eq!(line["artifactType"], artifact_type);
    line["digest"].as_str().unwrap().to_owned()
}

/// Attaches an SBOM and test results to a build, and a signature to the SBOM; `discover`
/// shows the tree (plain, JSON lines, filtered). Returns the SBOM's digest.
fn attach_and_discover(env: &Env, host: &str) -> (String, String) {
    let subject = push_subject(env.dir.path(), host);
    let files = env.dir.path();
    std::fs::write(
        files.join("sbom.spdx.json"),
        br#"{"spdxVersion":"SPDX-2.3"}"#,
    )
    .unwrap();
    std::fs::write(files.join("sig.json"), br#"{"payload":""}"#).unwrap();
    std::fs::write(files.join("tests.json"), br#"{"passed":3}"#).unwrap();
    let build = format!("{host}/tools/hello:1.0");
    let sbom = attach(env, &build, SBOM, &files.join("sbom.spdx.json"), &[]);
    let tests = attach(env, &build, TESTS, &files.join("tests.json"), &[]);
    let signature = attach(
        env,
        &format!("{host}/tools/hello@{sbom}"),
        SIGNATURE,
        &files.join("sig.json"),
        &[
            "--annotation",
            "org.example.signer=ci",
            "--media-type",
            "application/vnd.dsse.envelope.v1+json",
        ],
    );

    let named = |text: String| {
        text.replace(&subject, "<build>")
            .replace(&sbom, "<sbom>")
            .replace(&tests, "<tests>")
            .replace(&signature, "<signature>")
            .replace(host, "<host>")
    };
    let tree = named(env.ok(&["discover", &build]));
    assert_eq!(
        tree,
        "<host>/tools/hello@<build>
├── application/spdx+json
│   └── <sbom>
│       └── application/vnd.paks.signature.v1+json
│           └── <signature>
└── application/vnd.paks.test-results.v1+json
    └── <tests>
"
    );
    let lines: Vec<serde_json::Value> = env
        .ok(&["discover", &build, "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shape: Vec<(u64, String, String, String)> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["type"], "referrer");
            assert_eq!(l["mediaType"], "application/vnd.oci.image.manifest.v1+json");
            (
                l["depth"].as_u64().unwrap(),
                named(l["subject"].as_str().unwrap().to_owned()),
                named(l["digest"].as_str().unwrap().to_owned()),
                l["artifactType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |d, s: &str, g: &str, t: &str| (d, s.to_owned(), g.to_owned(), t.to_owned());
    assert_eq!(
        shape,
        vec![
            row(1, "<build>", "<sbom>", SBOM),
            row(2, "<sbom>", "<signature>", SIGNATURE),
            row(1, "<build>", "<tests>", TESTS),
        ]
    );
    assert_eq!(lines[1]["annotations"]["org.example.signer"], "ci");

    // The filter picks the first level; what refers to the picked artifacts comes along.
    let filtered = named(env.ok(&["discover", &build, "--artifact-type", TESTS]));
    assert_eq!(
        filtered,
        "<host>/tools/hello@<build>\n└── application/vnd.paks.test-results.v1+json\n    └── <tests>\n"
    );
    // Attaching the same file again gives the same artifact, listed once.
    assert_eq!(
        attach(env, &build, TESTS, &files.join("tests.json"), &[]),
        tests
    );
    assert_eq!(named(env.ok(&["discover", &build])), tree);
    (subject, sbom)
}

#[test]
fn attach_and_discover_on_paks_serve() {
    let env = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("registry"), &[]);
    let host = server.host();
    let (subject, _) = attach_and_discover(&env, &host);
    // `paks serve` lists referrers itself: no fallback tag.
    let hex = subject.strip_prefix("sha256:").unwrap();
    let err = env.fails(
        &["discover", &format!("{host}/tools/hello:sha256-{hex}")],
        1,
    );
    assert!(err.contains("is not in the registry"), "{err}");
}

#[test]
fn attach_and_discover_on_docker_registry() {
    let env = Env::new();
    let registry = DockerRegistry::start();
    let host = registry.host().to_owned();
    let (subject, sbom) = attach_and_discover(&env, &host);
    // distribution has no referrers API: the attachments are in the fallback tag's index.
    let hex = subject.strip_prefix("sha256:").unwrap();
    let raw = inspect_raw(&format!("{host}/tools/hello:sha256-{hex}"));
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["artifactType"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{raw}");
    assert!(listed.contains(&SBOM) && listed.contains(&TESTS), "{raw}");
    assert!(raw.contains(&sbom), "{raw}");
}

#[test]
fn attach_refuses_a_missing_subject_and_a_bad_annotation() {
    let env = Env::new();
    let registry = DockerRegistry::start();
    let host = registry.host();
    let file = env.dir.path().join("f.json");
    std::fs::write(&file, b"{}").unwrap();
    let f = file.to_str().unwrap();
    let err = env.fails(
        &[
            "attach",
            &format!("{host}/tools/none:1.0"),
            f,
            "--artifact-type",
            SBOM,
        ],
        1,
    );
    assert!(
        err.contains(&format!("`{host}/tools/none:1.0` is not in the registry")),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let err = env.fails(
        &[
            "attach",
            &format!("{host}/tools/none:1.0"),
            f,
            "--artifact-type",
            SBOM,
            "--annotation",
            "novalue",
        ],
        1,
    );
    assert!(
        err.contains("the annotation `novalue` is not `KEY=VALUE`"),
        "{err}"
    );
}

/// Runs a Python script with oras-py (`scripts/deps` installs it); returns its stdout.
fn oras_py(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras-py failed: {}",
        common::text(&out.stderr)
    );
    common::text(&out.stdout)
}

/// oras-py reads what `paks attach` made (the manifest by digest, its layer's bytes), and
/// `paks discover` lists what oras-py pushed with a subject.
#[test]
fn oras_reads_what_paks_attached_and_paks_discovers_what_oras_pushed() {
    let env = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("registry"), &[]);
    let host = server.host();
    let subject = push_subject(env.dir.path(), &host);
    let sbom_file = env.dir.path().join("sbom.spdx.json");
    let sbom_bytes = br#"{"spdxVersion":"SPDX-2.3","name":"hello"}"#;
    std::fs::write(&sbom_file, sbom_bytes).unwrap();
    let build = format!("{host}/tools/hello:1.0");
    let sbom = attach(&env, &build, SBOM, &sbom_file, &[]);

    let read = oras_py(
        r#"
import json, sys, oras.client
host, digest = sys.argv[1:]
registry = oras.client.OrasClient(hostname=host, insecure=True)
manifest = registry.get_manifest(f"{host}/tools/hello@{digest}")
layer = manifest["layers"][0]
blob = registry.get_blob(f"{host}/tools/hello", layer["digest"]).content
print(json.dumps({"artifactType": manifest["artifactType"], "subject": manifest["subject"]["digest"],
                  "config": manifest["config"]["mediaType"], "layer": blob.decode()}))
"#,
        &[&host, &sbom],
    );
    let read: serde_json::Value = serde_json::from_str(read.trim()).unwrap();
    assert_eq!(read["artifactType"], SBOM);
    assert_eq!(read["subject"], subject.as_str());
    assert_eq!(read["config"], "application/vnd.oci.empty.v1+json");
    assert_eq!(read["layer"].as_str().unwrap().as_bytes(), sbom_bytes);

    // oras-py pushes an artifact whose subject is the build.
    let raw = inspect_raw(&build);
    assert_eq!(format!("sha256:{}", sha256_hex(raw.as_bytes())), subject);
    let media_type = serde_json::from_str::<serde_json::Value>(&raw).unwrap()["mediaType"]
        .as_str()
        .unwrap()
        .to_owned();
    let work = env.dir.path().join("oras");
    std::fs::create_dir(&work).unwrap();
    oras_py(
        r#"
import os, sys, oras.client, oras.oci
host, digest, size, media_type, work = sys.argv[1:]
os.chdir(work)
with open("note.txt", "w") as f:
    f.write("reviewed\n")
registry = oras.client.OrasClient(hostname=host, insecure=True)
registry.push(target=f"{host}/tools/hello:oras-note", files=["note.txt:text/plain"],
              subject=oras.oci.Subject(mediaType=media_type, digest=digest, size=int(size)))
"#,
        &[
            &host,
            &subject,
            &raw.len().to_string(),
            &media_type,
            work.to_str().unwrap(),
        ],
    );
    let lines: Vec<serde_json::Value> = env
        .ok(&["discover", &build, "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let oras = lines
        .iter()
        .find(|l| l["digest"] != sbom.as_str())
        .expect("the artifact oras-py pushed");
    let pushed = inspect_raw(&format!("{host}/tools/hello:oras-note"));
    let pushed_digest = format!("sha256:{}", sha256_hex(pushed.as_bytes()));
    assert_eq!(oras["digest"], pushed_digest.as_str());
    assert_eq!(oras["depth"], 1);
    assert!(pushed.contains("note.txt"), "{pushed}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    paks_types::Digest::sha256_of(bytes).hex().to_owned()
}

/// `skopeo inspect --raw`: a manifest's bytes as the registry serves them.
fn inspect_raw(reference: &str) -> String {
    skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ])
}
