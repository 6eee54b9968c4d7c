//! `paks sbom` and `paks sbom diff`: the SBOM of a build, read from a `.pak`'s side file or
//! an SBOM file, printed or compared.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use paks_attest::sbom_diff::{Changed, diff};
use paks_attest::{Component, Sbom, SbomFormat};
use serde_json::json;

use crate::Failure;
use crate::cli::{SbomArgs, SbomCommand, SbomDiffArgs, SbomFormatArg};
use crate::commands::{Ctx, failure, json_line, out, plural, user_error};
use crate::printer::{shown, typed};

/// An SBOM as read from the user's argument.
pub(crate) struct Loaded {
    /// The document as stored, when there is one (a `.pak` without an SBOM beside it has
    /// none: only its own metadata).
    pub(crate) document: Option<Vec<u8>>,
    pub(crate) sbom: Sbom,
}

/// `X.spdx.json` beside `X.pak`, where `paks build` writes it.
fn side_file(pak: &Path) -> PathBuf {
    pak.with_extension("spdx.json")
}

/// A file read whole, refused beyond `MAX_SBOM_SIZE` before reading it.
fn read_bounded(path: &Path) -> Result<Vec<u8>, Failure> {
    let size = fs_err::metadata(path)?.len();
    if size > paks_attest::components::MAX_SBOM_SIZE {
        return Err(user_error(
            format!(
                "`{}` is {size} bytes, more than the {} bytes of an SBOM paks reads",
                path.display(),
                paks_attest::components::MAX_SBOM_SIZE
            ),
            None,
        ));
    }
    Ok(fs_err::read(path)?)
}

/// A document that is not an SBOM, and why.
#[derive(Debug)]
struct NotAnSbom {
    what: String,
    source: paks_attest::SbomError,
}

impl std::fmt::Display for NotAnSbom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is not an SBOM", self.what)
    }
}

impl std::error::Error for NotAnSbom {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn parse(what: &str, bytes: Vec<u8>) -> Result<Loaded, Failure> {
    let sbom = Sbom::parse(&bytes).map_err(|source| Failure {
        hint: Some("an SBOM is SPDX 2.3 or CycloneDX 1.x JSON".into()),
        ..Failure::from(NotAnSbom {
            what: what.to_owned(),
            source,
        })
    })?;
    Ok(Loaded {
        document: Some(bytes),
        sbom,
    })
}

/// Reads the SBOM `arg` names: a `.pak` (the SBOM beside it, else the package itself as
/// its one component) or an SBOM file.
pub(crate) fn load(arg: &str) -> Result<Loaded, Failure> {
    let path = Path::new(arg);
    if path.extension().is_some_and(|e| e == "pak") && path.is_file() {
        let side = side_file(path);
        if side.is_file() {
            return parse(&side.display().to_string(), read_bounded(&side)?);
        }
        let pak = paks_store::open_pak(path).map_err(failure)?;
        let meta = pak.config.paks;
        return Ok(Loaded {
            document: None,
            sbom: Sbom {
                format: SbomFormat::Spdx,
                name: Some(meta.name.to_string()),
                components: vec![Component::from_meta(&meta)],
            },
        });
    }
    if path.is_file() {
        return parse(arg, read_bounded(path)?);
    }
    Err(user_error(
        format!("`{arg}` is not a `.pak` or an SBOM file"),
        Some(
            "give a `.pak` (its SBOM `X.spdx.json` beside it) or an SPDX or CycloneDX JSON file"
                .into(),
        ),
    ))
}

pub fn sbom(_ctx: &Ctx, args: &SbomArgs) -> Result<(), Failure> {
    if let Some(SbomCommand::Diff(d)) = &args.command {
        return sbom_diff(d);
    }
    let arg = args.source.as_deref().unwrap_or_default();
    let loaded = load(arg)?;
    if args.json {
        for c in &loaded.sbom.components {
            json_line(&typed("component", c))?;
        }
        return Ok(());
    }
    let Some(document) = loaded.document else {
        let side = side_file(Path::new(arg));
        return Err(user_error(
            format!("`{arg}` has no SBOM: `{}` does not exist", side.display()),
            Some("`paks build` writes the SBOM beside the `.pak`; `paks push --sign KEY` attaches it in the registry".into()),
        ));
    };
    let mut out = out();
    match (args.format, loaded.sbom.format) {
        (None, _)
        | (Some(SbomFormatArg::Spdx), SbomFormat::Spdx)
        | (Some(SbomFormatArg::Cyclonedx), SbomFormat::Cyclonedx) => {
            out.write_all(&document)?;
            if !document.ends_with(b"\n") {
                writeln!(out)?;
            }
        }
        (Some(SbomFormatArg::Cyclonedx), SbomFormat::Spdx) => {
            let bom = paks_attest::components::to_cyclonedx(&loaded.sbom);
            writeln!(out, "{}", serde_json::to_string_pretty(&bom)?)?;
        }
        (Some(SbomFormatArg::Spdx), SbomFormat::Cyclonedx) => {
            return Err(user_error(
                format!("`{arg}` is a CycloneDX SBOM: paks converts SPDX to CycloneDX, not back"),
                Some("print it as it is: leave out `--format`".into()),
            ));
        }
    }
    Ok(())
}

/// A component on one line: name, version and purl.
fn line(c: &Component) -> String {
    let mut text = shown(&c.name).into_owned();
    if let Some(v) = &c.version {
        text.push(' ');
        text.push_str(&shown(v));
    }
    if let Some(p) = &c.purl {
        let _ = write!(text, " ({})", shown(p));
    }
    text
}

/// What changed in one component, in words: `version 1 -> 2, license A -> B`.
fn change_text(c: &Changed) -> String {
    let none = || "none".to_owned();
    c.fields
        .iter()
        .map(|field| match *field {
            "version" => format!(
                "version {} -> {}",
                c.from.version.clone().unwrap_or_else(none),
                c.to.version.clone().unwrap_or_else(none)
            ),
            "license" => format!(
                "license {} -> {}",
                c.from.license.clone().unwrap_or_else(none),
                c.to.license.clone().unwrap_or_else(none)
            ),
            other => format!("{other} changed"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn sbom_diff(args: &SbomDiffArgs) -> Result<(), Failure> {
    let from = load(&args.from)?;
    let to = load(&args.to)?;
    let d = diff(&from.sbom, &to.sbom);
    if args.json {
        for c in &d.added {
            json_line(&typed("added", c))?;
        }
        for c in &d.removed {
            json_line(&typed("removed", c))?;
        }
        for c in &d.changed {
            json_line(&typed("changed", c))?;
        }
        json_line(
            &json!({"type": "summary", "added": d.added.len(), "removed": d.removed.len(), "changed": d.changed.len()}),
        )?;
        return Ok(());
    }
    let mut out = out();
    for c in &d.added {
        writeln!(out, "+ {}", line(c))?;
    }
    for c in &d.removed {
        writeln!(out, "- {}", line(c))?;
    }
    for c in &d.changed {
        writeln!(out, "~ {}: {}", shown(&c.name), shown(&change_text(c)))?;
    }
    let n = d.changed.len();
    writeln!(
        out,
        "{} added, {} removed, {n} changed component{}",
        d.added.len(),
        d.removed.len(),
        plural(n)
    )?;
    Ok(())
}
