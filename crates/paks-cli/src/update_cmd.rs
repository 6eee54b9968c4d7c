//! `paks update DIR`: the loop that keeps a directory of recipes current. Every recipe is
//! checked upstream (concurrently, politely: one request per host at a time); then, one
//! package at a time, an outdated recipe is bumped, built, tested and pushed, and
//! committed on the update branch only when all of that passed. A package that fails
//! leaves its recipe as it was, and the others go on.

use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use paks_build::{BuildError, BuildOptions, RecipeLocation};
use paks_recipe::{RECIPE_FILE, Recipe};
use paks_remote::{PushTarget, Remote};
use paks_store::Store;
use paks_update::{Check, Fetcher, Release};

use crate::Failure;
use crate::cli::UpdateArgs;
use crate::commands::{Ctx, failure, user_error};
use crate::update_git::{Repo, Switched};
use crate::update_summary::{Outcome, Step, Summary};

/// Recipes checked upstream at once (each host still sees one request at a time).
const CHECKS_AT_ONCE: usize = 16;

/// An outdated recipe: its place among the outcomes, its directory, what the check found.
struct Todo {
    index: usize,
    dir: PathBuf,
    check: Check,
    release: Release,
}

pub fn update(ctx: &Ctx, args: &UpdateArgs) -> Result<(), Failure> {
    // Absolute: git runs at the work tree's top, where relative paths would mean others.
    let dir = std::path::absolute(&args.dir)?;
    let repo = Repo::discover(&dir)?;
    let recipes = selected(find_recipes(&dir)?, &args.packages)?;
    if recipes.is_empty() {
        return Err(user_error(
            format!("no recipe (`paks.toml`) under `{}`", args.dir.display()),
            Some("name a recipe's directory, or a directory that holds recipes".into()),
        ));
    }
    // Everything that can be wrong with the request is found before the first change.
    let key = args
        .sign
        .as_deref()
        .map(crate::push_sign::load_key)
        .transpose()?;
    let push = args.push.as_deref().map(namespace).transpose()?;
    let runtime = crate::remote::runtime()?;
    let fetcher = crate::outdated_recipes::fetcher(ctx, false)?;
    let checks = runtime.block_on(check_all(ctx, &recipes, &fetcher));
    let (mut outcomes, todo) = sort_out(&recipes, checks);

    let branch = if todo.is_empty() {
        None
    } else {
        Some(switch_branch(ctx, args, &repo, &todo)?)
    };
    if !todo.is_empty() {
        let turn = Loop {
            ctx,
            args,
            repo: &repo,
            runtime: &runtime,
            fetcher: &fetcher,
            store: if args.build || args.test || push.is_some() {
                Some(ctx.store()?)
            } else {
                None
            },
            push: push.as_ref(),
            key: key.as_ref(),
            client: push
                .as_ref()
                .map(|_| crate::remote::client(ctx))
                .transpose()?,
        };
        for t in &todo {
            turn.one(&mut outcomes[t.index], &t.dir, &t.check, &t.release)?;
        }
    }
    report(
        args,
        &Summary {
            outcomes: &outcomes,
            checked: recipes.len(),
            branch: branch.as_deref(),
        },
    )
}

/// Every recipe checked upstream, in the order given.
async fn check_all(
    ctx: &Ctx,
    recipes: &[(PathBuf, Recipe)],
    fetcher: &Fetcher,
) -> Vec<Result<Check, Failure>> {
    ctx.reporter.status(&format!(
        "Checking {} recipe{} upstream",
        recipes.len(),
        crate::commands::plural(recipes.len())
    ));
    futures_util::stream::iter(recipes.iter().map(|(_, recipe)| async move {
        paks_update::check::check(recipe, fetcher)
            .await
            .map_err(|e| {
                let (hint, internal) = (e.hint(), e.is_network());
                Failure {
                    hint,
                    internal,
                    ..Failure::from(e)
                }
            })
    }))
    .buffered(CHECKS_AT_ONCE)
    .collect()
    .await
}

/// The outcomes to report (the outdated recipes, and those whose check failed) and the
/// recipes to update.
fn sort_out(
    recipes: &[(PathBuf, Recipe)],
    checks: Vec<Result<Check, Failure>>,
) -> (Vec<Outcome>, Vec<Todo>) {
    let mut outcomes = Vec::new();
    let mut todo = Vec::new();
    for ((dir, recipe), check) in recipes.iter().zip(checks) {
        let mut outcome = Outcome::new(
            recipe.package.name.to_string(),
            recipe.package.version.to_string(),
            &dir.join(RECIPE_FILE),
        );
        match check {
            Err(e) => {
                outcome.fail(|o| &mut o.check, &e);
                outcomes.push(outcome);
            }
            Ok(check) => {
                let Some(release) = check.newest.clone().filter(|_| check.is_outdated()) else {
                    continue;
                };
                outcome.check = Step::Passed;
                outcome.to = Some(release.version.to_string());
                outcome.found = Some(format!("{} at {}", check.strategy, check.location));
                todo.push(Todo {
                    index: outcomes.len(),
                    dir: dir.clone(),
                    check,
                    release,
                });
                outcomes.push(outcome);
            }
        }
    }
    (outcomes, todo)
}

/// Refuse uncommitted changes in the recipes to update, then check out the branch.
fn switch_branch(
    ctx: &Ctx,
    args: &UpdateArgs,
    repo: &Repo,
    todo: &[Todo],
) -> Result<String, Failure> {
    let dirs: Vec<&Path> = todo.iter().map(|t| t.dir.as_path()).collect();
    let changed = repo.changed(&dirs)?;
    if !changed.is_empty() {
        return Err(user_error(
            format!(
                "uncommitted changes in the recipes to update: {}",
                changed
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some("commit or stash them first: each update is committed on its own".into()),
        ));
    }
    let name = args.branch.clone().unwrap_or_else(default_branch);
    let switched = repo.switch_to(&name)?;
    ctx.reporter.status(&format!(
        "On the branch `{name}` ({})",
        match switched {
            Switched::Created => "new",
            Switched::Reused => "reused",
            Switched::Current => "already checked out",
        }
    ));
    Ok(name)
}

/// Print the summary (and write its Markdown); fail when a package was not updated.
fn report(args: &UpdateArgs, summary: &Summary<'_>) -> Result<(), Failure> {
    if args.json {
        summary.print_json()?;
    } else {
        summary.print_human()?;
    }
    if let Some(file) = &args.summary {
        paks_types::fs::write_atomic(file, summary.markdown().as_bytes()).map_err(|e| Failure {
            internal: true,
            ..Failure::from(e)
        })?;
    }
    if summary.success() {
        return Ok(());
    }
    let failed: Vec<String> = summary
        .outcomes
        .iter()
        .filter(|o| !o.updated())
        .map(|o| format!("`{}`", o.name))
        .collect();
    // A machine or network failure of any package is the run's (exit 2): running again
    // may well update it.
    Err(Failure {
        internal: summary.outcomes.iter().any(|o| o.internal),
        ..user_error(
            format!("not updated: {}", failed.join(", ")),
            Some("the summary says which step failed and why".into()),
        )
    })
}

/// What every package's turn needs.
struct Loop<'a> {
    ctx: &'a Ctx,
    args: &'a UpdateArgs,
    repo: &'a Repo,
    runtime: &'a tokio::runtime::Runtime,
    fetcher: &'a Fetcher,
    store: Option<Store>,
    push: Option<&'a paks_oci::Repository>,
    key: Option<&'a paks_index::SigningKey>,
    client: Option<paks_oci::Client>,
}

impl Loop<'_> {
    /// Bump, build, test, push and commit one package; a failure of a step is recorded
    /// in `outcome` (the recipe put back) and the run goes on; a failure of git stops it.
    fn one(
        &self,
        outcome: &mut Outcome,
        dir: &Path,
        check: &Check,
        release: &Release,
    ) -> Result<(), Failure> {
        let file = dir.join(RECIPE_FILE);
        let name = &outcome.name;
        self.ctx.reporter.status(&format!(
            "Updating {name} {} → {}",
            outcome.from, release.version
        ));
        let bump = match self
            .runtime
            .block_on(paks_update::bump::plan(dir, release, self.fetcher))
            .and_then(|bump| bump.write().map(|()| bump))
            .map_err(|e| {
                let (hint, internal) = (e.hint(), !e.is_user_error());
                Failure {
                    hint,
                    internal,
                    ..Failure::from(e)
                }
            }) {
            Ok(bump) => bump,
            Err(e) => {
                outcome.fail(|o| &mut o.bump, &e);
                // `plan` writes nothing; a `write` that failed left the old file or the new.
                return self.repo.restore(&file);
            }
        };
        outcome.bump = Step::Passed;
        if self.build_test_push(outcome, dir).is_err() {
            return self.repo.restore(&file);
        }
        let message = commit_message(check, &bump);
        outcome.commit = Some(self.repo.commit_file(&file, &message)?);
        Ok(())
    }

    /// The steps asked for; the first that fails is recorded and ends the package's turn.
    fn build_test_push(&self, outcome: &mut Outcome, dir: &Path) -> Result<(), Failure> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let built = match self.build(store, dir) {
            Ok(built) => built,
            Err((test, e)) => {
                if test {
                    outcome.build = Step::Passed;
                    outcome.fail(|o| &mut o.test, &e);
                } else {
                    outcome.fail(|o| &mut o.build, &e);
                }
                return Err(e);
            }
        };
        outcome.build = Step::Passed;
        if self.args.test {
            outcome.test = Step::Passed;
        }
        outcome.pak = Some(built.pak.display().to_string());
        if let (Some(namespace), Some(client)) = (self.push, &self.client) {
            match self.push(store, client, namespace, &built.pak) {
                Ok(reference) => {
                    outcome.push = Step::Passed;
                    outcome.reference = Some(reference);
                }
                Err(e) => {
                    outcome.fail(|o| &mut o.push, &e);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Build as `paks build` does (the tests too with `--test`), without installing: the
    /// loop makes packages to push, not the user's tree. The error says whether it was
    /// the test that failed.
    fn build(&self, store: &Store, dir: &Path) -> Result<paks_build::BuildOutput, (bool, Failure)> {
        let options = BuildOptions {
            out_dir: self
                .args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("out")),
            jobs: self.ctx.jobs,
            echo_log: self.ctx.verbose,
            run_tests: self.args.test,
            compression: paks_archive::Compression::default(),
            install: false,
            source_limits: paks_build::SourceLimits::default(),
        };
        let location = RecipeLocation::Dir(dir.to_path_buf());
        let built = match paks_build::build(&location, store, &options, &self.ctx.reporter) {
            Ok(built) => built,
            Err(e) => {
                let test = matches!(&e, BuildError::Script { stage, .. } if *stage == "test");
                return Err((test, failure(e)));
            }
        };
        crate::sbom_files::write_beside(&built.pak, &built.sources).map_err(|e| (false, e))?;
        Ok(built)
    }

    /// Push the archive to `NAMESPACE/NAME` as `paks push --namespace` does, signed as
    /// `paks push --sign` signs; returns its reference.
    fn push(
        &self,
        store: &Store,
        client: &paks_oci::Client,
        namespace: &paks_oci::Repository,
        pak: &Path,
    ) -> Result<String, Failure> {
        let paks = [pak.to_path_buf()];
        let remote = Remote::new(client.clone(), store);
        let report = self
            .runtime
            .block_on(remote.push(
                &paks,
                &PushTarget::Namespace(namespace.clone()),
                None,
                &self.ctx.reporter,
            ))
            .map_err(failure)?;
        if let Some(key) = self.key {
            crate::push_sign::attach_all(
                self.ctx,
                client,
                self.runtime,
                &paks,
                &report,
                key,
                crate::push_sign::Print::Nothing,
            )?;
        }
        Ok(report
            .packages
            .first()
            .map(|(_, reference, _)| reference.to_string())
            .unwrap_or_default())
    }
}

/// `NAME OLD → NEW`, where it was found, and what each source is now: what a reviewer
/// checks against upstream's announcement.
fn commit_message(check: &Check, bump: &paks_update::bump::Bump) -> String {
    use paks_update::bump::SourceChange;
    let mut message = format!(
        "{} {} → {}\n\nFound by {} at {}.\n",
        check.name, bump.from, bump.to, check.strategy, check.location
    );
    if !bump.sources.is_empty() {
        message.push_str("Sources:\n");
    }
    for source in &bump.sources {
        let line = match source {
            SourceChange::Url { url, sha256, .. } => format!("  {url} {sha256}\n"),
            SourceChange::Git { git, new, tag, .. } => format!("  {git} {tag} ({new})\n"),
        };
        message.push_str(&line);
    }
    message
}

/// `paks/update-YYYY-MM-DD`, today in UTC.
fn default_branch() -> String {
    let now = paks_index::Timestamp::now().to_string();
    format!("paks/update-{}", &now[..10])
}

/// `REGISTRY/NAMESPACE` of `--push`.
fn namespace(arg: &str) -> Result<paks_oci::Repository, Failure> {
    let reference = crate::remote::parse_reference(arg)?;
    if reference.tag.is_some() || reference.digest.is_some() {
        return Err(user_error(
            format!("`{arg}` is not a namespace: it has a tag or digest"),
            Some("give `--push REGISTRY/NAMESPACE`, such as `127.0.0.1:5000/acme`".into()),
        ));
    }
    Ok(reference.repo())
}

/// The recipes of `--package`, in the order found; every name given must be one.
fn selected(
    recipes: Vec<(PathBuf, Recipe)>,
    names: &[String],
) -> Result<Vec<(PathBuf, Recipe)>, Failure> {
    if names.is_empty() {
        return Ok(recipes);
    }
    if let Some(unknown) = names.iter().find(|n| {
        !recipes
            .iter()
            .any(|(_, r)| r.package.name.as_str() == n.as_str())
    }) {
        return Err(user_error(
            format!("no recipe of the package `{unknown}` in the directory"),
            Some(format!(
                "the recipes found are: {}",
                recipes
                    .iter()
                    .map(|(_, r)| format!("`{}`", r.package.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
    Ok(recipes
        .into_iter()
        .filter(|(_, r)| names.iter().any(|n| r.package.name.as_str() == n.as_str()))
        .collect())
}

/// The recipes under `dir`, found as `paks outdated --recipes` finds them, and read.
fn find_recipes(dir: &Path) -> Result<Vec<(PathBuf, Recipe)>, Failure> {
    crate::outdated_recipes::find(dir)?
        .into_iter()
        .map(|d| {
            let recipe = Recipe::from_file(&d.join(RECIPE_FILE)).map_err(Failure::from)?;
            Ok((d, recipe))
        })
        .collect()
}
