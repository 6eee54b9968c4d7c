//! `paks outdated --recipes DIR`: each recipe's version against the newest upstream.

use std::path::Path;

use crate::Failure;
use crate::cli::OutdatedArgs;
use crate::commands::{Ctx, user_error};

pub fn outdated(_ctx: &Ctx, dir: &Path, _args: &OutdatedArgs) -> Result<(), Failure> {
    Err(user_error(
        format!(
            "`paks outdated --recipes {}` is not built yet",
            dir.display()
        ),
        None,
    ))
}
