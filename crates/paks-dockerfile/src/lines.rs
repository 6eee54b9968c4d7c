//! Physical lines, and the logical text of an instruction joined from them.
//!
//! Docker reads a Dockerfile line by line: it drops the line ending (`\n`, and the `\r`
//! before it), joins continuation lines (a line ending in the escape character, maybe
//! followed by blanks), and skips comment lines and blank lines inside a continuation. A
//! [`Logical`] is that joined text together with where each of its bytes came from, so
//! that anything found in it (an image, a label pair) maps back to an exact byte span.

use std::ops::Range;

/// One physical line of the text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    /// The first byte of the line (after a byte-order mark on the first line).
    pub start: usize,
    /// The end of the line's content: before `\n` and any `\r` just before it.
    pub end: usize,
}

const BOM: &str = "\u{feff}";

/// Splits `text` into lines; a final line without a line ending counts, an empty tail
/// after a final `\n` does not.
pub(crate) fn split(text: &str) -> Vec<Line> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = if text.starts_with(BOM) { BOM.len() } else { 0 };
    while start < bytes.len() {
        let nl = bytes[start..].iter().position(|&b| b == b'\n');
        let (mut end, next) = match nl {
            Some(i) => (start + i, start + i + 1),
            None => (bytes.len(), bytes.len()),
        };
        while end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        lines.push(Line { start, end });
        start = next;
    }
    lines
}

/// The line's content without leading whitespace, and where that starts.
pub(crate) fn trim_start(text: &str, line: Line) -> (usize, &str) {
    let content = &text[line.start..line.end];
    let trimmed = content.trim_start();
    (line.end - trimmed.len(), trimmed)
}

/// A comment line: `#` first after leading whitespace.
pub(crate) fn is_comment(text: &str, line: Line) -> bool {
    trim_start(text, line).1.starts_with('#')
}

/// A line of nothing but whitespace.
pub(crate) fn is_blank(text: &str, line: Line) -> bool {
    trim_start(text, line).1.is_empty()
}

/// Where `content` (a line's content from `from`) ends once a trailing continuation (the
/// escape character and any blanks after it) is cut off, and whether it had one. As in
/// Docker, an escape character right after another one is no continuation (`echo \\`
/// ends its instruction).
pub(crate) fn continuation(text: &str, from: usize, end: usize, escape: char) -> (usize, bool) {
    let content = &text[from..end];
    let without_blanks = content.trim_end_matches([' ', '\t']);
    match without_blanks.strip_suffix(escape) {
        Some(rest) if !rest.ends_with(escape) => (from + rest.len(), true),
        _ => (end, false),
    }
}

/// The joined text of one instruction and, per piece, where it lies in the original.
#[derive(Debug, Clone, Default)]
pub(crate) struct Logical {
    pub text: String,
    /// `(offset in text, offset in the original)` of each appended piece, ascending.
    pieces: Vec<(usize, usize)>,
}

impl Logical {
    /// Appends `original[range]`.
    pub fn push(&mut self, original: &str, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.pieces.push((self.text.len(), range.start));
        self.text.push_str(&original[range]);
    }

    /// The original offset of byte `at` of the joined text (`at` < its length).
    fn original(&self, at: usize) -> usize {
        let i = self.pieces.partition_point(|&(l, _)| l <= at) - 1;
        let (logical, original) = self.pieces[i];
        original + (at - logical)
    }

    /// The original span of the joined text's `range` (which must not be empty): from
    /// its first byte's origin to just after its last byte's origin.
    pub fn span(&self, range: Range<usize>) -> Range<usize> {
        debug_assert!(!range.is_empty());
        self.original(range.start)..self.original(range.end - 1) + 1
    }
}
