//! What `paks update` says it did: a table on stdout, JSON lines, and a Markdown summary
//! that a CI job posts as the pull request's body.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::Failure;
use crate::commands::{json_line, out};
use crate::printer::{shown, typed};

/// How one step of one package went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Step {
    /// Not asked for, or not reached.
    Skipped,
    Passed,
    Failed,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Self::Skipped => "-",
            Self::Passed => "ok",
            Self::Failed => "FAILED",
        }
    }
}

/// What happened to one recipe that was outdated, or could not be checked.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    pub name: String,
    /// The recipe's version before.
    pub from: String,
    /// The version it was to move to (`None`: the check itself failed).
    pub to: Option<String>,
    /// Where the new version was found: `STRATEGY at LOCATION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// The recipe's file.
    pub recipe: String,
    pub check: Step,
    pub bump: Step,
    pub build: Step,
    pub test: Step,
    pub push: Step,
    /// The commit made on the branch.
    pub commit: Option<String>,
    /// The archive built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pak: Option<String>,
    /// Where the build was pushed (by digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the failure showed: the end of a failing script's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether the failure was the machine's or the network's, not the package's.
    #[serde(skip)]
    pub internal: bool,
}

impl Outcome {
    /// A recipe about to be updated from `from` to `to`; each step still to come.
    pub(crate) fn new(name: String, from: String, recipe: &Path) -> Self {
        Self {
            name,
            from,
            to: None,
            found: None,
            recipe: recipe.display().to_string(),
            check: Step::Skipped,
            bump: Step::Skipped,
            build: Step::Skipped,
            test: Step::Skipped,
            push: Step::Skipped,
            commit: None,
            pak: None,
            reference: None,
            error: None,
            detail: None,
            internal: false,
        }
    }

    /// The table's row: name, from, to, build, test, push, commit.
    fn row(&self) -> [String; 7] {
        [
            self.name.clone(),
            self.from.clone(),
            self.to.clone().unwrap_or_else(|| "?".into()),
            self.build.as_str().to_owned(),
            self.test.as_str().to_owned(),
            self.push.as_str().to_owned(),
            self.commit
                .as_deref()
                .map_or_else(|| "-".into(), |c| short(c).to_owned()),
        ]
    }

    /// Whether it was updated: committed on the branch.
    pub(crate) fn updated(&self) -> bool {
        self.commit.is_some()
    }

    /// Record a failure: the step that failed and why.
    pub(crate) fn fail(&mut self, step: fn(&mut Self) -> &mut Step, failure: &Failure) {
        *step(self) = Step::Failed;
        self.error = Some(paks_types::error_chain(&*failure.error));
        self.detail.clone_from(&failure.detail);
        self.internal = failure.internal;
    }
}

/// The whole run.
pub(crate) struct Summary<'a> {
    pub outcomes: &'a [Outcome],
    /// Recipes checked.
    pub checked: usize,
    /// The branch the commits are on (`None`: nothing was outdated, no branch touched).
    pub branch: Option<&'a str>,
}

impl Summary<'_> {
    fn updated(&self) -> Vec<&str> {
        self.names(true)
    }

    fn failed(&self) -> Vec<&str> {
        self.names(false)
    }

    fn names(&self, updated: bool) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|o| o.updated() == updated)
            .map(|o| o.name.as_str())
            .collect()
    }

    /// Recipes that were current.
    fn current(&self) -> usize {
        self.checked - self.outcomes.len()
    }

    /// Whether every outdated package was updated.
    pub(crate) fn success(&self) -> bool {
        self.failed().is_empty()
    }

    /// One sentence: how many were checked, updated, failed, current.
    pub(crate) fn sentence(&self) -> String {
        let mut text = format!(
            "{} recipe{} checked: {} updated, {} failed, {} current",
            self.checked,
            crate::commands::plural(self.checked),
            self.updated().len(),
            self.failed().len(),
            self.current()
        );
        if let Some(branch) = self.branch {
            let _ = write!(text, "; branch `{branch}`");
        }
        text
    }

    /// The table (one row per package touched), then each failure's reason.
    pub(crate) fn print_human(&self) -> Result<(), Failure> {
        let mut o = out();
        if !self.outcomes.is_empty() {
            let rows: Vec<[String; 7]> = self
                .outcomes
                .iter()
                .map(|x| x.row().map(|c| shown(&c).into_owned()))
                .collect();
            let header =
                ["NAME", "FROM", "TO", "BUILD", "TEST", "PUSH", "COMMIT"].map(String::from);
            let widths: Vec<usize> = (0..7)
                .map(|i| {
                    std::iter::once(&header)
                        .chain(&rows)
                        .map(|r| r[i].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for row in std::iter::once(&header).chain(&rows) {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                writeln!(o, "{}", line.join("  ").trim_end())?;
            }
            for x in self.outcomes {
                if let Some(error) = &x.error {
                    writeln!(o, "{}: {}", shown(&x.name), shown(error))?;
                }
            }
        }
        writeln!(o, "{}", self.sentence())?;
        Ok(())
    }

    /// A `package` line per package touched, then the `summary` line.
    pub(crate) fn print_json(&self) -> Result<(), Failure> {
        for x in self.outcomes {
            json_line(&typed("package", x))?;
        }
        json_line(&json!({
            "type": "summary",
            "checked": self.checked,
            "current": self.current(),
            "updated": self.updated(),
            "failed": self.failed(),
            "branch": self.branch,
        }))?;
        Ok(())
    }

    /// The Markdown a pull request's body shows.
    pub(crate) fn markdown(&self) -> String {
        let mut md = String::from("## paks update\n\n");
        let _ = writeln!(md, "{}.\n", self.sentence());
        if self.outcomes.is_empty() {
            return md;
        }
        md.push_str("| package | from | to | build | test | push | commit |\n");
        md.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        for x in self.outcomes {
            let mut cells = x.row().map(|c| cell(&c));
            cells[0] = format!("`{}`", cells[0]);
            let _ = writeln!(md, "| {} |", cells.join(" | "));
        }
        let found: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|x| {
                Some(format!(
                    "`{}`: {}",
                    cell(&x.name),
                    cell(x.found.as_deref()?)
                ))
            })
            .collect();
        list(&mut md, "Where the new versions were found", &found);
        let failed: Vec<String> = self
            .outcomes
            .iter()
            .filter(|x| !x.updated())
            .map(|x| {
                let [name, from, to, ..] = x.row().map(|c| cell(&c));
                let why = cell(x.error.as_deref().unwrap_or("failed"));
                let shown = x.detail.as_deref().map(code_block).unwrap_or_default();
                format!("`{name}` {from} → {to}: {why}{shown}")
            })
            .collect();
        list(&mut md, "Not updated", &failed);
        md
    }
}

/// A Markdown section of list items, when there are any.
fn list(md: &mut String, title: &str, items: &[String]) {
    if !items.is_empty() {
        let _ = writeln!(md, "\n### {title}\n");
        for item in items {
            let _ = writeln!(md, "- {item}");
        }
    }
}

/// `text` as a code block inside a list item: fenced by more backticks than it holds in
/// a row, so that nothing in a log can end it.
fn code_block(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let mut block = format!("\n\n  {fence}text\n");
    for line in text.trim_end().lines() {
        let _ = writeln!(block, "  {}", shown(line));
    }
    let _ = write!(block, "  {fence}");
    block
}

/// A commit id as people quote it.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Text that stays inside one Markdown table cell or list item: on one line, its `|` and
/// backticks unable to end the cell or the code span.
fn cell(text: &str) -> String {
    shown(text).replace('|', "\\|").replace('`', "'")
}
