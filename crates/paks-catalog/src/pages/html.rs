//! A tiny HTML writer that escapes by default.
//!
//! Markup can only come from `&'static str` literals in this crate ([`Html::raw`]); every
//! other value goes through [`Html::text`], which escapes `& < > " '`, so it is safe both
//! as element text and inside a quoted attribute. Package metadata is hostile (names,
//! summaries, labels may hold `<script>` or quotes): there is no way to write it unescaped.

use std::fmt::{self, Display, Write};

/// An HTML (or SVG) document being written.
#[derive(Debug, Default)]
pub struct Html(String);

impl Html {
    pub fn new() -> Self {
        Self(String::with_capacity(8 * 1024))
    }

    /// Markup written in this crate's source.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// A fragment this writer made (already escaped).
    pub fn raw_html(&mut self, fragment: &Html) -> &mut Self {
        self.0.push_str(&fragment.0);
        self
    }

    /// Any value, escaped.
    pub fn text(&mut self, value: impl Display) -> &mut Self {
        let _ = write!(Escaper(&mut self.0), "{value}");
        self
    }

    /// A URL query value, percent-encoded (then escaped, which changes nothing).
    pub fn query(&mut self, value: &str) -> &mut Self {
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                self.0.push(char::from(b));
            } else {
                let _ = write!(self.0, "%{b:02X}");
            }
        }
        self
    }

    /// Writes `markup` only when `cond` holds.
    pub fn when(&mut self, cond: bool, markup: &'static str) -> &mut Self {
        if cond {
            self.raw(markup);
        }
        self
    }

    /// What was written so far.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// Escapes what is written through it.
struct Escaper<'a>(&'a mut String);

impl Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// `url` when it is an http(s) URL (a homepage link must not be `javascript:` or `data:`).
pub fn web_url(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then_some(url)
}

/// A byte count for people (`1.2 MiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    #[allow(clippy::cast_precision_loss)] // shown with one decimal
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_raw_is_not() {
        let mut h = Html::new();
        h.raw("<p title=\"")
            .text("\"'><script>&")
            .raw("\">")
            .text("<b>")
            .raw("</p>");
        assert_eq!(
            h.finish(),
            "<p title=\"&quot;&#39;&gt;&lt;script&gt;&amp;\">&lt;b&gt;</p>"
        );
    }

    #[test]
    fn only_http_urls_are_links() {
        assert_eq!(web_url(" https://x.org/ "), Some("https://x.org/"));
        assert_eq!(web_url("HTTP://x"), Some("HTTP://x"));
        assert_eq!(web_url("javascript:alert(1)"), None);
        assert_eq!(web_url("data:text/html,x"), None);
        assert_eq!(web_url("//evil"), None);
    }

    #[test]
    fn queries_are_percent_encoded() {
        let mut h = Html::new();
        h.query("a b&\"<");
        assert_eq!(h.finish(), "a%20b%26%22%3C");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
