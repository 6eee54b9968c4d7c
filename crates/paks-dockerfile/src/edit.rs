//! Edits a parsed Dockerfile knows how to make: a stage's base image replaced, and its
//! `org.opencontainers.image.base.*` labels set or removed. Each builder returns
//! [`Edit`]s against [`Dockerfile::text`] that do not overlap, so edits of several stages
//! (and an image replacement with the labels of the same stage) compose in one [`apply`].
//!
//! [`apply`]: crate::apply

use std::ops::Range;

use crate::{Dockerfile, Edit, Label};

/// The OCI annotation naming the base image a stage was built from.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// The OCI annotation giving the digest of that base image.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// `value` as a double-quoted `LABEL` value for a file whose escape character is `\`:
/// `"`, `$` and `\` escaped, so Docker reads back exactly `value`.
pub fn label_value_quote(value: &str) -> String {
    quote(value, '\\')
}

fn quote(value: &str, escape: char) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '$' || c == escape {
            out.push(escape);
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Whether `value` reads back as itself written bare.
fn bare_ok(value: &str, escape: char) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '$') || c == escape)
}

impl Dockerfile {
    /// The line ending the file uses: that of its first line, `\n` when it has none.
    pub fn line_ending(&self) -> &'static str {
        match self.text.find('\n') {
            Some(i) if self.text[..i].ends_with('\r') => "\r\n",
            _ => "\n",
        }
    }

    /// Replaces the base image of `stage` (as written, `ARG`s included) with `new_image`.
    pub fn replace_image(&self, stage: usize, new_image: &str) -> Edit {
        Edit {
            span: self.stages[stage].from.image_span.clone(),
            text: new_image.to_string(),
        }
    }

    /// `value` quoted for this file, in the style `written` (a value as written) uses:
    /// double quotes stay double, single quotes stay single, a bare value stays bare when
    /// it can.
    pub fn label_value_like(&self, written: &str, value: &str) -> String {
        if written.starts_with('\'') && !value.contains('\'') {
            format!("'{value}'")
        } else if !written.starts_with(['"', '\'']) && bare_ok(value, self.escape) {
            value.to_string()
        } else {
            quote(value, self.escape)
        }
    }

    /// Sets the base-image labels of `stage`: a pair that exists gets the new value in
    /// place (in its quoting style); missing pairs are added as one new `LABEL` right
    /// after the stage's `FROM`; `None` removes the pair, and the whole `LABEL` when no
    /// pair is left in it. Values already right give no edit.
    pub fn base_label_edits(
        &self,
        stage: usize,
        name: Option<&str>,
        digest: Option<&str>,
    ) -> Vec<Edit> {
        let labels = &self.stages[stage].labels;
        let mut edits = Vec::new();
        let mut missing = Vec::new();
        let mut removed: Vec<&Label> = Vec::new();
        for (key, want) in [(BASE_NAME, name), (BASE_DIGEST, digest)] {
            let found = labels.iter().filter(|l| l.key == key);
            match want {
                Some(value) => {
                    let mut any = false;
                    for label in found {
                        any = true;
                        if label.value != value {
                            let written = &self.text[label.value_span.clone()];
                            edits.push(Edit {
                                span: label.value_span.clone(),
                                text: self.label_value_like(written, value),
                            });
                        }
                    }
                    if !any {
                        missing.push((key, value));
                    }
                }
                None => removed.extend(found),
            }
        }
        if !missing.is_empty() {
            edits.push(self.new_label(stage, &missing));
        }
        let mut instructions: Vec<usize> = removed.iter().map(|l| l.instruction).collect();
        instructions.sort_unstable();
        instructions.dedup();
        for instruction in instructions {
            let pairs: Vec<&Label> = labels
                .iter()
                .filter(|l| l.instruction == instruction)
                .collect();
            let gone = |l: &Label| removed.iter().any(|r| r.span == l.span);
            edits.extend(self.remove_pairs(instruction, &pairs, gone));
        }
        edits
    }

    /// A `LABEL` with `pairs`, inserted after the stage's `FROM` as a line of its own
    /// (indented like the `FROM`); a second pair goes on a continuation line.
    fn new_label(&self, stage: usize, pairs: &[(&str, &str)]) -> Edit {
        let from = &self.instructions[self.stages[stage].instruction].span;
        let after = &self.text[from.end..];
        let eol = if after.starts_with("\r\n") {
            "\r\n"
        } else if after.starts_with('\n') {
            "\n"
        } else {
            self.line_ending()
        };
        // The blanks before the FROM on its line (not a byte-order mark before them).
        let before = &self.text[line_start(&self.text, from.start)..from.start];
        let indent = &before[before.trim_end_matches([' ', '\t']).len()..];
        let separator = format!(" {}{eol}{indent}     ", self.escape);
        let pairs: Vec<String> = pairs
            .iter()
            .map(|(key, value)| format!(" {key}={}", quote(value, self.escape)))
            .collect();
        let text = format!("{eol}{indent}LABEL{}", pairs.join(&separator));
        Edit {
            span: from.end..from.end,
            text,
        }
    }

    /// Removes the pairs `gone` says of one `LABEL` instruction (its `pairs` in order):
    /// with the blanks and continuations that separated them, or the whole instruction
    /// and its line when none is left.
    fn remove_pairs(
        &self,
        instruction: usize,
        pairs: &[&Label],
        gone: impl Fn(&Label) -> bool,
    ) -> Vec<Edit> {
        let cut = |span: Range<usize>| Edit {
            span,
            text: String::new(),
        };
        let Some(first_kept) = pairs.iter().position(|l| !gone(l)) else {
            return vec![cut(self.whole_lines(&self.instructions[instruction].span))];
        };
        let mut edits = Vec::new();
        if first_kept > 0 {
            edits.push(cut(pairs[0].span.start..pairs[first_kept].span.start));
        }
        for i in first_kept + 1..pairs.len() {
            if gone(pairs[i]) {
                edits.push(cut(pairs[i - 1].span.end..pairs[i].span.end));
            }
        }
        edits
    }

    /// `span` widened to whole lines with their line ending (the one before, for a last
    /// line without one).
    fn whole_lines(&self, span: &Range<usize>) -> Range<usize> {
        let text = &self.text;
        let start = line_start(text, span.start);
        let after = &text[span.end..];
        if after.starts_with("\r\n") {
            start..span.end + 2
        } else if after.starts_with('\n') {
            start..span.end + 1
        } else {
            let before = &text[..start];
            let eol = if before.ends_with("\r\n") {
                2
            } else {
                usize::from(before.ends_with('\n'))
            };
            start - eol..span.end
        }
    }
}

/// Where the line holding byte `at` starts.
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(label_value_quote(r#"a "b" $c \d"#), r#""a \"b\" \$c \\d""#);
        assert_eq!(quote("c:\\x`y", '`'), "\"c:\\x``y\"");
    }
}
