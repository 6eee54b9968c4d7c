//! Recipe builds.
//!
//! `build` reads a recipe, resolves its dependencies from the local store, computes the
//! package id from every input, fetches and verifies the sources, runs the build and test
//! scripts in a bubblewrap sandbox where the package's own prefix is its canonical store
//! path, makes the result relocatable, writes a reproducible `.pak`, and installs it.

mod error;
mod fetch;
mod needs;
mod package;
mod provenance;
mod sandbox;
mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;

use paks_archive::Compression;
use paks_recipe::Recipe;
use paks_store::{InstallRequest, Record, Store};
use paks_types::{
    CANONICAL_STORE, Digest, PackageId, PackageName, Platform, Reporter, VersionReq, id_hash,
};

pub use error::BuildError;
pub use fetch::{SourceLimits, digest_url, remove_leftovers as remove_source_leftovers};
pub use provenance::provenance_path;
pub use sandbox::tail_lines;
pub use source::{RecipeLocation, hash_tree};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Where the `.pak` and the build log go.
    pub out_dir: PathBuf,
    /// Parallel jobs the scripts are told to use (`$PAKS_JOBS`).
    pub jobs: usize,
    /// Copy the build log to stderr as it is written.
    pub echo_log: bool,
    /// Run the recipe's test script.
    pub run_tests: bool,
    /// Layer compression.
    pub compression: Compression,
    /// Install the built package into the store.
    pub install: bool,
    /// How far URL source downloads may go.
    pub source_limits: SourceLimits,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub id: PackageId,
    pub pak: PathBuf,
    pub log: PathBuf,
    pub manifest_digest: Digest,
    /// The recipe's sources, as it pins them (for the SBOM).
    pub sources: Vec<paks_recipe::Source>,
    /// The unsigned provenance statement beside the archive (`X.provenance.json`).
    pub provenance: PathBuf,
    /// Files whose RUNPATH could not be made relative (they are relocated at install).
    pub runpath_unchanged: Vec<(String, String)>,
}

/// The version of the build procedure, part of every id: a change to what the builder
/// does to outputs changes the ids.
const BUILDER_VERSION: &str = "paks-build/1";

/// Build the recipe at `location`.
pub fn build(
    location: &RecipeLocation,
    store: &Store,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildOutput, BuildError> {
    let started = std::time::SystemTime::now();
    let scratch = Scratch::new(store)?;
    let (recipe_dir, origin) = locate(location, &scratch, reporter)?;
    let recipe = Recipe::from_file(&recipe_dir.join(paks_recipe::RECIPE_FILE))?;
    let host = Platform::host();
    if !recipe.supports(&host) {
        return Err(BuildError::UnsupportedPlatform {
            name: recipe.package.name.clone(),
            host,
            supported: recipe.package.platforms.clone(),
        });
    }
    let deps = Dependencies::resolve(store, &recipe)?;
    let tree = hash_tree(&recipe_dir)?;
    let inputs = deps.inputs(&recipe, &tree, &host);
    let id = PackageId::new(
        id_hash(inputs.as_bytes()),
        recipe.package.name.clone(),
        recipe.package.version.clone(),
    )
    .expect("a fresh hash is valid");
    let canonical_prefix = format!("{CANONICAL_STORE}/{id}");
    reporter.info(&format!("building `{id}`"));

    fs_err::create_dir_all(&options.out_dir)?;
    let out_dir = std::path::absolute(&options.out_dir)?;
    let log = start_log(&out_dir, &id, &inputs)?;

    let (work, prefix) = materialize_sources(store, &scratch, &recipe, &recipe_dir, options)?;
    let dep_mounts = dependency_mounts(store, &deps.closure);
    let overlays = canonical_overlays(store, &deps.closure, &scratch.path.join("canonical"))?;
    let env = build_env(&canonical_prefix, &deps.closure, options.jobs);
    let mut sandbox = sandbox::Sandbox {
        work: &work,
        recipe: Some(&recipe_dir),
        prefix: (&prefix, canonical_prefix.clone()),
        prefix_writable: true,
        deps: &dep_mounts,
        overlays: &overlays,
        env: &env,
        output: None,
    };
    let name = &recipe.package.name;
    run_stage(
        &sandbox,
        name,
        "build",
        &recipe.build_script,
        &log,
        options,
        reporter,
    )?;
    let local_store = store.store_dir().to_string_lossy().into_owned();
    let post = package::postprocess(&prefix, &canonical_prefix, &local_store, name)?;
    if let Some(test) = recipe.test_script.as_ref().filter(|_| options.run_tests) {
        sandbox.prefix_writable = false;
        run_stage(&sandbox, name, "test", test, &log, options, reporter)?;
    }

    let (pak, manifest_digest) = package::write(&package::PackageInputs {
        recipe: &recipe,
        id: &id,
        platform: &host,
        prefix: &prefix,
        run_deps: &deps.run,
        relocation: post.relocation,
        origin: origin.as_ref(),
        out_dir: &out_dir,
        scratch: &scratch.path,
        compression: options.compression,
    })?;
    let facts = provenance::Facts {
        recipe: &recipe,
        recipe_dir: &recipe_dir,
        origin: origin.as_ref(),
        tree: &tree,
        platform: &host,
        deps: &deps,
        options,
        started,
    };
    let provenance = provenance::write(&facts, &id, &manifest_digest, &pak)?;
    if options.install {
        install_built(store, &pak, reporter)?;
    }
    Ok(BuildOutput {
        id,
        pak,
        log,
        manifest_digest,
        sources: recipe.sources.clone(),
        provenance,
        runpath_unchanged: post.runpath_unchanged,
    })
}

/// The build's `work` directory holding the recipe's sources, and its empty `prefix`.
fn materialize_sources(
    store: &Store,
    scratch: &Scratch,
    recipe: &Recipe,
    recipe_dir: &std::path::Path,
    options: &BuildOptions,
) -> Result<(PathBuf, PathBuf), BuildError> {
    let work = scratch.path.join("work");
    let prefix = scratch.path.join("prefix");
    fs_err::create_dir_all(&work)?;
    fs_err::create_dir_all(&prefix)?;
    let cache = store.cache_dir().join("sources");
    for s in &recipe.sources {
        source::materialize(s, recipe_dir, &work, &cache, &options.source_limits)?;
    }
    Ok((work, prefix))
}

/// Install the `.pak` just built, explicitly.
fn install_built(
    store: &Store,
    pak: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    let request = InstallRequest {
        pak: pak.to_path_buf(),
        explicit: true,
    };
    store.install_paks(&[request], 1, reporter)?;
    Ok(())
}

/// The build log, `NAME-VERSION.log` in `out_dir`, started with the build's inputs.
fn start_log(
    out_dir: &std::path::Path,
    id: &PackageId,
    inputs: &str,
) -> Result<PathBuf, BuildError> {
    let log = out_dir.join(format!("{}-{}.log", id.name(), id.version()));
    fs_err::write(&log, format!("# paks build of {id}\n# inputs:\n{inputs}"))?;
    Ok(log)
}

/// The sandbox sees each dependency at its canonical path, as it is there.
fn dependency_mounts(store: &Store, closure: &[Record]) -> Vec<(PathBuf, String)> {
    closure
        .iter()
        .map(|r| {
            (
                store.prefix(r.id()),
                format!("{CANONICAL_STORE}/{}", r.id()),
            )
        })
        .collect()
}

/// An installed build's test script to run (`paks test`).
#[derive(Debug, Clone)]
pub struct InstalledTest<'a> {
    /// The build, installed in `store` with its dependencies.
    pub id: &'a PackageId,
    /// The script (`sh -eu -c`), from the build's metadata.
    pub script: &'a str,
    /// A directory the script may write reports into, as `$PAKS_TEST_OUTPUT`.
    pub output_dir: &'a std::path::Path,
    /// Where the script's output goes (appended).
    pub log: &'a std::path::Path,
    /// Parallel jobs the script is told to use (`$PAKS_JOBS`).
    pub jobs: usize,
    /// Copy the output to stderr as it is written.
    pub echo: bool,
}

/// Where `$PAKS_TEST_OUTPUT` is inside the sandbox.
pub const TEST_OUTPUT_DIR: &str = "/paks-test-output";

/// Run an installed build's test script in the build sandbox as its test stage sees it
/// (no network; the build and its dependencies read-only at their canonical paths, as
/// `/opt/paks` would hold them), but with an empty `/build` and no recipe: the script
/// tests what was shipped, not the build tree. Returns the script's exit status.
pub fn test_installed(
    store: &Store,
    test: &InstalledTest<'_>,
) -> Result<std::process::ExitStatus, BuildError> {
    let scratch = Scratch::new(store)?;
    let closure = store.closure(std::slice::from_ref(test.id))?;
    let deps: Vec<Record> = closure
        .iter()
        .filter(|r| r.id() != test.id)
        .cloned()
        .collect();
    let mut mounts = dependency_mounts(store, &deps);
    // Binaries rewritten in place name this store's own path: it is there too.
    if !store.is_canonical() {
        let dir = store.store_dir();
        mounts.insert(0, (dir.clone(), dir.to_string_lossy().into_owned()));
    }
    let overlays = canonical_overlays(store, &closure, &scratch.path.join("canonical"))?;
    let canonical_prefix = format!("{CANONICAL_STORE}/{}", test.id);
    let mut env = build_env(&canonical_prefix, &deps, test.jobs);
    env.push(("PAKS_TEST_OUTPUT".to_owned(), TEST_OUTPUT_DIR.to_owned()));
    let work = scratch.path.join("work");
    fs_err::create_dir_all(&work)?;
    let own = store.prefix(test.id);
    let sandbox = sandbox::Sandbox {
        work: &work,
        recipe: None,
        prefix: (&own, canonical_prefix),
        prefix_writable: false,
        deps: &mounts,
        overlays: &overlays,
        env: &env,
        output: Some((test.output_dir, TEST_OUTPUT_DIR)),
    };
    sandbox.run_status(test.script, test.log, test.echo)
}

/// The recipe directory: as given, or a checkout of the repository (with its origin).
fn locate(
    location: &RecipeLocation,
    scratch: &Scratch,
    reporter: &dyn Reporter,
) -> Result<(PathBuf, Option<(String, String)>), BuildError> {
    let (dir, origin) = match location {
        RecipeLocation::Dir(dir) => (std::path::absolute(dir)?, None),
        RecipeLocation::Git { url, rev } => {
            let dir = scratch.path.join("recipe");
            reporter.info(&format!("cloning `{url}`"));
            let commit = source::git_checkout(url, rev.as_deref(), &dir)?;
            (dir, Some((url.clone(), commit)))
        }
    };
    if !dir.join(paks_recipe::RECIPE_FILE).is_file() {
        return Err(BuildError::NoRecipe { dir });
    }
    Ok((dir, origin))
}

/// Run one script in the sandbox; a failure carries the end of the log.
fn run_stage(
    sandbox: &sandbox::Sandbox<'_>,
    name: &PackageName,
    stage: &'static str,
    script: &str,
    log: &std::path::Path,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    let task = reporter.start(&format!("{stage} {name}"), 0);
    let status = sandbox.run(script, log, options.echo_log)?;
    reporter.finish(task);
    status.map_err(|status| BuildError::Script {
        name: name.clone(),
        stage,
        status,
        log: log.to_path_buf(),
        tail: sandbox::tail(log, 20),
    })
}

/// The installed builds a recipe's dependencies resolve to.
struct Dependencies {
    run: Vec<(Record, VersionReq)>,
    build: Vec<Record>,
    /// Both, with everything they depend on, dependencies first.
    closure: Vec<Record>,
}

impl Dependencies {
    /// The newest installed build that satisfies each requirement.
    fn resolve(store: &Store, recipe: &Recipe) -> Result<Self, BuildError> {
        let installed = store.installed()?;
        let mut run = Vec::new();
        for (name, req) in &recipe.dependencies {
            run.push((pick(&installed, name, req)?, req.clone()));
        }
        let mut build = Vec::new();
        for (name, req) in &recipe.build_dependencies {
            build.push(pick(&installed, name, req)?);
        }
        let direct: Vec<PackageId> = run
            .iter()
            .map(|(r, _)| r.id().clone())
            .chain(build.iter().map(|r| r.id().clone()))
            .collect();
        let closure = store.closure(&direct)?;
        Ok(Self {
            run,
            build,
            closure,
        })
    }

    /// Every input of the build, in a fixed order: what the id hashes.
    fn inputs(&self, recipe: &Recipe, tree: &Digest, host: &Platform) -> String {
        use std::fmt::Write as _;
        let mut inputs = String::new();
        let _ = writeln!(
            inputs,
            "{BUILDER_VERSION}\nrecipe-tree {tree}\nplatform {host}"
        );
        for s in &recipe.sources {
            let _ = writeln!(
                inputs,
                "source {} -> {}",
                source::source_identity(s),
                s.dest.display()
            );
        }
        for (r, req) in &self.run {
            let _ = writeln!(inputs, "dep {} {req} {}", r.meta.name, r.id());
        }
        for r in &self.build {
            let _ = writeln!(inputs, "build-dep {} {}", r.meta.name, r.id());
        }
        inputs
    }
}

/// Installed at another root, a dependency's text files name that root. The build must
/// see them as they are at the canonical root, or its output would depend on where the
/// builder's store is: write canonical copies to lay over them in the sandbox.
fn canonical_overlays(
    store: &Store,
    closure: &[Record],
    dir: &std::path::Path,
) -> Result<Vec<(PathBuf, String)>, BuildError> {
    let local_store = store.store_dir().to_string_lossy().into_owned();
    let mut overlays = Vec::new();
    if store.is_canonical() {
        return Ok(overlays);
    }
    for record in closure {
        let text = &record.meta.relocation.text;
        if text.is_empty() {
            continue;
        }
        let copy = dir.join(record.id().to_string());
        for rel in text {
            let target = copy.join(rel);
            fs_err::create_dir_all(target.parent().expect("below the copy"))?;
            fs_err::copy(store.prefix(record.id()).join(rel), &target)?;
            overlays.push((target, format!("{CANONICAL_STORE}/{}/{rel}", record.id())));
        }
        let only_text = paks_types::Relocation {
            text: text.clone(),
            binary: vec![],
        };
        paks_relocate::canonicalize_text(&copy, &only_text, &local_store, CANONICAL_STORE)?;
    }
    Ok(overlays)
}

/// The newest installed build of `name` satisfying `req`.
fn pick(installed: &[Record], name: &PackageName, req: &VersionReq) -> Result<Record, BuildError> {
    let candidates: Vec<&Record> = installed.iter().filter(|r| &r.meta.name == name).collect();
    candidates
        .iter()
        .filter(|r| req.matches(&r.meta.version))
        .max_by(|a, b| {
            (&a.meta.version, a.explicit, a.installed_at).cmp(&(
                &b.meta.version,
                b.explicit,
                b.installed_at,
            ))
        })
        .map(|r| (*r).clone())
        .ok_or_else(|| BuildError::MissingDependency {
            name: name.clone(),
            req: req.clone(),
            available: candidates.iter().map(|r| r.meta.version.clone()).collect(),
        })
}

/// The sandbox's environment: fixed locale and time, the dependencies on every search
/// path, and the package's own `lib` in RUNPATH (it also leaves room to make RUNPATHs
/// relative in place afterwards).
fn build_env(prefix: &str, closure: &[Record], jobs: usize) -> Vec<(String, String)> {
    let dep_prefixes: Vec<String> = closure
        .iter()
        .rev()
        .map(|r| format!("{CANONICAL_STORE}/{}", r.id()))
        .collect();
    let join = |suffixes: &[&str]| -> String {
        dep_prefixes
            .iter()
            .flat_map(|p| suffixes.iter().map(move |s| format!("{p}/{s}")))
            .collect::<Vec<_>>()
            .join(":")
    };
    let with = |paths: String, tail: &str| match (paths.is_empty(), tail.is_empty()) {
        (true, _) => tail.to_owned(),
        (false, true) => paths,
        (false, false) => format!("{paths}:{tail}"),
    };
    let mut ldflags = vec![format!("-Wl,-rpath,{prefix}/lib")];
    for p in &dep_prefixes {
        ldflags.push(format!("-L{p}/lib -Wl,-rpath,{p}/lib"));
    }
    let mut vars = BTreeMap::from([
        ("PREFIX".to_owned(), prefix.to_owned()),
        ("PAKS_JOBS".to_owned(), jobs.max(1).to_string()),
        (
            "PATH".to_owned(),
            with(
                join(&["bin"]),
                "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            ),
        ),
        ("HOME".to_owned(), "/tmp".to_owned()),
        ("TMPDIR".to_owned(), "/tmp".to_owned()),
        ("LC_ALL".to_owned(), "C".to_owned()),
        ("TZ".to_owned(), "UTC".to_owned()),
        ("SOURCE_DATE_EPOCH".to_owned(), "0".to_owned()),
        ("RECIPE_DIR".to_owned(), "/recipe".to_owned()),
        ("LDFLAGS".to_owned(), ldflags.join(" ")),
        ("CPATH".to_owned(), join(&["include"])),
        ("LIBRARY_PATH".to_owned(), join(&["lib"])),
        (
            "PKG_CONFIG_PATH".to_owned(),
            join(&["lib/pkgconfig", "share/pkgconfig"]),
        ),
    ]);
    vars.retain(|_, v| !v.is_empty());
    // The tests run with the package itself on PATH.
    let path = vars.get("PATH").cloned().unwrap_or_default();
    vars.insert("PATH".to_owned(), format!("{prefix}/bin:{path}"));
    vars.into_iter().collect()
}

/// A scratch directory in the store's filesystem, removed on drop.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(store: &Store) -> Result<Self, BuildError> {
        let base = store.root().join("tmp");
        fs_err::create_dir_all(&base)?;
        let path = paks_types::fs::temp_sibling(&base.join("build"), "scratch");
        fs_err::create_dir(&path)?;
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
