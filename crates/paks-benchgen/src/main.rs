//! `paks-benchgen ROOT`: writes a synthetic registry of packages into the data directory
//! ROOT of `paks serve` (see the library's documentation for what the packages are).
//!
//! ```text
//! paks-benchgen ROOT [--packages N] [--seed S] [--namespace NS] [--writers K] [--names FILE]
//! ```
//!
//! Prints one JSON line (`"type": "summary"`) with the counts and the wall time;
//! `--names FILE` writes the repositories, one a line, in the order generated.
//!
//! `paks-benchgen index DIR …` writes a synthetic static repository instead (see
//! `index_cmd`).

mod index_cmd;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use paks_benchgen::{Options, generate};

const USAGE: &str = "usage: paks-benchgen ROOT [--packages N] [--seed S] [--namespace NS] [--writers K] [--names FILE]";

fn parse_args() -> Result<(PathBuf, Options, Option<PathBuf>), String> {
    let mut args = std::env::args().skip(1);
    let (mut root, mut names) = (None, None);
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{arg}` needs a value"));
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("`{arg}` takes a number, not `{v}`"))
        };
        match arg.as_str() {
            "--packages" => options.packages = number(value()?)?,
            "--seed" => options.seed = number(value()?)? as u64,
            "--namespace" => options.namespace = value()?,
            "--writers" => options.writers = number(value()?)?,
            "--names" => names = Some(PathBuf::from(value()?)),
            _ if arg.starts_with('-') => return Err(format!("unknown option `{arg}`\n{USAGE}")),
            _ if root.is_none() => root = Some(PathBuf::from(&arg)),
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}")),
        }
    }
    Ok((root.ok_or(USAGE)?, options, names))
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("index") {
        return match index_cmd::run(std::env::args().skip(2)) {
            Ok(report) => {
                let _ = writeln!(std::io::stdout(), "{report}");
                ExitCode::SUCCESS
            }
            Err((code, e)) => {
                eprintln!("paks-benchgen index: {e}");
                ExitCode::from(code)
            }
        };
    }
    let (root, options, names) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("paks-benchgen: {e}");
            return ExitCode::from(1);
        }
    };
    let summary = match generate(&root, &options) {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("paks-benchgen: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = names {
        let mut text = String::new();
        for p in &summary.packages {
            text.push_str(&p.repository);
            text.push('\n');
        }
        if let Err(e) = paks_types::fs::write_atomic(&path, text.as_bytes()) {
            eprintln!("paks-benchgen: writing `{}`: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    // stdout is this tool's report: one JSON line.
    let _ = writeln!(std::io::stdout(), "{}", summary.to_json());
    ExitCode::SUCCESS
}
