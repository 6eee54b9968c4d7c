//! `paks-benchgen index DIR`: writes a synthetic static repository (see
//! `paks_benchgen::index`) and reports, as one JSON line, how long writing it took.
//!
//! ```text
//! paks-benchgen index DIR --key KEY.pem [--format single|sharded] [--packages N] [--seed S]
//!                          [--change K] [--names FILE]
//! ```
//!
//! `--format sharded` writes the sharded form (root as `index.yaml`, `shards/<hex>.json`);
//! when DIR already holds a sharded root, the new one is built over it (an incremental
//! rebuild: only new shards are written). `--change K` gives package number K one more
//! version.
//!
//! The time reported as `build_s` is what a publisher's rebuild costs once it knows the
//! packages: signing, serialising and writing the documents; making the synthetic packages
//! (`generate_s`) stands for reading them and is reported apart.

use std::path::PathBuf;
use std::time::Instant;

use paks_benchgen::index::{
    IndexOptions, PLATFORMS, Synthetic, VERSIONS, synthetic_index, write_sharded, write_single,
};
use paks_index::SigningKey;

const USAGE: &str = "usage: paks-benchgen index DIR --key KEY.pem [--format single|sharded] [--packages N] [--seed S] [--change K] [--names FILE]";

struct Args {
    dir: PathBuf,
    sharded: bool,
    key: PathBuf,
    options: IndexOptions,
    names: Option<PathBuf>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = args;
    let (mut dir, mut key, mut names, mut sharded) = (None, None, None, false);
    let mut options = IndexOptions {
        packages: 100_000,
        seed: 1,
        changed: None,
        source: "bench".to_owned(),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{arg}` needs a value"));
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("`{arg}` takes a number, not `{v}`"))
        };
        match arg.as_str() {
            "--packages" => options.packages = number(value()?)?,
            "--seed" => options.seed = number(value()?)? as u64,
            "--change" => options.changed = Some(number(value()?)?),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--names" => names = Some(PathBuf::from(value()?)),
            "--format" => {
                sharded = match value()?.as_str() {
                    "single" => false,
                    "sharded" => true,
                    other => {
                        return Err(format!(
                            "`--format` is `single` or `sharded`, not `{other}`"
                        ));
                    }
                }
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option `{arg}`\n{USAGE}")),
            _ if dir.is_none() => dir = Some(PathBuf::from(&arg)),
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}")),
        }
    }
    Ok(Args {
        dir: dir.ok_or(USAGE)?,
        sharded,
        key: key.ok_or(USAGE)?,
        options,
        names,
    })
}

/// Runs the subcommand on the arguments after `index`; the error is the exit code's message
/// and whether it is the user's (1) or the machine's (2).
pub fn run(args: impl Iterator<Item = String>) -> Result<String, (u8, String)> {
    let args = parse(args).map_err(|e| (1, e))?;
    let key = SigningKey::load(&args.key).map_err(|e| (1, e.to_string()))?;
    let started = Instant::now();
    let Synthetic { index, order } = synthetic_index(&args.options);
    let generate_s = started.elapsed().as_secs_f64();
    fs_err::create_dir_all(&args.dir).map_err(|e| (2, e.to_string()))?;
    let started = Instant::now();
    let written = if args.sharded {
        write_sharded(&index, &key, &args.dir)
    } else {
        write_single(&index, &key, &args.dir)
    }
    .map_err(|e| (2, e))?;
    let build_s = started.elapsed().as_secs_f64();
    if let Some(path) = &args.names {
        let mut text = String::new();
        for name in &order {
            text.push_str(name.as_str());
            text.push('\n');
        }
        paks_types::fs::write_atomic(path, text.as_bytes())
            .map_err(|e| (2, format!("writing `{}`: {e}", path.display())))?;
    }
    let changed = args.options.changed.and_then(|k| order.get(k));
    let versions = index.packages.len() * VERSIONS + usize::from(changed.is_some());
    Ok(serde_json::json!({
        "type": "index",
        "format": if args.sharded { "sharded" } else { "single" },
        "packages": index.packages.len(),
        "versions": versions,
        "builds": versions * PLATFORMS.len(),
        "changed": changed,
        "generate_s": generate_s,
        "build_s": build_s,
        "index_bytes": written.index_bytes,
        "files_written": written.files,
        "bytes_written": written.bytes,
    })
    .to_string())
}
