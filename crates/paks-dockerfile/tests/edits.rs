//! The edit builders: base images replaced, base-image labels set, replaced and removed,
//! byte for byte.

use paks_dockerfile::{BASE_DIGEST, BASE_NAME, Dockerfile, Edit, apply, label_value_quote};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn parse(text: &str) -> Dockerfile {
    Dockerfile::parse(text).unwrap()
}

fn edited(text: &str, edits: impl Fn(&Dockerfile) -> Vec<Edit>) -> String {
    let file = parse(text);
    let out = apply(text, &edits(&file)).unwrap();
    // What comes out is a Dockerfile too.
    Dockerfile::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    out
}

fn labels(text: &str, stage: usize, name: Option<&str>, digest: Option<&str>) -> String {
    edited(text, |f| f.base_label_edits(stage, name, digest))
}

fn base(text: &str, stage: usize) -> Vec<(String, String)> {
    parse(text).stages[stage]
        .labels
        .iter()
        .filter(|l| l.key.starts_with("org.opencontainers.image.base."))
        .map(|l| (l.key.clone(), l.value.clone()))
        .collect()
}

#[test]
fn replace_image_changes_only_the_image() {
    let text = "ARG V=1\nFROM --platform=$BUILDPLATFORM golang:${V} AS build\nFROM build\nFROM alpine:3.20";
    let out = edited(text, |f| {
        vec![
            f.replace_image(0, &format!("golang:1.22@{D1}")),
            f.replace_image(2, &format!("alpine:3.20@{D2}")),
        ]
    });
    assert_eq!(
        out,
        format!(
            "ARG V=1\nFROM --platform=$BUILDPLATFORM golang:1.22@{D1} AS build\nFROM build\nFROM alpine:3.20@{D2}"
        )
    );
}

#[test]
fn missing_labels_are_added_after_the_from() {
    let text = "FROM alpine:3.20 AS base\nRUN true\n";
    let out = labels(text, 0, Some("docker.io/library/alpine:3.20"), Some(D1));
    assert_eq!(
        out,
        format!(
            "FROM alpine:3.20 AS base\nLABEL {BASE_NAME}=\"docker.io/library/alpine:3.20\" \\\n      {BASE_DIGEST}=\"{D1}\"\nRUN true\n"
        )
    );
    assert_eq!(
        base(&out, 0),
        [
            (BASE_NAME.into(), "docker.io/library/alpine:3.20".into()),
            (BASE_DIGEST.into(), D1.into())
        ]
    );
}

#[test]
fn added_labels_follow_line_endings_escape_and_indentation() {
    let text = "# escape=`\r\nFROM mcr.microsoft.com/windows/nanoserver:ltsc2022\r\n  FROM `\r\n    busybox\r\nCMD x";
    let out = labels(text, 1, Some("docker.io/library/busybox:latest"), Some(D1));
    assert_eq!(
        out,
        format!(
            "# escape=`\r\nFROM mcr.microsoft.com/windows/nanoserver:ltsc2022\r\n  FROM `\r\n    busybox\r\n  LABEL {BASE_NAME}=\"docker.io/library/busybox:latest\" `\r\n        {BASE_DIGEST}=\"{D1}\"\r\nCMD x"
        )
    );
    // At the end of a file without a final newline, the file's line ending is used.
    let out = labels("FROM a\r\nFROM b", 1, None, Some(D2));
    assert_eq!(
        out,
        format!("FROM a\r\nFROM b\r\nLABEL {BASE_DIGEST}=\"{D2}\"")
    );
}

#[test]
fn existing_labels_are_replaced_in_their_quoting_style() {
    let text = format!(
        "FROM alpine:3.19\nLABEL {BASE_NAME}='alpine:3.19' other=\"x\" \\\n  {BASE_DIGEST}={D1}\nLABEL \"{BASE_NAME}\"=\"alpine:3.19\"\n"
    );
    let out = labels(&text, 0, Some("alpine:3.20"), Some(D2));
    assert_eq!(
        out,
        format!(
            "FROM alpine:3.19\nLABEL {BASE_NAME}='alpine:3.20' other=\"x\" \\\n  {BASE_DIGEST}={D2}\nLABEL \"{BASE_NAME}\"=\"alpine:3.20\"\n"
        )
    );
    // Nothing to change: no edit.
    assert!(
        parse(&out)
            .base_label_edits(0, Some("alpine:3.20"), Some(D2))
            .is_empty()
    );
    // A value that cannot stay bare gets double quotes.
    let out = labels(
        "FROM a\nLABEL org.opencontainers.image.base.name=a\n",
        0,
        Some("a b$"),
        None,
    );
    assert_eq!(out, format!("FROM a\nLABEL {BASE_NAME}=\"a b\\$\"\n"));
    assert_eq!(base(&out, 0), [(BASE_NAME.into(), "a b$".into())]);
}

#[test]
fn removed_pairs_take_their_separators_and_empty_labels_their_line() {
    let text = format!("FROM a\nLABEL keep=1 {BASE_NAME}=n \\\n      {BASE_DIGEST}={D1}\nRUN x\n");
    assert_eq!(
        labels(&text, 0, None, None),
        "FROM a\nLABEL keep=1\nRUN x\n"
    );
    let text =
        format!("FROM a\nLABEL {BASE_NAME}=n \\\n  {BASE_DIGEST}={D1} \\\n  keep=1\nRUN x\n");
    assert_eq!(
        labels(&text, 0, None, None),
        "FROM a\nLABEL keep=1\nRUN x\n"
    );
    let text = format!("FROM a\r\n  LABEL {BASE_NAME}=n {BASE_DIGEST}={D1}\r\nRUN x\r\n");
    assert_eq!(labels(&text, 0, None, None), "FROM a\r\nRUN x\r\n");
    // The last line, without a final newline.
    let text = format!("FROM a\nLABEL {BASE_DIGEST}={D1}");
    assert_eq!(labels(&text, 0, None, None), "FROM a");
    // Legacy `LABEL key value`.
    let text = format!("FROM a\nLABEL {BASE_NAME} alpine 3\nFROM b\n");
    assert_eq!(labels(&text, 0, None, None), "FROM a\nFROM b\n");
    // Only the stage asked for.
    let text = format!("FROM a\nLABEL {BASE_NAME}=x\nFROM b\nLABEL {BASE_NAME}=y\n");
    assert_eq!(
        labels(&text, 1, None, None),
        format!("FROM a\nLABEL {BASE_NAME}=x\nFROM b\n")
    );
}

#[test]
fn one_added_one_replaced_one_removed_and_the_image_compose() {
    let text = format!(
        "FROM alpine:3.19\nLABEL {BASE_NAME}=\"alpine:3.19\" a=b\nFROM alpine:3.19 AS two\nLABEL {BASE_DIGEST}={D1}\n"
    );
    let out = edited(&text, |f| {
        let mut edits = vec![
            f.replace_image(0, "alpine:3.20"),
            f.replace_image(1, "alpine:3.20"),
        ];
        edits.extend(f.base_label_edits(0, Some("alpine:3.20"), Some(D2)));
        edits.extend(f.base_label_edits(1, Some("alpine:3.20"), None));
        edits
    });
    assert_eq!(
        out,
        format!(
            "FROM alpine:3.20\nLABEL {BASE_DIGEST}=\"{D2}\"\nLABEL {BASE_NAME}=\"alpine:3.20\" a=b\nFROM alpine:3.20 AS two\nLABEL {BASE_NAME}=\"alpine:3.20\"\n"
        )
    );
}

#[test]
fn quoting_reads_back() {
    for value in ["plain", "with space", "q\"uote", "$HOME", "back\\slash", ""] {
        let text = format!("FROM a\nLABEL k={}\n", label_value_quote(value));
        assert_eq!(parse(&text).stages[0].labels[0].value, value, "{text}");
    }
}

#[test]
fn an_empty_value_is_replaced_after_its_equals_sign() {
    let text = format!("FROM a\nLABEL {BASE_NAME}= \\\n  x=1\n");
    assert_eq!(
        labels(&text, 0, Some("alpine"), None),
        format!("FROM a\nLABEL {BASE_NAME}=alpine \\\n  x=1\n")
    );
}
