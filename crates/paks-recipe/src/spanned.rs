//! Typed access to a parsed TOML document in which every table and value knows its dotted
//! field path and its byte span, so that each refusal becomes a located [`InvalidRecipe`].

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::check;
use crate::error::{InvalidRecipe, RecipeError};

pub(crate) type Result<T, E = RecipeError> = std::result::Result<T, E>;

/// The text being read and the file it came from, to locate errors.
#[derive(Clone, Copy)]
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    pub file: &'a Path,
}

impl Doc<'_> {
    pub fn invalid(self, span: Range<usize>, field: &str, message: String) -> InvalidRecipe {
        InvalidRecipe::new(self.text, self.file, span, field.to_owned(), message)
    }

    /// The 1-based line of byte `offset`.
    pub fn line_of(self, offset: usize) -> usize {
        let before = &self.text.as_bytes()[..offset.min(self.text.len())];
        before.split(|&b| b == b'\n').count()
    }

    /// The document's root table; `span` is where errors about missing tables point.
    pub fn root<'a>(&'a self, table: &'a DeTable<'a>) -> Table<'a> {
        Table::new(*self, String::new(), 0..0, table)
    }
}

/// A table, with its entries in file order.
pub(crate) struct Table<'a> {
    doc: Doc<'a>,
    field: String,
    span: Range<usize>,
    entries: Vec<Entry<'a>>,
}

/// One `key = value` of a table.
pub(crate) struct Entry<'a> {
    pub key: &'a str,
    pub key_span: Range<usize>,
    pub value: Value<'a>,
}

impl<'a> Table<'a> {
    fn new(doc: Doc<'a>, field: String, span: Range<usize>, table: &'a DeTable<'a>) -> Self {
        let mut entries: Vec<Entry<'a>> = table
            .iter()
            .map(|(key, value): (&'a Spanned<DeString<'a>>, _)| Entry {
                key: key.get_ref(),
                key_span: key.span(),
                value: Value {
                    doc,
                    field: child_field(&field, key.get_ref()),
                    span: value.span(),
                    raw: value.get_ref(),
                },
            })
            .collect();
        // The map is sorted by key; users expect file order (and `[env]` depends on it).
        entries.sort_by_key(|entry| entry.key_span.start);
        Self {
            doc,
            field,
            span,
            entries,
        }
    }

    pub fn entries(&self) -> &[Entry<'a>] {
        &self.entries
    }

    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.entry(key).map(|entry| &entry.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry<'a>> {
        self.entries.iter().find(|entry| entry.key == key)
    }

    /// `key`'s value, or an error at this table saying `message`.
    pub fn require_or(&self, key: &str, message: impl FnOnce() -> String) -> Result<&Value<'a>> {
        self.get(key).ok_or_else(|| {
            self.doc
                .invalid(self.span.clone(), &child_field(&self.field, key), message())
                .into()
        })
    }

    pub fn require(&self, key: &str) -> Result<&Value<'a>> {
        self.require_or(key, || "required key is missing".to_owned())
    }

    /// Refuses the first key, in file order, that is not in `known`, suggesting the
    /// closest known key when it looks like a typo.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<()> {
        let Some(entry) = self.entries.iter().find(|e| !known.contains(&e.key)) else {
            return Ok(());
        };
        let message = match check::suggest(entry.key, known) {
            Some(close) => format!("unknown key `{}`, did you mean `{close}`?", entry.key),
            None => format!(
                "unknown key `{}` (expected {})",
                entry.key,
                one_of(known.iter().copied())
            ),
        };
        Err(self
            .doc
            .invalid(entry.key_span.clone(), &entry.value.field, message)
            .into())
    }

    /// An error at `entry`'s key rather than its value: for keys that are data (names).
    pub fn key_error(&self, entry: &Entry<'_>, message: String) -> RecipeError {
        self.doc
            .invalid(entry.key_span.clone(), &entry.value.field, message)
            .into()
    }

    /// An error about the table as a whole, at its header.
    pub fn error(&self, message: String) -> RecipeError {
        self.doc
            .invalid(self.span.clone(), &self.field, message)
            .into()
    }
}

/// A value with its field path and span.
#[derive(Clone)]
pub(crate) struct Value<'a> {
    doc: Doc<'a>,
    field: String,
    span: Range<usize>,
    raw: &'a DeValue<'a>,
}

impl<'a> Value<'a> {
    pub fn raw(&self) -> &'a DeValue<'a> {
        self.raw
    }

    pub fn invalid(&self, message: String) -> InvalidRecipe {
        self.doc.invalid(self.span.clone(), &self.field, message)
    }

    pub fn error(&self, message: String) -> RecipeError {
        self.invalid(message).into()
    }

    /// "expected `what`, found a table".
    pub fn type_error(&self, what: &str) -> RecipeError {
        self.error(format!(
            "expected {what}, found {}",
            with_article(self.raw.type_str())
        ))
    }

    pub fn str(&self) -> Result<&'a str> {
        self.raw.as_str().ok_or_else(|| self.type_error("a string"))
    }

    pub fn bool(&self) -> Result<bool> {
        self.raw
            .as_bool()
            .ok_or_else(|| self.type_error("a boolean"))
    }

    pub fn u32(&self) -> Result<u32> {
        let n = self.uint(u32::MAX.into())?;
        Ok(u32::try_from(n).expect("checked against the maximum"))
    }

    pub fn u64(&self) -> Result<u64> {
        self.uint(u64::MAX)
    }

    /// A whole number from 0 to `max`.
    fn uint(&self, max: u64) -> Result<u64> {
        let int = self
            .raw
            .as_integer()
            .ok_or_else(|| self.type_error("a whole number"))?;
        u64::from_str_radix(int.as_str(), int.radix())
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| self.error(format!("`{int}` is out of range (expected 0 to {max})")))
    }

    /// The table, whose header (or inline braces) is where errors about it point.
    pub fn table(&self) -> Result<Table<'a>> {
        let table = self
            .raw
            .as_table()
            .ok_or_else(|| self.type_error("a table"))?;
        Ok(Table::new(
            self.doc,
            self.field.clone(),
            self.span.clone(),
            table,
        ))
    }

    /// The elements, whose fields are `<field>[<index from 0>]`.
    pub fn array(&self, what: &str) -> Result<Vec<Value<'a>>> {
        let array = self.raw.as_array().ok_or_else(|| self.type_error(what))?;
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, item)| Value {
                doc: self.doc,
                field: format!("{}[{i}]", self.field),
                span: item.span(),
                raw: item.get_ref(),
            })
            .collect())
    }
}

/// `parent.key`, with `key` quoted as TOML would need it (`dependencies."g++"`).
fn child_field(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

fn with_article(type_name: &str) -> String {
    match type_name {
        "integer" | "array" => format!("an {type_name}"),
        other => format!("a {other}"),
    }
}

/// "`a`, `b` or `c`".
pub(crate) fn one_of<'s>(words: impl IntoIterator<Item = &'s str>) -> String {
    let words: Vec<String> = words.into_iter().map(|w| format!("`{w}`")).collect();
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_keys_that_are_not_bare() {
        assert_eq!(child_field("", "package"), "package");
        assert_eq!(
            child_field("dependencies", "lib-x_1"),
            "dependencies.lib-x_1"
        );
        assert_eq!(
            child_field("dependencies", "python3.12"),
            "dependencies.\"python3.12\""
        );
        assert_eq!(child_field("env", "a\"b"), "env.\"a\\\"b\"");
    }

    #[test]
    fn lists_alternatives() {
        assert_eq!(one_of([]), "");
        assert_eq!(one_of(["a"]), "`a`");
        assert_eq!(one_of(["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
