//! The `paks.toml` parser on any text: a recipe or an error with a location, never a
//! panic; and what it accepts follows the metadata rules arriving packages are held to.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use paks_recipe::Recipe;
use paks_types::rules;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Recipe::from_str(text, Path::new("paks.toml")) {
        Ok(recipe) => {
            for var in &recipe.env {
                rules::check_env(&var.name, &var.value, var.action)
                    .expect("a recipe's env passes the shared rules");
            }
            for text in [&recipe.package.summary, &recipe.package.license]
                .into_iter()
                .flatten()
            {
                assert_eq!(rules::text_problem(text), None, "{text:?}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
