//! `paks test`: a build's own test script, run against the build as shipped in a sandbox
//! without network, and the signed result attached to the build in a real `paks serve`.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{Env, ScriptRepo, examples, text};
use paks_attest::test_results::{MAX_OUTPUT, TestResults, Verdict};
use paks_oci::{Client, ClientConfig, Repository};
use paks_types::Digest;
use serde_json::Value;

/// The project's signed registry fixture (`paks serve`, a key, `acme` holding
/// hello-script), and what these scenarios add to it.
struct Registry(ScriptRepo);

impl std::ops::Deref for Registry {
    type Target = ScriptRepo;
    fn deref(&self) -> &ScriptRepo {
        &self.0
    }
}

impl Registry {
    fn new() -> Self {
        Self(ScriptRepo::new())
    }

    fn key(&self) -> &str {
        self.key.to_str().unwrap()
    }

    /// `paks build DIR --json` (and `extra`) by the builder: its JSON line.
    fn build_json(&self, dir: &Path, extra: &[&str]) -> Value {
        let out = self.builder.out.to_str().unwrap();
        let mut args = vec!["build", dir.to_str().unwrap(), "--out", out, "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.builder.ok(&args)).unwrap()
    }

    /// Build the recipe in `dir` without running its tests, push it; returns the build's
    /// manifest digest and its reference by version.
    fn publish(&self, dir: &Path) -> (Digest, String) {
        let built = self.build_json(dir, &["--no-test"]);
        let pak = built["pak"].as_str().unwrap();
        let name = dir.file_name().unwrap().to_str().unwrap();
        self.builder
            .ok(&["push", pak, &format!("{}/{name}", self.ns())]);
        (
            built["manifest"].as_str().unwrap().parse().unwrap(),
            format!("{}/{name}:1.0.0", self.ns()),
        )
    }

    /// The test results attached to `subject` in `acme/NAME`, each verified with the
    /// builder's public key against that very build.
    fn results(&self, name: &str, subject: &Digest) -> Vec<TestResults> {
        let public = paks_index::PublicKey::load(&self.public).unwrap();
        let repo = Repository {
            registry: self.server.host(),
            name: format!("acme/{name}"),
        };
        let client = Client::new(ClientConfig::default()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let listed =
                paks_remote::attach::list(&client, &repo, subject, Some(paks_attest::TEST_RESULTS))
                    .await
                    .unwrap();
            let mut found = Vec::new();
            for descriptor in listed {
                let (manifest, layer) = paks_remote::attach::fetch(&client, &repo, &descriptor)
                    .await
                    .unwrap();
                assert_eq!(&manifest.subject.unwrap().digest, subject);
                assert_eq!(manifest.layers[0].media_type, paks_attest::DSSE_ENVELOPE);
                let (results, _) =
                    TestResults::verify(&layer, std::slice::from_ref(&public), subject).unwrap();
                // The id printed is the digest of the attached envelope.
                assert_eq!(manifest.layers[0].digest, Digest::sha256_of(&layer));
                found.push(results);
            }
            found
        })
    }
}

/// A recipe `NAME` 1.0.0 in `parent/NAME` whose build installs a script `bin/NAME`, and
/// whose `[test]` is `test` (none when `None`).
fn recipe(parent: &Path, name: &str, test: Option<&str>) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut toml = format!(
        r#"[package]
name = "{name}"
version = "1.0.0"

[build]
script = """
mkdir -p "$PREFIX/bin"
printf '#!/bin/sh\necho {name} works\n' > "$PREFIX/bin/{name}"
chmod +x "$PREFIX/bin/{name}"
"""
"#
    );
    if let Some(test) = test {
        write!(toml, "\n[test]\nscript = '''\n{test}\n'''\n").unwrap();
    }
    std::fs::write(dir.join("paks.toml"), toml).unwrap();
    dir
}

/// The one JSON line of type `test` in `stdout`.
fn test_line(stdout: &str) -> Value {
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["type"] == "test")
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    lines.into_iter().next().unwrap()
}

#[test]
fn a_passing_test_by_name_attaches_a_signed_result_about_the_build() {
    let r = Registry::new();
    // hello needs libgreet: its test runs only if the dependency is installed too.
    let libgreet = r.builder.build("libgreet");
    let hello = examples().join("hello");
    let built = r.build_json(&hello, &[]);
    let manifest: Digest = built["manifest"].as_str().unwrap().parse().unwrap();
    // The recipe's test script travels in the package's metadata.
    let info: Value =
        serde_json::from_str(
            &r.builder
                .ok(&["info", built["pak"].as_str().unwrap(), "--json"]),
        )
        .unwrap();
    assert!(
        info["test"].as_str().unwrap().contains("hello | grep -q"),
        "{info}"
    );
    r.builder.ok(&[
        "push",
        libgreet.to_str().unwrap(),
        built["pak"].as_str().unwrap(),
        &r.ns(),
        "--namespace",
    ]);
    r.builder
        .ok(&["index", "build", &r.ns(), "--sign", r.key()]);
    let tester = Env::new();
    tester.ok(&[
        "repo",
        "add",
        "acme",
        &format!("oci://{}", r.ns()),
        "--key",
        r.key.with_extension("pub").to_str().unwrap(),
    ]);

    let out = tester.run(&["test", "hello", "--sign", r.key(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = test_line(&text(&out.stdout));
    assert_eq!(line["result"], "passed", "{line}");
    assert_eq!(line["exit_code"], 0);
    assert_eq!(line["subject"], manifest.to_string());
    assert!(
        line["attached"]
            .as_str()
            .unwrap()
            .contains("/acme/hello@sha256:")
    );
    // Nothing was installed into the tester's own root: the test used a fresh one.
    assert!(
        tester.store_entries().is_empty(),
        "{:?}",
        tester.store_entries()
    );

    let results = r.results("hello", &manifest);
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result.result, Verdict::Passed);
    assert_eq!(result.package.id, built["id"].as_str().unwrap());
    assert!(!result.sandbox.network && result.sandbox.read_only_prefix);
    assert!(result.runner.tool.starts_with("paks/"));
    assert!(!result.runner.arch.is_empty());

    // The human form: the verdict and the result's id on stdout.
    let plain = tester.ok(&["test", "hello", "--sign", r.key()]);
    assert!(plain.starts_with("passed hello@1.0.0 sha256:"), "{plain}");
    // Same build, same script, new run: its result beside the first, unless the two
    // documents are the same bytes (same second, same duration), which are one result.
    let second = plain.trim().rsplit(' ').next().unwrap();
    let first = line["result_id"].as_str().unwrap();
    let expected = if first == second { 1 } else { 2 };
    assert_eq!(
        r.results("hello", &manifest).len(),
        expected,
        "{first} {second}"
    );
}

#[test]
fn a_failing_test_exits_1_and_its_failure_is_attached() {
    let r = Registry::new();
    let dir = recipe(
        r.builder.dir.path(),
        "flaky",
        Some("flaky\necho 'about to fail'\nexit 3"),
    );
    let (manifest, reference) = r.publish(&dir);
    let tester = Env::new();
    let out = tester.run(&["test", &reference, "--sign", r.key(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("failed (exit status 3)"), "{stderr}");
    assert!(
        stderr.contains("about to fail"),
        "the output's end: {stderr}"
    );
    let line = test_line(&text(&out.stdout));
    assert_eq!(line["result"], "failed");
    assert_eq!(line["exit_code"], 3);

    let results = r.results("flaky", &manifest);
    assert_eq!(results.len(), 1, "evidence of failure is evidence");
    assert_eq!(results[0].result, Verdict::Failed);
    assert_eq!(results[0].exit_code, Some(3));
    assert!(
        results[0]
            .output
            .text
            .contains("flaky works\nabout to fail")
    );
}

#[test]
fn the_sandbox_has_no_network() {
    let r = Registry::new();
    // The registry listens on this host's loopback; the script tries to reach it.
    let port = r.server.host().rsplit_once(':').unwrap().1.to_owned();
    let connect = format!("bash -c 'echo > /dev/tcp/127.0.0.1/{port}' && echo reached");
    let reached = std::process::Command::new("sh")
        .args(["-c", &connect])
        .output()
        .unwrap();
    assert_eq!(
        text(&reached.stdout),
        "reached\n",
        "outside the sandbox it can"
    );
    let dir = recipe(r.builder.dir.path(), "phone-home", Some(&connect));
    let (manifest, reference) = r.publish(&dir);
    let tester = Env::new();
    let out = tester.run(&["test", &reference, "--no-attach", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let line = test_line(&text(&out.stdout));
    assert_eq!(line["result"], "failed");
    assert!(line["attached"].is_null());
    assert!(
        !text(&out.stderr).contains("reached"),
        "{}",
        text(&out.stderr)
    );
    assert!(r.results("phone-home", &manifest).is_empty());
}

#[test]
fn junit_counts_are_kept_and_output_is_bounded() {
    let r = Registry::new();
    let junit = r#"<testsuites><testsuite name="s"><testcase name="a"/><testcase name="b"><failure message="no"/></testcase><testcase name="c"><skipped/></testcase></testsuite></testsuites>"#;
    let script = format!(
        "i=0\nwhile [ $i -lt 20000 ]; do echo \"output line $i\"; i=$((i+1)); done\n\
         echo '{junit}' > \"$PAKS_TEST_OUTPUT/junit.xml\""
    );
    let dir = recipe(r.builder.dir.path(), "chatty", Some(&script));
    let (manifest, reference) = r.publish(&dir);
    let tester = Env::new();
    let out = tester.ok(&["test", &reference, "--sign", r.key(), "--json"]);
    let line = test_line(&out);
    assert_eq!(line["result"], "passed");
    assert_eq!(
        line["junit"],
        serde_json::json!({"tests": 3, "failures": 1, "errors": 0, "skipped": 1})
    );
    assert_eq!(line["output_truncated"], true);
    assert!(line["output_bytes"].as_u64().unwrap() > 300_000, "{line}");

    let results = r.results("chatty", &manifest);
    let result = &results[0];
    let junit_kept = result.junit.as_ref().unwrap();
    assert_eq!((junit_kept.tests, junit_kept.failures), (3, 1));
    assert!(junit_kept.xml.contains("<testcase name=\"b\">"));
    assert!(result.output.truncated);
    assert!(result.output.text.len() <= MAX_OUTPUT);
    assert!(result.output.text.starts_with("output line "));
    assert!(result.output.text.ends_with("output line 19999\n"));
}

#[test]
fn all_tests_the_newest_of_every_package_and_sums_up() {
    let r = Registry::new();
    let parent = r.builder.dir.path();
    for (name, test) in [
        ("good", Some("good | grep -q 'good works'")),
        ("bad", Some("false")),
        ("untested", None),
    ] {
        r.publish(&recipe(parent, name, test));
    }
    r.builder
        .ok(&["index", "build", &r.ns(), "--sign", r.key()]);
    let tester = Env::new();
    let out = tester.run(&["test", "--all", &r.ns(), "--sign", r.key(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdict = |name: &str| {
        lines
            .iter()
            .find(|l| l["type"] == "test" && l["name"] == name)
            .map(|l| l["result"].as_str().unwrap().to_owned())
    };
    assert_eq!(verdict("good").as_deref(), Some("passed"));
    assert_eq!(verdict("hello-script").as_deref(), Some("passed"));
    assert_eq!(verdict("bad").as_deref(), Some("failed"));
    assert_eq!(verdict("untested"), None);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "test-summary");
    assert_eq!(
        (summary["passed"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(summary["untested"].as_array().unwrap().len(), 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2 passed, 1 failed, 1 without a test"),
        "{stderr}"
    );
    assert!(stderr.contains("has no test script"), "{stderr}");
}

#[test]
fn mistakes_say_what_to_do() {
    let r = Registry::new();
    let parent = r.builder.dir.path();
    let (_, untested) = r.publish(&recipe(parent, "untested", None));
    let (_, good) = r.publish(&recipe(parent, "good", Some("good")));
    let tester = Env::new();
    // No test script: a clear error.
    let err = tester.fails(&["test", &untested, "--no-attach"], 1);
    assert!(err.contains("has no test script"), "{err}");
    assert!(err.contains("hint:") && err.contains("[test]"), "{err}");
    // Attaching needs a key, asked for before anything runs.
    let err = tester.fails(&["test", &good], 1);
    assert!(
        err.contains("--sign") && err.contains("--no-attach"),
        "{err}"
    );
    // A test script the metadata cannot carry is refused when the recipe is read.
    let big = recipe(parent, "big", Some(&format!("# {}", "x".repeat(70_000))));
    let err = r.builder.build_dir_fails(&big);
    assert!(err.contains("test script is longer than 64 KiB"), "{err}");
}
