//! Properties: whatever comments, continuations, blank lines and whitespace a file has
//! between the words of its `FROM`s and between instructions, the parser reads the same
//! images, at spans that hold them, and edits of them land exactly; and no text makes
//! the parser panic.

use paks_dockerfile::{Dockerfile, apply};
use proptest::prelude::*;

const IMAGES: &[&str] = &[
    "alpine:3.20",
    "ghcr.io/acme/app:v1.2.3",
    "localhost:5000/team/tool",
    "debian@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "python:3.12-slim",
];

/// What may separate two words of an instruction (`{eol}` is the line ending).
const SEPARATORS: &[&str] = &[
    " ",
    "\t",
    "   ",
    " \\{eol}",
    " \\   {eol}  ",
    " \\{eol}# a comment inside{eol}  ",
    " \\{eol}    # indented comment{eol}\t",
    " \\{eol}{eol}  ",
    " \\{eol}   {eol}  ",
];

/// What may stand between two instructions.
const BETWEEN: &[&str] = &[
    "",
    "{eol}",
    "# a comment{eol}",
    "   # indented comment{eol}",
    "RUN echo hi{eol}",
    "RUN apt-get update \\{eol}  # note{eol}  && apt-get install -y curl{eol}",
    "RUN <<EOF{eol}FROM not-an-image{eol}EOF{eol}",
    "COPY <<-A /a{eol}\tFROM nope AS nope{eol}\tA{eol}",
    "LABEL a=b \\{eol}  c=\"d e\"{eol}",
    "\t{eol}",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(list)
}

/// One stage: its image, whether it has `--platform`, an alias, and the separators
/// and fillers to use.
fn stage() -> impl Strategy<Value = (usize, bool, bool, Vec<&'static str>, &'static str)> {
    (
        0..IMAGES.len(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(pick(SEPARATORS), 4),
        pick(BETWEEN),
    )
}

/// A Dockerfile of those stages, and the images in order.
fn dockerfile() -> impl Strategy<Value = (String, Vec<&'static str>)> {
    (
        proptest::collection::vec(stage(), 1..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(stages, crlf, final_newline)| {
            let mut text = String::new();
            let mut images = Vec::new();
            for (n, (image, platform, alias, seps, filler)) in stages.into_iter().enumerate() {
                text.push_str("FROM");
                text.push_str(seps[0]);
                if platform {
                    text.push_str("--platform=linux/amd64");
                    text.push_str(seps[1]);
                }
                text.push_str(IMAGES[image]);
                if alias {
                    text.push_str(seps[2]);
                    text.push_str("AS");
                    text.push_str(seps[3]);
                    text.push_str("stage");
                    text.push_str(&n.to_string());
                }
                text.push_str("{eol}");
                text.push_str(filler);
                images.push(IMAGES[image]);
            }
            if !final_newline {
                text = text.trim_end_matches("{eol}").to_string();
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            (text.replace("{eol}", eol), images)
        })
}

proptest! {
    #[test]
    fn layout_does_not_change_the_images((text, images) in dockerfile()) {
        let file = Dockerfile::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(apply(&text, &[]).unwrap(), text.clone());
        let got: Vec<&str> = file.stages.iter().map(|s| s.from.image.as_str()).collect();
        prop_assert_eq!(&got, &images);
        for stage in &file.stages {
            prop_assert_eq!(&text[stage.from.image_span.clone()], stage.from.image.as_str());
            prop_assert_eq!(stage.from.resolved.as_deref(), Some(stage.from.image.as_str()));
            prop_assert_eq!(stage.from.stage, None);
        }
        // Replacing every image changes exactly those bytes.
        let edits: Vec<_> = (0..file.stages.len())
            .map(|n| file.replace_image(n, &format!("example.invalid/new{n}:1")))
            .collect();
        let out = apply(&text, &edits).unwrap();
        let again = Dockerfile::parse(&out).unwrap();
        for (n, stage) in again.stages.iter().enumerate() {
            prop_assert_eq!(stage.from.image.clone(), format!("example.invalid/new{n}:1"));
        }
        // And the base-image labels can be added and removed again.
        let labelled = apply(&text, &file.base_label_edits(0, Some("x"), Some("sha256:00"))).unwrap();
        let back = Dockerfile::parse(&labelled).unwrap();
        prop_assert_eq!(back.stages.len(), file.stages.len());
        let removed = apply(&labelled, &back.base_label_edits(0, None, None)).unwrap();
        prop_assert_eq!(removed, text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = Dockerfile::parse(&text);
    }

    #[test]
    fn dockerfile_shaped_noise_never_panics(
        text in "([ \t\r\n\\\\`#\"'=$:{}<>\\[\\],-]|FROM|ARG|LABEL|RUN|AS|EOF|<<|escape|\u{feff}|[a-z0-9]){0,120}"
    ) {
        if let Ok(file) = Dockerfile::parse(&text) {
            prop_assert_eq!(apply(&text, &[]).unwrap(), text.clone());
            for stage in &file.stages {
                prop_assert!(stage.from.image_span.end <= text.len());
                for label in &stage.labels {
                    prop_assert!(label.value_span.end <= text.len());
                }
            }
            for n in 0..file.stages.len() {
                let edits = file.base_label_edits(n, Some("a b"), None);
                prop_assert!(apply(&text, &edits).is_ok(), "{:?}", edits);
            }
        }
    }
}
