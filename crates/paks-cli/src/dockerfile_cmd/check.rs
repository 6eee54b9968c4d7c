//! `paks dockerfile check`: per image `FROM`, whether it is pinned to a digest, whether
//! that digest is what its tag serves now, and which newer tags of the same shape exist.
//! Exit 0 when every image is pinned and current, 1 otherwise, 2 when a registry fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use paks_dockerfile::resolve::Base;
use paks_dockerfile::tags;
use paks_oci::{Digest, Reference};
use serde_json::json;

use super::{Resolver, StageBase, bases, checked_reference, load};
use crate::Failure;
use crate::cli::DockerfileCheckArgs;
use crate::commands::{Ctx, json_line, out, plural};
use crate::printer::shown;

/// Newer tags shown per image in the human output (`--json` has them all).
const SHOWN_TAGS: usize = 5;

/// What one image `FROM` is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Pinned, and the tag serves that digest (or the pin has no tag to follow).
    Current,
    /// Pinned, but the tag serves another digest now.
    Stale,
    Unpinned,
    /// Written with an `ARG` that has no value: nothing to ask a registry about.
    Unchecked,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Stale => "stale",
            Self::Unpinned => "unpinned",
            Self::Unchecked => "unchecked",
        }
    }
}

pub(crate) fn run(ctx: &Ctx, args: &DockerfileCheckArgs) -> Result<(), Failure> {
    let found = load(&args.paths)?;
    let bases = bases(&found)?;
    let place = |b: &StageBase| format!("{}:{}", found[b.file].path.display(), b.line);
    let images: Vec<(&Reference, String)> = bases
        .iter()
        .filter_map(|b| checked_reference(&b.base).map(|r| (r, place(b))))
        .collect();
    // Only tags that read as versions can have newer ones: `latest` lists nothing.
    let repositories: BTreeSet<_> = images
        .iter()
        .filter(|(r, _)| r.tag.as_deref().and_then(tags::split).is_some())
        .map(|(r, _)| r.repo())
        .collect();
    let (digests, tag_lists) = if images.is_empty() {
        (BTreeMap::new(), BTreeMap::new())
    } else {
        let resolver = Resolver::new(ctx)?;
        (
            resolver.digests(images.iter().map(|(r, p)| (*r, p.clone())))?,
            resolver.tags(ctx, repositories),
        )
    };

    let mut counts = [0usize; 4];
    let mut with_newer = 0;
    for b in &bases {
        let f = &found[b.file];
        let from = &f.dockerfile.stages[b.stage].from;
        let file = f.path.display().to_string();
        let (state, reference) = match &b.base {
            Base::Scratch | Base::Stage(_) => continue,
            Base::Args { resolved: None, .. } => (State::Unchecked, None),
            base => {
                let r = checked_reference(base).expect("an image or a resolved ARG image");
                (state_of(r, &digests), Some(r))
            }
        };
        counts[state as usize] += 1;
        let latest: Option<&Digest> =
            reference.and_then(|r| Some(&digests[&r.with_tag(r.tag.as_deref()?)]));
        let newer: Vec<&str> = reference
            .and_then(|r| {
                let list = tag_lists.get(&r.repo())?;
                Some(tags::newer_tags(
                    r.tag.as_deref()?,
                    list.iter().map(String::as_str),
                ))
            })
            .unwrap_or_default();
        if !newer.is_empty() {
            with_newer += 1;
        }
        if args.json {
            json_line(&json!({
                "type": "from", "file": file, "line": b.line, "stage": b.stage,
                "alias": from.alias, "image": from.image,
                "reference": reference.map(ToString::to_string),
                "state": state.word(),
                "pinned": reference.map(|r| r.digest.is_some()),
                "current": reference.map(|_| state == State::Current),
                "digest": reference.and_then(|r| r.digest.as_ref()).map(ToString::to_string),
                "latest_digest": latest.map(ToString::to_string),
                "newer_tags": newer,
            }))?;
            continue;
        }
        let tag = reference.and_then(|r| r.tag.as_deref());
        writeln!(
            out(),
            "{}",
            human_line(&file, b.line, &from.image, state, tag, latest, &newer)
        )?;
    }

    let [_, stale, unpinned, _] = counts;
    summary(counts, with_newer, args.json)?;
    if stale + unpinned > 0 {
        return Err(Failure {
            error: format!(
                "{} base image{} not pinned to the current digest",
                stale + unpinned,
                if stale + unpinned == 1 {
                    " is"
                } else {
                    "s are"
                }
            )
            .into(),
            detail: None,
            hint: Some("`paks dockerfile pin` pins them".into()),
            internal: false,
        });
    }
    Ok(())
}

/// Whether `r` is pinned, and to what its tag serves now.
fn state_of(r: &Reference, digests: &BTreeMap<Reference, Digest>) -> State {
    match (&r.digest, &r.tag) {
        (None, _) => State::Unpinned,
        (Some(_), None) => State::Current,
        (Some(pinned), Some(tag)) => {
            if digests[&r.with_tag(tag)] == *pinned {
                State::Current
            } else {
                State::Stale
            }
        }
    }
}

/// One `FROM` as the human output shows it.
fn human_line(
    file: &str,
    line: usize,
    image: &str,
    state: State,
    tag: Option<&str>,
    latest: Option<&Digest>,
    newer: &[&str],
) -> String {
    use std::fmt::Write as _;
    let mut text = format!("{}:{line}  {}  {}", shown(file), shown(image), state.word());
    match (state, latest) {
        (State::Stale, Some(l)) => {
            let _ = write!(text, ": `{}` serves `{l}` now", tag.unwrap_or("latest"));
        }
        (State::Unchecked, _) => text.push_str(": uses an ARG without a value"),
        _ => {}
    }
    if !newer.is_empty() {
        let _ = write!(
            text,
            "; newer tags: {}",
            newer[..newer.len().min(SHOWN_TAGS)].join(", ")
        );
        let more = newer.len().saturating_sub(SHOWN_TAGS);
        if more > 0 {
            let _ = write!(text, " (and {more} more)");
        }
    }
    text
}

/// The counts: a JSON line, or a line on stderr.
fn summary(counts: [usize; 4], with_newer: usize, json: bool) -> Result<(), Failure> {
    use std::fmt::Write as _;
    let [current, stale, unpinned, unchecked] = counts;
    let images = current + stale + unpinned + unchecked;
    if json {
        json_line(&json!({
            "type": "summary", "images": images, "current": current, "stale": stale,
            "unpinned": unpinned, "unchecked": unchecked, "with_newer_tags": with_newer,
        }))?;
        return Ok(());
    }
    let mut text = format!(
        "{images} image{}: {current} current, {stale} stale, {unpinned} unpinned",
        plural(images)
    );
    if unchecked > 0 {
        let _ = write!(text, ", {unchecked} unchecked");
    }
    if with_newer > 0 {
        let _ = write!(text, "; {with_newer} with newer tags");
    }
    eprintln!("{text}");
    Ok(())
}
