//! The build's provenance: the facts the builder saw, written as an unsigned SLSA
//! Provenance v1 statement beside the `.pak` (`X.provenance.json`), for `paks push --sign`
//! to sign.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use paks_attest::provenance::{BuildFacts, DependencyFacts, DependencyKind, RecipeOrigin};
use paks_recipe::Recipe;
use paks_types::{Digest, PackageId, Platform};

use crate::{BuildError, BuildOptions, Dependencies};

/// What the build knew before it ran, completed when it is done.
pub(crate) struct Facts<'a> {
    pub recipe: &'a Recipe,
    pub recipe_dir: &'a Path,
    pub origin: Option<&'a (String, String)>,
    pub tree: &'a Digest,
    pub platform: &'a Platform,
    pub deps: &'a Dependencies,
    pub options: &'a BuildOptions,
    pub started: SystemTime,
}

/// The provenance file of the archive `pak`: `X.provenance.json` for `X.pak`.
pub fn provenance_path(pak: &Path) -> PathBuf {
    pak.with_extension("provenance.json")
}

/// Write the provenance statement of the build `id` (manifest `manifest`, archive `pak`).
pub(crate) fn write(
    facts: &Facts<'_>,
    id: &PackageId,
    manifest: &Digest,
    pak: &Path,
) -> Result<PathBuf, BuildError> {
    let deps = facts.deps;
    let direct = |r: &paks_store::Record, kind| DependencyFacts {
        id: r.id().clone(),
        manifest: r.manifest.clone(),
        kind,
    };
    let mut dependencies: Vec<DependencyFacts> = deps
        .run
        .iter()
        .map(|(r, _)| direct(r, DependencyKind::Run))
        .chain(deps.build.iter().map(|r| direct(r, DependencyKind::Build)))
        .collect();
    for r in &deps.closure {
        if !dependencies.iter().any(|d| &d.id == r.id()) {
            dependencies.push(direct(r, DependencyKind::Indirect));
        }
    }
    let build = BuildFacts {
        recipe: match facts.origin {
            Some((url, commit)) => RecipeOrigin::Git {
                url: url.clone(),
                commit: commit.clone(),
            },
            None => RecipeOrigin::Directory(facts.recipe_dir.to_path_buf()),
        },
        recipe_file: Digest::sha256_of(&fs_err::read(
            facts.recipe_dir.join(paks_recipe::RECIPE_FILE),
        )?),
        recipe_tree: facts.tree.clone(),
        platform: facts.platform.to_string(),
        sources: facts.recipe.sources.clone(),
        dependencies,
        compression: compression(facts.options.compression),
        jobs: facts.options.jobs.max(1),
        tests_ran: facts.options.run_tests && facts.recipe.test_script.is_some(),
        started: facts.started,
        finished: SystemTime::now(),
    };
    let statement = paks_attest::provenance::statement(id, manifest, &build);
    let path = provenance_path(pak);
    let mut bytes = serde_json::to_vec_pretty(&statement).expect("a statement serialises");
    bytes.push(b'\n');
    paks_types::fs::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// The compression and its level, as the provenance records it (`gzip-6`, `zstd-3`).
fn compression(c: paks_archive::Compression) -> String {
    match c {
        paks_archive::Compression::None => "none".to_owned(),
        paks_archive::Compression::Gzip { level } => format!("gzip-{level}"),
        paks_archive::Compression::Zstd { level } => format!("zstd-{level}"),
    }
}
