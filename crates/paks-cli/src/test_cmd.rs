//! `paks test`: run a build's own test script against the build as shipped (installed with
//! its dependencies into a fresh temporary root, in the build sandbox without network),
//! and attach the signed result to the build in its registry: tests as evidence.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use paks_attest::test_results::{
    JUNIT_FILE, Junit, MAX_JUNIT, MAX_OUTPUT, Output, Runner, SandboxFacts, TestResults,
    TestedPackage, Verdict, result_id,
};
use paks_index::SigningKey;
use paks_oci::{Descriptor, Reference};
use paks_store::{Installable, Store};
use paks_types::{PackageMeta, Reporter};
use serde_json::json;

use crate::Failure;
use crate::cli::TestArgs;
use crate::commands::{Ctx, failure, json_line, out, plural, user_error};

/// What one test found and where its result went.
struct Tested {
    meta: PackageMeta,
    /// The build's manifest: the result's subject.
    manifest: paks_types::Digest,
    results: TestResults,
    result_id: paks_types::Digest,
    /// The attachment's reference, when attached.
    attached: Option<Reference>,
}

pub fn test(ctx: &Ctx, args: &TestArgs) -> Result<(), Failure> {
    let key = match (&args.sign, args.no_attach) {
        (Some(path), _) => Some(SigningKey::load(path).map_err(crate::repos::index_failure)?),
        (None, true) => None,
        (None, false) => {
            return Err(user_error(
                "attaching a test result needs a key to sign it with",
                Some(
                    "pass `--sign KEY.pem` (`paks key generate` makes one), or `--no-attach` to run the test only"
                        .into(),
                ),
            ));
        }
    };
    let targets = match (&args.all, &args.package) {
        (Some(ns), _) => newest_of_namespace(ctx, ns)?,
        (None, Some(package)) => vec![package.clone()],
        (None, None) => unreachable!("clap requires PACKAGE or --all"),
    };
    let (mut passed, mut failed, mut untested) = (Vec::new(), Vec::new(), Vec::new());
    for target in &targets {
        let tested = match test_one(ctx, target, key.as_ref(), args.no_attach) {
            Ok(t) => t,
            // In a namespace, a package without a test is reported, not fatal.
            Err(e) if args.all.is_some() && e.untested => {
                ctx.reporter.warn(&e.failure.error.to_string());
                untested.push(target.clone());
                continue;
            }
            Err(e) => return Err(e.failure),
        };
        print(ctx, &tested, args.json)?;
        if tested.results.result == Verdict::Passed {
            passed.push(tested);
        } else {
            failed.push(tested);
        }
    }
    if args.all.is_some() {
        if args.json {
            json_line(&json!({"type": "test-summary", "passed": passed.len(),
                              "failed": failed.len(), "untested": untested}))?;
        }
        ctx.reporter.status(&format!(
            "Tested {} package{}: {} passed, {} failed, {} without a test",
            passed.len() + failed.len(),
            plural(passed.len() + failed.len()),
            passed.len(),
            failed.len(),
            untested.len()
        ));
    }
    match failed.as_slice() {
        [] => Ok(()),
        [one] => Err(Failure {
            error: format!(
                "the test of `{}` failed ({})",
                one.meta.id,
                status_text(&one.results)
            )
            .into(),
            detail: Some(paks_build::tail_lines(&one.results.output.text, 20)),
            hint: one.attached.as_ref().map(|r| {
                format!(
                    "the failure is recorded too: its result `{}` is attached as `{r}`",
                    one.result_id
                )
            }),
            internal: false,
        }),
        many => Err(user_error(
            format!(
                "{} of {} tests failed: {}",
                many.len(),
                many.len() + passed.len(),
                many.iter()
                    .map(|t| format!("`{}`", t.meta.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some("`paks test NAME` of one of them shows its output".into()),
        )),
    }
}

/// A failure of one package's test run, and whether it is that the package has no test
/// script (which `--all` reports and skips).
struct TestError {
    untested: bool,
    failure: Failure,
}

impl From<Failure> for TestError {
    fn from(failure: Failure) -> Self {
        Self {
            untested: false,
            failure,
        }
    }
}

/// Install `target` into a fresh root, run its test, sign and attach the result.
fn test_one(
    ctx: &Ctx,
    target: &str,
    key: Option<&SigningKey>,
    no_attach: bool,
) -> Result<Tested, TestError> {
    let scratch = TempDir::new()?;
    let store = {
        let cache = crate::cache::open(ctx)?;
        Store::open(&scratch.0.join("root"))
            .and_then(|s| s.using_cache(&cache))
            .map_err(failure)?
    };
    let (items, source) = fetch(ctx, &store, target)?;
    let wanted = items
        .iter()
        .find(|i| i.explicit)
        .expect("the package asked for is explicit");
    let meta = wanted.config.paks.clone();
    let manifest = wanted.manifest.clone();
    let Some(script) = meta.test.clone() else {
        return Err(TestError {
            untested: true,
            failure: user_error(
                format!("`{}` has no test script", meta.id),
                Some(
                    "add a `[test]` table with a `script` to its recipe and build it again".into(),
                ),
            ),
        });
    };
    // Where the result goes is known before the test runs: a mistake there fails first.
    let repo = if no_attach {
        None
    } else {
        Some(source.ok_or_else(|| {
            user_error(
                format!("`{target}` does not come from a registry, so there is nothing to attach its result to"),
                Some("test it by registry reference, or pass `--no-attach`".into()),
            )
        })?)
    };
    store
        .install(items, ctx.jobs, &ctx.reporter)
        .map_err(failure)?;

    let output_dir = scratch.0.join("output");
    fs_err::create_dir_all(&output_dir).map_err(io_failure)?;
    let log = scratch.0.join("test.log");
    let started = paks_index::Timestamp::now();
    let clock = Instant::now();
    let task = ctx.reporter.start(&format!("test {}", meta.name), 0);
    let status = paks_build::test_installed(
        &store,
        &paks_build::InstalledTest {
            id: &meta.id,
            script: &script,
            output_dir: &output_dir,
            log: &log,
            jobs: ctx.jobs,
            echo: ctx.verbose,
        },
    )
    .map_err(failure)?;
    ctx.reporter.finish(task);
    let duration = clock.elapsed();
    let (junit, junit_problem) = junit(&output_dir.join(JUNIT_FILE))?;
    let results = TestResults {
        package: TestedPackage::of(&meta.id),
        result: if status.success() {
            Verdict::Passed
        } else {
            Verdict::Failed
        },
        exit_code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        started: started.to_string(),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        runner: runner()?,
        sandbox: SandboxFacts {
            network: false,
            read_only_prefix: true,
        },
        output: output(&log)?,
        junit,
        junit_problem,
    };
    let envelope = match key {
        Some(key) => results.sign(&manifest, key),
        None => results.unsigned(&manifest),
    };
    let attached = match repo {
        Some(repo) => Some(attach(ctx, &repo, &manifest, &envelope.to_bytes())?),
        None => None,
    };
    Ok(Tested {
        meta,
        manifest,
        result_id: result_id(&envelope),
        results,
        attached,
    })
}

/// Resolve `target` (a reference or a name) and download its closure into `store`'s
/// cache. Returns what to install and, for a registry, the build's repository.
fn fetch(
    ctx: &Ctx,
    store: &Store,
    target: &str,
) -> Result<(Vec<Installable>, Option<paks_oci::Repository>), Failure> {
    if target.contains('/') {
        let reference = crate::references::registry_reference(ctx, target, "test")?;
        let pulled = crate::remote::pull_all(ctx, store, &[reference])?
            .pop()
            .expect("one pull per reference");
        let repo = pulled.resolved.repo();
        return Ok((pulled.packages, Some(repo)));
    }
    let todo = crate::catalog::install_by_name(ctx, store, &[target.to_owned()], false, None)?;
    // Names from a registry namespace come with their reference; a static repository's
    // builds have none.
    let repo = todo
        .items
        .iter()
        .find(|i| i.explicit)
        .and_then(|i| i.source.parse::<Reference>().ok())
        .map(|r| r.repo());
    Ok((todo.items, repo))
}

/// The newest version of every package in the namespace's index, as references.
fn newest_of_namespace(ctx: &Ctx, ns: &str) -> Result<Vec<String>, Failure> {
    let namespace = crate::catalog::namespace(ns)?;
    let client = crate::remote::client(ctx)?;
    let fetched = crate::remote::runtime()?
        .block_on(paks_index::fetch_index(
            &client,
            &paks_index::IndexSource::Oci(namespace.clone()),
        ))
        .map_err(|e| Failure {
            hint: Some(format!(
                "`paks test --all` lists a namespace by its index: `paks index build {ns}` makes one"
            )),
            ..crate::repos::index_failure(e)
        })?;
    Ok(fetched
        .signed
        .signed
        .packages
        .values()
        .filter_map(|entry| {
            let (version, _) = entry.versions.iter().next_back()?;
            Some(format!(
                "{}/{}/{}:{version}",
                namespace.registry, namespace.name, entry.repository
            ))
        })
        .collect())
}

/// Attach the result's envelope to the build `manifest` in `repo`; returns the
/// attachment's reference.
fn attach(
    ctx: &Ctx,
    repo: &paks_oci::Repository,
    manifest: &paks_types::Digest,
    envelope: &[u8],
) -> Result<Reference, Failure> {
    let client = crate::remote::client(ctx)?;
    let subject_ref = repo.reference_digest(manifest);
    crate::remote::runtime()?.block_on(async {
        let (digest, size, media_type) = client
            .head_manifest(&subject_ref)
            .await
            .map_err(crate::remote::oci_failure)?
            .ok_or_else(|| {
                user_error(
                    format!("the build `{subject_ref}` is no longer in its registry"),
                    None,
                )
            })?;
        let subject = Descriptor::new(media_type, digest, size);
        let attached = paks_remote::attach::attach(
            &client,
            repo,
            &subject,
            paks_attest::test_results::ARTIFACT_TYPE,
            paks_attest::test_results::LAYER_MEDIA_TYPE,
            envelope,
            std::collections::BTreeMap::new(),
        )
        .await
        .map_err(failure)?;
        Ok::<_, Failure>(repo.reference_digest(&attached.digest))
    })
}

/// The `JUnit` report the script left, if any: parsed, or why it was not kept.
fn junit(path: &Path) -> Result<(Option<Junit>, Option<String>), Failure> {
    let Ok(file) = fs_err::File::open(path) else {
        return Ok((None, None));
    };
    // One byte past the limit tells a report that is too large without reading it all.
    let mut bytes = Vec::new();
    file.take(MAX_JUNIT as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_failure)?;
    Ok(match Junit::parse(&bytes) {
        Ok(j) => (Some(j), None),
        Err(e) => (None, Some(e.to_string())),
    })
}

/// The end of the test's output, read from the end of its log.
fn output(log: &Path) -> Result<Output, Failure> {
    let mut file = fs_err::File::open(log).map_err(io_failure)?;
    let total = file.metadata().map_err(io_failure)?.len();
    let start = total.saturating_sub(MAX_OUTPUT as u64);
    file.seek(std::io::SeekFrom::Start(start))
        .map_err(io_failure)?;
    let mut end = Vec::new();
    file.read_to_end(&mut end).map_err(io_failure)?;
    Ok(Output::from_end(&end, total))
}

/// This machine and program, as a result records them.
fn runner() -> Result<Runner, Failure> {
    let host = crate::catalog::host()?;
    Ok(Runner {
        tool: format!("paks/{}", env!("CARGO_PKG_VERSION")),
        arch: host.arch.clone(),
        microarchitecture: host.microarch.clone(),
        glibc: host.glibc.as_ref().map(paks_host::glibc_text),
    })
}

fn status_text(r: &TestResults) -> String {
    match (r.exit_code, r.signal) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "no exit status".into(),
    }
}

fn print(ctx: &Ctx, t: &Tested, json: bool) -> Result<(), Failure> {
    let r = &t.results;
    let junit = r.junit.as_ref().map(|j| {
        json!({"tests": j.tests, "failures": j.failures, "errors": j.errors, "skipped": j.skipped})
    });
    if json {
        json_line(&json!({
            "type": "test",
            "id": t.meta.id.to_string(),
            "name": t.meta.name.as_str(),
            "version": t.meta.version.to_string(),
            "subject": t.manifest.to_string(),
            "result": r.result.as_str(),
            "exit_code": r.exit_code,
            "signal": r.signal,
            "duration_ms": r.duration_ms,
            "result_id": t.result_id.to_string(),
            "attached": t.attached.as_ref().map(ToString::to_string),
            "junit": junit,
            "junit_problem": r.junit_problem,
            "output_bytes": r.output.bytes,
            "output_truncated": r.output.truncated,
        }))?;
    } else {
        writeln!(
            out(),
            "{} {}@{} {}",
            r.result.as_str(),
            t.meta.name,
            t.meta.version,
            t.result_id
        )?;
    }
    let counts = r.junit.as_ref().map_or_else(String::new, |j| {
        format!(
            "; JUnit: {} test{}, {} failed, {} errors, {} skipped",
            j.tests,
            plural(usize::try_from(j.tests).unwrap_or(usize::MAX)),
            j.failures,
            j.errors,
            j.skipped
        )
    });
    ctx.reporter.status(&format!(
        "Tested {} {} ({}): {} in {}ms{counts}",
        t.meta.name,
        t.meta.version,
        &t.meta.id.hash()[..8],
        r.result.as_str(),
        r.duration_ms
    ));
    if let Some(problem) = &r.junit_problem {
        ctx.reporter
            .warn(&format!("the JUnit report was not kept: {problem}"));
    }
    match &t.attached {
        Some(reference) => ctx.reporter.status(&format!(
            "Attached result `{}` as `{reference}`",
            t.result_id
        )),
        None => ctx.reporter.status(&format!(
            "Result `{}` not attached (`--no-attach`)",
            t.result_id
        )),
    }
    Ok(())
}

/// A scratch directory for one test (its root, output and log), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, Failure> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("paks-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        fs_err::create_dir(&dir).map_err(io_failure)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A failure of this machine (its disk, its temporary directory): exit 2.
fn io_failure(e: std::io::Error) -> Failure {
    Failure {
        internal: true,
        ..Failure::from(e)
    }
}
