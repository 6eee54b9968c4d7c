//! Provenance at build time and `paks push --sign`: the example packages are built for real,
//! pushed to a real `paks serve` with their SBOM, signed provenance and signature attached
//! as referrers, and the provenance envelope is checked by a third-party DSSE verifier
//! (`securesystemslib`).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use common::{Env, examples, text};
use paks_attest::{DSSE_ENVELOPE, IN_TOTO_JSON, SIGNATURE, SPDX_JSON};
use paks_index::PublicKey;
use paks_testkit::raw_http::exchange;
use paks_testkit::{DockerRegistry, PaksServe};
use paks_types::Digest;
use serde_json::Value;

/// JSON lines of a `--json` output.
fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `paks build --json` of an example: (archive, manifest digest, the JSON line).
fn build(env: &Env, example: &str) -> (PathBuf, Digest, Value) {
    let out = env.ok(&[
        "build",
        examples().join(example).to_str().unwrap(),
        "--out",
        env.out.to_str().unwrap(),
        "--json",
    ]);
    let line = lines(&out).pop().unwrap();
    assert_eq!(line["type"], "build");
    let pak = PathBuf::from(line["pak"].as_str().unwrap());
    let manifest: Digest = line["manifest"].as_str().unwrap().parse().unwrap();
    (pak, manifest, line)
}

/// The registry pushed to: `paks serve` (referrers API) or distribution 2.8 (tag fallback).
enum Registry {
    Paks(PaksServe),
    Docker(DockerRegistry),
}

/// A registry, a builder with hello and libgreet built, and a key.
struct Signed {
    server: Registry,
    env: Env,
    hello: PathBuf,
    hello_manifest: Digest,
    key: PathBuf,
    public: PublicKey,
}

impl Signed {
    fn new() -> Self {
        let env = Env::new();
        let server = Registry::Paks(common::serve(&env));
        Self::with(env, server)
    }

    fn on_docker_registry() -> Self {
        Self::with(Env::new(), Registry::Docker(DockerRegistry::start()))
    }

    fn with(env: Env, server: Registry) -> Self {
        build(&env, "libgreet");
        let (hello, hello_manifest, _) = build(&env, "hello");
        let key = env.dir.path().join("acme.pem");
        env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        let public = PublicKey::load(&key.with_extension("pub")).unwrap();
        Self {
            server,
            env,
            hello,
            hello_manifest,
            key,
            public,
        }
    }

    fn host(&self) -> String {
        match &self.server {
            Registry::Paks(s) => s.host(),
            Registry::Docker(d) => d.host().to_owned(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.host().parse().unwrap()
    }

    /// `paks push HELLO REG/acme/hello --sign KEY --json`: the output's lines.
    fn push_signed(&self) -> Vec<Value> {
        let target = format!("{}/acme/hello", self.host());
        lines(&self.env.ok(&[
            "push",
            self.hello.to_str().unwrap(),
            &target,
            "--sign",
            self.key.to_str().unwrap(),
            "--json",
        ]))
    }

    /// The referrers of hello's build: from the referrers API of `paks serve`, from the
    /// `sha256-<hex>` tag on distribution 2.8, which has no such API.
    fn referrers(&self) -> Vec<Value> {
        let path = match self.server {
            Registry::Paks(_) => format!("/v2/acme/hello/referrers/{}", self.hello_manifest),
            Registry::Docker(_) => format!(
                "/v2/acme/hello/manifests/sha256-{}",
                self.hello_manifest.hex()
            ),
        };
        let body = get(self.addr(), &path);
        let index: Value = serde_json::from_slice(&body).unwrap();
        index["manifests"].as_array().unwrap().clone()
    }

    /// The one layer of the attachment whose manifest is `digest`: (media type, bytes).
    fn layer(&self, digest: &str) -> (String, Vec<u8>) {
        let manifest: Value = serde_json::from_slice(&get(
            self.addr(),
            &format!("/v2/acme/hello/manifests/{digest}"),
        ))
        .unwrap();
        assert_eq!(
            manifest["subject"]["digest"],
            self.hello_manifest.to_string()
        );
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "{manifest}");
        let blob = get(
            self.addr(),
            &format!(
                "/v2/acme/hello/blobs/{}",
                layers[0]["digest"].as_str().unwrap()
            ),
        );
        (layers[0]["mediaType"].as_str().unwrap().to_owned(), blob)
    }
}

/// GET `path` from the registry, requiring 200.
fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let (status, head, body) = exchange(
        addr,
        "GET",
        path,
        &[(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )],
        b"",
    );
    assert_eq!(status, 200, "GET {path}: {head}{}", text(&body));
    body
}

/// The attachments of a `--json` push, by artifact type.
fn attachments(out: &[Value]) -> Vec<(String, String, String)> {
    out.iter()
        .filter(|l| l["type"] == "attachment")
        .map(|l| {
            (
                l["artifactType"].as_str().unwrap().to_owned(),
                l["digest"].as_str().unwrap().to_owned(),
                l["layer"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn build_writes_provenance_beside_the_archive() {
    let env = Env::new();
    let (_, libgreet_manifest, libgreet) = build(&env, "libgreet");
    let (pak, manifest, line) = build(&env, "hello");
    let file = PathBuf::from(line["provenance"].as_str().unwrap());
    assert_eq!(
        file,
        env.out.join(format!(
            "{}.provenance.json",
            pak.file_stem().unwrap().to_str().unwrap()
        ))
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let id = line["id"].as_str().unwrap();
    assert_eq!(doc["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(doc["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        doc["subject"],
        serde_json::json!([{"name": id, "digest": {"sha256": manifest.hex()}}])
    );
    let def = &doc["predicate"]["buildDefinition"];
    assert_eq!(def["buildType"], "https://paks.dev/build/v1");
    let recipe = examples().join("hello");
    assert_eq!(
        def["externalParameters"]["recipe"]["directory"],
        recipe.to_str().unwrap()
    );
    assert_eq!(
        def["externalParameters"]["recipeFile"]["sha256"],
        Digest::sha256_of(&std::fs::read(recipe.join("paks.toml")).unwrap()).hex()
    );
    assert_eq!(def["internalParameters"]["sandbox"], "bubblewrap");
    assert_eq!(def["internalParameters"]["network"], false);
    assert_eq!(def["internalParameters"]["compression"], "gzip-6");
    assert_eq!(def["internalParameters"]["tests"], true);
    let deps = def["resolvedDependencies"].as_array().unwrap();
    let greet = deps
        .iter()
        .find(|d| d["uri"] == "pkg:generic/libgreet@1.0.0")
        .unwrap_or_else(|| panic!("no libgreet in {deps:#?}"));
    assert_eq!(greet["name"], libgreet["id"]);
    assert_eq!(greet["digest"]["sha256"], libgreet_manifest.hex());
    assert_eq!(greet["annotations"]["dependency"], "run");
    assert!(
        deps.iter()
            .any(|d| d["uri"] == format!("file://{}", recipe.join("src").display())),
        "the path source: {deps:#?}"
    );
    let run = &doc["predicate"]["runDetails"];
    assert_eq!(run["builder"]["id"], "https://paks.dev/builder/local");
    assert_eq!(run["builder"]["version"]["paks"], env!("CARGO_PKG_VERSION"));
    assert_eq!(run["metadata"]["invocationId"], id);
    let started = run["metadata"]["startedOn"].as_str().unwrap();
    let finished = run["metadata"]["finishedOn"].as_str().unwrap();
    assert!(
        started.parse::<paks_index::Timestamp>().unwrap()
            <= finished.parse::<paks_index::Timestamp>().unwrap(),
        "{started} {finished}"
    );
}

#[test]
fn push_sign_attaches_sbom_provenance_and_signature_once() {
    attaches_once(&Signed::new());
}

#[test]
fn push_sign_on_distribution_lists_them_under_the_fallback_tag() {
    attaches_once(&Signed::on_docker_registry());
}

/// `paks push --sign` attaches the SBOM, the provenance and the signature, which the
/// registry lists; they verify; pushing again changes nothing.
fn attaches_once(s: &Signed) {
    let out = s.push_signed();
    assert_eq!(out[0]["type"], "push", "{out:#?}");
    let attached = attachments(&out);
    let types: Vec<&str> = attached.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(types, [SPDX_JSON, IN_TOTO_JSON, SIGNATURE], "{out:#?}");

    // The registry lists the three, with their artifact types.
    let mut listed: Vec<(String, String)> = s
        .referrers()
        .iter()
        .map(|d| {
            (
                d["artifactType"].as_str().unwrap().to_owned(),
                d["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    let mut expected: Vec<(String, String)> = attached
        .iter()
        .map(|(t, d, _)| (t.clone(), d.clone()))
        .collect();
    expected.sort();
    assert_eq!(listed, expected);

    // The provenance verifies with the key, for this build; the signature vouches for the
    // SBOM and the provenance by their layer digests.
    let trusted = [s.public.clone()];
    let (media_type, envelope) = s.layer(&attached[1].1);
    assert_eq!(media_type, DSSE_ENVELOPE);
    let provenance =
        paks_attest::provenance::verify_provenance(&envelope, &s.hello_manifest, &trusted).unwrap();
    assert_eq!(provenance.key, s.public);
    assert_eq!(
        Digest::sha256_of(&envelope).to_string(),
        attached[1].2,
        "the layer digest reported"
    );
    let (_, sig) = s.layer(&attached[2].1);
    let facts =
        paks_attest::signature::verify_signature(&sig, &s.hello_manifest, &trusted).unwrap();
    let vouched: Vec<(String, String)> = facts
        .attachments
        .iter()
        .map(|a| (a.artifact_type.clone(), a.digest.to_string()))
        .collect();
    assert_eq!(
        vouched,
        [
            (SPDX_JSON.to_owned(), attached[0].2.clone()),
            (IN_TOTO_JSON.to_owned(), attached[1].2.clone())
        ]
    );
    assert_eq!(facts.package.name.as_str(), "hello");
    let (media_type, sbom) = s.layer(&attached[0].1);
    assert_eq!(media_type, SPDX_JSON);
    // The SBOM `paks build` wrote beside the archive, as it is.
    assert_eq!(
        sbom,
        std::fs::read(s.hello.with_extension("spdx.json")).unwrap()
    );
    assert!(facts.covers(&Digest::sha256_of(&sbom)));

    // `paks discover` of the version tag (an index of builds) shows them under the build,
    // whose manifest the index lists; the index itself has nothing attached.
    let version = format!("{}/acme/hello:1.0.0", s.host());
    let tree = s.env.ok(&["discover", &version]);
    let rows: Vec<&str> = tree.lines().collect();
    assert_eq!(rows.len(), 2 + 2 * 3, "{tree}");
    assert!(
        rows[1].starts_with(&format!("{}/acme/hello@{}", s.host(), s.hello_manifest))
            && rows[1].contains("in the index"),
        "{tree}"
    );
    for (t, d, _) in &attached {
        assert!(
            tree.contains(t.as_str()) && tree.contains(d.as_str()),
            "{t} {d}\n{tree}"
        );
    }
    let json = lines(&s.env.ok(&["discover", &version, "--json"]));
    assert_eq!(json.len(), 3);
    assert!(
        json.iter()
            .all(|l| l["subject"] == s.hello_manifest.to_string() && l["depth"] == 1)
    );

    // Again: the same digests, and still three referrers.
    let again = attachments(&s.push_signed());
    assert_eq!(again, attached);
    assert_eq!(s.referrers().len(), 3);
}

#[test]
fn securesystemslib_verifies_the_pushed_provenance_and_rejects_a_modified_one() {
    let s = Signed::new();
    let out = s.push_signed();
    let (_, digest, _) = attachments(&out)
        .into_iter()
        .find(|(t, _, _)| t == IN_TOTO_JSON)
        .unwrap();
    let (_, envelope) = s.layer(&digest);
    let dir = s.env.dir.path();
    let envelope_file = dir.join("provenance.dsse.json");
    std::fs::write(&envelope_file, &envelope).unwrap();
    let script = dir.join("verify.py");
    std::fs::write(&script, VERIFY_PY).unwrap();
    let run = |modify: &str| {
        Command::new("python3")
            .arg(&script)
            .arg(&envelope_file)
            .arg(s.public.keyid())
            .arg(data_encoding::HEXLOWER.encode(s.public.as_bytes()))
            .arg(modify)
            .output()
            .unwrap()
    };
    let ok = run("keep");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let verified: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(verified["keyids"], serde_json::json!([s.public.keyid()]));
    assert_eq!(verified["payloadType"], IN_TOTO_JSON);
    assert_eq!(
        verified["subject"][0]["digest"]["sha256"],
        s.hello_manifest.hex()
    );
    let bad = run("modify");
    assert_eq!(
        bad.status.code(),
        Some(3),
        "{}{}",
        text(&bad.stdout),
        text(&bad.stderr)
    );
    assert!(
        text(&bad.stderr).contains("VerificationError"),
        "{}",
        text(&bad.stderr)
    );
}

/// Verifies a DSSE envelope with securesystemslib, given the key id and the raw ed25519
/// public key in hex; with `modify`, changes one byte of the payload first. Prints what it
/// verified; exits 3 when the verification fails.
const VERIFY_PY: &str = r#"
import base64, json, sys
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

path, keyid, public_hex, mode = sys.argv[1:5]
with open(path, "rb") as f:
    data = json.load(f)
if mode == "modify":
    payload = bytearray(base64.b64decode(data["payload"]))
    payload[payload.index(b"bubblewrap")] = ord("B")
    data["payload"] = base64.b64encode(bytes(payload)).decode()
envelope = Envelope.from_dict(data)
key = SSlibKey(keyid, "ed25519", "ed25519", {"public": public_hex})
try:
    keys = envelope.verify([key], 1)
except VerificationError as e:
    print(f"VerificationError: {e}", file=sys.stderr)
    sys.exit(3)
statement = json.loads(envelope.payload)
print(json.dumps({"keyids": sorted(keys), "payloadType": envelope.payload_type,
                  "subject": statement["subject"]}))
"#;

#[test]
fn a_stale_provenance_is_refused_and_a_missing_one_skipped() {
    let s = Signed::new();
    let provenance = paks_build::provenance_path(&s.hello);
    let target = format!("{}/acme/hello", s.host());
    let push = |json: bool| {
        let mut args = vec![
            "push",
            s.hello.to_str().unwrap(),
            &target,
            "--sign",
            s.key.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        s.env.run(&args)
    };

    // libgreet's provenance in hello's place: about another build.
    let libgreet = std::fs::read_dir(&s.env.out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("libgreet-")
                && p.to_str().unwrap().ends_with(".provenance.json")
        })
        .unwrap();
    std::fs::copy(&libgreet, &provenance).unwrap();
    let out = push(false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(provenance.to_str().unwrap()), "{err}");
    assert!(err.contains(&s.hello_manifest.to_string()), "{err}");
    assert!(err.contains("hint: rebuild"), "{err}");
    assert!(
        s.referrers()
            .iter()
            .all(|d| d["artifactType"] != IN_TOTO_JSON && d["artifactType"] != SIGNATURE),
        "nothing vouched for"
    );

    // No provenance: a warning, and a signature that vouches for the SBOM only. No SBOM
    // file: one made from the archive.
    std::fs::remove_file(&provenance).unwrap();
    std::fs::remove_file(s.hello.with_extension("spdx.json")).unwrap();
    let out = push(true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no provenance for"), "{err}");
    assert!(err.contains("attaching an SBOM made from"), "{err}");
    let attached = attachments(&lines(&text(&out.stdout)));
    let types: Vec<&str> = attached.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(types, [SPDX_JSON, SIGNATURE]);
    let (_, sbom) = s.layer(&attached[0].1);
    let sbom: Value = serde_json::from_slice(&sbom).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    assert!(
        sbom["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "hello"),
        "{sbom:#}"
    );
    let (_, sig) = s.layer(&attached[1].1);
    let facts = paks_attest::signature::verify_signature(
        &sig,
        &s.hello_manifest,
        std::slice::from_ref(&s.public),
    )
    .unwrap();
    assert_eq!(facts.attachments.len(), 1);
    assert_eq!(facts.attachments[0].artifact_type, SPDX_JSON);
}

#[test]
fn provenance_of_a_git_recipe_names_the_commit_and_the_options() {
    let env = Env::new();
    let repo = tempfile::tempdir().unwrap();
    for f in ["paks.toml", "hello-script.in"] {
        std::fs::copy(examples().join("hello-script").join(f), repo.path().join(f)).unwrap();
    }
    let git = |args: &[&str]| common::git(repo.path(), args);
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "recipe"]);
    let commit = git(&["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.path().display());
    let out = env.ok(&[
        "build",
        &format!("git+{url}"),
        "--out",
        env.out.to_str().unwrap(),
        "--no-test",
        "--compression",
        "zstd",
        "--json",
    ]);
    let line = lines(&out).pop().unwrap();
    let doc: Value =
        serde_json::from_slice(&std::fs::read(line["provenance"].as_str().unwrap()).unwrap())
            .unwrap();
    let def = &doc["predicate"]["buildDefinition"];
    assert_eq!(
        def["externalParameters"]["recipe"],
        serde_json::json!({"git": url, "commit": commit})
    );
    assert_eq!(
        def["resolvedDependencies"][0]["uri"],
        format!("git+{url}@{commit}")
    );
    assert_eq!(def["internalParameters"]["compression"], "zstd-3");
    assert_eq!(def["internalParameters"]["tests"], false);
    assert_eq!(
        doc["subject"][0]["digest"]["sha256"],
        line["manifest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap()
    );
}
