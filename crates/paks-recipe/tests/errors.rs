//! One scenario per rule of the format: a recipe that breaks it, and exactly what the user
//! is told (line, column, field, message).

use std::path::Path;

use paks_recipe::{InvalidRecipe, Recipe, RecipeError};

/// Parses `text` as `examples/hello/paks.toml`, expecting it to be refused.
fn refuse(text: &str) -> Box<InvalidRecipe> {
    match Recipe::from_str(text, Path::new("examples/hello/paks.toml")) {
        Ok(recipe) => panic!("accepted: {recipe:#?}"),
        Err(RecipeError::Invalid(err)) => err,
        Err(other) => panic!("not an invalid recipe: {other}"),
    }
}

/// `(line, column, field)`, the parts that tests compare exactly.
fn at(err: &InvalidRecipe) -> (usize, usize, &str) {
    (err.line(), err.column(), err.field())
}

#[test]
fn missing_name() {
    let err = refuse(
        r#"[package]
version = "1.0.0"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (1, 1, "package.name"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 1, column 1: `package.name`: required key is missing");
    insta::assert_snapshot!(err.render_snippet(), @r#"
     --> examples/hello/paks.toml:1:1
      |
    1 | [package]
      | ^^^^^^^^^
    "#);
}

#[test]
fn bad_name() {
    let err = refuse(
        r#"[package]
name = "Hello"
version = "1.0.0"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (2, 8, "package.name"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 2, column 8: `package.name`: `Hello` is not a valid package name: it must start with a lower-case letter or a digit");
}

#[test]
fn bad_version() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (3, 11, "package.version"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 3, column 11: `package.version`: `1.0` is not a semver version (expected e.g. `1.0.0`)");
    insta::assert_snapshot!(err.render_snippet(), @r#"
     --> examples/hello/paks.toml:3:11
      |
    3 | version = "1.0"
      |           ^^^^^
    "#);
    // The parser's own words are kept as the cause, for the CLI's `Caused by:` line.
    let cause = std::error::Error::source(&*err).map(ToString::to_string);
    insta::assert_snapshot!(cause.unwrap(), @"unexpected end of input while parsing minor version number");
}

#[test]
fn bad_requirement() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build-dependencies]
cmake = ">=3.20,, <4"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (6, 9, "build-dependencies.cmake"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 6, column 9: `build-dependencies.cmake`: `>=3.20,, <4` is not a version requirement (expected e.g. `^1.2` or `>=1.0, <2`)");
}

#[test]
fn bad_dependency_name() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[dependencies]
"Greet" = "^1"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (6, 1, "dependencies.Greet"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 6, column 1: `dependencies.Greet`: `Greet` is not a valid package name: it must start with a lower-case letter or a digit");
}

#[test]
fn unknown_key_with_suggestion() {
    let err = refuse(
        r#"[package]
name = "hello"
verison = "1.0.0"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (3, 1, "package.verison"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 3, column 1: `package.verison`: unknown key `verison`, did you mean `version`?");
    insta::assert_snapshot!(err.render_snippet(), @r#"
     --> examples/hello/paks.toml:3:1
      |
    3 | verison = "1.0.0"
      | ^^^^^^^
    "#);
}

#[test]
fn unknown_table_with_suggestion() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build_dependencies]
cmake = "^3"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (5, 2, "build_dependencies"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 5, column 2: `build_dependencies`: unknown key `build_dependencies`, did you mean `build-dependencies`?");
}

#[test]
fn unknown_key_without_suggestion() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
path = "src"
mirror = "https://example.org"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (7, 1, "source[0].mirror"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 7, column 1: `source[0].mirror`: unknown key `mirror` (expected `path`, `url`, `git`, `sha256`, `strip`, `extract`, `size`, `commit` or `dest`)");
}

#[test]
fn source_with_two_kinds() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
path = "src"

[[source]]
url = "https://example.org/hello-1.0.tar.gz"
git = "https://example.org/hello.git"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (10, 1, "source[1].git"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 10, column 1: `source[1].git`: a source has exactly one of `path`, `url` or `git`, and this one already has `url`");
}

#[test]
fn source_without_kind() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
dest = "vendor"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (5, 1, "source[0]"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 5, column 1: `source[0]`: a source needs one of `path`, `url` or `git`");
}

#[test]
fn url_without_sha256() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
url = "https://example.org/hello-1.0.tar.gz"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (5, 1, "source[0].sha256"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 5, column 1: `source[0].sha256`: required for a `url` source: the download is checked against it");
    insta::assert_snapshot!(err.render_snippet(), @r#"
     --> examples/hello/paks.toml:5:1
      |
    5 | [[source]]
      | ^^^^^^^^^^
    "#);
}

#[test]
fn bad_sha256() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
url = "https://example.org/hello-1.0.tar.gz"
sha256 = "d41d8cd98f00b204e9800998ecf8427e"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (7, 10, "source[0].sha256"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 7, column 10: `source[0].sha256`: `d41d8cd98f00b204e9800998ecf8427e` is not a sha256 digest (expected 64 hex digits)");
}

#[test]
fn git_without_commit() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
git = "https://example.org/hello.git"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (5, 1, "source[0].commit"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 5, column 1: `source[0].commit`: required for a `git` source: the full commit id to check out");
}

#[test]
fn short_commit() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
git = "https://example.org/hello.git"
commit = "4f2a9c1"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (7, 10, "source[0].commit"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 7, column 10: `source[0].commit`: `4f2a9c1` is not a full commit id (expected 40 or 64 hex digits; branches, tags and abbreviated ids are not accepted)");
}

#[test]
fn key_of_another_source_kind() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
git = "https://example.org/hello.git"
commit = "4f2a9c1e4f2a9c1e4f2a9c1e4f2a9c1e4f2a9c1e"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (8, 1, "source[0].sha256"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 8, column 1: `source[0].sha256`: `sha256` only applies to `path` and `url` sources, and this is a `git` source");
}

#[test]
fn strip_without_extract() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
url = "https://example.org/hello.sh"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
extract = false
strip = 0

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (9, 1, "source[0].strip"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 9, column 1: `source[0].strip`: `strip` has no effect with `extract = false`");
}

#[test]
fn zero_or_negative_source_size() {
    for (size, message) in [
        ("0", "`source[0].size`: `size` must be at least 1 byte"),
        (
            "-1",
            "`source[0].size`: `-1` is out of range (expected 0 to 18446744073709551615)",
        ),
        ("\"1k\"", "`source[0].size`: expected a whole number"),
    ] {
        let err = refuse(&format!(
            r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
url = "https://example.org/hello.sh"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
size = {size}

[build]
script = "make"
"#
        ));
        assert_eq!(at(&err).0, 8, "{err}");
        assert!(err.to_string().contains(message), "{err}");
    }
}

#[test]
fn unsupported_url_scheme() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
url = "ftp://example.org/hello-1.0.tar.gz"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (6, 7, "source[0].url"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 6, column 7: `source[0].url`: `ftp://example.org/hello-1.0.tar.gz` is not an http, https or file URL");
}

#[test]
fn absolute_path_source() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
path = "/usr/src/hello"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (6, 8, "source[0].path"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 6, column 8: `source[0].path`: `/usr/src/hello` is absolute; a source path is relative to the recipe directory");
}

#[test]
fn dotdot_escape() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
path = "src/../../secrets"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (6, 8, "source[0].path"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 6, column 8: `source[0].path`: `src/../../secrets` contains `..`; a source path must stay inside the recipe directory");
}

#[test]
fn dest_escape() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[[source]]
path = "src"
dest = "../outside"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (7, 8, "source[0].dest"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 7, column 8: `source[0].dest`: `../outside` contains `..`; `dest` must stay inside the build directory");
}

#[test]
fn sources_must_be_an_array_of_tables() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[source]
path = "src"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (5, 1, "source"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 5, column 1: `source`: expected an array of tables (`[[source]]`), found a table");
}

#[test]
fn bad_platform() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"
platforms = ["linux/amd64", "linux-arm64"]

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (4, 29, "package.platforms[1]"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 4, column 29: `package.platforms[1]`: `linux-arm64` is not a platform: expected `os/architecture[/variant]`, such as `linux/amd64`");
}

#[test]
fn bad_homepage() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"
homepage = "example.org/hello"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (4, 12, "package.homepage"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 4, column 12: `package.homepage`: `example.org/hello` is not an http or https URL");
}

#[test]
fn wrong_type() {
    let err = refuse(
        r#"[package]
name = "hello"
version = 1

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (3, 11, "package.version"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 3, column 11: `package.version`: expected a string, found an integer");
}

#[test]
fn dependency_in_both_tables() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[dependencies]
libgreet = "^1.0"

[build-dependencies]
cmake = ">=3.20, <4"
libgreet = "^1.2"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (10, 1, "build-dependencies.libgreet"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 10, column 1: `build-dependencies.libgreet`: `libgreet` is in both `[dependencies]` and `[build-dependencies]` (see line 6); run dependencies are available at build time too, so list it once");
}

#[test]
fn self_dependency() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[dependencies]
hello = "^1"

[build]
script = "make"
"#,
    );
    assert_eq!(at(&err), (6, 1, "dependencies.hello"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 6, column 1: `dependencies.hello`: a package cannot depend on itself");
}

#[test]
fn bad_env_name() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
GREET_DATA = "{prefix}/share/greet"
"GREET-HOME" = "{prefix}"
"#,
    );
    assert_eq!(at(&err), (10, 1, "env.GREET-HOME"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 10, column 1: `env.GREET-HOME`: `GREET-HOME` is not a valid environment variable name (expected letters, digits and `_`, not starting with a digit)");
}

#[test]
fn set_on_path() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
PATH = "{prefix}/bin"
"#,
    );
    assert_eq!(at(&err), (9, 8, "env.PATH"));
    insta::assert_snapshot!(err.to_string(), @r#"invalid recipe `examples/hello/paks.toml` at line 9, column 8: `env.PATH`: `PATH` is a search path: prepend or append to it instead, e.g. `PATH = { prepend = "{prefix}/bin" }`"#);
}

#[test]
fn explicit_set_on_a_search_path() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
LD_LIBRARY_PATH = { set = "{prefix}/lib" }
"#,
    );
    assert_eq!(at(&err), (9, 19, "env.LD_LIBRARY_PATH"));
    insta::assert_snapshot!(err.to_string(), @r#"invalid recipe `examples/hello/paks.toml` at line 9, column 19: `env.LD_LIBRARY_PATH`: `LD_LIBRARY_PATH` is a search path: prepend or append to it instead, e.g. `LD_LIBRARY_PATH = { prepend = "{prefix}/lib" }`"#);
}

#[test]
fn env_with_two_actions() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
MANPATH = { prepend = "{prefix}/man", append = "{prefix}/share/man" }
"#,
    );
    assert_eq!(at(&err), (9, 11, "env.MANPATH"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 9, column 11: `env.MANPATH`: expected exactly one of `set`, `prepend` or `append`");
}

#[test]
fn env_action_typo() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
PYTHONPATH = { prepand = "{prefix}/lib/python" }
"#,
    );
    assert_eq!(at(&err), (9, 16, "env.PYTHONPATH.prepand"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 9, column 16: `env.PYTHONPATH.prepand`: unknown key `prepand`, did you mean `prepend`?");
}

#[test]
fn env_placeholder_typo() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
GREET_DATA = "{prefx}/share/greet"
"#,
    );
    assert_eq!(at(&err), (9, 14, "env.GREET_DATA"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 9, column 14: `env.GREET_DATA`: unknown placeholder `{prefx}`, did you mean `{prefix}`?");
}

#[test]
fn empty_build_script() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = """
"""
"#,
    );
    assert_eq!(at(&err), (6, 10, "build.script"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 6, column 10: `build.script`: the build script is empty");
    insta::assert_snapshot!(err.render_snippet(), @r#"
     --> examples/hello/paks.toml:6:10
      |
    6 | script = """
      |          ^^^
    "#);
}

#[test]
fn missing_tables() {
    let err = refuse("");
    assert_eq!(at(&err), (1, 1, "package"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 1, column 1: `package`: required table `[package]` is missing");

    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"
"#,
    );
    assert_eq!(at(&err), (1, 1, "build"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 1, column 1: `build`: required table `[build]` is missing");
}

#[test]
fn toml_syntax_error() {
    let err = refuse(
        r#"[package]
name = "hello
version = "1.0.0"
"#,
    );
    assert_eq!(at(&err), (2, 14, ""));
    insta::assert_snapshot!(err.to_string(), @r#"invalid recipe `examples/hello/paks.toml` at line 2, column 14: TOML syntax error: invalid basic string, expected `"`"#);
    insta::assert_snapshot!(err.render_snippet(), @r#"
     --> examples/hello/paks.toml:2:14
      |
    2 | name = "hello
      |              ^
    "#);
}

#[test]
fn duplicate_key_is_a_syntax_error() {
    let err = refuse(
        r#"[package]
name = "hello"
name = "world"
"#,
    );
    assert_eq!(at(&err), (3, 1, ""));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 3, column 1: TOML syntax error: duplicate key");
}

#[test]
fn unreadable_file_names_the_path() {
    let err = Recipe::from_file(Path::new("/nonexistent/paks.toml")).unwrap_err();
    assert!(err.as_invalid().is_none());
    assert!(err.render_snippet().is_none());
    insta::assert_snapshot!(err.to_string(), @"cannot read recipe `/nonexistent/paks.toml`");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    insta::assert_snapshot!(cause.unwrap(), @"failed to open file `/nonexistent/paks.toml`: No such file or directory (os error 2)");
}

#[test]
fn loader_injection_is_refused() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
LD_PRELOAD = { prepend = "{prefix}/lib/evil.so" }
"#,
    );
    assert_eq!(at(&err), (9, 1, "env.LD_PRELOAD"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 9, column 1: `env.LD_PRELOAD`: `LD_PRELOAD`: packages may not export it: it would make every process or shell run code, not only the package's programs");
}

#[test]
fn control_characters_in_env_values_are_refused() {
    let err = refuse(
        r#"[package]
name = "hello"
version = "1.0.0"

[build]
script = "make"

[env]
GREETING = "hi\u001b]0;owned\u0007"
"#,
    );
    assert_eq!(at(&err), (9, 12, "env.GREETING"));
    insta::assert_snapshot!(err.to_string(), @"invalid recipe `examples/hello/paks.toml` at line 9, column 12: `env.GREETING`: the value contains a control character");
}

const UPDATE_BASE: &str =
    "[package]\nname = \"zlib\"\nversion = \"1.3.0\"\n[build]\nscript = \"make\"\n";

#[test]
fn update_section_reads() {
    let text = format!(
        "{UPDATE_BASE}[update]\nstrategy = \"listing\"\nurl = \"https://zlib.net/\"\n\
         regex = 'zlib-(?P<version>[0-9.]+)\\.tar\\.gz'\nversions = \">=1.2, <2\"\n\
         ignore = ['1\\.3\\.9.*']\n"
    );
    let recipe = Recipe::from_str(&text, std::path::Path::new("paks.toml")).unwrap();
    let update = recipe.update.unwrap();
    assert_eq!(update.strategy, Some(paks_recipe::Strategy::Listing));
    assert_eq!(update.url.as_deref(), Some("https://zlib.net/"));
    assert!(!update.prereleases);
    assert_eq!(update.ignore, ["1\\.3\\.9.*"]);
    assert_eq!(update.versions.unwrap().to_string(), ">=1.2, <2");
}

#[test]
fn update_section_refusals() {
    for (section, field, message) in [
        (
            "strategy = \"github\"",
            "update.strategy",
            "`github` is not a strategy",
        ),
        (
            "regex = '(unclosed'",
            "update.regex",
            "is not a regular expression",
        ),
        (
            "strategy = \"json\"\nurl = \"https://x.invalid/\"",
            "update",
            "needs `path`",
        ),
        ("strategy = \"oci-tags\"", "update", "needs `url`"),
        ("path = \"a..b\"", "update.path", "is not a path"),
        (
            "versions = \">=1.2,,\"",
            "update.versions",
            "is not a semver range",
        ),
        ("regexp = 'x'", "update.regexp", "did you mean `regex`"),
    ] {
        let text = format!("{UPDATE_BASE}[update]\n{section}\n");
        let err = match Recipe::from_str(&text, std::path::Path::new("paks.toml")) {
            Err(paks_recipe::RecipeError::Invalid(err)) => err,
            other => panic!("`{section}` should be refused, got {other:?}"),
        };
        assert_eq!(at(&err).2, field, "{section}");
        assert!(err.to_string().contains(message), "{section}: {err}");
    }
}
