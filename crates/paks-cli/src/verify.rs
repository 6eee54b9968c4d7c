//! `paks verify REF`: a build's attachments in its registry judged against trusted keys
//! and a requirement list; and the evidence reader the install policy (`trust`) shares.

use std::io::Write;

use paks_attest::policy::{Attachment, Check, Evidence, Outcome};
use paks_attest::{Require, Verdict};
use paks_index::PublicKey;
use paks_oci::{Client, Digest, Repository};
use paks_remote::Remote;
use serde_json::json;

use crate::Failure;
use crate::cli::VerifyArgs;
use crate::commands::{Ctx, failure, json_line, out, user_error};

/// What is attached to `subject` in `repo` (all of it, or only what `only` can judge):
/// each referrer's manifest and layer, fetched and digest-checked; a referrer that is
/// listed but cannot be fetched (deleted, corrupt) is kept as unreadable, so the verdict
/// can say so.
pub async fn gather(
    client: &Client,
    repo: &Repository,
    subject: &Digest,
    only: Option<&paks_attest::Require>,
) -> Result<Evidence, paks_remote::RemoteError> {
    let mut listed = paks_remote::attach::list(client, repo, subject, None).await?;
    if let Some(require) = only {
        listed.retain(|d| require.needs(d.artifact_type.as_deref().unwrap_or_default()));
    }
    let fetched = futures_util::future::join_all(
        listed
            .iter()
            .map(|d| paks_remote::attach::fetch(client, repo, d)),
    )
    .await;
    let mut evidence = Evidence::default();
    for (descriptor, result) in listed.into_iter().zip(fetched) {
        match result {
            // The manifest's own `artifactType` counts, not the listing's claim.
            Ok((manifest, layer)) => evidence.attachments.push(Attachment {
                artifact_type: manifest.artifact_type.unwrap_or_default(),
                descriptor,
                layer,
            }),
            Err(e) => evidence.unreadable.push((descriptor, e.to_string())),
        }
    }
    Ok(evidence)
}

/// The keys of `--key` arguments (a key, or a file holding one).
fn keys(args: &[String]) -> Result<Vec<PublicKey>, Failure> {
    args.iter()
        .map(|k| {
            let text = crate::catalog::read_key_arg(k)?;
            PublicKey::parse(&text).map_err(crate::repos::index_failure)
        })
        .collect()
}

/// Whether a check is worth a line: required, or something of its kind is attached.
pub fn shown(c: &Check) -> bool {
    c.required || !matches!(c.outcome, Outcome::Missing { .. })
}

/// The requirements of `verdict` that failed, as `tested: no test result is attached; …`.
pub fn failed_reasons(verdict: &Verdict) -> String {
    verdict
        .failures()
        .map(|c| format!("{}: {}", c.requirement, c.outcome.message()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn check_line(c: &Check) -> serde_json::Value {
    let (outcome, keyid, digest) = match &c.outcome {
        Outcome::Pass { keyid, digest, .. } => ("pass", Some(keyid), Some(digest.to_string())),
        Outcome::Fail { .. } => ("fail", None, None),
        Outcome::Missing { .. } => ("missing", None, None),
    };
    json!({"type": "check", "requirement": c.requirement.as_str(), "required": c.required,
           "passed": c.outcome.passed(), "outcome": outcome, "message": c.outcome.message(),
           "keyid": keyid, "digest": digest})
}

pub fn verify(ctx: &Ctx, args: &VerifyArgs) -> Result<(), Failure> {
    let reference = crate::remote::parse_reference(&args.reference)?;
    let trusted = keys(&args.keys)?;
    let store = ctx.store()?;
    let host = crate::catalog::host()?;
    let client = crate::remote::cache_client(ctx)?;
    let remote = Remote::new(client.clone(), &store);
    let rt = crate::remote::runtime()?;
    let (resolved, found) = rt
        .block_on(remote.resolve_for(&reference, &host.platform(), &host))
        .map_err(failure)?;
    let build = found
        .last()
        .expect("a closure ends with the build asked for");
    let id = &build.config.paks.id;
    let evidence = rt
        .block_on(gather(&client, &build.repo, &build.manifest, None))
        .map_err(failure)?;
    let verdict = paks_attest::judge(&build.manifest, id, &evidence, &trusted, &args.require);
    print(
        args.json,
        &resolved.to_string(),
        id,
        &args.require,
        &verdict,
    )?;
    if verdict.passed() {
        ctx.reporter.status(&format!(
            "`{}` {} meets `{}`",
            id.name(),
            id.version(),
            args.require
        ));
        return Ok(());
    }
    Err(user_error(
        format!(
            "`{}` {} fails `--require {}`: {}",
            id.name(),
            id.version(),
            args.require,
            failed_reasons(&verdict)
        ),
        Some("attach what is missing (`paks push --sign`, `paks test --sign`), or check that `--key` names the publisher's key".into()),
    ))
}

fn print(
    json_out: bool,
    reference: &str,
    id: &paks_types::PackageId,
    require: &Require,
    verdict: &Verdict,
) -> std::io::Result<()> {
    let checks = verdict.checks.iter().filter(|c| shown(c));
    if json_out {
        for c in checks {
            json_line(&check_line(c))?;
        }
        return json_line(&json!({"type": "verdict", "reference": reference,
            "package": id.to_string(), "require": require.to_string(),
            "passed": verdict.passed()}));
    }
    let mut o = out();
    writeln!(o, "{} {}  {reference}", id.name(), id.version())?;
    for c in checks {
        // stdout may be a pipe: no colour, the case says it.
        let mark = match (c.outcome.passed(), c.required) {
            (true, _) => "pass",
            (false, true) => "FAIL",
            (false, false) => "fail",
        };
        let optional = if c.required { "" } else { " (not required)" };
        writeln!(
            o,
            "  {mark}  {:<10}  {}{optional}",
            c.requirement.as_str(),
            crate::printer::shown(c.outcome.message())
        )?;
    }
    Ok(())
}
