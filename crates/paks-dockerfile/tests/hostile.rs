//! Dockerfiles from elsewhere: huge, endlessly continued, unterminated, with NUL bytes.
//! The parser answers each with a parse or an error naming the line, in time linear in
//! the text (no timed assertions: a quadratic parser would not finish these sizes).

use paks_dockerfile::Dockerfile;

/// 100 000 continuation lines make one `RUN`, and the stage after it is still found.
#[test]
fn a_hundred_thousand_continuation_lines_are_one_instruction() {
    let mut text = String::from("FROM alpine:3.19 AS a\nRUN echo \\\n");
    for i in 0..100_000 {
        text.push_str("  word");
        text.push_str(&i.to_string());
        text.push_str(" \\\n");
    }
    text.push_str("  end\nFROM a\n");
    let file = Dockerfile::parse(&text).unwrap();
    assert_eq!(file.instructions.len(), 3);
    assert_eq!(file.stages.len(), 2);
    assert_eq!(file.stages[1].from.stage, Some(0));
}

/// A 50 MB Dockerfile of short instructions parses, every instruction kept.
#[test]
fn a_fifty_megabyte_dockerfile_parses() {
    let mut text = String::from("FROM alpine:3.19\n");
    let mut runs = 0;
    while text.len() < 50_000_000 {
        text.push_str("RUN echo 0123456789012345678901234567890123456789\n");
        runs += 1;
    }
    let file = Dockerfile::parse(&text).unwrap();
    assert_eq!(file.instructions.len(), runs + 1);
}

/// A heredoc never closed is an error at its line.
#[test]
fn an_unclosed_heredoc_is_an_error_at_its_line() {
    let err = Dockerfile::parse("FROM alpine\nRUN <<EOF\necho\n").unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    assert!(err.message.contains("EOF"), "{err}");
}

/// NUL bytes are text like any other: kept in the image as written, which resolution
/// then refuses as a reference.
#[test]
fn nul_bytes_stay_in_the_text() {
    let file = Dockerfile::parse("FROM alpine:3.19\0\nRUN x\0y\n").unwrap();
    assert_eq!(file.stages[0].from.image, "alpine:3.19\0");
}
