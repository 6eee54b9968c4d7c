//! `paks recipe bump`: a recipe moved to a new upstream version, formatting kept.

use crate::Failure;
use crate::cli::RecipeBumpArgs;
use crate::commands::{Ctx, user_error};

pub fn bump(_ctx: &Ctx, args: &RecipeBumpArgs) -> Result<(), Failure> {
    Err(user_error(
        format!("`paks recipe bump {}` is not built yet", args.dir.display()),
        None,
    ))
}
