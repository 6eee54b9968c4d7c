//! `paks dockerfile pin`: each `FROM IMAGE:TAG` to `IMAGE:TAG@DIGEST`, the digest the
//! registry serves for the tag now (an index's for a multi-platform tag). A pin whose
//! digest is current stays; a stale one is re-pinned. `--platform`, the alias and every
//! other byte stay as they are. An image written with `ARG`s is left alone: the rewrite
//! would lose the `ARG`.

use std::collections::BTreeMap;
use std::io::Write as _;

use paks_dockerfile::Edit;
use paks_dockerfile::resolve::{self, Base};
use serde_json::json;

use super::{Found, Resolver, bases, load};
use crate::Failure;
use crate::cli::DockerfilePinArgs;
use crate::commands::{Ctx, json_line, out, plural};
use crate::patch;
use crate::printer::shown;

pub(crate) fn run(ctx: &Ctx, args: &DockerfilePinArgs) -> Result<(), Failure> {
    let found = load(&args.paths)?;
    let bases = bases(&found)?;
    let place = |b: &super::StageBase| format!("{}:{}", found[b.file].path.display(), b.line);
    let images: Vec<_> = bases
        .iter()
        .filter_map(|b| match &b.base {
            Base::Image(r) => Some((r, place(b))),
            _ => None,
        })
        .collect();
    let digests = if images.iter().any(|(r, _)| r.tag.is_some()) {
        Resolver::new(ctx)?.digests(images)?
    } else {
        BTreeMap::new()
    };

    let mut edits = vec![Vec::new(); found.len()];
    let (mut pinned, mut changed) = (0, 0);
    for b in &bases {
        let f = &found[b.file];
        let from = &f.dockerfile.stages[b.stage].from;
        let file = f.path.display().to_string();
        match &b.base {
            Base::Image(r) => {
                // A digest without a tag follows nothing: it stays as written.
                let (digest, new) = match &r.tag {
                    Some(tag) => {
                        let now = &digests[&r.with_tag(tag)];
                        (now, r.digest.as_ref() != Some(now))
                    }
                    None => (
                        r.digest
                            .as_ref()
                            .expect("a reference has a tag or a digest"),
                        false,
                    ),
                };
                pinned += 1;
                if new {
                    changed += 1;
                    let text = resolve::pinned_text(&from.image, digest);
                    if !args.json && !args.patch {
                        print_change(&file, b.line, &from.image, &text)?;
                    }
                    edits[b.file].push(f.dockerfile.replace_image(b.stage, &text));
                }
                if args.json {
                    json_line(&json!({
                        "type": "pin", "file": file, "line": b.line, "image": from.image,
                        "digest": digest.to_string(), "changed": new,
                    }))?;
                }
            }
            Base::Args { names, .. } => not_pinned(&file, b.line, &from.image, names, args.json)?,
            Base::Scratch | Base::Stage(_) => {}
        }
    }

    write_all(&found, &edits, args.patch)?;
    if !args.json {
        let files = edits.iter().filter(|e| !e.is_empty()).count();
        eprintln!(
            "{} {changed} of {pinned} image{} in {files} file{}{}",
            if args.patch { "Would pin" } else { "Pinned" },
            plural(pinned),
            plural(files),
            if changed < pinned {
                format!(" ({} already current)", pinned - changed)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `FILE:LINE  OLD → NEW`: one `FROM` changed.
pub(crate) fn print_change(file: &str, line: usize, old: &str, new: &str) -> Result<(), Failure> {
    writeln!(
        out(),
        "{}:{line}  {} → {}",
        shown(file),
        shown(old),
        shown(new)
    )?;
    Ok(())
}

/// Say that an image written with `ARG`s is left as it is.
pub(crate) fn not_pinned(
    file: &str,
    line: usize,
    image: &str,
    names: &[String],
    json: bool,
) -> Result<(), Failure> {
    if json {
        json_line(&json!({
            "type": "skip", "file": file, "line": line, "image": image,
            "reason": "arg", "args": names,
        }))?;
    } else {
        let uses = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "{}:{line}  {} not pinned: uses ARG {uses}",
            shown(file),
            shown(image)
        );
    }
    Ok(())
}

/// Make each file's edits: write it atomically, or print the diff (`--patch`).
pub(crate) fn write_all(found: &[Found], edits: &[Vec<Edit>], patch: bool) -> Result<(), Failure> {
    for (f, edits) in found.iter().zip(edits) {
        if edits.is_empty() {
            continue;
        }
        let old = &f.dockerfile.text;
        let new = paks_dockerfile::apply(old, edits).map_err(|e| Failure {
            internal: true,
            ..Failure::from(e)
        })?;
        if patch {
            write!(out(), "{}", patch::unified(&f.path, old, &new))?;
        } else {
            // A file that cannot be written is the machine's failure (exit 2).
            paks_types::fs::write_atomic(&f.path, new.as_bytes()).map_err(|e| Failure {
                internal: true,
                ..Failure::from(e)
            })?;
        }
    }
    Ok(())
}
