//! What each command does: parse, call the libraries, print.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use paks_build::{BuildError, BuildOptions, RecipeLocation};
use paks_store::{InstallOutcome, Installable, Store, StoreError, ViewOptions};
use paks_types::{PackageId, PackageMeta, Reporter};
use serde_json::json;

use crate::Failure;
use crate::cli::{
    BuildArgs, Cli, Command, EnvArgs, GcArgs, InfoArgs, InstallArgs, JsonArgs, RecipeCommand,
    RemoveArgs, ViewCommand,
};
use crate::printer::shown;
use crate::report::TermReporter;

/// What the CLI needs from a library error to explain it.
pub(crate) trait Explain: std::error::Error + 'static {
    /// What the user can do about it.
    fn hint(&self) -> Option<String>;
    /// Context to print under the causes.
    fn detail(&self) -> Option<String> {
        None
    }
    /// Whether the machine failed (I/O) rather than the request.
    fn is_io(&self) -> bool;
}

impl Explain for StoreError {
    fn hint(&self) -> Option<String> {
        StoreError::hint(self)
    }
    fn is_io(&self) -> bool {
        StoreError::is_io(self)
    }
}

impl Explain for BuildError {
    fn hint(&self) -> Option<String> {
        BuildError::hint(self)
    }
    fn detail(&self) -> Option<String> {
        BuildError::detail(self)
    }
    fn is_io(&self) -> bool {
        match self {
            BuildError::Io(_) => true,
            BuildError::Store(s) => s.is_io(),
            _ => false,
        }
    }
}

impl Explain for paks_remote::RemoteError {
    fn hint(&self) -> Option<String> {
        paks_remote::RemoteError::hint(self)
    }
    fn is_io(&self) -> bool {
        paks_remote::RemoteError::is_io(self)
    }
}

/// A mistake in what the user asked for, with what to do instead.
pub(crate) fn user_error(message: impl Into<String>, hint: Option<String>) -> Failure {
    Failure {
        error: message.into().into(),
        detail: None,
        hint,
        internal: false,
    }
}

/// A library error as the user sees it.
pub(crate) fn failure(e: impl Explain) -> Failure {
    Failure {
        detail: e.detail(),
        hint: e.hint(),
        internal: e.is_io(),
        error: Box::new(e),
    }
}

/// stdout, for data only.
pub(crate) fn out() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

pub(crate) fn json_line(value: &serde_json::Value) -> std::io::Result<()> {
    writeln!(out(), "{value}")
}

/// What every command needs: where the tree is, how much to do at once, how to report.
pub(crate) struct Ctx {
    pub(crate) root: std::path::PathBuf,
    pub(crate) jobs: usize,
    pub(crate) verbose: bool,
    pub(crate) insecure: Vec<String>,
    /// `--max-retry-wait`, where given.
    pub(crate) max_retry_wait: Option<std::time::Duration>,
    /// `--transfer-deadline`, where given.
    pub(crate) transfer_deadline: Option<std::time::Duration>,
    pub(crate) reporter: TermReporter,
    /// The user configuration (`config.toml`).
    pub(crate) config: crate::config::UserConfig,
    /// `--no-verify`: the repositories' trust policies are reported, not enforced.
    pub(crate) no_verify: bool,
}

impl Ctx {
    /// The install tree, downloading into the user's cache (whose lock it holds shared).
    pub(crate) fn store(&self) -> Result<Store, Failure> {
        let cache = crate::cache::open(self)?;
        Store::open(&self.root)
            .and_then(|s| s.using_cache(&cache))
            .map_err(failure)
    }

    /// The install tree for commands that download nothing (list, info, env, run, remove,
    /// view): the cache is neither made nor locked.
    pub(crate) fn installed_store(&self) -> Result<Store, Failure> {
        let (dir, _) = crate::cache::dir_and_origin(&self.config);
        Ok(Store::open(&self.root)
            .map_err(failure)?
            .with_cache_dir(&dir))
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    let g = &cli.global;
    // A broken user file must not stop `paks config` from showing or mending it.
    let config = match crate::config::load() {
        Ok(c) => c,
        Err(_) if matches!(cli.command, Command::Config(_)) => crate::config::UserConfig {
            path: crate::config::path(),
            ..Default::default()
        },
        Err(e) => return Err(e),
    };
    let mut insecure = config.config.insecure.clone();
    insecure.extend(g.insecure.iter().cloned());
    let jobs = g
        .jobs
        .or(config.config.defaults.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
        .max(1);
    let ctx = Ctx {
        root: g.root.clone().unwrap_or_else(Store::default_root),
        jobs,
        verbose: g.verbose,
        insecure,
        max_retry_wait: g.max_retry_wait.map(std::time::Duration::from_secs),
        transfer_deadline: g.transfer_deadline.map(std::time::Duration::from_secs),
        reporter: TermReporter::new(g.quiet, g.verbose),
        config,
        no_verify: crate::trust::no_verify(&cli.command),
    };
    match cli.command {
        Command::Build(args) => build(&ctx, args),
        Command::Install(args) => install(&ctx, &args),
        Command::Search(args) => crate::catalog::search(&ctx, &args),
        Command::Repo(c) => crate::catalog::repo(&ctx, c),
        Command::IndexCmd(c) => crate::catalog::index(&ctx, c),
        Command::Key(c) => crate::catalog::key(&ctx, c),
        Command::Host(args) => crate::inspect::host(&args),
        Command::Inspect(args) => crate::inspect::inspect(&ctx, &args),
        Command::Compat(args) => crate::inspect::compat(&ctx, &args),
        Command::Label(args) => crate::inspect::label(&ctx, &args),
        Command::Image(crate::cli::ImageCommand::Build(args)) => crate::image::build(&ctx, &args),
        Command::Containerize(args) => crate::image::containerize(&ctx, &args),
        Command::Add(args) => crate::project::add(&ctx, &args),
        Command::Lock(args) => crate::project_cmds::lock_command(&ctx, &args),
        Command::Sync(args) => crate::project::sync_command(&ctx, &args),
        Command::Shell(args) => crate::project::shell(&ctx, &args),
        Command::Push(args) => crate::remote::push(&ctx, &args),
        Command::Pull(args) => crate::remote::pull(&ctx, &args),
        Command::Copy(args) => crate::remote::copy(&ctx, &args),
        Command::Login(args) => crate::remote::login(&ctx, &args),
        Command::Logout(args) => crate::remote::logout(&ctx, &args),
        Command::Run(args) => crate::project_cmds::run(&ctx, &args),
        Command::Env(args) => env(&ctx, &args),
        Command::List(args) => list(&ctx, &args),
        Command::Info(args) => info(&ctx, &args),
        Command::Remove(args) => crate::project_cmds::remove(&ctx, &args),
        Command::Gc(args) => gc(&ctx, &args),
        Command::View(view) => view_command(&ctx, view),
        Command::Serve(args) => crate::serve::serve(args),
        Command::Tree(args) => crate::tree::tree(&ctx, &args),
        Command::Outdated(args) => crate::outdated::outdated(&ctx, &args),
        Command::Config(c) => crate::config::command(&ctx, &c, cli.global.jobs),
        Command::Cache(c) => crate::cache::command(&ctx, &c),
        Command::Completions(args) => crate::completions::completions(&args),
        Command::Man(args) => crate::completions::man(&ctx, &args),
        Command::Import(c) => crate::import::import(&ctx, &c),
        Command::Sysroot(crate::cli::SysrootCommand::Create(args)) => {
            crate::sysroot::create(&ctx, &args)
        }
        Command::Verify(args) => crate::verify::verify(&ctx, &args),
        Command::Sbom(args) => crate::sbom_cmd::sbom(&ctx, &args),
        Command::Audit(args) => crate::audit::audit(&ctx, &args),
        Command::Test(args) => crate::test_cmd::test(&ctx, &args),
        Command::Attach(args) => crate::attach::attach(&ctx, &args),
        Command::Discover(args) => crate::attach::discover(&ctx, &args),
        Command::Recipe(RecipeCommand::Bump(args)) => crate::recipe_cmd::bump(&ctx, &args),
        Command::Update(args) => crate::update_cmd::update(&ctx, &args),
        Command::Dockerfile(c) => crate::dockerfile_cmd::command(&ctx, &c),
    }
}

fn build(ctx: &Ctx, args: BuildArgs) -> Result<(), Failure> {
    let store = ctx.store()?;
    let start = Instant::now();
    let options = BuildOptions {
        out_dir: args.out,
        jobs: ctx.jobs,
        echo_log: ctx.verbose,
        run_tests: !args.no_test,
        compression: match args.compression.as_str() {
            "zstd" => paks_archive::Compression::Zstd { level: 3 },
            "none" => paks_archive::Compression::None,
            _ => paks_archive::Compression::default(),
        },
        install: !args.no_install,
        source_limits: {
            let defaults = paks_build::SourceLimits::default();
            paks_build::SourceLimits {
                max_size: args.max_source_size.unwrap_or(defaults.max_size),
                stall: args
                    .source_stall_timeout
                    .map_or(defaults.stall, |s| std::time::Duration::from_secs(s.max(1))),
            }
        },
    };
    let built =
        crate::build_deps::build(ctx, &store, &RecipeLocation::parse(&args.recipe), &options)?;
    for (file, reason) in &built.runpath_unchanged {
        ctx.reporter.warn(&format!("the RUNPATH of `{file}` stays absolute ({reason}); the package works at `/opt/paks` and at roots no longer than it"));
    }
    let sbom = crate::sbom_files::write_beside(&built.pak, &built.sources)?;
    if args.json {
        json_line(
            &json!({"type": "build", "id": built.id.to_string(), "pak": built.pak, "manifest": built.manifest_digest.to_string(), "log": built.log, "sbom": sbom, "provenance": built.provenance}),
        )?;
    } else {
        writeln!(out(), "{}", built.pak.display())?;
    }
    ctx.reporter.status(&format!(
        "Built {} {} in {}",
        built.id.name(),
        built.id.version(),
        elapsed(start)
    ));
    Ok(())
}

fn install(ctx: &Ctx, args: &InstallArgs) -> Result<(), Failure> {
    let store = ctx.store()?;
    let start = Instant::now();
    let mut items = Vec::new();
    let mut references = Vec::new();
    let mut names = Vec::new();
    for arg in &args.paks {
        let path = Path::new(arg);
        if path.extension().is_some_and(|e| e == "pak") || path.exists() {
            let pak = paks_store::open_pak(path).map_err(failure)?;
            items.push(Installable::from_pak(pak, !args.as_dependency));
        } else if let Some(project) = crate::forge::Project::parse(&ctx.config.config, arg) {
            let found = crate::forge::installables(ctx, &store, &project)?;
            items.extend(found.into_iter().map(|mut i| {
                i.explicit &= !args.as_dependency;
                i
            }));
        } else if arg.contains('/') {
            references.push(crate::remote::parse_reference(arg)?);
        } else {
            names.push(arg.clone());
        }
    }
    let mut audited = 0;
    let mut background = crate::background::Background::new()?;
    if !names.is_empty() {
        let todo = crate::catalog::install_by_name(
            ctx,
            &store,
            &names,
            args.offline,
            Some(&mut background),
        )?;
        audited = todo.already;
        items.extend(todo.items.into_iter().map(|mut i| {
            i.explicit &= !args.as_dependency;
            i
        }));
    }
    if !references.is_empty() {
        let pulled = crate::remote::pull_streaming(ctx, &store, &references, &mut background)?;
        for mut pulled in pulled {
            for p in &mut pulled.packages {
                p.explicit &= !args.as_dependency;
            }
            items.extend(pulled.packages);
        }
    }
    let outcomes = background.finish(
        store
            .install(items, ctx.jobs, &ctx.reporter)
            .map_err(failure),
    )?;
    let installed: Vec<&InstallOutcome> = outcomes
        .iter()
        .filter(|o| matches!(o, InstallOutcome::Installed { .. }))
        .collect();
    if args.json {
        for o in &outcomes {
            let status = if matches!(o, InstallOutcome::Installed { .. }) {
                "installed"
            } else {
                "already-installed"
            };
            json_line(
                &json!({"type": "install", "id": o.id().to_string(), "status": status, "prefix": store.prefix(o.id())}),
            )?;
        }
    }
    let verb = if installed.is_empty() {
        "Audited"
    } else {
        "Installed"
    };
    let n = if installed.is_empty() {
        outcomes.len() + audited
    } else {
        installed.len()
    };
    ctx.reporter.status(&format!(
        "{verb} {n} package{} in {}",
        plural(n),
        elapsed(start)
    ));
    for o in installed {
        ctx.reporter.status(&format!(
            " + {} {} ({})",
            o.id().name(),
            o.id().version(),
            &o.id().hash()[..8]
        ));
    }
    Ok(())
}

/// `paks run PACKAGE... -- COMMAND...`: the command in installed packages' environment.
pub(crate) fn run_with_packages(
    ctx: &Ctx,
    packages: &[String],
    command: &[std::ffi::OsString],
) -> Result<(), Failure> {
    let store = ctx.installed_store()?;
    let ids = find_all(&store, packages)?;
    let env = store.env(&ids).map_err(failure)?;
    let (program, rest) = command.split_first().expect("the caller checked");
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest);
    Err(crate::project_cmds::exec_in(
        cmd,
        &env,
        None,
        "is it installed in one of these packages' `bin/`?",
    ))
}

fn env(ctx: &Ctx, args: &EnvArgs) -> Result<(), Failure> {
    if let Some(crate::cli::EnvCommand::Init { dir, json }) = &args.command {
        return crate::project::init(ctx, dir, *json);
    }
    let env = if args.packages.is_empty() {
        crate::project::environment(ctx, args.project.as_deref(), args.mode.into(), false)?.1
    } else {
        let store = ctx.installed_store()?;
        let ids = find_all(&store, &args.packages)?;
        store.env(&ids).map_err(failure)?
    };
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = env
            .resolve(|k| std::env::var_os(k))
            .into_iter()
            .map(|(k, v)| (k, v.to_string_lossy().into()))
            .collect();
        json_line(&json!({"type": "env", "variables": map}))?;
    } else {
        write!(out(), "{}", env.shell_exports())?;
    }
    Ok(())
}

fn list(ctx: &Ctx, args: &JsonArgs) -> Result<(), Failure> {
    let store = ctx.installed_store()?;
    let records = store.installed().map_err(failure)?;
    let mut o = out();
    for r in &records {
        let m = &r.meta;
        if args.json {
            writeln!(
                o,
                "{}",
                json!({"type": "package", "name": m.name, "version": m.version.to_string(), "id": m.id.to_string(), "explicit": r.explicit, "files": m.files, "size": m.size})
            )?;
        } else {
            let how = if r.explicit { "" } else { "  (dependency)" };
            writeln!(
                o,
                "{:<24} {:<12} {}  {:>10}{how}",
                m.name,
                m.version,
                &m.id.hash()[..8],
                human_size(m.size)
            )?;
        }
    }
    if records.is_empty() && !args.json {
        ctx.reporter.status(&format!(
            "No packages installed in `{}`",
            store.root().display()
        ));
    }
    Ok(())
}

fn info(ctx: &Ctx, args: &InfoArgs) -> Result<(), Failure> {
    if let Some(registry) = &args.registry {
        return crate::catalog_remote::info(ctx, registry, args);
    }
    let path = Path::new(&args.package);
    let (meta, prefix, explicit) = if path.extension().is_some_and(|e| e == "pak") || path.is_file()
    {
        let pak = paks_store::open_pak(path).map_err(failure)?;
        (pak.config.paks, None, None)
    } else {
        let store = ctx.installed_store()?;
        let record = match store.find(&args.package) {
            Ok(record) => record,
            Err(e) => {
                // Not installed: what the repositories offer under that name.
                let similar = match crate::catalog::remote_info(ctx, &args.package, args.json)? {
                    crate::catalog::RemoteInfo::Printed => return Ok(()),
                    crate::catalog::RemoteInfo::Missing(similar) => similar,
                };
                return Err(crate::suggest::info_failure(
                    &store,
                    &args.package,
                    e,
                    &similar,
                ));
            }
        };
        let prefix = store.prefix(record.id());
        (record.meta, Some(prefix), Some(record.explicit))
    };
    if args.json {
        let mut v = serde_json::to_value(&meta).expect("serialisable");
        v["type"] = "package".into();
        if let Some(p) = &prefix {
            v["prefix"] = json!(p);
            v["explicit"] = json!(explicit);
        }
        json_line(&v)?;
    } else {
        print_info(&meta, prefix.as_deref(), explicit)?;
    }
    Ok(())
}

pub(crate) fn remove(ctx: &Ctx, args: &RemoveArgs) -> Result<(), Failure> {
    let store = ctx.installed_store()?;
    let ids = find_all(&store, &args.packages)?;
    for id in &ids {
        store.remove(id, args.force).map_err(failure)?;
        if args.json {
            json_line(
                &json!({"type": "remove", "id": id.to_string(), "name": id.name().as_str(), "version": id.version().to_string()}),
            )?;
        }
        ctx.reporter.status(&format!(
            " - {} {} ({})",
            id.name(),
            id.version(),
            &id.hash()[..8]
        ));
    }
    Ok(())
}

fn gc(ctx: &Ctx, args: &GcArgs) -> Result<(), Failure> {
    // Not `ctx.store()`: gc prunes the cache next, which must not be held shared by itself.
    let cache = crate::cache::open(ctx)?;
    let store = Store::open(&ctx.root)
        .map_err(failure)?
        .with_cache_dir(cache.dir());
    let report = store.gc(args.dry_run).map_err(failure)?;
    let pruned = crate::cache::gc_prune(ctx, &cache, args.dry_run)?;
    if args.json {
        json_line(
            &json!({"type": "gc", "dry_run": report.dry_run, "removed": report.removed.iter().map(ToString::to_string).collect::<Vec<_>>(), "freed": report.freed, "leftovers": report.leftovers,
                    "cache": {"removed": pruned.removed.len(), "freed": pruned.freed, "kept": pruned.kept.entries, "size": pruned.kept.bytes}}),
        )?;
    } else {
        let verb = if report.dry_run {
            "Would remove"
        } else {
            "Removed"
        };
        for id in &report.removed {
            ctx.reporter.status(&format!(
                " - {} {} ({})",
                id.name(),
                id.version(),
                &id.hash()[..8]
            ));
        }
        ctx.reporter.status(&format!(
            "{verb} {} package{} ({}) and {} leftover{}",
            report.removed.len(),
            plural(report.removed.len()),
            human_size(report.freed),
            report.leftovers.len(),
            plural(report.leftovers.len())
        ));
        crate::cache::print_report(ctx, &pruned, false)?;
    }
    Ok(())
}

fn view_command(ctx: &Ctx, view: ViewCommand) -> Result<(), Failure> {
    let store = ctx.installed_store()?;
    match view {
        ViewCommand::Create {
            path,
            packages,
            ignore_conflicts,
            json,
        } => {
            let ids = find_all(&store, &packages)?;
            let info = store
                .create_view(&path, &ids, ViewOptions { ignore_conflicts })
                .map_err(failure)?;
            for c in &info.conflicts {
                ctx.reporter.warn(&format!(
                    "`{c}` is provided by more than one package; the first was kept"
                ));
            }
            if json {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                json_line(
                    &json!({"type": "view-create", "path": info.path, "packages": ids,
                                  "links": info.links, "conflicts": info.conflicts}),
                )?;
            }
            ctx.reporter.status(&format!(
                "Created view `{}` ({} links)",
                info.path.display(),
                info.links
            ));
        }
        ViewCommand::Remove { path, json } => {
            store.remove_view(&path).map_err(failure)?;
            if json {
                json_line(&json!({"type": "view-remove", "path": path}))?;
            }
            ctx.reporter
                .status(&format!("Removed view `{}`", path.display()));
        }
        ViewCommand::List(args) => {
            let mut o = out();
            for v in store.views().map_err(failure)? {
                let ids: Vec<String> = v.packages.iter().map(ToString::to_string).collect();
                if args.json {
                    writeln!(
                        o,
                        "{}",
                        json!({"type": "view", "path": v.path, "packages": ids, "links": v.links})
                    )?;
                } else {
                    let names: Vec<String> =
                        v.packages.iter().map(|i| i.name().to_string()).collect();
                    writeln!(o, "{}  {}", v.path.display(), names.join(" "))?;
                }
            }
        }
    }
    Ok(())
}

fn find_all(store: &Store, specs: &[String]) -> Result<Vec<PackageId>, Failure> {
    specs
        .iter()
        .map(|s| {
            store
                .find(s)
                .map(|r| r.id().clone())
                .map_err(|e| crate::suggest::store_failure(store, s, e))
        })
        .collect()
}

fn print_info(
    meta: &PackageMeta,
    prefix: Option<&Path>,
    explicit: Option<bool>,
) -> std::io::Result<()> {
    let mut o = out();
    writeln!(o, "{} {}", meta.name, shown(&meta.shown_version()))?;
    let mut field = |k: &str, v: &str| writeln!(o, "  {k:<13} {}", shown(v));
    field("id:", &meta.id.to_string())?;
    crate::origin::fields(meta, &mut field)?;
    if let Some(s) = &meta.summary {
        field("summary:", s)?;
    }
    if let Some(s) = &meta.license {
        field("license:", s)?;
    }
    if let Some(s) = &meta.homepage {
        field("homepage:", s)?;
    }
    field("platform:", &meta.platform.to_string())?;
    field(
        "size:",
        &format!("{} in {} entries", human_size(meta.size), meta.files),
    )?;
    if let Some(p) = prefix {
        field("prefix:", &p.display().to_string())?;
    }
    if let Some(e) = explicit {
        field(
            "installed:",
            if e { "explicitly" } else { "as a dependency" },
        )?;
    }
    for (i, d) in meta.dependencies.iter().enumerate() {
        field(
            if i == 0 { "depends on:" } else { "" },
            &format!("{} {} ({})", d.name, d.req, d.id),
        )?;
    }
    for (i, e) in meta.env.iter().enumerate() {
        let action = format!("{:?}", e.action).to_lowercase();
        field(
            if i == 0 { "exports:" } else { "" },
            &format!("{} {action} {}", e.name, e.value),
        )?;
    }
    Ok(())
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(crate) fn elapsed(start: Instant) -> String {
    let d = start.elapsed();
    if d.as_secs() >= 1 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[allow(clippy::cast_precision_loss)] // sizes for people, rounded anyway
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
