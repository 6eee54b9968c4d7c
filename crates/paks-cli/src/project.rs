//! Project environments: `paks.toml` `[dependencies]` in a directory, `paks.lock` beside it,
//! and the view `.paks/view` that `paks sync` builds; `paks shell` and `paks env` activate it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use paks_resolve::{Environment, Lock, LockedPackage, Request};
use paks_store::ViewOptions;
use paks_types::{PackageId, VersionReq};

use paks_types::Reporter as _;

use crate::Failure;
use crate::cli::{AddArgs, ShellArgs, SyncArgs};
use crate::commands::user_error;
use crate::commands::{Ctx, elapsed, failure, plural};
use crate::freshness::{LockMode, ensure_locked, ensure_synced};
use crate::project_cmds::Upgrade;
use crate::{lock_sync, repos};

pub const MANIFEST: &str = "paks.toml";
pub const LOCK: &str = "paks.lock";

/// A project: its directory and its parsed `paks.toml`.
pub struct Project {
    pub dir: PathBuf,
    doc: toml_edit::DocumentMut,
    /// What `[project]` says (platforms, targets).
    pub settings: crate::project_file::Settings,
}

impl Project {
    /// The project at `dir`, or the nearest enclosing directory with a `paks.toml`; that
    /// file must be a project (a recipe is refused, not skipped, so that a command run
    /// inside a recipe never acts on a project further up by surprise).
    pub fn find(dir: Option<&Path>) -> Result<Self, Failure> {
        let (start, found) = Self::nearest(dir)?;
        match found {
            Some(d) => Self::open(&d),
            None => Err(user_error(
                format!(
                    "no project `{MANIFEST}` in `{}`{}",
                    start.display(),
                    if dir.is_some() { "" } else { " or above" }
                ),
                Some("start one with `paks env init DIR`".into()),
            )),
        }
    }

    /// Like [`Project::find`], but `None` where there is no project: no `paks.toml`, or a
    /// recipe's. A project file that is broken is still an error, so that a command with
    /// a meaning outside projects (`paks remove`) never falls back because of a typo.
    pub fn find_if_any(dir: Option<&Path>) -> Result<Option<Self>, Failure> {
        let (_, found) = Self::nearest(dir)?;
        let Some(d) = found else { return Ok(None) };
        let is_recipe = fs_err::read_to_string(d.join(MANIFEST))
            .ok()
            .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok())
            .is_some_and(|doc| doc.contains_key("package"));
        if is_recipe {
            return Ok(None);
        }
        Self::open(&d).map(Some)
    }

    /// Where the search starts, and the nearest directory with a `paks.toml` (only `dir`
    /// itself when it is given).
    fn nearest(dir: Option<&Path>) -> Result<(PathBuf, Option<PathBuf>), Failure> {
        let start = match dir {
            Some(d) => d.to_owned(),
            None => std::env::current_dir()?,
        };
        let mut here = Some(start.as_path());
        while let Some(d) = here {
            if d.join(MANIFEST).is_file() {
                return Ok((start.clone(), Some(d.to_owned())));
            }
            if dir.is_some() {
                break;
            }
            here = d.parent();
        }
        Ok((start, None))
    }

    fn open(dir: &Path) -> Result<Self, Failure> {
        let path = dir.join(MANIFEST);
        let text = fs_err::read_to_string(&path)?;
        let doc = text.parse::<toml_edit::DocumentMut>().map_err(|e| {
            user_error(format!("`{}` is not valid TOML: {e}", path.display()), None)
        })?;
        let settings = crate::project_file::check(&doc, &path)?;
        Ok(Self {
            dir: std::path::absolute(dir)?,
            doc,
            settings,
        })
    }

    pub fn init(dir: &Path) -> Result<Self, Failure> {
        fs_err::create_dir_all(dir)?;
        let path = dir.join(MANIFEST);
        if path.exists() {
            return Err(user_error(
                format!("`{}` exists already", path.display()),
                Some("`paks add NAME` adds packages to it".into()),
            ));
        }
        let name = std::path::absolute(dir)?
            .file_name()
            .map_or_else(|| "env".to_owned(), |n| n.to_string_lossy().into_owned());
        let text = format!(
            "# A paks project: `paks add NAME`, `paks lock`, `paks sync`, `paks shell`.\n[project]\nname = {}\n\n[dependencies]\n",
            toml_edit::Value::from(name)
        );
        paks_types::fs::write_atomic(&path, text.as_bytes())?;
        Self::open(dir)
    }

    /// The `[dependencies]` as requests, in file order.
    pub fn requests(&self) -> Result<Vec<Request>, Failure> {
        let Some(deps) = self.doc.get("dependencies").and_then(|d| d.as_table_like()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (name, value) in deps.iter() {
            let req_text = value.as_str().ok_or_else(|| {
                user_error(
                    format!(
                        "`{name}` in [dependencies] of `{}` is not a string",
                        self.manifest().display()
                    ),
                    Some("write `name = \"^1.2\"` (or `\"*\"` for any version)".into()),
                )
            })?;
            let name = name.parse().map_err(|e: paks_types::TypeError| {
                user_error(format!("`{name}` in [dependencies]: {e}"), None)
            })?;
            let req = VersionReq::parse(req_text).map_err(|e| {
                user_error(
                    format!("`{req_text}` (for `{name}`) is not a version requirement: {e}"),
                    None,
                )
            })?;
            out.push(Request { name, req });
        }
        Ok(out)
    }

    pub fn add(&mut self, request: &Request) {
        if !self.doc.contains_key("dependencies") {
            self.doc["dependencies"] = toml_edit::table();
        }
        self.doc["dependencies"][request.name.as_str()] = toml_edit::value(request.req.to_string());
    }

    /// Drops `name` from `[dependencies]`, keeping the rest of the file as it is.
    pub fn remove(&mut self, name: &str) {
        if let Some(deps) = self
            .doc
            .get_mut("dependencies")
            .and_then(|d| d.as_table_like_mut())
        {
            deps.remove(name);
        }
    }

    pub fn save(&self) -> Result<(), Failure> {
        paks_types::fs::write_atomic(&self.manifest(), self.doc.to_string().as_bytes())?;
        Ok(())
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.join(MANIFEST)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK)
    }

    pub fn view_path(&self) -> PathBuf {
        self.dir.join(".paks").join("view")
    }

    /// The lock, or an error saying there is none, with `hint`.
    pub fn require_lock(&self, hint: &str) -> Result<Lock, Failure> {
        self.read_lock()?.ok_or_else(|| {
            user_error(
                format!("`{}` has no `{LOCK}`", self.dir.display()),
                Some(hint.to_owned()),
            )
        })
    }

    pub fn read_lock(&self) -> Result<Option<Lock>, Failure> {
        match self.read_lock_raw()? {
            Some(Ok(lock)) => Ok(Some(lock)),
            Some(Err(e)) => Err(self.invalid_lock(&e)),
            None => Ok(None),
        }
    }

    /// The lock as parsed (or why it does not parse); `None` if there is none.
    pub fn read_lock_raw(&self) -> Result<Option<Result<Lock, paks_resolve::LockError>>, Failure> {
        match fs_err::read_to_string(self.lock_path()) {
            Ok(text) => Ok(Some(Lock::parse(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The error for a lock that does not parse.
    pub fn invalid_lock(&self, e: &paks_resolve::LockError) -> Failure {
        let hint = match e {
            paks_resolve::LockError::Outdated { .. } => {
                "`paks lock` rewrites it in the current format".to_owned()
            }
            _ => format!("{e}; `paks lock` writes a new one"),
        };
        user_error(
            format!("`{}` is not a valid lockfile", self.lock_path().display()),
            Some(hint),
        )
    }
}

pub fn init(ctx: &Ctx, dir: &Path, json_out: bool) -> Result<(), Failure> {
    let project = Project::init(dir)?;
    if json_out {
        crate::commands::json_line(
            &serde_json::json!({"type": "env-init", "manifest": project.manifest()}),
        )?;
    }
    ctx.reporter.status(&format!(
        "Created `{}`; add packages with `paks add NAME`",
        project.manifest().display()
    ));
    Ok(())
}

/// What `paks lock` did.
pub struct Locked {
    pub lock: Lock,
    /// Whether `paks.lock` was written (its bytes changed).
    pub changed: bool,
}

/// Resolves the project into `paks.lock`, keeping locked versions where they still fit.
pub fn lock(ctx: &Ctx, project: &Project, offline: bool) -> Result<Lock, Failure> {
    Ok(lock_upgrading(ctx, project, offline, &Upgrade::None)?.lock)
}

/// Resolves the project into `paks.lock`, keeping the locked versions `upgrade` does not
/// free; says whether the file changed.
pub fn lock_upgrading(
    ctx: &Ctx,
    project: &Project,
    offline: bool,
    upgrade: &Upgrade,
) -> Result<Locked, Failure> {
    let started = Instant::now();
    let requests = project.requests()?;
    // A lock that cannot be read (an older format, a bad edit) only loses its preferences:
    // this is the command that rewrites it.
    let previous = project.read_lock().ok().flatten();
    let mut prefer = previous.as_ref().map(Lock::preferences).unwrap_or_default();
    match upgrade {
        Upgrade::None => {}
        Upgrade::All => prefer.clear(),
        Upgrade::Packages(names) => prefer.retain(|n, _| !names.iter().any(|u| u == n.as_str())),
    }
    let host = crate::catalog::host()?;
    let environments = lock_sync::project_environments(project, previous.as_ref(), &host)?;
    let names: Vec<_> = requests.iter().map(|r| r.name.clone()).collect();
    let loaded = repos::load_for(ctx, offline, &names)?;
    let resolutions = resolve_for(ctx, &loaded, &environments, &requests, prefer)?;
    let lock = Lock::from_resolutions(&resolutions, &requests, |label| {
        lock_sync::locked_repository(&loaded, label)
    });
    let text = lock.to_toml_string();
    let changed =
        fs_err::read_to_string(project.lock_path()).ok().as_deref() != Some(text.as_str());
    if changed {
        paks_types::fs::write_atomic(&project.lock_path(), text.as_bytes())?;
    }
    ctx.reporter.status(&format!(
        "Resolved {} package{} for {} environment{} in {}{}",
        lock.packages.len(),
        plural(lock.packages.len()),
        lock.environments.len(),
        plural(lock.environments.len()),
        elapsed(started),
        if changed {
            ""
        } else {
            " (paks.lock unchanged)"
        }
    ));
    Ok(Locked { lock, changed })
}

/// Resolves `requests` for each environment, one version per name across them.
pub fn resolve_for(
    ctx: &Ctx,
    loaded: &[repos::Loaded],
    environments: &[Environment],
    requests: &[Request],
    prefer: BTreeMap<paks_types::PackageName, paks_types::Version>,
) -> Result<paks_resolve::Resolutions, Failure> {
    let options = paks_resolve::ResolveOptions {
        prefer,
        ..paks_resolve::ResolveOptions::default()
    };
    let resolutions = paks_resolve::resolve_environments(
        &repos::IndexCatalog(loaded),
        environments,
        requests,
        &options,
    )
    .map_err(|e| match e {
        // A name no repository has is unknown in every environment: say so plainly, with
        // the resolver's suggestions, not wrapped in the first environment tried.
        paks_resolve::EnvironmentError::Resolve { source, .. }
            if matches!(*source, paks_resolve::ResolveError::UnknownPackage { .. }) =>
        {
            crate::catalog::resolve_failure(*source)
        }
        e => Failure {
            hint: Some("`paks search NAME` lists what the repositories offer".into()),
            ..Failure::from(e)
        },
    })?;
    let mut warned = std::collections::BTreeSet::new();
    for w in resolutions.iter().flat_map(|(_, r)| &r.warnings) {
        if warned.insert(w) {
            ctx.reporter.warn(w);
        }
    }
    Ok(resolutions)
}

/// What `paks sync` did.
pub struct Synced {
    /// The lock's environment this host installed.
    pub environment: Environment,
    /// The packages of that environment.
    pub packages: Vec<LockedPackage>,
    /// The ids installed now (the others were installed already).
    pub installed: Vec<PackageId>,
}

/// Installs exactly what the lock pins and builds the project's view.
pub fn sync(ctx: &Ctx, project: &Project, offline: bool) -> Result<(), Failure> {
    sync_project(ctx, project, offline).map(|_| ())
}

/// [`sync`], saying what it installed.
pub fn sync_project(ctx: &Ctx, project: &Project, offline: bool) -> Result<Synced, Failure> {
    let started = Instant::now();
    let lock = project.require_lock("`paks lock` writes it")?;
    let host = crate::catalog::host()?;
    let environment = lock_sync::host_environment(&lock, &host)?;
    let packages: Vec<&LockedPackage> = lock.packages_in(&environment).collect();
    let store = ctx.store()?;
    let missing: Vec<&LockedPackage> = packages
        .iter()
        .copied()
        // Installed means installed from the pinned manifest, not another build that
        // claims the id.
        .filter(|p| !store.is_installed_as(&p.id, &p.digest).unwrap_or(false))
        .collect();
    let mut installed = Vec::new();
    if !missing.is_empty() {
        let configured = lock_sync::configured(ctx)?;
        let names = lock_sync::repository_names(&lock, &missing, &configured)?;
        // Cached indexes first: the lock's digests are in them unless the lock is newer.
        let wanted: Vec<_> = missing.iter().map(|p| p.name.clone()).collect();
        let loaded = match repos::load_for(ctx, true, &wanted) {
            Ok(l) if lock_listed(&l, &missing, &names) => l,
            _ if offline => {
                return Err(user_error(
                    "offline, and the cached indexes do not list every locked build",
                    Some("run `paks sync` once with the network".into()),
                ));
            }
            _ => repos::load_for(ctx, false, &wanted)?,
        };
        let resolution = resolution_of(&missing, &names, &loaded)?;
        let mut background = crate::background::Background::new()?;
        let todo = repos::installables(
            ctx,
            &store,
            &loaded,
            &resolution,
            offline,
            Some(&mut background),
        )?;
        let outcomes = background.finish(
            store
                .install(todo.items, ctx.jobs, &ctx.reporter)
                .map_err(failure),
        )?;
        installed = outcomes
            .iter()
            .filter_map(|o| match o {
                paks_store::InstallOutcome::Installed { id, .. } => Some(id.clone()),
                paks_store::InstallOutcome::AlreadyInstalled { .. } => None,
            })
            .collect();
    }
    let ids: Vec<PackageId> = packages
        .iter()
        .filter(|p| p.explicit)
        .map(|p| p.id.clone())
        .collect();
    let view = store
        .create_view(
            &project.view_path(),
            &ids,
            ViewOptions {
                ignore_conflicts: true,
            },
        )
        .map_err(failure)?;
    for c in &view.conflicts {
        ctx.reporter.warn(&format!(
            "`{c}` is provided by more than one package; the first was kept"
        ));
    }
    ctx.reporter.status(&format!(
        "Installed {} package{} in {} ({} locked for `{environment}`; view `{}`)",
        installed.len(),
        plural(installed.len()),
        elapsed(started),
        packages.len(),
        project.view_path().display()
    ));
    let packages = packages.into_iter().cloned().collect();
    Ok(Synced {
        environment,
        packages,
        installed,
    })
}

fn lock_listed(
    loaded: &[repos::Loaded],
    packages: &[&LockedPackage],
    names: &BTreeMap<String, String>,
) -> bool {
    packages.iter().all(|p| {
        loaded.iter().any(|l| {
            names.get(&p.repository) == Some(&l.entry.name)
                && l.index.find_build(&p.digest).is_some()
        })
    })
}

/// Locked packages as a resolution, so the install path is the one `paks install` takes.
fn resolution_of(
    locked: &[&LockedPackage],
    names: &BTreeMap<String, String>,
    loaded: &[repos::Loaded],
) -> Result<paks_resolve::Resolution, Failure> {
    let catalog = repos::IndexCatalog(loaded);
    let mut packages = Vec::new();
    for p in locked {
        let repository = names[&p.repository].clone();
        let build = paks_resolve::Catalog::candidates(&catalog, &repository, &p.name)
            .into_iter()
            .flat_map(|c| c.builds)
            .find(|b| b.digest == p.digest)
            .ok_or_else(|| {
                user_error(
                    format!(
                        "the index of repository `{repository}` does not list locked build `{}` ({})",
                        p.id, p.digest
                    ),
                    Some("`paks lock` re-resolves against the current indexes".into()),
                )
            })?;
        packages.push(paks_resolve::Resolved {
            name: p.name.clone(),
            version: p.version.clone(),
            repository,
            build,
            explicit: p.explicit,
        });
    }
    Ok(paks_resolve::Resolution {
        roots: locked
            .iter()
            .filter(|p| p.explicit)
            .map(|p| p.id.clone())
            .collect(),
        packages,
        warnings: Vec::new(),
    })
}

pub fn add(ctx: &Ctx, args: &AddArgs) -> Result<(), Failure> {
    let mut project = Project::find(args.project.project.as_deref())?;
    let mut bare = Vec::new();
    for spec in &args.packages {
        let request = Request::parse(spec).map_err(|e| Failure {
            hint: Some("a package is `NAME`, `NAME@REQ` (`zlib@^1.3`) or `NAME>=1,<2`".into()),
            ..Failure::from(e)
        })?;
        // A bare name gets a caret requirement of the version it resolves to (below).
        if spec.trim().parse::<paks_types::PackageName>().is_ok() {
            bare.push(request.name.clone());
        }
        project.add(&request);
    }
    // Lock first: a request that cannot be satisfied leaves paks.toml as it was.
    let saved = fs_err::read(project.manifest())?;
    project.save()?;
    let locked = match lock(ctx, &project, args.project.offline) {
        Ok(l) => l,
        Err(e) => {
            paks_types::fs::write_atomic(&project.manifest(), &saved)?;
            return Err(e);
        }
    };
    if !bare.is_empty() {
        for p in locked.packages.iter().filter(|p| p.explicit) {
            if bare.contains(&p.name) {
                project.add(&Request {
                    name: p.name.clone(),
                    req: VersionReq::parse(&format!("^{}", p.version)).map_err(Failure::from)?,
                });
            }
        }
        project.save()?;
        // The indexes were fetched and cached just now; the same versions stay preferred.
        lock(ctx, &project, true)?;
    }
    let synced = sync_project(ctx, &project, args.project.offline)?;
    if args.json {
        let requests = project.requests()?;
        for r in requests.iter().filter(|r| {
            args.packages
                .iter()
                .filter_map(|spec| Request::parse(spec).ok())
                .any(|asked| asked.name == r.name)
        }) {
            crate::commands::json_line(&serde_json::json!({
                "type": "dependency",
                "name": r.name.as_str(),
                "requirement": r.req.to_string(),
                "manifest": project.manifest(),
            }))?;
        }
        crate::lock_report::sync_json(&project, &synced, None)?;
    }
    Ok(())
}

/// `paks sync`: re-lock if `paks.toml` changed (see [`LockMode`]), then install the lock.
pub fn sync_command(ctx: &Ctx, args: &SyncArgs) -> Result<(), Failure> {
    let project = Project::find(args.project.project.as_deref())?;
    let (_, relocked) = ensure_locked(ctx, &project, args.mode.into(), args.project.offline)?;
    let synced = sync_project(ctx, &project, args.project.offline)?;
    if args.json {
        crate::lock_report::sync_json(&project, &synced, relocked.as_deref())?;
    }
    Ok(())
}

/// The environment of a project, locked and synced first (see [`ensure_synced`]): its
/// locked, explicit packages.
pub fn environment(
    ctx: &Ctx,
    dir: Option<&Path>,
    mode: LockMode,
    offline: bool,
) -> Result<(Project, paks_store::EnvSet), Failure> {
    let project = Project::find(dir)?;
    let lock = ensure_synced(ctx, &project, mode, offline)?;
    let store = ctx.store()?;
    let environment = lock_sync::host_environment(&lock, &crate::catalog::host()?)?;
    let ids: Vec<PackageId> = lock
        .packages_in(&environment)
        .filter(|p| p.explicit)
        .map(|p| p.id.clone())
        .collect();
    for id in &ids {
        if store.record(id).map_err(failure)?.is_none() {
            return Err(user_error(
                format!("locked package `{id}` is not installed"),
                Some("`paks sync` installs the lock".into()),
            ));
        }
    }
    let env = store.env(&ids).map_err(failure)?;
    Ok((project, env))
}

pub fn shell(ctx: &Ctx, args: &ShellArgs) -> Result<(), Failure> {
    let (project, env) = environment(
        ctx,
        args.project.project.as_deref(),
        args.mode.into(),
        args.project.offline,
    )?;
    let shell = std::env::var_os("SHELL").unwrap_or_else(|| "/bin/sh".into());
    let cmd = crate::project_cmds::shell_command(&shell, args.command.as_ref());
    if args.command.is_none() {
        ctx.reporter.status(&format!(
            "Entering the environment of `{}` (exit the shell to leave)",
            project.dir.display()
        ));
    }
    let _ = std::io::stderr().flush();
    // The shell replaces paks, so its exit status is the command's own.
    Err(crate::project_cmds::exec_in(
        cmd,
        &env,
        Some(&project.dir),
        "set SHELL to a shell that exists",
    ))
}
