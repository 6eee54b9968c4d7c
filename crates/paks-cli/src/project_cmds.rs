//! The everyday project loop on top of `project`: `paks run CMD` (lock, sync, run),
//! `paks remove NAME` of a dependency, `paks lock --upgrade`, and running a command in an
//! environment with its exit status passed through.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;

use paks_types::PackageName;

use crate::Failure;
use crate::cli::{LockArgs, ProjectArgs, RemoveArgs, RunArgs};
use crate::commands::{Ctx, user_error};
use crate::project::{self, Project};

/// `paks run`: `PACKAGE... -- COMMAND` activates installed packages; `COMMAND...` or
/// `-- COMMAND...` alone runs in the project's environment.
///
/// Clap hands a leading `--` and what follows to `command`, and everything else (a later
/// `--` included, since the command's own arguments may look like flags) to `packages`.
pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<(), Failure> {
    let separator = args.packages.iter().position(|a| a == "--");
    if let (true, Some(at)) = (args.command.is_empty(), separator) {
        let (packages, command) = (&args.packages[..at], &args.packages[at + 1..]);
        let packages = packages
            .iter()
            .map(|p| {
                p.to_str().map(str::to_owned).ok_or_else(|| {
                    user_error(
                        format!("package `{}` is not valid UTF-8", p.to_string_lossy()),
                        None,
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if packages.is_empty() || command.is_empty() {
            return Err(user_error(
                "`paks run PACKAGE... -- COMMAND...` needs packages and a command",
                None,
            ));
        }
        return crate::commands::run_with_packages(ctx, &packages, command);
    }
    let command = if args.command.is_empty() {
        &args.packages
    } else {
        &args.command
    };
    if command.is_empty() {
        return Err(user_error(
            "no command to run",
            Some(
                "`paks run COMMAND...` in a project, `paks run PACKAGE... -- COMMAND...` elsewhere"
                    .into(),
            ),
        ));
    }
    let project = Project::find(args.project.project.as_deref()).map_err(|f| Failure {
        hint: Some(
            "outside a project, name the packages: `paks run PACKAGE... -- COMMAND...`".into(),
        ),
        ..f
    })?;
    // Locked (re-locked if paks.toml changed) and synced first, as `paks sync` would.
    let (project, env) = project::environment(
        ctx,
        Some(&project.dir),
        args.mode.into(),
        args.project.offline,
    )?;
    let mut cmd = std::process::Command::new(&command[0]);
    cmd.args(&command[1..]);
    Err(exec_in(
        cmd,
        &env,
        Some(&project.dir),
        "is it in the `bin/` of one of the project's packages?",
    ))
}

/// Replaces paks with `cmd` in `env` (and `PAKS_ENV=project`): the exit status, signals and
/// process id are then the command's own. Returns only when it could not be started.
pub fn exec_in(
    mut cmd: std::process::Command,
    env: &paks_store::EnvSet,
    project: Option<&Path>,
    not_found_hint: &str,
) -> Failure {
    for (k, v) in env.resolve(|k| std::env::var_os(k)) {
        cmd.env(k, v);
    }
    if let Some(dir) = project {
        cmd.env("PAKS_ENV", dir);
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    let err = cmd.exec();
    Failure {
        hint: (err.kind() == std::io::ErrorKind::NotFound).then(|| not_found_hint.to_owned()),
        error: format!("failed to run `{program}`: {err}").into(),
        detail: None,
        internal: false,
    }
}

/// `paks remove`: dependencies of the project when inside one (unless `--installed` or
/// `--force`), else installed packages.
pub fn remove(ctx: &Ctx, args: &RemoveArgs) -> Result<(), Failure> {
    if args.installed || args.force {
        return crate::commands::remove(ctx, args);
    }
    let project = match args.project.project.as_deref() {
        Some(dir) => Project::find(Some(dir))?,
        // Outside a project (or in a recipe) it removes installed packages, as it always
        // has; a broken project file is an error, not a reason to touch the store.
        None => match Project::find_if_any(None)? {
            Some(p) => p,
            None => return crate::commands::remove(ctx, args),
        },
    };
    remove_dependencies(ctx, project, &args.packages, &args.project)
}

fn remove_dependencies(
    ctx: &Ctx,
    mut project: Project,
    names: &[String],
    args: &ProjectArgs,
) -> Result<(), Failure> {
    let known: Vec<PackageName> = project.requests()?.into_iter().map(|r| r.name).collect();
    require_known(
        names,
        &known,
        &format!("a dependency of `{}`", project.manifest().display()),
        |name| format!("`paks remove --installed {name}` removes an installed package"),
    )?;
    let saved = fs_err::read(project.manifest())?;
    for name in names {
        project.remove(name);
    }
    project.save()?;
    // A lock that fails leaves paks.toml as it was, as `paks add` does.
    if let Err(e) = project::lock(ctx, &project, args.offline) {
        paks_types::fs::write_atomic(&project.manifest(), &saved)?;
        return Err(e);
    }
    for name in names {
        ctx.reporter.status(&format!(" - {name}"));
    }
    project::sync(ctx, &project, args.offline)
}

/// Which locked versions `paks lock` may move away from.
pub enum Upgrade<'a> {
    /// Keep every locked version that still fits.
    None,
    /// Take the newest allowed version of everything.
    All,
    /// Take the newest allowed version of these names (and what they force).
    Packages(&'a [String]),
}

pub fn lock_command(ctx: &Ctx, args: &LockArgs) -> Result<(), Failure> {
    let project = Project::find(args.project.project.as_deref())?;
    let upgrade = if args.upgrade {
        Upgrade::All
    } else if args.upgrade_package.is_empty() {
        Upgrade::None
    } else {
        Upgrade::Packages(&args.upgrade_package)
    };
    if let Upgrade::Packages(names) = &upgrade {
        let locked: Vec<PackageName> = project
            .read_lock()?
            .map(|l| l.packages.into_iter().map(|p| p.name).collect())
            .unwrap_or_default();
        require_known(
            names,
            &locked,
            &format!("in `{}`", project.lock_path().display()),
            |_| "`paks tree` shows what the lock holds".into(),
        )?;
    }
    if args.platform.is_some() || args.target.is_some() {
        return crate::lock_report::check_environment(ctx, &project, args);
    }
    let locked = project::lock_upgrading(ctx, &project, args.project.offline, &upgrade)?;
    if args.json {
        crate::lock_report::lock_json(&locked, &project.lock_path(), locked.changed)?;
    }
    Ok(())
}

/// `paks shell -c COMMAND`'s command line: `$SHELL -c COMMAND`.
pub fn shell_command(shell: &OsString, command: Option<&OsString>) -> std::process::Command {
    let mut cmd = std::process::Command::new(shell);
    if let Some(c) = command {
        cmd.arg("-c").arg(c);
    }
    cmd
}

/// An error for the first of `names` not in `known` ("`x` is not WHERE"), suggesting close
/// names, with `hint(name)`.
pub fn require_known(
    names: &[String],
    known: &[PackageName],
    not_in: &str,
    hint: impl Fn(&str) -> String,
) -> Result<(), Failure> {
    match names
        .iter()
        .find(|n| !known.iter().any(|k| k.as_str() == n.as_str()))
    {
        None => Ok(()),
        Some(name) => {
            let close = paks_resolve::similar_names(name, known.iter().cloned());
            Err(user_error(
                format!(
                    "`{name}` is not {not_in}{}",
                    paks_resolve::did_you_mean(&close)
                ),
                Some(hint(name)),
            ))
        }
    }
}
