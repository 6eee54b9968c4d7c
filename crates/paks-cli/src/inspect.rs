//! `paks host`, `paks inspect`, `paks compat` and `paks label`: what a host is, what an
//! image needs, and whether it runs (well) here.

use std::io::Write;

use crate::Failure;
use crate::cli::{CompatArgs, HostArgs, InspectArgs, LabelArgs};
use crate::commands::{Ctx, out};
use crate::printer::{shown, typed};

pub fn host(args: &HostArgs) -> Result<(), Failure> {
    let profile = crate::catalog::host()?;
    let mut o = out();
    if args.json {
        // One line, typed; `--host FILE` and `PAKS_HOST_PROFILE` read it back as it is.
        writeln!(o, "{}", typed("host", &profile))?;
    } else {
        for line in profile.summary_lines() {
            writeln!(o, "{line}")?;
        }
    }
    Ok(())
}

/// Inspects `arg`; from an index, the build the host (or `host`) runs best.
fn report(
    ctx: &Ctx,
    arg: &str,
    host: Option<&paks_host::HostProfile>,
) -> Result<paks_inspect::ImageReport, Failure> {
    let source = crate::references::location(ctx, arg)?;
    let client = crate::remote::client(ctx)?;
    let mut options = paks_inspect::InspectOptions::default();
    if let Some(host) = host {
        options.platform = host.platform();
        options.max_level = paks_inspect::best_level(&host.targets);
    }
    crate::remote::runtime()?
        .block_on(paks_inspect::inspect_with(&client, &source, &options))
        .map_err(Failure::from)
}

pub fn inspect(ctx: &Ctx, args: &InspectArgs) -> Result<(), Failure> {
    let report = report(ctx, &args.image, None)?;
    let mut o = out();
    if args.json {
        writeln!(o, "{}", typed("image", &report))?;
        return Ok(());
    }
    let hidden = crate::inspect_text::print(&mut o, &report, ctx.verbose)?;
    if hidden > 0 {
        ctx.reporter.status(&format!(
            "{} not listed: `paks inspect -v` lists them, `--json` has everything",
            crate::inspect_text::binaries(hidden)
        ));
    }
    Ok(())
}

pub fn compat(ctx: &Ctx, args: &CompatArgs) -> Result<(), Failure> {
    let host = match &args.host {
        Some(path) => paks_host::HostProfile::load(path).map_err(|e| Failure {
            hint: Some("`paks host --json > host.json` writes one".into()),
            ..Failure::from(e)
        })?,
        None => crate::catalog::host()?,
    };
    let report = report(ctx, &args.image, Some(&host))?;
    let verdict = paks_inspect::compat(&report, &host);
    let binds = paks_inspect::bind_mount_checks(&report, &host);
    let mut o = out();
    if args.json {
        writeln!(
            o,
            "{}",
            serde_json::json!({"type": "compat", "image": report.source, "verdict": verdict, "bind_mounts": binds})
        )?;
    } else {
        let word = match verdict.status {
            paks_inspect::Status::Runs => "runs",
            paks_inspect::Status::RunsNotOptimally => "runs, but not optimally",
            paks_inspect::Status::WillNotRun => "will not run",
        };
        writeln!(o, "{}: {word}", report.source)?;
        for r in &verdict.reasons {
            writeln!(o, "  - {}", shown(&r.message))?;
        }
        for b in &binds {
            writeln!(
                o,
                "  bind-mount {}: {}",
                serde_json::to_string(&b.kind).expect("serialisable"),
                if b.status == paks_inspect::Status::WillNotRun {
                    "no"
                } else {
                    "yes"
                }
            )?;
            for r in &b.reasons {
                writeln!(o, "    - {}", shown(&r.message))?;
            }
        }
    }
    if verdict.status == paks_inspect::Status::WillNotRun {
        return Err(Failure {
            error: format!("`{}` will not run on this host", report.source).into(),
            detail: None,
            hint: None,
            internal: false,
        });
    }
    Ok(())
}

pub fn label(ctx: &Ctx, args: &LabelArgs) -> Result<(), Failure> {
    let report = report(ctx, &args.image, None)?;
    let labels = paks_inspect::computed_labels(&report);
    let mut o = out();
    if args.json {
        writeln!(
            o,
            "{}",
            serde_json::json!({"type": "labels", "labels": labels})
        )?;
    } else {
        for (k, v) in &labels {
            writeln!(o, "{k}={v}")?;
        }
    }
    if args.push {
        let reference = crate::remote::parse_reference(&args.image)?;
        let client = crate::remote::client(ctx)?;
        let pushed = crate::remote::runtime()?
            .block_on(paks_inspect::label(&client, &reference, &labels))
            .map_err(Failure::from)?;
        ctx.reporter
            .status(&format!("Pushed `{pushed}` with {} labels", labels.len()));
    }
    Ok(())
}
