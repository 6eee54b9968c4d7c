//! The apt half of `paks import deb`: arguments that are not files are package names,
//! resolved by the machine's apt (with `--closure`, their dependency closure) and fetched
//! into the cache's `debs/` directory.

use std::path::PathBuf;

use paks_import::apt::{Apt, AptError, AptRequest};
use paks_types::Reporter as _;

use crate::Failure;
use crate::commands::{Ctx, Explain, failure, plural, user_error};

impl Explain for AptError {
    fn hint(&self) -> Option<String> {
        AptError::hint(self)
    }
    fn is_io(&self) -> bool {
        matches!(
            self,
            Self::Io { .. } | Self::Output { .. } | Self::Digest { .. }
        )
    }
}

/// Splits `args` into paths (those that exist, and `*.deb` names) and apt requests.
pub fn split(args: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<AptRequest>), Failure> {
    let mut paths = Vec::new();
    let mut requests = Vec::new();
    for arg in args {
        let is_path =
            arg.exists() || arg.extension().is_some_and(|e| e == "deb") || arg.is_absolute();
        if is_path {
            paths.push(arg.clone());
            continue;
        }
        let text = arg.to_string_lossy();
        let request = text.parse::<AptRequest>().map_err(|e| {
            user_error(
                format!("`{text}` is neither a file nor a package name: {e}"),
                e.hint(),
            )
        })?;
        requests.push(request);
    }
    Ok((paths, requests))
}

/// The `.deb` files of `requests` (with `closure`, of everything they need too), from the
/// cache or downloaded into it, in apt's unpack order.
pub fn fetch(ctx: &Ctx, requests: &[AptRequest], closure: bool) -> Result<Vec<PathBuf>, Failure> {
    let apt = Apt::default();
    let packages = apt.resolve(requests, closure).map_err(failure)?;
    let cache = crate::cache::open(ctx)?;
    let dir = paks_import::apt::cache_dir(cache.dir());
    ctx.reporter.status(&format!(
        "Fetching {} package{} with apt into `{}`",
        packages.len(),
        plural(packages.len()),
        dir.display()
    ));
    let fetched = apt.download(&packages, &dir).map_err(failure)?;
    let cached = fetched.iter().filter(|f| f.cached).count();
    if cached > 0 {
        ctx.reporter
            .info(&format!("{cached} of {} found in the cache", fetched.len()));
    }
    Ok(fetched.into_iter().map(|f| f.path).collect())
}
