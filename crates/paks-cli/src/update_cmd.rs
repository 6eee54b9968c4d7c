//! `paks update DIR`: the loop that keeps a directory of recipes current.

use crate::Failure;
use crate::cli::UpdateArgs;
use crate::commands::{Ctx, user_error};

pub fn update(_ctx: &Ctx, args: &UpdateArgs) -> Result<(), Failure> {
    Err(user_error(
        format!("`paks update {}` is not built yet", args.dir.display()),
        None,
    ))
}
