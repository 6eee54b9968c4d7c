//! Substituting `ARG`s in a word: `$A`, `${A}`, `${A:-default}`, `${A-default}`,
//! `${A:+alternative}`, `${A+alternative}`, escaped `\$`, and quotes removed, as Docker's
//! word processing does for `FROM`.
//!
//! The result is `None` when the word needs a value nobody gave: `$A` or `${A}` of a
//! variable never declared (a build argument such as `TARGETARCH`, known only at build
//! time) or declared without a default. The operators follow Docker: a variable declared
//! without a default is set to nothing, one never declared is unset. Modifiers this
//! module does not model (`${A#prefix}`, `${A%suffix}`, `${A/x/y}`, `${A:?err}`) also
//! give `None`: better unknown than wrong.

use std::collections::HashMap;

/// What the `ARG`s before the first `FROM` say: a name maps to its default, or to `None`
/// when declared without one.
pub(crate) type Args = HashMap<String, Option<String>>;

/// `word` with its variables substituted and quotes and escapes removed.
pub(crate) fn substitute(word: &str, escape: char, args: &Args) -> Option<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut lexer = Lexer {
        chars: &chars,
        at: 0,
        escape,
        args,
    };
    lexer.word(None)
}

struct Lexer<'a> {
    chars: &'a [char],
    at: usize,
    escape: char,
    args: &'a Args,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    /// Reads up to `stop` (the `}` closing a `${…}` default) or the end.
    fn word(&mut self, stop: Option<char>) -> Option<String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                return Some(out);
            }
            self.at += 1;
            match c {
                '\'' => {
                    while let Some(c) = self.next() {
                        if c == '\'' {
                            break;
                        }
                        out.push(c);
                    }
                }
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.variable()?),
                c if c == self.escape => {
                    if let Some(n) = self.next() {
                        out.push(n);
                    }
                }
                c => out.push(c),
            }
        }
        Some(out)
    }

    fn double_quoted(&mut self) -> Option<String> {
        let mut out = String::new();
        while let Some(c) = self.next() {
            match c {
                '"' => break,
                '$' => out.push_str(&self.variable()?),
                c if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        out.push(n);
                        self.at += 1;
                    }
                    Some(_) => out.push(c),
                    None => {}
                },
                c => out.push(c),
            }
        }
        Some(out)
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.at += 1;
            } else {
                break;
            }
        }
        name
    }

    /// After a `$`.
    fn variable(&mut self) -> Option<String> {
        if self.peek() == Some('{') {
            self.at += 1;
            return self.braced();
        }
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            // A `$` not starting a name is itself.
            return Some("$".into());
        }
        let name = self.name();
        self.value(&name).cloned()
    }

    fn value(&self, name: &str) -> Option<&String> {
        self.args.get(name).and_then(Option::as_ref)
    }

    /// After `${`.
    fn braced(&mut self) -> Option<String> {
        let name = self.name();
        if name.is_empty() {
            return None;
        }
        let colon = self.peek() == Some(':');
        if colon {
            self.at += 1;
        }
        let op = self.next()?;
        if op == '}' && !colon {
            return self.value(&name).cloned();
        }
        if op != '-' && op != '+' {
            return None;
        }
        let operand = self.word(Some('}'));
        if self.next() != Some('}') {
            return None;
        }
        let value = self.value(&name);
        // An `ARG` declared without a default is set, to nothing, as Docker builds it
        // without `--build-arg`; with `:`, an empty value counts as unset.
        let set = if colon {
            value.is_some_and(|v| !v.is_empty())
        } else {
            self.args.contains_key(&name)
        };
        match (op, set) {
            ('-', true) => Some(value.cloned().unwrap_or_default()),
            ('-', false) | ('+', true) => operand,
            _ => Some(String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Args {
        [
            ("PY", Some("3.12")),
            ("EMPTY", Some("")),
            ("NODEFAULT", None),
            ("REG", Some("ghcr.io/acme")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect()
    }

    fn sub(word: &str) -> Option<String> {
        substitute(word, '\\', &args())
    }

    #[test]
    fn forms() {
        assert_eq!(
            sub("python:${PY}-slim").as_deref(),
            Some("python:3.12-slim")
        );
        assert_eq!(sub("python:$PY").as_deref(), Some("python:3.12"));
        assert_eq!(sub("$REG/app:1").as_deref(), Some("ghcr.io/acme/app:1"));
        assert_eq!(sub("a:${NODEFAULT:-1.0}").as_deref(), Some("a:1.0"));
        assert_eq!(sub("a:${EMPTY:-1.0}").as_deref(), Some("a:1.0"));
        assert_eq!(sub("a:${EMPTY-1.0}").as_deref(), Some("a:"));
        assert_eq!(sub("a${PY:+-py$PY}").as_deref(), Some("a-py3.12"));
        assert_eq!(sub("a${NODEFAULT:+x}").as_deref(), Some("a"));
        assert_eq!(sub("a${NODEFAULT+x}").as_deref(), Some("ax"));
        assert_eq!(sub("a${NODEFAULT-x}").as_deref(), Some("a"));
        assert_eq!(sub("a${UNDECLARED-x}").as_deref(), Some("ax"));
        assert_eq!(sub("a${UNDECLARED+x}").as_deref(), Some("a"));
        assert_eq!(sub("a${EMPTY+x}").as_deref(), Some("ax"));
        assert_eq!(sub("a${EMPTY:+x}").as_deref(), Some("a"));
        assert_eq!(sub(r"a\$PY").as_deref(), Some("a$PY"));
        assert_eq!(sub(r#""python:$PY""#).as_deref(), Some("python:3.12"));
        assert_eq!(sub("'$PY'").as_deref(), Some("$PY"));
        assert_eq!(sub("a:${X:-${PY}}").as_deref(), Some("a:3.12"));
        assert_eq!(sub("cost$").as_deref(), Some("cost$"));
    }

    #[test]
    fn unknown_values_are_none() {
        assert_eq!(sub("a:$NODEFAULT"), None);
        assert_eq!(sub("a:${TARGETARCH}"), None);
        assert_eq!(sub("a:${PY#3.}"), None);
        assert_eq!(sub("a:${PY:?must}"), None);
        assert_eq!(sub("a:${PY"), None);
    }
}
