//! The git side of `paks update`: the work tree the recipes are in, the branch the bumps
//! go on, one commit per package, and putting back a recipe whose update failed.
//!
//! Everything goes through the git CLI (as the user's own git would do it: their hooks,
//! identity and configuration apply), never prompting for credentials.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Failure;
use crate::commands::user_error;

/// The git work tree that holds the recipes.
pub(crate) struct Repo {
    top: PathBuf,
}

/// What happened to the update branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switched {
    /// It did not exist: made from `HEAD` and checked out.
    Created,
    /// It existed and descends from `HEAD`: checked out.
    Reused,
    /// It is the branch checked out already.
    Current,
}

impl Repo {
    /// The work tree around `dir`: an error with a hint when there is none.
    pub(crate) fn discover(dir: &Path) -> Result<Self, Failure> {
        let shown = dir.display();
        if !dir.is_dir() {
            return Err(user_error(
                format!("`{shown}` is not a directory"),
                Some("give the directory that holds the recipes".into()),
            ));
        }
        let out = git_in(dir, &["rev-parse", "--show-toplevel"])?;
        if !out.status.success() {
            return Err(user_error(
                format!("`{shown}` is not inside a git work tree"),
                Some(format!(
                    "`paks update` commits each bump on a branch: run `git init` in `{shown}` (and commit the recipes), or give a directory inside a clone"
                )),
            ));
        }
        let top = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(Self { top })
    }

    /// `git ARGS` in the work tree; its stdout (without the final newline), or an error naming the command
    /// with git's own message.
    fn git(&self, args: &[&str]) -> Result<String, Failure> {
        let out = git_in(&self.top, args)?;
        if !out.status.success() {
            return Err(Failure {
                error: format!(
                    "`git {}` failed in `{}`: {}",
                    args[0],
                    self.top.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )
                .into(),
                detail: None,
                hint: None,
                internal: true,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// Whether `git ARGS` succeeds (a question git answers with its exit status).
    fn git_ok(&self, args: &[&str]) -> Result<bool, Failure> {
        Ok(git_in(&self.top, args)?.status.success())
    }

    /// The tracked files under `paths` with uncommitted changes (staged or not), as git
    /// names them (relative to the work tree).
    pub(crate) fn changed(&self, paths: &[&Path]) -> Result<Vec<String>, Failure> {
        let mut args = vec![
            "status".to_owned(),
            "--porcelain".to_owned(),
            "--untracked-files=no".to_owned(),
            "--".to_owned(),
        ];
        args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(self
            .git(&args)?
            .lines()
            // `XY PATH` (or `XY OLD -> NEW` for a rename).
            .filter_map(|line| line.get(3..))
            .map(str::to_owned)
            .collect())
    }

    /// Check out `name`: made from `HEAD` when it does not exist, reused when it descends
    /// from `HEAD` (an earlier run of the same day); any other branch of that name is
    /// someone's work and is refused.
    pub(crate) fn switch_to(&self, name: &str) -> Result<Switched, Failure> {
        if !self.git_ok(&["check-ref-format", "--branch", name])? {
            return Err(user_error(
                format!("`{name}` is not a valid branch name"),
                Some("give another `--branch`".into()),
            ));
        }
        let local = format!("refs/heads/{name}");
        if !self.git_ok(&["rev-parse", "--verify", "--quiet", &local])? {
            self.git(&["switch", "--quiet", "-c", name])?;
            return Ok(Switched::Created);
        }
        let head = git_in(&self.top, &["symbolic-ref", "--quiet", "--short", "HEAD"])?;
        if head.status.success() && String::from_utf8_lossy(&head.stdout).trim() == name {
            return Ok(Switched::Current);
        }
        if !self.git_ok(&["merge-base", "--is-ancestor", "HEAD", &local])? {
            return Err(user_error(
                format!("the branch `{name}` exists and does not descend from `HEAD`"),
                Some(format!(
                    "give another `--branch`, or delete the old one (`git branch -D {name}`)"
                )),
            ));
        }
        self.git(&["switch", "--quiet", name])?;
        Ok(Switched::Reused)
    }

    /// Commit `file` alone (whatever else is staged stays staged); returns the commit id.
    pub(crate) fn commit_file(&self, file: &Path, message: &str) -> Result<String, Failure> {
        let file = file.to_string_lossy();
        self.git(&["commit", "--quiet", "-m", message, "--", &file])?;
        self.git(&["rev-parse", "HEAD"])
    }

    /// Put `file` back as the last commit has it.
    pub(crate) fn restore(&self, file: &Path) -> Result<(), Failure> {
        self.git(&["checkout", "--", &file.to_string_lossy()])?;
        Ok(())
    }
}

/// `git ARGS` in `dir`, never prompting; only a failure to start git is an error here.
fn git_in(dir: &Path, args: &[&str]) -> Result<std::process::Output, Failure> {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| Failure {
            error: format!("cannot run `git`: {e}").into(),
            detail: None,
            hint: Some("`paks update` needs git on `PATH`".into()),
            internal: true,
        })
}
