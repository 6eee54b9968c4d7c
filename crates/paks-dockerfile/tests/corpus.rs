//! The corpus: Dockerfiles shaped like what projects ship, one per
//! `tests/corpus/NN-name/Dockerfile`. Every file parses and `apply` with no edits gives
//! it back byte for byte; what the parser reads is compared with `expected.txt`; where
//! `expected-pinned.Dockerfile` or `expected-labels.Dockerfile` exist, the edit builders'
//! output is compared with them as files.
//!
//! `PAKS_BLESS=1 cargo test -p paks-dockerfile --test corpus` rewrites `expected.txt` and
//! the rewrites that exist; review the diff before committing it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use paks_dockerfile::{Dockerfile, Edit, apply};

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// What the parser read, one fact a line.
fn summary(file: &Dockerfile) -> String {
    let text = &file.text;
    let mut out = format!("escape `{}`\ninstructions", file.escape);
    for i in &file.instructions {
        let (first, last) = (file.line(i.span.start), file.line(i.span.end));
        if first == last {
            write!(out, " {first}:{}", i.keyword).unwrap();
        } else {
            write!(out, " {first}-{last}:{}", i.keyword).unwrap();
        }
    }
    out.push('\n');
    for (n, stage) in file.stages.iter().enumerate() {
        let from = &stage.from;
        assert_eq!(&text[from.image_span.clone()], from.image);
        let line = file.line(file.instructions[stage.instruction].span.start);
        writeln!(out, "stage {n} (line {line})").unwrap();
        writeln!(out, "  image    `{}`", from.image).unwrap();
        match &from.resolved {
            Some(r) => writeln!(out, "  resolved `{r}`").unwrap(),
            None => writeln!(out, "  resolved (unknown)").unwrap(),
        }
        if let Some(p) = &from.platform {
            writeln!(out, "  platform `{p}`").unwrap();
        }
        if let Some(a) = &from.alias {
            writeln!(out, "  alias    `{a}`").unwrap();
        }
        if let Some(s) = from.stage {
            writeln!(out, "  stage    {s}").unwrap();
        }
        for label in &stage.labels {
            assert_eq!(file.instructions[label.instruction].keyword, "LABEL");
            writeln!(out, "  label    `{}` = `{}`", label.key, label.value).unwrap();
        }
    }
    out
}

/// The digest the rewrites pin stage `n` to.
fn digest(n: usize) -> String {
    format!("sha256:{:064x}", n + 0xd0)
}

/// The stages that are images (not stages, not `scratch`, resolved), with the image to
/// pin and label: `(stage, name, digest)`.
fn images(file: &Dockerfile) -> Vec<(usize, String, String)> {
    file.stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.from.stage.is_none())
        .filter_map(|(n, s)| {
            let resolved = s.from.resolved.as_deref()?;
            if resolved == "scratch" {
                return None;
            }
            Some(match resolved.split_once('@') {
                Some((name, digest)) => (n, name.to_string(), digest.to_string()),
                None => (n, resolved.to_string(), digest(n)),
            })
        })
        .collect()
}

fn pinned(file: &Dockerfile) -> Vec<Edit> {
    images(file)
        .into_iter()
        .map(|(n, name, digest)| file.replace_image(n, &format!("{name}@{digest}")))
        .collect()
}

fn labelled(file: &Dockerfile) -> Vec<Edit> {
    images(file)
        .into_iter()
        .flat_map(|(n, name, digest)| file.base_label_edits(n, Some(&name), Some(&digest)))
        .collect()
}

/// Compares `got` with the file `path`, or rewrites it when blessing.
fn expect(path: &Path, got: &str, failures: &mut Vec<String>) {
    if std::env::var_os("PAKS_BLESS").is_some() {
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    if want != got {
        failures.push(format!(
            "{} differs; got:\n{got}\n(PAKS_BLESS=1 rewrites it)",
            path.display()
        ));
    }
}

#[test]
fn every_file_parses_round_trips_and_reads_as_expected() {
    let dirs = corpus();
    assert!(dirs.len() >= 30, "only {} corpus files", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let file = match Dockerfile::parse(&text) {
            Ok(file) => file,
            Err(e) => {
                failures.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        assert_eq!(apply(&text, &[]).unwrap(), text, "{}", dir.display());
        expect(&dir.join("expected.txt"), &summary(&file), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn rewrites_match_their_expected_files() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for dir in corpus() {
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let file = Dockerfile::parse(&text).unwrap();
        for (name, edits) in [
            ("expected-pinned.Dockerfile", pinned(&file)),
            ("expected-labels.Dockerfile", labelled(&file)),
        ] {
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            compared += 1;
            let out = apply(&text, &edits).unwrap();
            // A rewrite is still a Dockerfile with the same stages.
            let again = Dockerfile::parse(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(again.stages.len(), file.stages.len(), "{}", path.display());
            expect(&path, &out, &mut failures);
        }
    }
    assert!(compared >= 10, "only {compared} rewrites compared");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The label rewrite is idempotent: applied to its own output it changes nothing.
#[test]
fn label_rewrites_are_idempotent() {
    for dir in corpus() {
        let path = dir.join("expected-labels.Dockerfile");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let file = Dockerfile::parse(&text).unwrap();
        assert_eq!(labelled(&file), [], "{}", path.display());
    }
}

/// Pinning and labelling every stage of a file are one set of edits: they never overlap,
/// and together give the pinned images with the labels.
#[test]
fn pins_and_labels_compose() {
    for dir in corpus() {
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let file = Dockerfile::parse(&text).unwrap();
        let mut edits = pinned(&file);
        edits.extend(labelled(&file));
        let both = apply(&text, &edits).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let pinned_only = Dockerfile::parse(&apply(&text, &pinned(&file)).unwrap()).unwrap();
        let again = Dockerfile::parse(&both).unwrap();
        let images = |f: &Dockerfile| -> Vec<String> {
            f.stages.iter().map(|s| s.from.image.clone()).collect()
        };
        assert_eq!(images(&again), images(&pinned_only), "{}", dir.display());
        assert_eq!(labelled(&again), [], "{}", dir.display());
    }
}
