//! `paks`: build, store and install packages for containers.

mod attach;
mod audit;
mod background;
mod build_deps;
mod cache;
mod catalog;
mod catalog_remote;
mod cli;
mod commands;
mod completions;
mod config;
mod dockerfile_cmd;
mod dockerfile_update;
mod env_vars;
mod forge;
mod freshness;
mod image;
mod image_sbom;
mod import;
mod import_apk;
mod import_apt;
mod index_sharded;
mod inspect;
mod inspect_text;
mod lock_report;
mod lock_sync;
mod offline;
mod origin;
mod outdated;
mod outdated_recipes;
mod patch;
mod printer;
mod project;
mod project_cmds;
mod project_file;
mod push_sign;
mod recipe_cmd;
mod references;
mod remote;
mod report;
mod repos;
mod root_keys;
mod sbom_cmd;
mod sbom_files;
mod serve;
mod shards;
mod suggest;
mod sysroot;
mod test_cmd;
mod tree;
mod trust;
mod update_cmd;
mod update_git;
mod update_summary;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// Exit codes (docs/cli.md): 0 ok, 1 the request failed, 2 the machine or paks failed,
/// 64 the command line was wrong.
mod exit {
    /// The user's input or request could not be satisfied.
    pub const FAILURE: u8 = 1;
    /// Something went wrong inside paks or on the machine (I/O).
    pub const INTERNAL: u8 = 2;
    /// The command line itself was wrong (an unknown command or flag, a missing argument):
    /// `EX_USAGE` of sysexits(3), so that a script never takes a typo for a machine
    /// failure worth retrying.
    pub const USAGE: u8 = 64;
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

/// Parses the command line; `--help` and `--version` print and exit 0, mistakes exit 64.
fn parse() -> Result<cli::Cli, ExitCode> {
    let early = printer::color_from_args(std::env::args_os());
    let command = cli::Cli::command().color(early.for_clap());
    let parsed = command
        .try_get_matches()
        .and_then(|mut matches| cli::Cli::from_arg_matches_mut(&mut matches));
    parsed.map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(exit::USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    printer::init_color(cli.global.color);
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
            let _ = writeln!(
                err,
                "{} {}",
                printer::paint("error:", 31),
                shown(failure.error.to_string())
            );
            let mut source = failure.error.source();
            while let Some(cause) = source {
                let _ = writeln!(err, "  Caused by: {}", shown(cause.to_string()));
                source = cause.source();
            }
            if let Some(detail) = failure.detail {
                let _ = writeln!(err, "{}", shown(detail.trim_end().to_owned()));
            }
            if let Some(hint) = failure.hint {
                let _ = writeln!(err, "{} {}", printer::paint("hint:", 36), shown(hint));
            }
            ExitCode::from(if failure.internal {
                exit::INTERNAL
            } else {
                exit::FAILURE
            })
        }
    }
}
