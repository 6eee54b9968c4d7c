//! `paks audit`: an SBOM's components matched against OSV advisories in a directory,
//! offline. Exit 1 when a vulnerability is found, so that a pipeline stops on it.

use std::fmt::Write as _;
use std::io::Write;

use paks_attest::osv::{Database, Finding, OsvError};
use serde_json::json;

use crate::Failure;
use crate::cli::AuditArgs;
use crate::commands::{Ctx, Explain, failure, json_line, out, plural, user_error};
use crate::printer::{shown, typed};

impl Explain for OsvError {
    fn hint(&self) -> Option<String> {
        match self {
            OsvError::Io { .. } => None,
            _ => Some("`--osv` is a directory of OSV advisories (`*.json`, schema 1.6), such as an unzipped osv.dev export".into()),
        }
    }
    fn is_io(&self) -> bool {
        OsvError::is_io(self)
    }
}

/// One finding for people: the advisory and its aliases, the component and its versions,
/// the summary.
fn show(f: &Finding) -> String {
    let mut text = shown(&f.id).into_owned();
    if !f.aliases.is_empty() {
        let aliases: Vec<_> = f.aliases.iter().map(|a| shown(a)).collect();
        let _ = write!(text, " ({})", aliases.join(", "));
    }
    let _ = write!(text, ": {} {}", shown(&f.component), shown(&f.installed));
    match &f.fixed {
        Some(fixed) => {
            let _ = write!(text, ", fixed in {}", shown(fixed));
        }
        None => text.push_str(", no fixed version"),
    }
    if let Some(summary) = &f.summary {
        let _ = write!(text, "\n  {}", shown(summary));
    }
    text
}

pub fn audit(ctx: &Ctx, args: &AuditArgs) -> Result<(), Failure> {
    let loaded = crate::sbom_cmd::load(ctx, &args.source)?;
    let db = Database::load(&args.osv).map_err(failure)?;
    let findings = db.audit(&loaded.sbom.components);
    let components = loaded.sbom.components.len();
    if args.json {
        for f in &findings {
            json_line(&typed("vulnerability", f))?;
        }
        json_line(&json!({
            "type": "summary",
            "components": components,
            "advisories": db.advisories.len(),
            "vulnerabilities": findings.len(),
        }))?;
    } else {
        let mut out = out();
        for f in &findings {
            writeln!(out, "{}", show(f))?;
        }
    }
    ctx.reporter.status(&format!(
        "Checked {components} component{} against {} advisor{}",
        plural(components),
        db.advisories.len(),
        if db.advisories.len() == 1 { "y" } else { "ies" }
    ));
    if findings.is_empty() {
        return Ok(());
    }
    let n = findings.len();
    Err(user_error(
        format!(
            "{n} known vulnerabilit{} in `{}`",
            if n == 1 { "y" } else { "ies" },
            args.source
        ),
        Some("upgrade the components named to their fixed versions".into()),
    ))
}
