//! Valid recipes, and what they parse to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use paks_recipe::{Package, Recipe, Source, SourceKind};
use paks_types::{Digest, EnvAction, EnvVar, PackageName, Platform, Version, VersionReq};

const FULL: &str = r#"
[package]
name = "hello"
version = "1.0.0-rc.1+build.5"
summary = "Prints a greeting"
license = "MIT OR Apache-2.0"
homepage = "https://example.org/hello"
platforms = ["linux/amd64", "linux/arm64"]

[[source]]
path = "./patches/"
dest = "patches"

[[source]]
url = "https://example.org/hello-1.0.tar.gz"
sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
strip = 2
size = 1_048_576

[[source]]
url = "file:///srv/mirror/hello.sh"
sha256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
extract = false
dest = "bin/./"

[[source]]
git = "https://example.org/greet-data.git"
commit = "4F2A9C1E4F2A9C1E4F2A9C1E4F2A9C1E4F2A9C1E"
dest = "vendor/greet-data"

[dependencies]
libgreet = "^1.0"
"python3.12" = ">=3.12.1, <3.13"

[build-dependencies]
cmake = ">=3.20, <4"

[build]
script = """
cc -o "$PREFIX/bin/hello" hello.c -lgreet
"""

[test]
script = "hello | grep -q Hello"

# Deliberately not in alphabetical order: file order is kept.
[env]
PYTHONPATH = { prepend = "{prefix}/lib/python" }
GREET_DATA = "{prefix}/share/greet"
MANPATH = { append = "{prefix}/share/man" }
GREET_STYLE = { set = "${HOME}/.greet" }
"#;

fn name(s: &str) -> PackageName {
    PackageName::new(s).unwrap()
}

fn req(s: &str) -> VersionReq {
    VersionReq::parse(s).unwrap()
}

fn var(name: &str, value: &str, action: EnvAction) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: value.into(),
        action,
    }
}

#[test]
fn full_recipe() {
    let recipe = Recipe::from_str(FULL, Path::new("paks.toml")).unwrap();
    let empty = Digest::sha256_of(b"");
    let expected = Recipe {
        package: Package {
            name: name("hello"),
            version: Version::parse("1.0.0-rc.1+build.5").unwrap(),
            summary: Some("Prints a greeting".into()),
            license: Some("MIT OR Apache-2.0".into()),
            homepage: Some("https://example.org/hello".into()),
            platforms: vec![
                "linux/amd64".parse().unwrap(),
                "linux/arm64".parse().unwrap(),
            ],
        },
        sources: vec![
            Source {
                kind: SourceKind::Path {
                    path: PathBuf::from("patches"),
                    sha256: None,
                },
                dest: PathBuf::from("patches"),
            },
            Source {
                kind: SourceKind::Url {
                    url: "https://example.org/hello-1.0.tar.gz".into(),
                    sha256: empty.clone(),
                    strip: 2,
                    extract: true,
                    size: Some(1_048_576),
                },
                dest: PathBuf::from("."),
            },
            Source {
                kind: SourceKind::Url {
                    url: "file:///srv/mirror/hello.sh".into(),
                    sha256: empty,
                    strip: 1,
                    extract: false,
                    size: None,
                },
                dest: PathBuf::from("bin"),
            },
            Source {
                kind: SourceKind::Git {
                    url: "https://example.org/greet-data.git".into(),
                    commit: "4f2a9c1e".repeat(5),
                },
                dest: PathBuf::from("vendor/greet-data"),
            },
        ],
        dependencies: BTreeMap::from([
            (name("libgreet"), req("^1.0")),
            (name("python3.12"), req(">=3.12.1, <3.13")),
        ]),
        build_dependencies: BTreeMap::from([(name("cmake"), req(">=3.20, <4"))]),
        build_script: "cc -o \"$PREFIX/bin/hello\" hello.c -lgreet\n".into(),
        test_script: Some("hello | grep -q Hello".into()),
        env: vec![
            var("PYTHONPATH", "{prefix}/lib/python", EnvAction::Prepend),
            var("GREET_DATA", "{prefix}/share/greet", EnvAction::Set),
            var("MANPATH", "{prefix}/share/man", EnvAction::Append),
            var("GREET_STYLE", "${HOME}/.greet", EnvAction::Set),
        ],
        update: None,
    };
    assert_eq!(recipe, expected);
}

#[test]
fn minimal_recipe_takes_the_defaults() {
    let text = r#"
[package]
name = "hello"
version = "1.0.0"

[build]
script = "true"
"#;
    let recipe = Recipe::from_str(text, Path::new("paks.toml")).unwrap();
    assert!(recipe.package.summary.is_none());
    assert!(recipe.package.platforms.is_empty());
    assert!(recipe.sources.is_empty());
    assert!(recipe.dependencies.is_empty() && recipe.build_dependencies.is_empty());
    assert!(recipe.test_script.is_none());
    assert!(recipe.env.is_empty());
}

#[test]
fn path_source_with_digest_and_dotted_keys() {
    // Dotted keys and inline tables are the same TOML as headers; all are accepted.
    let text = r#"
package = { name = "hello", version = "1.0.0" }
build.script = "true"
source = [{ path = ".", sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" }]
"#;
    let recipe = Recipe::from_str(text, Path::new("paks.toml")).unwrap();
    assert_eq!(
        recipe.sources,
        vec![Source {
            kind: SourceKind::Path {
                path: PathBuf::from("."),
                sha256: Some(Digest::sha256_of(b"")),
            },
            dest: PathBuf::from("."),
        }]
    );
}

#[test]
fn supports_listed_platforms_and_their_variants() {
    let mut recipe = Recipe::from_str(FULL, Path::new("paks.toml")).unwrap();
    let platform = |s: &str| s.parse::<Platform>().unwrap();
    assert!(recipe.supports(&platform("linux/amd64")));
    assert!(recipe.supports(&platform("linux/arm64/v8")));
    assert!(!recipe.supports(&platform("linux/ppc64le")));
    recipe.package.platforms.clear();
    assert!(recipe.supports(&platform("linux/ppc64le")));
}

#[test]
fn from_file_reads_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("paks-recipe-test-{}", std::process::id()));
    fs_err::create_dir_all(&dir).unwrap();
    let path = dir.join("paks.toml");
    fs_err::write(&path, FULL).unwrap();
    let recipe = Recipe::from_file(&path).unwrap();
    assert_eq!(recipe.package.name.as_str(), "hello");

    fs_err::write(&path, FULL.replace("1.0.0-rc.1+build.5", "one")).unwrap();
    let err = Recipe::from_file(&path).unwrap_err();
    let invalid = err.as_invalid().unwrap();
    assert_eq!(invalid.file(), path);
    assert_eq!((invalid.line(), invalid.column()), (4, 11));
    assert_eq!(invalid.line_text(), "version = \"one\"");
    fs_err::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_repository_examples_parse() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in fs_err::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path().join("paks.toml");
        if path.is_file() {
            Recipe::from_file(&path).unwrap_or_else(|err| panic!("{err}"));
            seen += 1;
        }
    }
    assert!(seen > 0, "no recipes under {}", examples.display());
}

#[test]
fn the_documented_example_parses() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/recipe-format.md");
    let doc = fs_err::read_to_string(doc).unwrap();
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    let recipe = Recipe::from_str(example, Path::new("docs/recipe-format.md")).unwrap();
    assert_eq!(recipe.sources.len(), 3);
    assert_eq!(recipe.env.len(), 3);
}
