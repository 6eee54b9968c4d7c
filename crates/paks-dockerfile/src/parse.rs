//! The parser: parser directives, then instructions (continuations joined, comments and
//! blank lines skipped, heredoc bodies consumed), then what `FROM`, `ARG` and `LABEL` say.

use std::ops::Range;

use crate::lines::{self, Line, Logical};
use crate::subst::{self, Args};
use crate::{Dockerfile, From, Instruction, Label, ParseError, Stage, labels, words};

/// See [`Dockerfile::parse`].
pub(crate) fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines = lines::split(text);
    let escape = directives(text, &lines)?;
    let mut parser = Parser {
        text,
        escape,
        lines: &lines,
        next: 0,
        meta: Args::new(),
        file: Dockerfile {
            text: text.to_string(),
            escape,
            instructions: Vec::new(),
            stages: Vec::new(),
        },
    };
    while let Some(logical) = parser.logical() {
        parser.instruction(&logical)?;
    }
    Ok(parser.file)
}

/// The escape character, from the parser directives at the top: `# name=value` lines
/// before anything else (an instruction, a blank line, another comment) with a name
/// Docker knows (`syntax`, `escape`, `check`). An unknown name ends the directives and
/// is a comment, as in Docker.
fn directives(text: &str, lines: &[Line]) -> Result<char, ParseError> {
    let mut escape = '\\';
    let mut seen: Vec<String> = Vec::new();
    for &line in lines {
        let (at, content) = lines::trim_start(text, line);
        let Some((name, value)) = directive(content) else {
            break;
        };
        let name = name.to_ascii_lowercase();
        if !["syntax", "escape", "check"].contains(&name.as_str()) {
            break;
        }
        if seen.contains(&name) {
            return Err(error_at(
                text,
                at,
                format!("only one `{name}` parser directive can be used"),
            ));
        }
        if name == "escape" {
            escape = match value {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(error_at(
                        text,
                        at,
                        format!("invalid escape character `{value}`: it must be `\\` or `` ` ``"),
                    ));
                }
            };
        }
        seen.push(name);
    }
    Ok(escape)
}

/// `# name = value` (the name starts with a letter; blanks around `=` and after the value
/// do not count).
fn directive(content: &str) -> Option<(&str, &str)> {
    let rest = content.strip_prefix('#')?.trim_start();
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[name_len..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((name, value))
}

/// A parse error at byte `at` of `text`, with its 1-based line and column.
pub(crate) fn error_at(text: &str, at: usize, message: String) -> ParseError {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    ParseError {
        line: line_of(text, at),
        column: text[line_start..at].chars().count() + 1,
        message,
    }
}

/// The 1-based line holding byte `at` of `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

struct Parser<'a> {
    text: &'a str,
    escape: char,
    lines: &'a [Line],
    /// The next line to read.
    next: usize,
    /// The `ARG`s before the first `FROM`.
    meta: Args,
    file: Dockerfile,
}

/// An instruction's joined text and the end of its last line.
struct Joined {
    logical: Logical,
    end: usize,
}

impl Parser<'_> {
    /// The next instruction's lines, joined; `None` at the end of the text.
    fn logical(&mut self) -> Option<Joined> {
        let (text, escape) = (self.text, self.escape);
        while self.next < self.lines.len() {
            let line = self.lines[self.next];
            self.next += 1;
            if lines::is_comment(text, line) {
                continue;
            }
            let (from, _) = lines::trim_start(text, line);
            let (cut, mut more) = lines::continuation(text, from, line.end, escape);
            if !more && cut == from {
                continue;
            }
            let mut joined = Joined {
                logical: Logical::default(),
                end: line.end,
            };
            joined.logical.push(text, from..cut);
            while more && self.next < self.lines.len() {
                let line = self.lines[self.next];
                self.next += 1;
                // Comments and blank lines inside a continuation are skipped, not ends.
                if lines::is_comment(text, line) || lines::is_blank(text, line) {
                    continue;
                }
                let (cut, again) = lines::continuation(text, line.start, line.end, escape);
                joined.logical.push(text, line.start..cut);
                joined.end = line.end;
                more = again;
            }
            if joined.logical.text.trim().is_empty() {
                // Only escapes and blanks: nothing to read.
                continue;
            }
            return Some(joined);
        }
        None
    }

    fn instruction(&mut self, joined: &Joined) -> Result<(), ParseError> {
        let t = &joined.logical.text;
        let keyword_start = t.len() - t.trim_start().len();
        let keyword_end = t[keyword_start..]
            .find(char::is_whitespace)
            .map_or(t.len(), |i| keyword_start + i);
        let args_start = t.len() - t[keyword_end..].trim_start().len();
        let keyword = t[keyword_start..keyword_end].to_ascii_uppercase();
        let start = joined.logical.span(keyword_start..keyword_end).start;
        let end = self.heredocs(&keyword, &t[args_start..], start, joined.end)?;
        let index = self.file.instructions.len();
        self.file.instructions.push(Instruction {
            keyword: keyword.clone(),
            span: start..end,
        });
        let args = ArgText {
            logical: &joined.logical,
            start: args_start,
            keyword_at: start,
        };
        match keyword.as_str() {
            "FROM" => self.from(index, &args),
            "ARG" if self.file.stages.is_empty() => {
                self.meta_args(&args);
                Ok(())
            }
            _ if self.file.stages.is_empty() => Err(error_at(
                self.text,
                start,
                format!("`{keyword}` before the first `FROM`: only `ARG` may come before it"),
            )),
            "LABEL" => self.labels(index, &args),
            _ => Ok(()),
        }
    }

    /// Consumes the bodies of the heredocs the instruction opens; returns where the
    /// instruction ends (its last terminator, or `end` when it opens none).
    fn heredocs(
        &mut self,
        keyword: &str,
        args: &str,
        start: usize,
        mut end: usize,
    ) -> Result<usize, ParseError> {
        for (name, chomp) in heredoc_names(keyword, args) {
            let mut terminated = false;
            while self.next < self.lines.len() {
                let line = self.lines[self.next];
                self.next += 1;
                end = line.end;
                let mut content = &self.text[line.start..line.end];
                if chomp {
                    content = content.trim_start_matches('\t');
                }
                if content == name {
                    terminated = true;
                    break;
                }
            }
            if !terminated {
                return Err(error_at(
                    self.text,
                    start,
                    format!("unterminated heredoc: no line `{name}` ends it"),
                ));
            }
        }
        Ok(end)
    }

    fn meta_args(&mut self, args: &ArgText) {
        let rest = args.text();
        for word in words::split(rest, self.escape) {
            let word = &rest[word];
            match word.split_once('=') {
                Some((name, value)) => {
                    let value = subst::substitute(value, self.escape, &self.meta);
                    self.meta.insert(name.to_string(), value);
                }
                None => {
                    self.meta.entry(word.to_string()).or_insert(None);
                }
            }
        }
    }

    fn from(&mut self, instruction: usize, args: &ArgText) -> Result<(), ParseError> {
        let rest = args.text();
        let words: Vec<Range<usize>> = words::split(rest, self.escape);
        let mut platform = None;
        let mut k = 0;
        while k < words.len() && rest[words[k].clone()].starts_with("--") {
            if let Some(value) = rest[words[k].clone()].strip_prefix("--platform=") {
                platform = Some(value.to_string());
            }
            k += 1;
        }
        let positional = &words[k..];
        let Some(image_word) = positional.first() else {
            return Err(error_at(
                self.text,
                args.keyword_at,
                "`FROM` without an image".into(),
            ));
        };
        let alias = match positional {
            [_] => None,
            [_, r#as, name] if rest[r#as.clone()].eq_ignore_ascii_case("as") => {
                Some(rest[name.clone()].to_lowercase())
            }
            _ => {
                return Err(error_at(
                    self.text,
                    args.keyword_at,
                    format!(
                        "`FROM {}` takes an image, then optionally `AS name`",
                        rest.trim()
                    ),
                ));
            }
        };
        let image = rest[image_word.clone()].to_string();
        let resolved = subst::substitute(&image, self.escape, &self.meta);
        let stage = resolved
            .as_deref()
            .and_then(|name| self.earlier_stage(name));
        self.file.stages.push(Stage {
            instruction,
            from: From {
                image_span: args.span(image_word.clone()),
                image,
                resolved,
                platform,
                alias,
                stage,
            },
            labels: Vec::new(),
        });
        Ok(())
    }

    /// The earlier stage `name` means: by alias (case-insensitive) or by number.
    fn earlier_stage(&self, name: &str) -> Option<usize> {
        let name = name.to_lowercase();
        let stages = &self.file.stages;
        stages
            .iter()
            .position(|s| s.from.alias.as_deref() == Some(name.as_str()))
            .or_else(|| name.parse::<usize>().ok().filter(|&i| i < stages.len()))
    }

    fn labels(&mut self, instruction: usize, args: &ArgText) -> Result<(), ParseError> {
        let rest = args.text();
        let pairs = labels::pairs(rest, self.escape)
            .map_err(|message| error_at(self.text, args.keyword_at, message))?;
        let stage = self
            .file
            .stages
            .last_mut()
            .expect("checked: a FROM came before");
        for pair in pairs {
            let span = args.span(pair.span);
            let value_span = if pair.value_span.is_empty() {
                // `k=`: the pair ends with its `=`.
                span.end..span.end
            } else {
                args.span(pair.value_span)
            };
            stage.labels.push(Label {
                instruction,
                key: pair.key,
                value: pair.value,
                span,
                value_span,
            });
        }
        Ok(())
    }
}

/// An instruction's arguments: the joined text from `start`.
struct ArgText<'a> {
    logical: &'a Logical,
    start: usize,
    keyword_at: usize,
}

impl ArgText<'_> {
    fn text(&self) -> &str {
        &self.logical.text[self.start..]
    }

    /// The original span of `range` of [`Self::text`].
    fn span(&self, range: Range<usize>) -> Range<usize> {
        self.logical
            .span(range.start + self.start..range.end + self.start)
    }
}

/// The heredocs an instruction opens, in order: `(terminator, strip leading tabs)`. Only
/// `RUN`, `COPY` and `ADD` (also after `ONBUILD`) in shell form open heredocs.
fn heredoc_names(keyword: &str, args: &str) -> Vec<(String, bool)> {
    let (keyword, args) = if keyword == "ONBUILD" {
        let args = args.trim_start();
        let end = args.find(char::is_whitespace).unwrap_or(args.len());
        (args[..end].to_ascii_uppercase(), &args[end..])
    } else {
        (keyword.to_string(), args)
    };
    if !["RUN", "COPY", "ADD"].contains(&keyword.as_str())
        || !args.contains("<<")
        || words::is_json_array(args)
    {
        return Vec::new();
    }
    // Heredoc words are read with `\` as the escape, whatever the directive says; blanks
    // right after `<<` belong to the word (`<< EOF` opens a heredoc too).
    let mut spans = words::split(args, '\\').into_iter().peekable();
    let mut words = Vec::new();
    while let Some(word) = spans.next() {
        match spans.peek() {
            Some(next) if args[word.clone()].ends_with("<<") => {
                words.push(word.start..next.end);
                spans.next();
            }
            _ => words.push(word),
        }
    }
    words
        .into_iter()
        .filter_map(|word| {
            let word = args[word].trim_start_matches(|c: char| c.is_ascii_digit());
            let rest = word.strip_prefix("<<")?;
            let (chomp, rest) = match rest.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, rest.trim_start()),
            };
            if rest.is_empty() || rest.contains('<') {
                return None;
            }
            Some((words::unquote(rest, '\\'), chomp))
        })
        .collect()
}
