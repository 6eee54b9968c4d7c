//! Words of an instruction's arguments, as Docker splits them: whitespace outside quotes
//! separates words; quotes and escapes stay in the word (they are removed later, by
//! [`unquote`] or the substitution in `subst`).

use std::ops::Range;

/// The byte ranges of the words of `text`.
pub(crate) fn split(text: &str, escape: char) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    while let Some((at, ch)) = chars.next() {
        if quote.is_none() && ch.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(s..at);
            }
            continue;
        }
        start.get_or_insert(at);
        match quote {
            None if ch == '"' || ch == '\'' => quote = Some(ch),
            Some(q) if ch == q => quote = None,
            Some('\'') => {}
            _ if ch == escape => {
                // The escaped character belongs to the word, whatever it is.
                chars.next();
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(s..text.len());
    }
    words
}

/// `word` with its quotes and escapes removed, as the shell-like word processing of
/// Docker does, but without expanding variables (a `$` stays as written).
pub(crate) fn unquote(word: &str, escape: char) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    if c == '"' {
                        break;
                    }
                    if c == escape {
                        match chars.peek() {
                            Some(&n) if n == '"' || n == '$' || n == escape => {
                                out.push(n);
                                chars.next();
                            }
                            Some(_) => out.push(c),
                            None => {}
                        }
                        continue;
                    }
                    out.push(c);
                }
            }
            c if c == escape => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `text` starts with a JSON array of strings (the exec form of `RUN`, `CMD`,
/// …). Like Docker's decoder, whatever follows the array does not count.
pub(crate) fn is_json_array(text: &str) -> bool {
    let mut rest = text.trim();
    let Some(inner) = rest.strip_prefix('[') else {
        return false;
    };
    rest = inner.trim_start();
    if rest.starts_with(']') {
        return true;
    }
    loop {
        let Some(after_quote) = rest.strip_prefix('"') else {
            return false;
        };
        let Some(len) = json_string_len(after_quote) else {
            return false;
        };
        rest = after_quote[len..].trim_start();
        if rest.starts_with(']') {
            return true;
        }
        let Some(after) = rest.strip_prefix(',') else {
            return false;
        };
        rest = after.trim_start();
    }
}

/// The length of a JSON string's body and closing quote, if it is closed.
fn json_string_len(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some(at + 1),
            '\\' => {
                chars.next()?;
            }
            c if u32::from(c) < 0x20 => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        split(text, '\\').into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            words(r#"  a "b c"  d\ e 'f " g'"#),
            ["a", r#""b c""#, r"d\ e", r#"'f " g'"#]
        );
        assert_eq!(words(r#"k="v \" w" x=y"#), [r#"k="v \" w""#, "x=y"]);
        assert_eq!(words("unterminated \"a b"), ["unterminated", "\"a b"]);
    }

    #[test]
    fn unquote_follows_the_shell() {
        assert_eq!(unquote(r#""v \"w\" \n""#, '\\'), r#"v "w" \n"#);
        assert_eq!(unquote(r"'a\b'", '\\'), r"a\b");
        assert_eq!(unquote(r"a\ b\$c", '\\'), "a b$c");
        assert_eq!(unquote(r#""a`"b""#, '`'), r#"a"b"#);
    }

    #[test]
    fn json_arrays() {
        assert!(is_json_array(r#"["sh", "-c", "echo \"hi\""]"#));
        assert!(is_json_array("[]"));
        assert!(is_json_array(r#"["cat"] <<EOF"#));
        assert!(!is_json_array(r#"["sh", ]"#));
        assert!(!is_json_array("[ not json ]"));
        assert!(!is_json_array(r#"echo ["a"]"#));
    }
}
