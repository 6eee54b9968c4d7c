//! `paks dockerfile update`: each image `FROM` moved to the newest tag of its shape within
//! `--level` (`paks_dockerfile::tags`) and pinned to the digest its registry serves for
//! that tag (an index's for a multi-platform tag), and the final stage's base-image labels
//! rewritten to match (`paks_dockerfile::update`); every other byte of the file kept.
//! Images written with `ARG`s are left alone, as `pin` leaves them: the rewrite would lose
//! the `ARG`.

use std::collections::BTreeSet;

use paks_dockerfile::resolve::Base;
use paks_dockerfile::tags::{self, Level};
use paks_dockerfile::update::{self, NewBase};
use paks_oci::Reference;
use serde_json::json;

use crate::Failure;
use crate::cli::{DockerfileUpdateArgs, UpdateLevel};
use crate::commands::{Ctx, json_line, plural};
use crate::dockerfile_cmd::pin::{not_pinned, print_change, write_all};
use crate::dockerfile_cmd::{Found, Resolver, StageBase, bases, load};

/// An image `FROM` that follows a tag: its stage, its reference and the tag.
type Image<'a> = (&'a StageBase, &'a Reference, &'a str);

pub(crate) fn run(ctx: &Ctx, args: &DockerfileUpdateArgs) -> Result<(), Failure> {
    let found = load(&args.paths)?;
    let bases = bases(&found)?;
    let level = match args.level {
        UpdateLevel::Patch => Level::Patch,
        UpdateLevel::Minor => Level::Minor,
        UpdateLevel::Major => Level::Major,
    };
    // Images that follow a tag; a digest alone follows nothing and stays.
    let images: Vec<Image<'_>> = bases
        .iter()
        .filter_map(|b| match &b.base {
            Base::Image(r) => Some((b, r, r.tag.as_deref()?)),
            _ => None,
        })
        .collect();
    let targets = targets(ctx, &found, &images, level)?;

    let mut new_bases = vec![Vec::new(); found.len()];
    let mut changed = 0;
    for ((b, _, tag), target) in images.iter().zip(&targets) {
        let from = &found[b.file].dockerfile.stages[b.stage].from;
        let new = new_base(b.stage, &from.image, tag, target);
        if new.image != from.image {
            changed += 1;
            let file = found[b.file].path.display().to_string();
            if args.json {
                json_line(&json!({
                    "type": "update", "file": file, "line": b.line, "from": from.image,
                    "to": new.image, "digest": new.digest,
                }))?;
            } else if !args.patch {
                print_change(&file, b.line, &from.image, &new.image)?;
            }
        }
        new_bases[b.file].push(new);
    }
    for b in &bases {
        if let Base::Args { names, .. } = &b.base {
            let file = found[b.file].path.display().to_string();
            let image = &found[b.file].dockerfile.stages[b.stage].from.image;
            not_pinned(&file, b.line, image, names, args.json)?;
        }
    }

    let edits: Vec<_> = found
        .iter()
        .zip(&new_bases)
        .map(|(f, new_bases)| update::edits(&f.dockerfile, new_bases))
        .collect();
    write_all(&found, &edits, args.patch)?;
    if !args.json {
        let files = edits.iter().filter(|e| !e.is_empty()).count();
        eprintln!(
            "{} {changed} of {} image{} in {files} file{}",
            if args.patch {
                "Would update"
            } else {
                "Updated"
            },
            images.len(),
            plural(images.len()),
            plural(files),
        );
    }
    Ok(())
}

/// For each image, the newest tag of its shape within `level` (its own tag when none is
/// newer), with the digest the registry serves for that tag.
fn targets(
    ctx: &Ctx,
    found: &[Found],
    images: &[Image<'_>],
    level: Level,
) -> Result<Vec<Reference>, Failure> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let resolver = Resolver::new(ctx)?;
    let repositories: BTreeSet<_> = images.iter().map(|(_, r, _)| r.repo()).collect();
    // A repository whose tags cannot be listed is warned about; its images keep their
    // tags and are still pinned.
    let tags = resolver.tags(ctx, repositories);
    let newest: Vec<Reference> = images
        .iter()
        .map(|(_, r, tag)| {
            let all = tags
                .get(&r.repo())
                .into_iter()
                .flatten()
                .map(String::as_str);
            r.with_tag(tags::newest(tag, all, level).unwrap_or(tag))
        })
        .collect();
    let place = |b: &StageBase| format!("{}:{}", found[b.file].path.display(), b.line);
    let digests = resolver.digests(newest.iter().zip(images).map(|(n, (b, ..))| (n, place(b))))?;
    Ok(newest
        .into_iter()
        .map(|n| {
            let digest = digests[&n].clone();
            n.with_digest(&digest)
        })
        .collect())
}

/// What the `FROM` of `stage`, written `written` and following `tag`, becomes: `target`
/// (a reference with a tag and a digest) under the name as written, without the old
/// digest or tag (`python` stands for `python:latest`).
fn new_base(stage: usize, written: &str, tag: &str, target: &Reference) -> NewBase {
    let new_tag = target.tag.as_deref().expect("a target has a tag");
    let digest = target.digest.as_ref().expect("a target has a digest");
    let written = written.split_once('@').map_or(written, |(w, _)| w);
    let name = written.strip_suffix(&format!(":{tag}")).unwrap_or(written);
    NewBase {
        stage,
        image: format!("{name}:{new_tag}@{digest}"),
        name: format!("{name}:{new_tag}"),
        digest: digest.to_string(),
    }
}
