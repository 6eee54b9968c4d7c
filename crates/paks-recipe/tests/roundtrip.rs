//! Properties of the parser over generated input.

use std::path::Path;

use paks_recipe::{Recipe, RecipeError};
use paks_types::{PackageName, Version};
use proptest::prelude::*;

/// Valid package names: see `paks_types::PackageName`.
fn package_name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._+-]{0,63}"
}

/// Valid semver versions, with optional pre-release and build metadata.
fn version() -> impl Strategy<Value = String> {
    let identifier = prop_oneof![
        "[a-z][a-z0-9-]{0,7}",
        (0u64..1000).prop_map(|n| n.to_string())
    ];
    (
        (0u64..10_000, 0u64..10_000, 0u64..10_000),
        prop::collection::vec(identifier, 0..3),
        prop::option::of("[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,2}"),
    )
        .prop_map(|((major, minor, patch), pre, build)| {
            let mut v = format!("{major}.{minor}.{patch}");
            if !pre.is_empty() {
                v = format!("{v}-{}", pre.join("."));
            }
            if let Some(build) = build {
                v = format!("{v}+{build}");
            }
            v
        })
}

/// A valid recipe using every table, in ASCII so that any byte offset is a char boundary.
const VALID: &str = r#"[package]
name = "hello"
version = "1.0.0"
platforms = ["linux/amd64"]

[[source]]
url = "https://example.org/hello-1.0.tar.gz"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[[source]]
git = "https://example.org/greet.git"
commit = "4f2a9c1e4f2a9c1e4f2a9c1e4f2a9c1e4f2a9c1e"
dest = "greet"

[dependencies]
libgreet = "^1.0"

[build]
script = "make"

[env]
PATH = { prepend = "{prefix}/bin" }
"#;

/// Checks what every refusal promises: a line and column inside the text, and that line.
fn assert_located(text: &str, result: Result<Recipe, RecipeError>) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => {}
        Err(RecipeError::Invalid(err)) => {
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!(err.line() >= 1 && err.line() <= lines.len());
            prop_assert_eq!(
                err.line_text(),
                lines[err.line() - 1].trim_end_matches('\r')
            );
            prop_assert!(err.column() <= err.line_text().chars().count() + 1);
            prop_assert!(err.render_snippet().contains(err.line_text()));
        }
        Err(other) => prop_assert!(false, "unexpected {}", other),
    }
    Ok(())
}

proptest! {
    #[test]
    fn names_and_versions_round_trip(name in package_name(), version in version(), dep in package_name()) {
        prop_assume!(dep != name);
        let exact = version.split('+').next().unwrap();
        let text = format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\n\n\
             [dependencies]\n\"{dep}\" = \"={exact}\"\n\n\
             [build]\nscript = \"true\"\n"
        );
        let recipe = Recipe::from_str(&text, Path::new("paks.toml")).unwrap();
        prop_assert_eq!(recipe.package.name.as_str(), name.as_str());
        prop_assert_eq!(&recipe.package.version, &Version::parse(&version).unwrap());
        prop_assert_eq!(recipe.package.version.to_string(), version.clone());
        let dep = PackageName::new(&dep).unwrap();
        let req = &recipe.dependencies[&dep];
        prop_assert!(req.matches(&recipe.package.version));
    }

    #[test]
    fn any_text_is_refused_with_a_location_inside_it(text in "(\\PC|\n){0,200}") {
        assert_located(&text, Recipe::from_str(&text, Path::new("paks.toml")))?;
    }

    #[test]
    fn edited_recipes_are_refused_with_a_location_inside_them(
        at in 0..VALID.len(),
        cut in 0usize..6,
        insert in "[a-z\"=.\\[\\]{}/ \n-]{0,4}",
    ) {
        let end = (at + cut).min(VALID.len());
        let text = format!("{}{insert}{}", &VALID[..at], &VALID[end..]);
        assert_located(&text, Recipe::from_str(&text, Path::new("paks.toml")))?;
    }

    #[test]
    fn mangled_versions_are_refused_at_the_version(version in "[0-9.a-z-]{0,12}") {
        prop_assume!(Version::parse(&version).is_err());
        let text = format!("[package]\nname = \"x\"\nversion = \"{version}\"\n[build]\nscript = \"true\"\n");
        let err = Recipe::from_str(&text, Path::new("paks.toml")).unwrap_err();
        let err = err.as_invalid().unwrap();
        prop_assert_eq!((err.line(), err.column(), err.field()), (3, 11, "package.version"));
    }
}

#[test]
fn the_recipe_that_is_edited_is_valid() {
    Recipe::from_str(VALID, Path::new("paks.toml")).unwrap();
}
