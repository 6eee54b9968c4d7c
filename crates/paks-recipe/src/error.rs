//! The one error type of this crate, and the location arithmetic behind it.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a recipe could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read recipe `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The recipe file is a symbolic link, which is not followed.
    #[error("refusing recipe `{}`: it is a symbolic link; a recipe is read from a regular file only", path.display())]
    Symlink { path: PathBuf },
    /// The text is not a valid recipe: a TOML syntax error or a rule of the format broken.
    #[error(transparent)]
    Invalid(Box<InvalidRecipe>),
}

impl RecipeError {
    /// The location and details, unless the file could not be read at all.
    pub fn as_invalid(&self) -> Option<&InvalidRecipe> {
        match self {
            Self::Invalid(invalid) => Some(invalid),
            Self::Read { .. } | Self::Symlink { .. } => None,
        }
    }

    /// The offending line with a caret under the offending text, for the CLI to print below
    /// the message; `None` when the file could not be read.
    pub fn render_snippet(&self) -> Option<String> {
        self.as_invalid().map(InvalidRecipe::render_snippet)
    }
}

impl From<InvalidRecipe> for RecipeError {
    fn from(invalid: InvalidRecipe) -> Self {
        Self::Invalid(Box::new(invalid))
    }
}

/// A recipe that breaks the TOML grammar or a rule of the format, located in its file.
#[derive(Debug)]
pub struct InvalidRecipe {
    file: PathBuf,
    line: usize,
    column: usize,
    field: String,
    message: String,
    line_text: String,
    /// Width of the offending text on its first line, in characters (at least 1).
    width: usize,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl InvalidRecipe {
    /// Locates the byte range `span` of `text`. Only [`crate::Recipe`]'s parser builds these.
    pub(crate) fn new(
        text: &str,
        file: &Path,
        span: Range<usize>,
        field: String,
        message: String,
    ) -> Self {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = floor_char_boundary(text, span.end.clamp(start, text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_text = text[line_start..line_end].trim_end_matches('\r');
        let column = text[line_start..start].chars().count() + 1;
        let width = text[start..end.min(line_end)]
            .trim_end_matches('\r')
            .chars()
            .count();
        Self {
            file: file.to_owned(),
            line: text[..start].matches('\n').count() + 1,
            column,
            field,
            message,
            line_text: line_text.to_owned(),
            width: width.max(1),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The recipe file, as given by the caller.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// 1-based line of the offending text.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column, in characters, of the offending text.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The dotted path of the offending field, such as `package.version`,
    /// `source[0].sha256` or `dependencies.libgreet`; empty for a TOML syntax error.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The whole offending line, without its line break.
    pub fn line_text(&self) -> &str {
        &self.line_text
    }

    /// The offending line with carets under the offending text, in the style of rustc:
    ///
    /// ```text
    ///   --> paks.toml:3:11
    ///    |
    ///  3 | version = "1.0"
    ///    |           ^^^^^
    /// ```
    pub fn render_snippet(&self) -> String {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Keep tabs as tabs so the carets line up however the terminal renders them.
        let indent: String = self
            .line_text
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{gutter}--> {}:{}:{}",
            self.file.display(),
            self.line,
            self.column
        );
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{number} | {}", self.line_text);
        let _ = writeln!(out, "{gutter} | {indent}{}", "^".repeat(self.width));
        out
    }
}

impl fmt::Display for InvalidRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid recipe `{}` at line {}, column {}: ",
            self.file.display(),
            self.line,
            self.column
        )?;
        if !self.field.is_empty() {
            write!(f, "`{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl StdError for InvalidRecipe {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, span: Range<usize>) -> InvalidRecipe {
        InvalidRecipe::new(
            text,
            Path::new("paks.toml"),
            span,
            "a.b".into(),
            "bad".into(),
        )
    }

    #[test]
    fn locates_byte_offsets_as_lines_and_character_columns() {
        let text = "[package]\r\nsummary = \"héllo\"\r\nversion = \"1\"\n";
        let start = text.find("\"1\"").unwrap();
        let err = at(text, start..start + 3);
        assert_eq!((err.line(), err.column()), (3, 11));
        assert_eq!(err.line_text(), "version = \"1\"");
        let err = at(text, text.find('l').unwrap()..text.len());
        assert_eq!((err.line(), err.column(), err.width), (2, 14, 4));
        assert_eq!(err.line_text(), "summary = \"héllo\"");
    }

    #[test]
    fn handles_empty_text_and_end_of_file() {
        let err = at("", 0..0);
        assert_eq!((err.line(), err.column(), err.width), (1, 1, 1));
        let err = at("a\n", 2..2);
        assert_eq!((err.line(), err.column(), err.line_text()), (2, 1, ""));
        // Out-of-range or mid-character offsets never panic.
        let err = at("é", 1..9);
        assert_eq!((err.line(), err.column()), (1, 1));
    }

    #[test]
    fn snippet_keeps_tabs_and_underlines_the_span() {
        let text = "[env]\n\tPATH = \"x\"\n";
        let start = text.find("\"x\"").unwrap();
        let snippet = at(text, start..start + 3).render_snippet();
        assert_eq!(
            snippet,
            " --> paks.toml:2:9\n  |\n2 | \tPATH = \"x\"\n  | \t       ^^^\n"
        );
    }
}
