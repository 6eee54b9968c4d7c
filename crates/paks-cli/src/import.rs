//! `paks import deb` (and the parts `paks import apk` shares): foreign packages into paks
//! rootfs packages (`.pak` files), written as one batch so that dependencies between them
//! are pinned, and pushed on request.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use paks_import::apk::ApkError;
use paks_import::convert::{self, ConvertError, Converted, ImportOptions, Imported};
use paks_types::Reporter;
use serde_json::json;

use crate::Failure;
use crate::cli::{ImportCommand, ImportDebArgs, PushArgs};
use crate::commands::{Ctx, Explain, elapsed, failure, json_line, out, plural, user_error};

impl Explain for ConvertError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Platform { .. } => {
                Some("`--platform` must be the platform of every package that is not `all`".into())
            }
            Self::Apk {
                source: ApkError::Unsigned { .. } | ApkError::UntrustedKey { .. },
                ..
            } => Some(
                "name the directory of the keys you trust with `--keys DIR` (as `/etc/apk/keys`), or take it anyway with `--allow-untrusted`".into(),
            ),
            _ => None,
        }
    }
    fn is_io(&self) -> bool {
        !self.is_input()
    }
}

pub fn import(ctx: &Ctx, command: &ImportCommand) -> Result<(), Failure> {
    match command {
        ImportCommand::Deb(args) => deb(ctx, args),
        ImportCommand::Apk(args) => crate::import_apk::apk(ctx, args),
    }
}

fn deb(ctx: &Ctx, args: &ImportDebArgs) -> Result<(), Failure> {
    let start = Instant::now();
    let (paths, requests) = crate::import_apt::split(&args.paths)?;
    let mut files = package_files(&paths, "deb")?;
    if !requests.is_empty() {
        files.extend(crate::import_apt::fetch(ctx, &requests, args.closure)?);
    }
    fs_err::create_dir_all(&args.out)?;
    let options = ImportOptions {
        platform: args.platform.clone(),
        ..ImportOptions::default()
    };
    let converted = convert_each(ctx, &files, |file| {
        convert::convert_deb(file, &args.out, &options)
    })?;
    let imported =
        convert::write_batch(converted, &args.out, options.compression).map_err(failure)?;
    report(
        ctx,
        &imported,
        &args.out,
        args.json,
        args.push.as_ref(),
        start,
    )
}

/// Converts each of `files` with `convert`, showing progress.
pub(crate) fn convert_each<C>(
    ctx: &Ctx,
    files: &[PathBuf],
    mut convert: impl FnMut(&Path) -> Result<Converted<C>, ConvertError>,
) -> Result<Vec<Converted<C>>, Failure> {
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .collect();
    ctx.reporter
        .plan("Importing", files.len() as u64, sizes.iter().sum());
    let mut converted = Vec::with_capacity(files.len());
    for (file, size) in files.iter().zip(&sizes) {
        let label = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let task = ctx.reporter.start(&label, *size);
        converted.push(convert(file).map_err(failure)?);
        ctx.reporter.advance(task, *size);
        ctx.reporter.finish(task);
    }
    Ok(converted)
}

/// Prints the packages written (and a summary with `--json`), then pushes them.
pub(crate) fn report(
    ctx: &Ctx,
    imported: &[Imported],
    out_dir: &Path,
    json: bool,
    push: Option<&String>,
    start: Instant,
) -> Result<(), Failure> {
    for package in imported {
        // From the control data the `.pak` carries; imports have no recipe sources.
        let sbom = crate::sbom_files::write_beside(&package.pak, &[])?;
        if json {
            let mut line = package_json(package);
            line["sbom"] = json!(sbom);
            json_line(&line)?;
        } else {
            print_package(package)?;
        }
    }
    if json {
        json_line(&json!({
            "type": "summary",
            "packages": imported.len(),
            "out": out_dir.display().to_string(),
            "unsatisfied": imported.iter().map(|p| p.unsatisfied.len()).sum::<usize>(),
        }))?;
    }
    ctx.reporter.status(&format!(
        "Imported {} package{} into `{}` in {}",
        imported.len(),
        plural(imported.len()),
        out_dir.display(),
        elapsed(start)
    ));
    if let Some(target) = push {
        let push = PushArgs {
            paks: imported.iter().map(|p| p.pak.clone()).collect(),
            target: target.clone(),
            json,
            namespace: true,
            repository: false,
            sign: None,
        };
        crate::remote::push(ctx, &push)?;
    }
    Ok(())
}

/// The files named, and every `*.<extension>` of the directories named (sorted by name).
pub(crate) fn package_files(paths: &[PathBuf], extension: &str) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        let meta = fs_err::metadata(path).map_err(|e| {
            user_error(
                format!("cannot read `{}`: {e}", path.display()),
                Some(format!(
                    "give `.{extension}` files or directories that hold them"
                )),
            )
        })?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = fs_err::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        found.retain(|p| p.extension().is_some_and(|e| e == extension) && p.is_file());
        found.sort();
        if found.is_empty() {
            return Err(user_error(
                format!("`{}` holds no `.{extension}` files", path.display()),
                None,
            ));
        }
        files.extend(found);
    }
    Ok(files)
}

fn origin_of(p: &Imported) -> &paks_types::Origin {
    p.meta
        .origin
        .as_ref()
        .expect("imported packages have an origin")
}

fn package_json(p: &Imported) -> serde_json::Value {
    let origin = origin_of(p);
    json!({
        "type": "package",
        "name": p.meta.name.to_string(),
        "version": origin.version,
        "id": p.meta.id.to_string(),
        "digest": p.digest.to_string(),
        "platform": p.meta.platform.to_string(),
        "pak": p.pak.display().to_string(),
        "source": p.source.display().to_string(),
        "dependencies": p.meta.dependencies.iter().map(|d| d.name.to_string()).collect::<Vec<_>>(),
        "scripts_not_run": origin.scripts_not_run,
        "dropped_setid": origin.dropped_setid,
        "unsatisfied": p.unsatisfied,
        "notes": p.notes,
    })
}

/// One line per package, then what a user should know about it, indented.
fn print_package(p: &Imported) -> std::io::Result<()> {
    let origin = origin_of(p);
    let mut o = out();
    writeln!(
        o,
        "{} {} ({}) -> {}",
        p.meta.name,
        origin.version,
        p.meta.platform,
        display(&p.pak)
    )?;
    let lists: [(&str, &[String]); 4] = [
        ("scripts not run", &origin.scripts_not_run),
        ("setid bit dropped", &origin.dropped_setid),
        ("not imported", &p.unsatisfied),
        ("note", &p.notes),
    ];
    for (what, items) in lists {
        if !items.is_empty() {
            writeln!(o, "  {what}: {}", items.join(", "))?;
        }
    }
    Ok(())
}

fn display(path: &Path) -> String {
    crate::printer::shown(&path.display().to_string()).into_owned()
}
