//! The trust policy at install: a build resolved from a repository that sets `require`
//! (`paks repo add --require signed,tested`) must carry that evidence, signed by the
//! repository's keys, before anything is installed (`paks install`, `sync`, `add`,
//! `image build`). `--no-verify` skips the check and says loudly what it skipped.

use paks_attest::policy::{Attachment, Evidence};
use paks_index::{BuildEntry, IndexSource};
use paks_oci::{Digest, Repository};

use crate::Failure;
use crate::cli::{Command, ImageCommand};
use crate::commands::{Ctx, failure, plural, user_error};
use crate::repos::Loaded;
use crate::verify::{failed_reasons, gather};
use paks_types::Reporter as _;

/// Builds whose evidence is fetched at once.
const EVIDENCE_AT_ONCE: usize = 16;

/// Whether the command line asked for `--no-verify`.
pub fn no_verify(command: &Command) -> bool {
    match command {
        Command::Install(a) => a.trust.no_verify,
        Command::Sync(a) => a.trust.no_verify,
        Command::Add(a) => a.trust.no_verify,
        Command::Image(ImageCommand::Build(a)) => a.trust.no_verify,
        _ => false,
    }
}

/// A build about to be used, and the repository whose verified index listed it.
pub struct Candidate<'a> {
    pub loaded: &'a Loaded,
    pub build: &'a BuildEntry,
    /// Its repository in the namespace (`hello` of `REGISTRY/acme/hello`).
    pub package_repo: &'a str,
}

fn label(c: &Candidate<'_>) -> String {
    format!(
        "`{}` {} (repository `{}` requires {})",
        c.build.id.name(),
        c.build.id.version(),
        c.loaded.entry.name,
        c.loaded.entry.require
    )
}

/// The builds of `digests`, each from the first repository whose index lists it.
pub fn listed<'a>(loaded: &'a [Loaded], digests: &[&Digest]) -> Vec<Candidate<'a>> {
    digests
        .iter()
        .filter_map(|d| {
            loaded.iter().find_map(|l| {
                l.index.find_build(d).map(|found| Candidate {
                    loaded: l,
                    build: found.build,
                    package_repo: &found.package.repository,
                })
            })
        })
        .collect()
}

/// Check every candidate whose repository has a policy; refuse them all, with the reason
/// per package, when one fails. `nothing` says what did not happen then ("nothing was
/// installed").
pub fn enforce(
    ctx: &Ctx,
    candidates: &[Candidate<'_>],
    offline: bool,
    nothing: &str,
) -> Result<(), Failure> {
    let governed: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| !c.loaded.entry.require.is_empty())
        .collect();
    if governed.is_empty() {
        return Ok(());
    }
    if ctx.no_verify {
        let skipped: Vec<String> = governed.iter().map(|c| label(c)).collect();
        ctx.reporter.warn(&format!(
            "--no-verify: the trust policy was NOT checked for {} package{}: {}; their signatures, provenance and test results are unverified",
            skipped.len(),
            plural(skipped.len()),
            skipped.join(", ")
        ));
        return Ok(());
    }
    if offline {
        return Err(user_error(
            format!(
                "cannot check the trust policy offline: {} need{} evidence from the registry",
                governed
                    .iter()
                    .map(|c| label(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                if governed.len() == 1 { "s" } else { "" }
            ),
            Some("run it once with the network, or pass `--no-verify` to skip the check".into()),
        ));
    }
    let client = crate::remote::client(ctx)?;
    let runtime = crate::remote::runtime()?;
    let evidence = runtime.block_on(async {
        use futures_util::StreamExt as _;
        futures_util::stream::iter(governed.iter().map(|c| evidence_of(&client, c)))
            // The client bounds its connections; builds at once hide the round trips.
            .buffered(EVIDENCE_AT_ONCE)
            .collect::<Vec<_>>()
            .await
    });
    let mut refused = Vec::new();
    for (c, evidence) in governed.iter().zip(evidence) {
        let (evidence, note) = evidence?;
        let entry = &c.loaded.entry;
        let verdict = paks_attest::judge(
            &c.build.digest,
            &c.build.id,
            &evidence,
            &entry.policy()?.keys,
            &entry.require,
        );
        if !verdict.passed() {
            refused.push(format!(
                "  {}: {}{note}",
                label(c),
                failed_reasons(&verdict)
            ));
        }
    }
    if refused.is_empty() {
        ctx.reporter.info(&format!(
            "Verified {} package{} against their repositories' trust policy",
            governed.len(),
            plural(governed.len())
        ));
        return Ok(());
    }
    Err(Failure {
        error: format!(
            "{} package{} fail{} the trust policy of {}; {nothing}",
            refused.len(),
            plural(refused.len()),
            if refused.len() == 1 { "s" } else { "" },
            if refused.len() == 1 { "its repository" } else { "their repositories" },
        )
        .into(),
        detail: Some(refused.join("\n")),
        hint: Some("`paks verify REF --key KEY` shows each check; ask the publisher to attach what is missing, or pass `--no-verify` to use them anyway".into()),
        internal: false,
    })
}

/// The evidence of one candidate, and a note for the reason when its repository cannot
/// carry any.
async fn evidence_of(
    client: &paks_oci::Client,
    c: &Candidate<'_>,
) -> Result<(Evidence, String), Failure> {
    match &c.loaded.source {
        IndexSource::Oci(ns) => {
            let repo = Repository {
                registry: ns.registry.clone(),
                name: format!("{}/{}", ns.name, c.package_repo),
            };
            let evidence = gather(
                client,
                &repo,
                &c.build.digest,
                Some(&c.loaded.entry.require),
            )
            .await
            .map_err(failure)?;
            Ok((evidence, String::new()))
        }
        source => {
            // A static repository carries attachments as `X.referrers/` beside the `.pak`
            // (`paks index export`), when it was exported with them.
            let found = paks_index::static_referrers(client, source, c.build)
                .await
                .map_err(crate::repos::index_failure)?;
            let note = if found.is_empty() {
                format!(
                    " (the static repository `{}` holds no attachments for it)",
                    c.loaded.entry.name
                )
            } else {
                String::new()
            };
            let attachments = found
                .into_iter()
                .map(|(descriptor, layer)| Attachment {
                    artifact_type: descriptor.artifact_type.clone().unwrap_or_default(),
                    descriptor,
                    layer,
                })
                .collect();
            Ok((
                Evidence {
                    attachments,
                    unreadable: Vec::new(),
                },
                note,
            ))
        }
    }
}

/// `paks repo add --require LIST`: record the policy on the repository just added (in
/// `config`, saved by the caller). A policy is checked with the repository's keys, so it
/// needs at least one.
pub fn set_require(
    config: &mut crate::repos::RepoConfig,
    added: &mut Loaded,
    require: Option<paks_attest::Require>,
) -> Result<(), Failure> {
    let Some(require) = require else {
        return Ok(());
    };
    if !require.is_empty() && added.entry.keys.is_empty() {
        return Err(user_error(
            format!(
                "repository `{}` cannot require `{require}` without a key to check the evidence with",
                added.entry.name
            ),
            Some("pass `--key` with the publisher's public key".into()),
        ));
    }
    for e in config
        .repositories
        .iter_mut()
        .filter(|e| e.name == added.entry.name)
    {
        e.require = require.clone();
    }
    added.entry.require = require;
    Ok(())
}
