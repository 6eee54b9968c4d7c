//! `paks`: build, store and install packages for containers.

mod cache;
mod catalog;
mod cli;
mod commands;
mod config;
mod env_vars;
mod freshness;
mod image;
mod inspect;
mod lock_report;
mod lock_sync;
mod outdated;
mod printer;
mod project;
mod project_cmds;
mod project_file;
mod remote;
mod report;
mod repos;
mod serve;
mod tree;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Exit codes, as ripgrep and fd use them.
mod exit {
    /// The user's input or request could not be satisfied.
    pub const FAILURE: u8 = 1;
    /// Something went wrong inside paks or on the machine (I/O).
    pub const INTERNAL: u8 = 2;
}

/// An error for the user: the chain of causes, a hint, and the exit code.
pub struct Failure {
    pub error: Box<dyn std::error::Error>,
    /// Context printed as it is under the causes (a recipe line, a log's end).
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub internal: bool,
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            error: Box::new(e),
            detail: None,
            hint: None,
            internal: false,
        }
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // A closed pipe (`paks list | head`) is not an error.
            if let Some(io) = failure.error.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            let mut err = std::io::stderr().lock();
            // Messages quote values that may come from a package or a server: escaped.
            let shown = |text: String| printer::shown_lines(&text);
            let _ = writeln!(err, "error: {}", shown(failure.error.to_string()));
            let mut source = failure.error.source();
            while let Some(cause) = source {
                let _ = writeln!(err, "  Caused by: {}", shown(cause.to_string()));
                source = cause.source();
            }
            if let Some(detail) = failure.detail {
                let _ = writeln!(err, "{}", shown(detail.trim_end().to_owned()));
            }
            if let Some(hint) = failure.hint {
                let _ = writeln!(err, "hint: {}", shown(hint));
            }
            ExitCode::from(if failure.internal {
                exit::INTERNAL
            } else {
                exit::FAILURE
            })
        }
    }
}
