//! The terminal side of `paks_types::Reporter`: progress bars on a terminal, nothing in a
//! pipe, warnings always (unless `--quiet`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use paks_types::Reporter;

pub struct TermReporter {
    bars: Option<MultiProgress>,
    tasks: Mutex<Vec<Option<ProgressBar>>>,
    quiet: bool,
    verbose: bool,
    /// The style of task labels: coloured unless `NO_COLOR` is set.
    label: &'static str,
}

impl TermReporter {
    pub fn new(quiet: bool, verbose: bool) -> Self {
        let bars = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let no_color = std::env::var_os(crate::env_vars::NO_COLOR).is_some_and(|v| !v.is_empty());
        let label = if no_color {
            "{prefix:>12}"
        } else {
            "{prefix:>12.cyan.bold}"
        };
        Self {
            bars,
            tasks: Mutex::new(Vec::new()),
            quiet,
            verbose,
            label,
        }
    }

    fn println(&self, line: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// A line for the user, on stderr (unless quiet).
    pub fn status(&self, line: &str) {
        if !self.quiet {
            self.println(line);
        }
    }
}

impl Reporter for TermReporter {
    fn start(&self, label: &str, total: u64) -> usize {
        let mut tasks = self.tasks.lock().expect("not poisoned");
        let bar = self.bars.as_ref().map(|bars| {
            let bar = if total > 0 {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template(&format!(
                        "{} {{bar:30}} {{bytes}}/{{total_bytes}}",
                        self.label
                    ))
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar
            } else {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template(&format!(
                        "{} {{spinner}} {{elapsed}}",
                        self.label
                    ))
                    .expect("valid template"),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            };
            bar.set_prefix(label.to_owned());
            bars.add(bar)
        });
        tasks.push(bar);
        tasks.len() - 1
    }

    fn advance(&self, task: usize, n: u64) {
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
    }

    fn warn(&self, message: &str) {
        if !self.quiet {
            self.println(&format!("warning: {message}"));
        }
    }

    fn info(&self, message: &str) {
        if self.verbose {
            self.println(message);
        }
    }
}
