//! The edits of `paks dockerfile update`, once the new tags and digests are known: each
//! updated `FROM` rewritten to `name:tag@digest`, and the base-image labels
//! (`org.opencontainers.image.base.name`/`.base.digest`) set in the final stage, the image
//! that is built, and removed from every other stage.
//!
//! Pure: the caller asks the registries (tags, digests) and hands the answers in.

use crate::{BASE_DIGEST, BASE_NAME, Dockerfile, Edit};

/// What an image `FROM` becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBase {
    /// The stage, an index of [`Dockerfile::stages`].
    pub stage: usize,
    /// The image as the `FROM` will say it: `name:tag@digest`, the name as written.
    pub image: String,
    /// `name:tag` as written (no digest): the `base.name` label's value.
    pub name: String,
    /// The digest the image is pinned to: the `base.digest` label's value.
    pub digest: String,
}

/// The stage whose image the final stage is built on: the final stage itself, or the
/// stage its `FROM` names, followed back to a stage that starts from an image. `None`
/// without stages (or for a cycle, which the parser never gives).
pub fn final_base(dockerfile: &Dockerfile) -> Option<usize> {
    let mut stage = dockerfile.stages.len().checked_sub(1)?;
    for _ in 0..dockerfile.stages.len() {
        match dockerfile.stages[stage].from.stage {
            Some(earlier) => stage = earlier,
            None => return Some(stage),
        }
    }
    None
}

/// Whether a stage starts from nothing (`FROM scratch`), so that it has no base image.
fn is_scratch(dockerfile: &Dockerfile, stage: usize) -> bool {
    let from = &dockerfile.stages[stage].from;
    from.resolved
        .as_deref()
        .is_some_and(|image| image.eq_ignore_ascii_case("scratch"))
}

/// Every edit of an update: each `FROM` of `bases` rewritten; in the final stage, the
/// base labels set to its base image's (from `bases`, or from its `FROM` when that is
/// already pinned and not updated) or removed when it has none (`scratch`); removed from
/// every other stage. When the final base cannot be told (a `FROM` with an `ARG` that has
/// no value, or not pinned), the final stage's labels are left as they are.
pub fn edits(dockerfile: &Dockerfile, bases: &[NewBase]) -> Vec<Edit> {
    let mut edits: Vec<Edit> = bases
        .iter()
        .filter(|base| dockerfile.stages[base.stage].from.image != base.image)
        .map(|base| dockerfile.replace_image(base.stage, &base.image))
        .collect();
    let last = dockerfile.stages.len().checked_sub(1);
    for stage in 0..dockerfile.stages.len() {
        if Some(stage) == last {
            continue;
        }
        if has_base_labels(dockerfile, stage) {
            edits.extend(dockerfile.base_label_edits(stage, None, None));
        }
    }
    if let Some(last) = last
        && let Some((name, digest)) = final_labels(dockerfile, bases)
    {
        edits.extend(dockerfile.base_label_edits(last, name.as_deref(), digest.as_deref()));
    }
    edits
}

/// The base labels the final stage should carry (`None`s: remove them), or `None` when
/// they cannot be told and stay as they are.
fn final_labels(
    dockerfile: &Dockerfile,
    bases: &[NewBase],
) -> Option<(Option<String>, Option<String>)> {
    let base = final_base(dockerfile)?;
    if let Some(new) = bases.iter().find(|b| b.stage == base) {
        return Some((Some(new.name.clone()), Some(new.digest.clone())));
    }
    if is_scratch(dockerfile, base) {
        return Some((None, None));
    }
    // Not updated: its pin as written, when it has one and no variable.
    let from = &dockerfile.stages[base].from;
    let image = from.resolved.as_deref().filter(|r| *r == from.image)?;
    let (name, digest) = image.split_once('@')?;
    Some((Some(name.to_owned()), Some(digest.to_owned())))
}

/// Whether `stage` has a base-image label.
fn has_base_labels(dockerfile: &Dockerfile, stage: usize) -> bool {
    dockerfile.stages[stage]
        .labels
        .iter()
        .any(|label| label.key == BASE_NAME || label.key == BASE_DIGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updated(text: &str, bases: &[(usize, &str, &str)]) -> String {
        let dockerfile = Dockerfile::parse(text).unwrap();
        let bases: Vec<NewBase> = bases
            .iter()
            .map(|&(stage, name, digest)| NewBase {
                stage,
                image: format!("{name}@{digest}"),
                name: name.to_owned(),
                digest: digest.to_owned(),
            })
            .collect();
        crate::apply(text, &edits(&dockerfile, &bases)).unwrap()
    }

    #[test]
    fn pins_the_from_and_adds_the_labels_after_it() {
        assert_eq!(
            updated("FROM a:1\nRUN x\n", &[(0, "a:2", "sha256:22")]),
            "FROM a:2@sha256:22\nLABEL org.opencontainers.image.base.name=\"a:2\" \\\n      \
             org.opencontainers.image.base.digest=\"sha256:22\"\nRUN x\n"
        );
    }

    #[test]
    fn labels_follow_the_final_stage_to_its_image_and_leave_other_stages() {
        let text = "FROM a:1 AS base\n\
                    LABEL org.opencontainers.image.base.name=a:1 keep=1\n\
                    FROM b:1 AS tools\n\
                    LABEL org.opencontainers.image.base.digest=\"sha256:00\"\n\
                    FROM base\n\
                    LABEL org.opencontainers.image.base.name=\"a:1\" \\\n  \
                    org.opencontainers.image.base.digest=\"sha256:11\"\n";
        assert_eq!(
            updated(text, &[(0, "a:2", "sha256:22"), (1, "b:2", "sha256:bb")]),
            "FROM a:2@sha256:22 AS base\n\
             LABEL keep=1\n\
             FROM b:2@sha256:bb AS tools\n\
             FROM base\n\
             LABEL org.opencontainers.image.base.name=\"a:2\" \\\n  \
             org.opencontainers.image.base.digest=\"sha256:22\"\n"
        );
    }

    #[test]
    fn a_final_stage_from_scratch_has_no_base_labels() {
        let text = "FROM a:1@sha256:11 AS build\n\
                    FROM scratch\n\
                    LABEL org.opencontainers.image.base.name=a:1\n\
                    COPY --from=build /x /x\n";
        assert_eq!(
            updated(text, &[]),
            "FROM a:1@sha256:11 AS build\nFROM scratch\nCOPY --from=build /x /x\n"
        );
    }

    #[test]
    fn a_pinned_base_that_stays_still_gets_its_labels() {
        let text = "FROM a:1@sha256:11\n";
        assert_eq!(
            updated(text, &[]),
            "FROM a:1@sha256:11\nLABEL org.opencontainers.image.base.name=\"a:1\" \\\n      \
             org.opencontainers.image.base.digest=\"sha256:11\"\n"
        );
        // Unpinned, or through an ARG without a value: the labels cannot be told.
        for text in [
            "FROM a:1\nLABEL org.opencontainers.image.base.name=x\n",
            "FROM a:${V}\n",
        ] {
            assert_eq!(updated(text, &[]), text);
        }
    }
}
