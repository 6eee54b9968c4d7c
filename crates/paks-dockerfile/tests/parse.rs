//! What the parser reads from Dockerfiles, one rule at a time.

use paks_dockerfile::{Dockerfile, ParseError, apply};

fn parse(text: &str) -> Dockerfile {
    let file = Dockerfile::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(apply(text, &[]).unwrap(), text);
    file
}

fn error(text: &str) -> ParseError {
    Dockerfile::parse(text).expect_err(text)
}

/// Image as written, resolved, alias, stage.
type Summary = (String, Option<String>, Option<String>, Option<usize>);

/// A summary per stage; the image span is checked to hold the image as written.
fn stages(file: &Dockerfile) -> Vec<Summary> {
    file.stages
        .iter()
        .map(|s| {
            assert_eq!(&file.text[s.from.image_span.clone()], s.from.image);
            (
                s.from.image.clone(),
                s.from.resolved.clone(),
                s.from.alias.clone(),
                s.from.stage,
            )
        })
        .collect()
}

fn images(file: &Dockerfile) -> Vec<Option<String>> {
    file.stages
        .iter()
        .map(|s| s.from.resolved.clone())
        .collect()
}

#[allow(clippy::unnecessary_wraps)] // shortens the expectations
fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn stages_aliases_and_stage_references() {
    let file = parse(
        "FROM golang:1.22 AS Build\nRUN go build\nFROM build AS test\nFROM 0\nFROM scratch\nFROM later\nFROM alpine AS later\n",
    );
    assert_eq!(
        stages(&file),
        [
            (
                "golang:1.22".into(),
                some("golang:1.22"),
                some("build"),
                None
            ),
            ("build".into(), some("build"), some("test"), Some(0)),
            ("0".into(), some("0"), None, Some(0)),
            ("scratch".into(), some("scratch"), None, None),
            // A stage named later in the file is not a stage reference: it is an image.
            ("later".into(), some("later"), None, None),
            ("alpine".into(), some("alpine"), some("later"), None),
        ]
    );
    let keywords: Vec<&str> = file
        .instructions
        .iter()
        .map(|i| i.keyword.as_str())
        .collect();
    assert_eq!(
        keywords,
        ["FROM", "RUN", "FROM", "FROM", "FROM", "FROM", "FROM"]
    );
    assert_eq!(file.stages[1].instruction, 2);
}

#[test]
fn keywords_are_case_insensitive() {
    let file = parse("from alpine:3.20 as Base\nlabel a=b\nfrom base\n");
    assert_eq!(file.stages[0].from.alias.as_deref(), Some("base"));
    assert_eq!(file.stages[1].from.stage, Some(0));
    assert_eq!(file.stages[0].labels[0].key, "a");
}

#[test]
fn args_before_the_first_from_are_substituted() {
    let file = parse(concat!(
        "ARG PY=3.12\n",
        "ARG REG=\"ghcr.io/acme\" DEBIAN\n",
        "ARG NODE=${PY:+22}\n",
        "FROM python:${PY}-slim\n",
        "FROM $REG/base:1\n",
        "FROM debian:${DEBIAN}\n",
        "FROM debian:${DEBIAN:-bookworm}\n",
        "FROM node:${NODE}-alpine\n",
        "FROM alpine:\\$PY\n",
        "ARG PY=9\n",
        "FROM python:$PY\n",
        "FROM --platform=$BUILDPLATFORM golang:1.22-${TARGETARCH} AS cross\n",
    ));
    assert_eq!(
        images(&file),
        [
            some("python:3.12-slim"),
            some("ghcr.io/acme/base:1"),
            None,
            some("debian:bookworm"),
            some("node:22-alpine"),
            some("alpine:$PY"),
            // An ARG after the first FROM belongs to a stage, not to FROM lines.
            some("python:3.12"),
            None,
        ]
    );
    let cross = &file.stages[7].from;
    assert_eq!(cross.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(cross.image, "golang:1.22-${TARGETARCH}");
    assert_eq!(cross.alias.as_deref(), Some("cross"));
}

#[test]
fn continuations_comments_and_blank_lines() {
    let text = concat!(
        "# a comment\n",
        "\n",
        "   # indented comment\n",
        "FROM \\\n",
        "  # a comment inside the continuation\n",
        "\n",
        "  --platform=linux/amd64 \\   \n",
        "\t\tdebian:bookworm-slim \\\n",
        "  AS base\n",
        "RUN apt-get update && \\\n",
        "    # not an instruction\n",
        "    apt-get install -y curl\n",
        "FROM base\n",
    );
    let file = parse(text);
    assert_eq!(
        stages(&file),
        [
            (
                "debian:bookworm-slim".into(),
                some("debian:bookworm-slim"),
                some("base"),
                None
            ),
            ("base".into(), some("base"), None, Some(0)),
        ]
    );
    assert_eq!(file.stages[0].from.platform.as_deref(), Some("linux/amd64"));
    let from = &file.instructions[0];
    assert!(text[from.span.clone()].starts_with("FROM \\\n"));
    assert!(text[from.span.clone()].ends_with("  AS base"));
    let run = &file.instructions[1];
    assert!(text[run.span.clone()].ends_with("install -y curl"));
    assert_eq!(file.instructions.len(), 3);
}

#[test]
fn an_escaped_escape_ends_the_line() {
    // `\\` at the end is an escaped backslash, not a continuation (BuildKit's rule).
    let file = parse("FROM a\nRUN echo \\\\\nFROM b\n");
    assert_eq!(images(&file), [some("a"), some("b")]);
    let file = parse("# escape=`\nFROM a\nRUN echo ``\nFROM b\n");
    assert_eq!(images(&file), [some("a"), some("b")]);
    // A line of only the escape character continues.
    let file = parse("FROM a\nRUN echo \\\n\\\n  two\nFROM b\n");
    assert_eq!(images(&file), [some("a"), some("b")]);
    assert_eq!(file.instructions.len(), 3);
}

#[test]
fn crlf_line_endings_keep_exact_spans() {
    let text = "FROM alpine:3.20 AS a\r\nLABEL x=\"y z\" \\\r\n  w=v\r\nFROM a\r\n";
    let file = parse(text);
    assert_eq!(file.stages[0].from.image, "alpine:3.20");
    assert_eq!(&text[file.stages[0].from.image_span.clone()], "alpine:3.20");
    let labels = &file.stages[0].labels;
    assert_eq!(labels.len(), 2);
    assert_eq!((&*labels[0].key, &*labels[0].value), ("x", "y z"));
    assert_eq!(&text[labels[0].span.clone()], "x=\"y z\"");
    assert_eq!(&text[labels[1].span.clone()], "w=v");
    assert_eq!(
        &text[file.instructions[1].span.clone()],
        "LABEL x=\"y z\" \\\r\n  w=v"
    );
    assert_eq!(file.stages[1].from.stage, Some(0));
}

#[test]
fn escape_directive_backtick() {
    let text = "# escape=`\r\n# syntax=docker/dockerfile:1\r\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 `\r\n  AS base\r\nRUN dir c:\\ `\r\n  && echo hi\r\nLABEL path=c:\\tools\r\n";
    let file = parse(text);
    assert_eq!(file.escape, '`');
    assert_eq!(file.stages[0].from.alias.as_deref(), Some("base"));
    assert_eq!(file.stages[0].labels[0].value, "c:\\tools");
    assert_eq!(file.instructions.len(), 3);
}

#[test]
fn directives_only_at_the_top() {
    // After a comment, `# escape=` is a comment: the backtick continues nothing.
    let file = parse("# hello\n# escape=`\nFROM alpine\nRUN echo `\nFROM busybox\n");
    assert_eq!(file.escape, '\\');
    assert_eq!(file.stages.len(), 2);
    // An unknown directive ends the directives and is no error.
    let file = parse("# foo=bar\n# escape=`\nFROM alpine\n");
    assert_eq!(file.escape, '\\');
    // Names are case-insensitive; blanks around `=` are allowed.
    let file = parse("#ESCAPE = `\nFROM alpine `\n  AS x\n");
    assert_eq!(file.escape, '`');
    assert_eq!(file.stages[0].from.alias.as_deref(), Some("x"));
    assert!(
        error("# escape=`\n# escape=\\\nFROM a\n")
            .message
            .contains("only one")
    );
    assert!(error("# escape=x\nFROM a\n").message.contains("escape"));
}

#[test]
fn heredoc_bodies_are_not_instructions() {
    let text = concat!(
        "FROM alpine\n",
        "RUN <<EOF\n",
        "FROM not-an-image\n",
        "EOF\n",
        "COPY <<-\"A\" /a <<'B' /b\n",
        "\tFROM nope\n",
        "\tA\n",
        "LABEL x=1\n",
        "B\n",
        "RUN [\"sh\", \"-c\", \"cat <<X\"]\n",
        "RUN cat <<EOT > /etc/motd && \\\n",
        "    echo done\n",
        "hello\n",
        "EOT\n",
        "FROM busybox\n",
    );
    let file = parse(text);
    assert_eq!(images(&file), [some("alpine"), some("busybox")]);
    assert!(file.stages[0].labels.is_empty());
    let keywords: Vec<&str> = file
        .instructions
        .iter()
        .map(|i| i.keyword.as_str())
        .collect();
    assert_eq!(keywords, ["FROM", "RUN", "COPY", "RUN", "RUN", "FROM"]);
    assert!(text[file.instructions[1].span.clone()].ends_with("\nEOF"));
    assert!(text[file.instructions[2].span.clone()].ends_with("LABEL x=1\nB"));
    // Blanks after `<<` belong to the heredoc word.
    let file = parse("FROM a\nRUN cat << EOF > /x\nFROM b\nEOF\nRUN echo <<<here\n");
    assert_eq!(file.stages.len(), 1);
    assert_eq!(file.instructions.len(), 3);
    let e = error("FROM alpine\nRUN <<EOF\necho hi\n");
    assert_eq!((e.line, e.column), (2, 1));
    assert!(e.message.contains("unterminated heredoc"), "{e}");
}

#[test]
fn labels_of_every_form() {
    let text = concat!(
        "FROM alpine\n",
        "LABEL a=b \"c\"=\"d e\" f='g h' \\\n",
        "      i=\"say \\\"hi\\\"\"\n",
        "LABEL maintainer Jane Doe\n",
        "LABEL json=[\"x\"]\n",
        "FROM busybox\n",
        "LABEL z=1\n",
    );
    let file = parse(text);
    let pairs: Vec<(&str, &str, &str)> = file.stages[0]
        .labels
        .iter()
        .map(|l| (l.key.as_str(), l.value.as_str(), &text[l.span.clone()]))
        .collect();
    assert_eq!(
        pairs,
        [
            ("a", "b", "a=b"),
            ("c", "d e", "\"c\"=\"d e\""),
            ("f", "g h", "f='g h'"),
            ("i", "say \"hi\"", "i=\"say \\\"hi\\\"\""),
            ("maintainer", "Jane Doe", "maintainer Jane Doe"),
            ("json", "[x]", "json=[\"x\"]"),
        ]
    );
    assert_eq!(file.stages[0].labels[0].instruction, 1);
    assert_eq!(file.stages[0].labels[4].instruction, 2);
    assert_eq!(
        &text[file.stages[0].labels[1].value_span.clone()],
        "\"d e\""
    );
    assert_eq!(file.stages[1].labels.len(), 1);
}

#[test]
fn refusals_have_a_place() {
    let e = error("FROM alpine\nFROM\n");
    assert_eq!((e.line, e.column), (2, 1));
    assert!(e.message.contains("without an image"), "{e}");
    let e = error("FROM --platform=linux/amd64\n");
    assert!(e.message.contains("without an image"), "{e}");
    let e = error("# c\nARG A=1\n  RUN echo\nFROM alpine\n");
    assert_eq!((e.line, e.column), (3, 3));
    assert!(e.message.contains("`RUN` before the first `FROM`"), "{e}");
    assert!(error("FROM a b\n").message.contains("AS name"));
    assert!(
        error("FROM a\nLABEL novalue\n")
            .message
            .contains("no value")
    );
}

#[test]
fn odd_but_accepted() {
    // A byte-order mark, no final newline, unknown instructions, an empty file.
    let file = parse("\u{feff}FROM alpine\nFOO bar\nRUN x");
    assert_eq!(images(&file), [some("alpine")]);
    assert_eq!(file.instructions[0].span.start, 3);
    assert_eq!(file.instructions[2].span.end, file.text.len());
    assert!(parse("").stages.is_empty());
    assert!(parse("# only a comment\n\n").stages.is_empty());
}
