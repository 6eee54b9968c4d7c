//! Whether `paks.lock` still says what `paks.toml` asks for, and what a project command
//! does when it does not: re-lock (the default), fail (`--locked`), or trust the lock as
//! it is (`--frozen`). `paks sync`, `paks env`, `paks shell` and project `paks run` all go
//! through [`ensure_synced`] (or [`ensure_locked`]), so none of them installs a stale lock.

use std::collections::BTreeSet;

use paks_resolve::{LOCK_VERSION, Lock, LockError};

use crate::Failure;
use crate::cli::LockModeArgs;
use crate::commands::{Ctx, user_error};
use crate::lock_sync;
use crate::project::{self, LOCK, MANIFEST, Project};

/// How a command treats a lock that no longer matches the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Check the lock against `paks.toml`; re-lock when it is missing or stale.
    #[default]
    Check,
    /// Check, and fail instead of re-locking (`--locked`, for CI).
    Locked,
    /// Use the lock as it is, unchecked (`--frozen`).
    Frozen,
}

impl From<LockModeArgs> for LockMode {
    fn from(args: LockModeArgs) -> Self {
        if args.frozen {
            Self::Frozen
        } else if args.locked {
            Self::Locked
        } else {
            Self::Check
        }
    }
}

/// The requests of `project` as a lock writes them: canonical, sorted, no duplicates.
pub fn canonical_requests(project: &Project) -> Result<BTreeSet<String>, Failure> {
    Ok(project
        .requests()?
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// What differs between the lock and the project, in words (the requests added and
/// removed since it was made, the environments); `None` when the lock is up to date.
pub fn staleness(project: &Project, lock: &Lock) -> Result<Option<String>, Failure> {
    let host = crate::catalog::host()?;
    let wanted = canonical_requests(project)?;
    let locked: BTreeSet<String> = lock.requests.iter().cloned().collect();
    let mut why = Vec::new();
    let listed = |set: Vec<&String>| {
        set.iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let added: Vec<&String> = wanted.difference(&locked).collect();
    let removed: Vec<&String> = locked.difference(&wanted).collect();
    if !added.is_empty() {
        why.push(format!(
            "{MANIFEST} requests {} that the lock lacks",
            listed(added)
        ));
    }
    if !removed.is_empty() {
        why.push(format!(
            "the lock was made for {} that {MANIFEST} no longer requests",
            listed(removed)
        ));
    }
    why.extend(lock_sync::environments_differ(project, lock, &host)?);
    Ok((!why.is_empty()).then(|| why.join("; ")))
}

/// The project's lock, re-locked first if it is missing or stale (in `mode`); with the
/// reason it was re-locked, if it was.
pub fn ensure_locked(
    ctx: &Ctx,
    project: &Project,
    mode: LockMode,
    offline: bool,
) -> Result<(Lock, Option<String>), Failure> {
    let why = match (mode, project.read_lock_raw()?) {
        (LockMode::Frozen, Some(Ok(lock))) => return Ok((lock, None)),
        (_, Some(Ok(lock))) => match staleness(project, &lock)? {
            None => return Ok((lock, None)),
            Some(why) => why,
        },
        (_, Some(Err(LockError::Outdated { found }))) => {
            format!("it is lock format version {found}, this paks writes version {LOCK_VERSION}")
        }
        (_, Some(Err(e))) => return Err(project.invalid_lock(&e)),
        (_, None) => format!("there is no `{LOCK}`"),
    };
    if mode != LockMode::Check {
        return Err(user_error(
            format!("`{}` is out of date: {why}", project.lock_path().display()),
            Some(
                match mode {
                    LockMode::Frozen => {
                        "`paks lock` writes it (`--frozen` only uses a lock as it is)"
                    }
                    _ => "`paks lock` updates it (or drop `--locked`)",
                }
                .into(),
            ),
        ));
    }
    ctx.reporter.status(&format!("Re-locking: {why}"));
    Ok((project::lock(ctx, project, offline)?, Some(why)))
}

/// The project locked (as [`ensure_locked`]) and installed: syncs when the lock changed or
/// a package this host needs is not installed from its pinned manifest, so that
/// activating a synced project costs no network and rewrites nothing.
pub fn ensure_synced(
    ctx: &Ctx,
    project: &Project,
    mode: LockMode,
    offline: bool,
) -> Result<Lock, Failure> {
    let (lock, relocked) = ensure_locked(ctx, project, mode, offline)?;
    let environment = lock_sync::host_environment(&lock, &crate::catalog::host()?)?;
    let store = ctx.store()?;
    let all_installed = lock
        .packages_in(&environment)
        .all(|p| store.is_installed_as(&p.id, &p.digest).unwrap_or(false));
    if relocked.is_some() || !all_installed || !project.view_path().exists() {
        project::sync(ctx, project, offline)?;
    }
    Ok(lock)
}
