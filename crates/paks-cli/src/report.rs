//! The terminal side of `paks_types::Reporter`: progress bars on a terminal, nothing in a
//! pipe, warnings always (unless `--quiet`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use paks_types::Reporter;

/// Task labels are cut to this many characters, so that the bars line up.
const LABEL_WIDTH: usize = 24;

pub struct TermReporter {
    /// Present only when stderr is a terminal and not `--quiet`.
    bars: Option<MultiProgress>,
    /// One bar over all planned work, and how many of its tasks are done.
    overall: Mutex<Option<(ProgressBar, u64)>>,
    done: AtomicU64,
    tasks: Mutex<Vec<Option<ProgressBar>>>,
    quiet: bool,
    verbose: bool,
    /// The label column's template: coloured when stderr takes colour (`--color`).
    label: &'static str,
}

impl TermReporter {
    pub fn new(quiet: bool, verbose: bool) -> Self {
        let bars = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let label = if crate::printer::stderr_color() {
            "{prefix:>24.cyan.bold}"
        } else {
            "{prefix:>24}"
        };
        Self {
            bars,
            overall: Mutex::new(None),
            done: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
            quiet,
            verbose,
            label,
        }
    }

    fn println(&self, line: &str) {
        print_raw(self.bars.as_ref(), &crate::printer::shown_lines(line));
    }

    /// A `warn` that outlives this reporter, for code that reports from anywhere (the
    /// credentials' helpers): prints like [`Reporter::warn`], above any progress bars.
    pub fn warner(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let (bars, quiet) = (self.bars.clone(), self.quiet);
        move |message: &str| {
            if !quiet {
                print_raw(bars.as_ref(), &warning_line(message));
            }
        }
    }

    /// A line for the user, on stderr (unless quiet).
    pub fn status(&self, line: &str) {
        if !self.quiet {
            self.println(line);
        }
    }

    /// A bar that counts `count` items done (`Checking [===>   ] 12/200`), drawn only on a
    /// terminal; hidden otherwise. The caller increments and clears it.
    pub fn counter(&self, verb: &str, count: u64) -> ProgressBar {
        let Some(bars) = &self.bars else {
            return ProgressBar::hidden();
        };
        let bar = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::hidden());
        bar.set_style(self.style("[{bar:30}] {pos}/{len}"));
        bar.set_prefix(verb.to_owned());
        bars.add(bar)
    }

    fn style(&self, rest: &str) -> ProgressStyle {
        ProgressStyle::with_template(&format!("{} {rest}", self.label))
            .expect("valid template")
            .progress_chars("=> ")
    }
}

/// `warning: MESSAGE`, the message escaped and then the prefix painted, so that its colour
/// codes survive.
fn warning_line(message: &str) -> String {
    format!(
        "{} {}",
        crate::printer::paint("warning:", 33),
        crate::printer::shown_lines(message)
    )
}

/// A line on stderr, above the progress bars when they are drawn; its text must be escaped
/// already.
fn print_raw(bars: Option<&MultiProgress>, line: &str) {
    match bars {
        Some(bars) => {
            let _ = bars.println(line);
        }
        None => eprintln!("{line}"),
    }
}

fn fit(label: &str) -> String {
    let label: &str = &crate::printer::shown(label);
    if label.chars().count() <= LABEL_WIDTH {
        return label.to_owned();
    }
    let mut cut: String = label.chars().take(LABEL_WIDTH - 1).collect();
    cut.push('…');
    cut
}

impl Reporter for TermReporter {
    fn plan(&self, verb: &str, count: u64, total: u64) {
        let Some(bars) = &self.bars else { return };
        if count < 2 {
            return;
        }
        // Created hidden: a bar draws on its own until it joins the MultiProgress.
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(self.style("[{bar:30}] {bytes}/{total_bytes} {msg}"));
        bar.set_prefix(verb.to_owned());
        bar.set_message(format!("0/{count}"));
        self.done.store(0, Ordering::Relaxed);
        *self.overall.lock().expect("not poisoned") = Some((bars.insert(0, bar), count));
    }

    fn start(&self, label: &str, total: u64) -> usize {
        let mut tasks = self.tasks.lock().expect("not poisoned");
        let bar = self.bars.as_ref().map(|bars| {
            let bar = if total > 0 {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
                bar.set_style(self.style(" {bar:30}  {bytes}/{total_bytes}"));
                bar
            } else {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
                bar.set_style(self.style("{spinner} {elapsed}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            };
            bar.set_prefix(fit(label));
            bars.add(bar)
        });
        tasks.push(bar);
        tasks.len() - 1
    }

    fn advance(&self, task: usize, n: u64) {
        if let Some((overall, _)) = self.overall.lock().expect("not poisoned").as_ref() {
            overall.inc(n);
        }
        if let Some(Some(bar)) = self.tasks.lock().expect("not poisoned").get(task) {
            bar.inc(n);
        }
    }

    fn finish(&self, task: usize) {
        if let Some(bar) = self
            .tasks
            .lock()
            .expect("not poisoned")
            .get_mut(task)
            .and_then(Option::take)
        {
            bar.finish_and_clear();
        }
        let mut overall = self.overall.lock().expect("not poisoned");
        if let Some((bar, count)) = overall.as_ref() {
            let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_message(format!("{done}/{count}"));
            if done >= *count {
                bar.finish_and_clear();
                *overall = None;
            }
        }
    }

    fn warn(&self, message: &str) {
        if !self.quiet {
            print_raw(self.bars.as_ref(), &warning_line(message));
        }
    }

    fn info(&self, message: &str) {
        if self.verbose {
            self.println(message);
        }
    }
}
