//! `paks inspect` for people: a summary of what an image needs, in words; every binary
//! and label with `-v`; everything, as data, with `--json`.

use std::fmt::Write as _;
use std::io::Write;

use paks_inspect::{ImageReport, Isa, IsaSummary, Missing, Requirement};

use crate::printer::shown;

/// How many binaries a "needed by" list names before summarising.
const NEEDED_BY_SHOWN: usize = 3;

/// Writes the summary of `report` (and, when `verbose`, its binaries and labels) to `o`;
/// returns how many binaries were left out.
pub fn print(o: &mut impl Write, report: &ImageReport, verbose: bool) -> std::io::Result<usize> {
    writeln!(
        o,
        "{}  {}",
        shown(&report.source),
        report.platform.as_deref().unwrap_or("unknown platform")
    )?;
    needs(o, report)?;
    let mut field = |k: &str, v: &str| writeln!(o, "  {k:<15} {v}");
    if !report.packages.is_empty() {
        field("paks packages:", &shown(&report.packages.join(" ")))?;
    }
    for a in &report.alternatives {
        field("alternative:", &shown(a))?;
    }
    if verbose {
        for (k, v) in &report.labels {
            field("label:", &format!("{}={}", shown(k), shown(v)))?;
        }
    } else if !report.labels.is_empty() {
        field("labels:", &report.labels.len().to_string())?;
    }
    for n in &report.notes {
        writeln!(o, "  note: {}", shown(n))?;
    }
    if !verbose {
        return Ok(report.binaries.len());
    }
    if !report.binaries.is_empty() {
        writeln!(o, "  every binary:")?;
    }
    for b in &report.binaries {
        let mut parts = vec![shown(&b.path).into_owned(), b.machine.clone()];
        if let Some(g) = &b.glibc {
            parts.push(format!("GLIBC_{g}"));
        }
        if let Some(g) = &b.glibcxx {
            parts.push(format!("GLIBCXX_{g}"));
        }
        if let Some(isa) = &b.isa {
            parts.push(isa_of(isa));
        }
        writeln!(o, "    {}", parts.join("  "))?;
    }
    Ok(0)
}

/// `1 binary`, `2 binaries`.
pub fn binaries(n: usize) -> String {
    format!("{n} binar{}", if n == 1 { "y" } else { "ies" })
}

/// What the image needs from a host, and what it brings itself.
fn needs(o: &mut impl Write, report: &ImageReport) -> std::io::Result<()> {
    let s = &report.summary;
    let machines: Vec<String> = s.machines.iter().map(|(m, n)| format!("{n} {m}")).collect();
    let mut field = |k: &str, v: &str| writeln!(o, "  {k:<15} {v}");
    field(
        "binaries:",
        &format!(
            "{} ELF ({} executable{}){}",
            s.binaries,
            s.executables,
            crate::commands::plural(s.executables),
            if machines.len() > 1 {
                format!(": {}", machines.join(", "))
            } else {
                machines
                    .first()
                    .map(|m| format!(", {}", m.split_once(' ').map_or(m.as_str(), |(_, m)| m)))
                    .unwrap_or_default()
            }
        ),
    )?;
    field("needs glibc:", &requirement(s.glibc_required.as_ref()))?;
    field("needs GLIBCXX:", &requirement(s.glibcxx_required.as_ref()))?;
    if let Some(isa) = &s.isa {
        field("x86-64 level:", &isa_summary(isa))?;
    }
    field(
        "ships glibc:",
        &s.image_glibc
            .as_ref()
            .map_or_else(|| "no".to_owned(), ToString::to_string),
    )?;
    if let Some(v) = &s.image_glibcxx {
        field("ships GLIBCXX:", &v.to_string())?;
    }
    if let Some(mpi) = &s.mpi {
        field(
            "MPI:",
            &format!(
                "{} ({}), linked by {}",
                mpi.abi,
                mpi.sonames.join(", "),
                binaries(mpi.binaries)
            ),
        )?;
    }
    if let Some(cuda) = &s.cuda {
        field(
            "CUDA:",
            &format!(
                "{} ({}){}",
                cuda.version.as_deref().unwrap_or("version unknown"),
                cuda.libraries.join(", "),
                if cuda.driver_api {
                    ", the driver API too"
                } else {
                    ""
                }
            ),
        )?;
    }
    if !s.host_driver.is_empty() {
        field("from the host:", &s.host_driver.join(", "))?;
    }
    for m in &s.missing {
        field("missing:", &missing(m))?;
    }
    for m in &s.missing_interpreters {
        field("no interpreter:", &missing(m))?;
    }
    Ok(())
}

fn requirement(r: Option<&Requirement>) -> String {
    r.map_or_else(
        || "none".to_owned(),
        |r| format!("{} (by {})", r.version, shown(&r.binary)),
    )
}

fn isa_summary(isa: &IsaSummary) -> String {
    let mut text = isa.level.as_str().to_owned();
    if let Some(b) = &isa.binary {
        let _ = write!(text, " (by {}, {})", shown(b), isa.source.as_str());
    }
    if isa.dispatching > 0 {
        let _ = write!(
            text,
            "; {} choose code by CPU at run time{}",
            binaries(isa.dispatching),
            isa.dispatch_max
                .map(|l| format!(", up to {l}"))
                .unwrap_or_default()
        );
    }
    text
}

fn isa_of(isa: &Isa) -> String {
    let mut text = format!("{} ({})", isa.level.as_str(), isa.source.as_str());
    if isa.dispatch {
        text.push_str(", dispatches");
    }
    text
}

/// `libfoo.so.1, needed by /a, /b, /c and 2 more`.
fn missing(m: &Missing) -> String {
    let mut by: Vec<String> = m
        .needed_by
        .iter()
        .take(NEEDED_BY_SHOWN)
        .map(|b| shown(b).into_owned())
        .collect();
    if m.needed_by.len() > NEEDED_BY_SHOWN {
        by.push(format!("{} more", m.needed_by.len() - NEEDED_BY_SHOWN));
    }
    format!("{}, needed by {}", shown(&m.name), by.join(", "))
}
