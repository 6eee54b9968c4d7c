//! Dockerfiles, read without losing a byte: a parser that knows line continuations, the
//! `escape` parser directive, heredocs, comments, `ARG`s before `FROM` with `${VAR}` and
//! `${VAR:-default}` substitution, multi-stage builds (`FROM … AS name`, and `FROM name`
//! naming an earlier stage) and `--platform`; and edits that change exactly the bytes they
//! name, so that a file with nothing to change round-trips byte for byte.
//!
//! What the parser gives ([`Dockerfile`]): every instruction with its span, each stage's
//! `FROM` (the image as written and as substituted, its span, platform, alias, or the
//! earlier stage it names) and each stage's `LABEL` pairs with their spans. Edits
//! ([`Edit`], [`apply`]) are byte ranges of the original text and their replacements.

use std::ops::Range;

pub use edit::{BASE_DIGEST, BASE_NAME, label_value_quote};

mod edit;
mod labels;
mod lines;
mod parse;
mod subst;
mod words;

/// A parsed Dockerfile. Spans are byte ranges of [`Dockerfile::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The file's text, exactly as read.
    pub text: String,
    /// The escape character: `\` unless a `# escape=` directive says `` ` ``.
    pub escape: char,
    /// Every instruction, in file order.
    pub instructions: Vec<Instruction>,
    /// The build stages, in file order: one per `FROM`.
    pub stages: Vec<Stage>,
}

/// One instruction (`RUN`, `FROM`, `LABEL`, …), continuation lines and heredoc bodies
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The keyword, upper-cased (`FROM`, `RUN`).
    pub keyword: String,
    /// From the keyword's first byte to the end of its last line or heredoc terminator,
    /// without the final line ending.
    pub span: Range<usize>,
}

/// A build stage: a `FROM` and the `LABEL` pairs that follow it (before the next `FROM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The index of its `FROM` in [`Dockerfile::instructions`].
    pub instruction: usize,
    pub from: From,
    /// Every `LABEL` pair of the stage, in file order.
    pub labels: Vec<Label>,
}

/// A `FROM [--platform=P] IMAGE [AS NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image as written (`python:${PY}-slim`, `base`, `scratch`).
    pub image: String,
    /// Where `image` is in the text: what an edit of the base image replaces.
    pub image_span: Range<usize>,
    /// The image after substituting the `ARG`s declared before the first `FROM` (their
    /// defaults); `None` when a variable has no value (then it cannot be pinned).
    pub resolved: Option<String>,
    /// `--platform=` as written, if given.
    pub platform: Option<String>,
    /// `AS name`, lower-cased as Docker compares it.
    pub alias: Option<String>,
    /// The earlier stage this `FROM` names (by alias or number), if it names one: then it
    /// is not an image and is never pinned.
    pub stage: Option<usize>,
}

/// One `KEY=VALUE` pair of a `LABEL` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The index of the `LABEL` in [`Dockerfile::instructions`].
    pub instruction: usize,
    /// The key, unquoted.
    pub key: String,
    /// The value, unquoted and unescaped.
    pub value: String,
    /// The pair as written, quotes included: what removing or replacing the pair edits.
    pub span: Range<usize>,
    /// The value as written, quotes included (empty, just after the `=`, for `k=`): what
    /// replacing the value edits.
    pub value_span: Range<usize>,
}

/// Why a text is not a Dockerfile Docker would build; only what Docker refuses too
/// (an unterminated heredoc, `FROM` without an image, an instruction other than `ARG`
/// before the first `FROM`, a malformed `LABEL`, a bad `escape` directive).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl Dockerfile {
    /// Reads a Dockerfile as Docker does: parser directives, comments, continuations,
    /// heredocs, `ARG`s before the first `FROM`, stages and their labels. Everything that
    /// does not matter here is kept as it is: [`apply`] with no edits gives `text` back.
    pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
        parse::parse(text)
    }

    /// The 1-based line holding byte `at` of the text, for messages (`Dockerfile:12`).
    pub fn line(&self, at: usize) -> usize {
        parse::line_of(&self.text, at)
    }
}

/// Replace the bytes at `span` of the original text with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Range<usize>,
    pub text: String,
}

/// Edits that overlap, or reach past the end of the text: a bug in whoever made them.
#[derive(Debug, thiserror::Error)]
#[error("edits overlap or reach past the end of the text at byte {at}")]
pub struct BadEdits {
    pub at: usize,
}

/// `text` with every edit made, each against the original offsets. Bytes outside the
/// edits' spans are kept exactly.
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, BadEdits> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for edit in sorted {
        let Range { start, end } = edit.span;
        if start < at
            || end < start
            || end > text.len()
            || !text.is_char_boundary(start)
            || !text.is_char_boundary(end)
        {
            return Err(BadEdits { at: start });
        }
        out.push_str(&text[at..start]);
        out.push_str(&edit.text);
        at = end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_change_only_their_bytes() {
        let text = "FROM a:1\nLABEL x=y\n";
        let edits = [
            Edit {
                span: 5..8,
                text: "a:2@sha256:00".into(),
            },
            Edit {
                span: 15..18,
                text: String::new(),
            },
            Edit {
                span: 18..18,
                text: " z=w".into(),
            },
        ];
        assert_eq!(
            apply(text, &edits).unwrap(),
            "FROM a:2@sha256:00\nLABEL  z=w\n"
        );
        assert!(
            apply(
                text,
                &[
                    Edit {
                        span: 5..8,
                        text: String::new()
                    },
                    Edit {
                        span: 6..7,
                        text: String::new()
                    }
                ]
            )
            .is_err()
        );
        assert!(
            apply(
                text,
                &[Edit {
                    span: 5..99,
                    text: String::new()
                }]
            )
            .is_err()
        );
    }
}
