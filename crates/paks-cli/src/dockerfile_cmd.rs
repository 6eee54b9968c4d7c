//! `paks dockerfile check|pin|update`: Dockerfiles' base images, pinned and current.

use crate::Failure;
use crate::cli::DockerfileCommand;
use crate::commands::{Ctx, user_error};

pub fn command(_ctx: &Ctx, command: &DockerfileCommand) -> Result<(), Failure> {
    Err(user_error(
        format!("`paks dockerfile {command:?}` is not built yet"),
        None,
    ))
}
