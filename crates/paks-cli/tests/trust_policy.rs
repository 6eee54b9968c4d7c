//! The trust policy end to end: a real `paks serve`, a real build of `hello-script` pushed
//! and indexed, attachments made of real envelopes signed with real keys and attached with
//! `paks attach` (or `paks push --sign`); `paks verify` and `paks install` from a repository added with
//! `--require` judge them. Each attack (a signature by another key, a provenance for another
//! digest, a test result of another package, a referrer removed from the registry) is
//! refused by both, with the reason; `--no-verify` installs and warns.

mod common;

use common::{Env, ScriptRepo};
use paks_attest::signature::SignedAttachment;
use paks_attest::{
    DSSE_ENVELOPE, Envelope, IN_TOTO_JSON, PAKS_TEST_RESULTS_V1, SIGNATURE, SLSA_PROVENANCE_V1,
    SPDX_JSON, Statement, Subject, TEST_RESULTS,
};
use paks_index::SigningKey;
use paks_oci::{Client, ClientConfig, Digest, Repository};
use paks_types::PackageId;
use serde_json::json;

/// The pushed build of hello-script: where it is, and what attaches to it.
struct Target {
    repo: ScriptRepo,
    registry: Repository,
    subject: Digest,
    id: PackageId,
    client: Client,
    rt: tokio::runtime::Runtime,
    /// The publisher's key (the repository's), and a stranger's.
    key: SigningKey,
    other: SigningKey,
}

impl Target {
    fn new() -> Self {
        let repo = ScriptRepo::new();
        let pak = paks_store::open_pak(&repo.pak).unwrap();
        let digest = pak.reader.manifest_digest().clone();
        let id = pak.config.paks.id.clone();
        let registry = Repository {
            registry: repo.server.host(),
            name: format!("{}/hello-script", ScriptRepo::NS),
        };
        let client = Client::new(ClientConfig::default()).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let key = SigningKey::load(&repo.key).unwrap();
        let other = SigningKey::from_pem(&paks_index::generate_key().unwrap().private_pem).unwrap();
        Self {
            registry,
            subject: digest,
            id,
            client,
            rt,
            key,
            other,
            repo,
        }
    }

    fn digest(&self) -> &Digest {
        &self.subject
    }

    /// `REGISTRY/acme/hello-script@sha256:…`
    fn reference(&self) -> String {
        format!("{}/hello-script@{}", self.repo.ns(), self.digest())
    }

    /// `paks attach REF --artifact-type T --media-type M FILE`, the file holding `layer`;
    /// returns the artifact manifest's digest.
    fn attach(&self, artifact_type: &str, media_type: &str, layer: &[u8]) -> Digest {
        let file = self.repo.builder.dir.path().join("attachment");
        std::fs::write(&file, layer).unwrap();
        let line = self.repo.builder.ok(&[
            "attach",
            &self.reference(),
            file.to_str().unwrap(),
            "--artifact-type",
            artifact_type,
            "--media-type",
            media_type,
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["subject"], self.digest().to_string());
        v["digest"].as_str().unwrap().parse().unwrap()
    }

    /// A signed statement of `predicate_type` about `about`, attached as `artifact_type`.
    fn statement(
        &self,
        artifact_type: &str,
        predicate_type: &str,
        about: &Digest,
        predicate: serde_json::Value,
        key: &SigningKey,
    ) -> Digest {
        let s = Statement::new(
            vec![Subject::new(self.id.to_string(), about)],
            predicate_type,
            predicate,
        );
        let envelope = Envelope::sign(IN_TOTO_JSON, &s.to_bytes(), key).to_bytes();
        self.attach(artifact_type, DSSE_ENVELOPE, &envelope)
    }

    fn provenance(&self, about: &Digest, key: &SigningKey) -> Digest {
        let predicate = json!({
            "buildDefinition": {"buildType": "https://paks.dev/build/v1", "externalParameters": {}},
            "runDetails": {"builder": {"id": "https://paks.dev/builder/local"}}});
        self.statement(IN_TOTO_JSON, SLSA_PROVENANCE_V1, about, predicate, key)
    }

    /// A passing test result, as `paks test` writes it, about `about`.
    fn test_result(&self, about: &Digest, key: &SigningKey) -> Digest {
        use paks_attest::test_results::{
            Output, Runner, SandboxFacts, TestResults, TestedPackage, Verdict,
        };
        let results = TestResults {
            package: TestedPackage::of(&self.id),
            result: Verdict::Passed,
            exit_code: Some(0),
            signal: None,
            started: "2026-12-06T03:30:00Z".into(),
            duration_ms: 5,
            runner: Runner {
                tool: "paks/0.1.0".into(),
                arch: "x86_64".into(),
                microarchitecture: None,
                glibc: None,
            },
            sandbox: SandboxFacts {
                network: false,
                read_only_prefix: true,
            },
            output: Output::from_bytes(b"ok\n"),
            junit: None,
            junit_problem: None,
        };
        let predicate = serde_json::to_value(&results).unwrap();
        self.statement(TEST_RESULTS, PAKS_TEST_RESULTS_V1, about, predicate, key)
    }

    /// A signature by `key` vouching for the layers `vouched` (artifact type, bytes).
    fn signature(&self, vouched: &[(&str, &[u8])], key: &SigningKey) -> Digest {
        let listed: Vec<SignedAttachment> = vouched
            .iter()
            .map(|(t, bytes)| SignedAttachment {
                artifact_type: (*t).to_owned(),
                digest: Digest::sha256_of(bytes),
            })
            .collect();
        let envelope = paks_attest::signature::sign(&self.id, self.digest(), &listed, key);
        self.attach(SIGNATURE, DSSE_ENVELOPE, &envelope.to_bytes())
    }

    fn delete(&self, d: &Digest) {
        self.rt
            .block_on(
                self.client
                    .delete_manifest(&self.registry.reference_digest(d)),
            )
            .unwrap();
    }

    fn public(&self) -> &str {
        self.repo.public.to_str().unwrap()
    }

    /// `paks verify REF --key PUB --require LIST` in a fresh env: (exit code, stdout, stderr).
    fn verify(&self, require: &str) -> (i32, String, String) {
        let env = Env::new();
        let out = env.run(&[
            "verify",
            &self.reference(),
            "--key",
            self.public(),
            "--require",
            require,
        ]);
        (
            out.status.code().unwrap(),
            common::text(&out.stdout),
            common::text(&out.stderr),
        )
    }

    /// A fresh env with the repository added as `acme`, requiring `require`.
    fn consumer(&self, require: &str) -> Env {
        let env = Env::new();
        env.ok(&[
            "repo",
            "add",
            "acme",
            &self.repo.url(),
            "--key",
            self.public(),
            "--require",
            require,
        ]);
        env
    }

    /// `paks install hello-script` under a policy of `require` must fail (exit 1), install
    /// nothing, and say `why`.
    fn install_refused(&self, require: &str, why: &str) {
        let env = self.consumer(require);
        let err = env.fails(&["install", "hello-script"], 1);
        assert!(
            err.contains(
                "1 package fails the trust policy of its repository; nothing was installed"
            ),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "`hello-script` {} (repository `acme` requires {require})",
                self.id.version()
            )),
            "{err}"
        );
        assert!(err.contains(why), "{why:?} not in {err}");
        assert!(env.store_entries().is_empty(), "{:?}", env.store_entries());
    }
}

fn sbom_bytes(id: &PackageId) -> Vec<u8> {
    serde_json::to_vec(&json!({"spdxVersion": "SPDX-2.3", "name": id.to_string()})).unwrap()
}

#[test]
fn forged_evidence_is_refused_by_verify_and_by_install() {
    let t = Target::new();

    // Nothing attached.
    let (code, stdout, stderr) = t.verify("signed");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("FAIL  signed      no signature is attached"),
        "{stdout}"
    );
    assert!(stderr.contains("fails `--require signed`"), "{stderr}");
    t.install_refused("signed", "signed: no signature is attached");

    // A signature by another key.
    let sbom = sbom_bytes(&t.id);
    t.attach(SPDX_JSON, SPDX_JSON, &sbom);
    let forged = t.signature(&[(SPDX_JSON, &sbom)], &t.other);
    let stranger = t.other.public_key().keyid();
    let (code, stdout, _) = t.verify("signed,sbom");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("signature `{forged}` is refused")),
        "{stdout}"
    );
    assert!(stdout.contains("not trusted"), "{stdout}");
    assert!(stdout.contains(&stranger), "{stdout}");
    assert!(
        stdout.contains("FAIL  sbom") && stdout.contains("no trusted signature vouches for it"),
        "{stdout}"
    );
    t.install_refused("signed", "is signed only by keys that are not trusted");

    // A provenance, signed by the publisher, but for another digest.
    let elsewhere = Digest::sha256_of(b"another build of hello-script");
    t.provenance(&elsewhere, &t.key);
    let (code, stdout, _) = t.verify("provenance");
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("made for another build"), "{stdout}");
    assert!(stdout.contains(elsewhere.hex()), "{stdout}");
    t.install_refused("provenance", "made for another build");

    // A passing test result of another package, attached to this one.
    let zlib = Digest::sha256_of(b"the manifest of zlib");
    t.test_result(&zlib, &t.key);
    let (code, stdout, _) = t.verify("tested");
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAIL  tested"), "{stdout}");
    assert!(stdout.contains(zlib.hex()), "{stdout}");
    t.install_refused("signed,tested", "tested: test result `sha256:");

    // `--no-verify` installs, and says what it did not check.
    let env = t.consumer("signed,tested");
    let out = env.run(&["install", "hello-script", "--no-verify"]);
    let err = common::text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("warning: --no-verify: the trust policy was NOT checked for 1 package: `hello-script` {} (repository `acme` requires signed,tested)", t.id.version())),
        "{err}"
    );
    assert_eq!(env.store_entries().len(), 1);
}

#[test]
fn honest_evidence_passes_and_a_removed_referrer_is_refused() {
    let t = Target::new();
    let sbom = sbom_bytes(&t.id);
    let sbom_artifact = t.attach(SPDX_JSON, SPDX_JSON, &sbom);
    t.provenance(t.digest(), &t.key);
    t.test_result(t.digest(), &t.key);
    let signature = t.signature(&[(SPDX_JSON, &sbom)], &t.key);
    let everything = "signed,provenance,tested,sbom";
    let keyid = t.key.public_key().keyid();

    let (code, stdout, stderr) = t.verify(everything);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout.matches("  pass  ").count(), 4, "{stdout}");
    assert!(
        stdout.contains(&format!("signed by trusted key `{keyid}`")),
        "{stdout}"
    );
    assert!(
        stdout.contains("built by `https://paks.dev/builder/local`"),
        "{stdout}"
    );
    // JSON lines: a check per requirement, then the verdict.
    let env = Env::new();
    let json = env.ok(&[
        "verify",
        &t.reference(),
        "--key",
        t.public(),
        "--require",
        everything,
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{json}");
    assert!(
        lines[..4]
            .iter()
            .all(|l| l["type"] == "check" && l["passed"] == true)
    );
    assert_eq!(lines[0]["keyid"], keyid.as_str());
    assert_eq!(lines[4]["type"], "verdict");
    assert_eq!(lines[4]["passed"], true);
    assert_eq!(lines[4]["package"], t.id.to_string());

    let env = t.consumer(everything);
    let listed = env.ok(&["repo", "list"]);
    assert!(
        listed.contains(&format!("requires {everything}")),
        "{listed}"
    );
    let err = common::text(&env.run(&["install", "hello-script", "-v"]).stderr);
    assert_eq!(env.store_entries().len(), 1, "{err}");

    // The SBOM is deleted from the registry: the signature still lists its layer.
    t.delete(&sbom_artifact);
    let (code, stdout, _) = t.verify(everything);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout
            .contains("FAIL  sbom        no SBOM is attached (the signature lists the SBOM layer"),
        "{stdout}"
    );
    assert!(stdout.contains("it was removed"), "{stdout}");
    t.install_refused(everything, "sbom: no SBOM is attached");

    // The signature is deleted too.
    t.delete(&signature);
    let (code, stdout, _) = t.verify("signed");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL  signed      no signature is attached"),
        "{stdout}"
    );
    t.install_refused("signed", "signed: no signature is attached");
}

#[test]
fn require_lists_are_checked_and_need_a_key() {
    let t = Target::new();
    let env = Env::new();
    let url = t.repo.url();
    let err = env.fails(
        &[
            "repo",
            "add",
            "acme",
            &url,
            "--key",
            t.public(),
            "--require",
            "signed,tsted",
        ],
        64,
    );
    assert!(err.contains("`tsted` is not a requirement"), "{err}");
    let err = env.fails(
        &[
            "repo",
            "add",
            "acme",
            &url,
            "--allow-unsigned",
            "--require",
            "signed",
        ],
        1,
    );
    assert!(
        err.contains("cannot require `signed` without a key"),
        "{err}"
    );
    assert_eq!(env.ok(&["repo", "list"]), "", "nothing was added");
    // Without `--require`, nothing is asked of the evidence: it installs as before.
    env.ok(&["repo", "add", "acme", &url, "--key", t.public()]);
    env.ok(&["install", "hello-script"]);
    assert_eq!(env.store_entries().len(), 1);
}

#[test]
fn paks_push_sign_meets_a_policy_and_image_build_enforces_it() {
    // A real publisher: build, push, a signed index; then `paks push --sign` attaches.
    let repo = ScriptRepo::new();
    let (pak, public) = (&repo.pak, &repo.public);
    let ns = repo.ns();
    repo.builder.ok(&[
        "push",
        pak.to_str().unwrap(),
        &format!("{ns}/hello-script"),
        "--sign",
        repo.key.to_str().unwrap(),
    ]);
    let digest = paks_store::open_pak(pak)
        .unwrap()
        .reader
        .manifest_digest()
        .clone();
    let reference = format!("{ns}/hello-script@{digest}");

    let user = Env::new();
    let verified = user.ok(&[
        "verify",
        &reference,
        "--key",
        public.to_str().unwrap(),
        "--require",
        "signed,provenance,sbom",
    ]);
    assert_eq!(verified.matches("  pass  ").count(), 3, "{verified}");

    // Installs under that policy; refused under one that also wants test results.
    let add = |env: &Env, require: &str| {
        env.ok(&[
            "repo",
            "add",
            "acme",
            &repo.url(),
            "--key",
            public.to_str().unwrap(),
            "--require",
            require,
        ]);
    };
    add(&user, "signed,provenance,sbom");
    user.ok(&["install", "hello-script"]);
    assert_eq!(user.store_entries().len(), 1);

    let strict = Env::new();
    add(&strict, "signed,tested");
    let out_dir = strict.dir.path().join("image");
    let output = format!("oci:{}:app", out_dir.display());
    let image = [
        "image",
        "build",
        "hello-script",
        "--from",
        "scratch",
        "-o",
        &output,
    ];
    let err = strict.fails(&image, 1);
    assert!(
        err.contains("fails the trust policy of its repository; no image was made"),
        "{err}"
    );
    assert!(err.contains("tested: no test result is attached"), "{err}");
    assert!(!out_dir.join("index.json").exists());
    let err = strict.fails(&["install", "hello-script"], 1);
    assert!(err.contains("tested: no test result is attached"), "{err}");
    assert!(strict.store_entries().is_empty());

    // `--no-verify` makes the image, and says so.
    let out = strict.run(&[&image[..], &["--no-verify"]].concat());
    let err = common::text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--no-verify: the trust policy was NOT checked"),
        "{err}"
    );
    assert!(out_dir.join("index.json").is_file());
}

#[test]
fn static_repositories_and_projects_are_held_to_the_policy() {
    let t = Target::new();
    let (builder, key) = (&t.repo.builder, t.repo.key.to_str().unwrap());
    let ns = t.repo.ns();
    let pak = t.repo.pak.to_str().unwrap();
    builder.ok(&["push", pak, &format!("{ns}/hello-script"), "--sign", key]);
    // A static export carries the attachments beside the `.pak`.
    let exported = builder.dir.path().join("exported");
    builder.ok(&["index", "export", &ns, exported.to_str().unwrap()]);
    let add = |env: &Env, dir: &std::path::Path, require: &str| {
        let url = format!("file://{}", dir.display());
        let args = [
            "repo",
            "add",
            "usb",
            &url,
            "--key",
            t.public(),
            "--require",
            require,
        ];
        env.ok(&args);
    };
    let user = Env::new();
    add(&user, &exported, "signed,provenance,sbom");
    user.ok(&["install", "hello-script"]);
    assert_eq!(user.store_entries().len(), 1);
    let strict = Env::new();
    add(&strict, &exported, "signed,tested");
    let err = strict.fails(&["install", "hello-script"], 1);
    assert!(err.contains("tested: no test result is attached"), "{err}");

    // A static repository built from bare `.pak` files holds no evidence, and says so.
    let bare = builder.dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(&t.repo.pak, bare.join(t.repo.pak.file_name().unwrap())).unwrap();
    builder.ok(&["index", "build", bare.to_str().unwrap(), "--sign", key]);
    let env = Env::new();
    add(&env, &bare, "signed");
    let err = env.fails(&["install", "hello-script"], 1);
    assert!(
        err.contains("signed: no signature is attached (the static repository `usb` holds no attachments for it)"),
        "{err}"
    );
    assert!(env.store_entries().is_empty());

    // A project: `paks add` and `paks sync` refuse, `paks sync --no-verify` installs.
    let user = t.consumer("signed,tested");
    let proj = user.dir.path().join("proj");
    user.ok(&["env", "init", proj.to_str().unwrap()]);
    let in_proj = |args: &[&str]| user.cmd().current_dir(&proj).args(args).output().unwrap();
    let out = in_proj(&["add", "hello-script"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::text(&out.stderr).contains("nothing was installed"));
    let out = in_proj(&["sync"]);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("tested: no test result is attached"), "{err}");
    assert!(user.store_entries().is_empty());
    let out = in_proj(&["sync", "--no-verify"]);
    let err = common::text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--no-verify: the trust policy was NOT checked"),
        "{err}"
    );
    assert_eq!(user.store_entries().len(), 1);
}
