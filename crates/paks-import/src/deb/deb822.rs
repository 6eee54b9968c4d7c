//! The deb822 format (Debian Policy 5.1) as binary packages use it: stanzas of
//! `Name: value` fields separated by blank lines, continuation lines starting with a space
//! or tab.
//!
//! Comment lines (`#`) are allowed by Policy only in a source package's `debian/control`;
//! a binary package's `control` file and the archive's `Packages` files have none, so a
//! `#` line is refused here rather than silently dropped.

use crate::ImportError;

/// One stanza: its fields in file order. Names are unique (case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The raw value of a field, looked up case-insensitively as Policy says: the first
    /// line's text, then each continuation line (`\n` and the line, leading space kept).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in file order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Parses deb822 text into its stanzas (at least one field each).
pub fn parse_paragraphs(text: &str) -> Result<Vec<Paragraph>, ImportError> {
    let mut out = Vec::new();
    let mut current = Paragraph::default();
    for (i, line) in text.lines().enumerate() {
        let fail = |reason| ImportError::Deb822 {
            line: i + 1,
            text: line.escape_debug().to_string(),
            reason,
        };
        if line.trim_matches([' ', '\t']).is_empty() {
            if !current.fields.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(fail(
                "comments are not allowed in binary package control data",
            ));
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.fields.last_mut() else {
                return Err(fail("a continuation line with no field before it"));
            };
            value.push('\n');
            value.push_str(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(fail("a line that is not `Name: value`"));
        };
        if name.is_empty()
            || name.starts_with('-')
            || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        {
            return Err(fail(
                "a field name is printable ASCII without spaces or `:`, and does not start with `-` or `#`",
            ));
        }
        if current.get(name).is_some() {
            return Err(fail("a field appears twice in one stanza"));
        }
        current
            .fields
            .push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
    }
    if !current.fields.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// A folded field's value as one line: continuation lines joined with single spaces.
pub fn unfold(value: &str) -> String {
    value
        .lines()
        .map(|l| l.trim_matches([' ', '\t']))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_folded_and_multiline_fields() {
        let text = "Package: a\nDepends: x,\n y (>= 1)\nDescription: short\n long one\n .\n two\n\n\n \t\nPackage: b\n";
        let ps = parse_paragraphs(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("depends"), Some("x,\n y (>= 1)"));
        assert_eq!(unfold(ps[0].get("Depends").unwrap()), "x, y (>= 1)");
        assert_eq!(ps[0].get("DESCRIPTION"), Some("short\n long one\n .\n two"));
        assert_eq!(ps[1].get("Package"), Some("b"));
    }

    #[test]
    fn refusals_name_the_line() {
        for (text, why) in [
            ("# c\nPackage: a\n", "comments"),
            (" x\n", "continuation"),
            ("Package a\n", "not `Name: value`"),
            ("Package: a\npackage: b\n", "twice"),
            ("-X: a\n", "field name"),
            ("A B: a\n", "field name"),
        ] {
            let err = parse_paragraphs(text).unwrap_err().to_string();
            assert!(
                err.contains(why) && err.contains("line "),
                "{text:?}: {err}"
            );
        }
    }
}
