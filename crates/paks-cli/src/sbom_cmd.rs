//! `paks sbom` and `paks sbom diff`: the SBOM of a build, read from the registry (its
//! attached SBOM), a `.pak` (the SBOM beside it, else made from it) or an SBOM file,
//! printed or compared.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use paks_attest::components::{Component, ComponentList, SbomFormat};
use paks_attest::sbom_diff::{Changed, diff};
use paks_attest::{CYCLONEDX_JSON, SPDX_JSON};
use serde_json::json;

use crate::Failure;
use crate::cli::{SbomArgs, SbomCommand, SbomDiffArgs, SbomFormatArg};
use crate::commands::{Ctx, failure, json_line, out, plural, user_error};
use crate::printer::{shown, typed};

/// An SBOM as read from the user's argument.
pub(crate) struct Loaded {
    /// The document as stored (or as made from a `.pak`).
    pub(crate) document: Vec<u8>,
    /// paks' own model, when the SBOM was made from a `.pak` here: it writes `CycloneDX`
    /// with everything the SPDX form holds.
    pub(crate) model: Option<paks_attest::sbom::Sbom>,
    pub(crate) sbom: ComponentList,
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
    source: paks_attest::components::ReadError,
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
    let sbom = ComponentList::parse(&bytes).map_err(|source| Failure {
        hint: Some("an SBOM is SPDX 2.3 or CycloneDX 1.x JSON".into()),
        ..Failure::from(NotAnSbom {
            what: what.to_owned(),
            source,
        })
    })?;
    Ok(Loaded {
        document: bytes,
        model: None,
        sbom,
    })
}

/// Reads the SBOM `arg` names: a `.pak` (the SBOM `paks build` wrote beside it, else one
/// made from the `.pak` now), an SBOM file, or a build in a registry (its attached SBOM).
pub(crate) fn load(ctx: &Ctx, arg: &str) -> Result<Loaded, Failure> {
    let path = Path::new(arg);
    if path.extension().is_some_and(|e| e == "pak") && path.is_file() {
        let side = crate::sbom_files::sbom_path(path);
        if side.is_file() {
            return parse(&side.display().to_string(), read_bounded(&side)?);
        }
        let model = paks_attest::sbom::from_pak(path).map_err(failure)?;
        let mut loaded = parse(arg, model.to_spdx_json())?;
        loaded.model = Some(model);
        return Ok(loaded);
    }
    if path.is_file() {
        return parse(arg, read_bounded(path)?);
    }
    if arg.contains('/') && !path.exists() {
        return from_registry(ctx, arg);
    }
    Err(user_error(
        format!("`{arg}` is not a `.pak`, an SBOM file or a registry reference"),
        Some("give a `.pak`, an SPDX or CycloneDX JSON file, or a build such as `127.0.0.1:5000/acme/hello:1.0.0`".into()),
    ))
}

/// The SBOM attached to the build of `arg` (the one for this host) in its registry: SPDX
/// when there is one, else `CycloneDX`.
fn from_registry(ctx: &Ctx, arg: &str) -> Result<Loaded, Failure> {
    let reference = crate::remote::parse_reference(arg)?;
    let store = ctx.store()?;
    let host = crate::catalog::host()?;
    let client = crate::remote::cache_client(ctx)?;
    let remote = paks_remote::Remote::new(client.clone(), &store);
    let rt = crate::remote::runtime()?;
    let (_, found) = rt
        .block_on(remote.resolve_for(&reference, &host.platform(), &host))
        .map_err(failure)?;
    let build = found
        .last()
        .expect("a closure ends with the build asked for");
    let fetched = rt
        .block_on(async {
            for kind in [SPDX_JSON, CYCLONEDX_JSON] {
                let listed =
                    paks_remote::attach::list(&client, &build.repo, &build.manifest, Some(kind))
                        .await?;
                if let Some(first) = listed.first() {
                    return paks_remote::attach::fetch(&client, &build.repo, first)
                        .await
                        .map(|(_, layer)| Some(layer));
                }
            }
            Ok(None)
        })
        .map_err(failure)?;
    let id = &build.config.paks.id;
    let Some(layer) = fetched else {
        return Err(user_error(
            format!(
                "no SBOM is attached to `{}` {} in `{arg}`",
                id.name(),
                id.version()
            ),
            Some("`paks push --sign KEY` attaches the SBOM that `paks build` writes beside the `.pak`".into()),
        ));
    };
    parse(&format!("the SBOM attached to `{arg}`"), layer)
}

pub fn sbom(ctx: &Ctx, args: &SbomArgs) -> Result<(), Failure> {
    if let Some(SbomCommand::Diff(d)) = &args.command {
        return sbom_diff(ctx, d);
    }
    let arg = args.source.as_deref().unwrap_or_default();
    let loaded = load(ctx, arg)?;
    if args.json {
        for c in &loaded.sbom.components {
            json_line(&typed("component", c))?;
        }
        return Ok(());
    }
    let document = match (args.format, loaded.sbom.format) {
        (None, _)
        | (Some(SbomFormatArg::Spdx), SbomFormat::Spdx)
        | (Some(SbomFormatArg::Cyclonedx), SbomFormat::Cyclonedx) => loaded.document,
        (Some(SbomFormatArg::Cyclonedx), SbomFormat::Spdx) => match &loaded.model {
            Some(model) => model.to_cyclonedx_json(),
            None => {
                serde_json::to_vec_pretty(&paks_attest::components::to_cyclonedx(&loaded.sbom))?
            }
        },
        (Some(SbomFormatArg::Spdx), SbomFormat::Cyclonedx) => {
            return Err(user_error(
                format!("`{arg}` is a CycloneDX SBOM: paks converts SPDX to CycloneDX, not back"),
                Some("print it as it is: leave out `--format`".into()),
            ));
        }
    };
    let mut out = out();
    out.write_all(&document)?;
    if !document.ends_with(b"\n") {
        writeln!(out)?;
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

fn sbom_diff(ctx: &Ctx, args: &SbomDiffArgs) -> Result<(), Failure> {
    let from = load(ctx, &args.from)?;
    let to = load(ctx, &args.to)?;
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
