//! `paks build` with dependencies fetched as spack does: a recipe dependency that no
//! installed build satisfies is resolved from the configured repositories, installed (as
//! a dependency, not explicitly), and the build runs again.

use std::collections::BTreeSet;

use paks_build::{BuildError, BuildOptions, BuildOutput, RecipeLocation};
use paks_store::Store;

use crate::Failure;
use crate::commands::{Ctx, failure};

/// Build `location`, fetching each missing dependency once from the repositories; with
/// none configured (or the dependency not in them), the build's own error stands.
pub fn build(
    ctx: &Ctx,
    store: &Store,
    location: &RecipeLocation,
    options: &BuildOptions,
) -> Result<BuildOutput, Failure> {
    let mut fetched = BTreeSet::new();
    loop {
        let missing = match paks_build::build(location, store, options, &ctx.reporter) {
            Ok(built) => return Ok(built),
            Err(e) => e,
        };
        let BuildError::MissingDependency { name, req, .. } = &missing else {
            return Err(failure(missing));
        };
        let (name, req) = (name.clone(), req.clone());
        let configured = crate::repos::RepoConfig::load(&ctx.root)?;
        if configured.repositories.is_empty() || !fetched.insert(name.clone()) {
            return Err(failure(missing));
        }
        // `NAME@REQ` as `paks install` reads it (no spaces in `>=1, <2`).
        let spec = format!("{name}@{}", req.to_string().replace(' ', ""));
        ctx.reporter.status(&format!(
            "Fetching the dependency `{name} {req}` from the repositories"
        ));
        let todo = match crate::catalog::install_by_name(ctx, store, &[spec], false, None) {
            Ok(todo) => todo,
            Err(fetch) => {
                let mut f = failure(missing);
                f.hint = Some(format!(
                    "the configured repositories do not have it either ({}); build or install `{name}` first",
                    fetch.error
                ));
                return Err(f);
            }
        };
        let items = todo
            .items
            .into_iter()
            .map(|mut i| {
                i.explicit = false;
                i
            })
            .collect();
        store
            .install(items, ctx.jobs, &ctx.reporter)
            .map_err(failure)?;
    }
}
