//! What the CLI prints for people goes through here: text that came from a package, an
//! index or a path (names, summaries, exports, error messages) has its control characters
//! escaped, so it cannot move the cursor, retitle the terminal or hide a line. Data for
//! programs (`--json`, `paks env`) is not touched: JSON escapes by itself, and `paks env`
//! quotes what it writes.

use std::borrow::Cow;

/// One field on one line: every control character escaped, newlines too.
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    paks_types::rules::escape_controls(text)
}

/// A message that may span lines (an error, a log's end): control characters escaped
/// line by line, the line breaks kept.
pub(crate) fn shown_lines(text: &str) -> String {
    text.split('\n').map(shown).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_but_keeps_line_breaks_of_messages() {
        assert_eq!(shown("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
        assert_eq!(shown_lines("a\nb\u{1b}[2J\r"), "a\nb\\u{1b}[2J\\r");
    }
}
